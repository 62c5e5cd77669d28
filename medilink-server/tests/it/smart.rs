//! Issue #17: SMART App Launch 2.2 and Backend Services, driven as an app would — discovery,
//! registration and approval, the authorization code flow with PKCE computed here, the
//! consent screen's API, code exchange, scoped reads and searches, refresh rotation and reuse
//! detection, introspection and revocation, EHR launch, client credentials with an ES384 or
//! RS384 assertion and a Bulk Data kick-off; every negative the issue lists. On SQLite, and
//! on PostgreSQL (with two servers sharing Redis) when the test URLs are set.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jws::{ES384, JwsHeader, RS384};
use josekit::jwt::{self, JwtPayload};
use medilink_fhir::kv::{KeyValue, RedisKeyValue};
use medilink_fhir::{Clock, IdGen, SeqIdGen, SqlOptions};
use medilink_platform::{Role, open_store_and_platform};
use medilink_server::auth::{AuthSettings, Keys};
use medilink_server::{AppState, Limits};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{PostgresDatabase, TestApp, TestResponse, api_call, signed_in, unlimited};

const REDIRECT: &str = "https://app.example/callback";
const VERIFIER: &str = "a-long-random-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
const BASE: &str = "http://test.local/fhir/R4";
const TOKEN_URL: &str = "http://test.local/oauth/token";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A form POST without a bearer token; status and JSON.
async fn post_form(app: &TestApp, uri: &str, pairs: &[(&str, &str)]) -> (StatusCode, Value) {
    let headers = [
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", ""),
    ];
    let response = app
        .request(Method::POST, uri, &headers, Body::from(form(pairs)))
        .await;
    let json = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    (response.status, json)
}

async fn get_as(app: &TestApp, token: &str, uri: &str) -> TestResponse {
    let bearer = format!("Bearer {token}");
    app.request(
        Method::GET,
        uri,
        &[("authorization", &bearer)],
        Body::empty(),
    )
    .await
}

/// Registers a client (RFC 7591) and has the admin approve it; its `client_id`.
async fn registered(app: &TestApp, metadata: Value) -> String {
    let response = app
        .request(
            Method::POST,
            "/oauth/register",
            &[("content-type", "application/json"), ("authorization", "")],
            Body::from(metadata.to_string()),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let answer = response.json();
    assert_eq!(answer["status"], "pending");
    let client_id = answer["client_id"].as_str().expect("client_id").to_owned();
    let approve = app
        .post(
            &format!("/api/admin/smart/clients/{client_id}/approve"),
            &json!({}),
        )
        .await;
    assert_eq!(approve.status, StatusCode::NO_CONTENT, "{}", approve.text());
    client_id
}

fn public_client(scope: &str) -> Value {
    json!({
        "client_name": "Growth charts",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "launch_uri": "https://app.example/launch",
        "scope": scope,
    })
}

fn authorize_query(client_id: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-1"),
        ("aud", BASE),
        ("code_challenge_method", "S256"),
    ];
    let challenge = challenge(VERIFIER);
    if !extra.iter().any(|(name, _)| *name == "code_challenge") {
        pairs.push(("code_challenge", &challenge));
    }
    pairs.extend_from_slice(extra);
    let pairs: Vec<(&str, &str)> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).collect();
    format!("/oauth/authorize?{}", form(&pairs))
}

/// `GET /oauth/authorize`: the pending request's id.
async fn request_id(app: &TestApp, query: &str) -> String {
    let response = app
        .request(Method::GET, query, &[("authorization", "")], Body::empty())
        .await;
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.text());
    let location = response.header("location");
    location
        .strip_prefix("/smart/authorize?request=")
        .unwrap_or_else(|| panic!("to the consent screen: {location}"))
        .to_owned()
}

/// The user approves `scopes` of the request: the code.
async fn approved_code(app: &TestApp, user: &str, request: &str, scopes: &[&str]) -> String {
    let (status, answer) = api_call(
        app,
        Method::POST,
        &format!("/api/smart/requests/{request}/decision"),
        user,
        Some(&json!({"approve": true, "scopes": scopes})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let redirect =
        url::Url::parse(answer["redirect_to"].as_str().expect("redirect_to")).expect("url");
    assert!(redirect.as_str().starts_with(REDIRECT));
    let param = |name: &str| {
        redirect
            .query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some("st-1"));
    param("code").expect("code")
}

/// A fresh code for `user` of `scopes` (authorize, then approve all).
async fn code(app: &TestApp, client: &str, user: &str, scopes: &[&str]) -> String {
    let request = request_id(app, &authorize_query(client, &scopes.join(" "), &[])).await;
    approved_code(app, user, &request, scopes).await
}

async fn exchange(app: &TestApp, client: &str, code: &str, verifier: &str) -> (StatusCode, Value) {
    post_form(
        app,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", client),
            ("code_verifier", verifier),
        ],
    )
    .await
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

async fn create(app: &TestApp, body: Value) -> String {
    let uri = format!("/fhir/R4/{}", body["resourceType"].as_str().expect("type"));
    let response = app.post(&uri, &body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    response.json()["id"].as_str().expect("id").to_owned()
}

fn observation(patient: &str, category: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": category}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": format!("Patient/{patient}")}
    })
}

fn ids(bundle: &Value) -> Vec<String> {
    let mut ids: Vec<String> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["resource"]["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// A patient account: its token and `Patient` id.
async fn patient(app: &TestApp, email: &str) -> (String, String) {
    let token = signed_in(&app.state, email, Role::Patient).await;
    let (_, me) = api_call(app, Method::GET, "/api/auth/me", &token, None).await;
    (token, me["patient_id"].as_str().expect("pid").to_owned())
}

#[tokio::test]
async fn discovery_jwks_and_capability_statement_declare_smart() {
    let app = TestApp::new().await;
    for path in [
        "/.well-known/smart-configuration",
        "/fhir/R4/.well-known/smart-configuration",
    ] {
        let response = app
            .request(Method::GET, path, &[("authorization", "")], Body::empty())
            .await;
        assert_eq!(response.status, StatusCode::OK, "{path}");
        let config = response.json();
        for field in [
            "authorization_endpoint",
            "token_endpoint",
            "registration_endpoint",
            "jwks_uri",
            "introspection_endpoint",
            "revocation_endpoint",
        ] {
            assert!(
                config[field]
                    .as_str()
                    .is_some_and(|url| url.starts_with("http://test.local/")),
                "{field}"
            );
        }
        assert_eq!(config["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(config["response_types_supported"], json!(["code"]));
        for capability in [
            "launch-ehr",
            "launch-standalone",
            "client-public",
            "client-confidential-asymmetric",
            "context-ehr-patient",
            "context-standalone-patient",
            "permission-v2",
            "permission-patient",
            "permission-user",
            "permission-offline",
            "sso-openid-connect",
        ] {
            assert!(
                config["capabilities"]
                    .as_array()
                    .expect("capabilities")
                    .contains(&json!(capability)),
                "{capability}"
            );
        }
        for grant in ["authorization_code", "refresh_token", "client_credentials"] {
            assert!(
                config["grant_types_supported"]
                    .as_array()
                    .expect("grants")
                    .contains(&json!(grant))
            );
        }
        assert!(
            config["scopes_supported"]
                .as_array()
                .is_some_and(|s| !s.is_empty())
        );
        assert!(
            config["token_endpoint_auth_methods_supported"]
                .as_array()
                .expect("methods")
                .contains(&json!("private_key_jwt"))
        );
    }
    let jwks = app.get("/oauth/jwks").await.json();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert!(key["kid"].is_string() && key.get("d").is_none(), "{jwks}");
    let statement = app.get("/fhir/R4/metadata").await.json();
    let security = &statement["rest"][0]["security"];
    assert_eq!(security["service"][0]["coding"][0]["code"], "SMART-on-FHIR");
    let oauth = &security["extension"][0];
    assert_eq!(
        oauth["url"],
        "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    );
    let uris: Vec<&str> = oauth["extension"]
        .as_array()
        .expect("uris")
        .iter()
        .filter_map(|uri| uri["url"].as_str())
        .collect();
    assert!(
        uris.contains(&"authorize") && uris.contains(&"token"),
        "{uris:?}"
    );
}

/// The standalone launch of a patient, every step and negative the issue lists.
async fn standalone_launch(app: TestApp) {
    let (alice, a) = patient(&app, "alice@test.local").await;
    let (_bob, b) = patient(&app, "bob@test.local").await;
    let lab = create(&app, observation(&a, "laboratory")).await;
    let vitals = create(&app, observation(&a, "vital-signs")).await;
    let bobs = create(&app, observation(&b, "laboratory")).await;
    let condition = json!({"resourceType": "Condition",
        "subject": {"reference": format!("Patient/{a}")}, "code": {"text": "x"}});
    create(&app, condition).await;

    // Registration: pending clients get nothing, and are told nothing but 400.
    let scope = "launch/patient openid fhirUser offline_access patient/Patient.r \
                 patient/Observation.rs patient/Condition.rs";
    let response = app
        .request(
            Method::POST,
            "/oauth/register",
            &[("content-type", "application/json"), ("authorization", "")],
            Body::from(public_client(scope).to_string()),
        )
        .await;
    let pending = response.json()["client_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let refused = app
        .request(
            Method::GET,
            &authorize_query(&pending, scope, &[]),
            &[("authorization", "")],
            Body::empty(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.headers.get("location").is_none());
    let listed = app.get("/api/admin/smart/clients").await.json();
    assert_eq!(listed[0]["status"], "pending", "{listed}");
    let client = registered(&app, public_client(scope)).await;

    // Redirect URI mismatch and unknown clients: 400, never redirected.
    for query in [
        authorize_query(
            &client,
            scope,
            &[("redirect_uri", "https://evil.example/cb")],
        ),
        authorize_query("no-such-client", scope, &[]),
    ] {
        let response = app
            .request(Method::GET, &query, &[("authorization", "")], Body::empty())
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(response.headers.get("location").is_none());
    }
    // Missing PKCE, a plain challenge, a wrong aud: back to the app with an error.
    for extra in [
        vec![("code_challenge", "")],
        vec![("code_challenge_method", "plain")],
        vec![("aud", "https://other.example/fhir")],
    ] {
        let query = authorize_query(&client, scope, &extra);
        let response = app
            .request(Method::GET, &query, &[("authorization", "")], Body::empty())
            .await;
        assert_eq!(response.status, StatusCode::FOUND, "{query}");
        let location = response.header("location");
        assert!(
            location.starts_with(REDIRECT) && location.contains("error=invalid_request"),
            "{location}"
        );
        assert!(location.contains("state=st-1"));
    }

    // The consent screen: the app, the scopes in words, the patient's own record.
    let request = request_id(&app, &authorize_query(&client, scope, &[])).await;
    let (status, view) = api_call(
        &app,
        Method::GET,
        &format!("/api/smart/requests/{request}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["client"]["name"], "Growth charts");
    assert_eq!(view["patient"]["id"], json!(a));
    assert_eq!(view["launch"], false);
    assert!(
        view["scopes"]
            .as_array()
            .expect("scopes")
            .iter()
            .all(|s| s["description"].is_string())
    );
    // She narrows: no Condition.
    let granted = [
        "launch/patient",
        "openid",
        "fhirUser",
        "offline_access",
        "patient/Patient.r",
        "patient/Observation.rs",
    ];
    let first = approved_code(&app, &alice, &request, &granted).await;
    let (status, _) = api_call(
        &app,
        Method::GET,
        &format!("/api/smart/requests/{request}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a decided request is gone");

    // Wrong verifier, missing verifier, wrong redirect: invalid_grant.
    let (status, answer) = exchange(
        &app,
        &client,
        &first,
        "x-wrong-verifier-0123456789-0123456789-0123456789",
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let second = code(&app, &client, &alice, &granted).await;
    let (status, answer) = exchange(&app, &client, &second, "").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let third = code(&app, &client, &alice, &granted).await;
    let (status, answer) = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &third),
            ("redirect_uri", "https://app.example/other"),
            ("client_id", &client),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // The exchange.
    let fourth = code(&app, &client, &alice, &granted).await;
    let (status, tokens) = exchange(&app, &client, &fourth, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["patient"], json!(a));
    assert!(tokens["refresh_token"].is_string());
    let id_token = claims_of(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id_token["fhirUser"], json!(format!("{BASE}/Patient/{a}")));
    assert_eq!(id_token["aud"], json!(client));
    let access = tokens["access_token"].as_str().expect("access").to_owned();

    // Reads and searches limited by the scopes and the patient context.
    assert_eq!(
        get_as(&app, &access, &format!("/fhir/R4/Patient/{a}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, &access, &format!("/fhir/R4/Patient/{b}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_as(&app, &access, &format!("/fhir/R4/Observation/{bobs}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let mut mine = vec![lab.clone(), vitals.clone()];
    mine.sort();
    let search = get_as(&app, &access, "/fhir/R4/Observation").await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.text());
    assert_eq!(ids(&search.json()), mine);
    let other = get_as(
        &app,
        &access,
        &format!("/fhir/R4/Observation?subject=Patient/{b}"),
    )
    .await;
    assert_eq!(ids(&other.json()), Vec::<String>::new());
    // Condition was narrowed away; her own session still reads it (positive control).
    assert_eq!(
        get_as(&app, &access, "/fhir/R4/Condition").await.status,
        StatusCode::FORBIDDEN
    );
    let own = get_as(&app, &alice, "/fhir/R4/Condition").await;
    assert_eq!(ids(&own.json()).len(), 1, "{}", own.text());
    // An app's token is for the FHIR API only.
    assert_eq!(
        get_as(&app, &access, "/api/auth/me").await.status,
        StatusCode::FORBIDDEN
    );

    // Her access log names the app and what it read.
    let (_, log) = api_call(&app, Method::GET, "/api/consents/access-log", &alice, None).await;
    let through_app: Vec<&Value> = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|entry| entry["app"] == json!(client))
        .collect();
    assert!(
        through_app.iter().any(|entry| entry["resource_ids"]
            .as_array()
            .is_some_and(|ids| ids.contains(&json!(format!("Observation/{lab}"))))),
        "{log}"
    );

    // A granular scope: laboratory Observations only, planned into the search (the
    // unrestricted token above saw both: the positive control).
    let lab_only = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory";
    let granular = code(&app, &client, &alice, &["launch/patient", lab_only]).await;
    let (status, tokens_lab) = exchange(&app, &client, &granular, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens_lab}");
    let lab_token = tokens_lab["access_token"].as_str().expect("access");
    let search = get_as(&app, lab_token, "/fhir/R4/Observation?_total=accurate").await;
    assert_eq!(ids(&search.json()), vec![lab.clone()], "{}", search.text());
    assert_eq!(
        search.json()["total"],
        json!(1),
        "counted in the query, not filtered after"
    );
    assert_eq!(
        get_as(&app, lab_token, &format!("/fhir/R4/Observation/{lab}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, lab_token, &format!("/fhir/R4/Observation/{vitals}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Code reuse: refused, and the tokens it gave are revoked.
    let (status, answer) = exchange(&app, &client, &fourth, VERIFIER).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        get_as(&app, &access, &format!("/fhir/R4/Patient/{a}"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let (status, _) = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", &client),
        ],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the family's refresh token died too"
    );

    // Refresh: rotation, no escalation, reuse detection.
    let fifth = code(&app, &client, &alice, &granted).await;
    let (_, tokens) = exchange(&app, &client, &fifth, VERIFIER).await;
    let old_refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let (status, answer) = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &old_refresh),
            ("client_id", &client),
            ("scope", "patient/Observation.rs patient/Condition.rs"),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, renewed) = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &old_refresh),
            ("client_id", &client),
            ("scope", "patient/Observation.rs offline_access"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(renewed["scope"], "patient/Observation.rs offline_access");
    let renewed_access = renewed["access_token"].as_str().expect("access").to_owned();
    assert_eq!(
        get_as(
            &app,
            &renewed_access,
            &format!("/fhir/R4/Observation/{lab}")
        )
        .await
        .status,
        StatusCode::OK
    );
    // Narrowed: the Patient scope is gone (a read answers as for a missing resource).
    assert_eq!(
        get_as(&app, &renewed_access, &format!("/fhir/R4/Patient/{a}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_as(&app, &renewed_access, "/fhir/R4/Patient")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let (status, answer) = post_form(
        &app,
        "/oauth/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &old_refresh),
            ("client_id", &client),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(
        get_as(
            &app,
            &renewed_access,
            &format!("/fhir/R4/Observation/{lab}")
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );

    // Introspection and revocation.
    let sixth = code(&app, &client, &alice, &granted).await;
    let (_, tokens) = exchange(&app, &client, &sixth, VERIFIER).await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let (status, info) = post_form(
        &app,
        "/oauth/introspect",
        &[("token", &access), ("client_id", &client)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (info["active"].as_bool(), info["patient"].as_str()),
        (Some(true), Some(a.as_str())),
        "{info}"
    );
    let (status, _) = post_form(
        &app,
        "/oauth/revoke",
        &[("token", &access), ("client_id", &client)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, info) = post_form(
        &app,
        "/oauth/introspect",
        &[("token", &access), ("client_id", &client)],
    )
    .await;
    assert_eq!(info["active"], false);
    assert_eq!(
        get_as(&app, &access, &format!("/fhir/R4/Patient/{a}"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let refresh = tokens["refresh_token"].as_str().expect("refresh");
    let (_, info) = post_form(
        &app,
        "/oauth/introspect",
        &[("token", refresh), ("client_id", &client)],
    )
    .await;
    assert_eq!(info["active"], true, "{info}");

    // Settings: the remembered decision, forgotten with its tokens.
    let (status, remembered) =
        api_call(&app, Method::GET, "/api/smart/authorizations", &alice, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(remembered[0]["client_id"], json!(client), "{remembered}");
    assert_eq!(remembered[0]["client_name"], "Growth charts");
    let (status, _) = api_call(
        &app,
        Method::DELETE,
        &format!("/api/smart/authorizations/{client}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, info) = post_form(
        &app,
        "/oauth/introspect",
        &[("token", refresh), ("client_id", &client)],
    )
    .await;
    assert_eq!(info["active"], false, "{info}");
    let (_, remembered) =
        api_call(&app, Method::GET, "/api/smart/authorizations", &alice, None).await;
    assert_eq!(remembered, json!([]));

    // Every token event is in the audit trail, naming the app.
    let records = app
        .get("/api/admin/audit?action=smart-token-reuse")
        .await
        .json();
    assert_eq!(
        records["records"].as_array().map(Vec::len),
        Some(3),
        "{records}"
    );
}

#[tokio::test]
async fn standalone_launch_on_sqlite() {
    standalone_launch(TestApp::new().await).await;
}

#[tokio::test]
async fn standalone_launch_on_postgres() {
    PostgresDatabase::run("the standalone launch", |url| async move {
        standalone_launch(TestApp::on(&SqlOptions::new(&url), Limits::default()).await).await;
    })
    .await;
}

#[tokio::test]
async fn ehr_launch_reaches_a_consented_patient_only() {
    let app = TestApp::new().await;
    let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
    let other_doctor = signed_in(&app.state, "doc2@test.local", Role::Physician).await;
    let (_, me) = api_call(&app, Method::GET, "/api/auth/me", &doctor, None).await;
    let doctor_id = me["id"].as_str().expect("id").to_owned();
    let (alice, a) = patient(&app, "alice@test.local").await;
    let (_bob, b) = patient(&app, "bob@test.local").await;
    let alices = create(&app, observation(&a, "laboratory")).await;
    let bobs = create(&app, observation(&b, "laboratory")).await;
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let (status, _) = api_call(&app, Method::POST, "/api/consents", &alice, Some(&grant)).await;
    assert_eq!(status, StatusCode::CREATED);
    let client = registered(&app, public_client("launch openid fhirUser patient/*.rs")).await;

    let (_, apps) = api_call(&app, Method::GET, "/api/smart/apps", &doctor, None).await;
    assert_eq!(apps[0]["client_id"], json!(client), "{apps}");
    // Not consented: as for any patient he may not read.
    let (status, _) = api_call(
        &app,
        Method::POST,
        "/api/smart/launch",
        &doctor,
        Some(&json!({"client_id": client, "patient_id": b})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, launched) = api_call(
        &app,
        Method::POST,
        "/api/smart/launch",
        &doctor,
        Some(&json!({"client_id": client, "patient_id": a})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{launched}");
    let launch_url = url::Url::parse(launched["launch_url"].as_str().expect("url")).expect("url");
    assert!(
        launch_url
            .as_str()
            .starts_with("https://app.example/launch?")
    );
    let param = |name: &str| {
        launch_url
            .query_pairs()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("iss").as_deref(), Some(BASE));
    let launch = param("launch").expect("launch");

    let scopes = ["launch", "openid", "patient/*.rs"];
    let request = request_id(
        &app,
        &authorize_query(&client, &scopes.join(" "), &[("launch", &launch)]),
    )
    .await;
    let (status, _) = api_call(
        &app,
        Method::GET,
        &format!("/api/smart/requests/{request}"),
        &other_doctor,
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the launch is bound to the physician"
    );
    let (_, view) = api_call(
        &app,
        Method::GET,
        &format!("/api/smart/requests/{request}"),
        &doctor,
        None,
    )
    .await;
    assert_eq!(
        (view["launch"].as_bool(), &view["patient"]["id"]),
        (Some(true), &json!(a)),
        "{view}"
    );
    let launch_code = approved_code(&app, &doctor, &request, &scopes).await;
    let (status, tokens) = exchange(&app, &client, &launch_code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["patient"], json!(a));
    assert_eq!(tokens["need_patient_banner"], true);
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(
        get_as(&app, access, &format!("/fhir/R4/Observation/{alices}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        get_as(&app, access, &format!("/fhir/R4/Observation/{bobs}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ids(&get_as(&app, access, "/fhir/R4/Observation").await.json()),
        vec![alices.clone()]
    );
    // user/ scopes without a launch: the physician's own rights, i.e. his consented patients
    // only (and no patient context at all).
    let user_client = registered(&app, public_client("openid user/Observation.rs")).await;
    let user_code = code(&app, &user_client, &doctor, &["user/Observation.rs"]).await;
    let (status, tokens) = exchange(&app, &user_client, &user_code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens.get("patient").is_none());
    let user_token = tokens["access_token"].as_str().expect("access");
    assert_eq!(
        ids(&get_as(&app, user_token, "/fhir/R4/Observation")
            .await
            .json()),
        vec![alices.clone()]
    );
    assert_eq!(
        get_as(&app, user_token, &format!("/fhir/R4/Observation/{bobs}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get_as(&app, user_token, &format!("/fhir/R4/Patient/{a}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // Positive control: his own session reads Alice's record.
    assert_eq!(
        get_as(&app, &doctor, &format!("/fhir/R4/Patient/{a}"))
            .await
            .status,
        StatusCode::OK
    );
    // An unknown launch is refused at authorization.
    let query = authorize_query(&client, "launch openid", &[("launch", "forged")]);
    let response = app
        .request(Method::GET, &query, &[("authorization", "")], Body::empty())
        .await;
    assert!(
        response
            .header("location")
            .contains("error=invalid_request")
    );
}

/// A Backend Services client's key pair: its public JWK (with `kid`) and a signer of
/// assertions.
fn es384_assertion(private: &josekit::jwk::Jwk, kid: &str, claims: Value) -> String {
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(kid);
    let payload =
        JwtPayload::from_map(claims.as_object().expect("object").clone()).expect("payload");
    let signer = ES384.signer_from_jwk(private).expect("signer");
    jwt::encode_with_signer(&payload, &header, &signer).expect("sign")
}

fn assertion_claims(client: &str, jti: &str, now: i64, exp: i64, aud: &str) -> Value {
    json!({"iss": client, "sub": client, "aud": aud, "exp": now + exp, "jti": jti})
}

#[tokio::test]
async fn backend_services_with_es384_and_rs384_assertions() {
    let app = TestApp::new().await;
    let (_, a) = patient(&app, "alice@test.local").await;
    create(&app, observation(&a, "laboratory")).await;
    let mut private = josekit::jwk::Jwk::generate_ec_key(EcCurve::P384).expect("key");
    private.set_key_id("k1");
    private.set_algorithm("ES384");
    let mut public = private.to_public_key().expect("public");
    public.set_key_id("k1");
    let metadata = json!({
        "client_name": "Nightly export",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [Value::Object(public.as_ref().clone())]},
        "scope": "system/Patient.rs system/Observation.rs",
    });
    let client = registered(&app, metadata).await;
    let now = app.clock.now().unix_timestamp();
    let token = |assertion: String, scope: &'static str| {
        let app = app.clone();
        async move {
            post_form(
                &app,
                "/oauth/token",
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", scope),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
            )
            .await
        }
    };
    let good = es384_assertion(
        &private,
        "k1",
        assertion_claims(&client, "j-1", now, 240, TOKEN_URL),
    );
    let (status, tokens) = token(good.clone(), "system/Patient.rs system/Observation.rs").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens.get("refresh_token").is_none());
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    // Replayed, expired, too long-lived, wrong audience, another key: refused.
    let other = josekit::jwk::Jwk::generate_ec_key(EcCurve::P384).expect("key");
    for (assertion, why) in [
        (good, "replayed jti"),
        (
            es384_assertion(
                &private,
                "k1",
                assertion_claims(&client, "j-2", now, -1, TOKEN_URL),
            ),
            "expired",
        ),
        (
            es384_assertion(
                &private,
                "k1",
                assertion_claims(&client, "j-3", now, 3600, TOKEN_URL),
            ),
            "exp too far",
        ),
        (
            es384_assertion(
                &private,
                "k1",
                assertion_claims(&client, "j-4", now, 240, "https://other.example/token"),
            ),
            "wrong aud",
        ),
        (
            es384_assertion(
                &other,
                "k1",
                assertion_claims(&client, "j-5", now, 240, TOKEN_URL),
            ),
            "wrong key",
        ),
    ] {
        let (status, answer) = token(assertion, "system/Patient.rs").await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{why}"
        );
    }
    // Scopes: system/ ones it registered only.
    let fresh = es384_assertion(
        &private,
        "k1",
        assertion_claims(&client, "j-6", now, 240, TOKEN_URL),
    );
    let (status, answer) = token(fresh, "system/Condition.rs").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );

    // Every patient's data of its types, nothing else; a bulk export kick-off.
    assert_eq!(
        get_as(&app, &access, &format!("/fhir/R4/Patient/{a}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        ids(&get_as(&app, &access, "/fhir/R4/Observation").await.json()).len(),
        1
    );
    assert_eq!(
        get_as(&app, &access, "/fhir/R4/Condition").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get_as(&app, &access, "/api/admin/users").await.status,
        StatusCode::FORBIDDEN
    );
    let bearer = format!("Bearer {access}");
    let kick_off = app
        .request(
            Method::GET,
            "/fhir/R4/$export?_type=Patient,Observation",
            &[
                ("authorization", &bearer),
                ("prefer", "respond-async"),
                ("accept", "application/fhir+json"),
            ],
            Body::empty(),
        )
        .await;
    assert_eq!(kick_off.status, StatusCode::ACCEPTED, "{}", kick_off.text());

    // RS384 works too.
    let rsa = josekit::jwk::Jwk::generate_rsa_key(2048).expect("rsa");
    let mut rsa_public = rsa.to_public_key().expect("public");
    rsa_public.set_key_id("r1");
    let rsa_client = registered(
        &app,
        json!({
            "client_name": "Reports", "grant_types": ["client_credentials"],
            "jwks": {"keys": [Value::Object(rsa_public.as_ref().clone())]},
        }),
    )
    .await;
    let mut header = JwsHeader::new();
    header.set_key_id("r1");
    let claims = assertion_claims(&rsa_client, "r-1", now, 240, TOKEN_URL);
    let payload =
        JwtPayload::from_map(claims.as_object().expect("object").clone()).expect("payload");
    let signed = jwt::encode_with_signer(
        &payload,
        &header,
        &RS384.signer_from_jwk(&rsa).expect("signer"),
    )
    .expect("sign");
    let (status, tokens) = token(signed, "system/*.rs").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");

    // A suspended client's token stops working.
    let suspend = app
        .post(
            &format!("/api/admin/smart/clients/{client}/suspend"),
            &json!({}),
        )
        .await;
    assert_eq!(suspend.status, StatusCode::NO_CONTENT);
    assert_eq!(
        get_as(&app, &access, &format!("/fhir/R4/Patient/{a}"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// A second server on the same database (no admin of its own) sharing `kv`.
async fn second_server(first: &TestApp, options: &SqlOptions, kv: Arc<dyn KeyValue>) -> TestApp {
    let clock: Arc<dyn Clock> = first.clock.clone();
    let ids: Arc<dyn IdGen> = Arc::new(SeqIdGen::new("second"));
    let (store, platform) = open_store_and_platform(options, clock.clone(), ids.clone())
        .await
        .expect("store");
    let mut settings = AuthSettings::for_tests();
    settings.rate = unlimited();
    let state =
        AppState::new(store, platform, kv, ids, clock, Keys::for_tests(), settings).expect("state");
    first.with_state(state)
}

#[tokio::test]
async fn two_servers_sharing_redis_one_authorizes_the_other_exchanges() {
    let Ok(redis_url) = std::env::var("MEDILINK_TEST_REDIS_URL") else {
        return;
    };
    PostgresDatabase::run("two SMART servers", |url| async move {
        let prefix = format!("medilink-test-{}:", uuid::Uuid::new_v4());
        let redis = RedisKeyValue::connect(&redis_url, prefix)
            .await
            .expect("redis");
        let kv: Arc<dyn KeyValue> = Arc::new(redis.clone());
        let options = SqlOptions::new(&url);
        let mut settings = AuthSettings::for_tests();
        settings.rate = unlimited();
        let first = TestApp::build(&options, Limits::default(), settings, Some(kv.clone())).await;
        let second = second_server(&first, &options, kv).await;
        let (alice, a) = patient(&first, "alice@test.local").await;
        let client = registered(
            &first,
            public_client("launch/patient patient/Patient.r offline_access"),
        )
        .await;
        let first_code = code(
            &first,
            &client,
            &alice,
            &["launch/patient", "patient/Patient.r"],
        )
        .await;
        let (status, tokens) = exchange(&second, &client, &first_code, VERIFIER).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let access = tokens["access_token"].as_str().expect("access");
        assert_eq!(
            get_as(&first, access, &format!("/fhir/R4/Patient/{a}"))
                .await
                .status,
            StatusCode::OK
        );
        // The reuse is seen by the first server, and revokes the token on both.
        let (status, _) = exchange(&first, &client, &first_code, VERIFIER).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            get_as(&second, access, &format!("/fhir/R4/Patient/{a}"))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );

        // A refresh token rotated at the first server and reused at the second: the family
        // dies on both (its newest access and refresh tokens included).
        let patient_read = format!("/fhir/R4/Patient/{a}");
        let offline = ["launch/patient", "patient/Patient.r", "offline_access"];
        let fresh = code(&first, &client, &alice, &offline).await;
        let (status, tokens) = exchange(&first, &client, &fresh, VERIFIER).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let refresh = tokens["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
        let refresh_with = |app: &TestApp, token: &str| {
            let app = app.clone();
            let token = token.to_owned();
            let client = client.clone();
            async move {
                post_form(
                    &app,
                    "/oauth/token",
                    &[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", &token),
                        ("client_id", &client),
                    ],
                )
                .await
            }
        };
        let (status, rotated) = refresh_with(&first, &refresh).await;
        assert_eq!(status, StatusCode::OK, "{rotated}");
        let rotated_access = rotated["access_token"].as_str().expect("access").to_owned();
        let rotated_refresh = rotated["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned();
        assert_eq!(
            get_as(&second, &rotated_access, &patient_read).await.status,
            StatusCode::OK
        );
        let (status, answer) = refresh_with(&second, &refresh).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant"))
        );
        assert_eq!(
            get_as(&first, &rotated_access, &patient_read).await.status,
            StatusCode::UNAUTHORIZED
        );
        let (status, _) = refresh_with(&first, &rotated_refresh).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);

        // An access token revoked (RFC 7009) at the first server is refused at the second
        // (which accepted it before: the control).
        let another = code(&first, &client, &alice, &offline).await;
        let (_, tokens) = exchange(&second, &client, &another, VERIFIER).await;
        let access = tokens["access_token"].as_str().expect("access").to_owned();
        assert_eq!(
            get_as(&second, &access, &patient_read).await.status,
            StatusCode::OK
        );
        let (status, _) = post_form(
            &first,
            "/oauth/revoke",
            &[("token", &access), ("client_id", &client)],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            get_as(&second, &access, &patient_read).await.status,
            StatusCode::UNAUTHORIZED
        );
        redis.clear().await.expect("clear");
    })
    .await;
}

const LAB: &str = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory";

/// An Observation of `category` with the LOINC `code` and a numeric value.
fn coded_observation(patient: &str, category: &str, code: &str) -> Value {
    let mut observation = observation(patient, category);
    observation["code"] = json!({"coding": [{"system": "http://loinc.org", "code": code}]});
    observation["valueQuantity"] = json!({"value": 5, "unit": "mmol/L"});
    observation["effectiveDateTime"] = json!("2024-01-01T00:00:00Z");
    observation
}

/// The ids of a Bundle's entries of `resource_type` (sorted).
fn ids_of(bundle: &Value, resource_type: &str) -> Vec<String> {
    let mut ids: Vec<String> = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["resource"]["resourceType"] == json!(resource_type))
        .filter_map(|entry| entry["resource"]["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Issue #17: a granular scope (`patient/Observation.rs?category=laboratory`) is applied
/// wherever an Observation is reached — a chain's target, a `_has` source, includes, `_list`,
/// the compartment, system search, `$everything`, `$lastn`, `$stats`, history — so the app
/// never learns that a vital-signs Observation exists. Each query is also asked with a token
/// whose Observation scope has no category: it finds the vital signs (the positive control).
async fn granular_scope_at_every_hop(app: TestApp) {
    let (alice, a) = patient(&app, "alice@test.local").await;
    let lab = create(&app, coded_observation(&a, "laboratory", "2345-7")).await;
    let vitals = create(&app, coded_observation(&a, "vital-signs", "8867-4")).await;
    let report = |result: &str| {
        json!({"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "panel"},
            "subject": {"reference": format!("Patient/{a}")},
            "result": [{"reference": format!("Observation/{result}")}]})
    };
    let lab_report = create(&app, report(&lab)).await;
    let vitals_report = create(&app, report(&vitals)).await;
    let list = create(
        &app,
        json!({"resourceType": "List", "status": "current", "mode": "working",
            "subject": {"reference": format!("Patient/{a}")},
            "entry": [{"item": {"reference": format!("Observation/{lab}")}},
                      {"item": {"reference": format!("Observation/{vitals}")}}]}),
    )
    .await;

    let common = [
        "launch/patient",
        "patient/Patient.rs",
        "patient/DiagnosticReport.rs",
        "patient/List.rs",
        "user/Subscription.cruds",
    ];
    let client = registered(
        &app,
        public_client(&format!("{} patient/Observation.rs", common.join(" "))),
    )
    .await;
    let token = |observation_scope: &'static str| {
        let app = &app;
        let client = client.clone();
        let alice = alice.clone();
        async move {
            let mut scopes = common.to_vec();
            scopes.push(observation_scope);
            let code = code(app, &client, &alice, &scopes).await;
            let (status, tokens) = exchange(app, &client, &code, VERIFIER).await;
            assert_eq!(status, StatusCode::OK, "{tokens}");
            tokens["access_token"].as_str().expect("access").to_owned()
        }
    };
    let granular_scope = format!("patient/Observation.rs?category={LAB}");
    let granular_scope: &'static str = Box::leak(granular_scope.into_boxed_str());
    let narrow = token(granular_scope).await;
    let wide = token("patient/Observation.rs").await;

    // (query, type of the ids compared, what the narrow token finds, what the wide one does)
    let both = {
        let mut both = vec![lab.clone(), vitals.clone()];
        both.sort();
        both
    };
    let cases: Vec<(String, &str, Vec<String>, Vec<String>)> = vec![
        (
            "/fhir/R4/DiagnosticReport?result.code=http://loinc.org|8867-4".into(),
            "DiagnosticReport",
            vec![],
            vec![vitals_report.clone()],
        ),
        (
            "/fhir/R4/DiagnosticReport?result:Observation.code=2345-7".into(),
            "DiagnosticReport",
            vec![lab_report.clone()],
            vec![lab_report.clone()],
        ),
        (
            "/fhir/R4/Patient?_has:Observation:patient:code=8867-4".into(),
            "Patient",
            vec![],
            vec![a.clone()],
        ),
        (
            format!(
                "/fhir/R4/DiagnosticReport?_id={vitals_report}&_include=DiagnosticReport:result"
            ),
            "Observation",
            vec![],
            vec![vitals.clone()],
        ),
        (
            format!("/fhir/R4/Observation?_list={list}"),
            "Observation",
            vec![lab.clone()],
            both.clone(),
        ),
        (
            format!("/fhir/R4/Patient/{a}/Observation"),
            "Observation",
            vec![lab.clone()],
            both.clone(),
        ),
        (
            "/fhir/R4?_type=Observation".into(),
            "Observation",
            vec![lab.clone()],
            both.clone(),
        ),
        (
            format!("/fhir/R4/Observation/$lastn?patient={a}"),
            "Observation",
            vec![lab.clone()],
            both.clone(),
        ),
        (
            format!("/fhir/R4/Patient/{a}/$everything"),
            "Observation",
            vec![lab.clone()],
            both.clone(),
        ),
        (
            "/fhir/R4/Observation/_history".into(),
            "Observation",
            vec![lab.clone()],
            both.clone(),
        ),
        (
            "/fhir/R4/_history".into(),
            "Observation",
            vec![lab.clone()],
            both.clone(),
        ),
    ];
    for (query, resource_type, narrowed, control) in cases {
        for (token, expected, which) in
            [(&narrow, narrowed, "granular"), (&wide, control, "control")]
        {
            let response = get_as(&app, token, &query).await;
            assert_eq!(
                response.status,
                StatusCode::OK,
                "{which} {query}: {}",
                response.text()
            );
            assert_eq!(
                ids_of(&response.json(), resource_type),
                expected,
                "{which} {query}"
            );
        }
    }
    // Totals count in the query: the chain's total is 0, not a filtered 1.
    let counted = get_as(
        &app,
        &narrow,
        "/fhir/R4/DiagnosticReport?result.code=8867-4&_total=accurate",
    )
    .await;
    assert_eq!(counted.json()["total"], json!(0), "{}", counted.text());
    // `$stats` groups name no vital sign; the control's do.
    let stats = format!(
        "/fhir/R4/Observation/$stats?subject=Patient/{a}&code=8867-4&statistic=count&include=true"
    );
    let narrow_stats = get_as(&app, &narrow, &stats).await;
    let wide_stats = get_as(&app, &wide, &stats).await;
    assert_eq!(
        narrow_stats.status,
        StatusCode::OK,
        "{}",
        narrow_stats.text()
    );
    assert!(
        !narrow_stats.text().contains(&vitals),
        "{}",
        narrow_stats.text()
    );
    assert!(wide_stats.text().contains(&vitals), "{}", wide_stats.text());
    // The version history of the vital sign is hidden like a missing resource.
    let history = format!("/fhir/R4/Observation/{vitals}/_history");
    assert_eq!(
        get_as(&app, &narrow, &history).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get_as(&app, &wide, &history).await.status, StatusCode::OK);

    // Subscriptions the app creates notify with the app's scopes: full-resource and id-only
    // notifications of the granular app's subscriptions never name the new vital sign.
    let (endpoint, inbox) = receiver().await;
    // An app without a Subscription scope may neither create nor list subscriptions.
    let unscoped = {
        let code = code(
            &app,
            &client,
            &alice,
            &["launch/patient", "patient/Observation.rs"],
        )
        .await;
        let (status, tokens) = exchange(&app, &client, &code, VERIFIER).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        format!(
            "Bearer {}",
            tokens["access_token"].as_str().expect("access")
        )
    };
    let refused = app
        .request(
            Method::POST,
            "/fhir/R4/Subscription",
            &[
                ("authorization", &unscoped),
                ("content-type", "application/fhir+json"),
            ],
            Body::from(
                json!({"resourceType": "Subscription", "status": "requested", "reason": "test",
                    "criteria": "https://medilink.example/fhir/SubscriptionTopic/observation",
                    "channel": {"type": "rest-hook", "endpoint": endpoint,
                        "payload": "application/fhir+json"}})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let listed = app
        .request(
            Method::GET,
            "/fhir/R4/Subscription",
            &[("authorization", &unscoped)],
            Body::empty(),
        )
        .await;
    assert_eq!(listed.status, StatusCode::FORBIDDEN, "{}", listed.text());
    let mut subscriptions = Vec::new();
    for (token, content) in [
        (&narrow, "full-resource"),
        (&narrow, "id-only"),
        (&wide, "full-resource"),
    ] {
        let body = json!({
            "resourceType": "Subscription",
            "meta": {"profile": ["http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription"]},
            "status": "requested",
            "reason": "test",
            "criteria": "https://medilink.example/fhir/SubscriptionTopic/observation",
            "channel": {
                "type": "rest-hook",
                "endpoint": endpoint,
                "payload": "application/fhir+json",
                "_payload": {"extension": [{
                    "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content",
                    "valueCode": content}]},
            },
        });
        let bearer = format!("Bearer {token}");
        let response = app
            .request(
                Method::POST,
                "/fhir/R4/Subscription",
                &[
                    ("authorization", &bearer),
                    ("content-type", "application/fhir+json"),
                ],
                Body::from(body.to_string()),
            )
            .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        subscriptions.push(response.json()["id"].as_str().expect("id").to_owned());
    }
    let new_lab = create(&app, coded_observation(&a, "laboratory", "2345-7")).await;
    let new_vitals = create(&app, coded_observation(&a, "vital-signs", "8867-4")).await;
    app.state.subscriptions.dispatch().await.expect("dispatch");
    let posts = inbox.lock().expect("inbox").clone();
    let sent_to = |id: &str| -> String {
        posts
            .iter()
            .filter(|post| post.contains(&format!("Subscription/{id}\"")))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    };
    for narrow_subscription in &subscriptions[..2] {
        let sent = sent_to(narrow_subscription);
        assert!(
            sent.contains(&new_lab),
            "the granular app's own category: {sent}"
        );
        assert!(!sent.contains(&new_vitals), "{sent}");
        assert!(!sent.contains("8867-4"), "{sent}");
    }
    let sent = sent_to(&subscriptions[2]);
    assert!(
        sent.contains(&new_lab) && sent.contains(&new_vitals),
        "{sent}"
    );

    // Revoking the app in Settings stops its subscriptions with its tokens: a later result is
    // notified to none of them (the deliveries above are the positive control).
    let (status, _) = api_call(
        &app,
        Method::DELETE,
        &format!("/api/smart/authorizations/{client}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let after_revocation = create(&app, coded_observation(&a, "laboratory", "2345-7")).await;
    app.state.subscriptions.dispatch().await.expect("dispatch");
    let posts = inbox.lock().expect("inbox").clone();
    let leaked = posts
        .iter()
        .filter(|post| post.contains(&after_revocation))
        .count();
    assert_eq!(leaked, 0, "notifications of a revoked app's subscriptions");
}

/// A rest-hook receiver on 127.0.0.1: its URL and the bodies it got.
async fn receiver() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let inbox: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let state = inbox.clone();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let state = state.clone();
            async move {
                state.lock().expect("inbox").push(body);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, hook).await });
    (format!("http://{address}/hook"), inbox)
}

#[tokio::test]
async fn granular_scope_at_every_hop_on_sqlite() {
    granular_scope_at_every_hop(TestApp::new().await).await;
}

#[tokio::test]
async fn granular_scope_at_every_hop_on_postgres() {
    PostgresDatabase::run("granular scopes at every hop", |url| async move {
        granular_scope_at_every_hop(TestApp::on(&SqlOptions::new(&url), Limits::default()).await)
            .await;
    })
    .await;
}

/// A Backend Services client registered with an ES384 key and approved: its id and key.
async fn backend_client(app: &TestApp, scope: &str) -> (String, josekit::jwk::Jwk) {
    let mut private = josekit::jwk::Jwk::generate_ec_key(EcCurve::P384).expect("key");
    private.set_key_id("k1");
    let mut public = private.to_public_key().expect("public");
    public.set_key_id("k1");
    let metadata = json!({
        "client_name": "Nightly export",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [Value::Object(public.as_ref().clone())]},
        "scope": scope,
    });
    (registered(app, metadata).await, private)
}

/// A client credentials token of `client` for `scope` (assertion `jti`).
async fn backend_token(
    app: &TestApp,
    client: &str,
    private: &josekit::jwk::Jwk,
    jti: &str,
    scope: &str,
) -> String {
    let now = app.clock.now().unix_timestamp();
    let assertion = es384_assertion(
        private,
        "k1",
        assertion_claims(client, jti, now, 240, TOKEN_URL),
    );
    let (status, tokens) = post_form(
        app,
        "/oauth/token",
        &[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["access_token"].as_str().expect("access").to_owned()
}

/// Issue #17: Backend Services bulk export end to end, on a real socket with the server's
/// worker: a `system/*.rs` client's export runs to its manifest, whose files it downloads
/// with its token; a `system/Observation.rs` client's export holds Observation files only
/// (and with a granular laboratory scope, laboratory Observations only); neither client can
/// poll or download the other's export (the owner can: the positive control).
async fn backend_export(options: SqlOptions) {
    use crate::support::socket::SocketWorld;
    use medilink_platform::worker::Step;

    let world =
        SocketWorld::start(&options, medilink_server::state::default_pipeline(), None).await;
    let app = &world.app;
    let lab = create(app, observation(&world.a, "laboratory")).await;
    let vitals = create(app, observation(&world.b, "vital-signs")).await;

    let (everything, everything_key) = backend_client(app, "system/*.rs").await;
    let (observations, observations_key) = backend_client(app, "system/Observation.rs").await;
    let all = backend_token(app, &everything, &everything_key, "e-1", "system/*.rs").await;
    let obs = backend_token(
        app,
        &observations,
        &observations_key,
        "o-1",
        "system/Observation.rs",
    )
    .await;
    let lab_scope = format!("system/Observation.rs?category={LAB}");
    let lab_only = backend_token(app, &observations, &observations_key, "o-2", &lab_scope).await;

    let get = |token: String, url: String| {
        let client = world.client.clone();
        let base = world.base.clone();
        async move {
            let url = if url.starts_with("http") {
                url
            } else {
                format!("{base}{url}")
            };
            let response = client
                .get(url)
                .bearer_auth(token)
                .header("prefer", "respond-async")
                .header("accept", "application/fhir+json")
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("content-location")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            (status, location, response.text().await.expect("body"))
        }
    };
    // Kick-off, one run of the worker, the manifest.
    let export = |token: String| {
        let world = &world;
        async move {
            let (status, location, text) = get(token.clone(), "/fhir/R4/$export".into()).await;
            assert_eq!(status, 202, "{text}");
            let status_url = location.expect("content-location");
            loop {
                match world.worker.run_once().await.expect("queue") {
                    Step::Ran { kind, .. } if kind == medilink_consent::export::KIND => break,
                    Step::Ran { .. } => {}
                    other => panic!("expected an export to run, got {other:?}"),
                }
            }
            let (status, _, manifest) = get(token, status_url.clone()).await;
            assert_eq!(status, 200, "{manifest}");
            let manifest: Value = serde_json::from_str(&manifest).expect("manifest");
            (status_url, manifest)
        }
    };
    // Every file of a manifest, downloaded with `token`: type → ids.
    let files = |token: String, manifest: Value| async move {
        let mut by_type = std::collections::BTreeMap::new();
        for file in manifest["output"].as_array().expect("output") {
            let url = file["url"].as_str().expect("url").to_owned();
            let (status, _, text) = get(token.clone(), url.clone()).await;
            assert_eq!(status, 200, "{url}: {text}");
            let mut ids: Vec<String> = text
                .lines()
                .map(|line| {
                    let resource: Value = serde_json::from_str(line).expect("a JSON line");
                    resource["id"].as_str().expect("id").to_owned()
                })
                .collect();
            ids.sort();
            by_type.insert(file["type"].as_str().expect("type").to_owned(), ids);
        }
        by_type
    };

    let (all_status, all_manifest) = export(all.clone()).await;
    let all_files = files(all.clone(), all_manifest.clone()).await;
    let mut both = vec![lab.clone(), vitals.clone()];
    both.sort();
    assert_eq!(all_files.get("Observation"), Some(&both), "{all_files:?}");
    let mut patients = vec![world.a.clone(), world.b.clone()];
    patients.sort();
    assert_eq!(all_files.get("Patient"), Some(&patients), "{all_files:?}");

    let (obs_status, obs_manifest) = export(obs.clone()).await;
    let obs_files = files(obs.clone(), obs_manifest.clone()).await;
    assert_eq!(
        obs_files.keys().collect::<Vec<_>>(),
        vec!["Observation"],
        "{obs_manifest}"
    );
    assert_eq!(obs_files.get("Observation"), Some(&both));

    let (_, lab_manifest) = export(lab_only.clone()).await;
    let lab_files = files(lab_only.clone(), lab_manifest).await;
    assert_eq!(lab_files.get("Observation"), Some(&vec![lab.clone()]));

    // Another client's token: the status and every file are not found.
    for (token, status_url, manifest) in [
        (&obs, &all_status, &all_manifest),
        (&all, &obs_status, &obs_manifest),
    ] {
        let (status, _, _) = get(token.clone(), status_url.clone()).await;
        assert_eq!(status, 404, "{status_url}");
        for file in manifest["output"].as_array().expect("output") {
            let url = file["url"].as_str().expect("url").to_owned();
            let (status, _, _) = get(token.clone(), url.clone()).await;
            assert_eq!(status, 404, "{url}");
        }
    }
}

#[tokio::test]
async fn backend_services_bulk_export_on_sqlite() {
    backend_export(SqlOptions::new("sqlite::memory:")).await;
}

#[tokio::test]
async fn backend_services_bulk_export_on_postgres() {
    PostgresDatabase::run("Backend Services bulk export", |url| async move {
        backend_export(SqlOptions::new(&url)).await;
    })
    .await;
}

/// The consent screen's view of a request for `user`.
async fn view_of(app: &TestApp, user: &str, request: &str) -> Value {
    let (status, view) = api_call(
        app,
        Method::GET,
        &format!("/api/smart/requests/{request}"),
        user,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    view
}

/// Issue #17: remembered decisions (a superset approved before skips the screen; a narrowed
/// decision is remembered narrowed; revoking it brings the screen back), a physician's
/// standalone launch with a patient picker (consented patients only; a forged choice is
/// refused; the token's patient is the one chosen), and `fhirUser` naming the physician's
/// `Practitioner` in the token response and id_token.
async fn remembered_picker_and_fhir_user(app: TestApp) {
    let (alice, a) = patient(&app, "alice@test.local").await;
    let (_bob, b) = patient(&app, "bob@test.local").await;
    let lab = create(&app, observation(&a, "laboratory")).await;
    let scope = "launch/patient openid fhirUser patient/Patient.rs patient/Observation.rs \
                 patient/Condition.rs";
    let client = registered(&app, public_client(scope)).await;

    // Remembered decisions. First time: the screen, and she narrows (no Condition).
    let asked = [
        "launch/patient",
        "patient/Observation.rs",
        "patient/Condition.rs",
    ];
    let request = request_id(&app, &authorize_query(&client, &asked.join(" "), &[])).await;
    assert_eq!(view_of(&app, &alice, &request).await["remembered"], false);
    approved_code(
        &app,
        &alice,
        &request,
        &["launch/patient", "patient/Observation.rs"],
    )
    .await;
    // Asking for what she approved (or less): remembered, the screen decides at once.
    for scopes in [
        vec!["launch/patient", "patient/Observation.rs"],
        vec!["patient/Observation.rs"],
    ] {
        let request = request_id(&app, &authorize_query(&client, &scopes.join(" "), &[])).await;
        let view = view_of(&app, &alice, &request).await;
        assert_eq!(view["remembered"], true, "{scopes:?}: {view}");
        let code = approved_code(&app, &alice, &request, &scopes).await;
        let (status, tokens) = exchange(&app, &client, &code, VERIFIER).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
    }
    // Narrowed stays narrowed: the scope she took away asks again (and asking less did not
    // shrink what is remembered).
    let request = request_id(&app, &authorize_query(&client, &asked.join(" "), &[])).await;
    assert_eq!(view_of(&app, &alice, &request).await["remembered"], false);
    let (_, remembered) =
        api_call(&app, Method::GET, "/api/smart/authorizations", &alice, None).await;
    assert_eq!(
        remembered[0]["scopes"],
        json!(["launch/patient", "patient/Observation.rs"]),
        "{remembered}"
    );
    // Another user never inherits her decision.
    let (carol, _) = patient(&app, "carol@test.local").await;
    let request = request_id(
        &app,
        &authorize_query(&client, "patient/Observation.rs", &[]),
    )
    .await;
    assert_eq!(view_of(&app, &carol, &request).await["remembered"], false);
    // Revoked in Settings → Connected apps: the screen is back.
    let (status, _) = api_call(
        &app,
        Method::DELETE,
        &format!("/api/smart/authorizations/{client}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let request = request_id(
        &app,
        &authorize_query(&client, "patient/Observation.rs", &[]),
    )
    .await;
    assert_eq!(view_of(&app, &alice, &request).await["remembered"], false);

    // A physician's standalone launch: he picks among the patients who consented to him.
    let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
    let (_, me) = api_call(&app, Method::GET, "/api/auth/me", &doctor, None).await;
    let doctor_id = me["id"].as_str().expect("id").to_owned();
    let grant = json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"});
    let (status, _) = api_call(&app, Method::POST, "/api/consents", &alice, Some(&grant)).await;
    assert_eq!(status, StatusCode::CREATED);
    let scopes = [
        "launch/patient",
        "openid",
        "fhirUser",
        "patient/Patient.rs",
        "patient/Observation.rs",
    ];
    let request = request_id(&app, &authorize_query(&client, &scopes.join(" "), &[])).await;
    let view = view_of(&app, &doctor, &request).await;
    let listed: Vec<&str> = view["patients"]
        .as_array()
        .expect("a picker")
        .iter()
        .filter_map(|patient| patient["id"].as_str())
        .collect();
    assert_eq!(listed, vec![a.as_str()], "{view}");
    assert_eq!(view["remembered"], false);
    let decision = |patient: Option<&str>| {
        let mut body = json!({"approve": true, "scopes": scopes});
        if let Some(patient) = patient {
            body["patient_id"] = json!(patient);
        }
        body
    };
    let uri = format!("/api/smart/requests/{request}/decision");
    // A forged choice (bob did not consent), none at all: refused, and the request lives on.
    let (status, answer) =
        api_call(&app, Method::POST, &uri, &doctor, Some(&decision(Some(&b)))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, answer) = api_call(&app, Method::POST, &uri, &doctor, Some(&decision(None))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    // Alice's own screen has no picker, and may not pick.
    let own = request_id(&app, &authorize_query(&client, &scopes.join(" "), &[])).await;
    assert_eq!(view_of(&app, &alice, &own).await["patients"], Value::Null);
    let (status, _) = api_call(
        &app,
        Method::POST,
        &format!("/api/smart/requests/{own}/decision"),
        &alice,
        Some(&decision(Some(&a))),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, answer) =
        api_call(&app, Method::POST, &uri, &doctor, Some(&decision(Some(&a)))).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let redirect = url::Url::parse(answer["redirect_to"].as_str().expect("to")).expect("url");
    let picked_code = redirect
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .expect("code");
    let (status, tokens) = exchange(&app, &client, &picked_code, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["patient"], json!(a));
    let access = tokens["access_token"].as_str().expect("access");
    assert_eq!(
        ids(&get_as(&app, access, "/fhir/R4/Observation").await.json()),
        vec![lab.clone()]
    );

    // fhirUser: the physician's Practitioner, in the token response and the id_token, and
    // the resource exists.
    let practitioner = format!("{BASE}/Practitioner/{doctor_id}");
    assert_eq!(tokens["fhirUser"], json!(practitioner), "{tokens}");
    let id_token = claims_of(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(id_token["fhirUser"], json!(practitioner), "{id_token}");
    let read = app.get(&format!("/fhir/R4/Practitioner/{doctor_id}")).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    assert_eq!(read.json()["identifier"][0]["value"], json!(doctor_id));
    // A patient's fhirUser is her Patient.
    let mine = code(
        &app,
        &client,
        &alice,
        &["openid", "fhirUser", "patient/Patient.rs"],
    )
    .await;
    let (_, tokens) = exchange(&app, &client, &mine, VERIFIER).await;
    assert_eq!(tokens["fhirUser"], json!(format!("{BASE}/Patient/{a}")));
}

#[tokio::test]
async fn remembered_decisions_patient_picker_and_fhir_user_on_sqlite() {
    remembered_picker_and_fhir_user(TestApp::new().await).await;
}

#[tokio::test]
async fn remembered_decisions_patient_picker_and_fhir_user_on_postgres() {
    PostgresDatabase::run("remembered decisions and the picker", |url| async move {
        remembered_picker_and_fhir_user(
            TestApp::on(&SqlOptions::new(&url), Limits::default()).await,
        )
        .await;
    })
    .await;
}
