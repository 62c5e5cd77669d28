//! One job registry (issue #12): the server's embedded worker registers exactly the kinds of
//! `medilink_jobs::register_jobs` — the call `medilink-worker` makes too
//! (`medilink-worker/tests/it/every_kind.rs` holds the worker to the same set and runs a job of
//! each in a worker process) — plus the node-local catch-up of its own full-text index. A kind
//! registered here only would stall under `serve --no-worker`.

use medilink_platform::admin_jobs::REINDEX;
use medilink_platform::maintenance::FULLTEXT;

use crate::support::TestApp;

#[tokio::test]
async fn the_servers_worker_registers_the_shared_kinds_and_its_index_catch_up() {
    let app = TestApp::new().await;
    let registry = medilink_server::serve::registry(&app.state);
    let mut expected = medilink_jobs::kinds(&app.state.job_deps);
    expected.push(FULLTEXT.to_owned());
    // Issue #15: the full-text rebuild is node-local too (it rebuilds this process's index).
    expected.push(REINDEX.to_owned());
    expected.sort();
    assert_eq!(registry.kinds(), expected);
    for kind in [
        "document.ingest",
        // Issue #24: the relay that queues the job of a document cut from it by a crash.
        "document.relay",
        "fhir.export",
        "research.export",
        "audit.verify",
    ] {
        assert!(expected.iter().any(|k| k == kind), "{kind} is shared");
    }
}
