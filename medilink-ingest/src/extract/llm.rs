//! The LLM extractor: a language model reads the report and answers JSON of a fixed schema.
//!
//! Two providers speak the same schema: Gemini (`models/{model}:generateContent` with
//! `responseMimeType: application/json` and a `responseSchema`) and any OpenAI-compatible
//! endpoint (`/chat/completions` with `response_format: json_schema`, strict). The answer is
//! never trusted: [`validate`] rejects shapes that do not match and clamps nonsense (confidence
//! outside 0–1, a low bound above the high one, impossible dates). Every request has a timeout;
//! 429, 5xx, timeouts and connection failures are retried with exponential backoff (honouring
//! `Retry-After`), other 4xx are not. Errors never quote the document or the model's answer.

mod validate;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};

pub use self::validate::validate;
use super::{ExtractedReport, Extractor};
use crate::error::{IngestError, IngestResult};
use crate::text::DocumentText;

/// Which API the extractor talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmProvider {
    /// Google Gemini, `POST {base_url}/models/{model}:generateContent` with `x-goog-api-key`.
    Gemini,
    /// An OpenAI-compatible API, `POST {base_url}/chat/completions` with a bearer token.
    OpenAiCompatible,
}

/// An API key; its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// How to reach the model.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// The API.
    pub provider: LlmProvider,
    /// The API's base URL: `https://generativelanguage.googleapis.com/v1beta` for Gemini,
    /// `https://api.openai.com/v1` (or a compatible server's `/v1`) for OpenAI.
    pub base_url: String,
    /// The model name (`gemini-2.5-flash`, `gpt-4o-mini`).
    pub model: String,
    /// The API key.
    pub api_key: ApiKey,
    /// Time allowed for one request, answer included.
    pub timeout: Duration,
    /// Retries after the first attempt (429, 5xx, timeouts, connection failures only).
    pub max_retries: u32,
    /// The first backoff; doubled on every retry, at most `max_backoff`.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts (also caps `Retry-After`).
    pub max_backoff: Duration,
}

impl LlmConfig {
    /// A configuration with the usual timeouts: 60 s per request, 3 retries from 1 s.
    pub fn new(
        provider: LlmProvider,
        base_url: impl Into<String>,
        model: impl Into<String>,
        api_key: ApiKey,
    ) -> Self {
        LlmConfig {
            provider,
            base_url: base_url.into(),
            model: model.into(),
            api_key,
            timeout: Duration::from_secs(60),
            max_retries: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// Extraction by a language model over HTTP.
#[derive(Debug, Clone)]
pub struct LlmExtractor {
    config: LlmConfig,
    client: reqwest::Client,
}

/// What one attempt came to.
enum Attempt {
    Done(Value),
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

const INSTRUCTIONS: &str = "You read the text of a laboratory report and list every test \
result in it, in document order, exactly as printed. For each result give: name (the test \
name as printed), value_text (the result as printed, e.g. \"13.5\", \"<0.01\", \"Negative\"), \
value (the number, or null when the result is not numeric), comparator (\"<\", \"<=\", \">=\", \
\">\" or null), unit (as printed, or null), range_low and range_high (the reference range \
bounds, or null), range_text (the reference range when it is not a simple low-high, or null), \
flag (as printed: H, L, HH, LL, A, or null) and confidence (0 to 1, how sure you are the line \
was read correctly). Give report_date as YYYY-MM-DD: the specimen collection date if printed, \
otherwise the report date, or null. Never invent results; skip headers, patient details and \
comments.";

impl LlmExtractor {
    /// An extractor for `config`; fails when the base URL is not an http(s) URL.
    pub fn new(config: LlmConfig) -> IngestResult<Self> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(stage_error(
                "the LLM base URL must start with http:// or https://",
                false,
            ));
        }
        if config.model.trim().is_empty() {
            return Err(stage_error("the LLM model name is empty", false));
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|_| stage_error("the HTTP client could not be built", false))?;
        Ok(LlmExtractor { config, client })
    }

    /// The request for `text`: URL and JSON body.
    fn request(&self, text: &str) -> (String, Value) {
        let base = self.config.base_url.trim_end_matches('/');
        match self.config.provider {
            LlmProvider::Gemini => (
                format!("{base}/models/{}:generateContent", self.config.model),
                json!({
                    "systemInstruction": {"parts": [{"text": INSTRUCTIONS}]},
                    "contents": [{"role": "user", "parts": [{"text": text}]}],
                    "generationConfig": {
                        "temperature": 0,
                        "responseMimeType": "application/json",
                        "responseSchema": validate::gemini_schema(),
                    },
                }),
            ),
            LlmProvider::OpenAiCompatible => (
                format!("{base}/chat/completions"),
                json!({
                    "model": self.config.model,
                    "temperature": 0,
                    "messages": [
                        {"role": "system", "content": INSTRUCTIONS},
                        {"role": "user", "content": text},
                    ],
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {
                            "name": "lab_report",
                            "strict": true,
                            "schema": validate::json_schema(),
                        },
                    },
                }),
            ),
        }
    }

    async fn attempt(&self, url: &str, body: &Value) -> IngestResult<Attempt> {
        let request = self.client.post(url).json(body);
        let request = match self.config.provider {
            LlmProvider::Gemini => request.header("x-goog-api-key", self.config.api_key.expose()),
            LlmProvider::OpenAiCompatible => request.bearer_auth(self.config.api_key.expose()),
        };
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Ok(transport_failure(&error)),
        };
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return Ok(Attempt::Retry {
                reason: format!("the LLM endpoint answered {}", status.as_u16()),
                retry_after,
            });
        }
        if !status.is_success() {
            return Err(stage_error(
                &format!(
                    "the LLM endpoint refused the request ({}); check the model, key and URL",
                    status.as_u16()
                ),
                false,
            ));
        }
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return Ok(transport_failure(&error)),
        };
        let envelope: Value = serde_json::from_slice(&bytes)
            .map_err(|_| stage_error("the LLM endpoint's answer is not JSON", false))?;
        Ok(Attempt::Done(envelope))
    }

    /// The model's JSON text out of the provider's envelope.
    fn answer_text(&self, envelope: &Value) -> IngestResult<String> {
        let text = match self.config.provider {
            LlmProvider::Gemini => envelope
                .pointer("/candidates/0/content/parts")
                .and_then(Value::as_array)
                .map(|parts| {
                    parts
                        .iter()
                        .filter_map(|part| part.get("text").and_then(Value::as_str))
                        .collect::<String>()
                }),
            LlmProvider::OpenAiCompatible => envelope
                .pointer("/choices/0/message/content")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
        text.filter(|text| !text.trim().is_empty()).ok_or_else(|| {
            stage_error(
                "the LLM endpoint's answer has no content (refused or blocked)",
                false,
            )
        })
    }

    fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .config
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry));
        retry_after
            .unwrap_or(exponential)
            .min(self.config.max_backoff)
    }
}

fn transport_failure(error: &reqwest::Error) -> Attempt {
    let reason = if error.is_timeout() {
        "the LLM endpoint did not answer in time"
    } else if error.is_connect() {
        "the LLM endpoint could not be reached"
    } else {
        "the connection to the LLM endpoint failed"
    };
    Attempt::Retry {
        reason: reason.to_owned(),
        retry_after: None,
    }
}

fn stage_error(message: &str, retryable: bool) -> IngestError {
    IngestError::Stage {
        stage: "extraction",
        message: message.to_owned(),
        retryable,
    }
}

#[async_trait]
impl Extractor for LlmExtractor {
    async fn extract(&self, text: &DocumentText) -> IngestResult<ExtractedReport> {
        let document = text.pages.join("\n\n");
        let (url, body) = self.request(&document);
        let mut retry = 0;
        let envelope = loop {
            match self.attempt(&url, &body).await? {
                Attempt::Done(envelope) => break envelope,
                Attempt::Retry {
                    reason,
                    retry_after,
                } => {
                    if retry >= self.config.max_retries {
                        return Err(stage_error(
                            &format!("{reason} (after {} attempts)", retry + 1),
                            true,
                        ));
                    }
                    tracing::warn!(attempt = retry + 1, %reason, "LLM extraction retrying");
                    tokio::time::sleep(self.backoff(retry, retry_after)).await;
                    retry += 1;
                }
            }
        };
        let answer = self.answer_text(&envelope)?;
        let answer: Value = serde_json::from_str(answer.trim())
            .map_err(|_| stage_error("the model's answer is not valid JSON", false))?;
        validate(&answer).map_err(|problem| {
            stage_error(
                &format!("the model's answer does not match the schema: {problem}"),
                false,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(provider: LlmProvider) -> LlmConfig {
        LlmConfig::new(
            provider,
            "http://127.0.0.1:9/v1/",
            "m",
            ApiKey::new("secret"),
        )
    }

    #[test]
    fn requests_follow_each_providers_shape() {
        let gemini = LlmExtractor::new(config(LlmProvider::Gemini)).expect("extractor");
        let (url, body) = gemini.request("Hemoglobin 13.5 g/dL");
        assert_eq!(url, "http://127.0.0.1:9/v1/models/m:generateContent");
        assert_eq!(
            body.pointer("/generationConfig/responseMimeType"),
            Some(&json!("application/json"))
        );
        assert_eq!(
            body.pointer("/contents/0/parts/0/text"),
            Some(&json!("Hemoglobin 13.5 g/dL"))
        );
        let openai = LlmExtractor::new(config(LlmProvider::OpenAiCompatible)).expect("extractor");
        let (url, body) = openai.request("x");
        assert_eq!(url, "http://127.0.0.1:9/v1/chat/completions");
        assert_eq!(
            body.pointer("/response_format/json_schema/strict"),
            Some(&json!(true))
        );
        assert_eq!(body.pointer("/model"), Some(&json!("m")));
    }

    #[test]
    fn the_key_is_redacted_and_bad_urls_are_refused() {
        let shown = format!("{:?}", config(LlmProvider::Gemini));
        assert!(!shown.contains("secret"), "{shown}");
        let mut bad = config(LlmProvider::Gemini);
        bad.base_url = "ftp://example".into();
        assert!(LlmExtractor::new(bad).is_err());
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut config = config(LlmProvider::Gemini);
        config.initial_backoff = Duration::from_millis(100);
        config.max_backoff = Duration::from_millis(350);
        let extractor = LlmExtractor::new(config).expect("extractor");
        assert_eq!(extractor.backoff(0, None), Duration::from_millis(100));
        assert_eq!(extractor.backoff(1, None), Duration::from_millis(200));
        assert_eq!(extractor.backoff(2, None), Duration::from_millis(350));
        assert_eq!(
            extractor.backoff(0, Some(Duration::from_secs(60))),
            Duration::from_millis(350)
        );
    }
}
