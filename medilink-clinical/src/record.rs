//! What the checks read from and write into a patient's record, in FHIR terms.
//!
//! - The patient's **current medications** are their `MedicationRequest`s (status active,
//!   on-hold or draft) and `MedicationStatement`s (active, intended or on-hold); their
//!   **allergies** the `AllergyIntolerance`s that [`crate::fhir::active_allergy`] keeps.
//! - An **acknowledgement** of a finding is a `DetectedIssue` (status `final`): the finding's
//!   key as its identifier ([`FINDING_SYSTEM`]), code `DRG` (drug interaction) or `ALGY`
//!   (allergy) of v3 ActCode, severity, the implicated resources, and one `mitigation` whose
//!   action is v3 ActCode `1` ("Therapy Appropriate") with the physician's reason as its text,
//!   its author and date; its expiry is the extension [`EXPIRES_EXTENSION`]. It stops counting
//!   when it expires or is set to `entered-in-error`/`cancelled`.
//! - A **check** for a patient is kept as a `GuidanceResponse` (module [`CHECK_MODULE`],
//!   status `success`, the patient as subject, `occurrenceDateTime`), with the medications
//!   checked and the findings in the complex extension [`CHECK_EXTENSION`].

use medilink_fhir::clock::format_instant;
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{FhirResult, RequestContext, ResourceStore, ResourceType};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::{ActiveAllergy, ActiveMedication, Finding, FindingKind, KnowledgeBase, Severity};

/// `DetectedIssue.identifier.system` of the finding key an acknowledgement covers.
pub const FINDING_SYSTEM: &str = "https://medilink.dev/fhir/clinical/finding";
/// `DetectedIssue.extension.url` of an acknowledgement's expiry (`valueDateTime`).
pub const EXPIRES_EXTENSION: &str =
    "https://medilink.dev/fhir/StructureDefinition/acknowledgement-expires";
/// `DetectedIssue.extension.url` of the account that acknowledged (`valueString`).
pub const ACKNOWLEDGED_BY_EXTENSION: &str =
    "https://medilink.dev/fhir/StructureDefinition/acknowledged-by";
/// `GuidanceResponse.moduleUri` of a drug check.
pub const CHECK_MODULE: &str = "https://medilink.dev/cds/drug-interactions";
/// `GuidanceResponse.extension.url` of a check's content.
pub const CHECK_EXTENSION: &str = "https://medilink.dev/fhir/StructureDefinition/drug-check";
/// `GuidanceResponse.identifier.system` of a check id.
pub const CHECK_SYSTEM: &str = "https://medilink.dev/fhir/clinical/check";

const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
/// Resources of one type read per check at most (a patient with more current medications
/// than this is checked against the first ones, and the report says so).
pub const MAX_RECORD_ENTRIES: usize = 1000;

/// A patient's current medications and allergies.
#[derive(Debug, Default)]
pub struct MedicationRecord {
    /// Current medication requests and statements.
    pub medications: Vec<ActiveMedication>,
    /// Current drug allergies and intolerances.
    pub allergies: Vec<ActiveAllergy>,
    /// Whether some type had more than [`MAX_RECORD_ENTRIES`] matches.
    pub truncated: bool,
}

fn query(
    resource_type: ResourceType,
    patient: &str,
    status: Option<&str>,
) -> FhirResult<SearchQuery> {
    let mut params = vec![
        ("patient".to_owned(), format!("Patient/{patient}")),
        ("_count".to_owned(), MAX_RECORD_ENTRIES.to_string()),
        ("_total".to_owned(), "none".to_owned()),
    ];
    if let Some(status) = status {
        params.push(("status".to_owned(), status.to_owned()));
    }
    SearchQuery::parse(resource_type, &params, true)
}

async fn matches(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    query: &SearchQuery,
    truncated: &mut bool,
) -> FhirResult<Vec<Value>> {
    let page = store.search(ctx, query).await?;
    *truncated |= page.next_cursor.is_some();
    Ok(page
        .matches
        .iter()
        .filter_map(|stored| serde_json::from_str(stored.json.as_deref()?).ok())
        .collect())
}

/// Reads `patient`'s current medications and allergies from `store` (the caller's consent
/// guard for a caller's check; the platform's store for the prescription gate).
pub async fn load(
    kb: &KnowledgeBase,
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    patient: &str,
) -> FhirResult<MedicationRecord> {
    let mut record = MedicationRecord::default();
    let requests = query(
        ResourceType::MedicationRequest,
        patient,
        Some("active,on-hold,draft"),
    )?;
    let statements = query(
        ResourceType::MedicationStatement,
        patient,
        Some("active,intended,on-hold"),
    )?;
    let allergies = query(ResourceType::AllergyIntolerance, patient, None)?;
    // The three reads at once (the pool serves them on separate connections).
    let (mut truncated_requests, mut truncated_statements) = (false, false);
    let (requests, statements, allergies) = tokio::try_join!(
        matches(store, ctx, &requests, &mut truncated_requests),
        matches(store, ctx, &statements, &mut truncated_statements),
        matches(store, ctx, &allergies, &mut record.truncated),
    )?;
    record.truncated |= truncated_requests || truncated_statements;
    for resource in requests.iter().chain(&statements) {
        record
            .medications
            .extend(crate::fhir::active_medication(kb, resource));
    }
    for resource in &allergies {
        record
            .allergies
            .extend(crate::fhir::active_allergy(kb, resource));
    }
    Ok(record)
}

/// Whether a finding stops a prescription until it is acknowledged: every contraindicated
/// finding, and an allergy to the same drug or class (severity serious or above).
pub fn blocks(finding: &Finding) -> bool {
    finding.severity == Severity::Contraindicated
        || (matches!(finding.kind, FindingKind::Allergy) && finding.severity <= Severity::Serious)
}

/// An acknowledgement as read from its `DetectedIssue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The DetectedIssue's id.
    pub id: String,
    /// The patient's id.
    pub patient: String,
    /// The finding key.
    pub finding: String,
    /// `DetectedIssue.severity` (`high`, `moderate`, `low`).
    pub severity: String,
    /// The finding's summary.
    pub summary: String,
    /// The physician's reason.
    pub reason: String,
    /// The account that acknowledged.
    pub acknowledged_by: String,
    /// When.
    pub acknowledged_at: OffsetDateTime,
    /// Until when it counts.
    pub expires_at: OffsetDateTime,
    /// `DetectedIssue.status`.
    pub status: String,
}

impl Acknowledgement {
    /// Whether it covers prescriptions at `now`.
    pub fn active(&self, now: OffsetDateTime) -> bool {
        self.status == "final" && now < self.expires_at
    }
}

fn severity_code(severity: Severity) -> &'static str {
    match severity {
        Severity::Contraindicated | Severity::Serious => "high",
        Severity::Moderate => "moderate",
        Severity::Minor => "low",
    }
}

/// The `DetectedIssue` recording `finding` for `patient`, acknowledged by `user` for `reason`
/// until `expires_at`.
pub fn acknowledgement_resource(
    finding: &Finding,
    patient: &str,
    user: &str,
    reason: &str,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Value {
    let (code, display) = match finding.kind {
        FindingKind::Interaction => ("DRG", "Drug Interaction Alert"),
        FindingKind::Allergy => ("ALGY", "Allergy Alert"),
    };
    let mut issue = json!({
        "resourceType": "DetectedIssue",
        "extension": [
            { "url": EXPIRES_EXTENSION, "valueDateTime": format_instant(expires_at) },
            { "url": ACKNOWLEDGED_BY_EXTENSION, "valueString": user },
        ],
        "identifier": [{ "system": FINDING_SYSTEM, "value": finding.key }],
        "status": "final",
        "code": {
            "coding": [{ "system": ACT_CODE, "code": code, "display": display }],
            "text": finding.summary,
        },
        "severity": severity_code(finding.severity),
        "patient": { "reference": format!("Patient/{patient}") },
        "identifiedDateTime": format_instant(now),
        "detail": detail(finding),
        "mitigation": [{
            "action": {
                "coding": [{ "system": ACT_CODE, "code": "1", "display": "Therapy Appropriate" }],
                "text": reason,
            },
            "date": format_instant(now),
        }],
    });
    if let Some(reference) = &finding.conflicting.reference {
        issue["implicated"] = json!([{
            "reference": reference,
            "display": finding.conflicting.display,
        }]);
    }
    issue
}

fn detail(finding: &Finding) -> String {
    let mut text = format!(
        "{} ({}): {} with {}.",
        finding.summary,
        finding.severity.as_str(),
        finding.medication,
        finding.conflicting.display
    );
    for part in [
        &finding.mechanism,
        &finding.recommendation,
        &finding.evidence,
    ]
    .into_iter()
    .flatten()
    {
        text.push(' ');
        text.push_str(part);
    }
    text.push_str(" Source: ");
    text.push_str(&finding.source);
    text
}

fn instant(value: Option<&Value>) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(value?.as_str()?, &Rfc3339).ok()
}

fn extension<'a>(resource: &'a Value, url: &str, field: &str) -> Option<&'a Value> {
    resource["extension"]
        .as_array()?
        .iter()
        .find(|extension| extension["url"] == url)
        .map(|extension| &extension[field])
}

/// Reads an acknowledgement from its `DetectedIssue` (`None`: not one of ours).
pub fn acknowledgement(resource: &Value) -> Option<Acknowledgement> {
    let finding = resource["identifier"]
        .as_array()?
        .iter()
        .find(|identifier| identifier["system"] == FINDING_SYSTEM)?["value"]
        .as_str()?
        .to_owned();
    let patient = resource["patient"]["reference"]
        .as_str()?
        .strip_prefix("Patient/")?
        .to_owned();
    let mitigation = &resource["mitigation"][0];
    Some(Acknowledgement {
        id: resource["id"].as_str().unwrap_or_default().to_owned(),
        patient,
        finding,
        severity: resource["severity"].as_str().unwrap_or("high").to_owned(),
        summary: resource["code"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        reason: mitigation["action"]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        acknowledged_by: extension(resource, ACKNOWLEDGED_BY_EXTENSION, "valueString")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        acknowledged_at: instant(Some(&mitigation["date"]))
            .or_else(|| instant(resource.get("identifiedDateTime")))?,
        expires_at: instant(extension(resource, EXPIRES_EXTENSION, "valueDateTime"))?,
        status: resource["status"].as_str().unwrap_or_default().to_owned(),
    })
}

/// `patient`'s acknowledgements (of `finding` only, when given), newest first.
pub async fn acknowledgements(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    patient: &str,
    finding: Option<&str>,
) -> FhirResult<Vec<Acknowledgement>> {
    let mut params = vec![
        ("patient".to_owned(), format!("Patient/{patient}")),
        ("_count".to_owned(), MAX_RECORD_ENTRIES.to_string()),
        ("_total".to_owned(), "none".to_owned()),
    ];
    params.push((
        "identifier".to_owned(),
        match finding {
            Some(key) => format!("{FINDING_SYSTEM}|{key}"),
            None => format!("{FINDING_SYSTEM}|"),
        },
    ));
    let query = SearchQuery::parse(ResourceType::DetectedIssue, &params, true)?;
    let mut ignored = false;
    let mut found: Vec<Acknowledgement> = matches(store, ctx, &query, &mut ignored)
        .await?
        .iter()
        .filter_map(acknowledgement)
        .collect();
    found.sort_by_key(|ack| std::cmp::Reverse(ack.acknowledged_at));
    Ok(found)
}

/// A check as kept in a patient's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRecord {
    /// The check's id.
    pub check_id: String,
    /// When.
    pub checked_at: OffsetDateTime,
    /// The account that checked.
    pub checked_by: String,
    /// The medications checked (display names).
    pub medications: Vec<String>,
    /// The findings: key, severity and summary.
    pub findings: Vec<(String, String, String)>,
}

/// The `GuidanceResponse` keeping `check` for `patient`.
pub fn check_resource(check: &CheckRecord, patient: &str) -> Value {
    let mut parts = vec![json!({ "url": "checked-by", "valueString": check.checked_by })];
    parts.extend(
        check
            .medications
            .iter()
            .map(|name| json!({ "url": "medication", "valueString": name })),
    );
    parts.extend(check.findings.iter().map(|(key, severity, summary)| {
        json!({ "url": "finding", "extension": [
            { "url": "key", "valueString": key },
            { "url": "severity", "valueCode": severity },
            { "url": "summary", "valueString": summary },
        ]})
    }));
    json!({
        "resourceType": "GuidanceResponse",
        "extension": [{ "url": CHECK_EXTENSION, "extension": parts }],
        "requestIdentifier": { "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{}", check.check_id) },
        "identifier": [{ "system": CHECK_SYSTEM, "value": check.check_id }],
        "moduleUri": CHECK_MODULE,
        "status": "success",
        "subject": { "reference": format!("Patient/{patient}") },
        "occurrenceDateTime": format_instant(check.checked_at),
    })
}

/// Reads a check from its `GuidanceResponse` (`None`: not one of ours).
pub fn check_record(resource: &Value) -> Option<CheckRecord> {
    if resource["moduleUri"] != CHECK_MODULE {
        return None;
    }
    let parts = extension(resource, CHECK_EXTENSION, "extension")?.as_array()?;
    let string = |part: &Value, field: &str| part[field].as_str().unwrap_or_default().to_owned();
    let mut check = CheckRecord {
        check_id: resource["identifier"][0]["value"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        checked_at: instant(resource.get("occurrenceDateTime"))?,
        checked_by: String::new(),
        medications: Vec::new(),
        findings: Vec::new(),
    };
    for part in parts {
        match part["url"].as_str() {
            Some("checked-by") => check.checked_by = string(part, "valueString"),
            Some("medication") => check.medications.push(string(part, "valueString")),
            Some("finding") => {
                let field = |url: &str, value: &str| {
                    part["extension"]
                        .as_array()
                        .and_then(|subs| subs.iter().find(|sub| sub["url"] == url))
                        .map(|sub| string(sub, value))
                        .unwrap_or_default()
                };
                check.findings.push((
                    field("key", "valueString"),
                    field("severity", "valueCode"),
                    field("summary", "valueString"),
                ));
            }
            _ => {}
        }
    }
    Some(check)
}

/// `patient`'s checks, newest first.
pub async fn checks(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    patient: &str,
) -> FhirResult<Vec<CheckRecord>> {
    let params = vec![
        ("patient".to_owned(), format!("Patient/{patient}")),
        ("identifier".to_owned(), format!("{CHECK_SYSTEM}|")),
        ("_count".to_owned(), MAX_RECORD_ENTRIES.to_string()),
        ("_total".to_owned(), "none".to_owned()),
    ];
    let query = SearchQuery::parse(ResourceType::GuidanceResponse, &params, true)?;
    let mut ignored = false;
    let mut found: Vec<CheckRecord> = matches(store, ctx, &query, &mut ignored)
        .await?
        .iter()
        .filter_map(check_record)
        .collect();
    found.sort_by_key(|check| std::cmp::Reverse(check.checked_at));
    Ok(found)
}
