//! Issue #16: registration asks a patient for given and family names, birth date, gender and
//! an optional phone, and their `Patient` is a proper, valid R4 Patient that a consented
//! physician finds by family name, birth date and gender; the patient reads and corrects
//! these in `/api/account/demographics` (a new, audited version through the consent guard,
//! the account's name following); other roles get `403`.

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_platform::Role;
use medilink_server::Limits;
use serde_json::{Value, json};

use crate::support::{PASSWORD, PostgresDatabase, TestApp, api_call, signed_in};

fn registration(email: &str) -> Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "role": "patient",
        "given": ["Ada", " Maria "],
        "family": "Quillfeather",
        "birth_date": "1985-12-10",
        "gender": "female",
        "phone": "+1 555 0100"
    })
}

/// Registration without each required field, or with a bad one, is a `400` naming it.
async fn registration_names_the_missing_field(app: &TestApp) {
    let cases = [
        ("given", json!([" "]), "required"),
        ("family", Value::Null, "required"),
        ("birth_date", Value::Null, "required"),
        ("birth_date", json!("10.12.1985"), "value"),
        ("birth_date", json!("2024-01-02"), "value"),
        ("birth_date", json!("1899-12-31"), "value"),
        ("gender", json!("robot"), "value"),
        ("phone", json!("call me maybe"), "value"),
    ];
    for (field, value, code) in cases {
        let mut body = registration("bad@test.local");
        body[field] = value.clone();
        let (status, outcome) =
            api_call(app, Method::POST, "/api/auth/register", "", Some(&body)).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{field}={value}: {outcome}"
        );
        assert_eq!(outcome["resourceType"], "OperationOutcome");
        assert_eq!(outcome["issue"][0]["code"], code, "{field}: {outcome}");
        assert_eq!(outcome["issue"][0]["expression"][0], field, "{outcome}");
    }
    // Nothing was created by the refusals.
    let valid = registration("bad@test.local");
    let (status, body) = api_call(app, Method::POST, "/api/auth/register", "", Some(&valid)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Physicians still register with a name and no demographics.
    let physician = json!({"email": "newdoc@test.local", "password": PASSWORD,
                           "role": "physician", "name": "Dr Newcomer"});
    let (status, body) = api_call(
        app,
        Method::POST,
        "/api/auth/register",
        "",
        Some(&physician),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn login(app: &TestApp, email: &str) -> String {
    let body = json!({"email": email, "password": PASSWORD});
    let (status, tokens) = api_call(app, Method::POST, "/api/auth/login", "", Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["access_token"].as_str().expect("token").to_owned()
}

async fn ok(app: &TestApp, token: &str, method: Method, uri: &str, body: Option<&Value>) -> Value {
    let (status, json) = api_call(app, method, uri, token, body).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {json}");
    json
}

/// The ids of the Patients a search as `token` returns.
async fn found(app: &TestApp, token: &str, query: &str) -> Vec<String> {
    let bundle = ok(
        app,
        token,
        Method::GET,
        &format!("/fhir/R4/Patient?{query}"),
        None,
    )
    .await;
    bundle["entry"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e["resource"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn registered_patient_is_a_proper_patient(app: TestApp) {
    registration_names_the_missing_field(&app).await;
    let body = registration("ada@test.local");
    let (status, view) = api_call(&app, Method::POST, "/api/auth/register", "", Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["name"], "Ada Maria Quillfeather", "{view}");
    let patient_id = view["patient_id"].as_str().expect("patient id").to_owned();
    let patient_token = login(&app, "ada@test.local").await;

    // A proper R4 Patient, valid against the StructureDefinitions.
    let uri = format!("/fhir/R4/Patient/{patient_id}");
    let patient = ok(&app, &app.token, Method::GET, &uri, None).await;
    assert_eq!(
        patient["name"],
        json!([{"use": "official", "family": "Quillfeather", "given": ["Ada", "Maria"],
                "text": "Ada Maria Quillfeather"}])
    );
    assert_eq!(patient["birthDate"], "1985-12-10");
    assert_eq!(patient["gender"], "female");
    assert_eq!(
        patient["telecom"],
        json!([{"system": "phone", "value": "+1 555 0100", "use": "mobile"}])
    );
    assert_eq!(medilink_fhir::validate::check(&patient), vec![]);

    // A physician with the patient's consent finds them by family name, birth date, gender.
    let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
    let doctor_id = ok(&app, &doctor, Method::GET, "/api/auth/me", None).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let grant = json!({"grantee": doctor_id, "scope": ["*"]});
    let (status, body) = api_call(
        &app,
        Method::POST,
        "/api/consents",
        &patient_token,
        Some(&grant),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["grantee_name"], "Test Physician", "{body}");
    for query in [
        "family=Quillfeather",
        "birthdate=1985-12-10",
        "gender=female&family=quill",
        "given=Maria&birthdate=1985",
    ] {
        assert_eq!(
            found(&app, &doctor, query).await,
            vec![patient_id.clone()],
            "{query}"
        );
    }
    assert!(
        found(&app, &doctor, "family=Quillfeather&gender=male")
            .await
            .is_empty()
    );

    // The patient reads their demographics; other roles are refused.
    let demographics = ok(
        &app,
        &patient_token,
        Method::GET,
        "/api/account/demographics",
        None,
    )
    .await;
    assert_eq!(
        demographics,
        json!({"given": ["Ada", "Maria"], "family": "Quillfeather", "birth_date": "1985-12-10",
               "gender": "female", "phone": "+1 555 0100"})
    );
    for token in [&doctor, &app.token] {
        for method in [Method::GET, Method::PUT] {
            let (status, body) = api_call(
                &app,
                method,
                "/api/account/demographics",
                token,
                Some(&demographics),
            )
            .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
            assert_eq!(body["issue"][0]["code"], "forbidden", "{body}");
        }
    }

    // A correction: refused naming the field when bad, else a new version.
    let mut bad = demographics.clone();
    bad["birth_date"] = json!("2030-01-01");
    let (status, body) = api_call(
        &app,
        Method::PUT,
        "/api/account/demographics",
        &patient_token,
        Some(&bad),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["issue"][0]["expression"][0], "birth_date", "{body}");
    let corrected = json!({"given": ["Ada"], "family": "Inkwell", "birth_date": "1985-12-11",
                           "gender": "other", "phone": null});
    let stored = ok(
        &app,
        &patient_token,
        Method::PUT,
        "/api/account/demographics",
        Some(&corrected),
    )
    .await;
    assert_eq!(stored, corrected);
    let patient = ok(&app, &app.token, Method::GET, &uri, None).await;
    assert_eq!(patient["meta"]["versionId"], "2", "{patient}");
    assert_eq!(
        patient["active"], true,
        "other elements are kept: {patient}"
    );
    assert_eq!(patient["name"][0]["text"], "Ada Inkwell");
    assert!(patient.get("telecom").is_none(), "{patient}");
    assert_eq!(medilink_fhir::validate::check(&patient), vec![]);
    let history = ok(
        &app,
        &app.token,
        Method::GET,
        &format!("{uri}/_history"),
        None,
    )
    .await;
    assert_eq!(history["total"], 2, "{history}");
    let me = ok(&app, &patient_token, Method::GET, "/api/auth/me", None).await;
    assert_eq!(
        me["name"], "Ada Inkwell",
        "the account's name follows: {me}"
    );
    assert_eq!(
        found(
            &app,
            &doctor,
            "family=Inkwell&birthdate=1985-12-11&gender=other"
        )
        .await,
        vec![patient_id.clone()]
    );
    assert!(found(&app, &doctor, "family=Quillfeather").await.is_empty());

    // The correction is audited as an update of the patient's own record.
    let audit = app
        .get(&format!(
            "/api/admin/audit?patient={patient_id}&action=update"
        ))
        .await;
    assert_eq!(audit.status, StatusCode::OK, "{}", audit.text());
    let records = audit.json()["records"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["role"], "patient", "{records:?}");
    assert!(
        records[0]["resource_ids"]
            .to_string()
            .contains(&format!("Patient/{patient_id}")),
        "{records:?}"
    );
}

#[tokio::test]
async fn registered_patient_is_a_proper_patient_on_sqlite() {
    registered_patient_is_a_proper_patient(TestApp::new().await).await;
}

#[tokio::test]
async fn registered_patient_is_a_proper_patient_on_postgres() {
    PostgresDatabase::run("the demographics test", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        registered_patient_is_a_proper_patient(app).await;
    })
    .await;
}
