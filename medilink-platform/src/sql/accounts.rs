//! The admin side of [`SqlAccountStore`]: counts, guarded role and status changes (the last
//! active admin stays), sign-ins and sessions, and researcher invitations with their
//! one-transaction acceptance (migration `0010_admin`).

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, QueryResult, Value as SqlValue};
use time::OffsetDateTime;

use super::{SqlAccountStore, USER_COLUMNS, corrupt, statement, user_from_row};
use crate::accounts::duplicate;
use crate::notifications::NewNotification;
use crate::{
    AccountChange, AccountStatus, Invitation, InvitationAcceptance, NewInvitation, NewUser, Role,
    UserFilter, UserId, UserRecord,
};
use medilink_fhir::backend::sql::{begin_write, classify};
use medilink_fhir::clock::{from_micros, to_micros};
use medilink_fhir::error::FhirResult;

const INVITATION_COLUMNS: &str = "id, email_hash, email_enc, role, created_by, created_at, \
     expires_at, accepted_at, accepted_by, revoked_at";

/// The PostgreSQL advisory lock that serializes guarded role and status changes.
const ADMIN_LOCK: &str = "SELECT pg_advisory_xact_lock(7461629)";

/// The values of an INSERT of [`USER_COLUMNS`] for `user`, created at `now`.
pub(super) fn new_user_values(user: NewUser, now: i64) -> Vec<SqlValue> {
    vec![
        user.id.as_str().into(),
        user.email_hash.into(),
        user.email_enc.into(),
        user.name_enc.into(),
        user.password_hash.into(),
        user.role.as_str().into(),
        user.status.as_str().into(),
        user.patient_id.map(|id| id.as_str().to_owned()).into(),
        SqlValue::from(None::<Vec<u8>>),
        false.into(),
        "[]".into(),
        now.into(),
        now.into(),
    ]
}

/// `INSERT INTO users` of every [`USER_COLUMNS`].
pub(super) fn insert_user_sql() -> String {
    format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
}

fn invitation_from_row(row: &QueryResult) -> FhirResult<Invitation> {
    let role: String = row.try_get_by_index(3).map_err(classify)?;
    let at = |index: usize| -> FhirResult<Option<OffsetDateTime>> {
        let micros: Option<i64> = row.try_get_by_index(index).map_err(classify)?;
        Ok(micros.map(from_micros))
    };
    let accepted_by: Option<String> = row.try_get_by_index(8).map_err(classify)?;
    Ok(Invitation {
        id: row.try_get_by_index(0).map_err(classify)?,
        email_hash: row.try_get_by_index(1).map_err(classify)?,
        email_enc: row.try_get_by_index(2).map_err(classify)?,
        role: Role::parse(&role).ok_or_else(|| corrupt("invitation role"))?,
        created_by: UserId(row.try_get_by_index(4).map_err(classify)?),
        created_at: from_micros(row.try_get_by_index(5).map_err(classify)?),
        expires_at: from_micros(row.try_get_by_index(6).map_err(classify)?),
        accepted_at: at(7)?,
        accepted_by: accepted_by.map(UserId),
        revoked_at: at(9)?,
    })
}

fn count_of(row: Option<QueryResult>) -> FhirResult<u64> {
    let n: i64 = match row {
        Some(row) => row.try_get_by_index(0).map_err(classify)?,
        None => 0,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// `WHERE` of a user filter (but its paging) and its values.
pub(super) fn user_where(filter: &UserFilter) -> (String, Vec<SqlValue>) {
    let mut sql = String::from(" WHERE 1 = 1");
    let mut values: Vec<SqlValue> = Vec::new();
    if let Some(role) = filter.role {
        sql.push_str(" AND role = ?");
        values.push(role.as_str().into());
    }
    if let Some(status) = filter.status {
        sql.push_str(" AND status = ?");
        values.push(status.as_str().into());
    }
    if let Some(hash) = &filter.email_hash {
        sql.push_str(" AND email_hash = ?");
        values.push(hash.clone().into());
    }
    (sql, values)
}

impl SqlAccountStore {
    async fn one_in(
        &self,
        txn: &DatabaseTransaction,
        sql: &str,
        values: Vec<SqlValue>,
    ) -> FhirResult<Option<QueryResult>> {
        txn.query_one_raw(statement(self.backend, sql, values))
            .await
            .map_err(classify)
    }

    async fn exec_in(
        &self,
        txn: &DatabaseTransaction,
        sql: &str,
        values: Vec<SqlValue>,
    ) -> FhirResult<u64> {
        Ok(txn
            .execute_raw(statement(self.backend, sql, values))
            .await
            .map_err(classify)?
            .rows_affected())
    }

    pub(super) async fn count_users_sql(&self, filter: &UserFilter) -> FhirResult<u64> {
        let (sql, values) = user_where(filter);
        let row = self
            .db
            .query_one_raw(statement(
                self.backend,
                &format!("SELECT COUNT(*) FROM users{sql}"),
                values,
            ))
            .await
            .map_err(classify)?;
        count_of(row)
    }

    /// Runs `change` on the user `id` in a transaction serialized with every other guarded
    /// change, refusing it when it would turn the last active admin into something else.
    async fn guarded(
        &self,
        id: &UserId,
        allowed: impl FnOnce(&UserRecord) -> Option<AccountChange>,
        after: impl FnOnce(&UserRecord) -> (Role, AccountStatus),
        notices: &[NewNotification],
    ) -> FhirResult<AccountChange> {
        let txn = begin_write(&self.db).await?;
        if self.backend == DbBackend::Postgres {
            txn.execute_unprepared(ADMIN_LOCK).await.map_err(classify)?;
        }
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let Some(row) = self.one_in(&txn, &sql, vec![id.as_str().into()]).await? else {
            txn.rollback().await.map_err(classify)?;
            return Ok(AccountChange::NotFound);
        };
        let user = user_from_row(&row)?;
        if let Some(refused) = allowed(&user) {
            txn.rollback().await.map_err(classify)?;
            return Ok(refused);
        }
        let (role, status) = after(&user);
        let was_active_admin = user.role == Role::Admin && user.status == AccountStatus::Active;
        let stays = role == Role::Admin && status == AccountStatus::Active;
        if was_active_admin && !stays {
            let others = self
                .one_in(
                    &txn,
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND status = 'active' \
                     AND id <> ?",
                    vec![id.as_str().into()],
                )
                .await?;
            if count_of(others)? == 0 {
                txn.rollback().await.map_err(classify)?;
                return Ok(AccountChange::LastAdmin);
            }
        }
        self.exec_in(
            &txn,
            "UPDATE users SET role = ?, status = ?, updated_at = ? WHERE id = ?",
            vec![
                role.as_str().into(),
                status.as_str().into(),
                to_micros(self.clock.now()).into(),
                id.as_str().into(),
            ],
        )
        .await?;
        super::notifications::insert_notices(&txn, self.backend, notices).await?;
        let row = self.one_in(&txn, &sql, vec![id.as_str().into()]).await?;
        txn.commit().await.map_err(classify)?;
        let user = row.ok_or_else(|| corrupt("user (vanished on update)"))?;
        Ok(AccountChange::Changed(Box::new(user_from_row(&user)?)))
    }

    pub(super) async fn set_role_sql(&self, id: &UserId, role: Role) -> FhirResult<AccountChange> {
        self.guarded(id, |_| None, |user| (role, user.status), &[])
            .await
    }

    pub(super) async fn set_status_sql(
        &self,
        id: &UserId,
        from: &[AccountStatus],
        to: AccountStatus,
        notices: &[NewNotification],
    ) -> FhirResult<AccountChange> {
        self.guarded(
            id,
            |user| {
                (!from.contains(&user.status)).then_some(AccountChange::WrongStatus(user.status))
            },
            |user| (user.role, to),
            notices,
        )
        .await
    }

    pub(super) async fn record_sign_in_sql(
        &self,
        id: &UserId,
        at: OffsetDateTime,
    ) -> FhirResult<()> {
        self.db
            .execute_raw(statement(
                self.backend,
                "UPDATE users SET last_sign_in_at = ? WHERE id = ?",
                vec![to_micros(at).into(), id.as_str().into()],
            ))
            .await
            .map_err(classify)?;
        Ok(())
    }

    pub(super) async fn last_sign_in_sql(&self, id: &UserId) -> FhirResult<Option<OffsetDateTime>> {
        let row = self
            .db
            .query_one_raw(statement(
                self.backend,
                "SELECT last_sign_in_at FROM users WHERE id = ?",
                vec![id.as_str().into()],
            ))
            .await
            .map_err(classify)?;
        let micros: Option<i64> = match row {
            Some(row) => row.try_get_by_index(0).map_err(classify)?,
            None => None,
        };
        Ok(micros.map(from_micros))
    }

    pub(super) async fn active_sessions_sql(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> FhirResult<u64> {
        let row = self
            .db
            .query_one_raw(statement(
                self.backend,
                "SELECT COUNT(*) FROM refresh_tokens WHERE user_id = ? AND used_at IS NULL \
                 AND revoked_at IS NULL AND expires_at > ?",
                vec![id.as_str().into(), to_micros(now).into()],
            ))
            .await
            .map_err(classify)?;
        count_of(row)
    }

    pub(super) async fn invitation_by(
        &self,
        column: &str,
        value: SqlValue,
    ) -> FhirResult<Option<Invitation>> {
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE {column} = ?");
        let row = self
            .db
            .query_one_raw(statement(self.backend, &sql, vec![value]))
            .await
            .map_err(classify)?;
        row.map(|row| invitation_from_row(&row)).transpose()
    }

    pub(super) async fn create_invitation_sql(
        &self,
        invitation: &NewInvitation,
    ) -> FhirResult<Invitation> {
        let sql = format!(
            "INSERT INTO invitations ({INVITATION_COLUMNS}, token_hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        );
        let values: Vec<SqlValue> = vec![
            invitation.id.as_str().into(),
            invitation.email_hash.clone().into(),
            invitation.email_enc.clone().into(),
            invitation.role.as_str().into(),
            invitation.created_by.as_str().into(),
            to_micros(invitation.created_at).into(),
            to_micros(invitation.expires_at).into(),
            SqlValue::from(None::<i64>),
            SqlValue::from(None::<String>),
            SqlValue::from(None::<i64>),
            invitation.token_hash.clone().into(),
        ];
        self.db
            .execute_raw(statement(self.backend, &sql, values))
            .await
            .map_err(classify)?;
        self.invitation_by("id", invitation.id.as_str().into())
            .await?
            .ok_or_else(|| corrupt("invitation (vanished after insert)"))
    }

    pub(super) async fn invitations_sql(&self) -> FhirResult<Vec<Invitation>> {
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations ORDER BY created_at DESC, id DESC \
             LIMIT 1000"
        );
        let rows = self
            .db
            .query_all_raw(statement(self.backend, &sql, vec![]))
            .await
            .map_err(classify)?;
        rows.iter().map(invitation_from_row).collect()
    }

    pub(super) async fn revoke_invitation_sql(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> FhirResult<Option<Invitation>> {
        self.db
            .execute_raw(statement(
                self.backend,
                "UPDATE invitations SET revoked_at = ? \
                 WHERE id = ? AND accepted_at IS NULL AND revoked_at IS NULL",
                vec![to_micros(now).into(), id.into()],
            ))
            .await
            .map_err(classify)?;
        self.invitation_by("id", id.into()).await
    }

    pub(super) async fn accept_invitation_sql(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
        mut user: NewUser,
    ) -> FhirResult<InvitationAcceptance> {
        let now = to_micros(now);
        let txn = begin_write(&self.db).await?;
        let claimed = self
            .exec_in(
                &txn,
                "UPDATE invitations SET accepted_at = ?, accepted_by = ? WHERE token_hash = ? \
                 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
                vec![
                    now.into(),
                    user.id.as_str().into(),
                    token_hash.to_vec().into(),
                    now.into(),
                ],
            )
            .await?;
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM invitations WHERE token_hash = ?");
        let row = self
            .one_in(&txn, &sql, vec![token_hash.to_vec().into()])
            .await?;
        let (Some(row), 1) = (row.as_ref(), claimed) else {
            txn.rollback().await.map_err(classify)?;
            return Ok(match row {
                Some(_) => InvitationAcceptance::Gone,
                None => InvitationAcceptance::Unknown,
            });
        };
        let invitation = invitation_from_row(row)?;
        let taken = self
            .one_in(
                &txn,
                "SELECT id FROM users WHERE email_hash = ?",
                vec![invitation.email_hash.clone().into()],
            )
            .await?;
        if taken.is_some() {
            txn.rollback().await.map_err(classify)?;
            return Err(duplicate("an account with this e-mail"));
        }
        user.email_hash = invitation.email_hash;
        user.email_enc = invitation.email_enc;
        user.role = invitation.role;
        let id = user.id.clone();
        self.exec_in(&txn, &insert_user_sql(), new_user_values(user, now))
            .await?;
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?");
        let row = self.one_in(&txn, &sql, vec![id.as_str().into()]).await?;
        txn.commit().await.map_err(classify)?;
        let row = row.ok_or_else(|| corrupt("user (vanished after insert)"))?;
        Ok(InvitationAcceptance::Accepted(Box::new(user_from_row(
            &row,
        )?)))
    }
}
