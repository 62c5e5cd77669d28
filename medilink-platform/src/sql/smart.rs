//! [`SqlSmartStore`]: the SMART tables (migration `0012_smart`) — clients, remembered
//! decisions and app refresh tokens — on the store's database.

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Value as SqlValue};
use time::OffsetDateTime;

use super::{corrupt, statement};
use crate::UserId;
use crate::smart::{
    ClientKind, ClientMetadata, ClientStatus, SmartAuthorization, SmartClient, SmartRefresh,
    SmartRefreshUse, SmartStore,
};
use medilink_fhir::backend::sql::{begin_write, classify};
use medilink_fhir::clock::{from_micros, to_micros};
use medilink_fhir::error::{FhirError, FhirResult};

/// The SMART tables in SQL.
#[derive(Debug)]
pub struct SqlSmartStore {
    pub(super) db: DatabaseConnection,
    pub(super) backend: DbBackend,
}

const CLIENT_COLUMNS: &str = "client_id, kind, status, metadata, created_at";
const REFRESH_COLUMNS: &str =
    "token_hash, family_id, client_id, user_id, patient_id, scopes, created_at, expires_at";
const INSERT_REFRESH: &str = "INSERT INTO smart_refresh_tokens (token_hash, family_id, client_id, \
     user_id, patient_id, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

fn client_from_row(row: &QueryResult) -> FhirResult<SmartClient> {
    let kind: String = row.try_get_by_index(1).map_err(classify)?;
    let status: String = row.try_get_by_index(2).map_err(classify)?;
    let metadata: String = row.try_get_by_index(3).map_err(classify)?;
    Ok(SmartClient {
        client_id: row.try_get_by_index(0).map_err(classify)?,
        kind: ClientKind::parse(&kind).ok_or_else(|| corrupt("client kind"))?,
        status: ClientStatus::parse(&status).ok_or_else(|| corrupt("client status"))?,
        metadata: serde_json::from_str::<ClientMetadata>(&metadata)
            .map_err(|_| corrupt("client metadata"))?,
        created_at: from_micros(row.try_get_by_index(4).map_err(classify)?),
    })
}

fn authorization_from_row(row: &QueryResult) -> FhirResult<SmartAuthorization> {
    let last: Option<i64> = row.try_get_by_index(4).map_err(classify)?;
    Ok(SmartAuthorization {
        user_id: UserId(row.try_get_by_index(0).map_err(classify)?),
        client_id: row.try_get_by_index(1).map_err(classify)?,
        scopes: row.try_get_by_index(2).map_err(classify)?,
        granted_at: from_micros(row.try_get_by_index(3).map_err(classify)?),
        last_used_at: last.map(from_micros),
    })
}

fn refresh_from_row(row: &QueryResult) -> FhirResult<SmartRefresh> {
    Ok(SmartRefresh {
        token_hash: row.try_get_by_index(0).map_err(classify)?,
        family_id: row.try_get_by_index(1).map_err(classify)?,
        client_id: row.try_get_by_index(2).map_err(classify)?,
        user_id: UserId(row.try_get_by_index(3).map_err(classify)?),
        patient_id: row.try_get_by_index(4).map_err(classify)?,
        scopes: row.try_get_by_index(5).map_err(classify)?,
        created_at: from_micros(row.try_get_by_index(6).map_err(classify)?),
        expires_at: from_micros(row.try_get_by_index(7).map_err(classify)?),
    })
}

fn refresh_values(token: &SmartRefresh) -> Vec<SqlValue> {
    vec![
        token.token_hash.clone().into(),
        token.family_id.as_str().into(),
        token.client_id.as_str().into(),
        token.user_id.as_str().into(),
        token.patient_id.clone().into(),
        token.scopes.as_str().into(),
        to_micros(token.created_at).into(),
        to_micros(token.expires_at).into(),
    ]
}

impl SqlSmartStore {
    async fn execute(&self, sql: &str, values: Vec<SqlValue>) -> FhirResult<u64> {
        Ok(self
            .db
            .execute_raw(statement(self.backend, sql, values))
            .await
            .map_err(classify)?
            .rows_affected())
    }

    async fn all(&self, sql: &str, values: Vec<SqlValue>) -> FhirResult<Vec<QueryResult>> {
        self.db
            .query_all_raw(statement(self.backend, sql, values))
            .await
            .map_err(classify)
    }
}

#[async_trait]
impl SmartStore for SqlSmartStore {
    async fn create_client(&self, client: &SmartClient) -> FhirResult<()> {
        let metadata =
            serde_json::to_string(&client.metadata).map_err(|err| FhirError::Internal {
                source: Box::new(err),
            })?;
        let now = to_micros(client.created_at);
        self.execute(
            &format!(
                "INSERT INTO smart_clients ({CLIENT_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
            ),
            vec![
                client.client_id.as_str().into(),
                client.kind.as_str().into(),
                client.status.as_str().into(),
                metadata.into(),
                now.into(),
                now.into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> FhirResult<Option<SmartClient>> {
        let rows = self
            .all(
                &format!("SELECT {CLIENT_COLUMNS} FROM smart_clients WHERE client_id = ?"),
                vec![client_id.into()],
            )
            .await?;
        rows.first().map(client_from_row).transpose()
    }

    async fn clients(&self) -> FhirResult<Vec<SmartClient>> {
        let rows = self
            .all(
                &format!(
                    "SELECT {CLIENT_COLUMNS} FROM smart_clients ORDER BY created_at DESC, client_id"
                ),
                Vec::new(),
            )
            .await?;
        rows.iter().map(client_from_row).collect()
    }

    async fn set_client_status(
        &self,
        client_id: &str,
        status: ClientStatus,
        now: OffsetDateTime,
    ) -> FhirResult<bool> {
        let changed = self
            .execute(
                "UPDATE smart_clients SET status = ?, updated_at = ? WHERE client_id = ?",
                vec![
                    status.as_str().into(),
                    to_micros(now).into(),
                    client_id.into(),
                ],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn remember(&self, authorization: &SmartAuthorization) -> FhirResult<()> {
        let txn = begin_write(&self.db).await?;
        let key = vec![
            authorization.user_id.as_str().into(),
            authorization.client_id.as_str().into(),
        ];
        txn.execute_raw(statement(
            self.backend,
            "DELETE FROM smart_authorizations WHERE user_id = ? AND client_id = ?",
            key.clone(),
        ))
        .await
        .map_err(classify)?;
        let mut values = key;
        values.push(authorization.scopes.as_str().into());
        values.push(to_micros(authorization.granted_at).into());
        values.push(authorization.last_used_at.map(to_micros).into());
        txn.execute_raw(statement(
            self.backend,
            "INSERT INTO smart_authorizations (user_id, client_id, scopes, granted_at, \
             last_used_at) VALUES (?, ?, ?, ?, ?)",
            values,
        ))
        .await
        .map_err(classify)?;
        txn.commit().await.map_err(classify)
    }

    async fn authorizations(&self, user_id: &UserId) -> FhirResult<Vec<SmartAuthorization>> {
        let rows = self
            .all(
                "SELECT user_id, client_id, scopes, granted_at, last_used_at \
                 FROM smart_authorizations WHERE user_id = ? ORDER BY granted_at DESC, client_id",
                vec![user_id.as_str().into()],
            )
            .await?;
        rows.iter().map(authorization_from_row).collect()
    }

    async fn authorization(
        &self,
        user_id: &UserId,
        client_id: &str,
    ) -> FhirResult<Option<SmartAuthorization>> {
        let rows = self
            .all(
                "SELECT user_id, client_id, scopes, granted_at, last_used_at \
                 FROM smart_authorizations WHERE user_id = ? AND client_id = ?",
                vec![user_id.as_str().into(), client_id.into()],
            )
            .await?;
        rows.first().map(authorization_from_row).transpose()
    }

    async fn touch(
        &self,
        user_id: &UserId,
        client_id: &str,
        now: OffsetDateTime,
    ) -> FhirResult<()> {
        self.execute(
            "UPDATE smart_authorizations SET last_used_at = ? WHERE user_id = ? AND client_id = ?",
            vec![
                to_micros(now).into(),
                user_id.as_str().into(),
                client_id.into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn forget(
        &self,
        user_id: &UserId,
        client_id: &str,
        now: OffsetDateTime,
    ) -> FhirResult<bool> {
        let key = || -> Vec<SqlValue> { vec![user_id.as_str().into(), client_id.into()] };
        let forgotten = self
            .execute(
                "DELETE FROM smart_authorizations WHERE user_id = ? AND client_id = ?",
                key(),
            )
            .await?;
        let mut values = vec![to_micros(now).into()];
        values.extend(key());
        let revoked = self
            .execute(
                "UPDATE smart_refresh_tokens SET revoked_at = ? WHERE user_id = ? AND client_id = ? \
                 AND revoked_at IS NULL AND used_at IS NULL",
                values,
            )
            .await?;
        Ok(forgotten + revoked > 0)
    }

    async fn insert_refresh(&self, token: &SmartRefresh) -> FhirResult<()> {
        self.execute(INSERT_REFRESH, refresh_values(token)).await?;
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        token_hash: &[u8],
        client_id: &str,
        successor: &SmartRefresh,
        now: OffsetDateTime,
    ) -> FhirResult<SmartRefreshUse> {
        let now = to_micros(now);
        let txn = begin_write(&self.db).await?;
        let claimed = txn
            .execute_raw(statement(
                self.backend,
                "UPDATE smart_refresh_tokens SET used_at = ? WHERE token_hash = ? AND client_id = ? \
                 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
                vec![
                    now.into(),
                    token_hash.to_vec().into(),
                    client_id.into(),
                    now.into(),
                ],
            ))
            .await
            .map_err(classify)?
            .rows_affected();
        let row = txn
            .query_one_raw(statement(
                self.backend,
                &format!(
                    "SELECT {REFRESH_COLUMNS} FROM smart_refresh_tokens \
                     WHERE token_hash = ? AND client_id = ?"
                ),
                vec![token_hash.to_vec().into(), client_id.into()],
            ))
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            txn.rollback().await.map_err(classify)?;
            return Ok(SmartRefreshUse::Unknown);
        };
        let record = refresh_from_row(&row)?;
        let outcome = if claimed == 1 {
            txn.execute_raw(statement(
                self.backend,
                INSERT_REFRESH,
                refresh_values(successor),
            ))
            .await
            .map_err(classify)?;
            SmartRefreshUse::Rotated(record)
        } else if to_micros(record.expires_at) <= now {
            SmartRefreshUse::Expired
        } else {
            txn.execute_raw(statement(
                self.backend,
                "UPDATE smart_refresh_tokens SET revoked_at = ? WHERE family_id = ? \
                 AND revoked_at IS NULL",
                vec![now.into(), record.family_id.as_str().into()],
            ))
            .await
            .map_err(classify)?;
            SmartRefreshUse::Reused(record)
        };
        txn.commit().await.map_err(classify)?;
        Ok(outcome)
    }

    async fn live_refresh(
        &self,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> FhirResult<Option<SmartRefresh>> {
        let rows = self
            .all(
                &format!(
                    "SELECT {REFRESH_COLUMNS} FROM smart_refresh_tokens WHERE token_hash = ? \
                     AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?"
                ),
                vec![token_hash.to_vec().into(), to_micros(now).into()],
            )
            .await?;
        rows.first().map(refresh_from_row).transpose()
    }

    async fn revoke_refresh(
        &self,
        token_hash: &[u8],
        client_id: &str,
        now: OffsetDateTime,
    ) -> FhirResult<Option<String>> {
        let rows = self
            .all(
                "SELECT family_id FROM smart_refresh_tokens WHERE token_hash = ? AND client_id = ?",
                vec![token_hash.to_vec().into(), client_id.into()],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let family: String = row.try_get_by_index(0).map_err(classify)?;
        self.revoke_family(&family, now).await?;
        Ok(Some(family))
    }

    async fn revoke_family(&self, family_id: &str, now: OffsetDateTime) -> FhirResult<()> {
        self.execute(
            "UPDATE smart_refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
            vec![to_micros(now).into(), family_id.into()],
        )
        .await?;
        Ok(())
    }
}
