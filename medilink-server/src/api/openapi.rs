//! The OpenAPI 3.1 document of the application API, generated, and `GET /api/openapi.json`.
//!
//! Nothing in it is written by hand twice: the paths and methods are the `/api` routes of the
//! route table ([`crate::routes::table`]), each operation's security comes from the route's
//! [`Access`] (public routes carry `security: []`, every other one the bearer JWT), and the
//! request and response bodies are the handlers' own types, whose schemas `utoipa` derives
//! ([`describe`] only says which type each operation reads and answers, and its error statuses).
//! `medilink-server/openapi.json` is this document as generated (`medilink-server openapi`);
//! a test fails when the checked-in copy differs, and the dashboards' types are generated from
//! it (`npm run gen:api`).

use std::sync::LazyLock;

use axum::http::{Method, header};
use axum::response::IntoResponse;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    Content, InfoBuilder, LicenseBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr,
    Required, ServerBuilder,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::schema::OperationOutcome;
use super::{
    admin, admin_system, auth, clinical, consents, directory, documents, invitations,
    notifications, research, search,
};
use crate::auth::demographics::Demographics;
use crate::auth::service::{TokenPair, TotpEnrolment, UserView};
use crate::route_meta::{Access, RouteTable};

/// The tags, in the document's order.
const TAGS: [&str; 11] = [
    "meta",
    "auth",
    "admin",
    "consents",
    "clinical",
    "search",
    "directory",
    "documents",
    "research",
    "notifications",
    "smart",
];

/// The document's description.
const DESCRIPTION: &str = "The JSON API under /api (accounts, administration, consents, \
drug-safety checks, search, directory, documents, research exports, notifications, SMART \
App Launch consent and apps). The OAuth endpoints of SMART App Launch (/oauth/…) are described by \
GET /.well-known/smart-configuration. The FHIR R4 API under /fhir/R4 is described by \
its CapabilityStatement (GET /fhir/R4/metadata). Errors are FHIR OperationOutcomes.";

/// One operation being described, with the schemas its bodies name.
pub(super) struct Op {
    builder: OperationBuilder,
    schemas: Vec<(String, RefOr<Schema>)>,
}

pub(super) fn op(tag: &str, id: &str, summary: &str) -> Op {
    Op {
        builder: OperationBuilder::new()
            .tag(tag)
            .operation_id(Some(id))
            .summary(Some(summary)),
        schemas: Vec::new(),
    }
}

fn json_content<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) -> Content {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
    Content::new(Some(Ref::from_schema_name(T::name())))
}

impl Op {
    /// A JSON body of type `T`, required or not.
    pub(super) fn body<T: ToSchema>(mut self, required: bool) -> Op {
        let content = json_content::<T>(&mut self.schemas);
        let required = if required {
            Required::True
        } else {
            Required::False
        };
        let body = RequestBodyBuilder::new()
            .content("application/json", content)
            .required(Some(required));
        self.builder = self.builder.request_body(Some(body.build()));
        self
    }

    /// A `multipart/form-data` body of the form `T`.
    fn multipart<T: ToSchema>(mut self) -> Op {
        let content = json_content::<T>(&mut self.schemas);
        let body = RequestBodyBuilder::new()
            .content("multipart/form-data", content)
            .required(Some(Required::True));
        self.builder = self.builder.request_body(Some(body.build()));
        self
    }

    /// The query parameters `P`.
    fn query<P: IntoParams>(mut self) -> Op {
        for parameter in P::into_params(|| Some(ParameterIn::Query)) {
            self.builder = self.builder.parameter(parameter);
        }
        self
    }

    /// A `status` answer with a JSON body of type `T`.
    pub(super) fn ok<T: ToSchema>(mut self, status: u16, description: &str) -> Op {
        let content = json_content::<T>(&mut self.schemas);
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/json", content);
        self.builder = self.builder.response(status.to_string(), response.build());
        self
    }

    /// A `status` answer with a JSON array of `T`.
    pub(super) fn ok_array<T: ToSchema>(mut self, status: u16, description: &str) -> Op {
        self.schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(&mut self.schemas);
        let array = utoipa::openapi::schema::ArrayBuilder::new()
            .items(Ref::from_schema_name(T::name()))
            .build();
        let response = ResponseBuilder::new()
            .description(description)
            .content("application/json", Content::new(Some(array)));
        self.builder = self.builder.response(status.to_string(), response.build());
        self
    }

    /// A `status` answer with a body of `content_type` described by `schema`.
    fn raw(mut self, status: u16, description: &str, content_type: &str, schema: Schema) -> Op {
        let response = ResponseBuilder::new()
            .description(description)
            .content(content_type, Content::new(Some(schema)));
        self.builder = self.builder.response(status.to_string(), response.build());
        self
    }

    /// `204`, no body.
    pub(super) fn no_content(mut self, description: &str) -> Op {
        let response = ResponseBuilder::new().description(description).build();
        self.builder = self.builder.response("204", response);
        self
    }

    /// The error statuses the operation answers besides those of its access class.
    pub(super) fn errors(mut self, statuses: &[u16]) -> Op {
        for status in statuses {
            self.builder = self
                .builder
                .response(status.to_string(), Ref::from_response_name("Error"));
        }
        self
    }
}

fn object() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .build()
        .into()
}

fn text() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .build()
        .into()
}

/// What the operation `method template` reads and answers (`None`: not described, which the
/// tests refuse for an `/api` route).
fn describe(method: &Method, template: &str) -> Option<Op> {
    let op = match (method.as_str(), template) {
        ("GET", "/api/openapi.json") => op("meta", "openapi", "This document (OpenAPI 3.1).").raw(
            200,
            "The OpenAPI document.",
            "application/json",
            object(),
        ),
        ("POST", "/api/auth/register") => op("auth", "register", "Create an account.")
            .body::<auth::Register>(true)
            .ok::<UserView>(201, "The account.")
            .errors(&[400, 409, 422]),
        ("GET", "/api/account/demographics") => op(
            "auth",
            "demographics",
            "The calling patient's name, birth date, gender and phone (patients).",
        )
        .ok::<Demographics>(200, "The demographics their Patient holds.")
        .errors(&[404]),
        ("PUT", "/api/account/demographics") => op(
            "auth",
            "setDemographics",
            "Correct the calling patient's demographics: a new version of their Patient \
             (audited; other elements kept); the account's name follows (patients).",
        )
        .body::<Demographics>(true)
        .ok::<Demographics>(200, "The stored demographics.")
        .errors(&[400, 404, 409]),
        ("POST", "/api/auth/login") => op(
            "auth",
            "login",
            "Sign in with e-mail, password and (when enabled) a TOTP code.",
        )
        .body::<auth::Login>(true)
        .ok::<auth::LoginResult>(200, "A session, or a request for the TOTP code.")
        .errors(&[400, 401, 403]),
        ("POST", "/api/auth/refresh") => op(
            "auth",
            "refresh",
            "Rotate a refresh token for a new session.",
        )
        .body::<auth::Refresh>(true)
        .ok::<TokenPair>(200, "A new session.")
        .errors(&[400, 401]),
        ("POST", "/api/auth/logout") => op(
            "auth",
            "logout",
            "End the session (and the refresh token's family when given).",
        )
        .body::<auth::Logout>(false)
        .no_content("Signed out.")
        .errors(&[400]),
        ("GET", "/api/auth/me") => {
            op("auth", "me", "The signed-in account.").ok::<UserView>(200, "The account.")
        }
        ("POST", "/api/auth/password") => op(
            "auth",
            "changePassword",
            "Change the password; ends every session of the user.",
        )
        .body::<auth::PasswordChange>(true)
        .no_content("Changed.")
        .errors(&[400, 403, 422]),
        ("POST", "/api/auth/totp/setup") => op("auth", "totpSetup", "Start TOTP enrolment.")
            .ok::<TotpEnrolment>(200, "The secret, as a URI and a QR code.")
            .errors(&[409]),
        ("POST", "/api/auth/totp/verify") => op(
            "auth",
            "totpVerify",
            "Confirm TOTP enrolment with a first code.",
        )
        .body::<auth::Code>(true)
        .ok::<auth::TotpVerified>(200, "A full session and the backup codes.")
        .errors(&[400, 409]),
        ("POST", "/api/auth/totp/disable") => op(
            "auth",
            "totpDisable",
            "Disable TOTP (a current or backup code is required).",
        )
        .body::<auth::Code>(true)
        .no_content("Disabled.")
        .errors(&[400, 403, 409]),
        ("GET", "/api/admin/users") => op(
            "admin",
            "adminUsers",
            "List or search accounts, with the total.",
        )
        .query::<admin::UserQuery>()
        .ok::<admin::UserList>(200, "The accounts.")
        .errors(&[400]),
        ("GET", "/api/admin/users/{id}") => op(
            "admin",
            "adminUser",
            "One account: sessions, lockout, last sign-in, latest activity.",
        )
        .ok::<admin::AdminUserDetail>(200, "The account.")
        .errors(&[404]),
        ("POST", "/api/admin/users/{id}/{action}") => op(
            "admin",
            "adminUserAction",
            "Approve, suspend, reinstate or unlock an account (action: approve, suspend, \
             reinstate, unlock); a status the action does not apply to, or suspending the last \
             active admin, is 409 (audited).",
        )
        .ok::<UserView>(200, "The account.")
        .errors(&[400, 404, 409]),
        ("PUT", "/api/admin/users/{id}/role") => op(
            "admin",
            "adminUserRole",
            "Change an account's role (admin, physician, researcher); to or from patient, or \
             demoting the last active admin, is 409 (audited).",
        )
        .body::<admin::RoleChange>(true)
        .ok::<UserView>(200, "The account (its sessions ended).")
        .errors(&[400, 404, 409]),
        ("GET", "/api/admin/invitations") => op(
            "admin",
            "adminInvitations",
            "Researcher invitations, newest first.",
        )
        .ok::<invitations::InvitationList>(200, "The invitations."),
        ("POST", "/api/admin/invitations") => op(
            "admin",
            "adminInvite",
            "Invite a researcher: a single-use, expiring link (audited).",
        )
        .body::<invitations::NewInvitationBody>(true)
        .ok::<invitations::InvitationBody>(201, "The invitation, with its link (shown once).")
        .errors(&[400, 409]),
        ("DELETE", "/api/admin/invitations/{id}") => op(
            "admin",
            "adminRevokeInvitation",
            "Revoke an invitation (audited).",
        )
        .no_content("Revoked.")
        .errors(&[404, 409]),
        ("POST", "/api/auth/invitations/{token}/accept") => op(
            "auth",
            "acceptInvitation",
            "Accept a researcher invitation: an active researcher account.",
        )
        .body::<invitations::AcceptInvitation>(true)
        .ok::<UserView>(201, "The account; sign in as usual.")
        .errors(&[400, 404, 409, 410]),
        ("GET", "/api/admin/stats") => op(
            "admin",
            "adminStats",
            "Counts of resources, patients, consents, break-glass grants, documents, jobs, \
             exports and accounts.",
        )
        .ok::<crate::admin::stats::AdminStats>(200, "The numbers."),
        ("GET", "/api/admin/health") => {
            op("admin", "adminHealth", "Each backend's status and latency.")
                .ok::<crate::admin::checks::AdminHealth>(200, "The checks.")
        }
        ("POST", "/api/admin/reindex") => op(
            "admin",
            "adminReindex",
            "Rebuild the full-text index as a job (audited).",
        )
        .ok::<admin_system::JobStarted>(202, "Queued."),
        ("GET", "/api/admin/jobs/{id}") => {
            op("admin", "adminJob", "A job with its progress and result.")
                .ok::<crate::admin::JobView>(200, "The job.")
                .errors(&[404])
        }
        ("GET", "/api/admin/audit") => op("admin", "adminAudit", "The audit log, newest first.")
            .query::<admin::AuditQuery>()
            .ok::<admin::AuditPage>(200, "The records.")
            .errors(&[400]),
        ("POST", "/api/admin/audit/verify") => op(
            "admin",
            "adminAuditVerify",
            "Verify the audit hash chain as a job (audited).",
        )
        .ok::<admin_system::JobStarted>(202, "Queued."),
        ("GET", "/api/admin/audit/verify") => op(
            "admin",
            "adminAuditVerification",
            "The latest audit chain verification.",
        )
        .ok::<crate::admin::LatestVerification>(200, "The latest verification.")
        .errors(&[404]),
        ("GET", "/api/consents") => op(
            "consents",
            "listConsents",
            "A patient's grants, or a physician's grants and pending requests.",
        )
        .ok::<consents::GrantList>(200, "The consents."),
        ("POST", "/api/consents") => op(
            "consents",
            "createConsent",
            "A patient grants, a physician requests.",
        )
        .body::<consents::NewConsent>(true)
        .ok::<consents::GrantView>(201, "The consent.")
        .errors(&[400, 404, 422]),
        ("POST", "/api/consents/break-glass") => op(
            "consents",
            "breakGlass",
            "Emergency access to a patient for 24 hours (physicians; audited).",
        )
        .body::<consents::BreakGlassBody>(true)
        .ok::<consents::GrantView>(201, "The break-glass grant.")
        .errors(&[400, 404, 422]),
        ("GET", "/api/consents/access-log") => op(
            "consents",
            "accessLog",
            "Who else accessed the calling patient's data, which of their resources, when and \
             under which grant (patients).",
        )
        .query::<consents::LogQuery>()
        .ok::<consents::AccessLogView>(200, "The accesses, newest first.")
        .errors(&[400]),
        ("DELETE", "/api/consents/{id}") => op(
            "consents",
            "revokeConsent",
            "Revoke a consent (harmless when already revoked).",
        )
        .ok::<consents::GrantView>(200, "The revoked consent.")
        .errors(&[404, 409]),
        ("POST", "/api/consents/{id}/{action}") => op(
            "consents",
            "answerConsent",
            "The patient accepts or declines a physician's request (action: accept, decline).",
        )
        .ok::<consents::GrantView>(200, "The answered consent.")
        .errors(&[404, 409]),
        ("GET", "/api/search") => op(
            "search",
            "search",
            "Cross-resource full text, restricted by consent.",
        )
        .query::<search::SearchParams>()
        .ok::<search::SearchResults>(200, "The permitted matches, best first.")
        .errors(&[400]),
        ("GET", "/api/directory/clinicians") => op(
            "directory",
            "clinicians",
            "Active physicians found by name (any signed-in user).",
        )
        .query::<directory::DirectoryParams>()
        .ok::<directory::ClinicianList>(200, "The clinicians.")
        .errors(&[400]),
        ("POST", "/api/documents") => op(
            "documents",
            "uploadDocument",
            "Upload a lab report for a patient; its ingest is queued.",
        )
        .multipart::<documents::UploadSchema>()
        .ok::<documents::DocumentSubmitted>(202, "Queued; Location: the job.")
        .errors(&[400, 404, 413, 415]),
        ("GET", "/api/documents/jobs") => op(
            "documents",
            "documentJobs",
            "The caller's ingest jobs whose document they may still read, newest first (admins: everyone's).",
        )
        .query::<documents::ListQuery>()
        .ok::<documents::DocumentJobList>(200, "The jobs.")
        .errors(&[400]),
        ("GET", "/api/documents/jobs/{id}") => op(
            "documents",
            "documentJob",
            "One ingest job (its owner's while they may read its document or, for admins, anyone's).",
        )
        .ok::<documents::DocumentJob>(200, "The job.")
        .errors(&[404]),
        ("DELETE", "/api/documents/jobs/{id}") => op(
            "documents",
            "cancelDocumentJob",
            "Cancel a pending, failed or to-be-reviewed job.",
        )
        .ok::<documents::DocumentJob>(200, "The cancelled job.")
        .errors(&[404, 409]),
        ("POST", "/api/documents/jobs/{id}/accept") => op(
            "documents",
            "acceptDocumentJob",
            "Publish a reviewed job's results, with the reviewer's corrections.",
        )
        .body::<documents::AcceptBody>(false)
        .ok::<documents::DocumentJob>(200, "The job.")
        .errors(&[400, 404, 409]),
        ("POST", "/api/research/exports") => op(
            "research",
            "createResearchExport",
            "Queue a de-identified (HIPAA Safe Harbor, optionally k-anonymous) NDJSON export \
             for a stated purpose (researchers).",
        )
        .body::<research::NewExport>(true)
        .ok::<research::ResearchExportAccepted>(202, "Queued; Location: its status.")
        .errors(&[400]),
        ("GET", "/api/research/exports") => op(
            "research",
            "listResearchExports",
            "The caller's own exports, newest first (not the cancelled or expired ones; researchers).",
        )
        .ok::<research::ResearchExports>(200, "The exports."),
        ("GET", "/api/research/exports/{id}") => op(
            "research",
            "researchExport",
            "The status of an export (the requesting researcher's only), with its files.",
        )
        .ok::<research::ExportView>(200, "The export.")
        .errors(&[404]),
        ("DELETE", "/api/research/exports/{id}") => op(
            "research",
            "cancelResearchExport",
            "Cancel an export and delete its files (also while it is being written).",
        )
        .no_content("Cancelled.")
        .errors(&[404]),
        ("GET", "/api/research/exports/{id}/files/{file}") => op(
            "research",
            "researchExportFile",
            "One file of a completed export ({Type}.ndjson): de-identified resources of one type.",
        )
        .raw(200, "The file.", "application/fhir+ndjson", text())
        .errors(&[404]),
        ("POST", "/api/clinical/drug-interactions") => op(
            "clinical",
            "checkDrugInteractions",
            "Check medications against each other and, with a patient, against the patient's \
             current medications and allergies (read under the patient's consent; the check is \
             kept in the record as a GuidanceResponse).",
        )
        .body::<clinical::DrugCheckRequest>(true)
        .ok::<clinical::DrugCheckReport>(200, "The findings, most severe first.")
        .errors(&[400, 404]),
        ("POST", "/api/clinical/acknowledgements") => op(
            "clinical",
            "acknowledgeFinding",
            "A physician acknowledges a current finding of a patient's record with a reason and \
             an expiry (a DetectedIssue); prescriptions it blocked are then accepted.",
        )
        .body::<clinical::NewAcknowledgement>(true)
        .ok::<clinical::AcknowledgementView>(201, "The acknowledgement.")
        .errors(&[400, 403, 404]),
        ("GET", "/api/clinical/history") => op(
            "clinical",
            "drugCheckHistory",
            "A patient's drug checks and acknowledgements, newest first.",
        )
        .query::<clinical::HistoryParams>()
        .ok::<clinical::DrugHistory>(200, "The history.")
        .errors(&[400, 404]),
        ("GET", "/api/clinical/drugs") => op(
            "clinical",
            "findDrugs",
            "Drugs whose generic or brand name matches, for choosing one.",
        )
        .query::<clinical::DrugParams>()
        .ok::<clinical::DrugList>(200, "The drugs.")
        .errors(&[400]),
        ("GET", "/api/notifications") => op(
            "notifications",
            "notifications",
            "The caller's own notices, newest first, with the unread count.",
        )
        .query::<notifications::InboxQuery>()
        .ok::<notifications::InboxView>(200, "A page of the inbox.")
        .errors(&[400]),
        ("POST", "/api/notifications/{id}/read") => op(
            "notifications",
            "readNotification",
            "Mark one of the caller's notices read (another user's is not found).",
        )
        .no_content("Read.")
        .errors(&[404]),
        ("POST", "/api/notifications/read-all") => op(
            "notifications",
            "readAllNotifications",
            "Mark every notice of the caller read.",
        )
        .no_content("Read."),
        ("GET", "/api/notifications/preferences") => op(
            "notifications",
            "notificationPreferences",
            "The caller's notification preferences, every kind listed (defaults when unset).",
        )
        .ok::<notifications::PreferencesView>(200, "The preferences."),
        ("PUT", "/api/notifications/preferences") => op(
            "notifications",
            "setNotificationPreferences",
            "Save the caller's notification preferences (mandatory kinds stay on).",
        )
        .body::<notifications::PreferencesInput>(true)
        .ok::<notifications::PreferencesView>(200, "The stored preferences.")
        .errors(&[400]),
        _ => return super::smart::describe(method, template),
    };
    Some(op)
}

/// The path parameters of `template` (`{id}`, …), each a required string.
fn path_parameters(template: &str) -> impl Iterator<Item = ParameterBuilder> + '_ {
    template
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(text()))
        })
}

fn http_method(method: &Method) -> Option<HttpMethod> {
    Some(match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => return None,
    })
}

/// The document of the `/api` routes of `table`.
pub(crate) fn generate(table: &RouteTable) -> OpenApi {
    let mut routes: Vec<_> = table
        .routes()
        .filter(|(_, template, _)| template.starts_with("/api/"))
        .collect();
    routes.sort_by_key(|(method, template, _)| (*template, method.as_str().to_owned()));
    let mut paths = PathsBuilder::new().build();
    let mut schemas = vec![(
        OperationOutcome::name().into_owned(),
        OperationOutcome::schema(),
    )];
    OperationOutcome::schemas(&mut schemas);
    for (method, template, meta) in routes {
        let (Some(mut op), Some(http)) = (describe(method, template), http_method(method)) else {
            continue;
        };
        for parameter in path_parameters(template) {
            op.builder = op.builder.parameter(parameter);
        }
        op = match meta.access {
            Access::Public => op.errors(&[429, 500]),
            Access::Account => op.errors(&[401, 429, 500]),
            Access::Clinical | Access::Admin => op.errors(&[401, 403, 429, 500]),
        };
        op.builder = match meta.access {
            Access::Public => op.builder.securities(Some(Vec::new())),
            _ => op
                .builder
                .security(SecurityRequirement::new("bearerAuth", Vec::<String>::new())),
        };
        schemas.append(&mut op.schemas);
        paths.add_path_operation(template, vec![http], op.builder.build());
    }
    let error = ResponseBuilder::new().description("An error.").content(
        "application/fhir+json",
        Content::new(Some(Ref::from_schema_name(OperationOutcome::name()))),
    );
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some("The access token of POST /api/auth/login."))
        .build();
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .response("Error", error.build())
        .security_scheme("bearerAuth", SecurityScheme::Http(bearer))
        .build();
    let info = InfoBuilder::new()
        .title("MediLink application API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(DESCRIPTION))
        .license(Some(
            LicenseBuilder::new()
                .name("Apache-2.0")
                .identifier(Some("Apache-2.0"))
                .build(),
        ))
        .build();
    OpenApiBuilder::new()
        .info(info)
        .servers(Some(vec![ServerBuilder::new().url("/").build()]))
        .paths(paths)
        .components(Some(components))
        .tags(Some(TAGS.map(|tag| TagBuilder::new().name(tag).build())))
        .build()
}

/// The document as checked in at `medilink-server/openapi.json`: pretty JSON and a newline.
pub(crate) fn render() -> String {
    let document = generate(&crate::routes::table());
    let mut text = document.to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// The served document, generated once.
static SERVED: LazyLock<String> = LazyLock::new(render);

/// `GET /api/openapi.json`.
pub(crate) async fn document() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        SERVED.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_route_is_described() {
        let table = crate::routes::table();
        let missing: Vec<String> = table
            .routes()
            .filter(|(method, template, _)| {
                template.starts_with("/api/") && describe(method, template).is_none()
            })
            .map(|(method, template, _)| format!("{method} {template}"))
            .collect();
        assert!(missing.is_empty(), "undescribed /api routes: {missing:?}");
    }

    #[test]
    fn the_document_is_openapi_3_1_with_the_crate_version() {
        let document: serde_json::Value = serde_json::from_str(&render()).unwrap_or_default();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    }
}
