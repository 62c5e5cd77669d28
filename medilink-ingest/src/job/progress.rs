//! A document job's progress, recorded on its `DocumentReference` (issue #21) so that it
//! travels the change feed like any FHIR write: a subscription to the shipped
//! `document-reference` topic hears about it, decided for the subscriber by consent like every
//! notification, and the portals refresh the document's status and results without polling.
//!
//! The job sets the extension [`INGEST_EXTENSION`] (`valueCode`, one of [`Progress`]) on the
//! document: `pending` at upload, then `needs-review`, `completed`, `failed` or `cancelled`; `completed`
//! also adds `context.related` pointing at the job's `DiagnosticReport`. A mark that is already
//! there is not written again, so a job run twice writes (and notifies) once.

use medilink_fhir::{ErrorKind, FhirResult, RequestContext, ResourceId, ResourceType};
use serde_json::{Value, json};

use super::{DocumentIngest, IngestPayload};

/// The extension on a document's `DocumentReference` holding its processing state.
pub const INGEST_EXTENSION: &str =
    "https://medilink.example/fhir/StructureDefinition/document-ingest-status";

/// Where a document is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Uploaded; the job has not finished.
    Pending,
    /// Analysed; a person must review the results before they are filed.
    NeedsReview,
    /// Its results are filed (the `DiagnosticReport` is in `context.related`).
    Completed,
    /// The job failed for good.
    Failed,
    /// Its owner cancelled the job.
    Cancelled,
}

impl Progress {
    /// The extension's code.
    pub fn code(self) -> &'static str {
        match self {
            Progress::Pending => "pending",
            Progress::NeedsReview => "needs-review",
            Progress::Completed => "completed",
            Progress::Failed => "failed",
            Progress::Cancelled => "cancelled",
        }
    }

    /// The extension carrying it.
    pub fn extension(self) -> Value {
        json!({"url": INGEST_EXTENSION, "valueCode": self.code()})
    }
}

/// `document` with `progress` (and, when given, `report` in `context.related`); `None` when
/// it already says so.
fn marked(mut document: Value, progress: Progress, report: Option<&str>) -> Option<Value> {
    let mut changed = false;
    let extensions = document
        .as_object_mut()?
        .entry("extension")
        .or_insert_with(|| json!([]));
    if !extensions.is_array() {
        *extensions = json!([]);
    }
    let list = extensions.as_array_mut()?;
    let current = list.iter().position(|e| e["url"] == INGEST_EXTENSION);
    match current {
        Some(at) if list[at]["valueCode"] == progress.code() => {}
        Some(at) => {
            list[at] = progress.extension();
            changed = true;
        }
        None => {
            list.push(progress.extension());
            changed = true;
        }
    }
    if let Some(report) = report {
        let related = document
            .as_object_mut()?
            .entry("context")
            .or_insert_with(|| json!({}))
            .as_object_mut()?
            .entry("related")
            .or_insert_with(|| json!([]));
        if let Some(related) = related.as_array_mut()
            && !related.iter().any(|r| r["reference"] == report)
        {
            related.push(json!({"reference": report}));
            changed = true;
        }
    }
    changed.then_some(document)
}

impl DocumentIngest {
    /// Records `progress` on the job's `DocumentReference` (through the platform's store: the
    /// upload was decided already), with the job's `DiagnosticReport` when completed. A
    /// document deleted meanwhile is left alone.
    pub(super) async fn mark(
        &self,
        payload: &IngestPayload,
        progress: Progress,
        report: Option<&str>,
    ) -> FhirResult<()> {
        let system = RequestContext::system();
        let id = ResourceId::new(payload.document_reference.clone())?;
        let stored = match self
            .store
            .read(&system, ResourceType::DocumentReference, &id)
            .await
        {
            Ok(stored) => stored,
            Err(err) if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::Gone) => {
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        let Some(text) = stored.json.as_deref() else {
            return Ok(());
        };
        let document: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let Some(document) = marked(document, progress, report) else {
            return Ok(());
        };
        self.store
            .update(
                &system,
                ResourceType::DocumentReference,
                &id,
                document,
                Some(stored.version_id),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_written_once_and_replaces_the_previous_one() {
        let document = json!({"resourceType": "DocumentReference", "status": "current",
            "extension": [Progress::Pending.extension()]});
        let reviewed = marked(document, Progress::NeedsReview, None).expect("changed");
        assert_eq!(
            reviewed["extension"],
            json!([Progress::NeedsReview.extension()])
        );
        assert!(marked(reviewed.clone(), Progress::NeedsReview, None).is_none());
        let done =
            marked(reviewed, Progress::Completed, Some("DiagnosticReport/r1")).expect("done");
        assert_eq!(done["extension"][0]["valueCode"], "completed");
        assert_eq!(
            done["context"]["related"],
            json!([{"reference": "DiagnosticReport/r1"}])
        );
        assert!(marked(done, Progress::Completed, Some("DiagnosticReport/r1")).is_none());
    }
}
