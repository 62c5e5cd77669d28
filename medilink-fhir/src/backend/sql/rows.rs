//! Row decoding and the SQL of history filters.

use std::sync::Arc;

use sea_orm::{QueryResult, Value as SqlValue};

use super::classify;
use crate::clock::{from_micros, to_micros};
use crate::error::{FhirError, FhirResult};
use crate::model::{ResourceId, ResourceType, VersionId};
use crate::store::{HistoryQuery, StoredResource};

/// The columns [`stored_from_row`] decodes, in order.
pub(super) const VERSION_COLUMNS: &str =
    "seq, resource_type, id, version_id, last_updated, content";
/// [`VERSION_COLUMNS`] qualified with the alias `v`.
pub(super) const VERSION_COLUMNS_V: &str =
    "v.seq, v.resource_type, v.id, v.version_id, v.last_updated, v.content";

/// Decodes a `resource_versions` row selected with [`VERSION_COLUMNS`].
pub(super) fn stored_from_row(row: &QueryResult) -> FhirResult<StoredResource> {
    let seq: i64 = row.try_get_by_index(0).map_err(classify)?;
    let type_name: String = row.try_get_by_index(1).map_err(classify)?;
    let id: String = row.try_get_by_index(2).map_err(classify)?;
    let version: i64 = row.try_get_by_index(3).map_err(classify)?;
    let last_updated: i64 = row.try_get_by_index(4).map_err(classify)?;
    let content: Option<String> = row.try_get_by_index(5).map_err(classify)?;
    let resource_type = ResourceType::from_name(&type_name).ok_or_else(|| FhirError::Internal {
        source: format!("stored row has unknown resource type {type_name:?}").into(),
    })?;
    Ok(StoredResource {
        resource_type,
        id: ResourceId::new(id)?,
        version_id: VersionId(version as u64),
        last_updated: from_micros(last_updated),
        seq: seq as u64,
        json: content.map(Arc::from),
    })
}

/// The WHERE clause (over alias `v`) and its values for a history query, without paging.
pub(super) fn history_filter(query: &HistoryQuery) -> (String, Vec<SqlValue>) {
    let mut clauses = vec!["1 = 1".to_owned()];
    let mut values: Vec<SqlValue> = Vec::new();
    let (resource_type, id) = query.scope.type_and_id();
    if let Some(resource_type) = resource_type {
        clauses.push("v.resource_type = ?".to_owned());
        values.push(resource_type.as_str().into());
    }
    if let Some(id) = id {
        clauses.push("v.id = ?".to_owned());
        values.push(id.as_str().into());
    }
    if let Some(since) = query.since {
        clauses.push("v.last_updated >= ?".to_owned());
        values.push(to_micros(since).into());
    }
    if let Some(at) = query.at {
        // The version current at `at`, and every later one.
        clauses.push(
            "(v.last_updated > ? OR v.version_id = (SELECT MAX(w.version_id) FROM resource_versions w \
             WHERE w.resource_type = v.resource_type AND w.id = v.id AND w.last_updated <= ?))"
                .to_owned(),
        );
        values.push(to_micros(at).into());
        values.push(to_micros(at).into());
    }
    (clauses.join(" AND "), values)
}
