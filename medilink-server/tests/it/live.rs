//! End to end over a real socket: the server on 127.0.0.1 (random port) driven by `reqwest`,
//! on in-memory SQLite and, when `MEDILINK_TEST_POSTGRES_URL` is set, on a fresh PostgreSQL
//! database.

use medilink_fhir::SqlOptions;
use medilink_server::Limits;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::support::PostgresDatabase;
use crate::support::{TestApp, patient};

/// A server running on a random local port until dropped.
struct Running {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn start(app: TestApp) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // The client sends no token: attach the admin's, as a signed-in client would.
            let bearer = axum::http::HeaderValue::from_str(&format!("Bearer {}", app.token))
                .expect("ascii token");
            let router = app.router.layer(axum::middleware::map_request(
                move |mut request: axum::extract::Request| {
                    let bearer = bearer.clone();
                    async move {
                        request.headers_mut().insert("authorization", bearer);
                        request
                    }
                },
            ));
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        Running {
            base: format!("http://{address}/fhir/R4"),
            stop: Some(stop),
            task,
        }
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = (&mut self.task).await.expect("server task");
        served.expect("served without error");
    }
}

async fn round_trip(base: &str) {
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/Patient"))
        .header("content-type", "application/fhir+json")
        .body(patient().to_string())
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with(&format!("{base}/Patient/")),
        "{location}"
    );
    assert_eq!(created.headers()["etag"], "W/\"1\"");
    let body: Value = created.json().await.expect("json");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("{base}/Patient/{id}/_history/1"));

    let read = client
        .get(format!("{base}/Patient/{id}"))
        .send()
        .await
        .expect("read");
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(read.headers()["etag"], "W/\"1\"");
    assert_eq!(
        read.headers()["content-type"],
        "application/fhir+json; charset=utf-8"
    );
    let read_body: Value = read.json().await.expect("json");
    assert_eq!(read_body, body);

    let deleted = client
        .delete(format!("{base}/Patient/{id}"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), StatusCode::OK);
    let gone = client
        .get(format!("{base}/Patient/{id}"))
        .send()
        .await
        .expect("read");
    assert_eq!(gone.status(), StatusCode::GONE);
    let outcome: Value = gone.json().await.expect("json");
    assert_eq!(outcome["issue"][0]["code"], "deleted");
}

#[tokio::test]
async fn http_round_trip_on_sqlite() {
    let server = Running::start(TestApp::new().await).await;
    round_trip(&server.base).await;
    server.shutdown().await;
}

#[tokio::test]
async fn http_round_trip_on_postgres() {
    PostgresDatabase::run("the round trip", |url| async move {
        let app = TestApp::on(&SqlOptions::new(url), Limits::default()).await;
        let server = Running::start(app).await;
        round_trip(&server.base).await;
        server.shutdown().await;
    })
    .await;
}
