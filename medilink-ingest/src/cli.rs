//! Command-line flags of the ingest pipeline, shared by `medilink-server serve` and
//! `medilink-worker` (feature `cli`): which structured extractor reads documents.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;

use crate::Pipeline;
use crate::extract::{ApiKey, LlmConfig, LlmExtractor, LlmProvider};

/// The structured extractor of the ingest pipeline: rules (offline) or an LLM over HTTP.
#[derive(Debug, Clone, Args)]
pub struct ExtractorArgs {
    /// `rules` (offline) or `llm` (a language model over HTTP; needs a model and a key).
    #[arg(long, env = "MEDILINK_EXTRACTOR", default_value = "rules", value_parser = ["rules", "llm"])]
    pub extractor: String,
    /// `gemini` or `openai` (any OpenAI-compatible chat/completions API).
    #[arg(long, env = "MEDILINK_LLM_PROVIDER", default_value = "gemini", value_parser = ["gemini", "openai"])]
    pub llm_provider: String,
    /// The API's base URL; defaults to the provider's public endpoint.
    #[arg(long, env = "MEDILINK_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// The model name (e.g. `gemini-2.5-flash`, `gpt-4o-mini`).
    #[arg(long, env = "MEDILINK_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// A file holding the API key (alternative to `MEDILINK_LLM_API_KEY`).
    #[arg(
        long,
        env = "MEDILINK_LLM_API_KEY_FILE",
        conflicts_with = "llm_api_key"
    )]
    pub llm_api_key_file: Option<PathBuf>,
    /// The API key (prefer the environment variable or the key file to the flag).
    #[arg(long, env = "MEDILINK_LLM_API_KEY", hide_env_values = true, value_parser = parse_api_key)]
    pub llm_api_key: Option<ApiKey>,
    /// Time allowed for one request to the model, in seconds.
    #[arg(long, env = "MEDILINK_LLM_TIMEOUT_SECS", default_value_t = 60)]
    pub llm_timeout_secs: u64,
}

fn parse_api_key(text: &str) -> Result<ApiKey, std::convert::Infallible> {
    Ok(ApiKey::new(text))
}

/// The validated extractor choice.
#[derive(Debug, Clone)]
pub enum ExtractorConfig {
    /// The offline rule-based extractor.
    Rules,
    /// A language model over HTTP.
    Llm(LlmConfig),
}

impl ExtractorArgs {
    /// Checks the values: `llm` needs a model and a key; the base URL must be http(s).
    pub fn validate(&self) -> anyhow::Result<ExtractorConfig> {
        if self.extractor == "rules" {
            return Ok(ExtractorConfig::Rules);
        }
        let (provider, default_url) = match self.llm_provider.as_str() {
            "gemini" => (
                LlmProvider::Gemini,
                "https://generativelanguage.googleapis.com/v1beta",
            ),
            "openai" => (LlmProvider::OpenAiCompatible, "https://api.openai.com/v1"),
            other => bail!("--llm-provider / MEDILINK_LLM_PROVIDER: unknown provider {other:?}"),
        };
        let base_url = self.llm_base_url.as_deref().unwrap_or(default_url);
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            bail!("--llm-base-url / MEDILINK_LLM_BASE_URL must be an http(s) URL");
        }
        let model = match self.llm_model.as_deref().map(str::trim) {
            Some(model) if !model.is_empty() => model.to_owned(),
            _ => bail!("--extractor llm needs a model: set --llm-model / MEDILINK_LLM_MODEL"),
        };
        let api_key = match (&self.llm_api_key, &self.llm_api_key_file) {
            (Some(key), _) => key.clone(),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!(
                        "--llm-api-key-file / MEDILINK_LLM_API_KEY_FILE: cannot read {}",
                        path.display()
                    )
                })?;
                let key = text.trim();
                if key.is_empty() {
                    bail!(
                        "--llm-api-key-file / MEDILINK_LLM_API_KEY_FILE: {} is empty",
                        path.display()
                    );
                }
                ApiKey::new(key)
            }
            (None, None) => bail!(
                "--extractor llm needs an API key: set MEDILINK_LLM_API_KEY or --llm-api-key-file"
            ),
        };
        if !(1..=600).contains(&self.llm_timeout_secs) {
            bail!("--llm-timeout-secs / MEDILINK_LLM_TIMEOUT_SECS must be between 1 and 600");
        }
        let mut config = LlmConfig::new(provider, base_url, model, api_key);
        config.timeout = std::time::Duration::from_secs(self.llm_timeout_secs);
        Ok(ExtractorConfig::Llm(config))
    }
}

/// The offline default pipeline (PDF text layer, else OCR by `tesseract`; rules), with the LLM
/// extractor in place of the rules when `extractor` says so.
pub fn pipeline(extractor: &ExtractorConfig) -> anyhow::Result<Pipeline> {
    let mut pipeline = Pipeline::offline_default();
    if let ExtractorConfig::Llm(config) = extractor {
        let llm = LlmExtractor::new(config.clone())
            .context("--extractor llm: cannot build the LLM extractor")?;
        pipeline.extractor = Arc::new(llm);
    }
    Ok(pipeline)
}
