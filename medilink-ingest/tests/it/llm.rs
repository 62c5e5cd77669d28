//! The LLM extractor against a fake Gemini / OpenAI-compatible server on 127.0.0.1.

use std::time::Duration;

use medilink_ingest::IngestError;
use medilink_ingest::extract::{ApiKey, Extractor, LlmConfig, LlmExtractor, LlmProvider};
use medilink_ingest::text::{DocumentText, TextOrigin};
use serde_json::{Value, json};

use crate::support::fake_http::{FakeHttp, Reply};

fn document() -> DocumentText {
    DocumentText {
        pages: vec!["Collected: 2026-03-14\nHemoglobin  13.5  g/dL  13.0-17.0".into()],
        origin: TextOrigin::TextLayer,
        words: Vec::new(),
    }
}

fn answer() -> Value {
    json!({
        "report_date": "2026-03-14",
        "results": [{
            "name": "Hemoglobin", "value_text": "13.5", "value": 13.5, "comparator": null,
            "unit": "g/dL", "range_low": 13.0, "range_high": 17.0, "range_text": null,
            "flag": null, "confidence": 0.95
        }]
    })
}

fn gemini_envelope(text: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                           "finishReason": "STOP"}]})
}

fn openai_envelope(text: &str) -> Value {
    json!({"id": "x", "object": "chat.completion",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop"}]})
}

fn extractor(provider: LlmProvider, server: &FakeHttp, path: &str) -> LlmExtractor {
    let mut config = LlmConfig::new(
        provider,
        format!("{}{path}", server.base_url),
        "test-model",
        ApiKey::new("test-key"),
    );
    config.timeout = Duration::from_millis(500);
    config.max_retries = 2;
    config.initial_backoff = Duration::from_millis(10);
    config.max_backoff = Duration::from_millis(50);
    LlmExtractor::new(config).expect("extractor")
}

fn stage_error(error: IngestError) -> (String, bool) {
    match error {
        IngestError::Stage {
            stage,
            message,
            retryable,
        } => {
            assert_eq!(stage, "extraction");
            (message, retryable)
        }
        other => panic!("expected a stage error, got {other:?}"),
    }
}

#[tokio::test]
async fn gemini_good_answer() {
    let server = FakeHttp::start(vec![Reply::json(
        200,
        gemini_envelope(&answer().to_string()),
    )])
    .await;
    let report = extractor(LlmProvider::Gemini, &server, "/v1beta")
        .extract(&document())
        .await
        .expect("report");
    assert_eq!(report.report_date.as_deref(), Some("2026-03-14"));
    assert_eq!(report.results.len(), 1);
    assert_eq!(report.results[0].name, "Hemoglobin");
    assert_eq!(report.results[0].value, Some(13.5));
    let requests = server.received();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].request_line,
        "POST /v1beta/models/test-model:generateContent HTTP/1.1"
    );
    assert_eq!(requests[0].header("x-goog-api-key"), Some("test-key"));
    let body: Value = serde_json::from_str(&requests[0].body).expect("json body");
    assert_eq!(
        body.pointer("/generationConfig/responseSchema/type"),
        Some(&json!("OBJECT"))
    );
    assert!(
        body.pointer("/contents/0/parts/0/text")
            .and_then(Value::as_str)
            .is_some_and(|text| text.contains("Hemoglobin"))
    );
}

#[tokio::test]
async fn openai_compatible_good_answer() {
    let server = FakeHttp::start(vec![Reply::json(
        200,
        openai_envelope(&answer().to_string()),
    )])
    .await;
    let report = extractor(LlmProvider::OpenAiCompatible, &server, "/v1")
        .extract(&document())
        .await
        .expect("report");
    assert_eq!(report.results[0].unit.as_deref(), Some("g/dL"));
    let requests = server.received();
    assert_eq!(
        requests[0].request_line,
        "POST /v1/chat/completions HTTP/1.1"
    );
    assert_eq!(requests[0].header("authorization"), Some("Bearer test-key"));
    let body: Value = serde_json::from_str(&requests[0].body).expect("json body");
    assert_eq!(
        body.pointer("/response_format/type"),
        Some(&json!("json_schema"))
    );
}

#[tokio::test]
async fn malformed_json_is_an_error_without_retry() {
    let server = FakeHttp::start(vec![Reply::json(
        200,
        gemini_envelope("{\"results\": [ {\"name\": \"Hemo"),
    )])
    .await;
    let error = extractor(LlmProvider::Gemini, &server, "/v1beta")
        .extract(&document())
        .await
        .expect_err("malformed");
    let (message, retryable) = stage_error(error);
    assert!(message.contains("not valid JSON"), "{message}");
    assert!(!retryable);
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_schema_violation_is_rejected() {
    let bad = json!({"results": [{"name": "Hemoglobin", "value_text": "13.5", "value": "high"}]});
    let server = FakeHttp::start(vec![Reply::json(200, openai_envelope(&bad.to_string()))]).await;
    let error = extractor(LlmProvider::OpenAiCompatible, &server, "/v1")
        .extract(&document())
        .await
        .expect_err("schema violation");
    let (message, retryable) = stage_error(error);
    assert!(message.contains("does not match the schema"), "{message}");
    assert!(message.contains("`value` is not a number"), "{message}");
    // The message names the field, never the document's values.
    assert!(!message.contains("high"), "{message}");
    assert!(!retryable);
}

#[tokio::test]
async fn a_500_then_success_is_retried() {
    let server = FakeHttp::start(vec![
        Reply::json(500, json!({"error": "boom"})),
        Reply::json(503, json!({"error": "busy"})),
        Reply::json(200, gemini_envelope(&answer().to_string())),
    ])
    .await;
    let report = extractor(LlmProvider::Gemini, &server, "/v1beta")
        .extract(&document())
        .await
        .expect("report after retries");
    assert_eq!(report.results.len(), 1);
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn a_429_honours_retry_after() {
    let server = FakeHttp::start(vec![
        Reply::json(429, json!({"error": "slow down"})).header("retry-after", "0"),
        Reply::json(200, openai_envelope(&answer().to_string())),
    ])
    .await;
    let report = extractor(LlmProvider::OpenAiCompatible, &server, "/v1")
        .extract(&document())
        .await
        .expect("report after 429");
    assert_eq!(report.results.len(), 1);
    assert_eq!(server.received().len(), 2);
}

#[tokio::test]
async fn a_4xx_is_not_retried() {
    let server = FakeHttp::start(vec![Reply::json(401, json!({"error": "bad key"}))]).await;
    let error = extractor(LlmProvider::Gemini, &server, "/v1beta")
        .extract(&document())
        .await
        .expect_err("refused");
    let (message, retryable) = stage_error(error);
    assert!(message.contains("401"), "{message}");
    assert!(!retryable);
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn a_timeout_is_retried_then_reported_as_retryable() {
    let slow =
        Reply::json(200, gemini_envelope(&answer().to_string())).delayed(Duration::from_secs(3));
    let server = FakeHttp::start(vec![slow]).await;
    let error = extractor(LlmProvider::Gemini, &server, "/v1beta")
        .extract(&document())
        .await
        .expect_err("timed out");
    let (message, retryable) = stage_error(error);
    assert!(message.contains("did not answer in time"), "{message}");
    assert!(message.contains("after 3 attempts"), "{message}");
    assert!(retryable);
    assert_eq!(server.received().len(), 3);
}

#[tokio::test]
async fn a_timeout_then_success() {
    let server = FakeHttp::start(vec![
        Reply::json(200, json!({})).delayed(Duration::from_secs(3)),
        Reply::json(200, gemini_envelope(&answer().to_string())),
    ])
    .await;
    let report = extractor(LlmProvider::Gemini, &server, "/v1beta")
        .extract(&document())
        .await
        .expect("report after a timeout");
    assert_eq!(report.results.len(), 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retryable() {
    // Bind then drop a listener so the port is closed.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let mut config = LlmConfig::new(
        LlmProvider::Gemini,
        format!("http://127.0.0.1:{port}/v1beta"),
        "m",
        ApiKey::new("k"),
    );
    config.max_retries = 1;
    config.initial_backoff = Duration::from_millis(5);
    let error = LlmExtractor::new(config)
        .expect("extractor")
        .extract(&document())
        .await
        .expect_err("unreachable");
    let (message, retryable) = stage_error(error);
    assert!(message.contains("could not be reached"), "{message}");
    assert!(retryable);
}
