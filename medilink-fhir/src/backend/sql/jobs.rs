//! [`SqlJobQueue`]: the durable job queue in the resource store's database (table `jobs`,
//! migration `0004_jobs`), one code path for SQLite and PostgreSQL.
//!
//! A lease is one write transaction: pick the oldest due job, then mark it leased. PostgreSQL
//! picks with `FOR UPDATE SKIP LOCKED`, so concurrent workers (in any number of processes)
//! skip each other's rows instead of queueing on them; SQLite has one writer and the
//! transaction is `BEGIN IMMEDIATE` ([`super::begin_write`]), so two leases never interleave.
//! Every later step (heartbeat, complete, fail, release) is a single `UPDATE … WHERE leased_by
//! = ?`, so only the lease holder changes a job.
//!
//! Why not a queue crate: apalis (apalis-sql) was evaluated. It brings its own schema and
//! migrations on its own sqlx pool, and its task model has no owner, `needs_review` status,
//! listing by owner, or transitions outside a lease, all of which the documents API needs
//! through the [`JobQueue`] seam; its SQLite and PostgreSQL backends are separate code paths
//! and would not share the store's pool and migration runner. The queue here is a table,
//! seven statements and their tests.
//!
//! ## Jobs and blobs (the whole design)
//!
//! Background work is a row in `jobs`, in the same database. A lease is one write transaction:
//! pick the oldest due row of the worker's kinds (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's
//! `BEGIN IMMEDIATE` makes it the only writer), then mark it `processing` with `leased_by`,
//! `lease_until` and `attempts + 1`. `run_at` follows `lease_until` while a job runs, so one index
//! on `(status, run_at)` finds due jobs and jobs whose worker died alike. Heartbeat, complete,
//! fail and release are single `UPDATE … WHERE leased_by = ?`: only the holder changes a job. A
//! failed attempt goes back to `pending` after the backoff while attempts remain, else `failed`
//! with the reason (the dead letter); an expired lease on the last attempt is failed by the
//! `maintenance.stale_jobs` job. Periodic jobs are ordinary jobs with a `unique_key` (a partial
//! unique index allows one pending or processing row per key), so any number of schedulers agree.
//! Every queue-wide kind is registered in one place, `medilink_jobs::register_jobs`, which the
//! server's embedded worker and `medilink-worker` both call, so a kind cannot run in one host and
//! stall under `serve --no-worker` (`medilink-server/tests/it/jobs.rs` and
//! `medilink-worker/tests/it/every_kind.rs` hold both registries to its set, and a worker process
//! alone on the queue completes a job of every kind). Only two registrations stay per host: the
//! server's `maintenance.fulltext` (the catch-up of that process's own index) and the worker's
//! hidden test kinds. Payloads and results are serde structs named by each kind's `JobKind`
//! (the handler type: `DocumentIngest`, `BulkExport`, `ResearchExport`, `TokenCleanup`, …);
//! queueing and reading go through the typed helpers, never through JSON keys, and the stored
//! JSON is what the older `json!` literals wrote (`medilink-jobs/src/tests.rs` decodes such rows).
//! Delivery is at least once: handlers are idempotent. The embedded default runs the loop inside
//! the server; `medilink-worker` runs it in separate processes on the same queue. Blobs (uploaded
//! documents, export files) go through `BlobStore` (whole objects, or written in parts through
//! `BlobWriter` and read back in ranges, so an export never holds a whole file in memory) to `fs://{data-dir}/blobs` or `s3://bucket?endpoint=…`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Value as SqlValue};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{SqlResourceStore, classify};
use crate::clock::{Clock, IdGen, from_micros, to_micros};
use crate::error::{FhirError, FhirResult};
use crate::jobs::{
    Job, JobFilter, JobProgress, JobQueue, JobStatus, LeaseRecovery, NewJob, QueueSummary,
};

const JOB_COLUMNS: &str = "id, kind, payload, owner, status, attempts, max_attempts, run_at, \
     lease_until, leased_by, last_error, result, created_at, updated_at, trace_context";

/// Longest error message kept on a job (longer ones are cut).
const MAX_ERROR_CHARS: usize = 2000;
/// Most jobs one `list` returns.
const MAX_LIST: u32 = 1000;

impl SqlResourceStore {
    /// The job queue on this store's connection pool.
    pub fn job_queue(&self) -> SqlJobQueue {
        SqlJobQueue {
            db: self.db.clone(),
            backend: self.backend,
            clock: self.clock.clone(),
            ids: self.ids.clone(),
        }
    }
}

/// The job queue in SQL.
#[derive(Debug, Clone)]
pub struct SqlJobQueue {
    db: DatabaseConnection,
    backend: DbBackend,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
}

fn corrupt(what: &str) -> FhirError {
    FhirError::Internal {
        source: format!("stored job has an invalid {what}").into(),
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX / 2)
}

fn count(value: i32) -> u32 {
    u32::try_from(value).unwrap_or(0)
}

fn job_from_row(row: &QueryResult) -> FhirResult<Job> {
    let id: String = row.try_get_by_index(0).map_err(classify)?;
    let payload: String = row.try_get_by_index(2).map_err(classify)?;
    let status: String = row.try_get_by_index(4).map_err(classify)?;
    let attempts: i32 = row.try_get_by_index(5).map_err(classify)?;
    let max_attempts: i32 = row.try_get_by_index(6).map_err(classify)?;
    let lease_until: Option<i64> = row.try_get_by_index(8).map_err(classify)?;
    let result: Option<String> = row.try_get_by_index(11).map_err(classify)?;
    Ok(Job {
        id: Uuid::parse_str(&id).map_err(|_| corrupt("id"))?,
        kind: row.try_get_by_index(1).map_err(classify)?,
        payload: serde_json::from_str(&payload).map_err(|_| corrupt("payload"))?,
        owner: row.try_get_by_index(3).map_err(classify)?,
        status: JobStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        attempts: count(attempts),
        max_attempts: count(max_attempts),
        run_at: from_micros(row.try_get_by_index(7).map_err(classify)?),
        lease_until: lease_until.map(from_micros),
        leased_by: row.try_get_by_index(9).map_err(classify)?,
        last_error: row.try_get_by_index(10).map_err(classify)?,
        result: result
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|_| corrupt("result"))?,
        created_at: from_micros(row.try_get_by_index(12).map_err(classify)?),
        updated_at: from_micros(row.try_get_by_index(13).map_err(classify)?),
        trace_context: row.try_get_by_index(14).map_err(classify)?,
    })
}

fn json_text(value: &serde_json::Value) -> FhirResult<String> {
    serde_json::to_string(value).map_err(|err| FhirError::Internal {
        source: Box::new(err),
    })
}

fn truncate(error: &str) -> String {
    error.chars().take(MAX_ERROR_CHARS).collect()
}

/// `?, ?, …` for `n` values.
fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

impl SqlJobQueue {
    fn statement(&self, sql: &str, values: Vec<SqlValue>) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(
            self.backend,
            super::placeholders(self.backend, sql),
            values,
        )
    }

    fn now(&self) -> i64 {
        to_micros(self.clock.now())
    }

    /// A new job id: the id generator's id when it is a UUID (the server's UUIDv7 ids), else
    /// a UUID derived from it (sequential test ids stay deterministic).
    fn new_job_id(&self) -> Uuid {
        let id = self.ids.new_id();
        Uuid::parse_str(&id).unwrap_or_else(|_| {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(id.as_bytes());
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            uuid::Builder::from_custom_bytes(bytes).into_uuid()
        })
    }

    /// The INSERT of `job` (and its values), `unique_key` set or not, with a new id.
    fn insert(&self, job: &NewJob, unique_key: Option<&str>) -> FhirResult<(Uuid, Vec<SqlValue>)> {
        self.insert_as(job, unique_key, self.new_job_id())
    }

    /// The INSERT of `job` (and its values) with the id `id`.
    fn insert_as(
        &self,
        job: &NewJob,
        unique_key: Option<&str>,
        id: Uuid,
    ) -> FhirResult<(Uuid, Vec<SqlValue>)> {
        if job.kind.trim().is_empty() {
            return Err(FhirError::bad_request("a job needs a kind"));
        }
        if job.max_attempts == 0 {
            return Err(FhirError::bad_request("a job needs at least one attempt"));
        }
        let max_attempts = i32::try_from(job.max_attempts)
            .map_err(|_| FhirError::bad_request("max_attempts is too large"))?;
        let now = self.now();
        let run_at = job.run_at.map_or(now, to_micros);
        let values = vec![
            id.to_string().into(),
            job.kind.as_str().into(),
            json_text(&job.payload)?.into(),
            job.owner.clone().into(),
            JobStatus::Pending.as_str().into(),
            SqlValue::from(0i32),
            max_attempts.into(),
            run_at.into(),
            unique_key.map(str::to_owned).into(),
            now.into(),
            now.into(),
            crate::jobs::trace_context_now().into(),
        ];
        Ok((id, values))
    }

    async fn update(&self, sql: &str, values: Vec<SqlValue>) -> FhirResult<u64> {
        Ok(self
            .db
            .execute_raw(self.statement(sql, values))
            .await
            .map_err(classify)?
            .rows_affected())
    }

    async fn stored(&self, id: Uuid) -> FhirResult<Job> {
        self.get(id)
            .await?
            .ok_or_else(|| corrupt("row (vanished after insert)"))
    }
}

const INSERT: &str = "INSERT INTO jobs (id, kind, payload, owner, status, attempts, max_attempts, \
     run_at, unique_key, created_at, updated_at, trace_context) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

#[async_trait]
impl JobQueue for SqlJobQueue {
    async fn enqueue(&self, job: NewJob) -> FhirResult<Job> {
        let (id, values) = self.insert(&job, None)?;
        self.update(INSERT, values).await?;
        self.stored(id).await
    }

    async fn enqueue_unique(&self, job: NewJob, unique_key: &str) -> FhirResult<Option<Job>> {
        let (id, values) = self.insert(&job, Some(unique_key))?;
        let sql = format!(
            "{INSERT} ON CONFLICT (unique_key) \
             WHERE unique_key IS NOT NULL AND status IN ('pending', 'processing') DO NOTHING"
        );
        if self.update(&sql, values).await? == 0 {
            return Ok(None);
        }
        self.stored(id).await.map(Some)
    }

    async fn enqueue_with_id(&self, job: NewJob, id: Uuid) -> FhirResult<(Job, bool)> {
        let (id, values) = self.insert_as(&job, None, id)?;
        let sql = format!("{INSERT} ON CONFLICT (id) DO NOTHING");
        let stored = self.update(&sql, values).await? == 1;
        Ok((self.stored(id).await?, stored))
    }

    async fn lease(
        &self,
        worker: &str,
        kinds: &[&str],
        lease: Duration,
    ) -> FhirResult<Option<Job>> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let now = self.now();
        let until = now.saturating_add(micros(lease));
        let mut pick = format!(
            "SELECT id FROM jobs WHERE status IN ('pending', 'processing') AND run_at <= ? \
             AND (status = 'pending' OR attempts < max_attempts) AND kind IN ({}) \
             ORDER BY run_at, id LIMIT 1",
            marks(kinds.len())
        );
        let mut values: Vec<SqlValue> = vec![now.into()];
        values.extend(kinds.iter().map(|kind| SqlValue::from(*kind)));
        if self.backend == DbBackend::Postgres {
            // Concurrent leases skip each other's rows instead of waiting on them.
            pick.push_str(" FOR UPDATE SKIP LOCKED");
        } else {
            // SQLite has one writer: an idle poll looks without the write lock first, so it
            // never queues behind resource writes.
            let candidate = self
                .db
                .query_one_raw(self.statement(&pick, values.clone()))
                .await
                .map_err(classify)?;
            if candidate.is_none() {
                return Ok(None);
            }
        }
        let txn = super::begin_write(&self.db).await?;
        let picked = txn
            .query_one_raw(self.statement(&pick, values))
            .await
            .map_err(classify)?;
        let Some(picked) = picked else {
            txn.rollback().await.map_err(classify)?;
            return Ok(None);
        };
        let id: String = picked.try_get_by_index(0).map_err(classify)?;
        let leased = txn
            .query_one_raw(self.statement(
                &format!(
                    "UPDATE jobs SET status = 'processing', attempts = attempts + 1, \
                     leased_by = ?, lease_until = ?, run_at = ?, updated_at = ? \
                     WHERE id = ? RETURNING {JOB_COLUMNS}"
                ),
                vec![
                    worker.into(),
                    until.into(),
                    until.into(),
                    now.into(),
                    id.into(),
                ],
            ))
            .await
            .map_err(classify)?;
        txn.commit().await.map_err(classify)?;
        leased.map(|row| job_from_row(&row)).transpose()
    }

    async fn heartbeat(&self, id: Uuid, worker: &str, lease: Duration) -> FhirResult<bool> {
        let now = self.now();
        let until = now.saturating_add(micros(lease));
        let changed = self
            .update(
                "UPDATE jobs SET lease_until = ?, run_at = ?, updated_at = ? \
                 WHERE id = ? AND status = 'processing' AND leased_by = ? AND lease_until > ?",
                vec![
                    until.into(),
                    until.into(),
                    now.into(),
                    id.to_string().into(),
                    worker.into(),
                    now.into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn complete(
        &self,
        id: Uuid,
        worker: &str,
        status: JobStatus,
        result: serde_json::Value,
    ) -> FhirResult<bool> {
        if !matches!(status, JobStatus::Completed | JobStatus::NeedsReview) {
            return Err(FhirError::bad_request(format!(
                "a leased job completes as completed or needs_review, not {status}"
            )));
        }
        let changed = self
            .update(
                "UPDATE jobs SET status = ?, result = ?, leased_by = NULL, lease_until = NULL, \
                 updated_at = ? WHERE id = ? AND status = 'processing' AND leased_by = ?",
                vec![
                    status.as_str().into(),
                    json_text(&result)?.into(),
                    self.now().into(),
                    id.to_string().into(),
                    worker.into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn fail(
        &self,
        id: Uuid,
        worker: &str,
        error: &str,
        retryable: bool,
        retry_after: Duration,
    ) -> FhirResult<bool> {
        let now = self.now();
        let changed = self
            .update(
                "UPDATE jobs SET status = CASE WHEN ? = 1 AND attempts < max_attempts \
                 THEN 'pending' ELSE 'failed' END, run_at = ?, last_error = ?, \
                 leased_by = NULL, lease_until = NULL, updated_at = ? \
                 WHERE id = ? AND status = 'processing' AND leased_by = ?",
                vec![
                    SqlValue::from(i32::from(retryable)),
                    now.saturating_add(micros(retry_after)).into(),
                    truncate(error).into(),
                    now.into(),
                    id.to_string().into(),
                    worker.into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn release(&self, id: Uuid, worker: &str) -> FhirResult<bool> {
        let now = self.now();
        let changed = self
            .update(
                "UPDATE jobs SET status = 'pending', \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, run_at = ?, \
                 leased_by = NULL, lease_until = NULL, updated_at = ? \
                 WHERE id = ? AND status = 'processing' AND leased_by = ?",
                vec![now.into(), now.into(), id.to_string().into(), worker.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn recover_expired(&self) -> FhirResult<LeaseRecovery> {
        let now = self.now();
        let txn = super::begin_write(&self.db).await?;
        let failed = txn
            .execute_raw(self.statement(
                "UPDATE jobs SET status = 'failed', \
                 last_error = 'lease expired on the last attempt (the worker stopped or hung)', \
                 leased_by = NULL, lease_until = NULL, updated_at = ? \
                 WHERE status = 'processing' AND lease_until <= ? AND attempts >= max_attempts",
                vec![now.into(), now.into()],
            ))
            .await
            .map_err(classify)?
            .rows_affected();
        let requeued = txn
            .execute_raw(self.statement(
                "UPDATE jobs SET status = 'pending', \
                 last_error = 'lease expired (the worker stopped or hung)', \
                 leased_by = NULL, lease_until = NULL, run_at = ?, updated_at = ? \
                 WHERE status = 'processing' AND lease_until <= ?",
                vec![now.into(), now.into(), now.into()],
            ))
            .await
            .map_err(classify)?
            .rows_affected();
        txn.commit().await.map_err(classify)?;
        Ok(LeaseRecovery { requeued, failed })
    }

    async fn delete_finished(&self, kind: &str, before: OffsetDateTime) -> FhirResult<u64> {
        self.update(
            "DELETE FROM jobs WHERE kind = ? AND updated_at < ? \
             AND status NOT IN ('pending', 'processing')",
            vec![kind.into(), to_micros(before).into()],
        )
        .await
    }

    async fn delete(&self, id: Uuid) -> FhirResult<bool> {
        let deleted = self
            .update(
                "DELETE FROM jobs WHERE id = ? AND status NOT IN ('pending', 'processing')",
                vec![id.to_string().into()],
            )
            .await?;
        Ok(deleted > 0)
    }

    async fn count_by_status(&self) -> FhirResult<Vec<(JobStatus, u64)>> {
        let rows = self
            .db
            .query_all_raw(self.statement(
                "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status",
                vec![],
            ))
            .await
            .map_err(classify)?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get_by_index(0).map_err(classify)?;
                let n: i64 = row.try_get_by_index(1).map_err(classify)?;
                let status = JobStatus::parse(&status).ok_or_else(|| corrupt("status"))?;
                Ok((status, u64::try_from(n).unwrap_or(0)))
            })
            .collect()
    }

    async fn summary(&self) -> FhirResult<QueueSummary> {
        let rows = self
            .db
            .query_all_raw(self.statement(
                "SELECT kind, status, COUNT(*) FROM jobs GROUP BY kind, status ORDER BY kind, status",
                vec![],
            ))
            .await
            .map_err(classify)?;
        let counts = rows
            .iter()
            .map(|row| {
                let kind: String = row.try_get_by_index(0).map_err(classify)?;
                let status: String = row.try_get_by_index(1).map_err(classify)?;
                let n: i64 = row.try_get_by_index(2).map_err(classify)?;
                let status = JobStatus::parse(&status).ok_or_else(|| corrupt("status"))?;
                Ok((kind, status, u64::try_from(n).unwrap_or(0)))
            })
            .collect::<FhirResult<Vec<_>>>()?;
        let oldest = self
            .db
            .query_one_raw(self.statement(
                "SELECT MIN(created_at) FROM jobs WHERE status = 'pending'",
                vec![],
            ))
            .await
            .map_err(classify)?;
        let oldest: Option<i64> = match oldest {
            Some(row) => row.try_get_by_index(0).map_err(classify)?,
            None => None,
        };
        Ok(QueueSummary {
            counts,
            oldest_pending: oldest.map(from_micros),
        })
    }

    async fn report_progress(
        &self,
        id: Uuid,
        worker: &str,
        progress: JobProgress,
    ) -> FhirResult<bool> {
        let result = serde_json::json!({ "progress": progress });
        let changed = self
            .update(
                "UPDATE jobs SET result = ?, updated_at = ? \
                 WHERE id = ? AND status = 'processing' AND leased_by = ?",
                vec![
                    json_text(&result)?.into(),
                    self.now().into(),
                    id.to_string().into(),
                    worker.into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn get(&self, id: Uuid) -> FhirResult<Option<Job>> {
        let row = self
            .db
            .query_one_raw(self.statement(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"),
                vec![id.to_string().into()],
            ))
            .await
            .map_err(classify)?;
        row.map(|row| job_from_row(&row)).transpose()
    }

    async fn list(&self, filter: &JobFilter) -> FhirResult<Vec<Job>> {
        let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
        let mut values: Vec<SqlValue> = Vec::new();
        if let Some(owner) = &filter.owner {
            sql.push_str(" AND owner = ?");
            values.push(owner.as_str().into());
        }
        if let Some(kind) = &filter.kind {
            sql.push_str(" AND kind = ?");
            values.push(kind.as_str().into());
        }
        if !filter.statuses.is_empty() {
            sql.push_str(&format!(
                " AND status IN ({})",
                marks(filter.statuses.len())
            ));
            values.extend(filter.statuses.iter().map(|s| SqlValue::from(s.as_str())));
        }
        if let Some(before) = filter.created_before {
            sql.push_str(" AND created_at < ?");
            values.push(to_micros(before).into());
        }
        let limit = filter.limit.unwrap_or(100).min(MAX_LIST);
        sql.push_str(&format!(" ORDER BY created_at DESC, id DESC LIMIT {limit}"));
        let rows = self
            .db
            .query_all_raw(self.statement(&sql, values))
            .await
            .map_err(classify)?;
        rows.iter().map(job_from_row).collect()
    }

    async fn transition(
        &self,
        id: Uuid,
        from: &[JobStatus],
        to: JobStatus,
        result: Option<serde_json::Value>,
    ) -> FhirResult<bool> {
        if to == JobStatus::Processing {
            return Err(FhirError::bad_request(
                "a job becomes processing only by a lease",
            ));
        }
        if from.is_empty() {
            return Ok(false);
        }
        let now = self.now();
        let result = result.as_ref().map(json_text).transpose()?;
        let sql = format!(
            "UPDATE jobs SET status = ?, result = COALESCE(?, result), \
             run_at = CASE WHEN ? = 'pending' THEN ? ELSE run_at END, \
             leased_by = NULL, lease_until = NULL, updated_at = ? \
             WHERE id = ? AND status IN ({})",
            marks(from.len())
        );
        let mut values: Vec<SqlValue> = vec![
            to.as_str().into(),
            result.into(),
            to.as_str().into(),
            now.into(),
            now.into(),
            id.to_string().into(),
        ];
        values.extend(from.iter().map(|s| SqlValue::from(s.as_str())));
        Ok(self.update(&sql, values).await? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_limits() {
        assert_eq!(marks(3), "?, ?, ?");
        assert_eq!(micros(Duration::from_millis(1500)), 1_500_000);
        assert_eq!(truncate(&"é".repeat(5000)).chars().count(), MAX_ERROR_CHARS);
    }
}
