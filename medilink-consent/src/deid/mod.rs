//! De-identification of FHIR R4 resources for research export, following HIPAA Safe Harbor
//! (45 CFR 164.514(b)(2)): pure functions over `serde_json::Value`, no I/O, no clock.
//!
//! [`Deidentifier::deidentify`] turns one resource into its export form or refuses it with a
//! [`DeidError`]. The rules, and why:
//!
//! **Refused** (the whole resource):
//! - every type outside the allowlist below. Person, RelatedPerson, Practitioner,
//!   PractitionerRole, Organization, Location, Account, Coverage, Device, Bundle and the rest
//!   are refused: they are about identifiable people, payers, places or serial-numbered
//!   devices, or are unreviewed. References *to* them survive, pseudonymised;
//! - a `modifierExtension` or `implicitRules` anywhere (contained resources included):
//!   dropping a modifier changes the meaning of what is left;
//! - an output that fails [`medilink_fhir::validate::check`] (say, an `Observation.code` that
//!   held only free text): an invalid export helps no one.
//!
//! **Exported per type** (top-level elements; everything else is dropped, see `rules.rs`):
//! Patient (active, gender, birthDate, deceased, address, maritalStatus, multipleBirth,
//! communication, generalPractitioner, managingOrganization, link); Observation (status,
//! category, code, subject, focus, encounter, effective (not `Instant`), performer, value (not
//! `String`/`Attachment`), dataAbsentReason, interpretation, bodySite, method, specimen,
//! device, referenceRange, hasMember, derivedFrom, component, basedOn, partOf); Condition;
//! Encounter; MedicationRequest (and a contained or exported Medication, without `batch`);
//! DiagnosticReport (without `conclusion`, `presentedForm`, `media`); AllergyIntolerance;
//! Immunization (without `lotNumber`, `education`); Procedure. Contained resources of
//! exported types are de-identified too and renamed `c1`, `c2`, … (a local id can be anything),
//! with the `#id` references to them rewritten; contained resources of other types are dropped
//! together with the references to them.
//!
//! **Removed at every depth** (`rules::DROPPED_EVERYWHERE`): `name`, `telecom`, `photo`,
//! `contact`, `identifier` (MRN, SSN, …, also inside references), `groupIdentifier`,
//! `preAdmissionIdentifier`, `lotNumber`, `serialNumber`, `udiCarrier`, `batch`; free text that
//! can carry identifiers: `text` (the narrative, CodeableConcept.text, Annotation.text,
//! Dosage.text), `note`, `comment`, `description`, `conclusion`, `patientInstruction`,
//! string-valued choices (`valueString`, `valueMarkdown`, `onsetString`,
//! `abatementString`, `occurrenceString`, `performedString`, `doseNumberString`,
//! `seriesDosesString`); attachment content and locations (`data`, `url`, `title`,
//! `valueAttachment`, `presentedForm`; SampledData's `data`, the samples, stays); instants (`issued`, `effectiveInstant`: an `instant`
//! cannot be shortened to a year); element ids; every `_element` companion (they hold only
//! extensions, such as a birth time); every extension but data-absent-reason, which is rebuilt
//! from its `url` and `valueCode` alone (an extension can carry anything); `display` on anything without a `code` (a Reference's display is a name, a
//! Coding's display is terminology and stays); `meta` but its `profile`.
//!
//! **Generalised**: every `date`/`dateTime` (and so every Period, Timing event, …) to its year,
//! which R4 allows (`YYYY`); a Patient's `birthDate` to the year `as_of - 90` when that year or
//! an earlier one (everyone who may be 90 or older shares one bucket, "90 or older"); `Age`
//! quantities (`onsetAge`, `performedAge`, …) and the `valueQuantity` of LOINC age
//! Observations (30525-0, 21612-7, 29553-5) of 90 years or more to `>= 90 a`, and dropped when
//! they are 90 or more in a unit that is not a known time unit; an address to `use`, `type`, `state`, `country`
//! and the years of its period, plus, with [`DeidOptions::keep_zip3`], the first three digits of
//! a US ZIP code, `000` for the 17 restricted prefixes (≤ 20,000 people). Other postal codes,
//! lines, cities and districts go.
//!
//! **Pseudonymised**: the resource `id` becomes HMAC-SHA256(key, `Type/id`), hex, 32 digits;
//! each `reference` (`Type/id`, `Type/id/_history/v`, absolute URLs, whose base is dropped,
//! `urn:uuid:`) is rewritten the same way, so the same input always maps to the same pseudonym
//! and references between resources exported with one key still resolve. Conditional
//! references (`Patient?identifier=…`) and other forms are dropped. Without the key the
//! pseudonyms cannot be reversed or recomputed; a new key unlinks every earlier export.
//!
//! **k-anonymity** (optional, per export): [`kanon`] groups the exported patients by their
//! quasi-identifiers (birth year, gender, ZIP3 when kept), generalises them in steps and
//! suppresses the patients still in groups smaller than k; the generalisation of event dates
//! to the year above is the one applied to every element of type `date`/`dateTime`.
//!
//! Kept: codes, values, quantities, status, interpretation, reference ranges, categories and
//! the pseudonymised subject/performer/encounter references. Not covered: dates of other
//! events still let a reader compute intervals in years, and coded values are not checked for
//! rare-disease re-identification (Safe Harbor's "actual knowledge" clause is the exporter's).

mod error;
pub mod kanon;
mod pseudonym;
mod rules;
mod scrub;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};
use time::OffsetDateTime;

pub use error::DeidError;

use pseudonym::Pseudonymizer;
use scrub::{Scrubber, is_temporal};

/// How to de-identify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeidOptions {
    /// The export instant: ages (90 or older) are computed at this time.
    pub as_of: OffsetDateTime,
    /// Keep the first three digits of US ZIP codes (`000` for the restricted prefixes) instead
    /// of dropping postal codes.
    pub keep_zip3: bool,
}

impl DeidOptions {
    /// Options for an export at `as_of`, dropping postal codes.
    pub fn new(as_of: OffsetDateTime) -> Self {
        DeidOptions {
            as_of,
            keep_zip3: false,
        }
    }
}

/// De-identifies resources with one pseudonym key. Its `Debug` output never shows the key.
#[derive(Debug, Clone)]
pub struct Deidentifier {
    pseudonyms: Pseudonymizer,
    options: DeidOptions,
}

impl Deidentifier {
    /// A de-identifier with the 256-bit pseudonym `key` (keep it secret and stable for as long
    /// as exports must link to each other).
    pub fn new(key: &[u8; 32], options: DeidOptions) -> Self {
        Deidentifier {
            pseudonyms: Pseudonymizer::new(key),
            options,
        }
    }

    /// The resource types [`Self::deidentify`] exports; every other type is refused.
    pub fn exported_types() -> impl Iterator<Item = &'static str> {
        rules::exported_types()
    }

    /// The pseudonym the resource `resource_type/id` gets in exports with this key.
    pub fn pseudonym(&self, resource_type: &str, id: &str) -> String {
        self.pseudonyms.id(resource_type, id)
    }

    /// The de-identified form of `resource`, or why it cannot be exported.
    pub fn deidentify(&self, resource: &Value) -> Result<Value, DeidError> {
        let resource_type = resource
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or(DeidError::NotAResource)?;
        if rules::kept_elements(resource_type).is_none() {
            return Err(DeidError::UnsupportedType {
                resource_type: error::type_name(resource_type),
            });
        }
        refuse_modifiers(resource, resource_type)?;
        let out = self.resource(resource, None)?;
        match medilink_fhir::validate::check(&out).into_iter().next() {
            None => Ok(out),
            Some(issue) => Err(DeidError::InvalidOutput {
                resource_type: resource_type.to_owned(),
                expression: issue.expression.unwrap_or_default(),
            }),
        }
    }

    /// One resource; a contained one gets `contained_id` (`c1`, `c2`, …) instead of a pseudonym.
    fn resource(&self, resource: &Value, contained_id: Option<&str>) -> Result<Value, DeidError> {
        let map = resource.as_object().ok_or(DeidError::NotAResource)?;
        let resource_type = map
            .get("resourceType")
            .and_then(Value::as_str)
            .ok_or(DeidError::NotAResource)?;
        let kept =
            rules::kept_elements(resource_type).ok_or_else(|| DeidError::UnsupportedType {
                resource_type: error::type_name(resource_type),
            })?;
        let mut out = Map::new();
        out.insert("resourceType".to_owned(), resource_type.into());
        match (contained_id, map.get("id").and_then(Value::as_str)) {
            (Some(contained_id), _) => {
                out.insert("id".to_owned(), contained_id.into());
            }
            (None, Some(id)) => {
                out.insert("id".to_owned(), self.pseudonym(resource_type, id).into());
            }
            (None, None) => {}
        }
        if let Some(profile) = map.get("meta").and_then(|meta| meta.get("profile"))
            && let Some(profiles) = profile.as_array().filter(|profiles| !profiles.is_empty())
        {
            out.insert(
                "meta".to_owned(),
                serde_json::json!({ "profile": profiles }),
            );
        }
        let mut kept_contained = Vec::new();
        if contained_id.is_none()
            && let Some(contained) = map.get("contained").and_then(Value::as_array)
        {
            let mut exported = Vec::new();
            for inner in contained {
                let Some(id) = inner.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let new_id = format!("c{}", exported.len() + 1);
                match self.resource(inner, Some(&new_id)) {
                    Ok(inner) => {
                        kept_contained.push((id.to_owned(), new_id));
                        exported.push(inner);
                    }
                    Err(DeidError::UnsupportedType { .. }) => {}
                    Err(err) => return Err(err),
                }
            }
            if !exported.is_empty() {
                out.insert("contained".to_owned(), Value::Array(exported));
            }
        }
        let scrubber = Scrubber {
            pseudonyms: &self.pseudonyms,
            kept_contained: &kept_contained,
            keep_zip3: self.options.keep_zip3,
        };
        for (key, value) in map {
            if !kept.contains(&key.as_str()) {
                continue;
            }
            let scrubbed = if resource_type == "Patient" && key == "birthDate" {
                self.birth_year(value)
            } else {
                scrubber.element(key, value)
            };
            if let Some(scrubbed) = scrubbed {
                out.insert(key.clone(), scrubbed);
            }
        }
        if resource_type == "Observation" && is_age_observation(&out) {
            let capped = out
                .get("valueQuantity")
                .and_then(Value::as_object)
                .map(|quantity| scrubber.age(quantity));
            match capped {
                Some(Some(capped)) => {
                    out.insert("valueQuantity".to_owned(), capped);
                }
                Some(None) => {
                    out.remove("valueQuantity");
                }
                None => {}
            }
        }
        Ok(Value::Object(out))
    }

    /// The exported `birthDate`: the year, or `as_of - 90` for everyone born that year or
    /// earlier (who may be 90 or older at `as_of`).
    fn birth_year(&self, birth_date: &Value) -> Option<Value> {
        let text = birth_date.as_str().filter(|text| is_temporal(text))?;
        let year: i32 = text[..4].parse().ok()?;
        let bucket = self.options.as_of.year() - 90;
        Some(Value::String(format!("{:04}", year.max(bucket))))
    }
}

/// Whether an Observation's code is a LOINC age code (its value is the patient's age).
fn is_age_observation(observation: &Map<String, Value>) -> bool {
    let codings = observation
        .get("code")
        .and_then(|code| code.get("coding"))
        .and_then(Value::as_array);
    codings.into_iter().flatten().any(|coding| {
        coding.get("system").and_then(Value::as_str) == Some("http://loinc.org")
            && coding
                .get("code")
                .and_then(Value::as_str)
                .is_some_and(|code| rules::AGE_OBSERVATION_CODES.contains(&code))
    })
}

/// Refuses a resource holding a `modifierExtension` or `implicitRules` at any depth.
fn refuse_modifiers(value: &Value, path: &str) -> Result<(), DeidError> {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let inner_path = format!("{path}.{key}");
                match key.as_str() {
                    "modifierExtension" => {
                        return Err(DeidError::ModifierExtension { path: inner_path });
                    }
                    "implicitRules" => return Err(DeidError::ImplicitRules { path: inner_path }),
                    _ => refuse_modifiers(inner, &inner_path)?,
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(index, item)| refuse_modifiers(item, &format!("{path}[{index}]"))),
        _ => Ok(()),
    }
}
