//! Issue #19: traces reach an OTLP collector. A local receiver (axum on 127.0.0.1, decoding
//! `POST /v1/traces` protobuf) collects what the exporter of `--otlp-endpoint` sends while the
//! application on a real socket answers a read and a `$export` kick-off and its worker runs the
//! export job: the request spans (named by route template, with the status code), the store's
//! spans inside them, and the job's span in the trace of the request that enqueued it (the
//! trace context stored with the job). No span names or attributes carry the patient's id.
//!
//! This test is a binary of its own (`tests/otel.rs`): the exporting subscriber is the
//! process's global one, as in the hosts, and no other test shares the process; the receiver
//! runs on a thread and runtime of its own, since flushing the exporter blocks a thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use medilink_fhir::SqlOptions;
use medilink_platform::worker::Step;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message;
use reqwest::StatusCode;
use tracing_subscriber::layer::SubscriberExt;

use crate::support::socket::SocketWorld;

/// A span as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: Vec<u8>,
    span_id: Vec<u8>,
    parent_span_id: Vec<u8>,
    attributes: HashMap<String, String>,
}

impl Received {
    /// Whether the name or any attribute value contains `text`.
    fn mentions(&self, text: &str) -> bool {
        self.name.contains(text) || self.attributes.values().any(|value| value.contains(text))
    }
}

type Spans = Arc<Mutex<Vec<Received>>>;

fn text(value: Option<&AnyValue>) -> String {
    match value {
        Some(AnyValue::StringValue(text)) => text.clone(),
        Some(AnyValue::IntValue(n)) => n.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(x)) => x.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// Starts the receiver on its own thread; its base URL and what it received.
fn start_receiver() -> (String, Spans) {
    let spans: Spans = Arc::default();
    let (address_tx, address_rx) = std::sync::mpsc::channel();
    let collected = spans.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("receiver runtime");
        runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: Bytes| {
                    let collected = collected.clone();
                    async move {
                        let request =
                            ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                        let mut spans = collected.lock().expect("spans");
                        for resource in request.resource_spans {
                            for scope in resource.scope_spans {
                                for span in scope.spans {
                                    spans.push(Received {
                                        name: span.name,
                                        trace_id: span.trace_id,
                                        span_id: span.span_id,
                                        parent_span_id: span.parent_span_id,
                                        attributes: span
                                            .attributes
                                            .into_iter()
                                            .map(|kv| {
                                                let value = text(
                                                    kv.value
                                                        .as_ref()
                                                        .and_then(|v| v.value.as_ref()),
                                                );
                                                (kv.key, value)
                                            })
                                            .collect(),
                                    });
                                }
                            }
                        }
                        (
                            [("content-type", "application/x-protobuf")],
                            Vec::<u8>::new(),
                        )
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            address_tx
                .send(listener.local_addr().expect("address"))
                .expect("send address");
            axum::serve(listener, app).await.expect("receiver");
        });
    });
    let address = address_rx.recv().expect("receiver address");
    (format!("http://{address}"), spans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_store_and_job_spans_reach_the_collector_in_one_trace() {
    let (endpoint, received) = start_receiver();
    let (layer, telemetry) =
        medilink_platform::telemetry::otlp_layer(&endpoint, "medilink-test").expect("exporter");
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
        .expect("the only subscriber of this process");

    let world = SocketWorld::start(
        &SqlOptions::new("sqlite::memory:"),
        medilink_server::state::default_pipeline(),
        None,
    )
    .await;
    let read = world
        .client
        .get(format!("{}/fhir/R4/Patient/{}", world.base, world.a))
        .bearer_auth(&world.admin)
        .send()
        .await
        .expect("read");
    assert_eq!(read.status(), StatusCode::OK);
    let kick_off = world
        .client
        .get(format!("{}/fhir/R4/$export?_type=Patient", world.base))
        .bearer_auth(&world.admin)
        .header("prefer", "respond-async")
        .header("accept", "application/fhir+json")
        .send()
        .await
        .expect("kick-off");
    assert_eq!(kick_off.status(), StatusCode::ACCEPTED);
    let job_id = loop {
        match world.worker.run_once().await.expect("queue") {
            Step::Ran { kind, id, .. } if kind == medilink_consent::export::KIND => break id,
            Step::Ran { .. } => {}
            other => panic!("expected the export to run, got {other:?}"),
        }
    };
    let job = world
        .app
        .state
        .jobs
        .get(job_id)
        .await
        .expect("job")
        .expect("stored");
    let traceparent = job.trace_context.clone().expect("the job keeps its trace");
    telemetry.flush();

    let spans = received.lock().expect("spans").clone();
    let named =
        |name: &str| -> Vec<&Received> { spans.iter().filter(|s| s.name == name).collect() };
    let reads = named("/fhir/R4/{type}/{id}");
    assert_eq!(reads.len(), 1, "{spans:#?}");
    let read_span = reads[0];
    assert_eq!(read_span.attributes["http.response.status_code"], "200");
    assert_eq!(read_span.attributes["method"], "GET");
    // The store call inside the read is a child in the same trace.
    assert!(
        spans.iter().any(|s| s.name == "db.read"
            && s.trace_id == read_span.trace_id
            && s.attributes.get("resource_type").map(String::as_str) == Some("Patient")),
        "{spans:#?}"
    );

    let kick_offs = named("/fhir/R4/$export");
    assert_eq!(kick_offs.len(), 1, "{spans:#?}");
    let kick_off_span = kick_offs[0];
    assert_eq!(kick_off_span.attributes["http.response.status_code"], "202");
    let jobs = named(medilink_consent::export::KIND);
    assert_eq!(jobs.len(), 1, "{spans:#?}");
    let job_span = jobs[0];
    // The job's span continues the kick-off's trace, under a span of that request.
    assert_eq!(job_span.trace_id, kick_off_span.trace_id, "{spans:#?}");
    assert_ne!(job_span.trace_id, read_span.trace_id);
    assert!(
        spans
            .iter()
            .any(|s| s.trace_id == job_span.trace_id && s.span_id == job_span.parent_span_id),
        "the job's parent is a span of the request: {spans:#?}"
    );
    let trace_hex: String = kick_off_span
        .trace_id
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    assert!(
        traceparent.starts_with(&format!("00-{trace_hex}-")),
        "{traceparent}"
    );
    // The job's own store calls are in that trace too.
    assert!(
        spans
            .iter()
            .any(|s| s.name == "db.search" && s.trace_id == job_span.trace_id),
        "{spans:#?}"
    );

    // No patient id in any span; the control: the job's id (an exported attribute) is found.
    assert!(job_span.mentions(&job_id.to_string()));
    assert!(
        !spans.iter().any(|s| s.mentions(&world.a)),
        "a span names the patient: {spans:#?}"
    );
}
