//! [`Reader`]: the statements of one read operation (a search page, a history page), stopped
//! on the database when the operation's future is dropped half-way (issue #11: the HTTP
//! client left, axum dropped the handler, and the query went on).
//!
//! - **PostgreSQL**: sqlx does not cancel server-side work when a query's future is dropped.
//!   A reader takes one pooled connection for all its statements, learns its backend pid
//!   (`SELECT pg_backend_pid()`, once per reader: sqlx does not expose the pid it gets at
//!   start-up, and a pooled connection carries no data of ours to cache it in; the query
//!   replaces the liveness ping sqlx sends whenever sea-orm takes a connection, so a reader
//!   costs no more round trips than its statements would on the pool), and holds a drop
//!   guard: dropped while a statement is in flight, it hands the connection to a task that
//!   sends `SELECT pg_cancel_backend(pid)` on another connection (an idle pooled one, or a new
//!   one: never waiting for the pool, which may be full of the very statements being
//!   cancelled) and then closes the connection. The connection never goes back to the pool
//!   mid-statement, so the cancel cannot reach another caller's statement.
//! - **SQLite**: every statement runs with an interrupt flag in a task-local; the progress
//!   handler that enforces the time limit (armed whenever sea-orm takes a connection from the
//!   pool, inside the caller's future) also reads the flag, and the drop guard raises it: the
//!   statement stops at the handler's next call (every `PROGRESS_STEPS` steps) instead of at
//!   the time limit.

#[cfg(feature = "sql-sqlite")]
use std::sync::Arc;
#[cfg(feature = "sql-sqlite")]
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(feature = "sql-postgres")]
use sea_orm::DbBackend;
use sea_orm::{ConnectionTrait, QueryResult, Value as SqlValue};

use super::{SqlResourceStore, classify};
use crate::error::FhirResult;

/// The statements of one read operation; see the module documentation.
pub(super) struct Reader<'s> {
    pub(super) store: &'s SqlResourceStore,
    /// PostgreSQL: the connection of this reader, taken at its first statement.
    #[cfg(feature = "sql-postgres")]
    pg: Option<pg::Session>,
}

impl std::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader").finish_non_exhaustive()
    }
}

impl<'s> Reader<'s> {
    pub(super) fn new(store: &'s SqlResourceStore) -> Reader<'s> {
        Reader {
            store,
            #[cfg(feature = "sql-postgres")]
            pg: None,
        }
    }

    /// The rows of `sql` with `values` (`?` placeholders).
    pub(super) async fn all(
        &mut self,
        sql: &str,
        values: Vec<SqlValue>,
    ) -> FhirResult<Vec<QueryResult>> {
        let statement = self.store.statement(sql, values);
        #[cfg(feature = "sql-postgres")]
        if self.store.backend == DbBackend::Postgres {
            return self.session().await?.all(statement).await.map_err(classify);
        }
        interruptible(self.store.reads.query_all_raw(statement))
            .await
            .map_err(classify)
    }

    /// The first row of `sql` with `values`, if any.
    pub(super) async fn one(
        &mut self,
        sql: &str,
        values: Vec<SqlValue>,
    ) -> FhirResult<Option<QueryResult>> {
        let statement = self.store.statement(sql, values);
        #[cfg(feature = "sql-postgres")]
        if self.store.backend == DbBackend::Postgres {
            return self.session().await?.one(statement).await.map_err(classify);
        }
        interruptible(self.store.reads.query_one_raw(statement))
            .await
            .map_err(classify)
    }

    #[cfg(feature = "sql-postgres")]
    async fn session(&mut self) -> FhirResult<&mut pg::Session> {
        if self.pg.is_none() {
            let pool = self.store.db.get_postgres_connection_pool();
            self.pg = Some(pg::Session::open(pool).await.map_err(classify)?);
        }
        Ok(self.pg.as_mut().expect("invariant: opened above"))
    }
}

/// Raises its flag when dropped before [`Raise::disarm`]: the future holding it was dropped
/// while its statement ran.
#[cfg(feature = "sql-sqlite")]
struct Raise(Option<Arc<AtomicBool>>);

#[cfg(feature = "sql-sqlite")]
impl Raise {
    fn disarm(mut self) {
        self.0 = None;
    }
}

#[cfg(feature = "sql-sqlite")]
impl Drop for Raise {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

#[cfg(feature = "sql-sqlite")]
tokio::task_local! {
    /// The interrupt flag of the SQLite statement the current task is running.
    static INTERRUPT: Arc<AtomicBool>;
}

/// The interrupt flag of the statement being run by the current task, read by the SQLite
/// progress handler when a connection is taken from the pool (`None` outside a [`Reader`]).
#[cfg(feature = "sql-sqlite")]
pub(super) fn interrupt_flag() -> Option<Arc<AtomicBool>> {
    INTERRUPT.try_with(Arc::clone).ok()
}

/// Runs `statement` (a sea-orm call on the pool) with a fresh interrupt flag, raised if the
/// future is dropped before the statement finished. One allocation per statement.
#[cfg(feature = "sql-sqlite")]
async fn interruptible<T>(statement: impl Future<Output = T>) -> T {
    let flag = Arc::new(AtomicBool::new(false));
    let raise = Raise(Some(flag.clone()));
    let out = INTERRUPT.scope(flag, statement).await;
    raise.disarm();
    out
}

#[cfg(not(feature = "sql-sqlite"))]
async fn interruptible<T>(statement: impl Future<Output = T>) -> T {
    statement.await
}

#[cfg(feature = "sql-postgres")]
mod pg {
    use std::sync::Arc;
    use std::time::Duration;

    use sea_orm::sqlx::pool::PoolConnection;
    use sea_orm::sqlx::postgres::{PgConnection, PgPool, Postgres};
    use sea_orm::sqlx::{self, Connection as _};
    use sea_orm::{ConnAcquireErr, DbErr, QueryResult, Statement};
    use sea_query_sqlx::SqlxValues;

    /// Maps a driver error as sea-orm does, so that `classify` sees the same shapes.
    fn query_err(err: sqlx::Error) -> DbErr {
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(Arc::new(err)))
    }

    /// How long the cancel task tries to reach PostgreSQL before it gives up (the statement
    /// then ends at `statement_timeout`).
    const CANCEL_WITHIN: Duration = Duration::from_secs(10);

    /// A pooled connection with its backend pid, and the drop guard.
    pub(super) struct Session {
        conn: Option<PoolConnection<Postgres>>,
        pid: i32,
        /// A statement was sent and its answer not yet read in full.
        busy: bool,
        pool: PgPool,
    }

    impl Session {
        /// Takes a connection and asks its pid. An idle connection is taken as it is
        /// (`try_acquire`: no liveness ping, which `acquire` sends first, as it does for every
        /// statement sea-orm runs): the pid query is the liveness test, so a reader costs no
        /// more round trips than one sea-orm statement, and fewer from its second statement
        /// on. A connection that fails it is closed and the pool asked for a tested one.
        pub(super) async fn open(pool: &PgPool) -> Result<Session, DbErr> {
            if let Some(idle) = pool.try_acquire() {
                match Session::with_pid(pool, idle).await {
                    Ok(session) => return Ok(session),
                    Err((idle, err)) => {
                        tracing::debug!(error = %err, "an idle connection failed its pid query");
                        let _ = idle.close().await;
                    }
                }
            }
            let tested = pool.acquire().await.map_err(|err| match err {
                sqlx::Error::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
                sqlx::Error::PoolClosed => {
                    DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)
                }
                other => DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(other))),
            })?;
            Session::with_pid(pool, tested)
                .await
                .map_err(|(_, err)| query_err(err))
        }

        /// Dropped during this query, the connection goes back to the pool as any other (sqlx
        /// reads the short answer first).
        async fn with_pid(
            pool: &PgPool,
            mut conn: PoolConnection<Postgres>,
        ) -> Result<Session, (PoolConnection<Postgres>, sqlx::Error)> {
            match sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut *conn)
                .await
            {
                Ok(pid) => Ok(Session {
                    conn: Some(conn),
                    pid,
                    busy: false,
                    pool: pool.clone(),
                }),
                Err(err) => Err((conn, err)),
            }
        }

        fn query(statement: &Statement) -> sqlx::query::Query<'_, Postgres, SqlxValues> {
            let values = statement
                .values
                .clone()
                .unwrap_or(sea_orm::sea_query::Values(Vec::new()));
            sqlx::query_with(
                sqlx::AssertSqlSafe(statement.sql.as_str()),
                SqlxValues(values),
            )
        }

        pub(super) async fn all(
            &mut self,
            statement: Statement,
        ) -> Result<Vec<QueryResult>, DbErr> {
            let conn = self.conn.as_mut().expect("invariant: held until dropped");
            self.busy = true;
            let rows = Session::query(&statement).fetch_all(&mut **conn).await;
            self.busy = false;
            Ok(rows
                .map_err(query_err)?
                .into_iter()
                .map(QueryResult::from)
                .collect())
        }

        pub(super) async fn one(
            &mut self,
            statement: Statement,
        ) -> Result<Option<QueryResult>, DbErr> {
            let conn = self.conn.as_mut().expect("invariant: held until dropped");
            self.busy = true;
            let row = Session::query(&statement).fetch_optional(&mut **conn).await;
            self.busy = false;
            Ok(row.map_err(query_err)?.map(QueryResult::from))
        }
    }

    impl Drop for Session {
        fn drop(&mut self) {
            if !self.busy {
                return; // the connection goes back to the pool
            }
            let Some(conn) = self.conn.take() else {
                return;
            };
            // Without a runtime (never: a reader lives in a future) the connection is dropped
            // as any other, and the statement ends at `statement_timeout`.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(cancel(self.pool.clone(), self.pid, conn));
            }
        }
    }

    /// Cancels the statement of backend `pid`, then closes `conn` (its connection).
    async fn cancel(pool: PgPool, pid: i32, conn: PoolConnection<Postgres>) {
        match tokio::time::timeout(CANCEL_WITHIN, send_cancel(&pool, pid)).await {
            Ok(Ok(true)) => tracing::debug!(pid, "cancelled the statement of a dropped read"),
            Ok(Ok(false)) => tracing::debug!(pid, "the backend of a dropped read had ended"),
            Ok(Err(err)) => {
                tracing::warn!(pid, error = %err, "could not cancel the statement of a dropped read");
            }
            Err(_) => tracing::warn!(pid, "cancelling the statement of a dropped read timed out"),
        }
        // Closed, not returned: the statement's answer (rows, or the cancel error) is still on
        // its way, and the backend pid must not serve another caller while a cancel may land.
        if let Err(err) = conn.close().await {
            tracing::debug!(pid, error = %err, "closing the connection of a dropped read");
        }
    }

    /// `pg_cancel_backend(pid)` on an idle pooled connection, or on a new one when none is
    /// idle (or the idle one fails). `true` when the signal was sent.
    async fn send_cancel(pool: &PgPool, pid: i32) -> Result<bool, sqlx::Error> {
        let query = || sqlx::query_scalar::<_, bool>("SELECT pg_cancel_backend($1)").bind(pid);
        if let Some(mut idle) = pool.try_acquire() {
            match query().fetch_one(&mut *idle).await {
                Ok(sent) => return Ok(sent),
                Err(err) => {
                    tracing::debug!(pid, error = %err, "cancel on an idle connection failed");
                    let _ = idle.close().await;
                }
            }
        }
        let mut fresh = PgConnection::connect_with(&pool.connect_options()).await?;
        let sent = query().fetch_one(&mut fresh).await;
        let _ = fresh.close().await;
        sent
    }
}
