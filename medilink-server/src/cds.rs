//! CDS Hooks 2.0 (`https://cds-hooks.hl7.org/2.0/`): discovery (`GET /cds-services`, public)
//! and the drug-safety services (`POST /cds-services/{id}`, `order-select` and `order-sign`
//! with `draftOrders`), answering cards. A call carries the platform's bearer token; the
//! patient of `context.patientId` is read under the caller's consent like any read (404 when
//! the caller may not see them), unless the call's prefetch brings the patient's medications
//! and allergies. The use case is `medilink_clinical::ClinicalService::hook`; calls are
//! audited (`cds-hook`).

use axum::Json;
use axum::extract::{Path, State};
use medilink_clinical::cds::{self, CdsResponse, HookRequest, Service};
use serde::Serialize;

use crate::api::Body;
use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// The discovery document.
#[derive(Debug, Serialize)]
pub(crate) struct Discovery {
    services: Vec<Service>,
}

/// `GET /cds-services`.
pub(crate) async fn discovery() -> Json<Discovery> {
    Json(Discovery {
        services: cds::services(),
    })
}

/// `POST /cds-services/{id}`.
pub(crate) async fn call(
    State(app): State<AppState>,
    caller: RequestCaller,
    Path(id): Path<String>,
    Body(request): Body<HookRequest>,
) -> Result<Json<CdsResponse>, ApiError> {
    let response = app
        .clinical
        .hook(&app.store, caller.context(), &id, &request)
        .await?;
    Ok(Json(response))
}
