//! The `/api` side of SMART App Launch (issue #17), for the portals: the consent screen
//! (`/api/smart/requests/{id}` and its decision), the user's remembered decisions (Settings,
//! "connected apps"), the physician's "Launch app" menu and launch, and the admin's client
//! list with approval and suspension. The OAuth protocol itself is `crate::smart`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medilink_fhir::clock::format_instant;
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{FhirError, RequestContext, ResourceId, ResourceType};
use medilink_platform::Role;
use medilink_platform::smart::scopes::Scope;
use medilink_platform::smart::{ClientStatus, SmartClient};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{Body, Signed};
use crate::context::RequestCaller;
use crate::error::ApiError;
use crate::fhir::extract::Base;
use crate::layers::audit::AuditNote;
use crate::smart::SmartService;
use crate::smart::authorize::{describe as describe_scope, not_found};
use crate::smart::token::practitioner_id;
use crate::state::AppState;

/// The app asking.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SmartRequestClient)]
pub(crate) struct RequestClient {
    client_id: String,
    name: String,
    #[schema(required = true)]
    uri: Option<String>,
    #[schema(required = true)]
    logo_uri: Option<String>,
}

/// One requested scope, in plain words.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopeView {
    /// The scope as the app asked for it.
    scope: String,
    /// What it lets the app do, in plain English.
    description: String,
    /// Whether the app cannot work without it (the launch context).
    required: bool,
}

/// The patient an authorization is about.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PatientView {
    id: String,
    /// The patient's name (official, else the first).
    name: String,
}

/// A pending authorization request, for the consent screen.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SmartRequestView {
    client: RequestClient,
    scopes: Vec<ScopeView>,
    /// The patient context (null: none).
    #[schema(required = true)]
    patient: Option<PatientView>,
    /// Whether it is an EHR launch (a physician opened the app for a patient).
    launch: bool,
    /// Whether the user already approved the app for every scope asked (and did not revoke
    /// it): the screen decides at once, approving the scopes asked.
    remembered: bool,
    /// The patients to pick from (a physician's standalone launch asking for
    /// `launch/patient`: the patients who consented to them; null: nothing to pick).
    #[schema(required = true)]
    patients: Option<Vec<PatientView>>,
}

/// The user's decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Decision {
    /// Approve (true) or deny.
    approve: bool,
    /// The scopes granted: a subset of the requested ones.
    #[serde(default)]
    scopes: Vec<String>,
    /// The patient picked (one of the request's `patients`; required when it has them).
    #[serde(default)]
    patient_id: Option<String>,
}

/// Where the browser goes next.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionResult {
    /// The app's redirect URI with `code` and `state`, or `error=access_denied`.
    redirect_to: String,
}

/// A remembered decision.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthorizationView {
    client_id: String,
    client_name: String,
    scopes: Vec<String>,
    #[schema(format = DateTime)]
    granted_at: String,
    #[schema(required = true, format = DateTime)]
    last_used_at: Option<String>,
}

/// An app a physician may launch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AppView {
    client_id: String,
    name: String,
    #[schema(required = true)]
    launch_uri: Option<String>,
}

/// `POST /api/smart/launch`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LaunchRequest {
    client_id: String,
    patient_id: String,
}

/// The URL that launches the app (open it in a new tab).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LaunchResult {
    launch_url: String,
}

/// A registered client, for the admin.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SmartClient)]
pub(crate) struct ClientView {
    client_id: String,
    name: String,
    /// `public` or `confidential-asymmetric`.
    kind: String,
    /// `pending`, `approved` or `suspended`.
    status: String,
    redirect_uris: Vec<String>,
    #[schema(required = true)]
    launch_uri: Option<String>,
    /// The scopes it may ask for (space-separated).
    scope: String,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<SmartClient> for ClientView {
    fn from(client: SmartClient) -> Self {
        ClientView {
            client_id: client.client_id,
            name: client.metadata.client_name,
            kind: client.kind.as_str().to_owned(),
            status: client.status.as_str().to_owned(),
            redirect_uris: client.metadata.redirect_uris,
            launch_uri: client.metadata.launch_uri,
            scope: client.metadata.scope,
            created_at: format_instant(client.created_at),
        }
    }
}

/// The display name of a Patient resource.
fn patient_name(resource: &Value) -> String {
    let names = resource["name"].as_array().cloned().unwrap_or_default();
    let name = names
        .iter()
        .find(|name| name["use"] == "official")
        .or_else(|| names.first());
    let Some(name) = name else {
        return String::new();
    };
    if let Some(text) = name["text"].as_str() {
        return text.to_owned();
    }
    let given: Vec<&str> = name["given"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let family = name["family"].as_str().unwrap_or("");
    format!("{} {family}", given.join(" ")).trim().to_owned()
}

impl AppState {
    /// The consent screen's view of a pending request (the patient read as the caller).
    async fn request_view(
        &self,
        caller: &RequestCaller,
        principal: &crate::auth::Principal,
        request_id: &str,
    ) -> Result<SmartRequestView, ApiError> {
        let pending = self.smart.pending(principal, request_id).await?;
        let client = self
            .smart
            .approved(&pending.client_id)
            .await?
            .ok_or_else(|| not_found("the app is no longer approved"))?;
        let mut patient = None;
        if let Some(id) = SmartService::patient_context(principal, &pending, None) {
            let id = ResourceId::new(id).map_err(ApiError::from)?;
            let stored = self
                .store
                .read(caller.context(), ResourceType::Patient, &id)
                .await?;
            patient = Some(patient_view(&stored));
        }
        let patients = match SmartService::picks_patient(principal, &pending) {
            true => Some(self.pickable_patients(caller).await?),
            false => None,
        };
        let remembered = self.smart.remembered(principal, &pending).await?;
        let scopes = pending
            .scopes
            .iter()
            .filter_map(|text| Scope::parse(text).map(|scope| (text, scope)))
            .map(|(text, scope)| ScopeView {
                scope: text.clone(),
                description: describe_scope(&scope),
                required: matches!(scope, Scope::Launch | Scope::LaunchPatient),
            })
            .collect();
        Ok(SmartRequestView {
            client: RequestClient {
                client_id: client.client_id,
                name: client.metadata.client_name,
                uri: client.metadata.client_uri,
                logo_uri: client.metadata.logo_uri,
            },
            scopes,
            patient,
            launch: pending.launch.is_some(),
            remembered,
            patients,
        })
    }

    /// The patients the caller may pick for an app: those they may read (through the consent
    /// guard: a physician's consented patients), the first [`MAX_PICKABLE`].
    async fn pickable_patients(
        &self,
        caller: &RequestCaller,
    ) -> Result<Vec<PatientView>, ApiError> {
        let params = [("_count".to_owned(), MAX_PICKABLE.to_string())];
        let query = SearchQuery::parse(ResourceType::Patient, &params, true)?;
        let page = self.store.search(caller.context(), &query).await?;
        Ok(page
            .matches
            .iter()
            .filter(|stored| !stored.is_deleted())
            .map(patient_view)
            .collect())
    }
}

impl AppState {
    /// Before `decision` is made: a patient picked on the consent screen must be one
    /// `principal` picks from and may read (a physician's: consented), else `403`; an approval
    /// by a physician or admin makes sure their `Practitioner` exists.
    async fn before_decision(
        &self,
        caller: &RequestCaller,
        principal: &crate::auth::Principal,
        request_id: &str,
        decision: &Decision,
    ) -> Result<(), ApiError> {
        if decision.approve {
            self.ensure_practitioner(principal).await?;
        }
        let Some(picked) = &decision.patient_id else {
            return Ok(());
        };
        let pending = self.smart.pending(principal, request_id).await?;
        let readable = match ResourceId::new(picked.to_owned()) {
            Ok(id) if SmartService::picks_patient(principal, &pending) => self
                .store
                .read(caller.context(), ResourceType::Patient, &id)
                .await
                .is_ok(),
            _ => false,
        };
        match readable {
            true => Ok(()),
            false => Err(ApiError::forbidden(
                "the app may only work with a patient who consented to you",
            )),
        }
    }

    /// A physician's or admin's `Practitioner` (issue #17: the resource their `fhirUser`
    /// names, id [`practitioner_id`]), created as the platform the first time they approve
    /// an app (accounts created before it included); a deleted one is left deleted.
    pub(crate) async fn ensure_practitioner(
        &self,
        principal: &crate::auth::Principal,
    ) -> Result<(), ApiError> {
        if !matches!(principal.role(), Role::Physician | Role::Admin) {
            return Ok(());
        }
        let Some(id) = practitioner_id(principal.claims.sub.as_str()) else {
            return Ok(());
        };
        let system = RequestContext::system();
        match self
            .store
            .read(&system, ResourceType::Practitioner, &id)
            .await
        {
            Err(FhirError::NotFound { .. }) => {
                let practitioner = serde_json::json!({
                    "resourceType": "Practitioner",
                    "id": id.as_str(),
                    "active": true,
                    "identifier": [{"system": PRACTITIONER_SYSTEM, "value": id.as_str()}],
                });
                self.store
                    .update(&system, ResourceType::Practitioner, &id, practitioner, None)
                    .await?;
                Ok(())
            }
            Ok(_) | Err(FhirError::Gone { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}

/// The identifier system of a user's `Practitioner` (the value is the user id).
pub(crate) const PRACTITIONER_SYSTEM: &str = "urn:medilink:user";

/// The most patients the consent screen's picker lists.
const MAX_PICKABLE: usize = 200;

fn patient_view(stored: &medilink_fhir::StoredResource) -> PatientView {
    let resource: Value = stored
        .json
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default();
    PatientView {
        id: stored.id.as_str().to_owned(),
        name: patient_name(&resource),
    }
}

/// `GET /api/smart/requests/{request_id}`.
pub(crate) async fn request(
    State(app): State<AppState>,
    caller: RequestCaller,
    Signed(principal): Signed,
    Path(request_id): Path<String>,
) -> Result<Json<SmartRequestView>, ApiError> {
    Ok(Json(
        app.request_view(&caller, &principal, &request_id).await?,
    ))
}

/// `POST /api/smart/requests/{request_id}/decision` (audited, naming the app). A patient
/// picked must be one the user may read (a physician's: consented), else `403`.
pub(crate) async fn decide(
    State(app): State<AppState>,
    caller: RequestCaller,
    Signed(principal): Signed,
    note: AuditNote,
    Path(request_id): Path<String>,
    Body(decision): Body<Decision>,
) -> Result<Json<DecisionResult>, ApiError> {
    app.before_decision(&caller, &principal, &request_id, &decision)
        .await?;
    let (redirect_to, client_id) = app
        .smart
        .decide(
            &principal,
            &request_id,
            decision.approve,
            &decision.scopes,
            decision.patient_id.as_deref(),
        )
        .await?;
    note.subject(format!("Client/{client_id}"))
        .detail(medilink_platform::audit::app_detail(&client_id));
    Ok(Json(DecisionResult { redirect_to }))
}

/// `GET /api/smart/authorizations`: the caller's remembered decisions.
pub(crate) async fn authorizations(
    State(app): State<AppState>,
    Signed(principal): Signed,
) -> Result<Json<Vec<AuthorizationView>>, ApiError> {
    Ok(Json(app.authorization_views(&principal.claims.sub).await?))
}

impl AppState {
    /// `user_id`'s remembered decisions with their apps' names.
    async fn authorization_views(
        &self,
        user_id: &medilink_platform::UserId,
    ) -> Result<Vec<AuthorizationView>, ApiError> {
        let remembered = self.smart.store().authorizations(user_id).await?;
        let mut views = Vec::with_capacity(remembered.len());
        for authorization in remembered {
            let client = self.smart.store().client(&authorization.client_id).await?;
            views.push(AuthorizationView {
                client_name: client.map_or_else(String::new, |c| c.metadata.client_name),
                client_id: authorization.client_id,
                scopes: authorization
                    .scopes
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                granted_at: format_instant(authorization.granted_at),
                last_used_at: authorization.last_used_at.map(format_instant),
            });
        }
        Ok(views)
    }
}

/// `DELETE /api/smart/authorizations/{client_id}`: forgets the decision and revokes the app's
/// tokens for the caller (audited).
pub(crate) async fn forget(
    State(app): State<AppState>,
    Signed(principal): Signed,
    note: AuditNote,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    note.subject(format!("Client/{client_id}"))
        .detail(medilink_platform::audit::app_detail(&client_id));
    match app.smart.forget(&principal.claims.sub, &client_id).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(not_found("no decision remembered for this app")),
    }
}

/// `GET /api/smart/apps`: approved apps with a launch URL.
pub(crate) async fn apps(State(app): State<AppState>) -> Result<Json<Vec<AppView>>, ApiError> {
    let clients = app.smart.store().clients().await?;
    Ok(Json(
        clients
            .into_iter()
            .filter(|client| client.status == ClientStatus::Approved)
            .filter(|client| client.metadata.launch_uri.is_some())
            .map(|client| AppView {
                client_id: client.client_id,
                name: client.metadata.client_name,
                launch_uri: client.metadata.launch_uri,
            })
            .collect(),
    ))
}

/// `POST /api/smart/launch`: an EHR launch for a patient the physician may read (else `404`,
/// as for any patient they may not see).
pub(crate) async fn launch(
    State(app): State<AppState>,
    caller: RequestCaller,
    Signed(principal): Signed,
    Base(base): Base,
    note: AuditNote,
    Body(request): Body<LaunchRequest>,
) -> Result<Json<LaunchResult>, ApiError> {
    if principal.role() != Role::Physician || principal.claims.app.is_some() {
        return Err(ApiError::forbidden(
            "physicians launch apps for their patients",
        ));
    }
    let patient = ResourceId::new(request.patient_id).map_err(ApiError::from)?;
    app.store
        .read(caller.context(), ResourceType::Patient, &patient)
        .await?;
    note.subject(format!("Client/{}", request.client_id));
    let launch_url = app
        .smart
        .launch(&principal.claims.sub, &request.client_id, &patient, &base)
        .await?;
    Ok(Json(LaunchResult { launch_url }))
}

/// `GET /api/admin/smart/clients`.
pub(crate) async fn clients(
    State(app): State<AppState>,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    let clients = app.smart.store().clients().await?;
    Ok(Json(clients.into_iter().map(ClientView::from).collect()))
}

async fn set_status(
    app: &AppState,
    note: &AuditNote,
    client_id: &str,
    status: ClientStatus,
) -> Result<StatusCode, ApiError> {
    note.subject(format!("Client/{client_id}"));
    match app.smart.set_status(client_id, status).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(not_found("no such client")),
    }
}

/// `POST /api/admin/smart/clients/{client_id}/approve` (audited).
pub(crate) async fn approve(
    State(app): State<AppState>,
    note: AuditNote,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_status(&app, &note, &client_id, ClientStatus::Approved).await
}

/// `POST /api/admin/smart/clients/{client_id}/suspend` (audited; its tokens stop working).
pub(crate) async fn suspend(
    State(app): State<AppState>,
    note: AuditNote,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_status(&app, &note, &client_id, ClientStatus::Suspended).await
}

/// The OpenAPI description of the SMART `/api` operations (see `openapi.rs`).
pub(super) fn describe(method: &axum::http::Method, template: &str) -> Option<super::openapi::Op> {
    use super::openapi::op;
    let op = match (method.as_str(), template) {
        ("GET", "/api/smart/requests/{request_id}") => op(
            "smart",
            "smartRequest",
            "A pending SMART authorization request, for the consent screen: the app, the \
             scopes in plain words, the patient context (404 unknown or expired; 403 when its \
             launch belongs to another user).",
        )
        .ok::<SmartRequestView>(200, "The request.")
        .errors(&[404]),
        ("POST", "/api/smart/requests/{request_id}/decision") => op(
            "smart",
            "smartDecision",
            "Approve (with the scopes granted, a subset of those requested, and the patient \
             picked when the request lists patients) or deny a SMART authorization request; \
             the browser goes to redirect_to (audited). A patient who did not consent to the \
             user: 403.",
        )
        .body::<Decision>(true)
        .ok::<DecisionResult>(200, "Where the browser goes next.")
        .errors(&[400, 403, 404]),
        ("GET", "/api/smart/authorizations") => op(
            "smart",
            "smartAuthorizations",
            "The caller's remembered app decisions (connected apps).",
        )
        .ok_array::<AuthorizationView>(200, "The decisions, newest first."),
        ("DELETE", "/api/smart/authorizations/{client_id}") => op(
            "smart",
            "smartForget",
            "Forget the decision for an app and revoke its tokens for the caller (audited).",
        )
        .no_content("Forgotten and revoked.")
        .errors(&[404]),
        ("GET", "/api/smart/apps") => op(
            "smart",
            "smartApps",
            "Approved apps with a launch URL (the physician's Launch app menu).",
        )
        .ok_array::<AppView>(200, "The apps."),
        ("POST", "/api/smart/launch") => op(
            "smart",
            "smartLaunch",
            "EHR launch of an app for a patient the physician may read (else 404); open \
             launch_url in a new tab (audited).",
        )
        .body::<LaunchRequest>(true)
        .ok::<LaunchResult>(200, "The app's launch URL with iss and launch.")
        .errors(&[400, 404]),
        ("GET", "/api/admin/smart/clients") => op(
            "admin",
            "adminSmartClients",
            "Registered SMART clients, newest first.",
        )
        .ok_array::<ClientView>(200, "The clients."),
        ("POST", "/api/admin/smart/clients/{client_id}/approve") => op(
            "admin",
            "adminSmartApprove",
            "Approve a SMART client (audited).",
        )
        .no_content("Approved.")
        .errors(&[404]),
        ("POST", "/api/admin/smart/clients/{client_id}/suspend") => op(
            "admin",
            "adminSmartSuspend",
            "Suspend a SMART client: it obtains no tokens and its access tokens stop working \
             (audited).",
        )
        .no_content("Suspended.")
        .errors(&[404]),
        _ => return None,
    };
    Some(op)
}
