//! Issue #19: an append starts from the chain's tip this process left, without reading it
//! back; when another process (here: a second set of stores on the same database) appended
//! in between, that tip's next `seq` exists, the append is made again from the table's tip,
//! and the chain still verifies. Both processes' appends alternate, so every append after the
//! first meets a stale tip (the positive control of the retry: without it they fail; without
//! the conflict, the chain would break).

use std::sync::Arc;

use medilink_fhir::{SeqIdGen, SqlOptions, SystemClock};
use medilink_platform::{AuditEntry, AuditLog, open_store_and_platform};

use crate::jobs_support::postgres_url;

fn entry(n: u32) -> AuditEntry {
    AuditEntry {
        at: time::OffsetDateTime::UNIX_EPOCH,
        actor: Some(format!("u{}", n % 2)),
        role: Some("admin".to_owned()),
        action: "read".to_owned(),
        resource_type: Some("Patient".to_owned()),
        resource_ids: vec![format!("Patient/p{n}")],
        patients: [(format!("p{n}"), vec![format!("Patient/p{n}")])].into(),
        resource_types: vec!["Patient".to_owned()],
        outcome: 200,
        client_ip: None,
        request_id: format!("r{n}"),
        detail: None,
    }
}

async fn audit_log(url: &str) -> Arc<dyn AuditLog> {
    let (_store, platform) = open_store_and_platform(
        &SqlOptions::new(url),
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("a")),
    )
    .await
    .expect("open");
    platform.audit
}

async fn two_appenders_keep_one_chain(url: String) {
    let first = audit_log(&url).await;
    let second = audit_log(&url).await;
    let mut n = 0;
    for round in 0..4 {
        // Alone for a while (the known tip is right), then the other one appends.
        for _ in 0..3 {
            n += 1;
            first.append(&[entry(n)]).await.expect("first appends");
        }
        n += 1;
        let batch: Vec<AuditEntry> = (0..=round).map(|k| entry(n * 10 + k)).collect();
        second.append(&batch).await.expect("second appends");
    }
    n += 1;
    first
        .append(&[entry(n), entry(n + 1)])
        .await
        .expect("first appends after the other");
    let verification = second.verify().await.expect("verify");
    assert_eq!(verification.first_broken, None, "one unbroken chain");
    // 4 rounds of 3 + the other's 1..=4, then 2.
    assert_eq!(verification.records, 12 + 10 + 2);
}

#[tokio::test]
async fn two_appenders_keep_one_chain_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    two_appenders_keep_one_chain(format!("sqlite://{}/medilink.db", dir.path().display())).await;
}

#[tokio::test]
async fn two_appenders_keep_one_chain_on_postgres() {
    let Some((url, cleanup)) = postgres_url().await else {
        return;
    };
    let outcome = tokio::spawn(two_appenders_keep_one_chain(url)).await;
    cleanup.run().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}
