//! Applies the SQL migrations of `migrations/` (embedded at build time) in order, recording
//! each in `medilink_migrations`.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::classify;
use crate::error::FhirResult;

/// A migration: its name and its SQL for SQLite and PostgreSQL.
struct Migration {
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "0001_resources",
        sqlite: include_str!("../../../../migrations/sqlite/0001_resources.sql"),
        postgres: include_str!("../../../../migrations/postgres/0001_resources.sql"),
    },
    Migration {
        name: "0002_platform",
        sqlite: include_str!("../../../../migrations/sqlite/0002_platform.sql"),
        postgres: include_str!("../../../../migrations/postgres/0002_platform.sql"),
    },
    Migration {
        name: "0003_search",
        sqlite: include_str!("../../../../migrations/sqlite/0003_search.sql"),
        postgres: include_str!("../../../../migrations/postgres/0003_search.sql"),
    },
    Migration {
        name: "0004_jobs",
        sqlite: include_str!("../../../../migrations/sqlite/0004_jobs.sql"),
        postgres: include_str!("../../../../migrations/postgres/0004_jobs.sql"),
    },
    Migration {
        name: "0006_audit_patients",
        sqlite: include_str!("../../../../migrations/sqlite/0006_audit_patients.sql"),
        postgres: include_str!("../../../../migrations/postgres/0006_audit_patients.sql"),
    },
];

/// Applies every pending migration; returns the names applied now.
pub(crate) async fn run(db: &DatabaseConnection) -> FhirResult<Vec<&'static str>> {
    apply(db, MIGRATIONS).await
}

/// Applies the migrations before `name` only: the schema of an older release (tests of an
/// upgrade).
#[cfg(test)]
pub(crate) async fn run_before(
    db: &DatabaseConnection,
    name: &str,
) -> FhirResult<Vec<&'static str>> {
    let end = MIGRATIONS
        .iter()
        .position(|migration| migration.name == name)
        .unwrap_or(MIGRATIONS.len());
    apply(db, &MIGRATIONS[..end]).await
}

async fn apply(db: &DatabaseConnection, migrations: &[Migration]) -> FhirResult<Vec<&'static str>> {
    let backend = db.get_database_backend();
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS medilink_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)",
    )
    .await
    .map_err(classify)?;
    let mut applied_now = Vec::new();
    for migration in migrations {
        let txn = super::begin_write(db).await?;
        if backend == DbBackend::Postgres {
            // Many servers may start at once: one applies, the others wait and then skip.
            txn.execute_unprepared("SELECT pg_advisory_xact_lock(7461627)")
                .await
                .map_err(classify)?;
        }
        let done = txn
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                super::placeholders(
                    backend,
                    "SELECT name FROM medilink_migrations WHERE name = ?",
                ),
                [migration.name.into()],
            ))
            .await
            .map_err(classify)?;
        if done.is_some() {
            continue;
        }
        let sql = match backend {
            DbBackend::Postgres => migration.postgres,
            _ => migration.sqlite,
        };
        txn.execute_unprepared(sql).await.map_err(classify)?;
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            super::placeholders(
                backend,
                "INSERT INTO medilink_migrations (name, applied_at) VALUES (?, CURRENT_TIMESTAMP)",
            ),
            [migration.name.into()],
        ))
        .await
        .map_err(classify)?;
        txn.commit().await.map_err(classify)?;
        tracing::info!(migration = migration.name, "migration applied");
        applied_now.push(migration.name);
    }
    Ok(applied_now)
}
