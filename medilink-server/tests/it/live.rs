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

/// The name searches running on the test's database (by any connection but `admin`).
async fn name_searches(admin: &mut sqlx::PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT query FROM pg_stat_activity WHERE datname = current_database() \
         AND state = 'active' AND query LIKE '%FROM search_string%' AND pid <> pg_backend_pid()",
    )
    .fetch_all(admin)
    .await
    .expect("pg_stat_activity")
}

/// Issue #11: a client that leaves mid-search leaves no query running on PostgreSQL. The search
/// is held on the database by a lock the test takes on `resources` (a statement that would run
/// until `statement_timeout`, 60 s here); the client sends it over a raw socket and closes the
/// socket once PostgreSQL runs it; the server drops the handler, and the drop guard cancels the
/// statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_search_leaves_no_query_on_postgres() {
    use sqlx::Connection as _;
    use tokio::io::AsyncWriteExt as _;

    PostgresDatabase::run("the search of a client that left", |url| async move {
        let mut options = SqlOptions::new(url.clone());
        options.statement_timeout = Some(std::time::Duration::from_secs(60));
        let app = TestApp::on(&options, Limits::default()).await;
        let server = Running::start(app).await;
        let mut locker = sqlx::PgConnection::connect(&url).await.expect("connect");
        sqlx::raw_sql("BEGIN; LOCK TABLE resources IN ACCESS EXCLUSIVE MODE")
            .execute(&mut locker)
            .await
            .expect("lock");
        let mut admin = sqlx::PgConnection::connect(&url).await.expect("connect");

        let address = server
            .base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .expect("host:port")
            .to_owned();
        let mut client = tokio::net::TcpStream::connect(&address)
            .await
            .expect("connect");
        client
            .write_all(
                format!(
                    "GET /fhir/R4/Patient?name=smith&_total=accurate HTTP/1.1\r\nHost: {address}\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .expect("send");
        let started = std::time::Instant::now();
        while name_searches(&mut admin).await.is_empty() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the search never reached PostgreSQL"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        drop(client);

        let left = std::time::Instant::now();
        let mut searches = name_searches(&mut admin).await;
        while !searches.is_empty() && left.elapsed() < std::time::Duration::from_secs(2) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            searches = name_searches(&mut admin).await;
        }
        assert!(
            searches.is_empty(),
            "still on PostgreSQL {:?} after the client left: {searches:?}",
            left.elapsed()
        );
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut locker)
            .await
            .expect("unlock");
        // The server answers the next client as usual.
        let page = reqwest::get(format!("{}/Patient", server.base))
            .await
            .expect("search");
        assert_eq!(page.status(), StatusCode::OK);
        server.shutdown().await;
    })
    .await;
}
