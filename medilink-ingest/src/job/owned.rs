//! [`ServerOwnedExtensions`]: the extensions of an uploaded `DocumentReference` that only the
//! platform writes — its uploader ([`UPLOADER_EXTENSION`], the job's owner, which the relay
//! queues the job for) and its ingest status ([`INGEST_EXTENSION`]) — cannot be introduced or
//! changed by a client.
//!
//! Why a [`WriteHook`]: the server puts it inside its consent guard, around the platform's
//! store, and every client write — create, update (also as create), conditional create and
//! update, JSON Patch and FHIRPath Patch (an update of the patched resource), each batch entry
//! (a single write) and each transaction entry — reaches that store through the guard and so
//! passes this one check; a write path added later cannot forget it. The rule, for any caller
//! but the platform itself (an empty caller slot: the job's status marks, the relay, imports):
//!
//! - a create carrying either extension (top-level `extension` or `modifierExtension`, on any
//!   resource type) is refused ([`FhirError::Unprocessable`], HTTP 422, naming the extension),
//!   except the upload's own write: [`DocumentIngest::submit`](super::DocumentIngest::submit)
//!   writes through the same guard as the uploader (the consent decision is the uploader's)
//!   with a [`RequestContext::mark`] of a type private to this module ([`UploadWrite`]) that
//!   names exactly the extensions it writes; nothing outside this crate can make that mark;
//! - an update keeps them as the current version has them (an earlier entry of the same
//!   transaction counts as current): a resource sent back with the same ones, or without
//!   any (a client that drops unknown extensions), is written with the current ones; one that
//!   adds, changes or removes some of them is refused as above. An update of a resource that
//!   does not exist (or was deleted) is a create;
//! - a delete is not concerned.

use std::sync::Arc;

use async_trait::async_trait;
use medilink_fhir::{
    ErrorKind, FhirError, FhirResult, RequestContext, ResourceId, ResourceStore, ResourceType,
    WriteHook, WriteOp,
};
use medilink_platform::{Caller, CallerContext};
use serde_json::Value;

use super::{INGEST_EXTENSION, UPLOADER_EXTENSION};

/// The extensions only the platform writes.
pub const SERVER_OWNED_EXTENSIONS: [&str; 2] = [UPLOADER_EXTENSION, INGEST_EXTENSION];

/// The elements of a resource where they are looked for.
const FIELDS: [&str; 2] = ["extension", "modifierExtension"];

/// The mark of an upload's own `DocumentReference` write: the server-owned extensions it
/// writes (private, so only [`DocumentIngest::submit`](super::DocumentIngest::submit) makes one).
#[derive(Debug)]
pub(super) struct UploadWrite {
    extensions: Vec<(&'static str, Value)>,
}

impl UploadWrite {
    /// The mark of writing `document` (the upload's `DocumentReference`).
    pub(super) fn of(document: &Value) -> Self {
        UploadWrite {
            extensions: owned(document),
        }
    }
}

/// Refuses a client's create or change of a server-owned extension (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct ServerOwnedExtensions {
    /// The platform's store, to read the current version from.
    store: Arc<dyn ResourceStore>,
}

impl ServerOwnedExtensions {
    /// The check, reading current versions from `store` (the platform's store, which it is a
    /// hook of).
    pub fn new(store: Arc<dyn ResourceStore>) -> Self {
        ServerOwnedExtensions { store }
    }

    /// The server-owned extensions of the current version of `resource_type/id`: the last
    /// earlier write of it in the same transaction, else the stored one (none when there is
    /// none).
    async fn current(
        &self,
        resource_type: ResourceType,
        id: &ResourceId,
        earlier: &[WriteOp],
    ) -> FhirResult<Option<Vec<(&'static str, Value)>>> {
        for op in earlier.iter().rev() {
            let (written, other, resource) = match op {
                WriteOp::Update {
                    resource_type: ty,
                    id: other,
                    resource,
                    ..
                } => (*ty == resource_type, other, Some(resource)),
                WriteOp::Create {
                    resource,
                    id: Some(other),
                } => (
                    resource["resourceType"] == resource_type.as_str(),
                    other,
                    Some(resource),
                ),
                WriteOp::Delete {
                    resource_type: ty,
                    id: other,
                    ..
                } => (*ty == resource_type, other, None),
                WriteOp::Create { id: None, .. } => continue,
            };
            if written && other == id {
                return Ok(resource.map(owned));
            }
        }
        let system = RequestContext::system();
        match self.store.read(&system, resource_type, id).await {
            Ok(stored) => {
                let current = stored
                    .json
                    .as_deref()
                    .and_then(|text| serde_json::from_str::<Value>(text).ok())
                    .unwrap_or(Value::Null);
                Ok(Some(owned(&current)))
            }
            Err(err) if matches!(err.kind(), ErrorKind::NotFound | ErrorKind::Gone) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// The server-owned extensions of `resource`, each with the element it is in.
fn owned(resource: &Value) -> Vec<(&'static str, Value)> {
    let mut found = Vec::new();
    for field in FIELDS {
        let Some(list) = resource[field].as_array() else {
            continue;
        };
        for extension in list {
            if SERVER_OWNED_EXTENSIONS
                .iter()
                .any(|url| extension["url"] == *url)
            {
                found.push((field, extension.clone()));
            }
        }
    }
    found
}

/// Whether `a` and `b` hold the same extensions (in any order).
fn same(a: &[(&'static str, Value)], b: &[(&'static str, Value)]) -> bool {
    let key = |list: &[(&'static str, Value)]| {
        let mut keys: Vec<String> = list
            .iter()
            .map(|(field, value)| format!("{field}\u{0}{value}"))
            .collect();
        keys.sort();
        keys
    };
    a.len() == b.len() && key(a) == key(b)
}

/// The refusal of a client's write of `claimed` (not empty) or a change of `kept`.
fn refused(claimed: &[(&'static str, Value)], kept: &[(&'static str, Value)]) -> FhirError {
    let url = claimed
        .iter()
        .chain(kept)
        .find(|entry| !claimed.contains(entry) || !kept.contains(entry))
        .or_else(|| claimed.first())
        .and_then(|(_, extension)| extension["url"].as_str())
        .unwrap_or(UPLOADER_EXTENSION);
    FhirError::Unprocessable {
        message: format!(
            "the extension {url} is written by the server only: a client cannot add, change or \
             remove it (leave it as the current version has it, or out)"
        ),
    }
}

#[async_trait]
impl WriteHook for ServerOwnedExtensions {
    async fn before(
        &self,
        ctx: &RequestContext,
        op: &mut WriteOp,
        earlier: &[WriteOp],
    ) -> FhirResult<()> {
        if matches!(ctx.caller(), Caller::System) {
            return Ok(());
        }
        let (resource, current) = match op {
            WriteOp::Delete { .. } => return Ok(()),
            WriteOp::Create { resource, .. } => (resource, None),
            WriteOp::Update {
                resource_type,
                id,
                resource,
                ..
            } => {
                // Only a `DocumentReference` can hold them (the platform writes them on no
                // other type): an update of another type that claims none needs no read.
                if *resource_type != ResourceType::DocumentReference && owned(resource).is_empty() {
                    return Ok(());
                }
                let current = self.current(*resource_type, id, earlier).await?;
                (resource, current)
            }
        };
        let claimed = owned(resource);
        let Some(kept) = current else {
            // A create.
            let upload = ctx
                .mark_as::<UploadWrite>()
                .is_some_and(|mark| same(&mark.extensions, &claimed));
            if claimed.is_empty() || (upload && resource["resourceType"] == "DocumentReference") {
                return Ok(());
            }
            return Err(refused(&claimed, &[]));
        };
        if same(&claimed, &kept) {
            return Ok(());
        }
        if !claimed.is_empty() {
            return Err(refused(&claimed, &kept));
        }
        // Sent without them: the current ones stay.
        let Some(object) = resource.as_object_mut() else {
            return Ok(());
        };
        for (field, extension) in kept {
            let list = object
                .entry(field)
                .or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            if let Some(list) = list.as_array_mut() {
                list.push(extension);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::job::Progress;

    #[test]
    fn owned_extensions_are_found_and_compared_in_any_order() {
        let uploader = json!({"url": UPLOADER_EXTENSION, "valueString": "u1"});
        let status = Progress::Pending.extension();
        let other = json!({"url": "https://example.org/x", "valueString": "y"});
        let document = json!({"resourceType": "DocumentReference",
            "extension": [status, other, uploader]});
        let found = owned(&document);
        assert_eq!(found.len(), 2);
        let reversed = json!({"extension": [uploader, status]});
        assert!(same(&found, &owned(&reversed)));
        let changed = json!({"extension": [
            {"url": UPLOADER_EXTENSION, "valueString": "u2"}, status]});
        assert!(!same(&found, &owned(&changed)));
        let modifier = json!({"modifierExtension": [uploader]});
        assert_eq!(owned(&modifier).len(), 1);
        let err = refused(&owned(&changed), &found);
        assert!(err.to_string().contains(UPLOADER_EXTENSION), "{err}");
        assert_eq!(err.kind(), ErrorKind::Unprocessable);
    }
}
