//! [`HookSender`]: the seam through which rest-hook notifications leave (the HTTP POST), and
//! [`HttpHookSender`], its `reqwest` implementation. Errors name the status or the kind of
//! transport failure only, never the body.

use std::fmt::Debug;
use std::time::Duration;

use async_trait::async_trait;

/// Posts notification Bundles.
#[async_trait]
pub trait HookSender: Send + Sync + Debug {
    /// POSTs `body` (a notification Bundle, `application/fhir+json`) to `endpoint` with
    /// `headers`, within `timeout`; `Err` with a short reason unless the answer is a `2xx`.
    async fn post(
        &self,
        endpoint: &str,
        headers: &[(String, String)],
        body: String,
        timeout: Duration,
    ) -> Result<(), String>;
}

/// [`HookSender`] over HTTP (no redirects followed: a redirect is a failure).
#[derive(Debug, Clone)]
pub struct HttpHookSender {
    client: reqwest::Client,
}

impl HttpHookSender {
    /// A sender with its own connection pool.
    pub fn new() -> Result<HttpHookSender, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("MediLink-Subscriptions/1")
            .build()
            .map_err(|_| "the HTTP client could not be built".to_owned())?;
        Ok(HttpHookSender { client })
    }
}

#[async_trait]
impl HookSender for HttpHookSender {
    async fn post(
        &self,
        endpoint: &str,
        headers: &[(String, String)],
        body: String,
        timeout: Duration,
    ) -> Result<(), String> {
        let mut request = self
            .client
            .post(endpoint)
            .timeout(timeout)
            .header("content-type", "application/fhir+json")
            .body(body);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!(
                "the endpoint answered {}",
                response.status().as_u16()
            )),
            Err(err) if err.is_timeout() => Err("the endpoint did not answer in time".to_owned()),
            Err(err) if err.is_connect() => Err("the endpoint could not be reached".to_owned()),
            Err(_) => Err("the notification could not be sent".to_owned()),
        }
    }
}
