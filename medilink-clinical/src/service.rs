//! [`ClinicalService`]: the drug-safety use cases for a signed-in caller — check medications
//! (for a patient, or "what if" without one), acknowledge a finding, list a patient's checks
//! and acknowledgements, find drugs by name, answer a CDS Hooks call.
//!
//! Every read and write of patient data goes through the store the caller passes in: the
//! server's consent guard, with the request's context. A physician without the patient's
//! consent therefore gets exactly what a FHIR read of that patient gives (404) and the reads
//! that were made are recorded in the request's disclosure sink, for its audit record.

use std::sync::Arc;

use medilink_fhir::{
    Clock, ErrorKind, FhirError, IdGen, Issue, IssueCode, RequestContext, ResourceId,
    ResourceStore, ResourceType, ServiceError,
};
use medilink_platform::{CallerContext, Role};
use time::{Duration, OffsetDateTime};

use crate::cds::{self, CdsResponse, HookRequest};
use crate::record::{self, Acknowledgement, CheckRecord, blocks};
use crate::{
    ActiveAllergy, ActiveMedication, Checker, ClinicalError, DrugSummary, Finding, KnowledgeBase,
    MedicationInput, ResolvedDrug,
};

/// Medications one check takes at most.
pub const MAX_MEDICATIONS: usize = 20;
/// The shortest acknowledgement reason.
pub const MIN_REASON_CHARS: usize = 10;
/// The longest acknowledgement reason.
pub const MAX_REASON_CHARS: usize = 500;
/// How long an acknowledgement counts unless the physician says otherwise.
pub const DEFAULT_ACKNOWLEDGEMENT: Duration = Duration::days(30);
/// How long an acknowledgement may count at most.
pub const MAX_ACKNOWLEDGEMENT: Duration = Duration::days(366);
/// Drugs a name search returns at most.
pub const MAX_DRUG_RESULTS: usize = 50;

/// What went wrong in a use case: bad input, or the store's error.
#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    /// The request breaks a documented rule (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The caller's role may not do this (HTTP 403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// No CDS Hooks service of this id (HTTP 404).
    #[error("no CDS service {0}")]
    UnknownService(String),
    /// No finding with this key for this patient's current record (HTTP 404).
    #[error("no current finding {0} for this patient; check the medication first")]
    UnknownFinding(String),
    /// The knowledge source failed.
    #[error(transparent)]
    Clinical(#[from] ClinicalError),
    /// The store failed or refused (a patient the caller may not see is `NotFound`).
    #[error(transparent)]
    Fhir(#[from] FhirError),
}

impl ServiceError for UseCaseError {
    fn kind(&self) -> ErrorKind {
        match self {
            UseCaseError::Invalid(_) => ErrorKind::Invalid,
            UseCaseError::Forbidden(_) => ErrorKind::Forbidden,
            UseCaseError::UnknownFinding(_) | UseCaseError::UnknownService(_) => {
                ErrorKind::NotFound
            }
            UseCaseError::Clinical(err) => err.kind(),
            UseCaseError::Fhir(err) => err.kind(),
        }
    }

    fn issue_code(&self) -> IssueCode {
        match self {
            UseCaseError::Invalid(_) => IssueCode::Invalid,
            UseCaseError::Forbidden(_) => IssueCode::Forbidden,
            UseCaseError::UnknownFinding(_) | UseCaseError::UnknownService(_) => {
                IssueCode::NotFound
            }
            UseCaseError::Clinical(err) => err.issue_code(),
            UseCaseError::Fhir(err) => err.issue_code(),
        }
    }

    fn issues(&self) -> Vec<Issue> {
        match self {
            UseCaseError::Clinical(err) => err.issues(),
            UseCaseError::Fhir(err) => err.issues(),
            _ => vec![Issue::error(self.issue_code(), None, self.to_string())],
        }
    }
}

/// A check request.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// The patient whose record the medications are checked against (none: "what if").
    pub patient: Option<String>,
    /// The medications proposed (1 to [`MAX_MEDICATIONS`]).
    pub medications: Vec<MedicationInput>,
}

/// A finding with the acknowledgement that covers it, if any.
#[derive(Debug, Clone)]
pub struct ReportedFinding {
    /// The finding.
    pub finding: Finding,
    /// Whether it stops a prescription until acknowledged.
    pub blocks: bool,
    /// The patient's active acknowledgement of it.
    pub acknowledgement: Option<Acknowledgement>,
}

/// The answer to a check.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The check's id (kept in the patient's record when there is a patient).
    pub check_id: String,
    /// When.
    pub checked_at: OffsetDateTime,
    /// The patient, if any.
    pub patient: Option<String>,
    /// The medications as understood.
    pub medications: Vec<ResolvedDrug>,
    /// The findings, most severe first.
    pub findings: Vec<ReportedFinding>,
    /// The patient's current medications considered.
    pub active_medications: usize,
    /// The patient's allergies considered.
    pub allergies: usize,
    /// A blocking finding without an active acknowledgement.
    pub blocking: bool,
    /// What limited the check (a truncated record, an unavailable online source).
    pub warnings: Vec<String>,
}

/// A patient's checks and acknowledgements.
#[derive(Debug, Clone)]
pub struct History {
    /// Checks, newest first.
    pub checks: Vec<CheckRecord>,
    /// Acknowledgements, newest first.
    pub acknowledgements: Vec<Acknowledgement>,
}

/// The drug-safety use cases.
#[derive(Debug, Clone)]
pub struct ClinicalService {
    checker: Arc<Checker>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
}

fn patient_id(patient: &str) -> Result<String, UseCaseError> {
    let id = patient.strip_prefix("Patient/").unwrap_or(patient);
    ResourceId::new(id)
        .map(|_| id.to_owned())
        .map_err(|_| UseCaseError::Invalid(format!("patient: {id:?} is not a valid id")))
}

impl ClinicalService {
    /// The use cases over `checker`.
    pub fn new(checker: Arc<Checker>, clock: Arc<dyn Clock>, ids: Arc<dyn IdGen>) -> Self {
        ClinicalService {
            checker,
            clock,
            ids,
        }
    }

    /// The checker (shared with the prescription gate).
    pub fn checker(&self) -> &Arc<Checker> {
        &self.checker
    }

    /// Drugs whose name or brand matches `query` (at most `limit`, at most
    /// [`MAX_DRUG_RESULTS`]).
    pub fn drugs(&self, query: &str, limit: usize) -> Result<Vec<DrugSummary>, UseCaseError> {
        let query = query.trim();
        if query.is_empty() {
            return Err(UseCaseError::Invalid("q is required".into()));
        }
        Ok(KnowledgeBase::offline().search(query, limit.clamp(1, MAX_DRUG_RESULTS)))
    }

    /// Reads the patient (404 when the caller may not see them, as for any read) and their
    /// current medications and allergies, through `store`.
    async fn record(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        patient: &str,
    ) -> Result<record::MedicationRecord, UseCaseError> {
        let id = ResourceId::new(patient)?;
        store.read(ctx, ResourceType::Patient, &id).await?;
        Ok(record::load(KnowledgeBase::offline(), store, ctx, patient).await?)
    }

    /// Checks `request.medications` against each other and, with a patient, against the
    /// patient's current medications and allergies; keeps the check in the patient's record.
    pub async fn check(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        request: CheckRequest,
    ) -> Result<CheckReport, UseCaseError> {
        if request.medications.is_empty() || request.medications.len() > MAX_MEDICATIONS {
            return Err(UseCaseError::Invalid(format!(
                "medications: give 1 to {MAX_MEDICATIONS} medications"
            )));
        }
        for (index, medication) in request.medications.iter().enumerate() {
            let blank =
                |field: &Option<String>| field.as_deref().is_none_or(|s| s.trim().is_empty());
            if blank(&medication.code) && blank(&medication.text) {
                return Err(UseCaseError::Invalid(format!(
                    "medications[{index}]: a code or a text is required"
                )));
            }
        }
        let patient = request.patient.as_deref().map(patient_id).transpose()?;
        let kb = KnowledgeBase::offline();
        let proposed: Vec<ResolvedDrug> = request
            .medications
            .iter()
            .map(|input| kb.resolve(input))
            .collect();
        let mut current = record::MedicationRecord::default();
        let mut acknowledged = Vec::new();
        if let Some(patient) = &patient {
            (current, acknowledged) = tokio::try_join!(self.record(store, ctx, patient), async {
                Ok(record::acknowledgements(store, ctx, patient, None).await?)
            },)?;
        }
        let outcome = self
            .checker
            .check_outcome(&proposed, &current.medications, &current.allergies)
            .await;
        let findings = outcome.findings;
        let now = self.clock.now();
        let findings: Vec<ReportedFinding> = findings
            .into_iter()
            .map(|finding| ReportedFinding {
                blocks: blocks(&finding),
                acknowledgement: acknowledged
                    .iter()
                    .find(|ack| ack.finding == finding.key && ack.active(now))
                    .cloned(),
                finding,
            })
            .collect();
        let mut warnings = outcome.warnings;
        if current.truncated {
            warnings.push(format!(
                "the patient has more than {} current entries of one type; the first were checked",
                record::MAX_RECORD_ENTRIES
            ));
        }
        for drug in proposed.iter().filter(|drug| !drug.recognised()) {
            warnings.push(format!(
                "{:?} is not a drug this knowledge base knows",
                drug.input
            ));
        }
        let report = CheckReport {
            check_id: self.ids.new_id(),
            checked_at: now,
            blocking: findings
                .iter()
                .any(|reported| reported.blocks && reported.acknowledgement.is_none()),
            patient,
            active_medications: current.medications.len(),
            allergies: current.allergies.len(),
            medications: proposed,
            findings,
            warnings,
        };
        if let Some(patient) = &report.patient {
            let kept = CheckRecord {
                check_id: report.check_id.clone(),
                checked_at: now,
                checked_by: checked_by(ctx),
                medications: report.medications.iter().map(display).collect(),
                findings: report
                    .findings
                    .iter()
                    .map(|reported| {
                        let finding = &reported.finding;
                        (
                            finding.key.clone(),
                            finding.severity.as_str().to_owned(),
                            finding.summary.clone(),
                        )
                    })
                    .collect(),
            };
            store
                .create(ctx, record::check_resource(&kept, patient))
                .await?;
        }
        Ok(report)
    }

    /// A physician acknowledges the current finding `finding` of `patient`'s record for
    /// `reason`, until `expires_at` (default [`DEFAULT_ACKNOWLEDGEMENT`], at most
    /// [`MAX_ACKNOWLEDGEMENT`]): a `DetectedIssue` written through `store`.
    pub async fn acknowledge(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        patient: &str,
        finding: &str,
        reason: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<Acknowledgement, UseCaseError> {
        if !matches!(ctx.caller().role(), Some(Role::Physician)) {
            return Err(UseCaseError::Forbidden(
                "only a physician acknowledges a finding",
            ));
        }
        let patient = patient_id(patient)?;
        let reason = reason.trim();
        let chars = reason.chars().count();
        if !(MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&chars) {
            return Err(UseCaseError::Invalid(format!(
                "reason: give {MIN_REASON_CHARS} to {MAX_REASON_CHARS} characters"
            )));
        }
        let now = self.clock.now();
        let expires_at = expires_at.unwrap_or(now + DEFAULT_ACKNOWLEDGEMENT);
        if expires_at <= now || expires_at > now + MAX_ACKNOWLEDGEMENT {
            return Err(UseCaseError::Invalid(format!(
                "expires_at: must be in the future and at most {} days ahead",
                MAX_ACKNOWLEDGEMENT.whole_days()
            )));
        }
        let found = self.finding_of(store, ctx, &patient, finding).await?;
        let user = checked_by(ctx);
        let resource =
            record::acknowledgement_resource(&found, &patient, &user, reason, now, expires_at);
        let stored = store.create(ctx, resource).await?;
        let json = stored.json.as_deref().unwrap_or("{}");
        let value = serde_json::from_str(json).map_err(|err| FhirError::Internal {
            source: Box::new(err),
        })?;
        record::acknowledgement(&value)
            .ok_or_else(|| UseCaseError::Invalid("the acknowledgement could not be read".into()))
    }

    /// The finding `key` as the patient's current record gives it: the drug it names is
    /// checked again, so that an acknowledgement always records a real finding.
    async fn finding_of(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        patient: &str,
        key: &str,
    ) -> Result<Finding, UseCaseError> {
        let current = self.record(store, ctx, patient).await?;
        let kb = KnowledgeBase::offline();
        for candidate in finding_drugs(key) {
            let proposed = kb.resolve(&MedicationInput {
                system: None,
                code: None,
                text: Some(candidate),
            });
            if !proposed.recognised() {
                continue;
            }
            let findings = self
                .checker
                .check(
                    std::slice::from_ref(&proposed),
                    &current.medications,
                    &current.allergies,
                )
                .await?;
            if let Some(found) = findings.into_iter().find(|finding| finding.key == key) {
                return Ok(found);
            }
        }
        Err(UseCaseError::UnknownFinding(key.to_owned()))
    }

    /// `patient`'s checks and acknowledgements, read through `store`.
    pub async fn history(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        patient: &str,
    ) -> Result<History, UseCaseError> {
        let patient = patient_id(patient)?;
        store
            .read(ctx, ResourceType::Patient, &ResourceId::new(&patient)?)
            .await?;
        Ok(History {
            checks: record::checks(store, ctx, &patient).await?,
            acknowledgements: record::acknowledgements(store, ctx, &patient, None).await?,
        })
    }

    /// A CDS Hooks call to `service`: the draft orders checked against each other and against
    /// the patient's record (the request's prefetch when it brings one, else read through
    /// `store` under the caller's consent).
    pub async fn hook(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        service: &str,
        request: &HookRequest,
    ) -> Result<CdsResponse, UseCaseError> {
        let known = cds::services();
        let Some(declared) = known.iter().find(|declared| declared.id == service) else {
            return Err(UseCaseError::UnknownService(service.to_owned()));
        };
        if declared.hook != request.hook {
            return Err(UseCaseError::Invalid(format!(
                "service {service} answers the hook {}, not {}",
                declared.hook, request.hook
            )));
        }
        let kb = KnowledgeBase::offline();
        let drafts = cds::draft_medications(request);
        // order-select: the selected drafts are checked, the other drafts count as current.
        let checked = match request.hook.as_str() {
            "order-select" => cds::selected_medications(request),
            _ => drafts.clone(),
        };
        let (medications, allergies) = match prefetched(kb, request) {
            Some(found) => found,
            None => {
                let patient = patient_id(&request.context.patient_id)?;
                let current = self.record(store, ctx, &patient).await?;
                (current.medications, current.allergies)
            }
        };
        let mut response = CdsResponse::default();
        for (reference, input) in &checked {
            let proposed = kb.resolve(input);
            if !proposed.recognised() {
                continue;
            }
            // The other drafts count as current medications of the patient.
            let mut current = medications.clone();
            current.extend(drafts.iter().filter(|(other, _)| other != reference).map(
                |(other, input)| ActiveMedication {
                    drug: kb.resolve(input),
                    reference: Some(other.clone()),
                },
            ));
            let findings = self
                .checker
                .check(std::slice::from_ref(&proposed), &current, &allergies)
                .await?;
            response.cards.extend(cds::cards(&findings, reference));
        }
        Ok(response)
    }
}

/// The medications and allergies of a CDS Hooks request's prefetch, when it brings both.
fn prefetched(
    kb: &KnowledgeBase,
    request: &HookRequest,
) -> Option<(Vec<ActiveMedication>, Vec<ActiveAllergy>)> {
    let prefetch = request.prefetch.as_ref()?;
    let entries = |key: &str| -> Option<Vec<serde_json::Value>> {
        let bundle = prefetch.get(key)?.as_ref()?;
        Some(
            bundle["entry"]
                .as_array()
                .map(|entries| {
                    entries
                        .iter()
                        .map(|entry| entry["resource"].clone())
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    let medications = entries("medications")?
        .iter()
        .filter_map(|resource| crate::fhir::active_medication(kb, resource))
        .collect();
    let allergies = entries("allergies")?
        .iter()
        .filter_map(|resource| crate::fhir::active_allergy(kb, resource))
        .collect();
    Some((medications, allergies))
}

fn display(drug: &ResolvedDrug) -> String {
    drug.name.clone().unwrap_or_else(|| drug.input.clone())
}

fn checked_by(ctx: &RequestContext) -> String {
    ctx.caller()
        .user_id()
        .map(|user| user.as_str().to_owned())
        .unwrap_or_else(|| "system".to_owned())
}

/// The drug names a finding key may have been found for (`interaction:a+b` → a, b;
/// `allergy:class:drug` → drug).
fn finding_drugs(key: &str) -> Vec<String> {
    let Some((kind, rest)) = key.split_once(':') else {
        return Vec::new();
    };
    match kind {
        "interaction" => rest.split('+').map(str::to_owned).collect(),
        "allergy" => rest
            .rsplit(':')
            .next()
            .map(str::to_owned)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}
