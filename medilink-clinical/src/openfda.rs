//! An optional online source: interactions read from FDA drug labels through openFDA
//! (`GET {base}/drug/label.json?search=openfda.generic_name:"<name>"&limit=1`).
//!
//! For a pair, the label of each ingredient is fetched and its `drug_interactions` section
//! searched for the other ingredient's name. The sentences that name it decide the severity:
//! "contraindicated" / "do not use" → contraindicated, "avoid" → serious, otherwise moderate.
//! Labels are cached by ingredient name through a [`KeyValue`] store: a label for 7 days, a
//! label that does not exist (404 or no result) for 1 day. Timeouts, unexpected statuses,
//! invalid JSON and bodies over 4 MB are [`ClinicalError`]s, never panics; put this source
//! after [`crate::OfflineSource`] in a [`crate::Checker`] so the base still answers when
//! openFDA does not.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::Clock;
use medilink_fhir::kv::KeyValue;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::check::InteractionSource;
use crate::drug::{Ingredient, ResolvedDrug, normalise};
use crate::error::ClinicalError;
use crate::rules::{InteractionRule, Severity};

const ORIGIN: &str = "openfda";
/// The largest label answer read.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// How long a label stays cached.
pub const LABEL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long "no label" stays cached.
pub const MISS_TTL: Duration = Duration::from_secs(24 * 3600);

/// A cached label: its set id and interactions section, or that there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CachedLabel {
    set_id: Option<String>,
    interactions: Option<String>,
    /// When it was fetched (Unix seconds, from the clock).
    fetched_at: i64,
}

/// Interactions from openFDA drug labels, cached.
#[derive(Debug)]
pub struct OpenFdaSource {
    base_url: Url,
    cache: Arc<dyn KeyValue>,
    clock: Arc<dyn Clock>,
    timeout: Duration,
    client: reqwest::Client,
}

impl OpenFdaSource {
    /// A source over `base_url` (`https://api.fda.gov/`), each request limited to `timeout`.
    pub fn new(
        base_url: Url,
        cache: Arc<dyn KeyValue>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
    ) -> OpenFdaSource {
        OpenFdaSource {
            base_url,
            cache,
            clock,
            timeout,
            client: reqwest::Client::new(),
        }
    }

    fn label_url(&self, generic: &str) -> Result<Url, ClinicalError> {
        let mut base = self.base_url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut url = base
            .join("drug/label.json")
            .map_err(|_| ClinicalError::Invalid {
                reason: "the openfda base url cannot be joined",
            })?;
        url.query_pairs_mut()
            .append_pair("search", &format!("openfda.generic_name:\"{generic}\""))
            .append_pair("limit", "1");
        Ok(url)
    }

    /// The label of an ingredient, from the cache or openFDA.
    async fn label(&self, generic: &str) -> Result<CachedLabel, ClinicalError> {
        let key = format!("clinical:openfda:label:{generic}");
        if let Some(bytes) = self.cache.get(&key).await.map_err(ClinicalError::Cache)?
            && let Ok(label) = serde_json::from_slice::<CachedLabel>(&bytes)
        {
            return Ok(label);
        }
        let url = self.label_url(generic)?;
        let label = tokio::time::timeout(self.timeout, self.fetch(url))
            .await
            .map_err(|_| ClinicalError::Timeout { origin: ORIGIN })??;
        let ttl = if label.set_id.is_some() || label.interactions.is_some() {
            LABEL_TTL
        } else {
            MISS_TTL
        };
        let bytes = serde_json::to_vec(&label).map_err(|error| ClinicalError::InvalidAnswer {
            origin: ORIGIN,
            cause: Box::new(error),
        })?;
        self.cache
            .set(&key, &bytes, ttl)
            .await
            .map_err(ClinicalError::Cache)?;
        Ok(label)
    }

    async fn fetch(&self, url: Url) -> Result<CachedLabel, ClinicalError> {
        let fetched_at = self.clock.now().unix_timestamp();
        let mut response = self.client.get(url).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if status == 404 {
            return Ok(CachedLabel {
                set_id: None,
                interactions: None,
                fetched_at,
            });
        }
        if status != 200 {
            return Err(ClinicalError::Status {
                origin: ORIGIN,
                status,
            });
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_BODY as u64)
        {
            return Err(ClinicalError::TooLarge {
                origin: ORIGIN,
                limit: MAX_BODY,
            });
        }
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(ClinicalError::TooLarge {
                    origin: ORIGIN,
                    limit: MAX_BODY,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let json: Value =
            serde_json::from_slice(&body).map_err(|error| ClinicalError::InvalidAnswer {
                origin: ORIGIN,
                cause: Box::new(error),
            })?;
        let Some(results) = json.get("results").and_then(Value::as_array) else {
            return Err(ClinicalError::InvalidAnswer {
                origin: ORIGIN,
                cause: "no results array".into(),
            });
        };
        let first = results.first();
        let set_id = first
            .and_then(|label| label.get("set_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let interactions = first
            .and_then(|label| label.get("drug_interactions"))
            .and_then(Value::as_array)
            .map(|sections| {
                sections
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        Ok(CachedLabel {
            set_id,
            interactions,
            fetched_at,
        })
    }

    /// The rule the label of `labelled` states about `other`, if its interactions section
    /// names it.
    async fn rule(
        &self,
        labelled: &Ingredient,
        other: &Ingredient,
    ) -> Result<Option<InteractionRule>, ClinicalError> {
        let label = self.label(&labelled.name).await?;
        let Some(text) = label.interactions.as_deref() else {
            return Ok(None);
        };
        let needle = format!(" {} ", normalise(&other.name));
        let sentences: Vec<&str> = text
            .split(['.', ';', '\n'])
            .filter(|sentence| format!(" {} ", normalise(sentence)).contains(&needle))
            .collect();
        if sentences.is_empty() {
            return Ok(None);
        }
        let said = sentences.join(". ").to_lowercase();
        let severity = if said.contains("contraindicated") || said.contains("do not use") {
            Severity::Contraindicated
        } else if said.contains("avoid") {
            Severity::Serious
        } else {
            Severity::Moderate
        };
        let set_id = label.set_id.unwrap_or_else(|| "unknown".to_owned());
        let summary: String = sentences[0].trim().chars().take(300).collect();
        Ok(Some(InteractionRule {
            id: format!("openfda:{set_id}:{}", other.name),
            a: vec![labelled.name.clone()],
            b: vec![other.name.clone()],
            severity,
            summary,
            mechanism: None,
            recommendation: None,
            source: format!("FDA drug label (openFDA), set id {set_id}"),
        }))
    }
}

fn transport(error: reqwest::Error) -> ClinicalError {
    if error.is_timeout() {
        ClinicalError::Timeout { origin: ORIGIN }
    } else {
        ClinicalError::Unreachable {
            origin: ORIGIN,
            cause: Box::new(error),
        }
    }
}

#[async_trait]
impl InteractionSource for OpenFdaSource {
    fn name(&self) -> &'static str {
        ORIGIN
    }

    async fn interactions(
        &self,
        a: &ResolvedDrug,
        b: &ResolvedDrug,
    ) -> Result<Vec<InteractionRule>, ClinicalError> {
        let mut rules: Vec<InteractionRule> = Vec::new();
        for x in &a.ingredients {
            for y in &b.ingredients {
                let kb = crate::KnowledgeBase::offline();
                if x.name == y.name || kb.is_class(&x.name) || kb.is_class(&y.name) {
                    continue;
                }
                let found = match self.rule(x, y).await? {
                    Some(rule) => Some(rule),
                    None => self.rule(y, x).await?,
                };
                rules.extend(found);
            }
        }
        Ok(rules)
    }
}
