//! Ready-made [`Harness`] factories for the SQL backends: a SQLite file in a temporary
//! directory, and a freshly created PostgreSQL database that is dropped afterwards.

use std::sync::Arc;

use super::Harness;
use crate::backend::SqlOptions;
use crate::clock::{FixedClock, SeqIdGen};

fn test_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        time::macros::datetime!(2024-01-01 0:00 UTC),
    ))
}

/// A store on a SQLite file (WAL, a real connection pool) in a temporary directory.
#[cfg(feature = "sql-sqlite")]
pub async fn sqlite_harness() -> Option<Harness> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let options = SqlOptions::new(format!("sqlite://{}/medilink.db", dir.path().display()));
    let store = crate::backend::open_store(&options, test_clock(), Arc::new(SeqIdGen::new("id")))
        .await
        .expect("open sqlite store");
    Some(Harness {
        store,
        cleanup: Some(Box::new(move || Box::pin(async move { drop(dir) }))),
    })
}

/// A store on a new PostgreSQL database created next to the one `base_url` names, or `None`
/// when `base_url` is `None` (the suite is skipped).
#[cfg(feature = "sql-postgres")]
pub async fn postgres_harness(base_url: Option<String>) -> Option<Harness> {
    use sea_orm::{ConnectionTrait, Database};

    let base_url = base_url?;
    let admin = Database::connect(base_url.as_str())
        .await
        .expect("connect to postgres");
    #[allow(
        clippy::disallowed_methods,
        reason = "test databases need unique names"
    )]
    let name = format!("medilink_test_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let (prefix, _) = base_url
        .rsplit_once('/')
        .expect("postgres url has a database path");
    let options = SqlOptions::new(format!("{prefix}/{name}"));
    let store = crate::backend::open_store(&options, test_clock(), Arc::new(SeqIdGen::new("id")))
        .await
        .expect("open postgres store");
    Some(Harness {
        store,
        cleanup: Some(Box::new(move || {
            Box::pin(async move {
                let dropped = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                if let Err(err) = dropped {
                    tracing::warn!(%err, database = %name, "could not drop test database");
                }
                let _ = admin.close().await;
            })
        })),
    })
}
