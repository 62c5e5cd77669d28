//! A patient's own details (`/api/account/demographics`): read from, and corrected in, their
//! `Patient` through the store the caller passes — the server's consent guard, so the read
//! and the new version are decided and audited like any FHIR interaction — and the account's
//! display name kept equal to the corrected name.

use medilink_fhir::{RequestContext, ResourceId, ResourceStore, ResourceType};
use medilink_platform::{Caller, CallerContext, Role, UserId};

use super::Auth;
use super::demographics::Demographics;
use crate::error::ApiError;

/// The calling patient's account and `Patient` id, else a `403`.
fn patient_of(ctx: &RequestContext) -> Result<(UserId, ResourceId), ApiError> {
    match ctx.caller() {
        Caller::User {
            role: Role::Patient,
            user_id,
            patient_id: Some(patient),
            ..
        } => Ok((user_id.clone(), patient.clone())),
        _ => Err(ApiError::forbidden(
            "only a patient has demographics here; others edit Patient resources through FHIR",
        )),
    }
}

impl Auth {
    /// The calling patient's demographics, as their `Patient` holds them.
    pub async fn demographics(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
    ) -> Result<Demographics, ApiError> {
        let (_, patient) = patient_of(ctx)?;
        let stored = store.read(ctx, ResourceType::Patient, &patient).await?;
        let resource = stored_json(&stored)?;
        Ok(Demographics::of_patient(&resource))
    }

    /// Writes `demographics` (validated against the clock's today) as a new version of the
    /// calling patient's `Patient`, every other element kept, then renames the account to
    /// "given… family". A concurrent change of the `Patient` is a `409`, nothing written.
    pub async fn set_demographics(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        demographics: &Demographics,
    ) -> Result<Demographics, ApiError> {
        let (user_id, patient) = patient_of(ctx)?;
        let demographics = demographics.validate(self.clock.now().date())?;
        let current = store.read(ctx, ResourceType::Patient, &patient).await?;
        let mut resource = stored_json(&current)?;
        demographics.apply_to(&mut resource);
        let written = store
            .update(
                ctx,
                ResourceType::Patient,
                &patient,
                resource,
                Some(current.version_id),
            )
            .await?;
        let mut user = self
            .accounts
            .user(&user_id)
            .await?
            .ok_or_else(|| ApiError::unauthenticated("the account no longer exists"))?;
        let name = demographics.display_name();
        user.name_enc = Some(self.keys.seal("name", name.as_bytes()));
        self.accounts.update_user(&user).await?;
        Ok(Demographics::of_patient(&stored_json(&written.stored)?))
    }
}

/// The JSON of a live version.
fn stored_json(stored: &medilink_fhir::StoredResource) -> Result<serde_json::Value, ApiError> {
    let text = stored.json.as_deref().unwrap_or("{}");
    serde_json::from_str(text)
        .map_err(|_| ApiError::internal(&crate::layers::request_id::current_request_id()))
}
