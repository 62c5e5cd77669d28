//! HTTP integration tests of `medilink-server` (one test binary).

/// A scenario `async fn name(app: &TestApp)` of the calling module (which defines
/// `app_on(url)`) as two tests, `name::on_sqlite` and `name::on_postgres`.
macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn on_sqlite() {
                let dir = tempfile::tempdir().expect("dir");
                let url = format!("sqlite://{}/medilink.db?mode=rwc", dir.path().display());
                let app = super::app_on(&url).await;
                super::$scenario(&app).await;
            }

            #[tokio::test]
            async fn on_postgres() {
                crate::support::PostgresDatabase::run(stringify!($scenario), |url| async move {
                    let app = super::app_on(&url).await;
                    super::$scenario(&app).await;
                })
                .await;
            }
        }
    };
}

mod support;

mod access_log;
mod access_rule;
mod accounts;
mod admin;
mod admin_api;
mod audit;
mod audit_writer;
mod backup;
mod bad_input;
mod bundle;
mod cli;
mod clinical;
mod conformance;
mod conformance_three;
mod conformance_two;
mod consent;
mod consent_paths;
mod crash;
mod demographics;
mod directory;
mod document_notices;
mod document_ownership;
mod document_relay;
mod documents;
mod documents_llm;
mod errors;
mod export;
mod failures;
mod first_run;
mod fuzz_http;
mod history;
mod jobs;
mod limits;
mod live;
mod live_documents;
mod lockouts;
mod metadata;
mod metrics;
mod mfa;
mod notifications;
mod observation_ops;
mod openapi;
mod portal_contract;
mod probes;
mod rate_limits;
mod read_write;
mod research;
mod restart;
mod route_table;
mod scale_out;
mod search;
mod shutdown;
mod smart;
mod static_files;
mod subscriptions;
mod subscriptions_cluster;
mod token_state;
mod tokens;
mod us_core;
