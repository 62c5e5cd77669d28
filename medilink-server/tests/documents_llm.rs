//! Issue #6: `serve --extractor llm` reads uploaded documents with the LLM extractor. The
//! server binary runs on a real socket and talks to a fake OpenAI-compatible endpoint in this
//! test (a third-party HTTP API, so a fake is allowed); the uploaded text PDF's results are the
//! ones the fake answers, not the ones the rule-based extractor would read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The `medilink-server` binary.
const BIN: &str = env!("CARGO_BIN_EXE_medilink-server");
const PASSWORD: &str = "correct-horse-battery-staple-91";
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

/// A `serve` process, killed when dropped.
struct Process {
    child: std::process::Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary(data_dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("MEDILINK_") {
            command.env_remove(name);
        }
    }
    command.arg("--data-dir").arg(data_dir);
    command
}

async fn start(data_dir: &std::path::Path, llm_base_url: &str) -> Process {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let log = std::fs::File::create(data_dir.join("server.log")).expect("log file");
    let child = binary(data_dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--argon2-memory-kib", "1024", "--argon2-iterations", "1"])
        .args(["--extractor", "llm", "--llm-provider", "openai"])
        .args(["--llm-base-url", llm_base_url, "--llm-model", "fake-model"])
        .args(["--llm-timeout-secs", "20"])
        .env("MEDILINK_LLM_API_KEY", API_KEY)
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("serve starts");
    let mut process = Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..1200 {
        if let Ok(Some(status)) = process.child.try_wait() {
            let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
            panic!("serve exited early ({status}): {log}");
        }
        let health = reqwest::get(format!("{}/health", process.base)).await;
        if health.is_ok_and(|response| response.status().is_success()) {
            return process;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("serve did not come up");
}

impl Process {
    async fn get(&self, token: &str, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.expect("json")
    }
}

fn multipart(patient: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "medilink-llm-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"patient\"\r\n\r\n{patient}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn serve_with_the_llm_extractor_stores_what_the_model_answered() {
    let (llm_base_url, seen) = fake_openai().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let added = binary(dir.path())
        .args([
            "user",
            "add",
            "--email",
            "p@test.local",
            "--role",
            "patient",
        ])
        .args(["--password", PASSWORD])
        .output()
        .expect("user add runs");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let server = start(dir.path(), &llm_base_url).await;
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({"email": "p@test.local", "password": PASSWORD}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token").to_owned();
    let patient = server.get(&token, "/api/auth/me").await["patient_id"]
        .as_str()
        .expect("patient id")
        .to_owned();

    let pdf = std::fs::read(format!(
        "{}/../medilink-ingest/tests/fixtures/report-text-a-001.pdf",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    let (content_type, body) = multipart(&patient, &pdf);
    let response = client
        .post(format!("{}/api/documents", server.base))
        .bearer_auth(&token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("upload");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.expect("json")["job_id"]
        .as_str()
        .expect("job id")
        .to_owned();
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
    let output = binary(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--extractor", "llm", "--llm-model", "fake-model"])
        .output()
        .expect("serve runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("MEDILINK_LLM_API_KEY"), "{stderr}");
}
