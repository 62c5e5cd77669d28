//! The platform stores on the resource store's database: [`SqlAccountStore`] (users and
//! refresh tokens), [`SqlAuditLog`] (the hash-chained audit trail), [`SqlNotificationStore`]
//! (notices, deliveries, preferences: `sql/notifications.rs`), their migrations, and
//! [`platform_stores`], which builds them (with the store's job queue and key-value store) on
//! an opened [`SqlResourceStore`] through its public seam (`connection`, `apply_migrations`).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value as SqlValue,
};
use time::OffsetDateTime;
use tokio::sync::Mutex;

mod accounts;
mod notifications;
mod smart;
mod subscriptions;

pub use notifications::SqlNotificationStore;
pub use smart::SqlSmartStore;
pub use subscriptions::SqlSubscriptionStore;

use crate::AuditFormat;
use crate::accounts::duplicate;
use crate::audit::{GENESIS_HASH, chain_hash, verify_records};
use crate::notifications::NewNotification;
use crate::{
    AccountChange, AccountStatus, AccountStore, AuditEntry, AuditFilter, AuditLog, AuditRecord,
    AuditVerification, Invitation, InvitationAcceptance, NewInvitation, NewUser, Platform,
    RefreshConsumed, RefreshTokenRecord, Role, UserFilter, UserId, UserRecord,
};
use medilink_fhir::backend::sql::{
    SqlMigration, SqlResourceStore, begin_write, classify, placeholders,
};
use medilink_fhir::clock::{Clock, IdGen, from_micros, to_micros};
use medilink_fhir::error::{FhirError, FhirResult};
use medilink_fhir::model::ResourceId;
use medilink_fhir::{ResourceStore, SqlOptions};

/// The platform's migrations: the account and audit tables. Their names are the ones
/// `medilink-fhir` recorded in `medilink_migrations` when it still applied them, so a database
/// migrated before the split is up to date and nothing is applied twice.
pub const MIGRATIONS: &[SqlMigration] = &[
    SqlMigration {
        name: "0002_platform",
        sqlite: include_str!("../../migrations/sqlite/0002_platform.sql"),
        postgres: include_str!("../../migrations/postgres/0002_platform.sql"),
    },
    SqlMigration {
        name: "0006_audit_patients",
        sqlite: include_str!("../../migrations/sqlite/0006_audit_patients.sql"),
        postgres: include_str!("../../migrations/postgres/0006_audit_patients.sql"),
    },
    SqlMigration {
        name: "0009_notifications",
        sqlite: include_str!("../../migrations/sqlite/0009_notifications.sql"),
        postgres: include_str!("../../migrations/postgres/0009_notifications.sql"),
    },
    SqlMigration {
        name: "0010_admin",
        sqlite: include_str!("../../migrations/sqlite/0010_admin.sql"),
        postgres: include_str!("../../migrations/postgres/0010_admin.sql"),
    },
    SqlMigration {
        name: "0011_audit_detail",
        sqlite: include_str!("../../migrations/sqlite/0011_audit_detail.sql"),
        postgres: include_str!("../../migrations/postgres/0011_audit_detail.sql"),
    },
    SqlMigration {
        name: "0012_smart",
        sqlite: include_str!("../../migrations/sqlite/0012_smart.sql"),
        postgres: include_str!("../../migrations/postgres/0012_smart.sql"),
    },
    SqlMigration {
        name: "0013_subscriptions",
        sqlite: include_str!("../../migrations/sqlite/0013_subscriptions.sql"),
        postgres: include_str!("../../migrations/postgres/0013_subscriptions.sql"),
    },
    SqlMigration {
        name: "0016_smart_subscriptions",
        sqlite: include_str!("../../migrations/sqlite/0016_smart_subscriptions.sql"),
        postgres: include_str!("../../migrations/postgres/0016_smart_subscriptions.sql"),
    },
];

/// Applies the platform's pending [`MIGRATIONS`] on the store's database (after the store's
/// own); returns the names applied now.
pub async fn migrate(store: &SqlResourceStore) -> FhirResult<Vec<&'static str>> {
    store.apply_migrations(MIGRATIONS).await
}

/// The platform stores on an opened SQL resource store's database and connection pool:
/// accounts and the audit trail (this crate's SQL), the job queue and the key-value store
/// (the store's). Applies the platform's pending migrations first when `migrate` is set.
pub async fn platform_stores(store: &SqlResourceStore, migrate: bool) -> FhirResult<Platform> {
    if migrate {
        self::migrate(store).await?;
    }
    let db = store.connection().clone();
    let backend = db.get_database_backend();
    Ok(Platform {
        accounts: Arc::new(SqlAccountStore {
            db: db.clone(),
            backend,
            clock: store.clock(),
        }),
        audit: Arc::new(SqlAuditLog {
            db: db.clone(),
            appends: store.writer_connection().clone(),
            backend,
            append_lock: Mutex::new(None),
        }),
        notifications: Arc::new(SqlNotificationStore {
            db: db.clone(),
            backend,
        }),
        smart: Arc::new(SqlSmartStore {
            db: db.clone(),
            backend,
        }),
        subscriptions: Arc::new(SqlSubscriptionStore { db, backend }),
        jobs: Arc::new(store.job_queue()),
        kv: Arc::new(store.key_value()),
    })
}

/// Opens the resource store the URL names and the platform stores on its database (one
/// connection pool), applying the pending migrations of both when `options.migrate` is set.
pub async fn open_store_and_platform(
    options: &SqlOptions,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGen>,
) -> FhirResult<(Arc<dyn ResourceStore>, Platform)> {
    let store = medilink_fhir::open_sql_store(options, clock, ids).await?;
    let platform = platform_stores(&store, options.migrate).await?;
    Ok((store, platform))
}

fn statement(backend: DbBackend, sql: &str, values: Vec<SqlValue>) -> Statement {
    Statement::from_sql_and_values(backend, placeholders(backend, sql), values)
}

/// Most audit rows per INSERT statement (17 values each, within every backend's limit).
const AUDIT_CHUNK: usize = 128;
/// Most `audit_log_patients` rows per INSERT statement.
const PATIENT_CHUNK: usize = 512;

/// The rows the next audit INSERT takes out of `remaining`: the largest power of two that
/// fits, at most [`AUDIT_CHUNK`].
fn chunk_size(remaining: usize) -> usize {
    if remaining >= AUDIT_CHUNK {
        AUDIT_CHUNK
    } else {
        1 << (usize::BITS - 1 - remaining.leading_zeros())
    }
}

fn corrupt(what: &str) -> FhirError {
    FhirError::Internal {
        source: format!("stored row has an invalid {what}").into(),
    }
}

/// Users and refresh tokens in SQL.
#[derive(Debug)]
pub struct SqlAccountStore {
    db: DatabaseConnection,
    backend: DbBackend,
    clock: Arc<dyn Clock>,
}

const USER_COLUMNS: &str = "id, email_hash, email_enc, name_enc, password_hash, role, status, \
     patient_id, totp_secret_enc, totp_enabled, backup_codes, created_at, updated_at";

fn user_from_row(row: &QueryResult) -> FhirResult<UserRecord> {
    let role: String = row.try_get_by_index(5).map_err(classify)?;
    let status: String = row.try_get_by_index(6).map_err(classify)?;
    let patient_id: Option<String> = row.try_get_by_index(7).map_err(classify)?;
    let backup_codes: String = row.try_get_by_index(10).map_err(classify)?;
    Ok(UserRecord {
        id: UserId(row.try_get_by_index(0).map_err(classify)?),
        email_hash: row.try_get_by_index(1).map_err(classify)?,
        email_enc: row.try_get_by_index(2).map_err(classify)?,
        name_enc: row.try_get_by_index(3).map_err(classify)?,
        password_hash: row.try_get_by_index(4).map_err(classify)?,
        role: Role::parse(&role).ok_or_else(|| corrupt("role"))?,
        status: AccountStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        patient_id: patient_id.map(ResourceId::new).transpose()?,
        totp_secret_enc: row.try_get_by_index(8).map_err(classify)?,
        totp_enabled: row.try_get_by_index(9).map_err(classify)?,
        backup_codes: serde_json::from_str(&backup_codes).map_err(|_| corrupt("backup_codes"))?,
        created_at: from_micros(row.try_get_by_index(11).map_err(classify)?),
        updated_at: from_micros(row.try_get_by_index(12).map_err(classify)?),
    })
}

fn refresh_from_row(row: &QueryResult) -> FhirResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        token_hash: row.try_get_by_index(0).map_err(classify)?,
        user_id: UserId(row.try_get_by_index(1).map_err(classify)?),
        family_id: row.try_get_by_index(2).map_err(classify)?,
        created_at: from_micros(row.try_get_by_index(3).map_err(classify)?),
        expires_at: from_micros(row.try_get_by_index(4).map_err(classify)?),
    })
}

fn refresh_values(token: &RefreshTokenRecord) -> Vec<SqlValue> {
    vec![
        token.token_hash.clone().into(),
        token.user_id.as_str().into(),
        token.family_id.as_str().into(),
        to_micros(token.created_at).into(),
        to_micros(token.expires_at).into(),
    ]
}

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens \
     (token_hash, user_id, family_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)";

impl SqlAccountStore {
    async fn one_user(&self, sql: &str, values: Vec<SqlValue>) -> FhirResult<Option<UserRecord>> {
        let row = self
            .db
            .query_one_raw(statement(self.backend, sql, values))
            .await
            .map_err(classify)?;
        row.map(|row| user_from_row(&row)).transpose()
    }
}

#[async_trait]
impl AccountStore for SqlAccountStore {
    async fn create_user(&self, user: NewUser) -> FhirResult<UserRecord> {
        if self.user_by_email_hash(&user.email_hash).await?.is_some() {
            return Err(duplicate("an account with this e-mail"));
        }
        let now = to_micros(self.clock.now());
        let (id, email_hash) = (user.id.clone(), user.email_hash.clone());
        let values = accounts::new_user_values(user, now);
        let inserted = self
            .db
            .execute_raw(statement(
                self.backend,
                &accounts::insert_user_sql(),
                values,
            ))
            .await;
        if let Err(err) = inserted {
            // A concurrent registration with the same e-mail loses on the unique index.
            if self.user_by_email_hash(&email_hash).await?.is_some() {
                return Err(duplicate("an account with this e-mail"));
            }
            return Err(classify(err));
        }
        self.user(&id)
            .await?
            .ok_or_else(|| corrupt("user (vanished after insert)"))
    }

    async fn user(&self, id: &UserId) -> FhirResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        self.one_user(&sql, vec![id.as_str().into()]).await
    }

    async fn user_by_email_hash(&self, email_hash: &[u8]) -> FhirResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_hash = ?");
        self.one_user(&sql, vec![email_hash.to_vec().into()]).await
    }

    async fn list_users(&self, filter: &UserFilter) -> FhirResult<Vec<UserRecord>> {
        let (filter_sql, values) = accounts::user_where(filter);
        let mut sql = format!("SELECT {USER_COLUMNS} FROM users{filter_sql}");
        let limit = match filter.limit {
            0 => 100,
            n => n.min(1000),
        };
        sql.push_str(&format!(
            " ORDER BY created_at, id LIMIT {limit} OFFSET {}",
            filter.offset
        ));
        let rows = self
            .db
            .query_all_raw(statement(self.backend, &sql, values))
            .await
            .map_err(classify)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn update_user(&self, user: &UserRecord) -> FhirResult<UserRecord> {
        Ok(self.update_user_telling(user, &[]).await?.0)
    }

    async fn update_user_telling(
        &self,
        user: &UserRecord,
        notices: &[NewNotification],
    ) -> FhirResult<(UserRecord, Vec<NewNotification>)> {
        let codes =
            serde_json::to_string(&user.backup_codes).map_err(|err| FhirError::Internal {
                source: Box::new(err),
            })?;
        let values = vec![
            user.name_enc.clone().into(),
            user.password_hash.as_str().into(),
            user.status.as_str().into(),
            user.patient_id
                .as_ref()
                .map(|id| id.as_str().to_owned())
                .into(),
            user.totp_secret_enc.clone().into(),
            user.totp_enabled.into(),
            codes.into(),
            to_micros(self.clock.now()).into(),
            user.id.as_str().into(),
        ];
        let update = statement(
            self.backend,
            "UPDATE users SET name_enc = ?, password_hash = ?, status = ?, patient_id = ?, \
             totp_secret_enc = ?, totp_enabled = ?, backup_codes = ?, updated_at = ? WHERE id = ?",
            values,
        );
        let stored = if notices.is_empty() {
            self.db.execute_raw(update).await.map_err(classify)?;
            Vec::new()
        } else {
            let txn = begin_write(&self.db).await?;
            txn.execute_raw(update).await.map_err(classify)?;
            let stored = notifications::insert_notices(&txn, self.backend, notices).await?;
            txn.commit().await.map_err(classify)?;
            stored
        };
        let user = self
            .user(&user.id)
            .await?
            .ok_or_else(|| corrupt("user (not found on update)"))?;
        Ok((user, stored))
    }

    async fn insert_refresh(&self, token: &RefreshTokenRecord) -> FhirResult<()> {
        self.db
            .execute_raw(statement(
                self.backend,
                INSERT_REFRESH,
                refresh_values(token),
            ))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        token_hash: &[u8],
        successor: &RefreshTokenRecord,
        now: OffsetDateTime,
    ) -> FhirResult<RefreshConsumed> {
        let now = to_micros(now);
        let txn = begin_write(&self.db).await?;
        let claimed = txn
            .execute_raw(statement(
                self.backend,
                "UPDATE refresh_tokens SET used_at = ? \
                 WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
                vec![now.into(), token_hash.to_vec().into(), now.into()],
            ))
            .await
            .map_err(classify)?
            .rows_affected();
        let row = txn
            .query_one_raw(statement(
                self.backend,
                "SELECT token_hash, user_id, family_id, created_at, expires_at \
                 FROM refresh_tokens WHERE token_hash = ?",
                vec![token_hash.to_vec().into()],
            ))
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            txn.rollback().await.map_err(classify)?;
            return Ok(RefreshConsumed::Unknown);
        };
        let record = refresh_from_row(&row)?;
        let outcome = if claimed == 1 {
            let mut next = successor.clone();
            next.family_id.clone_from(&record.family_id);
            next.user_id = record.user_id.clone();
            txn.execute_raw(statement(
                self.backend,
                INSERT_REFRESH,
                refresh_values(&next),
            ))
            .await
            .map_err(classify)?;
            RefreshConsumed::Rotated(record)
        } else if to_micros(record.expires_at) <= now {
            RefreshConsumed::Expired
        } else {
            txn.execute_raw(statement(
                self.backend,
                "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                vec![now.into(), record.family_id.as_str().into()],
            ))
            .await
            .map_err(classify)?;
            RefreshConsumed::Reused(record)
        };
        txn.commit().await.map_err(classify)?;
        Ok(outcome)
    }

    async fn revoke_refresh(&self, token_hash: &[u8], now: OffsetDateTime) -> FhirResult<bool> {
        let revoked = self
            .db
            .execute_raw(statement(
                self.backend,
                "UPDATE refresh_tokens SET revoked_at = ? WHERE revoked_at IS NULL AND family_id = \
                 (SELECT family_id FROM refresh_tokens WHERE token_hash = ?)",
                vec![to_micros(now).into(), token_hash.to_vec().into()],
            ))
            .await
            .map_err(classify)?
            .rows_affected();
        Ok(revoked > 0)
    }

    async fn revoke_user_refresh(&self, user_id: &UserId, now: OffsetDateTime) -> FhirResult<()> {
        self.db
            .execute_raw(statement(
                self.backend,
                "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                vec![to_micros(now).into(), user_id.as_str().into()],
            ))
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn delete_expired_refresh(&self, now: OffsetDateTime) -> FhirResult<u64> {
        let sql = "DELETE FROM refresh_tokens WHERE expires_at < ?";
        let deleted = self
            .db
            .execute_raw(statement(self.backend, sql, vec![to_micros(now).into()]))
            .await
            .map_err(classify)?;
        Ok(deleted.rows_affected())
    }

    async fn count_users(&self, filter: &UserFilter) -> FhirResult<u64> {
        self.count_users_sql(filter).await
    }

    async fn set_role(&self, id: &UserId, role: Role) -> FhirResult<AccountChange> {
        self.set_role_sql(id, role).await
    }

    async fn set_status(
        &self,
        id: &UserId,
        from: &[AccountStatus],
        to: AccountStatus,
        notices: &[NewNotification],
    ) -> FhirResult<AccountChange> {
        self.set_status_sql(id, from, to, notices).await
    }

    async fn record_sign_in(&self, id: &UserId, at: OffsetDateTime) -> FhirResult<()> {
        self.record_sign_in_sql(id, at).await
    }

    async fn last_sign_in(&self, id: &UserId) -> FhirResult<Option<OffsetDateTime>> {
        self.last_sign_in_sql(id).await
    }

    async fn active_sessions(&self, id: &UserId, now: OffsetDateTime) -> FhirResult<u64> {
        self.active_sessions_sql(id, now).await
    }

    async fn create_invitation(&self, invitation: &NewInvitation) -> FhirResult<Invitation> {
        self.create_invitation_sql(invitation).await
    }

    async fn invitations(&self) -> FhirResult<Vec<Invitation>> {
        self.invitations_sql().await
    }

    async fn invitation_by_token(&self, token_hash: &[u8]) -> FhirResult<Option<Invitation>> {
        self.invitation_by("token_hash", token_hash.to_vec().into())
            .await
    }

    async fn revoke_invitation(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> FhirResult<Option<Invitation>> {
        self.revoke_invitation_sql(id, now).await
    }

    async fn accept_invitation(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        user: NewUser,
    ) -> FhirResult<InvitationAcceptance> {
        self.accept_invitation_sql(token_hash, now, user).await
    }
}

/// The audit trail in SQL; appends are serialized (in process and, on PostgreSQL, by an
/// advisory lock) so the chain has one order.
#[derive(Debug)]
pub struct SqlAuditLog {
    db: DatabaseConnection,
    /// The connection appends commit on: the store's dedicated writer connection, so the
    /// audit writer's group commits never wait for the shared pool (issue #19).
    appends: DatabaseConnection,
    backend: DbBackend,
    /// Serializes appends; holds the chain's tip (`seq`, hash) as this process's last
    /// append left it, if it did.
    append_lock: Mutex<Option<(u64, String)>>,
}

const AUDIT_COLUMNS: &str = "seq, recorded_at, actor, role, action, resource_type, resource_ids, \
     patient_id, outcome, client_ip, request_id, prev_hash, hash, format, patients, \
     resource_types, detail";

/// A JSON array column; an unparsable one is kept as its text, so that the record still
/// reads (and fails to verify) instead of failing the read.
fn json_list(text: String) -> Vec<String> {
    serde_json::from_str(&text).unwrap_or_else(|_| vec![text])
}

fn to_json(list: &[String]) -> FhirResult<String> {
    serde_json::to_string(list).map_err(|err| FhirError::Internal {
        source: Box::new(err),
    })
}

/// Records read per round trip while verifying.
const VERIFY_CHUNK: u64 = 1000;

fn audit_from_row(row: &QueryResult) -> FhirResult<AuditRecord> {
    let seq: i64 = row.try_get_by_index(0).map_err(classify)?;
    let ids: String = row.try_get_by_index(6).map_err(classify)?;
    let outcome: i32 = row.try_get_by_index(8).map_err(classify)?;
    let format = AuditFormat::from_number(row.try_get_by_index(13).map_err(classify)?);
    let patient_id: Option<String> = row.try_get_by_index(7).map_err(classify)?;
    let patients: Option<String> = row.try_get_by_index(14).map_err(classify)?;
    let resource_types: Option<String> = row.try_get_by_index(15).map_err(classify)?;
    // A V1 record names the one patient of its `patient_id` column; later ones their list.
    let one = |patient_id: Option<String>| {
        patient_id
            .into_iter()
            .map(|patient| (patient, Vec::new()))
            .collect()
    };
    let patients = match (format, patients) {
        (Some(AuditFormat::V1), None) | (_, None) => one(patient_id),
        // Unparsable: kept under its text, so that the record still reads and fails to verify.
        (_, Some(map)) => {
            serde_json::from_str(&map).unwrap_or_else(|_| BTreeMap::from([(map, Vec::new())]))
        }
    };
    Ok(AuditRecord {
        seq: seq as u64,
        format,
        entry: AuditEntry {
            at: from_micros(row.try_get_by_index(1).map_err(classify)?),
            actor: row.try_get_by_index(2).map_err(classify)?,
            role: row.try_get_by_index(3).map_err(classify)?,
            action: row.try_get_by_index(4).map_err(classify)?,
            resource_type: row.try_get_by_index(5).map_err(classify)?,
            // An unparsable id list must still verify as broken, not fail the read.
            resource_ids: json_list(ids),
            patients,
            resource_types: resource_types.map(json_list).unwrap_or_default(),
            outcome: u16::try_from(outcome).unwrap_or(0),
            client_ip: row.try_get_by_index(9).map_err(classify)?,
            request_id: row.try_get_by_index(10).map_err(classify)?,
            detail: row.try_get_by_index(16).map_err(classify)?,
        },
        prev_hash: row.try_get_by_index(11).map_err(classify)?,
        hash: row.try_get_by_index(12).map_err(classify)?,
    })
}

/// `{select} FROM audit_log WHERE …` of `filter` (but its paging) and its values.
fn audit_where(select: &str, filter: &AuditFilter) -> (String, Vec<SqlValue>) {
    let mut sql = format!("{select} FROM audit_log WHERE 1 = 1");
    let mut values: Vec<SqlValue> = Vec::new();
    let action = filter.action.map(|action| action.as_str());
    for (column, value) in [("actor", filter.actor.as_deref()), ("action", action)] {
        if let Some(value) = value {
            sql.push_str(&format!(" AND {column} = ?"));
            values.push(value.into());
        }
    }
    if let Some(actor) = &filter.not_actor {
        // Requests through a SMART app are kept (issue #17): the patient sees their apps.
        sql.push_str(" AND (actor IS NULL OR actor <> ? OR detail LIKE ?)");
        values.push(actor.as_str().into());
        values.push(format!("{}%", crate::audit::APP_DETAIL_PREFIX).into());
    }
    if let Some(patient) = &filter.patient_id {
        sql.push_str(" AND seq IN (SELECT seq FROM audit_log_patients WHERE patient_id = ?)");
        values.push(patient.as_str().into());
    }
    if let Some(resource_type) = &filter.resource_type {
        // The type the URL named, or (a known type name, free of LIKE wildcards) one of
        // the types returned or changed.
        match medilink_fhir::model::ResourceType::from_name(resource_type) {
            Some(known) => {
                sql.push_str(" AND (resource_type = ? OR resource_types LIKE ?)");
                values.push(resource_type.as_str().into());
                values.push(format!("%\"{}\"%", known.as_str()).into());
            }
            None => {
                sql.push_str(" AND resource_type = ?");
                values.push(resource_type.as_str().into());
            }
        }
    }
    if let Some(since) = filter.since {
        sql.push_str(" AND recorded_at >= ?");
        values.push(to_micros(since).into());
    }
    if let Some(until) = filter.until {
        sql.push_str(" AND recorded_at < ?");
        values.push(to_micros(until).into());
    }
    (sql, values)
}

impl SqlAuditLog {
    /// Appends `entries` after `known` (the chain's last `seq` and hash as this process left
    /// them), or after the tip read from the table when `known` is `None`; the new tip once
    /// committed. `Ok(None)` when the first INSERT after a `known` tip failed (another process
    /// appended since: that `seq` exists), nothing committed.
    async fn append_from(
        &self,
        entries: &[AuditEntry],
        known: Option<(u64, String)>,
    ) -> FhirResult<Option<(u64, String)>> {
        let txn = begin_write(&self.appends).await?;
        if self.backend == DbBackend::Postgres {
            txn.execute_unprepared("SELECT pg_advisory_xact_lock(7461628)")
                .await
                .map_err(classify)?;
        }
        let optimistic = known.is_some();
        let (mut seq, mut prev) = match known {
            Some(known) => known,
            None => {
                let last = txn
                    .query_one_raw(statement(
                        self.backend,
                        "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
                        vec![],
                    ))
                    .await
                    .map_err(classify)?;
                match last {
                    Some(row) => {
                        let seq: i64 = row.try_get_by_index(0).map_err(classify)?;
                        let hash: String = row.try_get_by_index(1).map_err(classify)?;
                        (seq as u64, hash)
                    }
                    None => (0, GENESIS_HASH.to_owned()),
                }
            }
        };
        // One multi-row INSERT per chunk; chunk sizes are powers of two (at most
        // AUDIT_CHUNK rows) so the statement shapes stay few and cached.
        let mut rows: Vec<Vec<SqlValue>> = Vec::with_capacity(entries.len());
        let mut patient_rows: Vec<SqlValue> = Vec::new();
        for entry in entries {
            seq += 1;
            let hash = chain_hash(&prev, seq, entry);
            let ids = to_json(&entry.resource_ids)?;
            for patient in entry.patients.keys() {
                patient_rows.push(patient.as_str().into());
                patient_rows.push(SqlValue::from(seq as i64));
            }
            rows.push(vec![
                SqlValue::from(seq as i64),
                to_micros(entry.at).into(),
                entry.actor.clone().into(),
                entry.role.clone().into(),
                entry.action.as_str().into(),
                entry.resource_type.clone().into(),
                ids.into(),
                Option::<String>::None.into(),
                i32::from(entry.outcome).into(),
                entry.client_ip.clone().into(),
                entry.request_id.as_str().into(),
                prev.as_str().into(),
                hash.as_str().into(),
                AuditFormat::CURRENT.number().into(),
                serde_json::to_string(&entry.patients)
                    .map_err(|err| FhirError::Internal {
                        source: Box::new(err),
                    })?
                    .into(),
                to_json(&entry.resource_types)?.into(),
                entry.detail.clone().into(),
            ]);
            prev = hash;
        }
        let mut rest = rows.as_slice();
        let mut first = true;
        while !rest.is_empty() {
            let size = chunk_size(rest.len());
            let (chunk, tail) = rest.split_at(size);
            let sql = format!(
                "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; size].join(", ")
            );
            let values: Vec<SqlValue> = chunk.iter().flatten().cloned().collect();
            match txn.execute_raw(statement(self.backend, &sql, values)).await {
                Ok(_) => {}
                Err(_) if first && optimistic => {
                    txn.rollback().await.map_err(classify)?;
                    return Ok(None);
                }
                Err(err) => return Err(classify(err)),
            }
            first = false;
            rest = tail;
        }
        for chunk in patient_rows.chunks(2 * PATIENT_CHUNK) {
            let sql = format!(
                "INSERT INTO audit_log_patients (patient_id, seq) VALUES {}",
                vec!["(?, ?)"; chunk.len() / 2].join(", ")
            );
            txn.execute_raw(statement(self.backend, &sql, chunk.to_vec()))
                .await
                .map_err(classify)?;
        }
        txn.commit().await.map_err(classify)?;
        Ok(Some((seq, prev)))
    }
}

#[async_trait]
impl AuditLog for SqlAuditLog {
    #[tracing::instrument(
        target = "medilink_otel::db",
        level = "debug",
        name = "db.audit_append",
        skip_all,
        fields(db.operation = "audit_append", records = entries.len())
    )]
    async fn append(&self, entries: &[AuditEntry]) -> FhirResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tip = self.append_lock.lock().await;
        // The tip this process left: no statement to read it (issue #19). If another process
        // appended since, the first INSERT meets an existing `seq` and fails before anything
        // is committed; the append is then made again from the tip read from the table.
        if let Some(known) = tip.take()
            && let Some(next) = self.append_from(entries, Some(known)).await?
        {
            *tip = Some(next);
            return Ok(());
        }
        *tip = self.append_from(entries, None).await?;
        Ok(())
    }

    async fn list(&self, filter: &AuditFilter) -> FhirResult<Vec<AuditRecord>> {
        let (mut sql, mut values) = audit_where(&format!("SELECT {AUDIT_COLUMNS}"), filter);
        if let Some(before) = filter.before_seq {
            sql.push_str(" AND seq < ?");
            values.push(SqlValue::from(before as i64));
        }
        let limit = match filter.limit {
            0 => 100,
            n => n.min(1000),
        };
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {limit}"));
        let rows = self
            .db
            .query_all_raw(statement(self.backend, &sql, values))
            .await
            .map_err(classify)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn count(&self, filter: &AuditFilter) -> FhirResult<u64> {
        let (sql, values) = audit_where("SELECT COUNT(*)", filter);
        let row = self
            .db
            .query_one_raw(statement(self.backend, &sql, values))
            .await
            .map_err(classify)?;
        let n: i64 = match row {
            Some(row) => row.try_get_by_index(0).map_err(classify)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn records_from(&self, first_seq: u64, limit: usize) -> FhirResult<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT {}",
            limit.clamp(1, 10_000)
        );
        let rows = self
            .db
            .query_all_raw(statement(
                self.backend,
                &sql,
                vec![SqlValue::from(first_seq as i64)],
            ))
            .await
            .map_err(classify)?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn verify(&self) -> FhirResult<AuditVerification> {
        let mut expected_seq = 1;
        let mut expected_prev = GENESIS_HASH.to_owned();
        let mut checked = 0;
        loop {
            let sql = format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT {VERIFY_CHUNK}"
            );
            let rows = self
                .db
                .query_all_raw(statement(
                    self.backend,
                    &sql,
                    vec![SqlValue::from(expected_seq as i64)],
                ))
                .await
                .map_err(classify)?;
            let records = rows
                .iter()
                .map(audit_from_row)
                .collect::<FhirResult<Vec<_>>>()?;
            if let Some(broken) = verify_records(&records, &mut expected_seq, &mut expected_prev) {
                return Ok(AuditVerification {
                    records: checked + (broken - records.first().map_or(broken, |r| r.seq)),
                    first_broken: Some(broken),
                });
            }
            checked += records.len() as u64;
            if (records.len() as u64) < VERIFY_CHUNK {
                return Ok(AuditVerification {
                    records: checked,
                    first_broken: None,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_batches_split_into_power_of_two_statements() {
        let split = |mut remaining: usize| {
            let mut sizes = Vec::new();
            while remaining > 0 {
                let size = chunk_size(remaining);
                sizes.push(size);
                remaining -= size;
            }
            sizes
        };
        assert_eq!(split(1), vec![1]);
        assert_eq!(split(37), vec![32, 4, 1]);
        assert_eq!(split(128), vec![128]);
        assert_eq!(split(300), vec![128, 128, 32, 8, 4]);
    }

    /// An entry as the code before migration 0006 wrote it: the URL's id and patient.
    fn old_entry(n: u64) -> AuditEntry {
        AuditEntry {
            at: time::macros::datetime!(2024-01-01 0:00 UTC),
            actor: Some("u-1".into()),
            role: Some("physician".into()),
            action: "read".into(),
            resource_type: Some("Patient".into()),
            resource_ids: vec!["p-1".into()],
            patients: BTreeMap::from([("p-1".to_owned(), Vec::new())]),
            resource_types: Vec::new(),
            outcome: 200,
            client_ip: None,
            request_id: format!("r-{n}"),
            detail: None,
        }
    }

    /// Issue #11: records written before migration 0006 (one URL-derived patient) verify
    /// after the upgrade next to new records, and the filter by patient finds both kinds.
    async fn old_and_new_records_chain(url: &str) {
        // The resource store's schema, and the platform's before 0006.
        let store = SqlResourceStore::connect(
            &SqlOptions::new(url),
            Arc::new(medilink_fhir::SystemClock),
            Arc::new(medilink_fhir::SeqIdGen::new("id")),
        )
        .await
        .expect("store");
        store
            .apply_migrations(&MIGRATIONS[..1])
            .await
            .expect("the schema before 0006");
        let db = store.connection().clone();
        let backend = db.get_database_backend();
        let mut prev = GENESIS_HASH.to_owned();
        for seq in 1..=2u64 {
            let entry = old_entry(seq);
            let hash = crate::audit::chain_hash_in(AuditFormat::V1, &prev, seq, &entry);
            let sql = "INSERT INTO audit_log (seq, recorded_at, actor, role, action, \
                 resource_type, resource_ids, patient_id, outcome, client_ip, request_id, \
                 prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
            let values: Vec<SqlValue> = vec![
                SqlValue::from(seq as i64),
                to_micros(entry.at).into(),
                entry.actor.clone().into(),
                entry.role.clone().into(),
                entry.action.as_str().into(),
                entry.resource_type.clone().into(),
                r#"["p-1"]"#.into(),
                "p-1".into(),
                200i32.into(),
                Option::<String>::None.into(),
                entry.request_id.as_str().into(),
                prev.as_str().into(),
                hash.as_str().into(),
            ];
            db.execute_raw(statement(backend, sql, values))
                .await
                .expect("an old record");
            prev = hash;
        }
        assert_eq!(
            migrate(&store).await.expect("upgrade"),
            [
                "0006_audit_patients",
                "0009_notifications",
                "0010_admin",
                "0011_audit_detail",
                "0012_smart",
                "0013_subscriptions",
                "0016_smart_subscriptions"
            ]
        );
        let log = SqlAuditLog {
            appends: db.clone(),
            db,
            backend,
            append_lock: Mutex::new(None),
        };
        let new = AuditEntry {
            action: "search".into(),
            resource_type: Some("Observation".into()),
            resource_ids: vec!["Observation/o1".into(), "Observation/o2".into()],
            patients: BTreeMap::from([
                ("p-1".to_owned(), vec!["Observation/o1".to_owned()]),
                ("p-2".to_owned(), vec!["Observation/o2".to_owned()]),
            ]),
            resource_types: vec!["Observation".into()],
            ..old_entry(3)
        };
        log.append(std::slice::from_ref(&new))
            .await
            .expect("append");
        let verification = log.verify().await.expect("verify");
        assert_eq!(verification.first_broken, None);
        assert_eq!(verification.records, 3);
        let of = |patient: &str| AuditFilter {
            patient_id: Some(patient.to_owned()),
            ..AuditFilter::default()
        };
        let first = log.list(&of("p-1")).await.expect("list");
        assert_eq!(
            first.iter().map(|record| record.seq).collect::<Vec<_>>(),
            vec![3, 2, 1]
        );
        assert_eq!(first[0].entry, new);
        assert_eq!(first[0].format, Some(AuditFormat::V2));
        assert_eq!(first[2].entry, old_entry(1));
        assert_eq!(first[2].format, Some(AuditFormat::V1));
        let second = log.list(&of("p-2")).await.expect("list");
        assert_eq!(second.len(), 1);
        // The types a record returned count for the type filter too.
        let observations = log
            .list(&AuditFilter {
                resource_type: Some("Observation".into()),
                not_actor: Some("u-2".into()),
                ..AuditFilter::default()
            })
            .await
            .expect("list");
        assert_eq!(observations.len(), 1);
    }

    #[tokio::test]
    async fn old_and_new_records_chain_on_sqlite() {
        let dir = tempfile::tempdir().expect("dir");
        old_and_new_records_chain(&format!(
            "sqlite://{}/audit.db?mode=rwc",
            dir.path().display()
        ))
        .await;
    }

    #[tokio::test]
    async fn old_and_new_records_chain_on_postgres() {
        #[allow(clippy::disallowed_methods, reason = "tests read the database url")]
        let Ok(base) = std::env::var("MEDILINK_TEST_POSTGRES_URL") else {
            return;
        };
        use sea_orm::Database;
        let admin = Database::connect(base.as_str()).await.expect("connect");
        #[allow(
            clippy::disallowed_methods,
            reason = "test databases need unique names"
        )]
        let name = format!("medilink_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let (prefix, _) = base.rsplit_once('/').expect("a database path");
        let run = tokio::spawn({
            let url = format!("{prefix}/{name}");
            async move { old_and_new_records_chain(&url).await }
        })
        .await;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .expect("drop database");
        run.expect("the test");
    }
}
