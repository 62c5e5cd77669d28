//! Bulk loading: FHIR Bundles (transaction, batch, collection, …) and NDJSON.

use std::io::BufRead;

use serde_json::Value;

use crate::bundle;
use crate::clock::IdGen;
use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult, IssueCode};
use crate::model::{ResourceId, ResourceType};
use crate::store::{ResourceStore, WriteOp};

/// Resources per store transaction when loading NDJSON or collection Bundles.
pub const IMPORT_BATCH: usize = 500;

/// Loads one Bundle. Transaction and batch Bundles are processed as the REST API would;
/// any other type (collection, searchset, …) has its entries' resources stored as they are
/// (update-as-create with their ids, create when they have none), all in one transaction.
/// Returns the number of resources written; failed batch entries are counted in `failed`.
pub async fn import_bundle(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    ids: &dyn IdGen,
    bundle: Value,
) -> FhirResult<ImportCount> {
    match bundle.get("type").and_then(Value::as_str) {
        Some("transaction") | Some("batch") => {
            let outcome = bundle::process(store, ctx, ids, bundle).await?;
            let failed = outcome.entries.iter().filter(|e| e.is_err()).count();
            Ok(ImportCount {
                written: outcome.entries.len() - failed,
                failed,
            })
        }
        _ => {
            let entries = match bundle.get("entry") {
                Some(Value::Array(entries)) => entries.clone(),
                _ => Vec::new(),
            };
            let resources: Vec<Value> = entries
                .into_iter()
                .filter_map(|mut entry| entry.get_mut("resource").map(Value::take))
                .collect();
            let written = resources.len();
            let ops = resources
                .into_iter()
                .map(upsert)
                .collect::<FhirResult<Vec<_>>>()?;
            store.transaction(ctx, ops).await?;
            Ok(ImportCount { written, failed: 0 })
        }
    }
}

/// How many resources an import wrote, and how many entries failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCount {
    /// Entries written (or matched by a conditional create).
    pub written: usize,
    /// Batch entries that failed.
    pub failed: usize,
}

/// Loads NDJSON (one resource per line), [`IMPORT_BATCH`] resources per transaction. Each
/// batch is atomic; the error names the line of the first bad resource. `on_batch` sees the
/// running count after every committed batch.
pub async fn import_ndjson(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    reader: impl BufRead,
    mut on_batch: impl FnMut(usize),
) -> FhirResult<usize> {
    let mut written = 0;
    let mut ops = Vec::with_capacity(IMPORT_BATCH);
    let mut first_line = 1;
    for (index, line) in reader.lines().enumerate() {
        let line =
            line.map_err(|err| FhirError::bad_request(format!("line {}: {err}", index + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let resource: Value = serde_json::from_str(&line).map_err(|err| {
            FhirError::invalid(
                IssueCode::Structure,
                None,
                format!("line {}: malformed json: {err}", index + 1),
            )
        })?;
        if ops.is_empty() {
            first_line = index + 1;
        }
        ops.push(upsert(resource)?);
        if ops.len() == IMPORT_BATCH {
            written += flush(store, ctx, &mut ops, first_line).await?;
            on_batch(written);
        }
    }
    written += flush(store, ctx, &mut ops, first_line).await?;
    on_batch(written);
    Ok(written)
}

async fn flush(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    ops: &mut Vec<WriteOp>,
    first_line: usize,
) -> FhirResult<usize> {
    if ops.is_empty() {
        return Ok(0);
    }
    let count = ops.len();
    store
        .transaction(ctx, std::mem::take(ops))
        .await
        .map_err(|err| match err {
            FhirError::BundleEntry { index, source } => {
                FhirError::bad_request(format!("line {}: {source}", first_line + index))
            }
            other => other,
        })?;
    Ok(count)
}

/// The write that stores `resource` under its own id (or a new one when it has none).
fn upsert(resource: Value) -> FhirResult<WriteOp> {
    let type_name = resource.get("resourceType").and_then(Value::as_str);
    let id = resource.get("id").and_then(Value::as_str);
    match (type_name, id) {
        (Some(type_name), Some(id)) => Ok(WriteOp::Update {
            resource_type: type_name.parse::<ResourceType>()?,
            id: ResourceId::new(id)?,
            resource,
            if_match: None,
        }),
        _ => Ok(WriteOp::Create { resource, id: None }),
    }
}
