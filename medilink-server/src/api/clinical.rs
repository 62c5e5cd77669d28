//! `/api/clinical`: drug-interaction and allergy checks (`POST …/drug-interactions`),
//! acknowledgements of findings (`POST …/acknowledgements`), a patient's checks and
//! acknowledgements (`GET …/history?patient=`) and drug names (`GET …/drugs?q=`). The use
//! cases are `medilink_clinical::ClinicalService`'s; every patient read and write goes through
//! the consent guard with the request's context, and the routes are audited (`drug-check`,
//! `drug-acknowledge`, `drug-history`) from what the guard disclosed.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use medilink_clinical::record::{Acknowledgement, CheckRecord};
use medilink_clinical::service::{CheckReport, CheckRequest, History, ReportedFinding};
use medilink_clinical::{DrugSummary, MedicationInput, ResolvedDrug};
use medilink_fhir::clock::format_instant;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::{Body, Query};
use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// A medication to check: an RxNorm code, a text (a product, ingredient or brand name), or
/// both (the code wins when known).
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MedicationInput)]
pub(crate) struct MedicationView {
    /// The code system (RxNorm: `http://www.nlm.nih.gov/research/umls/rxnorm`).
    system: Option<String>,
    /// The code.
    code: Option<String>,
    /// The text.
    text: Option<String>,
}

impl From<MedicationView> for MedicationInput {
    fn from(view: MedicationView) -> Self {
        MedicationInput {
            system: view.system,
            code: view.code,
            text: view.text,
        }
    }
}

/// Body of `POST /api/clinical/drug-interactions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrugCheckRequest {
    /// The patient whose current medications and allergies count (omit for a "what if" check
    /// of the medications against each other).
    patient: Option<String>,
    /// The medications proposed (1 to 20).
    medications: Vec<MedicationView>,
}

/// A medication as the knowledge base understood it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolvedMedication {
    /// What was asked.
    input: String,
    /// The product or ingredient name found.
    #[schema(required = true)]
    name: Option<String>,
    /// Its ingredients.
    ingredients: Vec<String>,
    /// The drug classes of its ingredients.
    classes: Vec<String>,
    /// Whether the knowledge base knows it (an unknown drug has no findings).
    recognised: bool,
}

fn resolved(drug: &ResolvedDrug) -> ResolvedMedication {
    let mut classes: Vec<String> = drug
        .ingredients
        .iter()
        .flat_map(|ingredient| ingredient.classes.iter().cloned())
        .collect();
    classes.sort();
    classes.dedup();
    ResolvedMedication {
        input: drug.input.clone(),
        name: drug.name.clone(),
        ingredients: drug
            .ingredients
            .iter()
            .map(|ingredient| ingredient.name.clone())
            .collect(),
        classes,
        recognised: drug.recognised(),
    }
}

/// What a finding conflicts with.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConflictView {
    /// A medication or allergy, by name.
    display: String,
    /// The resource (`MedicationRequest/…`, `AllergyIntolerance/…`) when it is in the record.
    #[schema(required = true)]
    reference: Option<String>,
}

/// Severity of a finding.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SeverityName {
    Contraindicated,
    Serious,
    Moderate,
    Minor,
}

/// Kind of a finding.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FindingKindName {
    Interaction,
    Allergy,
}

/// An acknowledgement of a finding (a `DetectedIssue` in the patient's record).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Acknowledgement)]
pub(crate) struct AcknowledgementView {
    /// The DetectedIssue's id.
    id: String,
    patient: String,
    /// The finding key.
    finding: String,
    /// `high`, `moderate` or `low` (DetectedIssue.severity).
    severity: String,
    summary: String,
    reason: String,
    /// The account that acknowledged.
    acknowledged_by: String,
    /// Its display name, when it has one.
    #[schema(required = true)]
    acknowledged_by_name: Option<String>,
    #[schema(format = DateTime)]
    acknowledged_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    /// Whether it covers prescriptions now.
    active: bool,
    /// `DetectedIssue/{id}`.
    detected_issue: String,
}

/// Account id → display name, for the people a view names.
type Names = HashMap<String, String>;

fn acknowledgement(
    ack: &Acknowledgement,
    names: &Names,
    now: OffsetDateTime,
) -> AcknowledgementView {
    AcknowledgementView {
        acknowledged_by_name: names.get(&ack.acknowledged_by).cloned(),
        id: ack.id.clone(),
        patient: ack.patient.clone(),
        finding: ack.finding.clone(),
        severity: ack.severity.clone(),
        summary: ack.summary.clone(),
        reason: ack.reason.clone(),
        acknowledged_by: ack.acknowledged_by.clone(),
        acknowledged_at: format_instant(ack.acknowledged_at),
        expires_at: format_instant(ack.expires_at),
        active: ack.active(now),
        detected_issue: format!("DetectedIssue/{}", ack.id),
    }
}

/// A finding of a check.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindingView {
    /// Stable key: the same finding on the same data has the same key.
    key: String,
    kind: FindingKindName,
    severity: SeverityName,
    summary: String,
    #[schema(required = true)]
    mechanism: Option<String>,
    #[schema(required = true)]
    recommendation: Option<String>,
    /// Where the knowledge comes from.
    source: String,
    /// For allergies: the strength of the cross-reactivity evidence.
    #[schema(required = true)]
    evidence: Option<String>,
    /// The proposed medication.
    medication: String,
    conflicting: ConflictView,
    /// Whether it stops a prescription until acknowledged.
    blocks: bool,
    /// The patient's active acknowledgement of it.
    #[schema(required = true)]
    acknowledgement: Option<AcknowledgementView>,
}

fn finding(reported: &ReportedFinding, names: &Names, now: OffsetDateTime) -> FindingView {
    let finding = &reported.finding;
    FindingView {
        key: finding.key.clone(),
        kind: match finding.kind {
            medilink_clinical::FindingKind::Interaction => FindingKindName::Interaction,
            medilink_clinical::FindingKind::Allergy => FindingKindName::Allergy,
        },
        severity: severity(finding.severity),
        summary: finding.summary.clone(),
        mechanism: finding.mechanism.clone(),
        recommendation: finding.recommendation.clone(),
        source: finding.source.clone(),
        evidence: finding.evidence.clone(),
        medication: finding.medication.clone(),
        conflicting: ConflictView {
            display: finding.conflicting.display.clone(),
            reference: finding.conflicting.reference.clone(),
        },
        blocks: reported.blocks,
        acknowledgement: reported
            .acknowledgement
            .as_ref()
            .map(|ack| acknowledgement(ack, names, now)),
    }
}

fn severity(severity: medilink_clinical::Severity) -> SeverityName {
    match severity {
        medilink_clinical::Severity::Contraindicated => SeverityName::Contraindicated,
        medilink_clinical::Severity::Serious => SeverityName::Serious,
        medilink_clinical::Severity::Moderate => SeverityName::Moderate,
        medilink_clinical::Severity::Minor => SeverityName::Minor,
    }
}

/// The answer of `POST /api/clinical/drug-interactions`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrugCheckReport {
    check_id: String,
    #[schema(format = DateTime)]
    checked_at: String,
    #[schema(required = true)]
    patient: Option<String>,
    medications: Vec<ResolvedMedication>,
    /// Most severe first.
    findings: Vec<FindingView>,
    /// The patient's current medications the check considered.
    active_medications: usize,
    /// The patient's allergies the check considered.
    allergies: usize,
    /// A finding that blocks a prescription has no active acknowledgement.
    blocking: bool,
    /// What limited the check.
    warnings: Vec<String>,
}

impl DrugCheckReport {
    fn new(report: CheckReport, names: &Names) -> Self {
        let now = report.checked_at;
        DrugCheckReport {
            check_id: report.check_id,
            checked_at: format_instant(now),
            patient: report.patient,
            medications: report.medications.iter().map(resolved).collect(),
            findings: report
                .findings
                .iter()
                .map(|f| finding(f, names, now))
                .collect(),
            active_medications: report.active_medications,
            allergies: report.allergies,
            blocking: report.blocking,
            warnings: report.warnings,
        }
    }
}

/// `POST /api/clinical/drug-interactions`.
pub(crate) async fn check(
    State(app): State<AppState>,
    caller: RequestCaller,
    Body(body): Body<DrugCheckRequest>,
) -> Result<Json<DrugCheckReport>, ApiError> {
    let request = CheckRequest {
        patient: body.patient,
        medications: body.medications.into_iter().map(Into::into).collect(),
    };
    let report = app
        .clinical
        .check(&app.store, caller.context(), request)
        .await?;
    let acknowledged = report
        .findings
        .iter()
        .filter_map(|f| f.acknowledgement.as_ref());
    let names = app
        .auth
        .display_names(acknowledged.map(|ack| ack.acknowledged_by.as_str()))
        .await?;
    Ok(Json(DrugCheckReport::new(report, &names)))
}

/// Body of `POST /api/clinical/acknowledgements`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAcknowledgement {
    /// The patient's id.
    patient: String,
    /// The key of a current finding of the patient's record.
    finding: String,
    /// Why the therapy is appropriate nonetheless (10 to 500 characters).
    reason: String,
    /// Until when it counts (default 30 days, at most 366 days ahead).
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

/// An optional RFC 3339 instant of the body.
fn instant(text: Option<&str>, field: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    text.map(|text| OffsetDateTime::parse(text, &Rfc3339))
        .transpose()
        .map_err(|_| {
            ApiError::bad_request(
                medilink_fhir::IssueCode::Value,
                format!("{field}: not an RFC 3339 instant"),
            )
        })
}

/// `POST /api/clinical/acknowledgements`.
pub(crate) async fn acknowledge(
    State(app): State<AppState>,
    caller: RequestCaller,
    Body(body): Body<NewAcknowledgement>,
) -> Result<(StatusCode, Json<AcknowledgementView>), ApiError> {
    let expires_at = instant(body.expires_at.as_deref(), "expires_at")?;
    let (patient, finding, reason) = (&body.patient, &body.finding, &body.reason);
    let ack = app
        .clinical
        .acknowledge(
            &app.store,
            caller.context(),
            patient,
            finding,
            reason,
            expires_at,
        )
        .await?;
    let names = app
        .auth
        .display_names([ack.acknowledged_by.as_str()])
        .await?;
    let view = acknowledgement(&ack, &names, app.clock.now());
    Ok((StatusCode::CREATED, Json(view)))
}

/// Query of `GET /api/clinical/history`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryParams {
    /// The patient's id (required).
    patient: Option<String>,
}

/// A check as kept in the patient's record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckView {
    check_id: String,
    #[schema(format = DateTime)]
    checked_at: String,
    /// The account that checked.
    checked_by: String,
    /// Its display name, when it has one.
    #[schema(required = true)]
    checked_by_name: Option<String>,
    medications: Vec<String>,
    findings: Vec<CheckFindingView>,
}

/// A finding of a kept check.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckFindingView {
    key: String,
    severity: String,
    summary: String,
}

fn check_view(check: &CheckRecord, names: &Names) -> CheckView {
    CheckView {
        checked_by_name: names.get(&check.checked_by).cloned(),
        check_id: check.check_id.clone(),
        checked_at: format_instant(check.checked_at),
        checked_by: check.checked_by.clone(),
        medications: check.medications.clone(),
        findings: check
            .findings
            .iter()
            .map(|(key, severity, summary)| CheckFindingView {
                key: key.clone(),
                severity: severity.clone(),
                summary: summary.clone(),
            })
            .collect(),
    }
}

/// A patient's checks and acknowledgements, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrugHistory {
    checks: Vec<CheckView>,
    acknowledgements: Vec<AcknowledgementView>,
}

fn history_view(history: &History, names: &Names, now: OffsetDateTime) -> DrugHistory {
    DrugHistory {
        checks: history
            .checks
            .iter()
            .map(|check| check_view(check, names))
            .collect(),
        acknowledgements: history
            .acknowledgements
            .iter()
            .map(|ack| acknowledgement(ack, names, now))
            .collect(),
    }
}

/// The accounts a history names.
fn people(history: &History) -> impl Iterator<Item = &str> {
    let checkers = history.checks.iter().map(|check| check.checked_by.as_str());
    let acknowledgers = (history.acknowledgements.iter()).map(|ack| ack.acknowledged_by.as_str());
    checkers.chain(acknowledgers)
}

/// `GET /api/clinical/history?patient=`.
pub(crate) async fn history(
    State(app): State<AppState>,
    caller: RequestCaller,
    Query(params): Query<HistoryParams>,
) -> Result<Json<DrugHistory>, ApiError> {
    let Some(patient) = params.patient else {
        return Err(ApiError::bad_request(
            medilink_fhir::IssueCode::Required,
            "patient is required",
        ));
    };
    let history = app
        .clinical
        .history(&app.store, caller.context(), &patient)
        .await?;
    let names = app.auth.display_names(people(&history)).await?;
    Ok(Json(history_view(&history, &names, app.clock.now())))
}

/// Query of `GET /api/clinical/drugs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DrugParams {
    /// A drug or brand name, or its beginning (required).
    q: Option<String>,
    /// At most this many (default 20, at most 50).
    limit: Option<usize>,
}

/// A drug the knowledge base knows.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrugView {
    /// The name matched (a generic or a brand).
    name: String,
    /// The generic (ingredient) name.
    generic: String,
    brand: bool,
    /// An RxNorm code, when known.
    #[schema(required = true)]
    rxnorm: Option<String>,
    classes: Vec<String>,
}

/// Drugs matching a name.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DrugList {
    drugs: Vec<DrugView>,
}

impl From<DrugSummary> for DrugView {
    fn from(drug: DrugSummary) -> Self {
        let DrugSummary {
            name,
            generic,
            brand,
            rxnorm,
            classes,
        } = drug;
        DrugView {
            name,
            generic,
            brand,
            rxnorm,
            classes,
        }
    }
}

/// `GET /api/clinical/drugs?q=`.
pub(crate) async fn drugs(
    State(app): State<AppState>,
    Query(params): Query<DrugParams>,
) -> Result<Json<DrugList>, ApiError> {
    let found = app.clinical.drugs(
        params.q.as_deref().unwrap_or_default(),
        params.limit.unwrap_or(20),
    )?;
    let drugs = found.into_iter().map(DrugView::from).collect();
    Ok(Json(DrugList { drugs }))
}
