//! Backend-independent preparation of writes: checking the body against the URL, validating
//! it, assigning ids and stamping `meta.versionId` / `meta.lastUpdated`.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::{IdGen, format_instant};
use crate::error::{FhirError, FhirResult, IssueCode};
use crate::model::{ResourceId, ResourceType, VersionId};
use crate::search::extract::{IndexRows, extract};
use crate::store::WriteOp;
use crate::validate;

/// What a prepared write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// Must not exist yet.
    Create,
    /// Update or create with the client's id.
    Update,
    /// Tombstone.
    Delete,
}

/// A write checked and ready for a backend.
#[derive(Debug, Clone)]
pub(crate) struct PreparedWrite {
    pub(crate) kind: WriteKind,
    pub(crate) resource_type: ResourceType,
    pub(crate) id: ResourceId,
    pub(crate) if_match: Option<VersionId>,
    /// The resource's text without meta stamping (`None` for deletes).
    pub(crate) body: Option<Rendered>,
    /// Its search index rows (empty for deletes).
    pub(crate) index: IndexRows,
}

impl PreparedWrite {
    /// The resource text of `version`, with id and meta stamped.
    pub(crate) fn render(
        &self,
        version: VersionId,
        last_updated: OffsetDateTime,
    ) -> Option<String> {
        Some(self.body.as_ref()?.finish(version, last_updated))
    }
}

/// Checks the body of a create/update and returns it as a JSON object.
pub(crate) fn checked_body(
    resource: Value,
    url_type: Option<ResourceType>,
) -> FhirResult<(ResourceType, Map<String, Value>)> {
    let Value::Object(body) = resource else {
        return Err(FhirError::invalid(
            IssueCode::Structure,
            None,
            "the request body must be a JSON object holding a FHIR resource",
        ));
    };
    let type_name = match body.get("resourceType") {
        Some(Value::String(name)) => name.as_str(),
        _ => {
            return Err(FhirError::invalid(
                IssueCode::Required,
                Some("resourceType".to_owned()),
                "the resource has no resourceType",
            ));
        }
    };
    let resource_type: ResourceType = type_name.parse()?;
    if let Some(url_type) = url_type
        && url_type != resource_type
    {
        return Err(FhirError::TypeMismatch {
            url: url_type,
            body: resource_type.to_string(),
        });
    }
    let value = Value::Object(body);
    validate::validate(&value)?;
    let Value::Object(body) = value else {
        unreachable!("invariant: constructed as an object above")
    };
    Ok((resource_type, body))
}

/// Turns a [`WriteOp`] into a [`PreparedWrite`], validating the resource.
pub(crate) fn prepare(op: WriteOp, ids: &dyn IdGen) -> FhirResult<PreparedWrite> {
    match op {
        WriteOp::Create { resource, id } => {
            let (resource_type, mut body) = checked_body(resource, None)?;
            let id = match id {
                Some(id) => id,
                None => ResourceId::new(ids.new_id())?,
            };
            let index = index_of(resource_type, &id, &mut body);
            let body = prerender(&body, &id);
            Ok(PreparedWrite {
                kind: WriteKind::Create,
                resource_type,
                id,
                if_match: None,
                body: Some(body),
                index,
            })
        }
        WriteOp::Update {
            resource_type,
            id,
            resource,
            if_match,
        } => {
            let (_, mut body) = checked_body(resource, Some(resource_type))?;
            match body.get("id") {
                Some(Value::String(body_id)) if body_id == id.as_str() => {}
                other => {
                    return Err(FhirError::IdMismatch {
                        url: id.to_string(),
                        body: match other {
                            Some(Value::String(s)) => s.chars().take(64).collect(),
                            _ => String::new(),
                        },
                    });
                }
            }
            let index = index_of(resource_type, &id, &mut body);
            let body = prerender(&body, &id);
            Ok(PreparedWrite {
                kind: WriteKind::Update,
                resource_type,
                id,
                if_match,
                body: Some(body),
                index,
            })
        }
        WriteOp::Delete {
            resource_type,
            id,
            if_match,
        } => Ok(PreparedWrite {
            kind: WriteKind::Delete,
            resource_type,
            id,
            if_match,
            body: None,
            index: IndexRows::default(),
        }),
    }
}

/// Extracts the search index rows of a body (briefly viewed as a JSON value, without copying),
/// as the resource it is stored as: with its own `id` (a create's body may carry a client's id,
/// which the store replaces; a Patient indexed under that id would belong to a second, phantom
/// patient and be hidden from every search but the platform's — issue #16, Synthea bundles).
fn index_of(
    resource_type: ResourceType,
    id: &ResourceId,
    body: &mut Map<String, Value>,
) -> IndexRows {
    body.insert("id".to_owned(), Value::String(id.to_string()));
    let value = Value::Object(std::mem::take(body));
    let index = extract(resource_type, id.as_str(), &value);
    if let Value::Object(map) = value {
        *body = map;
    }
    index
}

/// A resource's JSON text without its two store-assigned meta values: serialized once, before
/// the write transaction (issue #19: the writers are serialized, so the work inside the writer
/// lock is what limits ingest; JSON serialization of the body is not part of it).
#[derive(Debug, Clone)]
pub(crate) struct Rendered {
    /// Everything up to the value of `meta.versionId`: `{"resourceType":…,"id":…,"meta":{"versionId":"`.
    head: String,
    /// Everything after the value of `meta.lastUpdated`, starting with its closing quote.
    tail: String,
}

impl Rendered {
    /// The resource text with `version` and `last_updated` stamped.
    pub(crate) fn finish(&self, version: VersionId, last_updated: OffsetDateTime) -> String {
        let version = version.to_string();
        let instant = format_instant(last_updated);
        let mut out = String::with_capacity(
            self.head.len() + self.tail.len() + version.len() + instant.len() + 20,
        );
        out.push_str(&self.head);
        // Both are ASCII digits and separators: nothing to escape.
        out.push_str(&version);
        out.push_str("\",\"lastUpdated\":\"");
        out.push_str(&instant);
        out.push_str(&self.tail);
        out
    }
}

fn push_json(out: &mut Vec<u8>, value: &impl serde::Serialize) {
    serde_json::to_writer(out, value).expect("invariant: a JSON value always serializes");
}

/// Serializes `body` with `resourceType`, `id` and `meta` first, the store's two meta values
/// left to [`Rendered::finish`]; the text is byte for byte what serializing the stamped object
/// would give.
fn prerender(body: &Map<String, Value>, id: &ResourceId) -> Rendered {
    let mut head = Vec::with_capacity(64);
    head.push(b'{');
    if let Some(resource_type) = body.get("resourceType") {
        head.extend_from_slice(b"\"resourceType\":");
        push_json(&mut head, resource_type);
        head.push(b',');
    }
    head.extend_from_slice(b"\"id\":");
    push_json(&mut head, &id.as_str());
    head.extend_from_slice(b",\"meta\":{\"versionId\":\"");
    let mut tail = Vec::with_capacity(1024);
    tail.push(b'"');
    if let Some(Value::Object(meta)) = body.get("meta") {
        // The same removals as on the map (with `preserve_order`, `remove` moves the last
        // entry into the hole), so that the other meta values keep their order.
        let mut meta = meta.clone();
        meta.remove("versionId");
        meta.remove("lastUpdated");
        for (key, value) in &meta {
            tail.push(b',');
            push_json(&mut tail, key);
            tail.push(b':');
            push_json(&mut tail, value);
        }
    }
    tail.push(b'}');
    for (key, value) in body {
        if !matches!(key.as_str(), "resourceType" | "id" | "meta") {
            tail.push(b',');
            push_json(&mut tail, key);
            tail.push(b':');
            push_json(&mut tail, value);
        }
    }
    tail.push(b'}');
    Rendered {
        head: String::from_utf8(head).expect("invariant: serde_json writes UTF-8"),
        tail: String::from_utf8(tail).expect("invariant: serde_json writes UTF-8"),
    }
}

/// Serializes `body` with `resourceType`, `id` and `meta` first and the store's meta values set.
#[cfg(test)]
fn render(
    body: &Map<String, Value>,
    id: &ResourceId,
    version: VersionId,
    last_updated: OffsetDateTime,
) -> String {
    prerender(body, id).finish(version, last_updated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeqIdGen;
    use serde_json::json;

    #[test]
    fn render_puts_id_and_meta_first_and_keeps_other_meta() {
        let body = json!({"name": [{"family": "Doe"}], "resourceType": "Patient", "id": "old",
            "meta": {"versionId": "9", "profile": ["http://example.org/p"]}});
        let Value::Object(body) = body else {
            panic!("object")
        };
        let text = render(
            &body,
            &ResourceId::new("p1").unwrap(),
            VersionId(2),
            time::macros::datetime!(2024-01-02 03:04:05 UTC),
        );
        assert_eq!(
            text,
            r#"{"resourceType":"Patient","id":"p1","meta":{"versionId":"2","lastUpdated":"2024-01-02T03:04:05.000Z","profile":["http://example.org/p"]},"name":[{"family":"Doe"}]}"#
        );
    }

    /// The stamped object serialized as a whole: what [`prerender`] + [`Rendered::finish`]
    /// must give byte for byte.
    fn render_by_map(
        body: &Map<String, Value>,
        id: &ResourceId,
        version: VersionId,
        last_updated: OffsetDateTime,
    ) -> String {
        let mut out = Map::with_capacity(body.len() + 2);
        if let Some(resource_type) = body.get("resourceType") {
            out.insert("resourceType".to_owned(), resource_type.clone());
        }
        out.insert("id".to_owned(), Value::String(id.to_string()));
        let mut meta = match body.get("meta") {
            Some(Value::Object(meta)) => meta.clone(),
            _ => Map::new(),
        };
        let mut stamped = Map::with_capacity(meta.len() + 2);
        stamped.insert("versionId".to_owned(), Value::String(version.to_string()));
        stamped.insert(
            "lastUpdated".to_owned(),
            Value::String(format_instant(last_updated)),
        );
        meta.remove("versionId");
        meta.remove("lastUpdated");
        stamped.extend(meta);
        out.insert("meta".to_owned(), Value::Object(stamped));
        for (key, value) in body {
            if !matches!(key.as_str(), "resourceType" | "id" | "meta") {
                out.insert(key.clone(), value.clone());
            }
        }
        serde_json::to_string(&Value::Object(out)).unwrap()
    }

    #[test]
    fn prerendered_text_is_the_stamped_object_serialized() {
        let bodies = [
            json!({"resourceType": "Patient"}),
            json!({"id": "x", "meta": "not an object", "active": true}),
            json!({"meta": {"lastUpdated": "x", "source": "s", "versionId": "3", "tag": [{"code": "t"}],
                "security": []}, "resourceType": "Observation", "valueQuantity": {"value": 1.50},
                "note": [{"text": "quote \" backslash \\ tab \t é 𝄞"}], "id": "old"}),
            json!({"resourceType": "Patient", "meta": {}, "name": [{"family": "Doe"}]}),
        ];
        for (n, body) in bodies.into_iter().enumerate() {
            let Value::Object(body) = body else {
                panic!("object")
            };
            let id = ResourceId::new(format!("id-{n}")).unwrap();
            let at = time::macros::datetime!(2024-01-02 03:04:05.678 UTC);
            let text = prerender(&body, &id).finish(VersionId(12), at);
            assert_eq!(
                text,
                render_by_map(&body, &id, VersionId(12), at),
                "body {n}"
            );
            serde_json::from_str::<Value>(&text).unwrap();
        }
    }

    #[test]
    fn prepare_checks_types_and_ids_against_the_url() {
        let ids = SeqIdGen::new("x");
        let mismatch = prepare(
            WriteOp::Update {
                resource_type: ResourceType::Observation,
                id: ResourceId::new("a").unwrap(),
                resource: json!({"resourceType": "Patient", "id": "a"}),
                if_match: None,
            },
            &ids,
        );
        assert!(matches!(mismatch, Err(FhirError::TypeMismatch { .. })));
        let id_mismatch = prepare(
            WriteOp::Update {
                resource_type: ResourceType::Patient,
                id: ResourceId::new("a").unwrap(),
                resource: json!({"resourceType": "Patient", "id": "b"}),
                if_match: None,
            },
            &ids,
        );
        assert!(matches!(id_mismatch, Err(FhirError::IdMismatch { .. })));
        let unknown = prepare(
            WriteOp::Create {
                resource: json!({"resourceType": "Nope"}),
                id: None,
            },
            &ids,
        );
        assert!(matches!(
            unknown,
            Err(FhirError::UnknownResourceType { .. })
        ));
        let created = prepare(
            WriteOp::Create {
                resource: json!({"resourceType": "Patient", "id": "ignored"}),
                id: None,
            },
            &ids,
        )
        .unwrap();
        assert_eq!(created.id.as_str(), "x-1");
        // Issue #16: the Patient belongs to itself as stored, not to the id its body carried.
        assert_eq!(created.index.patient_marker().as_deref(), Some("x-1"));
    }
}
