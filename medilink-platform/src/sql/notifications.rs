//! [`SqlNotificationStore`]: notices, deliveries, preferences and seen sign-in clients
//! (migration `0009_notifications`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, QueryResult,
    Value as SqlValue,
};
use time::OffsetDateTime;

use super::{corrupt, statement};
use crate::UserId;
use crate::notifications::{
    Channel, ChannelChoice, Delivery, DeliveryStatus, DeliveryUpdate, Language, NewNotification,
    Notification, NotificationKind, NotificationStore, Preferences, QuietHours, SeenClient,
};
use medilink_fhir::backend::sql::{begin_write, classify};
use medilink_fhir::clock::{from_micros, to_micros};
use medilink_fhir::error::{FhirError, FhirResult};

/// Notices and their deliveries in SQL.
#[derive(Debug)]
pub struct SqlNotificationStore {
    pub(super) db: DatabaseConnection,
    pub(super) backend: DbBackend,
}

const NOTICE_COLUMNS: &str = "seq, id, user_id, kind, parameters, created_at, read_at";

fn json_error(err: serde_json::Error) -> FhirError {
    FhirError::Internal {
        source: Box::new(err),
    }
}

fn notice_from_row(row: &QueryResult, at: usize) -> FhirResult<Notification> {
    let seq: i64 = row.try_get_by_index(at).map_err(classify)?;
    let kind: String = row.try_get_by_index(at + 3).map_err(classify)?;
    let parameters: String = row.try_get_by_index(at + 4).map_err(classify)?;
    let read_at: Option<i64> = row.try_get_by_index(at + 6).map_err(classify)?;
    Ok(Notification {
        seq: u64::try_from(seq).map_err(|_| corrupt("notification seq"))?,
        id: row.try_get_by_index(at + 1).map_err(classify)?,
        user_id: UserId(row.try_get_by_index(at + 2).map_err(classify)?),
        kind: NotificationKind::parse(&kind).ok_or_else(|| corrupt("notification kind"))?,
        parameters: serde_json::from_str(&parameters)
            .map_err(|_| corrupt("notification parameters"))?,
        created_at: from_micros(row.try_get_by_index(at + 5).map_err(classify)?),
        read_at: read_at.map(from_micros),
    })
}

const DELIVERY_COLUMNS: &str = "d.id, d.notification_id, d.channel, d.status, d.attempts, \
     d.next_attempt_at, d.last_error, d.sent_at";

fn delivery_from_row(row: &QueryResult) -> FhirResult<Delivery> {
    let channel: String = row.try_get_by_index(2).map_err(classify)?;
    let status: String = row.try_get_by_index(3).map_err(classify)?;
    let attempts: i64 = row.try_get_by_index(4).map_err(classify)?;
    let next: Option<i64> = row.try_get_by_index(5).map_err(classify)?;
    let sent: Option<i64> = row.try_get_by_index(7).map_err(classify)?;
    Ok(Delivery {
        id: row.try_get_by_index(0).map_err(classify)?,
        notification_id: row.try_get_by_index(1).map_err(classify)?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("delivery channel"))?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| corrupt("delivery status"))?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_attempt_at: next.map(from_micros),
        last_error: row.try_get_by_index(6).map_err(classify)?,
        sent_at: sent.map(from_micros),
    })
}

impl SqlNotificationStore {
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

/// Stores `notices` and their deliveries inside `txn` (the caller's change and its notices
/// commit together: the outbox); a once-only notice whose recipient already has its
/// `dedup_key` is skipped with its deliveries. Returns the notices written.
pub(crate) async fn insert_notices(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    notices: &[NewNotification],
) -> FhirResult<Vec<NewNotification>> {
    let mut stored = Vec::with_capacity(notices.len());
    for notice in notices {
        let parameters = serde_json::to_string(&notice.parameters).map_err(json_error)?;
        let inserted = txn
            .execute_raw(statement(
                backend,
                "INSERT INTO notifications (id, user_id, kind, parameters, dedup_key, \
                 created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, dedup_key) \
                 WHERE dedup_key IS NOT NULL DO NOTHING",
                vec![
                    notice.id.as_str().into(),
                    notice.user_id.as_str().into(),
                    notice.kind.as_str().into(),
                    parameters.into(),
                    notice.dedup_key.clone().into(),
                    to_micros(notice.created_at).into(),
                ],
            ))
            .await
            .map_err(classify)?
            .rows_affected();
        if inserted == 0 {
            continue;
        }
        for delivery in &notice.deliveries {
            let sent_at =
                (delivery.status == DeliveryStatus::Sent).then(|| to_micros(notice.created_at));
            txn.execute_raw(statement(
                backend,
                "INSERT INTO notification_deliveries (id, notification_id, channel, status, \
                 attempts, next_attempt_at, sent_at, created_at) \
                 VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
                vec![
                    delivery.id.as_str().into(),
                    notice.id.as_str().into(),
                    delivery.channel.as_str().into(),
                    delivery.status.as_str().into(),
                    delivery.next_attempt_at.map(to_micros).into(),
                    sent_at.into(),
                    to_micros(notice.created_at).into(),
                ],
            ))
            .await
            .map_err(classify)?;
        }
        stored.push(notice.clone());
    }
    Ok(stored)
}

#[async_trait]
impl NotificationStore for SqlNotificationStore {
    async fn insert(&self, notices: &[NewNotification]) -> FhirResult<Vec<NewNotification>> {
        if notices.is_empty() {
            return Ok(Vec::new());
        }
        let txn = begin_write(&self.db).await?;
        let stored = insert_notices(&txn, self.backend, notices).await?;
        txn.commit().await.map_err(classify)?;
        Ok(stored)
    }

    async fn list(
        &self,
        user: &UserId,
        limit: u32,
        before: Option<u64>,
    ) -> FhirResult<Vec<Notification>> {
        let mut sql = format!("SELECT {NOTICE_COLUMNS} FROM notifications WHERE user_id = ?");
        let mut values: Vec<SqlValue> = vec![user.as_str().into()];
        if let Some(before) = before {
            sql.push_str(" AND seq < ?");
            values.push(i64::try_from(before).unwrap_or(i64::MAX).into());
        }
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {limit}"));
        let rows = self.all(&sql, values).await?;
        rows.iter().map(|row| notice_from_row(row, 0)).collect()
    }

    async fn unread(&self, user: &UserId) -> FhirResult<u64> {
        let rows = self
            .all(
                "SELECT COUNT(*) FROM notifications WHERE user_id = ? AND read_at IS NULL",
                vec![user.as_str().into()],
            )
            .await?;
        let count: i64 = match rows.first() {
            Some(row) => row.try_get_by_index(0).map_err(classify)?,
            None => 0,
        };
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn mark_read(&self, user: &UserId, id: &str, at: OffsetDateTime) -> FhirResult<bool> {
        let rows = self
            .all(
                "SELECT seq FROM notifications WHERE user_id = ? AND id = ?",
                vec![user.as_str().into(), id.into()],
            )
            .await?;
        if rows.is_empty() {
            return Ok(false);
        }
        self.execute(
            "UPDATE notifications SET read_at = ? WHERE user_id = ? AND id = ? AND read_at IS NULL",
            vec![to_micros(at).into(), user.as_str().into(), id.into()],
        )
        .await?;
        Ok(true)
    }

    async fn mark_all_read(&self, user: &UserId, at: OffsetDateTime) -> FhirResult<u64> {
        self.execute(
            "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL",
            vec![to_micros(at).into(), user.as_str().into()],
        )
        .await
    }

    async fn preferences(&self, user: &UserId) -> FhirResult<Option<Preferences>> {
        let rows = self
            .all(
                "SELECT language, quiet_start, quiet_end, quiet_zone, kinds \
                 FROM notification_preferences WHERE user_id = ?",
                vec![user.as_str().into()],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let language: String = row.try_get_by_index(0).map_err(classify)?;
        let start: Option<i64> = row.try_get_by_index(1).map_err(classify)?;
        let end: Option<i64> = row.try_get_by_index(2).map_err(classify)?;
        let zone: Option<String> = row.try_get_by_index(3).map_err(classify)?;
        let kinds: String = row.try_get_by_index(4).map_err(classify)?;
        let kinds: BTreeMap<String, ChannelChoice> =
            serde_json::from_str(&kinds).map_err(|_| corrupt("notification preferences"))?;
        let quiet_hours = match (start, end, zone) {
            (Some(start), Some(end), Some(timezone)) => Some(QuietHours {
                start: u16::try_from(start).map_err(|_| corrupt("quiet hours"))?,
                end: u16::try_from(end).map_err(|_| corrupt("quiet hours"))?,
                timezone,
            }),
            _ => None,
        };
        Ok(Some(Preferences {
            language: Language::parse(&language).unwrap_or_default(),
            quiet_hours,
            // A kind no longer known is dropped, not an error.
            kinds: kinds
                .into_iter()
                .filter_map(|(kind, choice)| Some((NotificationKind::parse(&kind)?, choice)))
                .collect(),
        }))
    }

    async fn set_preferences(
        &self,
        user: &UserId,
        preferences: &Preferences,
        at: OffsetDateTime,
    ) -> FhirResult<()> {
        let kinds: BTreeMap<&str, ChannelChoice> = preferences
            .kinds
            .iter()
            .map(|(kind, choice)| (kind.as_str(), *choice))
            .collect();
        let kinds = serde_json::to_string(&kinds).map_err(json_error)?;
        let quiet = preferences.quiet_hours.as_ref();
        self.execute(
            "INSERT INTO notification_preferences (user_id, language, quiet_start, quiet_end, \
             quiet_zone, kinds, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET language = excluded.language, \
             quiet_start = excluded.quiet_start, quiet_end = excluded.quiet_end, \
             quiet_zone = excluded.quiet_zone, kinds = excluded.kinds, \
             updated_at = excluded.updated_at",
            vec![
                user.as_str().into(),
                preferences.language.as_str().into(),
                quiet.map(|quiet| i64::from(quiet.start)).into(),
                quiet.map(|quiet| i64::from(quiet.end)).into(),
                quiet.map(|quiet| quiet.timezone.clone()).into(),
                kinds.into(),
                to_micros(at).into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn delivery(&self, id: &str) -> FhirResult<Option<(Delivery, Notification)>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS}, n.seq, n.id, n.user_id, n.kind, n.parameters, \
             n.created_at, n.read_at FROM notification_deliveries d \
             JOIN notifications n ON n.id = d.notification_id WHERE d.id = ?"
        );
        let rows = self.all(&sql, vec![id.into()]).await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        Ok(Some((delivery_from_row(row)?, notice_from_row(row, 8)?)))
    }

    async fn update_delivery(&self, id: &str, update: &DeliveryUpdate) -> FhirResult<()> {
        self.execute(
            "UPDATE notification_deliveries SET status = ?, attempts = ?, next_attempt_at = ?, \
             last_error = ?, sent_at = ? WHERE id = ?",
            vec![
                update.status.as_str().into(),
                i64::from(update.attempts).into(),
                update.next_attempt_at.map(to_micros).into(),
                update.last_error.clone().into(),
                update.sent_at.map(to_micros).into(),
                id.into(),
            ],
        )
        .await?;
        Ok(())
    }

    async fn due_deliveries(
        &self,
        channel: Channel,
        due: OffsetDateTime,
        limit: u32,
    ) -> FhirResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM notification_deliveries d \
             WHERE d.status IN ('pending', 'failed') AND d.channel = ? \
             AND d.next_attempt_at <= ? ORDER BY d.next_attempt_at LIMIT {limit}"
        );
        let rows = self
            .all(&sql, vec![channel.as_str().into(), to_micros(due).into()])
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn users_of_patient(&self, patient: &str) -> FhirResult<Vec<UserId>> {
        let rows = self
            .all(
                "SELECT id FROM users WHERE patient_id = ? AND role = 'patient' ORDER BY id",
                vec![patient.into()],
            )
            .await?;
        rows.iter()
            .map(|row| Ok(UserId(row.try_get_by_index(0).map_err(classify)?)))
            .collect()
    }

    async fn remember_client(
        &self,
        user: &UserId,
        fingerprint: &str,
        at: OffsetDateTime,
        keep: u32,
        notice_if_new: Option<&NewNotification>,
    ) -> FhirResult<SeenClient> {
        let txn = begin_write(&self.db).await?;
        let known = txn
            .query_all_raw(statement(
                self.backend,
                "SELECT fingerprint FROM notification_seen_clients WHERE user_id = ?",
                vec![user.as_str().into()],
            ))
            .await
            .map_err(classify)?;
        let mut seen = if known.is_empty() {
            SeenClient::First
        } else {
            SeenClient::New
        };
        for row in &known {
            let known: String = row.try_get_by_index(0).map_err(classify)?;
            if known == fingerprint {
                seen = SeenClient::Known;
            }
        }
        txn.execute_raw(statement(
            self.backend,
            "INSERT INTO notification_seen_clients (user_id, fingerprint, last_seen_at) \
             VALUES (?, ?, ?) ON CONFLICT (user_id, fingerprint) \
             DO UPDATE SET last_seen_at = excluded.last_seen_at",
            vec![
                user.as_str().into(),
                fingerprint.into(),
                to_micros(at).into(),
            ],
        ))
        .await
        .map_err(classify)?;
        txn.execute_raw(statement(
            self.backend,
            &format!(
                "DELETE FROM notification_seen_clients WHERE user_id = ? AND fingerprint NOT IN \
                 (SELECT fingerprint FROM notification_seen_clients WHERE user_id = ? \
                 ORDER BY last_seen_at DESC, fingerprint LIMIT {keep})"
            ),
            vec![user.as_str().into(), user.as_str().into()],
        ))
        .await
        .map_err(classify)?;
        if let (SeenClient::New, Some(notice)) = (seen, notice_if_new) {
            insert_notices(&txn, self.backend, std::slice::from_ref(notice)).await?;
        }
        txn.commit().await.map_err(classify)?;
        Ok(seen)
    }
}
