//! A document job as its owner sees it: [`DocumentIngest::job`] (visible to its owner and to
//! admins; to anyone else it does not exist), [`DocumentIngest::jobs`] (the list under the same
//! rule) and [`DocumentIngest::cancel`], the job's state machine from the owner's side.
//!
//! Owning a job is not enough: the job holds what was read from the document (the analysis
//! awaiting review, with its values), so a non-admin owner sees, lists and cancels it only while
//! they may still read its `DocumentReference` through the consent-guarded store the caller
//! passes — the check [`DocumentIngest::accept`] makes (an uploader whose access to the patient
//! was revoked, or whose document is deleted, finds the job gone, as an unknown one). Admins see
//! every job, as before (their requests are audited).

use medilink_fhir::jobs::{Job, JobFilter, JobStatus};
use medilink_fhir::{ErrorKind, RequestContext, ResourceId, ResourceStore, ResourceType};
use medilink_platform::{Caller, CallerContext, Role};
use uuid::Uuid;

use super::{Correction, DocumentError, DocumentIngest, KIND, Progress};

/// The states a job can be cancelled from: it has not started, or it stopped (failed, or
/// waiting for a review). A running or completed job cannot.
const CANCELLABLE: [JobStatus; 3] = [
    JobStatus::Pending,
    JobStatus::NeedsReview,
    JobStatus::Failed,
];

/// Jobs listed at most per [`DocumentIngest::jobs`] call, and by default.
const MAX_LISTED_JOBS: u32 = 100;
const DEFAULT_LISTED_JOBS: u32 = 50;

impl DocumentIngest {
    /// The document jobs the caller of `ctx` may see ([`Self::job`]'s rule: a user's own whose
    /// document they may still read through `guarded`, every job for an admin, none for a
    /// caller that is not a user), in `status` when given, in the queue's listing order;
    /// `limit` defaults to 50 and is held to 1..=`MAX_LISTED_JOBS` (it bounds the jobs looked
    /// at: fewer are returned when some of them are hidden).
    pub async fn jobs(
        &self,
        guarded: &dyn ResourceStore,
        ctx: &RequestContext,
        status: Option<JobStatus>,
        limit: Option<u32>,
    ) -> Result<Vec<Job>, DocumentError> {
        let owner = match ctx.caller() {
            Caller::User {
                role: Role::Admin, ..
            } => None,
            Caller::User { user_id, .. } => Some(user_id.0.clone()),
            Caller::System | Caller::Anonymous => return Ok(Vec::new()),
        };
        let filter = JobFilter {
            owner,
            kind: Some(KIND.to_owned()),
            statuses: status.into_iter().collect(),
            limit: Some(
                limit
                    .unwrap_or(DEFAULT_LISTED_JOBS)
                    .clamp(1, MAX_LISTED_JOBS),
            ),
            ..JobFilter::default()
        };
        let listed = self.queue.list(&filter).await?;
        if filter.owner.is_none() {
            return Ok(listed);
        }
        let mut visible = Vec::with_capacity(listed.len());
        for job in listed {
            if document_readable(guarded, ctx, &job).await? {
                visible.push(job);
            }
        }
        Ok(visible)
    }

    /// The document job `id` if the caller of `ctx` is an admin, or uploaded it and may still
    /// read its `DocumentReference` through `guarded` (the consent-guarded store); otherwise
    /// [`DocumentError::JobNotFound`], as for an unknown id.
    pub async fn job(
        &self,
        guarded: &dyn ResourceStore,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<Job, DocumentError> {
        let id = Uuid::parse_str(id).map_err(|_| DocumentError::JobNotFound)?;
        let job = self
            .queue
            .get(id)
            .await?
            .ok_or(DocumentError::JobNotFound)?;
        let Caller::User { user_id, role, .. } = ctx.caller() else {
            return Err(DocumentError::JobNotFound);
        };
        let owner = job.owner.as_deref() == Some(user_id.0.as_str());
        if job.kind != KIND || !(owner || *role == Role::Admin) {
            return Err(DocumentError::JobNotFound);
        }
        if *role != Role::Admin && !document_readable(guarded, ctx, &job).await? {
            return Err(DocumentError::JobNotFound);
        }
        Ok(job)
    }

    /// Accepts the reviewed results of the job `id` (visible as [`Self::job`]) with
    /// `corrections`, as the caller of `ctx` ([`Self::accept`] does the work through the
    /// consent-guarded store `guarded`); returns the job as it is afterwards.
    pub async fn accept_review(
        &self,
        guarded: &dyn ResourceStore,
        ctx: &RequestContext,
        id: &str,
        corrections: &[Correction],
    ) -> Result<Job, DocumentError> {
        let job = self.job(guarded, ctx, id).await?;
        let Caller::User { user_id, .. } = ctx.caller() else {
            return Err(DocumentError::JobNotFound);
        };
        self.accept(guarded, ctx, job.id, &user_id.0, corrections)
            .await?;
        self.job(guarded, ctx, id).await
    }

    /// Cancels the job `id` (visible as [`Self::job`]) when it is pending, failed or waiting
    /// for review; cancelling it again changes nothing. A running or completed job is
    /// [`DocumentError::NotCancellable`]. Returns the job as it is afterwards.
    pub async fn cancel(
        &self,
        guarded: &dyn ResourceStore,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<Job, DocumentError> {
        let job = self.job(guarded, ctx, id).await?;
        if job.status != JobStatus::Cancelled {
            let moved = self
                .queue
                .transition(
                    job.id,
                    &CANCELLABLE,
                    JobStatus::Cancelled,
                    job.result.clone(),
                )
                .await?;
            if !moved {
                let now = self
                    .queue
                    .get(job.id)
                    .await?
                    .map_or(job.status, |j| j.status);
                return Err(DocumentError::NotCancellable {
                    status: now.as_str(),
                });
            }
            if let Ok(payload) = job.payload_of::<Self>()
                && let Err(err) = self.mark(&payload, Progress::Cancelled, None).await
            {
                tracing::warn!(error = %err, "the document's cancellation not recorded on it");
            }
        }
        self.job(guarded, ctx, id).await
    }
}

/// Whether the caller of `ctx` may read the `DocumentReference` of `job` through `guarded`
/// now (a job whose input does not name one: no). A refusal, an unknown or a deleted document
/// is `false`; another failure (the store is down) is the error.
async fn document_readable(
    guarded: &dyn ResourceStore,
    ctx: &RequestContext,
    job: &Job,
) -> Result<bool, DocumentError> {
    let Ok(payload) = job.payload_of::<DocumentIngest>() else {
        return Ok(false);
    };
    let Ok(document) = ResourceId::new(payload.document_reference) else {
        return Ok(false);
    };
    match guarded
        .read(ctx, ResourceType::DocumentReference, &document)
        .await
    {
        Ok(_) => Ok(true),
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::NotFound
                    | ErrorKind::Gone
                    | ErrorKind::Forbidden
                    | ErrorKind::Unauthenticated
            ) =>
        {
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use medilink_fhir::blob::MemoryBlobStore;
    use medilink_fhir::jobs::{JobQueue, NewJob};
    use medilink_fhir::{Clock, FixedClock, IdGen, SeqIdGen, SqlOptions};
    use medilink_platform::{UserId, open_store_and_platform};
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::job::IngestPayload;
    use crate::pipeline::Pipeline;

    /// The service, its queue and its store (standing in for the guarded store: what the
    /// caller may read is what exists).
    async fn service() -> (DocumentIngest, Arc<dyn JobQueue>, Arc<dyn ResourceStore>) {
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(datetime!(2024-01-01 0:00 UTC)));
        let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("id"));
        let options = SqlOptions::new("sqlite::memory:");
        let (store, platform) = open_store_and_platform(&options, clock.clone(), ids.clone())
            .await
            .expect("store");
        let queue = platform.jobs;
        let pipeline = Pipeline::offline_default();
        let service = DocumentIngest::new(
            store.clone(),
            Arc::new(MemoryBlobStore::default()),
            queue.clone(),
            ids,
            clock,
            pipeline,
        );
        (service, queue, store)
    }

    /// A job of `kind` owned by `owner`, for a new `DocumentReference` (its id second).
    async fn job_of(
        queue: &dyn JobQueue,
        store: &dyn ResourceStore,
        kind: &str,
        owner: &str,
    ) -> (String, ResourceId) {
        let document = json!({"resourceType": "DocumentReference", "status": "current",
            "content": [{"attachment": {"contentType": "application/pdf"}}]});
        let stored = store
            .create(&RequestContext::system(), document)
            .await
            .expect("document");
        let payload = IngestPayload {
            blob_key: "documents/b".into(),
            patient: "p".into(),
            document_reference: stored.id.to_string(),
            uploader: owner.into(),
            file_name: "report.pdf".into(),
            content_type: "application/pdf".into(),
            size: 1,
        };
        let mut job = NewJob::new(kind, serde_json::to_value(&payload).expect("payload"));
        job.owner = Some(owner.to_owned());
        let id = queue.enqueue(job).await.expect("enqueue").id.to_string();
        (id, stored.id)
    }

    fn as_user(user: &str, role: Role) -> RequestContext {
        RequestContext::for_caller(Caller::user(UserId(user.into()), role, true, None), "r")
    }

    #[tokio::test]
    async fn jobs_are_visible_to_their_owner_and_admins_only() {
        let (service, queue, store) = service().await;
        let guarded = store.as_ref();
        let (id, _) = job_of(queue.as_ref(), guarded, KIND, "owner").await;
        let owner = as_user("owner", Role::Physician);
        assert!(service.job(guarded, &owner, &id).await.is_ok());
        assert!(
            service
                .job(guarded, &as_user("admin", Role::Admin), &id)
                .await
                .is_ok()
        );
        for (ctx, id) in [
            (as_user("other", Role::Physician), id.as_str()),
            (RequestContext::system(), id.as_str()),
            (owner.clone(), "not-a-uuid"),
        ] {
            let err = service.job(guarded, &ctx, id).await.expect_err("hidden");
            assert!(matches!(err, DocumentError::JobNotFound));
        }
        let (other_kind, _) = job_of(queue.as_ref(), guarded, "research.export", "owner").await;
        assert!(service.job(guarded, &owner, &other_kind).await.is_err());
    }

    #[tokio::test]
    async fn an_owner_who_can_no_longer_read_the_document_does_not_see_the_job() {
        let (service, queue, store) = service().await;
        let guarded = store.as_ref();
        let (id, document) = job_of(queue.as_ref(), guarded, KIND, "owner").await;
        let owner = as_user("owner", Role::Physician);
        assert!(service.job(guarded, &owner, &id).await.is_ok(), "control");
        let system = RequestContext::system();
        let deleted = store.delete(&system, ResourceType::DocumentReference, &document, None);
        deleted.await.expect("delete");
        let err = service.job(guarded, &owner, &id).await.expect_err("hidden");
        assert!(matches!(err, DocumentError::JobNotFound));
        let err = service
            .cancel(guarded, &owner, &id)
            .await
            .expect_err("hidden");
        assert!(matches!(err, DocumentError::JobNotFound));
        let listed = service
            .jobs(guarded, &owner, None, None)
            .await
            .expect("list");
        assert!(listed.is_empty(), "left out of the list");
        let admin = as_user("admin", Role::Admin);
        assert!(
            service.job(guarded, &admin, &id).await.is_ok(),
            "admins see it"
        );
    }

    #[tokio::test]
    async fn the_list_follows_the_same_rule() {
        let (service, queue, store) = service().await;
        let guarded = store.as_ref();
        let (mine, _) = job_of(queue.as_ref(), guarded, KIND, "owner").await;
        let (theirs, _) = job_of(queue.as_ref(), guarded, KIND, "other").await;
        job_of(queue.as_ref(), guarded, "research.export", "owner").await;
        let ids = |jobs: Vec<Job>| {
            let mut ids: Vec<String> = jobs.iter().map(|job| job.id.to_string()).collect();
            ids.sort();
            ids
        };
        let listed = |ctx: RequestContext| {
            let service = &service;
            async move { ids(service.jobs(guarded, &ctx, None, None).await.expect("list")) }
        };
        assert_eq!(
            listed(as_user("owner", Role::Patient)).await,
            std::slice::from_ref(&mine)
        );
        let mut both = vec![mine.clone(), theirs];
        both.sort();
        assert_eq!(
            listed(as_user("admin", Role::Admin)).await,
            both,
            "admins see all"
        );
        assert!(listed(RequestContext::system()).await.is_empty());
        let pending = service
            .jobs(
                guarded,
                &as_user("owner", Role::Patient),
                Some(JobStatus::Completed),
                Some(0),
            )
            .await
            .expect("filtered");
        assert!(pending.is_empty(), "no completed job");
    }

    #[tokio::test]
    async fn cancel_moves_a_waiting_job_once_and_refuses_a_finished_one() {
        let (service, queue, store) = service().await;
        let guarded = store.as_ref();
        let owner = as_user("owner", Role::Patient);
        let (id, _) = job_of(queue.as_ref(), guarded, KIND, "owner").await;
        let cancelled = service.cancel(guarded, &owner, &id).await.expect("cancel");
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        let again = service.cancel(guarded, &owner, &id).await;
        assert_eq!(
            again.expect("again: no change").status,
            JobStatus::Cancelled
        );

        let (done, _) = job_of(queue.as_ref(), guarded, KIND, "owner").await;
        let uuid = Uuid::parse_str(&done).expect("uuid");
        let moved = queue.transition(uuid, &[JobStatus::Pending], JobStatus::Completed, None);
        assert!(moved.await.expect("complete"));
        let err = service
            .cancel(guarded, &owner, &done)
            .await
            .expect_err("completed");
        assert_eq!(
            err.to_string(),
            "the job is completed: it can no longer be cancelled"
        );
        assert_eq!(err.kind(), medilink_fhir::ErrorKind::Conflict);
    }
}
