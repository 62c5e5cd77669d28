//! Applies SQL migrations in order, recording each by name in `medilink_migrations`: this
//! crate's own (`migrations/`, embedded at build time: the resource store, search index, jobs
//! and key-value tables) and, through
//! [`SqlResourceStore::apply_migrations`](super::SqlResourceStore::apply_migrations), those of
//! the crates that keep their own tables on the same database (`medilink-platform`: accounts
//! and the audit trail). Names are unique across the workspace, so one table records
//! them all: a database migrated before the split (where `0002_platform` and
//! `0006_audit_patients` were applied by this crate) is recognised as up to date.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    Value as SqlValue,
};

use super::classify;
use crate::error::FhirResult;
use crate::search::compartment::{PATIENTS_PARAM, referenced_patients};

/// A schema migration: its name (unique across the workspace: it is recorded in
/// `medilink_migrations`) and its SQL for SQLite and PostgreSQL.
#[derive(Debug, Clone, Copy)]
pub struct SqlMigration {
    /// The name recorded once the migration is applied.
    pub name: &'static str,
    /// The SQL on SQLite.
    pub sqlite: &'static str,
    /// The SQL on PostgreSQL.
    pub postgres: &'static str,
}

/// This crate's migrations. The gaps (`0002_platform`, `0006_audit_patients`) are
/// `medilink-platform`'s, applied by it after these.
const MIGRATIONS: &[SqlMigration] = &[
    SqlMigration {
        name: "0001_resources",
        sqlite: include_str!("../../../../migrations/sqlite/0001_resources.sql"),
        postgres: include_str!("../../../../migrations/postgres/0001_resources.sql"),
    },
    SqlMigration {
        name: "0003_search",
        sqlite: include_str!("../../../../migrations/sqlite/0003_search.sql"),
        postgres: include_str!("../../../../migrations/postgres/0003_search.sql"),
    },
    SqlMigration {
        name: "0004_jobs",
        sqlite: include_str!("../../../../migrations/sqlite/0004_jobs.sql"),
        postgres: include_str!("../../../../migrations/postgres/0004_jobs.sql"),
    },
    SqlMigration {
        name: "0005_kv",
        sqlite: include_str!("../../../../migrations/sqlite/0005_kv.sql"),
        postgres: include_str!("../../../../migrations/postgres/0005_kv.sql"),
    },
    SqlMigration {
        name: PATIENT_INDEX,
        sqlite: include_str!("../../../../migrations/sqlite/0007_patient_index.sql"),
        postgres: include_str!("../../../../migrations/postgres/0007_patient_index.sql"),
    },
    SqlMigration {
        name: RESOURCE_PATIENT,
        sqlite: include_str!("../../../../migrations/sqlite/0008_resource_patient.sql"),
        postgres: include_str!("../../../../migrations/postgres/0008_resource_patient.sql"),
    },
    SqlMigration {
        name: "0015_job_trace",
        sqlite: include_str!("../../../../migrations/sqlite/0015_job_trace.sql"),
        postgres: include_str!("../../../../migrations/postgres/0015_job_trace.sql"),
    },
];

/// The migration after whose SQL the `_patient` rows of stored resources are written.
const PATIENT_INDEX: &str = "0007_patient_index";
/// The migration that summarizes the `_patient` rows in `resources.patient`.
const RESOURCE_PATIENT: &str = "0008_resource_patient";
/// Resources read per backfill page.
const BACKFILL_PAGE: i64 = 500;

/// Applies every pending migration; returns the names applied now.
pub(crate) async fn run(db: &DatabaseConnection) -> FhirResult<Vec<&'static str>> {
    apply(db, MIGRATIONS).await
}

/// Applies every pending migration of `migrations`, in order; returns the names applied now.
pub(crate) async fn apply(
    db: &DatabaseConnection,
    migrations: &[SqlMigration],
) -> FhirResult<Vec<&'static str>> {
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
            // A migration may rewrite large tables, and waits for another server's: no
            // statement time limit.
            txn.execute_unprepared("SET LOCAL statement_timeout = 0")
                .await
                .map_err(classify)?;
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
        if migration.name == PATIENT_INDEX {
            backfill_patients(&txn, backend).await?;
        }
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

/// Writes the [`PATIENTS_PARAM`] index rows of every live resource stored before the
/// migration that introduced them, in pages by `rid`, inside the migration's transaction (all
/// or nothing, like the migration itself).
async fn backfill_patients(txn: &DatabaseTransaction, backend: DbBackend) -> FhirResult<()> {
    let mut after: i64 = -1;
    loop {
        let rows = txn
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                super::placeholders(
                    backend,
                    "SELECT r.rid, v.content FROM resources r JOIN resource_versions v ON v.seq = r.seq \
                     WHERE r.rid > ? AND r.deleted = ? ORDER BY r.rid LIMIT ?",
                ),
                [after.into(), false.into(), BACKFILL_PAGE.into()],
            ))
            .await
            .map_err(classify)?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get_by_index(0).map_err(classify)?;
        let mut values: Vec<SqlValue> = Vec::new();
        for row in &rows {
            let rid: i64 = row.try_get_by_index(0).map_err(classify)?;
            let content: Option<String> = row.try_get_by_index(1).map_err(classify)?;
            let Some(resource) = content.and_then(|text| serde_json::from_str(&text).ok()) else {
                continue;
            };
            for patient in referenced_patients(&resource) {
                values.extend([
                    PATIENTS_PARAM.into(),
                    "Patient".into(),
                    patient.into(),
                    "".into(),
                    SqlValue::BigInt(Some(rid)),
                ]);
            }
        }
        for chunk in values.chunks(5 * 1000) {
            let marks = vec!["(?, ?, ?, ?, ?)"; chunk.len() / 5].join(", ");
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                super::placeholders(
                    backend,
                    &format!(
                        "INSERT INTO search_reference (param, target_type, target_id, url, rid) VALUES {marks}"
                    ),
                ),
                chunk.to_vec(),
            ))
            .await
            .map_err(classify)?;
        }
    }
}

#[cfg(all(test, feature = "sql-sqlite"))]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::backend::SqlOptions;
    use crate::backend::sql::SqlResourceStore;
    use crate::clock::{FixedClock, SeqIdGen};
    use crate::search::{Criterion, Restriction, SearchQuery, Visibility};
    use crate::{RequestContext, ResourceStore, ResourceType};

    async fn visible_devices(store: &SqlResourceStore, permitted: &[&str]) -> Vec<String> {
        let permitted: Arc<[String]> = permitted.iter().map(|p| (*p).to_owned()).collect();
        let mut query = SearchQuery::parse(ResourceType::Device, &[], true).expect("query");
        query
            .criteria
            .push(Criterion::Restricted(Restriction::new(move |_| {
                Visibility::Patients {
                    permitted: permitted.clone(),
                    member: false,
                }
            })));
        let page = store
            .search(&RequestContext::system(), &query)
            .await
            .expect("search");
        page.matches.iter().map(|m| m.id.to_string()).collect()
    }

    /// Resources stored before `0007_patient_index` get their `_patient` rows when it runs:
    /// without them a restricted search would show another patient's Device.
    #[tokio::test]
    async fn the_patient_index_migration_writes_the_rows_of_stored_resources() {
        let clock = Arc::new(FixedClock::new(
            time::macros::datetime!(2024-01-01 0:00 UTC),
        ));
        let store = SqlResourceStore::connect(
            &SqlOptions::new("sqlite::memory:"),
            clock,
            Arc::new(SeqIdGen::new("id")),
        )
        .await
        .expect("store");
        let ctx = RequestContext::system();
        for (id, patient) in [("d1", "p1"), ("d2", "p2")] {
            let device = json!({"resourceType": "Device", "id": id,
                "patient": {"reference": format!("Patient/{patient}")}});
            store
                .update(
                    &ctx,
                    ResourceType::Device,
                    &crate::ResourceId::new(id).expect("id"),
                    device,
                    None,
                )
                .await
                .expect("device");
        }
        store
            .create(&ctx, json!({"resourceType": "Device"}))
            .await
            .expect("unassigned");
        assert_eq!(
            visible_devices(&store, &["p1"]).await.len(),
            2,
            "d1 and the unassigned one"
        );
        // The state of a database written before the migration.
        store
            .db
            .execute_unprepared(&format!(
                "DELETE FROM search_reference WHERE param = '{PATIENTS_PARAM}'; \
                 DROP INDEX resources_type_patient; \
                 ALTER TABLE resources DROP COLUMN patient; \
                 DELETE FROM medilink_migrations WHERE name IN ('{PATIENT_INDEX}', '{RESOURCE_PATIENT}')"
            ))
            .await
            .expect("forget");
        // Without the rows (and so with `patient` NULL) d2 would be visible: a leak.
        assert_eq!(
            store.migrate().await.expect("migrate"),
            [PATIENT_INDEX, RESOURCE_PATIENT]
        );
        let mut visible = visible_devices(&store, &["p1"]).await;
        visible.sort();
        assert_eq!(visible.len(), 2);
        assert!(visible.contains(&"d1".to_owned()) && !visible.contains(&"d2".to_owned()));
    }
}
