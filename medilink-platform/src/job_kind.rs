//! Typed results of a [`JobKind`]'s handler run: [`result_json`] and
//! [`JobOutcome::completed_as`]. The kind itself (`medilink_fhir::jobs::JobKind`, with the
//! typed `NewJob::of`, `Job::payload_of` and `Job::result_of`) is the queue's.

use medilink_fhir::jobs::JobKind;

use crate::worker::{JobError, JobOutcome};

/// Kind `K`'s `result` as the JSON stored with the job.
pub fn result_json<K: JobKind>(result: &K::Result) -> Result<serde_json::Value, JobError> {
    serde_json::to_value(result).map_err(|_| JobError::permanent("the results cannot be recorded"))
}

impl JobOutcome {
    /// Done, with kind `K`'s `result`.
    pub fn completed_as<K: JobKind>(result: &K::Result) -> Result<JobOutcome, JobError> {
        Ok(JobOutcome::completed(result_json::<K>(result)?))
    }
}
