//! [`SqlSubscriptionStore`]: the subscriptions' delivery state and numbered events (migration
//! `0013_subscriptions`). Numbering is one transaction that re-checks the position under a
//! row lock (`FOR UPDATE` on PostgreSQL, the one writer on SQLite), so two servers matching
//! the same versions number them once.

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Value as SqlValue};
use time::OffsetDateTime;

use super::{corrupt, statement};
use crate::UserId;
use crate::subscriptions::{
    NewEvent, NewSubscription, SubscriptionEvent, SubscriptionState, SubscriptionStatus,
    SubscriptionStore,
};
use medilink_fhir::backend::sql::{begin_write, classify};
use medilink_fhir::clock::{from_micros, to_micros};
use medilink_fhir::error::FhirResult;

/// Subscriptions' delivery state in SQL.
#[derive(Debug)]
pub struct SqlSubscriptionStore {
    pub(super) db: DatabaseConnection,
    pub(super) backend: DbBackend,
}

const COLUMNS: &str = "id, owner, topic, channel, status, position, events, delivered, \
     attempts, next_attempt_at, last_error, base, app";

fn int(value: u64) -> SqlValue {
    i64::try_from(value).unwrap_or(i64::MAX).into()
}

fn unsigned(row: &QueryResult, at: usize, what: &str) -> FhirResult<u64> {
    let value: i64 = row.try_get_by_index(at).map_err(classify)?;
    u64::try_from(value).map_err(|_| corrupt(what))
}

fn state_from_row(row: &QueryResult) -> FhirResult<SubscriptionState> {
    let status: String = row.try_get_by_index(4).map_err(classify)?;
    let next: Option<i64> = row.try_get_by_index(9).map_err(classify)?;
    Ok(SubscriptionState {
        id: row.try_get_by_index(0).map_err(classify)?,
        owner: UserId(row.try_get_by_index(1).map_err(classify)?),
        topic: row.try_get_by_index(2).map_err(classify)?,
        channel: row.try_get_by_index(3).map_err(classify)?,
        status: SubscriptionStatus::parse(&status).ok_or_else(|| corrupt("subscription status"))?,
        position: unsigned(row, 5, "subscription position")?,
        events: unsigned(row, 6, "subscription events")?,
        delivered: unsigned(row, 7, "subscription delivered")?,
        attempts: u32::try_from(unsigned(row, 8, "subscription attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: next.map(from_micros),
        last_error: row.try_get_by_index(10).map_err(classify)?,
        base: row.try_get_by_index(11).map_err(classify)?,
        app: {
            let app: Option<String> = row.try_get_by_index(12).map_err(classify)?;
            app.map(|json| serde_json::from_str(&json))
                .transpose()
                .map_err(|_| corrupt("subscription app"))?
        },
    })
}

impl SqlSubscriptionStore {
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
impl SubscriptionStore for SqlSubscriptionStore {
    async fn create(&self, subscription: &NewSubscription) -> FhirResult<()> {
        self.execute(
            "INSERT INTO subscriptions (id, owner, topic, channel, base, status, position, \
             created_at, app) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            vec![
                subscription.id.as_str().into(),
                subscription.owner.as_str().into(),
                subscription.topic.as_str().into(),
                subscription.channel.as_str().into(),
                subscription.base.as_str().into(),
                subscription.status.as_str().into(),
                int(subscription.position),
                to_micros(subscription.created_at).into(),
                subscription
                    .app
                    .as_ref()
                    .map(|app| serde_json::to_string(app).unwrap_or_default())
                    .into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn change(
        &self,
        id: &str,
        topic: &str,
        channel: &str,
        status: SubscriptionStatus,
    ) -> FhirResult<bool> {
        let changed = self
            .execute(
                "UPDATE subscriptions SET topic = ?, channel = ?, status = ?, attempts = 0, \
                 next_attempt_at = NULL WHERE id = ?",
                vec![
                    topic.into(),
                    channel.into(),
                    status.as_str().into(),
                    id.into(),
                ],
            )
            .await?;
        Ok(changed > 0)
    }

    async fn remove(&self, id: &str) -> FhirResult<bool> {
        let txn = begin_write(&self.db).await?;
        for sql in [
            "DELETE FROM subscription_events WHERE subscription_id = ?",
            "DELETE FROM subscriptions WHERE id = ?",
        ] {
            txn.execute_raw(statement(self.backend, sql, vec![id.into()]))
                .await
                .map_err(classify)?;
        }
        txn.commit().await.map_err(classify)?;
        Ok(true)
    }

    async fn get(&self, id: &str) -> FhirResult<Option<SubscriptionState>> {
        let rows = self
            .all(
                &format!("SELECT {COLUMNS} FROM subscriptions WHERE id = ?"),
                vec![id.into()],
            )
            .await?;
        rows.first().map(state_from_row).transpose()
    }

    async fn get_many(&self, ids: &[&str]) -> FhirResult<Vec<SubscriptionState>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let rows = self
            .all(
                &format!("SELECT {COLUMNS} FROM subscriptions WHERE id IN ({marks})"),
                ids.iter().map(|id| (*id).into()).collect(),
            )
            .await?;
        rows.iter().map(state_from_row).collect()
    }

    async fn owned(&self, owner: &UserId) -> FhirResult<Vec<SubscriptionState>> {
        let rows = self
            .all(
                &format!("SELECT {COLUMNS} FROM subscriptions WHERE owner = ? ORDER BY id"),
                vec![owner.as_str().into()],
            )
            .await?;
        rows.iter().map(state_from_row).collect()
    }

    async fn live(&self) -> FhirResult<Vec<SubscriptionState>> {
        let rows = self
            .all(
                &format!("SELECT {COLUMNS} FROM subscriptions WHERE status <> 'off' ORDER BY id"),
                Vec::new(),
            )
            .await?;
        rows.iter().map(state_from_row).collect()
    }

    async fn append(&self, id: &str, from: u64, to: u64, events: &[NewEvent]) -> FhirResult<bool> {
        let txn = begin_write(&self.db).await?;
        let lock = if self.backend == DbBackend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let row = txn
            .query_one_raw(statement(
                self.backend,
                &format!("SELECT position, events FROM subscriptions WHERE id = ?{lock}"),
                vec![id.into()],
            ))
            .await
            .map_err(classify)?;
        let Some(row) = row else {
            return Ok(false);
        };
        if unsigned(&row, 0, "subscription position")? != from {
            return Ok(false);
        }
        let mut number = unsigned(&row, 1, "subscription events")?;
        for event in events {
            number += 1;
            txn.execute_raw(statement(
                self.backend,
                "INSERT INTO subscription_events (subscription_id, number, seq, resource_type, \
                 resource_id, version, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                vec![
                    id.into(),
                    int(number),
                    int(event.seq),
                    event.resource_type.as_str().into(),
                    event.resource_id.as_str().into(),
                    int(event.version),
                    to_micros(event.at).into(),
                ],
            ))
            .await
            .map_err(classify)?;
        }
        txn.execute_raw(statement(
            self.backend,
            "UPDATE subscriptions SET position = ?, events = ? WHERE id = ?",
            vec![int(to), int(number), id.into()],
        ))
        .await
        .map_err(classify)?;
        txn.commit().await.map_err(classify)?;
        Ok(true)
    }

    async fn events(
        &self,
        id: &str,
        since: u64,
        until: u64,
        limit: usize,
    ) -> FhirResult<Vec<SubscriptionEvent>> {
        let rows = self
            .all(
                &format!(
                    "SELECT number, seq, resource_type, resource_id, version, at \
                     FROM subscription_events WHERE subscription_id = ? AND number >= ? \
                     AND number <= ? ORDER BY number LIMIT {}",
                    limit.max(1)
                ),
                vec![id.into(), int(since), int(until)],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(SubscriptionEvent {
                    number: unsigned(row, 0, "event number")?,
                    event: NewEvent {
                        seq: unsigned(row, 1, "event seq")?,
                        resource_type: row.try_get_by_index(2).map_err(classify)?,
                        resource_id: row.try_get_by_index(3).map_err(classify)?,
                        version: unsigned(row, 4, "event version")?,
                        at: from_micros(row.try_get_by_index(5).map_err(classify)?),
                    },
                })
            })
            .collect()
    }

    async fn lease(
        &self,
        id: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> FhirResult<bool> {
        let taken = self
            .execute(
                "UPDATE subscriptions SET lease_owner = ?, lease_until = ? WHERE id = ? AND \
                 (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
                vec![
                    holder.into(),
                    to_micros(until).into(),
                    id.into(),
                    holder.into(),
                    to_micros(now).into(),
                ],
            )
            .await?;
        Ok(taken == 1)
    }

    async fn release(&self, id: &str, holder: &str) -> FhirResult<()> {
        self.execute(
            "UPDATE subscriptions SET lease_owner = NULL, lease_until = NULL \
             WHERE id = ? AND lease_owner = ?",
            vec![id.into(), holder.into()],
        )
        .await?;
        Ok(())
    }

    async fn delivered(&self, id: &str, holder: &str, number: u64) -> FhirResult<()> {
        self.execute(
            "UPDATE subscriptions SET delivered = ?, attempts = 0, next_attempt_at = NULL, \
             last_error = NULL, status = CASE WHEN status = 'error' THEN 'active' ELSE status \
             END WHERE id = ? AND lease_owner = ? AND delivered < ?",
            vec![int(number), id.into(), holder.into(), int(number)],
        )
        .await?;
        Ok(())
    }

    async fn activated(&self, id: &str, holder: &str) -> FhirResult<bool> {
        let changed = self
            .execute(
                "UPDATE subscriptions SET status = 'active', attempts = 0, next_attempt_at = NULL, \
                 last_error = NULL WHERE id = ? AND lease_owner = ? AND status = 'requested'",
                vec![id.into(), holder.into()],
            )
            .await?;
        Ok(changed == 1)
    }

    async fn failed(
        &self,
        id: &str,
        holder: &str,
        attempts: u32,
        retry_at: OffsetDateTime,
        error: &str,
        status: SubscriptionStatus,
    ) -> FhirResult<()> {
        self.execute(
            "UPDATE subscriptions SET attempts = ?, next_attempt_at = ?, last_error = ?, \
             status = CASE WHEN status = 'off' THEN 'off' ELSE ? END \
             WHERE id = ? AND lease_owner = ?",
            vec![
                i64::from(attempts).into(),
                to_micros(retry_at).into(),
                error.into(),
                status.as_str().into(),
                id.into(),
                holder.into(),
            ],
        )
        .await?;
        Ok(())
    }
}
