//! FHIR `update`, `patch` and `delete` (`create` is in [`crate::fhir::search`], with the
//! conditional interactions).

use axum::extract::State;
use axum::http::StatusCode;
use medilink_fhir::patch::{apply_fhirpath_patch, apply_json_patch};
use medilink_fhir::{
    FhirError, FhirResult, IssueCode, RequestContext, ResourceId, ResourceType, StoredResource,
    VersionId, WriteOp, WriteOutcome,
};
use serde_json::Value;

use crate::context::RequestCaller;
use crate::error::{ApiError, information};
use crate::fhir::extract::{
    Base, EtagCondition, IfMatch, InstancePath, PatchDocument, Preconditions, ResourceBody,
    precondition_failed,
};
use crate::fhir::response::{FhirResponse, Prefer, ReturnPreference};
use crate::state::AppState;

/// `PUT [base]/{type}/{id}`: `200` update or `201` update-as-create; honours `If-Match` (one
/// or more ETags, or `*`) and `If-None-Match: *` (create only: `412` when the resource exists).
pub(crate) async fn update(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    prefer: Prefer,
    Preconditions {
        if_match,
        if_none_match,
    }: Preconditions,
    InstancePath(resource_type, id): InstancePath,
    ResourceBody(body): ResourceBody,
) -> Result<FhirResponse, ApiError> {
    let ctx = caller.context();
    if let Some(condition) = if_none_match {
        if condition != EtagCondition::Any {
            return Err(ApiError::bad_request(
                IssueCode::NotSupported,
                "an update takes If-None-Match: * only (create if absent)",
            ));
        }
        if let Some(created) = create_if_absent(&app, ctx, resource_type, &id, &body).await? {
            let prefer = prefer.or(ReturnPreference::Representation);
            return Ok(FhirResponse::written(created, true, prefer, &base));
        }
    }
    let if_match = if_match
        .resolve(&app.store, ctx, resource_type, &id)
        .await?;
    let outcome = app
        .store
        .update(ctx, resource_type, &id, body, if_match)
        .await?;
    let prefer = prefer.or(ReturnPreference::Representation);
    Ok(FhirResponse::written(
        outcome.stored,
        outcome.created,
        prefer,
        &base,
    ))
}

/// `If-None-Match: *` on a `PUT`: creates `{type}/{id}` in one store write that fails when
/// the id exists (the store serializes writers, so a concurrent create of the same id cannot
/// slip in between a check and the write). A deleted resource has no current representation:
/// `None`, and the caller updates it as usual. A live one is `412`.
async fn create_if_absent(
    app: &AppState,
    ctx: &RequestContext,
    resource_type: ResourceType,
    id: &ResourceId,
    body: &Value,
) -> Result<Option<StoredResource>, ApiError> {
    crate::fhir::extract::expect_type(body, resource_type)?;
    if body.get("id").and_then(Value::as_str) != Some(id.as_str()) {
        // The update path reports the mismatch as it does without the header.
        return Ok(None);
    }
    let create = WriteOp::Create {
        resource: body.clone(),
        id: Some(id.clone()),
    };
    match app.store.transaction(ctx, vec![create]).await {
        Ok(mut outcomes) => Ok(outcomes.pop().flatten().map(|outcome| outcome.stored)),
        Err(FhirError::WriteConflict { .. }) => {
            match app.store.read(ctx, resource_type, id).await {
                Ok(current) => Err(precondition_failed(format!(
                    "If-None-Match: *: {resource_type}/{id} exists (version {})",
                    current.version_id
                ))),
                Err(FhirError::Gone { .. }) => Ok(None),
                Err(err) => Err(err.into()),
            }
        }
        Err(err) => Err(err.into()),
    }
}

/// `PATCH [base]/{type}/{id}` with a JSON Patch or a FHIRPath Patch document.
pub(crate) async fn patch(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    prefer: Prefer,
    if_match: IfMatch,
    InstancePath(resource_type, id): InstancePath,
    patch: PatchDocument,
) -> Result<FhirResponse, ApiError> {
    let if_match = (if_match.resolve(&app.store, caller.context(), resource_type, &id)).await?;
    let target = (resource_type, &id);
    let outcome = patch_resource(&app, caller.context(), target, &patch, if_match).await?;
    let prefer = prefer.or(ReturnPreference::Representation);
    Ok(FhirResponse::written(outcome.stored, false, prefer, &base))
}

/// Reads the current version, applies the patch and writes the result with `If-Match` set to
/// the version read, so a concurrent write in between fails instead of being overwritten.
async fn patch_resource(
    app: &AppState,
    ctx: &RequestContext,
    (resource_type, id): (ResourceType, &ResourceId),
    patch: &PatchDocument,
    if_match: Option<VersionId>,
) -> FhirResult<WriteOutcome> {
    let current = app.store.read(ctx, resource_type, id).await?;
    if let Some(expected) = if_match.filter(|expected| *expected != current.version_id) {
        return Err(FhirError::VersionMismatch {
            resource_type,
            id: id.clone(),
            expected,
            current: current.version_id.get(),
        });
    }
    let text = current.json.as_deref().unwrap_or("null");
    let resource: Value = serde_json::from_str(text).map_err(|err| FhirError::Internal {
        source: Box::new(err),
    })?;
    let patched = match patch {
        PatchDocument::Json(patch) => apply_json_patch(&resource, patch)?,
        PatchDocument::FhirPath(patch) => apply_fhirpath_patch(&resource, patch)?,
    };
    let version = Some(current.version_id);
    app.store
        .update(ctx, resource_type, id, patched, version)
        .await
}

/// `DELETE [base]/{type}/{id}`: `200` with an OperationOutcome, or `204` when there was
/// nothing live to delete.
pub(crate) async fn delete(
    State(app): State<AppState>,
    caller: RequestCaller,
    if_match: IfMatch,
    InstancePath(resource_type, id): InstancePath,
) -> Result<FhirResponse, ApiError> {
    let if_match = (if_match.resolve(&app.store, caller.context(), resource_type, &id)).await?;
    let deleted = app
        .store
        .delete(caller.context(), resource_type, &id, if_match)
        .await?;
    Ok(match deleted {
        Some(outcome) => {
            let message = format!("deleted {}", outcome.stored.reference());
            FhirResponse::json(StatusCode::OK, information(message)).versioned(&outcome.stored)
        }
        None => FhirResponse::no_content(),
    })
}
