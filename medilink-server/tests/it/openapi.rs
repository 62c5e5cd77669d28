//! `GET /api/openapi.json` stays true to the router and the handlers: a well-formed OpenAPI 3.1
//! document; the same `/api` routes and methods as the route table and the router; no
//! security requirement exactly on the table's public routes; and real responses validate against the
//! documented schemas (a minimal validator for the subset the document uses).

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_fhir::Clock;
use medilink_platform::Role;
use medilink_server::route_meta::Access;
use serde_json::{Value, json};

use crate::route_table::PROTECTED;
use crate::support::schema::{assert_documented, refs, resolve, validate};
use crate::support::{TestApp, api_call, multipart, signed_in, totp_code};

/// The HTTP methods an OpenAPI path item may hold.
const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

/// The document as served, without a token.
async fn served(app: &TestApp) -> Value {
    let response = app
        .request(
            Method::GET,
            "/api/openapi.json",
            &[("authorization", "")],
            Body::empty(),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert!(
        response
            .header("content-type")
            .starts_with("application/json"),
        "{}",
        response.header("content-type")
    );
    response.json()
}

/// Every `(METHOD, path template)` the document describes.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let paths = document["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item is an object");
            item.keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(|method| (method.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `/api` routes of the route table (`src/routes.rs`) as `(METHOD, template)`.
fn source_routes() -> BTreeSet<(String, String)> {
    medilink_server::route_table()
        .routes()
        .filter(|(_, template, _)| template.starts_with("/api/"))
        .map(|(method, template, _)| (method.to_string(), template.to_owned()))
        .collect()
}

/// The public routes of the route table: `(METHOD, template)`.
fn public_routes() -> Vec<(String, &'static str)> {
    medilink_server::route_table()
        .routes()
        .filter(|(_, _, meta)| meta.access == Access::Public)
        .map(|(method, template, _)| (method.to_string(), template))
        .collect()
}

/// The route-table enumeration of `/api` routes: `(method, concrete path)`.
fn enumerated() -> Vec<(Method, String)> {
    let protected = PROTECTED
        .iter()
        .filter(|(_, path, _)| path.starts_with("/api/"))
        .map(|(method, path, _)| {
            let path = path.split('?').next().unwrap_or(path);
            (method.clone(), path.to_owned())
        });
    let public = public_routes()
        .into_iter()
        .filter(|(_, path)| path.starts_with("/api/"))
        .map(|(method, path)| {
            (
                Method::from_bytes(method.as_bytes()).expect("a method"),
                path.to_owned(),
            )
        });
    protected.chain(public).collect()
}

/// The template of `templates` that `path` matches, literal segments first.
fn template_of<'a>(templates: &'a BTreeSet<String>, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    templates
        .iter()
        .filter(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part == segment || part.starts_with('{'))
        })
        .min_by_key(|template| template.matches('{').count())
        .map(String::as_str)
}

/// Asserts that `routes` (of `source`) and the documented operations are the same.
fn assert_same(
    routes: &BTreeSet<(String, String)>,
    documented: &BTreeSet<(String, String)>,
    source: &str,
) {
    let undocumented: Vec<_> = routes.difference(documented).collect();
    let unrouted: Vec<_> = documented.difference(routes).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "in {source} but not documented: {undocumented:?}; documented but not in {source}: {unrouted:?}"
    );
}

/// A concrete path for a template (`{id}` → `x1`).
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "x1" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_document_is_a_well_formed_openapi_3_1_document() {
    let app = TestApp::new().await;
    let document = served(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["info"]["title"].is_string());
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(document["paths"].is_object());
    let scheme = &document["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"], &scheme["bearerFormat"]),
        (&json!("http"), &json!("bearer"), &json!("JWT"))
    );
    let mut targets = Vec::new();
    refs(&document, &mut targets);
    assert!(targets.len() > 50, "the document uses $ref throughout");
    for target in targets {
        assert!(
            target.starts_with("#/components/") && resolve(&document, target).is_some(),
            "unresolved $ref {target}"
        );
    }
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        assert!(operation["operationId"].is_string(), "{method} {path}");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|code| code.starts_with('2')),
            "{method} {path} has no success response"
        );
        for (code, response) in responses {
            if code.starts_with('4') || code.starts_with('5') {
                assert_eq!(
                    response,
                    &json!({"$ref": "#/components/responses/Error"}),
                    "{method} {path} {code}"
                );
            }
        }
        // Path parameters: exactly the template's `{names}`.
        let in_template: BTreeSet<&str> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let declared: BTreeSet<&str> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|parameter| parameter["in"] == "path")
            .map(|parameter| parameter["name"].as_str().expect("a name"))
            .collect();
        assert_eq!(in_template, declared, "{method} {path}");
    }
    let error = &document["components"]["responses"]["Error"]["content"]["application/fhir+json"];
    assert_eq!(
        error["schema"]["$ref"],
        "#/components/schemas/OperationOutcome"
    );
}

#[tokio::test]
async fn the_document_and_the_router_have_the_same_api_routes() {
    let app = TestApp::new().await;
    let document = served(&app).await;
    let documented = operations(&document);
    // The route table of the source, and the route-table test's enumeration, cover it.
    assert_same(&source_routes(), &documented, "src/routes.rs");
    let templates: BTreeSet<String> = documented.iter().map(|(_, path)| path.clone()).collect();
    let mut enumerated_ops = BTreeSet::new();
    for (method, path) in enumerated() {
        let template = template_of(&templates, &path)
            .unwrap_or_else(|| panic!("{method} {path} is not documented"));
        enumerated_ops.insert((method.to_string(), template.to_owned()));
    }
    assert_same(&enumerated_ops, &documented, "route_table.rs");
    // The router itself answers each documented operation under that exact route template
    // (its metrics label) and never with 405. Logging out ends the admin's session: last.
    let mut calls: Vec<&(String, String)> = documented.iter().collect();
    calls.sort_by_key(|(_, path)| path == "/api/auth/logout");
    for (method, template) in calls {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let response = app
            .request(method.clone(), &concrete(template), &[], Body::empty())
            .await;
        assert_ne!(
            response.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {template}"
        );
        let scrape = app
            .request(
                Method::GET,
                "/metrics",
                &[("authorization", "")],
                Body::empty(),
            )
            .await
            .text();
        let series = format!(
            "medilink_http_requests_total{{method=\"{method}\",route=\"{template}\",status=\"{}\"}}",
            response.status.as_u16()
        );
        assert!(
            scrape.lines().any(|line| line.starts_with(&series)),
            "{series} missing: the router does not route {method} {template} there"
        );
    }
}

#[tokio::test]
async fn exactly_the_public_routes_need_no_token() {
    let app = TestApp::new().await;
    let document = served(&app).await;
    assert_eq!(document["security"], json!([{"bearerAuth": []}]));
    for (method, path) in operations(&document) {
        let security = &document["paths"][&path][method.to_lowercase()]["security"];
        let public = public_routes()
            .iter()
            .any(|(m, p)| *m == method && *p == path);
        let expected = if public {
            json!([])
        } else {
            json!([{"bearerAuth": []}])
        };
        assert_eq!(security, &expected, "{method} {path}");
    }
    for (method, path) in public_routes()
        .into_iter()
        .filter(|(_, p)| p.starts_with("/api/"))
    {
        assert!(
            operations(&document).contains(&(method.clone(), path.to_owned())),
            "public {method} {path} is not documented"
        );
    }
}

#[tokio::test]
async fn real_responses_validate_against_the_documented_schemas() {
    let app = TestApp::new().await;
    let document = served(&app).await;
    let check = |method: &str, path: &str, status: StatusCode, body: &Value| {
        assert_documented(&document, method, path, status, body);
    };

    // Register and log in as a patient; `me`.
    let account = json!({"email": "pat@test.local", "password": "a long enough passphrase 42",
        "role": "patient", "name": "Pat Example"});
    let (status, body) =
        api_call(&app, Method::POST, "/api/auth/register", "", Some(&account)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    check("POST", "/api/auth/register", status, &body);
    let (status, body) = api_call(&app, Method::POST, "/api/auth/login", "", Some(&account)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("POST", "/api/auth/login", status, &body);
    let patient = body["access_token"].as_str().expect("a token").to_owned();
    let (status, body) = api_call(&app, Method::GET, "/api/auth/me", &patient, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("GET", "/api/auth/me", status, &body);
    let patient_id = body["patient_id"].as_str().expect("a patient").to_owned();
    let wrong = json!({"email": "pat@test.local", "password": "not the password"});
    let (status, body) = api_call(&app, Method::POST, "/api/auth/login", "", Some(&wrong)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    check("POST", "/api/auth/login", status, &body);

    // The directory finds a named physician; the patient grants them access.
    let physician = app
        .state
        .auth
        .create_account(
            "doc@test.local",
            "a long enough passphrase 42",
            Some("Dana Doctor"),
            Role::Physician,
            Some(medilink_platform::AccountStatus::Active),
        )
        .await
        .expect("physician");
    let path = "/api/directory/clinicians?q=dana";
    let (status, body) = api_call(&app, Method::GET, path, &patient, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["clinicians"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    check("GET", "/api/directory/clinicians", status, &body);
    let (status, body) = api_call(
        &app,
        Method::GET,
        "/api/directory/clinicians?q=d",
        &patient,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    check("GET", "/api/directory/clinicians", status, &body);
    let grant = json!({"grantee": physician.id.0, "scope": ["Observation"]});
    let (status, body) =
        api_call(&app, Method::POST, "/api/consents", &patient, Some(&grant)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    check("POST", "/api/consents", status, &body);
    let (status, body) = api_call(&app, Method::GET, "/api/consents", &patient, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["consents"].as_array().map(Vec::len), Some(1), "{body}");
    check("GET", "/api/consents", status, &body);

    // A document uploaded for the patient (by the admin) and its job.
    let (content_type, upload) = multipart(
        &format!("Patient/{patient_id}"),
        "report.pdf",
        b"%PDF-1.4\nHemoglobin 13.5 g/dL",
    );
    let response = app
        .request(
            Method::POST,
            "/api/documents",
            &[("content-type", &content_type)],
            upload,
        )
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.text());
    let submitted = response.json();
    check("POST", "/api/documents", response.status, &submitted);
    let job = format!(
        "/api/documents/jobs/{}",
        submitted["job_id"].as_str().expect("a job id")
    );
    let (status, body) = api_call(&app, Method::GET, &job, &app.token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("GET", "/api/documents/jobs/{id}", status, &body);
    let (status, body) = api_call(&app, Method::GET, "/api/documents/jobs", &app.token, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["jobs"].as_array().map(Vec::len), Some(1), "{body}");
    check("GET", "/api/documents/jobs", status, &body);
    let (status, body) = api_call(
        &app,
        Method::GET,
        "/api/documents/jobs/nope",
        &app.token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    check("GET", "/api/documents/jobs/{id}", status, &body);
}

/// Calls `METHOD path` (of the documented `template`) with `token` and `body`, asserts
/// `expected` and that the answer matches the documented schema; the answer.
async fn call(
    app: &TestApp,
    document: &Value,
    (method, template, path): (Method, &str, &str),
    token: &str,
    body: Option<&Value>,
    expected: StatusCode,
) -> Value {
    let (status, answer) = api_call(app, method.clone(), path, token, body).await;
    assert_eq!(status, expected, "{method} {path}: {answer}");
    assert_documented(document, method.as_str(), template, status, &answer);
    answer
}

#[tokio::test]
async fn the_other_answers_validate_against_the_documented_schemas_too() {
    let app = TestApp::new().await;
    let document = served(&app).await;
    let doc = &document;
    let admin = app.token.clone();
    let (ok, created) = (StatusCode::OK, StatusCode::CREATED);

    // Administration: a physician registers (pending), an admin approves; users and audit.
    let physician = json!({"email": "dr@test.local", "password": "a long enough passphrase 42",
        "role": "physician", "name": "Drew Doctor"});
    let register = (Method::POST, "/api/auth/register", "/api/auth/register");
    let pending = call(&app, doc, register.clone(), "", Some(&physician), created).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    let approve = format!(
        "/api/admin/users/{}/approve",
        pending["id"].as_str().expect("id")
    );
    let action = (
        Method::POST,
        "/api/admin/users/{id}/{action}",
        approve.as_str(),
    );
    let approved = call(&app, doc, action, &admin, None, ok).await;
    assert_eq!(approved["status"], "active", "{approved}");
    let users = (Method::GET, "/api/admin/users", "/api/admin/users");
    let body = call(&app, doc, users, &admin, None, ok).await;
    assert_eq!(body["users"].as_array().map(Vec::len), Some(2), "{body}");
    let bad_role = (
        Method::GET,
        "/api/admin/users",
        "/api/admin/users?role=nope",
    );
    call(&app, doc, bad_role, &admin, None, StatusCode::BAD_REQUEST).await;

    // A patient: refresh, TOTP setup and verify, then a login that asks for the code.
    let account = json!({"email": "pa@test.local", "password": "a long enough passphrase 42",
        "role": "patient"});
    call(&app, doc, register, "", Some(&account), created).await;
    let login = (Method::POST, "/api/auth/login", "/api/auth/login");
    let tokens = call(&app, doc, login.clone(), "", Some(&account), ok).await;
    let refresh = json!({"refresh_token": tokens["refresh_token"]});
    let route = (Method::POST, "/api/auth/refresh", "/api/auth/refresh");
    let tokens = call(&app, doc, route, "", Some(&refresh), ok).await;
    let patient = tokens["access_token"].as_str().expect("a token").to_owned();
    let route = (Method::POST, "/api/auth/totp/setup", "/api/auth/totp/setup");
    let enrolment = call(&app, doc, route, &patient, None, ok).await;
    let uri = enrolment["otpauth_uri"].as_str().expect("a URI");
    let code = json!({"code": totp_code(uri, app.clock.now())});
    let route = (
        Method::POST,
        "/api/auth/totp/verify",
        "/api/auth/totp/verify",
    );
    let verified = call(&app, doc, route, &patient, Some(&code), ok).await;
    let patient = verified["access_token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let mfa = call(&app, doc, login, "", Some(&account), ok).await;
    assert_eq!(mfa["mfa_required"], true, "{mfa}");
    let me = (Method::GET, "/api/auth/me", "/api/auth/me");
    let patient_id = call(&app, doc, me, &patient, None, ok).await["patient_id"]
        .as_str()
        .expect("a patient")
        .to_owned();

    // A physician requests access, the patient accepts then revokes; break-glass; the log.
    let doctor = signed_in(&app.state, "d@test.local", Role::Physician).await;
    let request = json!({"patient": patient_id, "scope": ["Observation"]});
    let route = (Method::POST, "/api/consents", "/api/consents");
    let proposed = call(&app, doc, route, &doctor, Some(&request), created).await;
    let id = proposed["id"].as_str().expect("an id").to_owned();
    let accept = format!("/api/consents/{id}/accept");
    let route = (Method::POST, "/api/consents/{id}/{action}", accept.as_str());
    let active = call(&app, doc, route, &patient, None, ok).await;
    assert_eq!(active["status"], "active", "{active}");
    let revoke = format!("/api/consents/{id}");
    let route = (Method::DELETE, "/api/consents/{id}", revoke.as_str());
    call(&app, doc, route, &patient, None, ok).await;
    let reason = json!({"patient": patient_id, "reason": "unconscious in the emergency room"});
    let route = (
        Method::POST,
        "/api/consents/break-glass",
        "/api/consents/break-glass",
    );
    call(&app, doc, route, &doctor, Some(&reason), created).await;
    let read = format!("/fhir/R4/Patient/{patient_id}");
    let (status, _) = api_call(&app, Method::GET, &read, &doctor, None).await;
    assert_eq!(status, StatusCode::OK);
    let route = (
        Method::GET,
        "/api/consents/access-log",
        "/api/consents/access-log",
    );
    let log = call(&app, doc, route, &patient, None, ok).await;
    assert!(
        log["entries"].as_array().is_some_and(|e| !e.is_empty()),
        "{log}"
    );
    let route = (Method::GET, "/api/admin/audit", "/api/admin/audit?limit=50");
    let audit = call(&app, doc, route, &admin, None, ok).await;
    assert!(
        audit["records"].as_array().is_some_and(|r| !r.is_empty()),
        "{audit}"
    );

    // Search, and a cancelled document job.
    let route = (Method::GET, "/api/search", "/api/search?q=Patient");
    call(&app, doc, route, &patient, None, ok).await;
    let route = (Method::GET, "/api/search", "/api/search");
    call(&app, doc, route, &patient, None, StatusCode::BAD_REQUEST).await;
    let (content_type, upload) = multipart(&patient_id, "report.pdf", b"%PDF-1.4\nGlucose 95");
    let response = app
        .request(
            Method::POST,
            "/api/documents",
            &[("content-type", &content_type)],
            upload,
        )
        .await;
    assert_eq!(response.status, StatusCode::ACCEPTED, "{}", response.text());
    let job = format!(
        "/api/documents/jobs/{}",
        response.json()["job_id"].as_str().expect("id")
    );
    let route = (Method::DELETE, "/api/documents/jobs/{id}", job.as_str());
    let cancelled = call(&app, doc, route, &admin, None, ok).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
}

#[test]
fn the_validator_rejects_what_the_schemas_exclude() {
    let document = serde_json::from_str::<Value>(include_str!("../../openapi.json")).expect("JSON");
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let problems = |schema: &Value, instance: &Value| {
        let mut problems = Vec::new();
        validate(&document, schema, instance, "$", &mut problems);
        problems
    };
    let clinician = json!({"id": "u1", "name": null, "role": "physician"});
    assert_eq!(
        problems(&schema("Clinician"), &clinician),
        Vec::<String>::new()
    );
    let mut extra = clinician.clone();
    extra["email"] = json!("x@test.local");
    assert_eq!(
        problems(&schema("Clinician"), &extra).len(),
        1,
        "undocumented property"
    );
    let mut missing = clinician.clone();
    missing.as_object_mut().expect("object").remove("name");
    assert_eq!(
        problems(&schema("Clinician"), &missing).len(),
        1,
        "missing required"
    );
    let mut wrong_enum = clinician.clone();
    wrong_enum["role"] = json!("admin");
    assert_eq!(problems(&schema("Clinician"), &wrong_enum).len(), 1, "enum");
    let mut wrong_type = clinician;
    wrong_type["name"] = json!(7);
    assert_eq!(problems(&schema("Clinician"), &wrong_type).len(), 1, "type");
    let list = json!({"clinicians": [{"id": 1, "name": null, "role": "physician"}]});
    assert_eq!(problems(&schema("ClinicianList"), &list).len(), 1, "items");
    let both =
        json!({"access_token": "a", "refresh_token": "r", "token_type": "Bearer", "expires_in": 1});
    assert!(
        problems(&schema("LoginResult"), &both).is_empty(),
        "oneOf: tokens"
    );
    let mfa = json!({"mfa_required": true, "partial_token": "p"});
    assert!(
        problems(&schema("LoginResult"), &mfa).is_empty(),
        "oneOf: mfa"
    );
    assert_eq!(
        problems(&schema("LoginResult"), &json!({})).len(),
        1,
        "oneOf: none"
    );
    assert_eq!(
        problems(&schema("AuditRecord"), &json!({"seq": -1})).len(),
        13,
        "minimum and required"
    );
    assert_eq!(
        problems(&json!({"$ref": "#/components/schemas/Nope"}), &json!(1)).len(),
        1
    );
}
