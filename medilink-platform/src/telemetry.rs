//! OpenTelemetry traces (issue #19, feature `otel`): the spans of requests, store calls and jobs
//! exported over OTLP/HTTP (protobuf) to a collector, and the W3C trace context that carries a
//! request's trace into the job it enqueued.
//!
//! Both hosts build the exporting layer with [`otlp_layer`] only when `--otlp-endpoint` is set;
//! without it nothing here runs, and the spans it would export cost nothing: they are declared
//! at `DEBUG` under the targets [`TARGET`]`::…` (`medilink_otel::http`, `::db`, `::job`), which
//! no other layer enables at the default log level, so their call sites stay disabled.
//!
//! What leaves the process: only spans under those targets (never log events, never another
//! crate's spans), whose fields are route templates, methods, status codes, resource types,
//! job kinds and ids — no query strings, tokens, names or values. The layer's filter
//! ([`exported`]) is what enforces that; the span declarations keep to it.
//!
//! The hand-off: a job enqueued while a span is current stores its `traceparent`
//! ([`medilink_fhir::jobs::set_trace_context_source`] is pointed at [`current_traceparent`]);
//! the worker's span of the job continues that trace ([`continue_trace`]), in this process or
//! another.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::registry::LookupSpan;

/// The target prefix of every exported span.
pub const TARGET: &str = "medilink_otel";

/// How long one export to the collector may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("OTLP exporter: {0}")]
pub struct TelemetryError(String);

/// The running trace pipeline: flushes and stops the exporter when dropped (or on
/// [`Telemetry::shutdown`]).
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// Exports every finished span now (tests, shutdown).
    pub fn flush(&self) {
        if let Err(err) = self.provider.force_flush() {
            tracing::warn!(error = %err, "trace export flush failed");
        }
    }

    /// Flushes and stops the exporter.
    pub fn shutdown(&self) {
        let _ = self.provider.shutdown();
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The filter of the exporting layer: the spans under [`TARGET`], nothing else.
pub fn exported() -> Targets {
    Targets::new().with_target(TARGET, tracing::Level::DEBUG)
}

/// The OTLP trace endpoint of `endpoint`: a collector's base URL (`http://collector:4318`)
/// gets the signal path `/v1/traces`, as `OTEL_EXPORTER_OTLP_ENDPOINT` does; a URL already
/// ending in it is kept.
pub fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

/// The layer that exports the spans of [`exported`] to `endpoint` over OTLP/HTTP (protobuf), as
/// `service_name`, and its [`Telemetry`] handle (keep it alive while the process runs). Also
/// makes every job enqueued from now on carry the current trace context.
pub fn otlp_layer<S>(
    endpoint: &str,
    service_name: &'static str,
) -> Result<(Filtered<impl Layer<S>, Targets, S>, Telemetry), TelemetryError>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    // Built on a thread of its own: a blocking client starts (and, on error, drops) a runtime,
    // which may not happen on an async runtime's thread.
    let client = std::thread::spawn(|| {
        reqwest::blocking::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
    })
    .join()
    .map_err(|_| TelemetryError("the HTTP client's thread panicked".to_owned()))?
    .map_err(|err| TelemetryError(err.to_string()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(OtlpClient(client))
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|err| TelemetryError(err.to_string()))?;
    let provider = SdkTracerProvider::builder()
        .with_resource(
            Resource::builder_empty()
                .with_service_name(service_name)
                .build(),
        )
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("medilink");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false)
        .with_filter(exported());
    medilink_fhir::jobs::set_trace_context_source(current_traceparent);
    Ok((layer, Telemetry { provider }))
}

/// The exporter's HTTP client: the workspace's own `reqwest` (blocking: the batch exporter runs
/// on its own thread, outside any async runtime), so the OTLP stack brings no second `reqwest`.
#[derive(Debug)]
struct OtlpClient(reqwest::blocking::Client);

/// The largest collector answer read (the OTLP answer is a small status message).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

#[async_trait::async_trait]
impl HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, HttpError> {
        use std::io::Read as _;
        let request = reqwest::blocking::Request::try_from(request.map(|body| body.to_vec()))?;
        let mut answer = self.0.execute(request)?;
        let status = answer.status();
        let headers = std::mem::take(answer.headers_mut());
        let mut body = Vec::new();
        answer.take(MAX_ANSWER_BYTES).read_to_end(&mut body)?;
        let mut response = http::Response::builder()
            .status(status)
            .body(bytes::Bytes::from(body))?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// The W3C `traceparent` of the current span, when it belongs to an exported trace.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` continue the trace of `traceparent` (a job's stored trace context); a missing
/// or malformed context leaves it a root.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else {
        return;
    };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        // Fails only when no exporting layer is installed: then there is nothing to continue.
        let _ = span.set_parent(parent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signal_path_is_added_once() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://127.0.0.1:4318/"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }

    #[test]
    fn only_the_exported_targets_pass() {
        let filter = exported();
        assert!(filter.would_enable("medilink_otel::db", &tracing::Level::DEBUG));
        assert!(filter.would_enable("medilink_otel::http", &tracing::Level::INFO));
        assert!(!filter.would_enable("medilink_server::routes", &tracing::Level::INFO));
        assert!(!filter.would_enable("sqlx::query", &tracing::Level::ERROR));
    }

    #[test]
    fn no_traceparent_without_an_exported_span() {
        assert_eq!(current_traceparent(), None);
    }
}
