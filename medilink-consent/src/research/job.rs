//! The `research.export` job: reads every patient's resources of the requested types with the
//! platform's unguarded store (as the system), writes each through the [`Deidentifier`] and,
//! with k, through the k-anonymity [`Plan`] made from every stored `Patient` first.

use std::collections::BTreeMap;

use async_trait::async_trait;
use medilink_fhir::jobs::{Job, JobProgress};
use medilink_fhir::{FhirError, RequestContext, ResourceType};
use medilink_platform::UserId;
use medilink_platform::notifications::{Event, NotificationKind, Recipient};
use medilink_platform::worker::{JobError, JobHandler, JobOutcome};
use serde_json::Value;
use uuid::Uuid;

use super::{Anonymity, ResearchExport, ResearchRequest, ResearchResult, Skipped, reason};
use crate::compartment::patients_of;
use crate::deid::kanon::{self, Plan, QuasiIdentifiers};
use crate::deid::{DeidOptions, Deidentifier};
use crate::export::{ExportFile, cancelled, delete_files, discard, file_key, write_ndjson};

/// What one type's pass counts besides its lines.
#[derive(Debug, Default)]
struct Tally {
    /// Refusals of the de-identifier, per reason.
    skipped: BTreeMap<&'static str, u64>,
    /// Resources of suppressed patients.
    suppressed: u64,
}

impl ResearchExport {
    /// The k-anonymity plan over every stored `Patient` (whatever the export's types and
    /// period): each one's quasi-identifiers as de-identified (a `Patient` the de-identifier
    /// refuses counts with unknown ones). Holds one small entry per patient.
    async fn plan(&self, deid: &Deidentifier, k: u32, keep_zip3: bool) -> Result<Plan, FhirError> {
        let ctx = RequestContext::system();
        let mut query = crate::export::page_query(ResourceType::Patient, None)?;
        let mut patients = Vec::new();
        loop {
            let page = self.store.search(&ctx, &query).await?;
            for stored in &page.matches {
                let Some(json) = stored.json.as_deref() else {
                    continue;
                };
                let value: Value = serde_json::from_str(json)
                    .map_err(|err| FhirError::Internal { source: err.into() })?;
                let qis = deid
                    .deidentify(&value)
                    .map(|out| QuasiIdentifiers::of(&out))
                    .unwrap_or_default();
                patients.push((stored.id.as_str().to_owned(), qis));
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        Ok(kanon::plan(k, keep_zip3, &patients))
    }

    /// Writes the de-identified file of one type; its line count (`None`: the job was
    /// cancelled meanwhile, nothing of this type is left), counting refusals and suppressed
    /// resources into `tally`.
    async fn export_type(
        &self,
        deid: &Deidentifier,
        plan: Option<&Plan>,
        job: Uuid,
        request: &ResearchRequest,
        resource_type: ResourceType,
        tally: &mut Tally,
    ) -> Result<Option<u64>, FhirError> {
        let mut query = crate::export::page_query(resource_type, request.since.as_deref())?;
        if let Some(until) = &request.until {
            let params = [("_lastUpdated".to_owned(), format!("le{until}"))];
            let bound = medilink_fhir::search::SearchQuery::parse(resource_type, &params, true)?;
            query.criteria.extend(bound.criteria);
        }
        let ctx = RequestContext::system();
        let key = file_key(job, resource_type);
        let watch = Some((self.jobs.as_ref(), job));
        write_ndjson(
            self.blobs.as_ref(),
            self.store.as_ref(),
            &ctx,
            query,
            &key,
            watch,
            |json| {
                let value: Value = serde_json::from_str(json)
                    .map_err(|err| FhirError::Internal { source: err.into() })?;
                if let Some(plan) = plan
                    && patients_of(resource_type, &value)
                        .iter()
                        .any(|patient| plan.suppresses(patient))
                {
                    tally.suppressed += 1;
                    return Ok(None);
                }
                match deid.deidentify(&value) {
                    Ok(mut out) => {
                        if let Some(plan) = plan
                            && resource_type == ResourceType::Patient
                        {
                            plan.generalise_patient(&mut out);
                        }
                        Ok(Some(out.to_string()))
                    }
                    Err(err) => {
                        *tally.skipped.entry(reason(&err)).or_default() += 1;
                        Ok(None)
                    }
                }
            },
        )
        .await
    }

    /// Reports `done` of `total` steps of the run `job` (best effort: a lost report only
    /// leaves the previous one).
    async fn progress(&self, job: &Job, done: u64, total: u64) {
        let Some(worker) = job.leased_by.as_deref() else {
            return;
        };
        let progress = JobProgress { done, total };
        if let Err(err) = self.jobs.report_progress(job.id, worker, progress).await {
            tracing::warn!(error = %err, job = %job.id, "research export progress not stored");
        }
    }
}

#[async_trait]
impl JobHandler for ResearchExport {
    async fn run(&self, job: &Job) -> Result<JobOutcome, JobError> {
        let request = Self::request(job)
            .map_err(|_| JobError::permanent("invalid research export payload"))?;
        let as_of = self.clock.now();
        let options = DeidOptions {
            as_of,
            keep_zip3: request.keep_zip3,
        };
        let deid = Deidentifier::new(&self.key, options);
        let types = request.resource_types();
        // Steps: the k-anonymity plan (when asked), then one per type.
        let total = types.len() as u64 + u64::from(request.k.is_some());
        self.progress(job, 0, total).await;
        let plan = match request.k {
            Some(k) => Some(self.plan(&deid, k, request.keep_zip3).await?),
            None => None,
        };
        let mut done = u64::from(plan.is_some());
        let mut output = Vec::new();
        let mut skipped = Vec::new();
        let mut suppressed = BTreeMap::new();
        for resource_type in &types {
            let mut tally = Tally::default();
            let written = self
                .export_type(
                    &deid,
                    plan.as_ref(),
                    job.id,
                    &request,
                    *resource_type,
                    &mut tally,
                )
                .await;
            let count = match written {
                Ok(Some(count)) => count,
                Ok(None) => return Err(discard(self.blobs.as_ref(), job.id, &types).await),
                Err(err) => {
                    let _ = delete_files(self.blobs.as_ref(), job.id, &types).await;
                    return Err(err.into());
                }
            };
            let name = resource_type.as_str().to_owned();
            if count > 0 {
                output.push(ExportFile {
                    resource_type: name.clone(),
                    count,
                });
            }
            for (reason, count) in tally.skipped {
                skipped.push(Skipped {
                    resource_type: name.clone(),
                    reason: reason.to_owned(),
                    count,
                });
            }
            suppressed.insert(name, tally.suppressed);
            if cancelled(self.jobs.as_ref(), job.id).await? {
                return Err(discard(self.blobs.as_ref(), job.id, &types).await);
            }
            done += 1;
            self.progress(job, done, total).await;
        }
        let anonymity = plan.map(|plan| Anonymity {
            k: plan.k,
            quasi_identifiers: plan.quasi_identifiers(),
            generalisation: plan.generalisation(),
            suppressed,
        });
        let outcome = JobOutcome::completed_as::<Self>(&ResearchResult {
            as_of: medilink_fhir::clock::format_instant(as_of),
            types: request.types,
            output,
            skipped,
            anonymity,
        })?;
        if let Some(owner) = &job.owner {
            let kind = NotificationKind::ResearchExportReady;
            let event = Event::new(kind).once(format!("{kind}:{}", job.id));
            let researcher = [Recipient::User(UserId(owner.clone()))];
            if let Err(err) = self.notify.notify(&researcher, &event).await {
                tracing::warn!(error = %err, job = %job.id, "notice not stored");
            }
        }
        Ok(outcome)
    }
}
