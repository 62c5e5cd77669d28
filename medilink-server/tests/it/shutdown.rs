//! Issue #24: graceful shutdown of the real server binary. SIGTERM closes the listener (a new
//! connection is refused while the process still runs), a large transaction sent just before
//! it gets its full answer, no job is left leased, and the process exits well within the
//! documented time (`serve::SHUTDOWN_DRAIN` + the worker's grace: 30 s) with status 0.

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::jobs::{JobStatus, jobs_per_status};
use medilink_fhir::{SqlOptions, SystemClock, UuidIdGen};
use serde_json::{Value, json};

use crate::support::PASSWORD;
use crate::support::process::{Server, describe, user_add};

/// A transaction of `n` Observations of `patient`, each with a `urn:uuid` full URL.
pub(crate) fn transaction(patient: &str, n: usize, tag: &str) -> Value {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "fullUrl": format!("urn:uuid:{}", uuid::Uuid::new_v4()),
                "resource": {"resourceType": "Observation", "status": "final",
                    "code": {"text": format!("{tag} {i}")},
                    "subject": {"reference": format!("Patient/{patient}")}},
                "request": {"method": "POST", "url": "Observation"}
            })
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

/// The in-flight gauge of `/metrics` (the scrape itself counts one).
async fn in_flight(base: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|line| line.starts_with("medilink_http_requests_in_flight"))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn sigterm_drains_requests_in_flight_releases_jobs_and_exits_in_time() {
    let dir = tempfile::tempdir().expect("dir");
    let output = user_add(dir.path(), "pat@test.local", PASSWORD, "patient");
    assert!(output.status.success(), "{}", describe(&output));
    let mut server = Server::start(dir.path()).await;
    let token = server.token("pat@test.local", PASSWORD).await;
    let patient = server.get(&token, "/api/auth/me").await["patient_id"]
        .as_str()
        .expect("patient id")
        .to_owned();
    let bundle = transaction(&patient, 3000, "drain");
    let url = format!("{}/fhir/R4", server.base);
    let sent = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(token)
            .json(&bundle)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .expect("the transaction gets an answer");
        let status = response.status();
        (status, response.json::<Value>().await.expect("json"))
    });
    // SIGTERM once the transaction is in the server.
    let mut waited = 0;
    while in_flight(&server.base).await.unwrap_or(0.0) < 2.0 {
        assert!(!sent.is_finished(), "the transaction ended before SIGTERM");
        waited += 1;
        assert!(waited < 2000, "the transaction never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.terminate();
    // The listener closes while the process (draining) still runs.
    let port = server.base.rsplit(':').next().expect("port").to_owned();
    let mut refused_while_running = false;
    for _ in 0..500 {
        let connect = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}")).await;
        if connect.is_err() {
            refused_while_running = server.running() || !sent.is_finished();
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (status, answer) = sent.await.expect("joined");
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    let entries = answer["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 3000);
    assert!(entries.iter().all(|entry| {
        entry["response"]["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("201"))
    }));
    assert!(
        refused_while_running,
        "new connections refused during the drain"
    );
    let (exit, took) = server
        .wait_exit(Duration::from_secs(40))
        .await
        .expect("exits after SIGTERM");
    assert!(exit.success(), "{exit}");
    assert!(took < Duration::from_secs(30), "exited after {took:?}");
    // Nothing is left leased, and every entry of the answered transaction is stored.
    let url = format!("sqlite://{}/medilink.db", dir.path().display());
    let (store, platform) = medilink_platform::open_store_and_platform(
        &SqlOptions::new(url),
        Arc::new(SystemClock),
        Arc::new(UuidIdGen),
    )
    .await
    .expect("the store opens");
    let counts = jobs_per_status(platform.jobs.as_ref())
        .await
        .expect("counts");
    let leased = counts
        .iter()
        .find(|(status, _)| *status == JobStatus::Processing)
        .map_or(0, |(_, count)| *count);
    assert_eq!(leased, 0, "{counts:?}");
    let changes = store
        .changes_since(&medilink_fhir::RequestContext::system(), 0, 10_000)
        .await
        .expect("feed");
    let stored = changes
        .iter()
        .filter(|change| change.resource_type == medilink_fhir::ResourceType::Observation)
        .count();
    assert_eq!(stored, 3000);
    store.close().await.expect("close");
}
