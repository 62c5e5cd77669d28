//! [`SqlResourceStore`]: the resource store on SQLite (embedded default, WAL) and PostgreSQL,
//! through sea-orm. One code path serves both; the SQL differs only in placeholders.
//!
//! Writers are serialized: an in-process lock (SQLite has one writer anyway) and, on
//! PostgreSQL, a transaction-scoped advisory lock, so that sequence numbers are assigned in
//! commit order and the change feed never skips a write that commits late.
//!
//! ## Storage layout
//!
//! - `resource_versions(seq PK, resource_type, id, version_id, last_updated, content)` — every
//!   version, immutable; a delete is a row with `content` NULL (tombstone). `seq` is the global
//!   change-feed position. `content` is the resource's JSON text with meta already stamped, so a
//!   read returns it without parsing.
//! - `resources(rid, resource_type, id) → version_id, seq, deleted, last_updated` — the
//!   current-version pointer (searches run over it; `_id`, `_lastUpdated` are served from it).
//!   `rid` is an integer surrogate key (unique across types, assigned by the writer like `seq`,
//!   kept across updates and deletes); `(resource_type, id)` is unique.
//! - `search_string|token|reference|date|number|quantity|uri|composite` — index rows of the
//!   current version of live resources, written in the resource's transaction (stale rows of a
//!   rewritten resource are deleted first), keyed `(param, value…, rid)` (clustered; SQLite
//!   `WITHOUT ROWID`) with a secondary index on `rid` for deletes and sort keys. They carry no
//!   type or id, which keeps them small (3.7 KB per stored resource in all, from 5.7 KB):
//!   queries reach them as `r.rid IN (SELECT s.rid FROM … WHERE s.param = ? …)` under
//!   `r.resource_type = ?`. Strings are stored normalized (lowercase, accents removed) and exact;
//!   dates as `[low, high)` microsecond ranges of their precision; token `:text` and `:of-type`,
//!   and reference `:identifier`, get rows under derived parameter names.
//! - Searches are one SQL statement: criteria as `IN (subquery)` over the index tables (chains
//!   and `_has` nest; the consent guard's `Criterion::Restricted` is applied to the searched type
//!   and again at every hop, each hop by its own type's `Visibility`; its "at least one permitted
//!   patient" half is left out at the top when a reference criterion naming only permitted
//!   patients already implies it), sort keys as correlated `MIN`/`MAX` aggregates, and keyset paging on
//!   `(sort keys…, id)` so links stay correct while others write. Ids are UUIDv7 (time-ordered)
//!   for index locality. SQLite planner statistics are seeded by the migration and refreshed
//!   (`PRAGMA optimize`) as the data doubles; on PostgreSQL the resource and index tables are
//!   `ANALYZE`d in a background task as the data doubles (autovacuum's analyze comes too late
//!   right after a bulk load, or never where autovacuum is off; issue #19).
//! - Writers are serialized: an in-process async mutex and, on PostgreSQL, a transaction-scoped
//!   advisory lock. Sequence numbers are assigned inside the lock as `MAX(seq)+1…`, so the change
//!   feed is gapless and in commit order; readers never wait. Every write — single or bundle — is
//!   one transaction: multi-row INSERTs on SQLite; on PostgreSQL one `INSERT … SELECT … FROM
//!   UNNEST($1::text[], …)` per table, whatever the number of rows (`unnest.rs`). Validation,
//!   index extraction and the JSON text are done before the writer lock is taken (`write.rs`),
//!   so one bundle's preparation overlaps another's commit.

#[cfg(feature = "sql-sqlite")]
pub mod backup;
mod index_rows;
mod jobs;
mod kv;
mod migrate;
mod reader;
mod rows;
mod search;
mod search_plan;
mod totals;
#[cfg(feature = "sql-postgres")]
mod unnest;

pub use jobs::SqlJobQueue;
pub use kv::SqlKeyValue;
pub use migrate::SqlMigration;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, Statement, TransactionTrait, Value as SqlValue,
};
use serde_json::Value;
use tokio::sync::Mutex;

use super::SqlOptions;
use crate::clock::{Clock, IdGen, from_micros, to_micros};
use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult};
use crate::model::{ResourceId, ResourceType, VersionId};
use crate::search::{SearchPage, SearchQuery};
use crate::store::{
    HistoryPage, HistoryQuery, HistoryScope, ResourceStore, StoredResource, WriteOp, WriteOutcome,
};
use crate::write::{PreparedWrite, WriteKind, prepare};

use rows::{VERSION_COLUMNS, stored_from_row};

/// Rows per multi-row INSERT (10 parameters a row stays far below both backends' limits). A
/// remainder is written in power-of-two chunks, so each INSERT takes one of a few SQL texts and
/// stays in the driver's prepared-statement cache.
const INSERT_CHUNK: usize = 256;
/// Prepared statements kept per connection (the INSERT shapes above, plus queries).
const STATEMENT_CACHE: usize = 512;
/// The tables whose planner statistics the store refreshes on PostgreSQL: the current-version
/// pointers and the index tables that searches join (the version table is reached by key only).
const ANALYZE_TABLES: &str = "ANALYZE resources, search_string, search_token, search_reference, \
     search_date, search_number, search_quantity, search_uri, search_composite";
/// Keys per current-version lookup.
const LOOKUP_CHUNK: usize = 400;

/// The SQL resource store.
#[derive(Debug)]
pub struct SqlResourceStore {
    db: DatabaseConnection,
    /// Reads by id and the statements of a [`reader::Reader`]: read-only connections on a
    /// SQLite file, else `db`.
    reads: DatabaseConnection,
    /// The connection of one dedicated, serialized writer ([`Self::writer_connection`]).
    appends: DatabaseConnection,
    backend: DbBackend,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
    /// The writer lock (shared with the key-value store's writes on SQLite).
    write_lock: Arc<Mutex<()>>,
    /// Counted search totals per statement and watermark (issue #19).
    totals: totals::TotalCache,
    /// Versions written since open; planner statistics are refreshed as it doubles.
    written: std::sync::atomic::AtomicU64,
    /// Whether a background `ANALYZE` runs (PostgreSQL, [`Self::analyze_in_background`]).
    analyzing: Arc<std::sync::atomic::AtomicBool>,
    /// The background WAL checkpointer of a SQLite file (stopped on close and drop).
    checkpointer: Option<tokio::task::AbortHandle>,
    /// An in-memory SQLite database lives only while a connection to it is open, and the pool
    /// closes a connection whose statement was abandoned half-way (a cancelled request or job):
    /// the pool's next connection would open an empty database (`no such table`). This idle
    /// connection to the same named database keeps it alive for the store's lifetime.
    #[cfg(feature = "sql-sqlite")]
    #[allow(dead_code, reason = "held, never used")]
    memory_keeper: Option<std::sync::Mutex<sea_orm::sqlx::SqliteConnection>>,
    /// The SQLite statement time limit in milliseconds (0: none), read whenever a connection
    /// is taken from the pool; migrations set it to 0 while they run.
    #[cfg(feature = "sql-sqlite")]
    sqlite_limit: Arc<std::sync::atomic::AtomicU64>,
}

/// SQLite has no statement timeout: every connection gets a progress handler (called every
/// [`PROGRESS_STEPS`] virtual-machine steps) that interrupts its work once the limit has passed
/// since the connection was taken from the pool (sea-orm takes one per statement, or one for a
/// whole transaction). The interrupted statement fails with `SQLITE_INTERRUPT`, which
/// [`classify`] reports as [`FhirError::TimedOut`]. The deadline is measured on the monotonic
/// clock (`Instant`), not the wall clock. A statement of a [`reader::Reader`] is interrupted as
/// well once its future was dropped (the handler also reads the reader's interrupt flag).
#[cfg(feature = "sql-sqlite")]
fn sqlite_time_limit(connect: &mut ConnectOptions, shared: &Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::Ordering;

    // Both hooks run inside the future that takes the connection (sea-orm's, within the
    // caller's), so they see the caller's interrupt flag (`reader::interrupt_flag`).
    async fn arm(
        conn: &mut sea_orm::sqlx::SqliteConnection,
        millis: u64,
        interrupt: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) -> Result<(), sea_orm::sqlx::Error> {
        let mut handle = conn.lock_handle().await?;
        if millis == 0 && interrupt.is_none() {
            handle.remove_progress_handler();
            return Ok(());
        }
        let deadline =
            (millis > 0).then(|| std::time::Instant::now() + Duration::from_millis(millis));
        // `false` interrupts the running statement: past the deadline, or once the statement's
        // future was dropped.
        handle.set_progress_handler(PROGRESS_STEPS, move || {
            deadline.is_none_or(|deadline| std::time::Instant::now() < deadline)
                && !interrupt
                    .as_ref()
                    .is_some_and(|flag| flag.load(Ordering::Relaxed))
        });
        Ok(())
    }
    let on_connect = shared.clone();
    connect.map_sqlx_sqlite_pool_opts(move |pool| {
        let on_connect = on_connect.clone();
        pool.after_connect(move |conn, _| {
            let millis = on_connect.load(Ordering::Relaxed);
            Box::pin(arm(conn, millis, reader::interrupt_flag()))
        })
    });
    let on_acquire = shared.clone();
    connect.map_sqlx_sqlite_before_acquire(move |conn, _| {
        let millis = on_acquire.load(Ordering::Relaxed);
        let interrupt = reader::interrupt_flag();
        Box::pin(async move { arm(conn, millis, interrupt).await.map(|()| true) })
    });
}

/// The statement time limit in milliseconds as [`sqlite_time_limit`] reads it (0: none).
#[cfg(feature = "sql-sqlite")]
fn limit_millis(limit: Option<Duration>) -> u64 {
    limit.map_or(0, |l| {
        u64::try_from(l.as_millis()).unwrap_or(u64::MAX).max(1)
    })
}

/// The connection options of a pool of at most `max_connections` on `url`: SQLite's pragmas
/// (a `read_only` pool opens the file read-only: it never takes a write lock, so it never
/// waits behind a writer) and PostgreSQL's statement cache and time limit.
fn connect_options(
    url: &str,
    max_connections: u32,
    statement_timeout: Option<Duration>,
    read_only: bool,
) -> ConnectOptions {
    let mut connect = ConnectOptions::new(url.to_owned());
    connect
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    #[cfg(feature = "sql-sqlite")]
    connect.map_sqlx_sqlite_opts(move |opts| {
        // page_size takes effect only on a new database (set before the schema).
        let opts = if read_only {
            opts.read_only(true)
        } else {
            opts.create_if_missing(true)
                .page_size(8192)
                .pragma("journal_mode", "WAL")
        };
        opts.statement_cache_capacity(STATEMENT_CACHE)
            .pragma("synchronous", "NORMAL")
            .pragma("foreign_keys", "ON")
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "MEMORY")
            // No memory map: reads through SQLite's own page cache measured faster
            // under concurrent HTTP reads (WAL mode re-maps as the file grows).
            .pragma("mmap_size", "0")
            .pragma("wal_autocheckpoint", "8000")
            .busy_timeout(Duration::from_secs(10))
    });
    #[cfg(not(feature = "sql-sqlite"))]
    let _ = read_only;
    #[cfg(feature = "sql-postgres")]
    connect.map_sqlx_postgres_opts(|opts| opts.statement_cache_capacity(STATEMENT_CACHE));
    // PostgreSQL: `statement_timeout` set on every connection at start-up (no extra round
    // trip); SQLite: a progress handler, see `sqlite_time_limit`.
    if let Some(limit) = statement_timeout {
        connect.statement_timeout(limit);
    }
    connect
}

/// Virtual-machine steps between two calls of the SQLite progress handler (a call costs one
/// monotonic clock read; 10,000 steps take well under a millisecond).
#[cfg(feature = "sql-sqlite")]
const PROGRESS_STEPS: i32 = 10_000;

/// A statement that never ends on its own (test suite hooks).
#[cfg(feature = "testsuite")]
const ENDLESS: &str =
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c";

/// How often a SQLite file's WAL is checkpointed in the background.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies the WAL back into the database file now and then (`PASSIVE`: never waits for, nor
/// blocks, readers and writers), so that the automatic checkpoint, which runs inside whichever
/// commit crosses `wal_autocheckpoint` and stalls it, is rarely needed. Ends when the pool is
/// closed.
fn start_checkpointer(db: &DatabaseConnection) -> tokio::task::AbortHandle {
    let db = db.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(err) = db
                .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
                .await
            {
                tracing::debug!(error = %err, "background WAL checkpoint stopped");
                break;
            }
        }
    })
    .abort_handle()
}

impl Drop for SqlResourceStore {
    fn drop(&mut self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.abort();
        }
    }
}

/// Converts a backend error into the crate's error (the one place that does; the crates that
/// run their own SQL on [`SqlResourceStore::connection`] use it too).
pub fn classify(err: DbErr) -> FhirError {
    if timed_out(&err) {
        return FhirError::TimedOut;
    }
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => FhirError::Unavailable {
            source: Box::new(err),
        },
        other => FhirError::Internal {
            source: Box::new(other),
        },
    }
}

/// Whether a statement was stopped by the time limit: PostgreSQL's `query_canceled` (57014:
/// `statement_timeout`, or a cancel request) or SQLite's `SQLITE_INTERRUPT` (9, from the
/// progress handler).
fn timed_out(err: &DbErr) -> bool {
    let (DbErr::Query(sea_orm::RuntimeErr::SqlxError(inner))
    | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(inner))
    | DbErr::Conn(sea_orm::RuntimeErr::SqlxError(inner))) = err
    else {
        return false;
    };
    inner
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "57014" || code == "9")
}

/// Begins a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the write lock is taken (with
/// the busy timeout) before the first read, so a transaction that reads and then writes never
/// fails with `SQLITE_BUSY_SNAPSHOT` when another connection (another store on the pool, a second
/// process) committed in between.
pub async fn begin_write(db: &DatabaseConnection) -> FhirResult<DatabaseTransaction> {
    let options = sea_orm::TransactionOptions {
        sqlite_transaction_mode: (db.get_database_backend() == DbBackend::Sqlite)
            .then_some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    db.begin_with_options(options).await.map_err(classify)
}

/// Rewrites `?` placeholders to `$n` for PostgreSQL.
pub fn placeholders(backend: DbBackend, sql: &str) -> String {
    if backend != DbBackend::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

/// The state of a resource before a write.
#[derive(Debug, Clone, Copy)]
struct Current {
    rid: i64,
    version: u64,
    deleted: bool,
}

impl SqlResourceStore {
    /// Connects (creating a SQLite file if needed) and applies migrations when asked.
    pub async fn connect(
        options: &SqlOptions,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGen>,
    ) -> FhirResult<Self> {
        let in_memory = options.url.contains(":memory:") || options.url.contains("mode=memory");
        // `sqlite::memory:` names a new database at every parse; name it once, so that every
        // connection (the pool's, and the keeper's) opens the same one.
        #[allow(
            clippy::disallowed_methods,
            reason = "a private database name, unique per store even with a shared IdGen double"
        )]
        let url = if options.url.contains(":memory:") {
            format!(
                "sqlite:file:medilink-memory-{}?mode=memory&cache=shared",
                uuid::Uuid::new_v4().simple()
            )
        } else {
            options.url.clone()
        };
        let max_connections = if in_memory {
            1
        } else {
            options.max_connections
        };
        #[allow(unused_mut, reason = "armed only with the sql-sqlite feature")]
        let mut connect = connect_options(&url, max_connections, options.statement_timeout, false);
        #[cfg(feature = "sql-sqlite")]
        let sqlite_limit = Arc::new(std::sync::atomic::AtomicU64::new(limit_millis(
            options.statement_timeout,
        )));
        #[cfg(feature = "sql-sqlite")]
        sqlite_time_limit(&mut connect, &sqlite_limit);
        let db = Database::connect(connect).await.map_err(classify)?;
        let backend = db.get_database_backend();
        // Issue #19: a SQLite file's reads go through a pool of read-only connections (a read
        // never queues for a connection behind writers, nor takes a lock), and one serialized
        // writer (the audit trail's appends) gets a connection of its own. In memory, one
        // connection serves all; on PostgreSQL the reads share the pool (a `Reader` takes a
        // connection per operation) and the dedicated writer gets its own one-connection pool.
        let (reads, appends) = if in_memory {
            (db.clone(), db.clone())
        } else {
            let appends =
                Database::connect(connect_options(&url, 1, options.statement_timeout, false))
                    .await
                    .map_err(classify)?;
            let reads = if backend == DbBackend::Sqlite {
                #[allow(unused_mut, reason = "armed only with the sql-sqlite feature")]
                let mut read_only =
                    connect_options(&url, max_connections, options.statement_timeout, true);
                #[cfg(feature = "sql-sqlite")]
                sqlite_time_limit(&mut read_only, &sqlite_limit);
                Database::connect(read_only).await.map_err(classify)?
            } else {
                db.clone()
            };
            (reads, appends)
        };
        let checkpointer =
            (backend == DbBackend::Sqlite && !in_memory).then(|| start_checkpointer(&db));
        #[cfg(feature = "sql-sqlite")]
        let memory_keeper = if backend == DbBackend::Sqlite && in_memory {
            use sea_orm::sqlx::Connection as _;
            let keeper = sea_orm::sqlx::SqliteConnection::connect(&url)
                .await
                .map_err(|err| FhirError::Unavailable {
                    source: Box::new(err),
                })?;
            Some(std::sync::Mutex::new(keeper))
        } else {
            None
        };
        let store = SqlResourceStore {
            db,
            reads,
            appends,
            backend,
            clock,
            ids,
            write_lock: Arc::new(Mutex::new(())),
            totals: totals::TotalCache::default(),
            written: std::sync::atomic::AtomicU64::new(0),
            analyzing: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            checkpointer,
            #[cfg(feature = "sql-sqlite")]
            memory_keeper,
            #[cfg(feature = "sql-sqlite")]
            sqlite_limit,
        };
        if options.migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    /// Runs a statement that never ends on its own (a recursive count without a bound): what
    /// the statement time limit must stop, and what must stop when the future is dropped. It
    /// runs as searches and history pages do (a [`reader::Reader`]). For the test suite only.
    #[cfg(feature = "testsuite")]
    #[doc(hidden)]
    pub async fn run_endless_statement(&self) -> FhirResult<()> {
        reader::Reader::new(self).one(ENDLESS, vec![]).await?;
        Ok(())
    }

    /// [`Self::run_endless_statement`] straight on the pool, without the drop guard: the
    /// control of the test that shows the guard stops the statement.
    #[cfg(feature = "testsuite")]
    #[doc(hidden)]
    pub async fn run_endless_statement_unguarded(&self) -> FhirResult<()> {
        self.db
            .query_one_raw(self.statement(ENDLESS, vec![]))
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Applies this crate's pending migrations (without the statement time limit); returns
    /// the names of those applied now.
    pub async fn migrate(&self) -> FhirResult<Vec<&'static str>> {
        self.without_time_limit(migrate::run(&self.db)).await
    }

    /// Applies the pending ones of another crate's `migrations` on this store's database, in
    /// order and without the statement time limit, recorded with this crate's own in
    /// `medilink_migrations` (so names must be unique across the workspace); returns the names
    /// applied now.
    pub async fn apply_migrations(
        &self,
        migrations: &[SqlMigration],
    ) -> FhirResult<Vec<&'static str>> {
        self.without_time_limit(migrate::apply(&self.db, migrations))
            .await
    }

    /// The store's connection pool: the seam through which the crates that keep their own
    /// tables on the same database (`medilink-platform`: accounts, the audit trail) run their
    /// SQL, with [`classify`], [`placeholders`] and [`begin_write`].
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A connection of its own (a one-connection pool on the same database; in memory, the
    /// store's) for one serialized writer that must never wait for the store's pool behind
    /// readers and other writers: the audit trail's group commits (issue #19). Use it with
    /// [`begin_write`] like [`Self::connection`].
    pub fn writer_connection(&self) -> &DatabaseConnection {
        &self.appends
    }

    /// The store's clock.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    async fn without_time_limit<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        #[cfg(feature = "sql-sqlite")]
        let limit = self
            .sqlite_limit
            .swap(0, std::sync::atomic::Ordering::Relaxed);
        let applied = work.await;
        #[cfg(feature = "sql-sqlite")]
        self.sqlite_limit
            .store(limit, std::sync::atomic::Ordering::Relaxed);
        applied
    }

    pub(super) fn statement(&self, sql: &str, values: Vec<SqlValue>) -> Statement {
        Statement::from_sql_and_values(self.backend, placeholders(self.backend, sql), values)
    }

    /// Runs `writes` in one transaction under the writer lock. Everything that does not need
    /// the lock (validation, index extraction, JSON text: [`prepare`]) was done before, and the
    /// writes are dropped after it is released.
    async fn write_all(
        &self,
        mut writes: Vec<PreparedWrite>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        // The index rows move into the statements' parameters (no copies inside the lock).
        let indexes: Vec<_> = writes
            .iter_mut()
            .map(|write| std::mem::take(&mut write.index))
            .collect();
        let writer = self.write_lock.lock().await;
        let txn = begin_write(&self.db).await?;
        if self.backend == DbBackend::Postgres {
            txn.execute_unprepared("SELECT pg_advisory_xact_lock(7461626)")
                .await
                .map_err(classify)?;
        }
        let outcomes = self.apply(&txn, &writes, indexes).await?;
        txn.commit().await.map_err(classify)?;
        drop(writer);
        drop(writes);
        let count = outcomes.iter().flatten().count() as u64;
        let before = self
            .written
            .fetch_add(count, std::sync::atomic::Ordering::Relaxed);
        let after = before + count;
        // Refresh planner statistics at 1k, 2k, 4k, … written versions: SQLite has no
        // autovacuum/autoanalyze, and without statistics it drives searches from the wrong
        // side; PostgreSQL's autoanalyze runs only when autovacuum gets to a table, which
        // right after a bulk load into fresh tables is too late (issue #19).
        if after >= 1024 && (before < 1024 || before.leading_zeros() != after.leading_zeros()) {
            if self.backend == DbBackend::Postgres {
                self.analyze_in_background();
            } else {
                self.refresh_statistics().await;
            }
        }
        Ok(outcomes)
    }

    /// Updates the query planner's statistics (`PRAGMA optimize` on SQLite; `ANALYZE` of the
    /// resource and index tables on PostgreSQL). Failures are logged, never fatal.
    pub async fn refresh_statistics(&self) {
        let sql = if self.backend == DbBackend::Sqlite {
            "PRAGMA analysis_limit = 1000; PRAGMA optimize = 0x10002"
        } else {
            ANALYZE_TABLES
        };
        if let Err(err) = self.db.execute_unprepared(sql).await {
            tracing::warn!(error = %err, "refreshing planner statistics failed");
        }
    }

    /// PostgreSQL: `ANALYZE` in a task of its own, off the writer's path (at most one at a
    /// time: a doubling reached while one runs is covered by the next doubling).
    fn analyze_in_background(&self) {
        use std::sync::atomic::Ordering;
        if self.analyzing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (db, analyzing) = (self.db.clone(), self.analyzing.clone());
        tokio::spawn(async move {
            if let Err(err) = db.execute_unprepared(ANALYZE_TABLES).await {
                tracing::warn!(error = %err, "refreshing planner statistics failed");
            }
            analyzing.store(false, Ordering::Release);
        });
    }

    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        writes: &[PreparedWrite],
        indexes: Vec<crate::search::extract::IndexRows>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        let mut seen = HashMap::with_capacity(writes.len());
        for write in writes {
            if seen
                .insert((write.resource_type, write.id.as_str()), ())
                .is_some()
            {
                return Err(FhirError::unprocessable(format!(
                    "{}/{} is written more than once in one transaction",
                    write.resource_type, write.id
                )));
            }
        }
        let current = self.current_versions(txn, writes).await?;
        let now = from_micros(to_micros(self.clock.now()));
        let now_micros = to_micros(now);
        let (mut seq, mut next_rid) = self.max_seq_and_rid(txn).await?;
        let mut outcomes = Vec::with_capacity(writes.len());
        let mut version_rows: Vec<SqlValue> = Vec::with_capacity(writes.len() * 6);
        let mut pointer_rows: Vec<SqlValue> = Vec::with_capacity(writes.len() * 8);
        let mut index = index_rows::IndexBatch::default();
        for (write, rows) in writes.iter().zip(indexes) {
            let before = current
                .get(&(write.resource_type, write.id.as_str()))
                .copied();
            let live = before.filter(|c| !c.deleted);
            if let Some(expected) = write.if_match {
                let current_version = before.map_or(0, |c| c.version);
                if live.is_none() || current_version != expected.get() {
                    return Err(FhirError::VersionMismatch {
                        resource_type: write.resource_type,
                        id: write.id.clone(),
                        expected,
                        current: current_version,
                    });
                }
            }
            match write.kind {
                WriteKind::Create if before.is_some() => {
                    return Err(FhirError::WriteConflict {
                        resource_type: write.resource_type,
                        id: write.id.clone(),
                    });
                }
                WriteKind::Delete if live.is_none() => {
                    outcomes.push(None);
                    continue;
                }
                _ => {}
            }
            seq += 1;
            let rid = match before {
                Some(current) => {
                    index.remove(current.rid);
                    current.rid
                }
                None => {
                    next_rid += 1;
                    next_rid
                }
            };
            let patient = write.body.as_ref().and_then(|_| rows.patient_marker());
            if write.body.is_some() {
                index.add(rid, rows);
            }
            let version = VersionId(before.map_or(1, |c| c.version + 1));
            let json = write.render(version, now);
            version_rows.extend([
                SqlValue::from(seq as i64),
                write.resource_type.as_str().into(),
                write.id.as_str().into(),
                SqlValue::from(version.get() as i64),
                now_micros.into(),
                SqlValue::from(json.clone()),
            ]);
            pointer_rows.extend([
                SqlValue::from(rid),
                SqlValue::from(write.resource_type.as_str()),
                write.id.as_str().into(),
                SqlValue::from(version.get() as i64),
                SqlValue::from(seq as i64),
                SqlValue::from(json.is_none()),
                now_micros.into(),
                SqlValue::from(patient),
            ]);
            outcomes.push(Some(WriteOutcome {
                created: live.is_none(),
                stored: StoredResource {
                    resource_type: write.resource_type,
                    id: write.id.clone(),
                    version_id: version,
                    last_updated: now,
                    seq,
                    json: json.map(Arc::from),
                },
            }));
        }
        let upsert = " ON CONFLICT (rid) DO UPDATE SET version_id = excluded.version_id, \
             seq = excluded.seq, deleted = excluded.deleted, last_updated = excluded.last_updated, \
             patient = excluded.patient";
        #[cfg(feature = "sql-postgres")]
        if self.backend == DbBackend::Postgres {
            use unnest::Kind::{BigInt, Bool, Text};
            self.insert_unnest(
                txn,
                "resource_versions",
                &[
                    ("seq", BigInt, false),
                    ("resource_type", Text, false),
                    ("id", Text, false),
                    ("version_id", BigInt, false),
                    ("last_updated", BigInt, false),
                    ("content", Text, true),
                ],
                "",
                version_rows,
            )
            .await?;
            self.insert_unnest(
                txn,
                "resources",
                &[
                    ("rid", BigInt, false),
                    ("resource_type", Text, false),
                    ("id", Text, false),
                    ("version_id", BigInt, false),
                    ("seq", BigInt, false),
                    ("deleted", Bool, false),
                    ("last_updated", BigInt, false),
                    ("patient", Text, true),
                ],
                upsert,
                pointer_rows,
            )
            .await?;
            index.write(self, txn).await?;
            return Ok(outcomes);
        }
        self.insert_rows(
            txn,
            "INSERT INTO resource_versions (seq, resource_type, id, version_id, last_updated, content) VALUES ",
            6,
            "",
            version_rows,
        )
        .await?;
        self.insert_rows(
            txn,
            "INSERT INTO resources (rid, resource_type, id, version_id, seq, deleted, last_updated, patient) VALUES ",
            8,
            upsert,
            pointer_rows,
        )
        .await?;
        index.write(self, txn).await?;
        Ok(outcomes)
    }

    pub(super) async fn insert_rows(
        &self,
        txn: &DatabaseTransaction,
        head: &str,
        width: usize,
        tail: &str,
        values: Vec<SqlValue>,
    ) -> FhirResult<()> {
        let row = format!("({})", vec!["?"; width].join(", "));
        let mut remaining = values.len() / width;
        let mut values = values.into_iter();
        while remaining > 0 {
            let rows = if remaining >= INSERT_CHUNK {
                INSERT_CHUNK
            } else {
                1 << remaining.ilog2()
            };
            remaining -= rows;
            let chunk: Vec<SqlValue> = values.by_ref().take(rows * width).collect();
            let sql = format!("{head}{}{tail}", vec![row.as_str(); rows].join(", "));
            txn.execute_raw(self.statement(&sql, chunk))
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    /// The last assigned sequence number and resource key (writers are serialized).
    async fn max_seq_and_rid(&self, txn: &DatabaseTransaction) -> FhirResult<(u64, i64)> {
        let row = txn
            .query_one_raw(self.statement(
                "SELECT (SELECT COALESCE(MAX(seq), 0) FROM resource_versions), \
                 (SELECT COALESCE(MAX(rid), 0) FROM resources)",
                vec![],
            ))
            .await
            .map_err(classify)?;
        let (seq, rid): (i64, i64) = match row {
            Some(row) => (
                row.try_get_by_index(0).map_err(classify)?,
                row.try_get_by_index(1).map_err(classify)?,
            ),
            None => (0, 0),
        };
        Ok((seq as u64, rid))
    }

    async fn current_versions<'w>(
        &self,
        txn: &DatabaseTransaction,
        writes: &'w [PreparedWrite],
    ) -> FhirResult<HashMap<(ResourceType, &'w str), Current>> {
        let mut found = HashMap::new();
        for chunk in writes.chunks(LOOKUP_CHUNK) {
            let by_key: HashMap<(&str, &str), &PreparedWrite> = chunk
                .iter()
                .map(|w| ((w.resource_type.as_str(), w.id.as_str()), w))
                .collect();
            let mut values = Vec::with_capacity(chunk.len() * 2);
            for write in chunk {
                values.push(SqlValue::from(write.resource_type.as_str()));
                values.push(SqlValue::from(write.id.as_str()));
            }
            let sql = format!(
                "SELECT resource_type, id, version_id, deleted, rid FROM resources \
                 WHERE (resource_type, id) IN (VALUES {})",
                vec!["(?, ?)"; chunk.len()].join(", ")
            );
            let rows = txn
                .query_all_raw(self.statement(&sql, values))
                .await
                .map_err(classify)?;
            for row in rows {
                let type_name: String = row.try_get_by_index(0).map_err(classify)?;
                let id: String = row.try_get_by_index(1).map_err(classify)?;
                let version: i64 = row.try_get_by_index(2).map_err(classify)?;
                let deleted: bool = row.try_get_by_index(3).map_err(classify)?;
                let rid: i64 = row.try_get_by_index(4).map_err(classify)?;
                let Some(write) = by_key.get(&(type_name.as_str(), id.as_str())) else {
                    continue;
                };
                found.insert(
                    (write.resource_type, write.id.as_str()),
                    Current {
                        rid,
                        version: version as u64,
                        deleted,
                    },
                );
            }
        }
        Ok(found)
    }

    async fn fetch_one(
        &self,
        sql: &str,
        values: Vec<SqlValue>,
    ) -> FhirResult<Option<StoredResource>> {
        let row = self
            .reads
            .query_one_raw(self.statement(sql, values))
            .await
            .map_err(classify)?;
        row.map(|row| stored_from_row(&row)).transpose()
    }

    async fn write_one(&self, op: WriteOp) -> FhirResult<Option<WriteOutcome>> {
        let write = prepare(op, self.ids.as_ref())?;
        let mut outcomes = self.write_all(vec![write]).await?;
        Ok(outcomes.pop().flatten())
    }
}

#[async_trait]
impl ResourceStore for SqlResourceStore {
    #[tracing::instrument(target = "medilink_otel::db", level = "debug", skip_all, name = "db.create", fields(db.operation = "create"))]
    async fn create(&self, _ctx: &RequestContext, resource: Value) -> FhirResult<StoredResource> {
        let outcome = self
            .write_one(WriteOp::Create { resource, id: None })
            .await?;
        Ok(outcome
            .expect("invariant: a create always writes a version")
            .stored)
    }

    #[tracing::instrument(target = "medilink_otel::db", level = "debug", skip_all, name = "db.read", fields(db.operation = "read", resource_type = %resource_type))]
    async fn read(
        &self,
        _ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
    ) -> FhirResult<StoredResource> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM resource_versions WHERE resource_type = ? AND id = ? \
             ORDER BY version_id DESC LIMIT 1"
        );
        let stored = self
            .fetch_one(
                &sql,
                vec![resource_type.as_str().into(), id.as_str().into()],
            )
            .await?
            .ok_or_else(|| FhirError::NotFound {
                resource_type,
                id: id.clone(),
            })?;
        if stored.is_deleted() {
            return Err(FhirError::Gone {
                resource_type,
                id: id.clone(),
                version: stored.version_id,
            });
        }
        Ok(stored)
    }

    #[tracing::instrument(target = "medilink_otel::db", level = "debug", skip_all, name = "db.vread", fields(db.operation = "vread", resource_type = %resource_type))]
    async fn vread(
        &self,
        _ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        version: VersionId,
    ) -> FhirResult<StoredResource> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM resource_versions \
             WHERE resource_type = ? AND id = ? AND version_id = ?"
        );
        let values = vec![
            resource_type.as_str().into(),
            id.as_str().into(),
            SqlValue::from(version.get() as i64),
        ];
        let stored =
            self.fetch_one(&sql, values)
                .await?
                .ok_or_else(|| FhirError::VersionNotFound {
                    resource_type,
                    id: id.clone(),
                    version,
                })?;
        if stored.is_deleted() {
            return Err(FhirError::Gone {
                resource_type,
                id: id.clone(),
                version,
            });
        }
        Ok(stored)
    }

    #[tracing::instrument(target = "medilink_otel::db", level = "debug", skip_all, name = "db.update", fields(db.operation = "update", resource_type = %resource_type))]
    async fn update(
        &self,
        _ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        resource: Value,
        if_match: Option<VersionId>,
    ) -> FhirResult<WriteOutcome> {
        let op = WriteOp::Update {
            resource_type,
            id: id.clone(),
            resource,
            if_match,
        };
        let outcome = self.write_one(op).await?;
        Ok(outcome.expect("invariant: an update always writes a version"))
    }

    #[tracing::instrument(target = "medilink_otel::db", level = "debug", skip_all, name = "db.delete", fields(db.operation = "delete", resource_type = %resource_type))]
    async fn delete(
        &self,
        _ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        if_match: Option<VersionId>,
    ) -> FhirResult<Option<WriteOutcome>> {
        self.write_one(WriteOp::Delete {
            resource_type,
            id: id.clone(),
            if_match,
        })
        .await
    }

    #[tracing::instrument(target = "medilink_otel::db", level = "debug", skip_all, name = "db.history", fields(db.operation = "history"))]
    async fn history(
        &self,
        _ctx: &RequestContext,
        query: &HistoryQuery,
    ) -> FhirResult<HistoryPage> {
        let (filter, values) = rows::history_filter(query);
        let mut reader = reader::Reader::new(self);
        let count_sql = format!("SELECT COUNT(*) FROM resource_versions v WHERE {filter}");
        let total: i64 = match reader.one(&count_sql, values.clone()).await? {
            Some(row) => row.try_get_by_index(0).map_err(classify)?,
            None => 0,
        };
        let mut values = values;
        let mut page_filter = filter;
        if let Some(before) = query.before_seq {
            page_filter.push_str(" AND v.seq < ?");
            values.push(SqlValue::from(before as i64));
        }
        let limit = query.count.max(1);
        let sql = format!(
            "SELECT {} FROM resource_versions v WHERE {page_filter} ORDER BY v.seq DESC LIMIT {}",
            rows::VERSION_COLUMNS_V,
            limit + 1
        );
        let rows = reader.all(&sql, values).await?;
        let mut entries = rows
            .iter()
            .map(stored_from_row)
            .collect::<FhirResult<Vec<_>>>()?;
        let next_before_seq = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(HistoryPage {
            entries,
            total: total as u64,
            next_before_seq,
        })
    }

    #[tracing::instrument(target = "medilink_otel::db", level = "debug", skip_all, name = "db.transaction", fields(db.operation = "transaction", entries = ops.len()))]
    async fn transaction(
        &self,
        _ctx: &RequestContext,
        ops: Vec<WriteOp>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        let writes = ops
            .into_iter()
            .enumerate()
            .map(|(index, op)| {
                prepare(op, self.ids.as_ref()).map_err(|err| FhirError::BundleEntry {
                    index,
                    source: Box::new(err),
                })
            })
            .collect::<FhirResult<Vec<_>>>()?;
        self.write_all(writes).await
    }

    async fn find_by_identifier(
        &self,
        _ctx: &RequestContext,
        resource_type: ResourceType,
        system: Option<&str>,
        value: &str,
    ) -> FhirResult<Vec<ResourceId>> {
        let mut sql = String::from(
            "SELECT DISTINCT r.id FROM search_token t JOIN resources r ON r.rid = t.rid \
             WHERE r.resource_type = ? AND t.param = 'identifier' AND t.code = ? AND r.deleted = ?",
        );
        let mut values = vec![
            resource_type.as_str().into(),
            value.into(),
            SqlValue::from(false),
        ];
        if let Some(system) = system {
            sql.push_str(" AND t.system = ?");
            values.push(system.into());
        }
        let rows = self
            .db
            .query_all_raw(self.statement(&sql, values))
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get_by_index(0).map_err(classify)?;
                ResourceId::new(id)
            })
            .collect()
    }

    async fn changes_since(
        &self,
        _ctx: &RequestContext,
        after: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM resource_versions WHERE seq > ? ORDER BY seq LIMIT {}",
            limit.max(1)
        );
        let rows = self
            .db
            .query_all_raw(self.statement(&sql, vec![SqlValue::from(after as i64)]))
            .await
            .map_err(classify)?;
        rows.iter().map(stored_from_row).collect()
    }

    async fn changes_of_type_since(
        &self,
        _ctx: &RequestContext,
        resource_type: ResourceType,
        after: u64,
        limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM resource_versions WHERE seq > ? AND resource_type = ? \
             ORDER BY seq LIMIT {}",
            limit.max(1)
        );
        let values = vec![
            SqlValue::from(after as i64),
            SqlValue::from(resource_type.as_str()),
        ];
        let rows = self
            .db
            .query_all_raw(self.statement(&sql, values))
            .await
            .map_err(classify)?;
        rows.iter().map(stored_from_row).collect()
    }

    #[tracing::instrument(target = "medilink_otel::db", level = "debug", skip_all, name = "db.search", fields(db.operation = "search", resource_type = %query.resource_type))]
    async fn search(&self, _ctx: &RequestContext, query: &SearchQuery) -> FhirResult<SearchPage> {
        search::run(self, query).await
    }

    async fn close(&self) -> FhirResult<()> {
        let _writer = self.write_lock.lock().await;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.abort();
        }
        self.reads.close_by_ref().await.map_err(classify)?;
        self.appends.close_by_ref().await.map_err(classify)?;
        self.db.close_by_ref().await.map_err(classify)
    }
}

impl HistoryScope {
    fn type_and_id(&self) -> (Option<ResourceType>, Option<&ResourceId>) {
        match self {
            HistoryScope::System => (None, None),
            HistoryScope::Type(t) => (Some(*t), None),
            HistoryScope::Instance(t, id) => (Some(*t), Some(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        assert_eq!(
            placeholders(DbBackend::Postgres, "a = ? AND b = ?"),
            "a = $1 AND b = $2"
        );
        assert_eq!(placeholders(DbBackend::Sqlite, "a = ?"), "a = ?");
    }
}
