//! Issue #24: hostile FHIR bodies answer 4xx with an OperationOutcome, never 5xx, on every
//! body path (create, update, batch and transaction entries, JSON Patch): duplicate keys,
//! nesting 10,000 deep, 400-digit numbers, invalid UTF-8, huge arrays within the body limit.
//! Each case has its positive control (the same body without the defect is accepted); on
//! SQLite and on PostgreSQL when `MEDILINK_TEST_POSTGRES_URL` is set.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use medilink_fhir::SqlOptions;
use medilink_server::Limits;

use crate::support::{PostgresDatabase, TestApp, TestResponse};

const FHIR: (&str, &str) = ("content-type", "application/fhir+json");
const PATCH: (&str, &str) = ("content-type", "application/json-patch+json");

async fn send(app: &TestApp, method: Method, uri: &str, body: impl Into<Vec<u8>>) -> TestResponse {
    let header = if method == Method::PATCH { PATCH } else { FHIR };
    app.request(method, uri, &[header], body.into()).await
}

fn assert_refused(response: &TestResponse, what: &str) {
    assert!(
        response.status.is_client_error(),
        "{what}: {} {}",
        response.status,
        response.text()
    );
    assert_eq!(
        response.json()["resourceType"],
        "OperationOutcome",
        "{what}"
    );
}

/// A transaction (or batch) of one Patient create whose resource text is `patient`.
fn bundle(kind: &str, patient: &str) -> String {
    format!(
        r#"{{"resourceType":"Bundle","type":"{kind}","entry":[{{"fullUrl":"urn:uuid:6f1c3e1e-0000-4000-8000-000000000001","resource":{patient},"request":{{"method":"POST","url":"Patient"}}}}]}}"#
    )
}

const GOOD: &str = r#"{"resourceType":"Patient","gender":"male","birthDate":"1970-01-01"}"#;
const TWICE: &str =
    r#"{"resourceType":"Patient","gender":"male","birthDate":"1970-01-01","gender":"female"}"#;

async fn duplicate_keys_are_refused_on_every_body_path(app: &TestApp) {
    let before = app.versions_written().await;
    // Create.
    send(app, Method::POST, "/fhir/R4/Patient", TWICE)
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "structure");
    let created = send(app, Method::POST, "/fhir/R4/Patient", GOOD).await;
    assert_eq!(created.status, StatusCode::CREATED, "control");
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let uri = format!("/fhir/R4/Patient/{id}");
    // Update.
    let twice = TWICE.replace(
        r#""resourceType":"Patient","#,
        &format!(r#""resourceType":"Patient","id":"{id}","#),
    );
    let refused = send(app, Method::PUT, &uri, twice.clone()).await;
    refused.assert_outcome(StatusCode::BAD_REQUEST, "structure");
    assert!(
        refused.text().contains("duplicate key \\\"gender\\\""),
        "{}",
        refused.text()
    );
    let good = twice.replace(r#","gender":"female""#, "");
    assert_eq!(
        send(app, Method::PUT, &uri, good).await.status,
        StatusCode::OK
    );
    // Transaction and batch entries.
    for kind in ["transaction", "batch"] {
        send(app, Method::POST, "/fhir/R4", bundle(kind, TWICE))
            .await
            .assert_outcome(StatusCode::BAD_REQUEST, "structure");
        let control = send(app, Method::POST, "/fhir/R4", bundle(kind, GOOD)).await;
        assert_eq!(control.status, StatusCode::OK, "{kind}: {}", control.text());
    }
    // JSON Patch: a duplicated key in an operation.
    let patch = r#"[{"op":"replace","path":"/gender","value":"female","value":"other"}]"#;
    send(app, Method::PATCH, &uri, patch)
        .await
        .assert_outcome(StatusCode::BAD_REQUEST, "structure");
    let control = r#"[{"op":"replace","path":"/gender","value":"female"}]"#;
    assert_eq!(
        send(app, Method::PATCH, &uri, control).await.status,
        StatusCode::OK
    );
    // Writes: the create, the update, one per bundle and the patch; nothing refused.
    assert_eq!(app.versions_written().await, before + 5);
    let stored = app.get(&uri).await.json();
    assert_eq!(stored["gender"], "female");
}

async fn hostile_bodies_answer_4xx_never_5xx(app: &TestApp) {
    let patient =
        |extra: &str| format!(r#"{{"resourceType":"Patient","birthDate":"1970-01-01"{extra}}}"#);
    // Nesting 10,000 deep: inside an element, and as the whole body.
    let deep = format!(
        r#","extension":{}{}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_refused(
        &send(app, Method::POST, "/fhir/R4/Patient", patient(&deep)).await,
        "deep array",
    );
    let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    for uri in ["/fhir/R4/Patient", "/fhir/R4"] {
        assert_refused(
            &send(app, Method::POST, uri, deep_objects.clone()).await,
            "deep object",
        );
    }
    // 400-digit numbers: an integer element, a decimal element, and an unknown element.
    let digits = "9".repeat(400);
    let cases = [
        patient(&format!(r#","multipleBirthInteger":{digits}"#)),
        patient(&format!(r#","multipleBirthInteger":-{digits}"#)),
        patient(&format!(r#","unknownNumber":{digits}"#)),
        patient(&format!(r#","multipleBirthInteger":1e{digits}"#)),
    ];
    for body in cases {
        assert_refused(
            &send(app, Method::POST, "/fhir/R4/Patient", body).await,
            "digits",
        );
    }
    let decimal = format!(
        r#"{{"resourceType":"Observation","status":"final","code":{{"text":"x"}},"valueQuantity":{{"value":{digits}.{digits}}}}}"#
    );
    let response = send(app, Method::POST, "/fhir/R4/Observation", decimal).await;
    assert!(!response.status.is_server_error(), "{}", response.text());
    let search = app
        .get(&format!("/fhir/R4/Observation?value-quantity=gt{digits}"))
        .await;
    assert!(!search.status.is_server_error(), "{}", search.text());
    // Invalid UTF-8, in a string and as a key; a lone surrogate escape.
    for body in [
        b"{\"resourceType\":\"Patient\",\"gender\":\"\xff\xfe\"}".to_vec(),
        b"{\"resourceType\":\"Patient\",\"\xc3\x28\":1}".to_vec(),
        br#"{"resourceType":"Patient","gender":"\ud800"}"#.to_vec(),
    ] {
        assert_refused(
            &send(app, Method::POST, "/fhir/R4/Patient", body).await,
            "utf-8",
        );
    }
    // Huge arrays within the body limit (16 MiB): a million numbers, 50,000 names.
    let started = Instant::now();
    let numbers = format!(r#","unknownArray":[{}0]"#, "0,".repeat(1_000_000));
    assert_refused(
        &send(app, Method::POST, "/fhir/R4/Patient", patient(&numbers)).await,
        "numbers",
    );
    let names = format!(
        r#","name":[{}{{"family":"X"}}]"#,
        r#"{"family":"X"},"#.repeat(50_000)
    );
    let response = send(app, Method::POST, "/fhir/R4/Patient", patient(&names)).await;
    assert!(!response.status.is_server_error(), "{}", response.status);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "huge arrays took {:?}",
        started.elapsed()
    );
    // The server still answers.
    let control = send(app, Method::POST, "/fhir/R4/Patient", patient("")).await;
    assert_eq!(control.status, StatusCode::CREATED, "{}", control.text());
}

macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn on_sqlite() {
                let dir = tempfile::tempdir().expect("dir");
                let url = format!("sqlite://{}/medilink.db?mode=rwc", dir.path().display());
                super::$scenario(&super::app_on(&url).await).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                super::PostgresDatabase::run(stringify!($scenario), |url| async move {
                    super::$scenario(&super::app_on(&url).await).await;
                })
                .await;
            }
        }
    };
}

async fn app_on(url: &str) -> TestApp {
    TestApp::on(&SqlOptions::new(url), Limits::default()).await
}

on_both_backends!(duplicate_keys_are_refused_on_every_body_path);
on_both_backends!(hostile_bodies_answer_4xx_never_5xx);
