//! Issue #6: `serve --extractor llm` reads uploaded documents with the LLM extractor. The
//! server binary runs on a real socket and talks to a fake OpenAI-compatible endpoint in this
//! test (a third-party HTTP API, so a fake is allowed); the uploaded text PDF's results are the
//! ones the fake answers, not the ones the rule-based extractor would read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};

use crate::support::PASSWORD;
use crate::support::process::{Server, command, describe, free_port, user_add};

const API_KEY: &str = "sk-test-llm-4711";

/// What the fake endpoint saw: the `authorization` header and the JSON body of each request.
type Seen = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// The structured answer of the fake model: values that differ from the PDF's own.
fn answer() -> Value {
    json!({
        "report_date": "2025-09-16",
        "results": [
            {"name": "Lactate", "value_text": "2.7", "value": 2.7, "comparator": null,
             "unit": "mmol/L", "range_low": 0.5, "range_high": 2.2, "range_text": null,
             "flag": "H", "confidence": 0.99},
            {"name": "Ammonia", "value_text": "31", "value": 31.0, "comparator": null,
             "unit": "umol/L", "range_low": 15.0, "range_high": 45.0, "range_text": null,
             "flag": null, "confidence": 0.99}
        ]
    })
}

async fn chat_completions(
    State(seen): State<Seen>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> axum::Json<Value> {
    let authorization = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    seen.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((authorization, body.0));
    axum::Json(json!({
        "id": "chatcmpl-test", "object": "chat.completion", "model": "fake-model",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": answer().to_string()}}]
    }))
}

/// Starts the fake OpenAI-compatible API; its base URL (`…/v1`) and what it saw.
async fn fake_openai() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let router = axum::Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{address}/v1"), seen)
}

/// `serve --extractor llm` against the fake endpoint at `llm_base_url`, with the key in the
/// environment.
async fn start(data_dir: &std::path::Path, llm_base_url: &str) -> Server {
    Server::start_with(data_dir, free_port(), |command| {
        command
            .args(["--extractor", "llm", "--llm-provider", "openai"])
            .args(["--llm-base-url", llm_base_url, "--llm-model", "fake-model"])
            .args(["--llm-timeout-secs", "20"])
            .env("MEDILINK_LLM_API_KEY", API_KEY);
    })
    .await
}

#[tokio::test]
async fn serve_with_the_llm_extractor_stores_what_the_model_answered() {
    let (llm_base_url, seen) = fake_openai().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let added = user_add(dir.path(), "p@test.local", PASSWORD, "patient");
    assert!(added.status.success(), "{}", describe(&added));
    let server = start(dir.path(), &llm_base_url).await;
    let token = server.token("p@test.local", PASSWORD).await;
    let patient = server.get(&token, "/api/auth/me").await["patient_id"]
        .as_str()
        .expect("patient id")
        .to_owned();

    let pdf = std::fs::read(format!(
        "{}/../medilink-ingest/tests/fixtures/report-text-a-001.pdf",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let id = server.upload(&token, &patient, &pdf).await;
    let mut job = Value::Null;
    for _ in 0..600 {
        job = server
            .get(&token, &format!("/api/documents/jobs/{id}"))
            .await;
        if ["completed", "needs_review", "failed"].contains(&job["status"].as_str().unwrap_or("")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["counts"]["observations"], 2, "{job}");

    // The model was asked once, with the key and the PDF's text layer.
    let requests = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert_eq!(requests.len(), 1);
    let (authorization, request) = &requests[0];
    assert_eq!(
        authorization.as_deref(),
        Some(&*format!("Bearer {API_KEY}"))
    );
    assert_eq!(request["model"], "fake-model");
    let text = request["messages"][1]["content"].as_str().expect("text");
    assert!(text.contains("Cystatin"), "the PDF text is sent");

    // The Observations are the model's: two of them, with its values (the PDF says 2.0).
    let path = format!("/fhir/R4/Observation?patient={patient}&_total=accurate");
    assert_eq!(server.get(&token, &path).await["total"], 2);
    let path = format!("/fhir/R4/Observation?patient={patient}&code=http://loinc.org|2524-7");
    let bundle = server.get(&token, &path).await;
    assert_eq!(bundle["total"], 1, "{bundle}");
    let observation = &bundle["entry"][0]["resource"];
    assert_eq!(
        observation["valueQuantity"]["value"].as_f64(),
        Some(2.7),
        "{observation}"
    );
    // The key never reaches the log.
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(!log.contains(API_KEY));
}

#[tokio::test]
async fn serve_with_the_llm_extractor_and_no_key_refuses_to_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = command(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--extractor", "llm", "--llm-model", "fake-model"])
        .output()
        .expect("serve runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MEDILINK_LLM_API_KEY"), "{stderr}");
}
