//! A document job as its owner sees it: [`DocumentIngest::job`] (visible to its owner and to
//! admins; to anyone else it does not exist) and [`DocumentIngest::cancel`], the job's state
//! machine from the owner's side.

use medilink_fhir::RequestContext;
use medilink_fhir::jobs::{Job, JobStatus};
use medilink_platform::{Caller, CallerContext, Role};
use uuid::Uuid;

use super::{DocumentError, DocumentIngest, KIND};

/// The states a job can be cancelled from: it has not started, or it stopped (failed, or
/// waiting for a review). A running or completed job cannot.
const CANCELLABLE: [JobStatus; 3] = [
    JobStatus::Pending,
    JobStatus::NeedsReview,
    JobStatus::Failed,
];

impl DocumentIngest {
    /// The document job `id` if the caller of `ctx` uploaded it or is an admin; otherwise
    /// [`DocumentError::JobNotFound`], as for an unknown id.
    pub async fn job(&self, ctx: &RequestContext, id: &str) -> Result<Job, DocumentError> {
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
        Ok(job)
    }

    /// Cancels the job `id` (visible as [`Self::job`]) when it is pending, failed or waiting
    /// for review; cancelling it again changes nothing. A running or completed job is
    /// [`DocumentError::NotCancellable`]. Returns the job as it is afterwards.
    pub async fn cancel(&self, ctx: &RequestContext, id: &str) -> Result<Job, DocumentError> {
        let job = self.job(ctx, id).await?;
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
        }
        self.job(ctx, id).await
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
    use crate::pipeline::Pipeline;

    async fn service() -> (DocumentIngest, Arc<dyn JobQueue>) {
        let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(datetime!(2024-01-01 0:00 UTC)));
        let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("id"));
        let options = SqlOptions::new("sqlite::memory:");
        let (store, platform) = open_store_and_platform(&options, clock.clone(), ids.clone())
            .await
            .expect("store");
        let queue = platform.jobs;
        let pipeline = Pipeline::offline_default();
        let service = DocumentIngest::new(
            store,
            Arc::new(MemoryBlobStore::default()),
            queue.clone(),
            ids,
            clock,
            pipeline,
        );
        (service, queue)
    }

    async fn job_of(queue: &dyn JobQueue, kind: &str, owner: &str) -> String {
        let mut job = NewJob::new(kind, json!({}));
        job.owner = Some(owner.to_owned());
        queue.enqueue(job).await.expect("enqueue").id.to_string()
    }

    fn as_user(user: &str, role: Role) -> RequestContext {
        RequestContext::for_caller(Caller::user(UserId(user.into()), role, true, None), "r")
    }

    #[tokio::test]
    async fn jobs_are_visible_to_their_owner_and_admins_only() {
        let (service, queue) = service().await;
        let id = job_of(queue.as_ref(), KIND, "owner").await;
        let owner = as_user("owner", Role::Physician);
        assert!(service.job(&owner, &id).await.is_ok());
        assert!(
            service
                .job(&as_user("admin", Role::Admin), &id)
                .await
                .is_ok()
        );
        for (ctx, id) in [
            (as_user("other", Role::Physician), id.as_str()),
            (RequestContext::system(), id.as_str()),
            (owner.clone(), "not-a-uuid"),
        ] {
            let err = service.job(&ctx, id).await.expect_err("hidden");
            assert!(matches!(err, DocumentError::JobNotFound));
        }
        let other_kind = job_of(queue.as_ref(), "research.export", "owner").await;
        assert!(service.job(&owner, &other_kind).await.is_err());
    }

    #[tokio::test]
    async fn cancel_moves_a_waiting_job_once_and_refuses_a_finished_one() {
        let (service, queue) = service().await;
        let owner = as_user("owner", Role::Patient);
        let id = job_of(queue.as_ref(), KIND, "owner").await;
        let cancelled = service.cancel(&owner, &id).await.expect("cancel");
        assert_eq!(cancelled.status, JobStatus::Cancelled);
        let again = service.cancel(&owner, &id).await.expect("again: no change");
        assert_eq!(again.status, JobStatus::Cancelled);

        let done = job_of(queue.as_ref(), KIND, "owner").await;
        let uuid = Uuid::parse_str(&done).expect("uuid");
        let moved = queue.transition(uuid, &[JobStatus::Pending], JobStatus::Completed, None);
        assert!(moved.await.expect("complete"));
        let err = service.cancel(&owner, &done).await.expect_err("completed");
        assert_eq!(
            err.to_string(),
            "the job is completed: it can no longer be cancelled"
        );
        assert_eq!(err.kind(), medilink_fhir::ErrorKind::Conflict);
    }
}
