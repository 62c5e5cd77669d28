//! `GET /api/directory/clinicians?q=…[&limit=…]`: active physicians found by name, for any
//! signed-in user (a patient choosing whom to share with). Ids, names and roles only: never
//! an e-mail address, password data, or an account that is not an active physician.

use axum::Json;
use axum::extract::State;
use medilink_fhir::IssueCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Query;
use crate::auth::directory::ClinicianView;
use crate::error::ApiError;
use crate::state::AppState;

/// Shortest query, in characters.
const MIN_QUERY_CHARS: usize = 2;
/// Default and largest number of clinicians returned.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 50;

/// Query of `/api/directory/clinicians` (raw: parsed into OperationOutcome errors).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DirectoryParams {
    /// Part of the name (at least 2 characters).
    q: Option<String>,
    /// At most this many (1–50, default 20).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
}

/// Active physicians whose name matches.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClinicianList {
    clinicians: Vec<ClinicianView>,
}

impl DirectoryParams {
    /// The trimmed query text and the page size, or a `400`.
    fn validate(&self) -> Result<(&str, usize), ApiError> {
        let q = self.q.as_deref().map(str::trim).unwrap_or_default();
        if q.chars().count() < MIN_QUERY_CHARS {
            return Err(ApiError::bad_request(
                IssueCode::Value,
                format!("q must have at least {MIN_QUERY_CHARS} characters"),
            ));
        }
        let limit = match self.limit.as_deref() {
            None | Some("") => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<usize>()
                .map_err(|_| ApiError::bad_request(IssueCode::Value, "invalid limit"))?
                .clamp(1, MAX_LIMIT),
        };
        Ok((q, limit))
    }
}

/// `GET /api/directory/clinicians?q=&limit=`.
pub(crate) async fn clinicians(
    State(app): State<AppState>,
    Query(params): Query<DirectoryParams>,
) -> Result<Json<ClinicianList>, ApiError> {
    let (q, limit) = params.validate()?;
    let clinicians = app.auth.find_clinicians(q, limit).await?;
    Ok(Json(ClinicianList { clinicians }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: Option<&str>, limit: Option<&str>) -> DirectoryParams {
        DirectoryParams {
            q: q.map(str::to_owned),
            limit: limit.map(str::to_owned),
        }
    }

    #[test]
    fn the_query_needs_two_characters_after_trimming() {
        assert!(params(None, None).validate().is_err());
        assert!(params(Some(" a "), None).validate().is_err());
        assert!(params(Some("é"), None).validate().is_err());
        assert_eq!(params(Some(" ab "), None).validate().ok(), Some(("ab", 20)));
    }

    #[test]
    fn the_limit_defaults_to_20_and_stays_within_1_to_50() {
        assert_eq!(
            params(Some("ab"), Some("")).validate().ok(),
            Some(("ab", 20))
        );
        assert_eq!(
            params(Some("ab"), Some("0")).validate().ok(),
            Some(("ab", 1))
        );
        assert_eq!(
            params(Some("ab"), Some("500")).validate().ok(),
            Some(("ab", 50))
        );
        assert!(params(Some("ab"), Some("x")).validate().is_err());
    }
}
