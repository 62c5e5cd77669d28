//! Resource writes and platform writes (audit trail) share one SQLite pool; interleaved, they
//! must never fail with `database is locked` (SQLITE_BUSY_SNAPSHOT): every write transaction
//! takes the write lock up front (`BEGIN IMMEDIATE`). Regression test for the 500s seen under
//! HTTP ingest with auditing.

use std::sync::Arc;

use medilink_fhir::{RequestContext, SeqIdGen, SqlOptions, SystemClock, WriteOp};
use medilink_platform::{AuditEntry, open_store_and_platform};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_and_audit_writes_interleave_without_busy_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let options = SqlOptions::new(format!("sqlite://{}/medilink.db", dir.path().display()));
    let (store, platform) = open_store_and_platform(
        &options,
        Arc::new(SystemClock),
        Arc::new(SeqIdGen::new("x")),
    )
    .await
    .expect("open");
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..30 {
                let ops = (0..300)
                    .map(|k| WriteOp::Create {
                        resource: json!({"resourceType": "Patient", "id": format!("p{n}-{k}")}),
                        id: None,
                    })
                    .collect();
                store
                    .transaction(&RequestContext::system(), ops)
                    .await
                    .expect("transaction");
            }
        })
    };
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let auditor = {
        let audit = platform.audit.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let entry = AuditEntry {
                    at: time::OffsetDateTime::UNIX_EPOCH,
                    actor: Some("u".to_owned()),
                    role: Some("admin".to_owned()),
                    action: "read".to_owned(),
                    resource_type: Some("Patient".to_owned()),
                    resource_ids: vec![format!("p{n}")],
                    patients: Default::default(),
                    resource_types: Vec::new(),
                    outcome: 200,
                    client_ip: None,
                    request_id: format!("r{n}"),
                    detail: None,
                };
                audit.append(&[entry]).await.expect("audit append");
            }
            n
        })
    };
    writer.await.expect("writer");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let audits = auditor.await.expect("auditor");
    assert!(
        audits > 10,
        "the audit writer ran alongside ({audits} appends)"
    );
    let feed = store
        .changes_since(&RequestContext::system(), 0, 100_000)
        .await
        .expect("feed");
    assert_eq!(feed.len(), 9000);

    assert!(platform.audit.verify().await.is_ok());
}
