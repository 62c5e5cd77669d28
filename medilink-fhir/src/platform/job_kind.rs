//! [`JobKind`]: a job kind's name with the types of its payload and result, so jobs are
//! enqueued and read through serde structs instead of JSON looked up by key.
//!
//! The stored form is unchanged: `jobs.payload` and `jobs.result` hold the JSON of these
//! structs (`serde_json::to_value`), and a row written before a kind became typed decodes
//! because each struct serializes exactly as the `json!` literal it replaced.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::jobs::{Job, NewJob};
use super::worker::{JobError, JobOutcome};
use crate::error::FhirError;

/// One job kind: its name (the `jobs.kind` column) and the shapes of its payload and result.
pub trait JobKind {
    /// The kind's name, as stored and as registered with the worker.
    const KIND: &'static str;
    /// What the job is given.
    type Payload: Serialize + DeserializeOwned;
    /// What a finished run stores.
    type Result: Serialize + DeserializeOwned;
}

/// The payload of the periodic (maintenance) kinds: an empty object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoPayload {}

fn internal(err: serde_json::Error) -> FhirError {
    FhirError::Internal { source: err.into() }
}

impl NewJob {
    /// A job of kind `K` with `payload` (no owner, 5 attempts, runnable now).
    pub fn of<K: JobKind>(payload: &K::Payload) -> Result<NewJob, FhirError> {
        Ok(NewJob::new(
            K::KIND,
            serde_json::to_value(payload).map_err(internal)?,
        ))
    }
}

impl Job {
    /// Whether this job is of kind `K`.
    pub fn is<K: JobKind>(&self) -> bool {
        self.kind == K::KIND
    }

    /// The payload as kind `K`'s (an error if the job is of another kind or the JSON does
    /// not decode).
    pub fn payload_of<K: JobKind>(&self) -> Result<K::Payload, FhirError> {
        if !self.is::<K>() {
            return Err(FhirError::Internal {
                source: format!("a {} job is not a {}", self.kind, K::KIND).into(),
            });
        }
        K::Payload::deserialize(&self.payload).map_err(internal)
    }

    /// The result as kind `K`'s: `None` while there is none (or it does not decode, or the
    /// job is of another kind).
    pub fn result_of<K: JobKind>(&self) -> Option<K::Result> {
        self.result
            .as_ref()
            .filter(|_| self.is::<K>())
            .and_then(|result| K::Result::deserialize(result).ok())
    }
}

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
