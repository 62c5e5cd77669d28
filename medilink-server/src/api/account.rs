//! `/api/account/*`: the signed-in patient's own details (issue #16). Demographics are read
//! from and written to their `Patient` through the consent guard (`AppState.store`), so the
//! new version is checked, versioned and audited like a FHIR update; other roles get `403`.

use axum::Json;
use axum::extract::State;

use super::Body;
use crate::auth::demographics::Demographics;
use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /api/account/demographics`: the calling patient's name, birth date, gender and phone.
pub(crate) async fn demographics(
    State(app): State<AppState>,
    caller: RequestCaller,
) -> Result<Json<Demographics>, ApiError> {
    let demographics = app.auth.demographics(&app.store, caller.context()).await?;
    Ok(Json(demographics))
}

/// `PUT /api/account/demographics`: a new version of the calling patient's `Patient` with
/// these demographics (every other element kept); the account's display name follows.
pub(crate) async fn set_demographics(
    State(app): State<AppState>,
    caller: RequestCaller,
    Body(body): Body<Demographics>,
) -> Result<Json<Demographics>, ApiError> {
    let stored = app
        .auth
        .set_demographics(&app.store, caller.context(), &body)
        .await?;
    Ok(Json(stored))
}
