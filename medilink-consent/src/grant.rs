//! [`Grant`]: one consent (who may see which patient's data, for what, when) and its FHIR R4
//! `Consent` form, which is what the store holds and what enforcement reads back.
//!
//! Mapping: `scope` patient-privacy; `patient`; `provision.type` permit; `provision.actor` the
//! grantee (a `Reference.identifier` with system [`USER_SYSTEM`], or a `Practitioner`
//! reference); `provision.class` the resource types (none: all data); `provision.purpose` a
//! v3-ActReason code (`BTG` marks break-glass); `provision.period`; `status` proposed / active /
//! rejected / inactive (= revoked). "Expired" is not stored: it is an active grant whose period
//! ended, decided at the instant by the caller's clock. A revoked grant's `provision.period.end`
//! is the revocation instant (its start, for a request revoked before it was accepted), so the
//! period says when it was in force; a revoked `Consent` stored without an end (before this
//! rule) ends at its `dateTime`, which is stamped at every save and so at the revocation. Two `identifier`s (grantee, patient)
//! let the store find a user's or a patient's consents without general search.

use medilink_fhir::clock::format_instant;
use medilink_fhir::{ResourceId, ResourceType};
use medilink_platform::UserId;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Identifier system of the grantee's user id (on `Consent.identifier` and the actor).
pub const USER_SYSTEM: &str = "urn:medilink:user";
/// Identifier system naming the grantee of a consent (lookup key).
pub const GRANTEE_SYSTEM: &str = "urn:medilink:consent:grantee";
/// Identifier system naming the patient of a consent (lookup key).
pub const PATIENT_SYSTEM: &str = "urn:medilink:consent:patient";
/// The extension recording who initiated the consent (`patient` or `physician`).
pub const INITIATOR_URL: &str =
    "https://medilink.example/fhir/StructureDefinition/consent-initiator";
/// The extension holding a break-glass reason.
pub const REASON_URL: &str = "https://medilink.example/fhir/StructureDefinition/consent-reason";
/// The v3-ActReason code of an emergency (break-glass) grant.
pub const BREAK_GLASS_PURPOSE: &str = "BTG";
/// Purposes a grant may name (v3-ActReason); `BTG` only through break-glass.
pub const PURPOSES: &[&str] = &["TREAT", "ETREAT", "CAREMGT", "HOPERAT", "HPAYMT", "PATRQT"];

const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
const RESOURCE_TYPES: &str = "http://hl7.org/fhir/resource-types";

/// Which data a grant covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every resource in the patient's compartment.
    All,
    /// Only these resource types.
    Types(Vec<ResourceType>),
}

impl Scope {
    /// Parses an API scope: `["*"]` or empty for all data, else resource type names. Unknown
    /// names are an error (returned as the first unknown name's position).
    pub fn parse(names: &[String]) -> Option<Scope> {
        if names.is_empty() || names.iter().any(|name| name == "*") {
            return Some(Scope::All);
        }
        names
            .iter()
            .map(|name| ResourceType::from_name(name))
            .collect::<Option<Vec<_>>>()
            .map(Scope::Types)
    }

    /// Whether the scope covers `resource_type`.
    pub fn covers(&self, resource_type: ResourceType) -> bool {
        match self {
            Scope::All => true,
            Scope::Types(types) => types.contains(&resource_type),
        }
    }
}

/// The stored state of a grant (expiry is derived, see [`ConsentStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantState {
    /// Requested by a physician, waiting for the patient.
    Proposed,
    /// In force (within its period).
    Active,
    /// Declined by the patient.
    Rejected,
    /// Withdrawn.
    Revoked,
}

/// The status of a grant at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentStatus {
    /// Waiting for the patient.
    Proposed,
    /// In force now.
    Active,
    /// Declined.
    Rejected,
    /// Withdrawn.
    Revoked,
    /// Its period ended.
    Expired,
}

impl ConsentStatus {
    /// The status name used by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentStatus::Proposed => "proposed",
            ConsentStatus::Active => "active",
            ConsentStatus::Rejected => "rejected",
            ConsentStatus::Revoked => "revoked",
            ConsentStatus::Expired => "expired",
        }
    }
}

/// Who started a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The patient granted it.
    Patient,
    /// A physician requested it (or broke the glass).
    Physician,
}

/// One consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The `Consent` resource id (none before it is stored).
    pub id: Option<String>,
    /// The patient whose data it covers.
    pub patient: String,
    /// The user the patient's data is shared with.
    pub grantee: String,
    /// Which data.
    pub scope: Scope,
    /// Why (a v3-ActReason code).
    pub purpose: String,
    /// In force from.
    pub start: OffsetDateTime,
    /// In force until (exclusive), if it ends.
    pub end: Option<OffsetDateTime>,
    /// The stored state.
    pub state: GrantState,
    /// Who started it.
    pub initiator: Initiator,
    /// The physician's stated reason (break-glass).
    pub reason: Option<String>,
}

impl Grant {
    /// Whether this is an emergency (break-glass) grant.
    pub fn is_break_glass(&self) -> bool {
        self.purpose == BREAK_GLASS_PURPOSE
    }

    /// The status at `now`: an active grant outside its period is expired (or, before its
    /// start, not yet in force, reported as proposed).
    pub fn status(&self, now: OffsetDateTime) -> ConsentStatus {
        match self.state {
            GrantState::Proposed => ConsentStatus::Proposed,
            GrantState::Rejected => ConsentStatus::Rejected,
            GrantState::Revoked => ConsentStatus::Revoked,
            GrantState::Active if self.end.is_some_and(|end| now >= end) => ConsentStatus::Expired,
            GrantState::Active if now < self.start => ConsentStatus::Proposed,
            GrantState::Active => ConsentStatus::Active,
        }
    }

    /// Whether the grant lets its grantee see `resource_type` data of its patient at `now`.
    pub fn permits(&self, resource_type: ResourceType, now: OffsetDateTime) -> bool {
        self.status(now) == ConsentStatus::Active && self.scope.covers(resource_type)
    }

    /// Whether the grant was in force at `at` (active or later revoked, and `at` inside its
    /// period; a revoked grant's period ends at the revocation). Scope is not considered.
    /// Attribution of past reads uses this; access decisions use [`Grant::permits`].
    pub fn in_force_at(&self, at: OffsetDateTime) -> bool {
        let end = match self.state {
            GrantState::Active => self.end,
            // A revoked grant without a known end cannot be placed in time.
            GrantState::Revoked if self.end.is_some() => self.end,
            _ => return false,
        };
        at >= self.start && end.is_none_or(|end| at < end)
    }

    /// Marks the grant revoked at `now`: its period ends then (or at its start, when it never
    /// came into force: a request withdrawn before the patient answered).
    pub fn revoke_at(&mut self, now: OffsetDateTime) {
        let end = match self.state {
            GrantState::Active => self.end.map_or(now, |end| end.min(now)).max(self.start),
            _ => self.start,
        };
        self.end = Some(end);
        self.state = GrantState::Revoked;
    }

    /// The grantee as a user id.
    pub fn grantee_id(&self) -> UserId {
        UserId(self.grantee.clone())
    }

    /// The FHIR R4 `Consent` resource of this grant, stamped at `now`.
    pub fn to_fhir(&self, now: OffsetDateTime) -> Value {
        let status = match self.state {
            GrantState::Proposed => "proposed",
            GrantState::Active => "active",
            GrantState::Rejected => "rejected",
            GrantState::Revoked => "inactive",
        };
        let mut period = json!({"start": format_instant(self.start)});
        if let Some(end) = self.end {
            period["end"] = json!(format_instant(end));
        }
        let mut provision = json!({
            "type": "permit",
            "period": period,
            "actor": [{
                "role": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "PRCP"
                }]},
                "reference": {"identifier": {"system": USER_SYSTEM, "value": self.grantee}}
            }],
            "purpose": [{"system": ACT_REASON, "code": self.purpose}],
        });
        if let Scope::Types(types) = &self.scope {
            provision["class"] = types
                .iter()
                .map(|ty| json!({"system": RESOURCE_TYPES, "code": ty.as_str()}))
                .collect();
        }
        let initiator = match self.initiator {
            Initiator::Patient => "patient",
            Initiator::Physician => "physician",
        };
        let mut resource = json!({
            "resourceType": "Consent",
            "extension": [{"url": INITIATOR_URL, "valueCode": initiator}],
            "identifier": [
                {"system": GRANTEE_SYSTEM, "value": self.grantee},
                {"system": PATIENT_SYSTEM, "value": self.patient},
            ],
            "status": status,
            "scope": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                "code": "patient-privacy"
            }]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": format!("Patient/{}", self.patient)},
            "dateTime": format_instant(now),
            "policyRule": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "OPTIN"
            }]},
            "provision": provision,
        });
        if let Some(reason) = &self.reason
            && let Some(extensions) = resource["extension"].as_array_mut()
        {
            extensions.push(json!({"url": REASON_URL, "valueString": reason}));
        }
        if let Some(id) = &self.id {
            resource["id"] = json!(id);
        }
        resource
    }

    /// Reads a grant back from a stored `Consent` (`None` when it is not one of ours: no
    /// patient-privacy permit with a user actor).
    pub fn from_fhir(id: &ResourceId, resource: &Value) -> Option<Grant> {
        let patient = resource["patient"]["reference"]
            .as_str()?
            .strip_prefix("Patient/")?
            .to_owned();
        let provision = &resource["provision"];
        if provision["type"].as_str() != Some("permit") {
            return None;
        }
        let grantee = provision["actor"]
            .as_array()?
            .iter()
            .find_map(|actor| {
                let identifier = &actor["reference"]["identifier"];
                (identifier["system"].as_str() == Some(USER_SYSTEM))
                    .then(|| identifier["value"].as_str())
                    .flatten()
            })?
            .to_owned();
        let state = match resource["status"].as_str()? {
            "proposed" | "draft" => GrantState::Proposed,
            "active" => GrantState::Active,
            "rejected" => GrantState::Rejected,
            _ => GrantState::Revoked,
        };
        let scope = match provision["class"].as_array() {
            Some(classes) if !classes.is_empty() => Scope::Types(
                classes
                    .iter()
                    .filter_map(|class| class["code"].as_str())
                    .filter_map(ResourceType::from_name)
                    .collect(),
            ),
            _ => Scope::All,
        };
        let instant = |value: &Value| {
            value
                .as_str()
                .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
        };
        let start = instant(&provision["period"]["start"])?;
        let end = instant(&provision["period"]["end"]).or_else(|| {
            // A revoked consent stored before revocations recorded their instant: `dateTime`
            // was stamped when it was saved revoked.
            (state == GrantState::Revoked)
                .then(|| instant(&resource["dateTime"]))
                .flatten()
        });
        let purpose = provision["purpose"][0]["code"]
            .as_str()
            .unwrap_or("TREAT")
            .to_owned();
        let extension = |url: &str, key: &str| {
            resource["extension"]
                .as_array()?
                .iter()
                .find(|extension| extension["url"].as_str() == Some(url))?[key]
                .as_str()
                .map(str::to_owned)
        };
        let reason = extension(REASON_URL, "valueString");
        let initiator = extension(INITIATOR_URL, "valueCode").map_or(Initiator::Patient, |code| {
            match code.as_str() {
                "physician" => Initiator::Physician,
                _ => Initiator::Patient,
            }
        });
        Some(Grant {
            id: Some(id.as_str().to_owned()),
            patient,
            grantee,
            scope,
            purpose,
            start,
            end,
            state,
            initiator,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn grant() -> Grant {
        Grant {
            id: Some("c1".into()),
            patient: "p1".into(),
            grantee: "u1".into(),
            scope: Scope::Types(vec![ResourceType::Observation]),
            purpose: "TREAT".into(),
            start: datetime!(2024-01-01 0:00 UTC),
            end: Some(datetime!(2024-02-01 0:00 UTC)),
            state: GrantState::Active,
            initiator: Initiator::Physician,
            reason: None,
        }
    }

    #[test]
    fn fhir_round_trip_keeps_every_field() {
        let grant = grant();
        let resource = grant.to_fhir(datetime!(2024-01-01 0:00 UTC));
        let id = ResourceId::new("c1").expect("id");
        assert_eq!(Grant::from_fhir(&id, &resource), Some(grant));
    }

    #[test]
    fn expiry_is_effective_at_the_instant() {
        let grant = grant();
        let end = datetime!(2024-02-01 0:00 UTC);
        assert_eq!(
            grant.status(end - time::Duration::NANOSECOND),
            ConsentStatus::Active
        );
        assert_eq!(grant.status(end), ConsentStatus::Expired);
        assert!(!grant.permits(ResourceType::Observation, end));
    }

    #[test]
    fn a_revoked_grant_was_in_force_until_the_revocation() {
        let mut grant = grant();
        grant.end = None;
        let revoked_at = datetime!(2024-01-10 0:00 UTC);
        grant.revoke_at(revoked_at);
        assert_eq!(grant.state, GrantState::Revoked);
        assert_eq!(grant.end, Some(revoked_at));
        assert!(grant.in_force_at(datetime!(2024-01-05 0:00 UTC)));
        assert!(!grant.in_force_at(revoked_at));
        assert!(!grant.in_force_at(datetime!(2023-12-31 0:00 UTC)));
        assert!(!grant.permits(ResourceType::Observation, datetime!(2024-01-05 0:00 UTC)));
        // The end survives the FHIR round trip.
        let id = ResourceId::new("c1").expect("id");
        let resource = grant.to_fhir(revoked_at);
        assert_eq!(resource["status"], "inactive");
        assert_eq!(Grant::from_fhir(&id, &resource), Some(grant));
    }

    #[test]
    fn revoking_keeps_an_earlier_end_and_a_request_never_was_in_force() {
        let mut expired = grant();
        expired.revoke_at(datetime!(2024-03-01 0:00 UTC));
        assert_eq!(expired.end, Some(datetime!(2024-02-01 0:00 UTC)));
        let mut request = grant();
        request.state = GrantState::Proposed;
        request.revoke_at(datetime!(2024-01-10 0:00 UTC));
        assert_eq!(request.end, Some(request.start));
        assert!(!request.in_force_at(request.start));
        let mut rejected = grant();
        rejected.state = GrantState::Rejected;
        assert!(!rejected.in_force_at(datetime!(2024-01-05 0:00 UTC)));
    }

    #[test]
    fn a_legacy_revoked_consent_ends_at_its_date_time() {
        let mut grant = grant();
        grant.end = None;
        grant.state = GrantState::Revoked;
        let saved = datetime!(2024-01-10 0:00 UTC);
        let resource = grant.to_fhir(saved);
        let id = ResourceId::new("c1").expect("id");
        let read = Grant::from_fhir(&id, &resource).expect("grant");
        assert_eq!(read.end, Some(saved));
        assert!(read.in_force_at(datetime!(2024-01-05 0:00 UTC)));
        assert!(!read.in_force_at(saved));
    }

    #[test]
    fn unknown_scopes_do_not_parse() {
        assert_eq!(Scope::parse(&[]), Some(Scope::All));
        assert_eq!(Scope::parse(&["Nonsense".into()]), None);
        assert_eq!(
            Scope::parse(&["Observation".into()]),
            Some(Scope::Types(vec![ResourceType::Observation]))
        );
    }
}
