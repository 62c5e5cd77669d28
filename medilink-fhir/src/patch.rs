//! The PATCH formats applied to stored resources: JSON Patch (RFC 6902,
//! `application/json-patch+json`) here, FHIRPath Patch (a `Parameters` resource sent as
//! `application/fhir+json`) in the `fhirpath` module.

mod fhirpath;

pub use fhirpath::apply_fhirpath_patch;

use serde_json::Value;

use crate::error::{FhirError, FhirResult, IssueCode};

/// Applies a JSON Patch document to `resource`, returning the patched resource. The patch
/// must be a JSON array of operations; a failing operation leaves nothing applied.
pub fn apply_json_patch(resource: &Value, patch: &Value) -> FhirResult<Value> {
    let patch: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|err| {
        FhirError::invalid(
            IssueCode::Structure,
            None,
            format!("invalid json patch document: {err}"),
        )
    })?;
    let mut patched = resource.clone();
    json_patch::patch(&mut patched, &patch).map_err(|err| {
        FhirError::unprocessable(format!("json patch could not be applied: {err}"))
    })?;
    for immutable in ["resourceType", "id"] {
        if patched.get(immutable) != resource.get(immutable) {
            return Err(FhirError::unprocessable(format!(
                "json patch must not change {immutable}"
            )));
        }
    }
    Ok(patched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applies_operations_and_refuses_identity_changes() {
        let patient = json!({"resourceType": "Patient", "id": "a", "active": true});
        let patched = apply_json_patch(
            &patient,
            &json!([{"op": "replace", "path": "/active", "value": false},
                    {"op": "add", "path": "/gender", "value": "other"}]),
        )
        .unwrap();
        assert_eq!(patched["active"], json!(false));
        assert_eq!(patched["gender"], json!("other"));
        let err = apply_json_patch(
            &patient,
            &json!([{"op": "replace", "path": "/id", "value": "b"}]),
        );
        assert!(matches!(err, Err(FhirError::Unprocessable { .. })));
        let failed = apply_json_patch(
            &patient,
            &json!([{"op": "test", "path": "/active", "value": false}]),
        );
        assert!(matches!(failed, Err(FhirError::Unprocessable { .. })));
        let malformed = apply_json_patch(&patient, &json!({"op": "add"}));
        assert!(matches!(malformed, Err(FhirError::Invalid { .. })));
    }
}
