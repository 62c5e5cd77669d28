//! The application on a real socket of 127.0.0.1 (random port), with a filesystem blob store
//! in a temporary directory, the server's worker (driven step by step, or run as a task), an
//! admin, a doctor and two patients with their users. Shared by the document and export tests.

use std::time::Duration;

use medilink_fhir::{BlobOptions, SqlOptions, open_blob_store};
use medilink_ingest::Pipeline;
use medilink_platform::Role;
use medilink_platform::worker::Worker;
use medilink_server::Limits;
use medilink_server::config::WorkerSettings;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;

use super::{TestApp, signed_in};

/// See the module documentation. The server stops when this is dropped.
pub(crate) struct SocketWorld {
    pub(crate) app: TestApp,
    /// `http://127.0.0.1:{port}`.
    pub(crate) base: String,
    pub(crate) client: reqwest::Client,
    pub(crate) admin: String,
    pub(crate) doctor: String,
    pub(crate) doctor_id: String,
    pub(crate) patient_a: String,
    /// Patient A's `Patient` id.
    pub(crate) a: String,
    pub(crate) patient_b: String,
    /// Patient B's `Patient` id.
    pub(crate) b: String,
    /// The server's worker.
    pub(crate) worker: Worker,
    _blobs: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for SocketWorld {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl SocketWorld {
    /// Serves the application on `options` with documents read by `pipeline`, and uploads
    /// limited to `max_document_bytes` when given.
    pub(crate) async fn start(
        options: &SqlOptions,
        pipeline: Pipeline,
        max_document_bytes: Option<usize>,
    ) -> SocketWorld {
        let app = TestApp::on(options, Limits::default()).await;
        let blobs_dir = tempfile::tempdir().expect("temp dir");
        let blobs = open_blob_store(&BlobOptions::new(format!(
            "fs://{}",
            blobs_dir.path().display()
        )))
        .await
        .expect("fs blob store");
        let mut state = app.state.clone().with_documents(blobs, pipeline);
        if let Some(max) = max_document_bytes {
            state.max_document_bytes = max;
        }
        let app = app.with_state(state);
        let settings = WorkerSettings {
            concurrency: 1,
            lease: Duration::from_secs(60),
        };
        let worker = medilink_server::serve::worker(&app.state, settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let router = app.router.clone();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let doctor = signed_in(&app.state, "doc@test.local", Role::Physician).await;
        let patient_a = signed_in(&app.state, "a@test.local", Role::Patient).await;
        let patient_b = signed_in(&app.state, "b@test.local", Role::Patient).await;
        let mut world = SocketWorld {
            admin: app.token.clone(),
            app,
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            doctor,
            doctor_id: String::new(),
            patient_a,
            a: String::new(),
            patient_b,
            b: String::new(),
            worker,
            _blobs: blobs_dir,
            stop: Some(stop),
        };
        world.doctor_id = world.me(&world.doctor).await["id"]
            .as_str()
            .expect("id")
            .to_owned();
        world.a = world.me(&world.patient_a).await["patient_id"]
            .as_str()
            .expect("patient id")
            .to_owned();
        world.b = world.me(&world.patient_b).await["patient_id"]
            .as_str()
            .expect("patient id")
            .to_owned();
        world
    }

    /// `GET /api/auth/me` with `token`, which must answer 200.
    pub(crate) async fn me(&self, token: &str) -> Value {
        let response = self
            .client
            .get(format!("{}/api/auth/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("me");
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}
