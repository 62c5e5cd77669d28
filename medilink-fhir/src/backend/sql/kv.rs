//! [`SqlKeyValue`]: the [`KeyValue`] seam in the resource store's database (table `kv`,
//! migration `0005_kv`), so that the denylist, revocation cut-offs, lockouts and counters of a
//! deployment without Redis survive a restart and are shared by every process on the database.
//!
//! Every operation is one statement, hence atomic on both backends: `incr` is an
//! `INSERT … ON CONFLICT (key) DO UPDATE` whose `CASE` restarts an expired window, so
//! concurrent increments (PostgreSQL locks the row; SQLite has one writer) never lose a count.
//! On SQLite the writes also take the resource store's writer lock: writers then queue on it
//! instead of sleeping in SQLite's busy handler. Expiry is by the store's [`Clock`]; expired
//! rows are never returned and are deleted every [`SWEEP_EVERY`] writes of a process.
//!
//! ## Where security state lives
//!
//! Users, refresh tokens and the audit trail live in the same database as the resources, behind
//! seams in `medilink-platform` (its SQL on the resource store's pool); counters, lockouts and the token denylist behind the
//! `KeyValue` seam. Where that security state lives (the access-token denylist, the revocation
//! cut-offs of a password change or suspension, login/TOTP/password lockouts, rate and
//! break-glass counters): with `--redis-url`, in Redis (shared by every server); without it, in
//! the `kv` table of the same database (`SqlKeyValue`, migration `0005_kv`: SQLite or
//! PostgreSQL), so it survives a restart and is shared by servers on one PostgreSQL database.
//! (The server keeps two things of it in process when it is the single server of a SQLite
//! database, issue #19: the rate-limit counters, and the known absence of the token checks'
//! keys.) Each operation is one statement (`incr` is an upsert whose `CASE` restarts
//! an expired fixed window), expiry is by the `Clock`, and expired rows are swept every 1024
//! writes of a process; on SQLite the writes queue on the resource store's writer lock. The
//! consent grant cache (a pure cache of `Consent` resources, with its generation tokens) follows
//! the same store, except on SQLite without Redis, where the one server keeps it in process
//! (two `kv` reads per physician request saved; measured ~0.1–0.2 ms each through sqlx in a
//! loaded debug build, vs ~3 µs in process). `medilink-worker` holds no security state.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value as SqlValue};
use tokio::sync::{Mutex, MutexGuard};

use super::{SqlResourceStore, classify, placeholders};
use crate::clock::{Clock, to_micros};
use crate::error::{FhirError, FhirResult};
use crate::kv::KeyValue;

/// Writes of a process between two sweeps of expired rows (the first write sweeps too).
const SWEEP_EVERY: u64 = 1024;

impl SqlResourceStore {
    /// The key-value store on this store's connection pool.
    pub fn key_value(&self) -> SqlKeyValue {
        SqlKeyValue {
            db: self.db.clone(),
            reads: self.reads.clone(),
            backend: self.backend,
            clock: self.clock.clone(),
            write_lock: (self.backend == DbBackend::Sqlite).then(|| self.write_lock.clone()),
            writes: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// The key-value store in SQL.
#[derive(Debug, Clone)]
pub struct SqlKeyValue {
    db: DatabaseConnection,
    /// Reads (the store's read-only pool on a SQLite file).
    reads: DatabaseConnection,
    backend: DbBackend,
    clock: Arc<dyn Clock>,
    /// The resource store's writer lock (SQLite only).
    write_lock: Option<Arc<Mutex<()>>>,
    writes: Arc<AtomicU64>,
}

fn micros(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 4)
}

const SET: &str = "INSERT INTO kv (key, value, count, expires_at) VALUES (?, ?, NULL, ?) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, count = NULL, \
     expires_at = excluded.expires_at";

/// A missing or expired counter (or an entry that is no counter) starts a window at 1.
const INCR: &str = "INSERT INTO kv (key, value, count, expires_at) VALUES (?, NULL, 1, ?) \
     ON CONFLICT (key) DO UPDATE SET \
     count = CASE WHEN kv.expires_at <= ? OR kv.count IS NULL THEN 1 ELSE kv.count + 1 END, \
     expires_at = CASE WHEN kv.expires_at <= ? THEN excluded.expires_at \
     ELSE kv.expires_at END, \
     value = NULL \
     RETURNING count";

impl SqlKeyValue {
    fn statement(&self, sql: &str, values: Vec<SqlValue>) -> Statement {
        Statement::from_sql_and_values(self.backend, placeholders(self.backend, sql), values)
    }

    fn now(&self) -> i64 {
        to_micros(self.clock.now())
    }

    async fn writer(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// Sweeps expired rows on every [`SWEEP_EVERY`]th write (failures are only logged).
    async fn after_write(&self) {
        if self
            .writes
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
            && let Err(err) = self.sweep().await
        {
            tracing::warn!(error = %err, "sweeping expired key-value rows failed");
        }
    }

    /// Deletes the expired rows; returns how many.
    pub async fn sweep(&self) -> FhirResult<u64> {
        let now = self.now();
        let _writer = self.writer().await;
        let result = self
            .db
            .execute_raw(self.statement("DELETE FROM kv WHERE expires_at <= ?", vec![now.into()]))
            .await
            .map_err(classify)?;
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl KeyValue for SqlKeyValue {
    async fn get(&self, key: &str) -> FhirResult<Option<Vec<u8>>> {
        let row = self
            .reads
            .query_one_raw(self.statement(
                "SELECT value, count FROM kv WHERE key = ? AND expires_at > ?",
                vec![key.into(), self.now().into()],
            ))
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let value: Option<Vec<u8>> = row.try_get_by_index(0).map_err(classify)?;
        let count: Option<i64> = row.try_get_by_index(1).map_err(classify)?;
        Ok(value.or_else(|| count.map(|count| count.to_string().into_bytes())))
    }

    async fn get_two(
        &self,
        first: &str,
        second: &str,
    ) -> FhirResult<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        let rows = self
            .reads
            .query_all_raw(self.statement(
                "SELECT key, value, count FROM kv WHERE key IN (?, ?) AND expires_at > ?",
                vec![first.into(), second.into(), self.now().into()],
            ))
            .await
            .map_err(classify)?;
        let (mut a, mut b) = (None, None);
        for row in rows {
            let key: String = row.try_get_by_index(0).map_err(classify)?;
            let value: Option<Vec<u8>> = row.try_get_by_index(1).map_err(classify)?;
            let count: Option<i64> = row.try_get_by_index(2).map_err(classify)?;
            let value = value.or_else(|| count.map(|count| count.to_string().into_bytes()));
            if key == first {
                a.clone_from(&value);
            }
            if key == second {
                b = value;
            }
        }
        Ok((a, b))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> FhirResult<()> {
        let expires_at = self.now().saturating_add(micros(ttl));
        {
            let _writer = self.writer().await;
            self.db
                .execute_raw(self.statement(
                    SET,
                    vec![key.into(), value.to_vec().into(), expires_at.into()],
                ))
                .await
                .map_err(classify)?;
        }
        self.after_write().await;
        Ok(())
    }

    async fn incr(&self, key: &str, ttl: Duration) -> FhirResult<u64> {
        let now = self.now();
        let expires_at = now.saturating_add(micros(ttl));
        let row = {
            let _writer = self.writer().await;
            self.db
                .query_one_raw(self.statement(
                    INCR,
                    vec![key.into(), expires_at.into(), now.into(), now.into()],
                ))
                .await
                .map_err(classify)?
        };
        self.after_write().await;
        let row = row.ok_or_else(|| FhirError::Internal {
            source: "key-value increment returned no row".into(),
        })?;
        let count: i64 = row.try_get_by_index(0).map_err(classify)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn delete(&self, key: &str) -> FhirResult<()> {
        {
            let _writer = self.writer().await;
            self.db
                .execute_raw(self.statement("DELETE FROM kv WHERE key = ?", vec![key.into()]))
                .await
                .map_err(classify)?;
        }
        self.after_write().await;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "database"
    }
}
