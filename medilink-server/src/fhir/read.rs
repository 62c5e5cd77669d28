//! FHIR `read` and `vread`: `GET [base]/{type}/{id}` and `GET [base]/{type}/{id}/_history/{vid}`.

use axum::extract::State;

use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::fhir::extract::{InstancePath, VersionPath};
use crate::fhir::response::FhirResponse;
use crate::state::AppState;

/// `GET [base]/{type}/{id}`: the current version (`410` once deleted).
pub(crate) async fn read(
    State(app): State<AppState>,
    caller: RequestCaller,
    InstancePath(resource_type, id): InstancePath,
) -> Result<FhirResponse, ApiError> {
    let stored = app.store.read(caller.context(), resource_type, &id).await?;
    Ok(FhirResponse::resource(stored))
}

/// `GET [base]/{type}/{id}/_history/{vid}`: one version.
pub(crate) async fn vread(
    State(app): State<AppState>,
    caller: RequestCaller,
    VersionPath(resource_type, id, version): VersionPath,
) -> Result<FhirResponse, ApiError> {
    let stored = app
        .store
        .vread(caller.context(), resource_type, &id, version)
        .await?;
    Ok(FhirResponse::resource(stored))
}
