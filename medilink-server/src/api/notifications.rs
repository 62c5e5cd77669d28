//! `/api/notifications*`: the signed-in user's own inbox (newest first, paged by an opaque
//! cursor), marking notices read, and the user's notification preferences (issue #14). Titles
//! and bodies are rendered in the user's language from the platform's catalogues; notices
//! never carry names or clinical content. The work is the platform's
//! [`medilink_platform::notifications::Notifications`] service.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use medilink_fhir::clock::format_instant;
use medilink_fhir::{ErrorKind, IssueCode};
use medilink_platform::UserId;
use medilink_platform::notifications::{
    ChannelChoice, DEFAULT_PORTAL_URL, Inbox, Language, Notification, NotificationKind,
    Preferences, QuietHours, render,
};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::{Body, Query, Signed};
use crate::error::ApiError;
use crate::state::AppState;

/// Query of `GET /api/notifications` (raw: parsed into OperationOutcome errors).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InboxQuery {
    /// At most this many (1–100, default 20).
    #[param(value_type = Option<u32>)]
    limit: Option<String>,
    /// The `next` of the previous page.
    before: Option<String>,
}

impl InboxQuery {
    /// The page size and cursor, or a `400`.
    fn validate(&self) -> Result<(Option<u32>, Option<u64>), ApiError> {
        let limit = match self.limit.as_deref() {
            None | Some("") => None,
            Some(text) => match text.parse::<u32>() {
                Ok(limit @ 1..=100) => Some(limit),
                _ => return Err(invalid("limit must be a number from 1 to 100")),
            },
        };
        let before = match self.before.as_deref() {
            None | Some("") => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| invalid("invalid before"))?),
        };
        Ok((limit, before))
    }
}

fn invalid(diagnostics: impl Into<String>) -> ApiError {
    ApiError::bad_request(IssueCode::Value, diagnostics)
}

/// The name of a notification kind (`consent.requested`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KindName(NotificationKind);

impl Serialize for KindName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.as_str())
    }
}

impl PartialSchema for KindName {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some("A notification kind."))
            .enum_values(Some(NotificationKind::ALL.map(NotificationKind::as_str)))
            .into()
    }
}

impl ToSchema for KindName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NotificationKind")
    }
}

/// One notice of the inbox.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotificationView {
    id: String,
    kind: KindName,
    /// The subject, in the user's language.
    title: String,
    /// The message, plain text, in the user's language.
    body: String,
    /// The portal page it links to (`/consents`).
    link: String,
    /// RFC 3339.
    created_at: String,
    /// RFC 3339; `null`: unread.
    read_at: Option<String>,
    /// A security notice (delivered whatever the preferences say).
    mandatory: bool,
}

/// A page of the inbox, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InboxView {
    notifications: Vec<NotificationView>,
    /// Unread notices of the user (all pages).
    unread: u64,
    /// The `before` of the next page; `null`: no more.
    next: Option<String>,
}

fn notification_view(
    notice: &Notification,
    language: Language,
) -> Result<NotificationView, ApiError> {
    let link = notice.link();
    let rendered = render(
        notice.kind,
        &notice.parameters,
        language,
        DEFAULT_PORTAL_URL,
        link,
    )
    .map_err(|err| {
        tracing::error!(error = %err, "notice did not render");
        ApiError::with_kind(
            ErrorKind::Internal,
            IssueCode::Exception,
            "notice did not render",
        )
    })?;
    Ok(NotificationView {
        id: notice.id.clone(),
        kind: KindName(notice.kind),
        title: rendered.subject,
        body: rendered.body,
        link: link.to_owned(),
        created_at: format_instant(notice.created_at),
        read_at: notice.read_at.map(format_instant),
        mandatory: notice.kind.is_mandatory(),
    })
}

fn inbox_view(inbox: &Inbox, language: Language) -> Result<InboxView, ApiError> {
    Ok(InboxView {
        notifications: inbox
            .notifications
            .iter()
            .map(|notice| notification_view(notice, language))
            .collect::<Result<_, _>>()?,
        unread: inbox.unread,
        next: inbox.next.map(|seq| seq.to_string()),
    })
}

fn user(signed: &Signed) -> &UserId {
    &signed.0.claims.sub
}

/// `GET /api/notifications?limit=&before=`: the caller's own notices.
pub(crate) async fn inbox(
    State(app): State<AppState>,
    signed: Signed,
    Query(query): Query<InboxQuery>,
) -> Result<Json<InboxView>, ApiError> {
    let (limit, before) = query.validate()?;
    let user = user(&signed);
    let language = app.notifications.preferences(user).await?.language;
    let inbox = app.notifications.inbox(user, limit, before).await?;
    Ok(Json(inbox_view(&inbox, language)?))
}

/// `POST /api/notifications/{id}/read`: another user's notice is not found.
pub(crate) async fn read(
    State(app): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.notifications.mark_read(user(&signed), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/notifications/read-all`.
pub(crate) async fn read_all(
    State(app): State<AppState>,
    signed: Signed,
) -> Result<StatusCode, ApiError> {
    app.notifications.mark_all_read(user(&signed)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A catalogue language.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = NotificationLanguage)]
pub(crate) enum LanguageName {
    En,
    Es,
    Hi,
}

impl From<Language> for LanguageName {
    fn from(language: Language) -> Self {
        match language {
            Language::En => LanguageName::En,
            Language::Es => LanguageName::Es,
            Language::Hi => LanguageName::Hi,
        }
    }
}

/// A daily window in which e-mail of non-mandatory kinds waits (sent at its end).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuietHoursView {
    /// `HH:MM` (local to `timezone`).
    start: String,
    /// `HH:MM`; before `start`: the window spans midnight.
    end: String,
    /// `UTC` or a fixed offset `±HH:MM`.
    timezone: String,
}

/// The channels of one kind.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KindPreference {
    /// The inbox (cannot be turned off).
    in_app: bool,
    /// E-mail (cannot be turned off for mandatory kinds).
    email: bool,
    /// A security notice: always delivered on every channel, never held by quiet hours.
    mandatory: bool,
}

/// The channels of one kind, to save.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct KindChoice {
    /// The inbox (cannot be turned off).
    in_app: bool,
    /// E-mail (cannot be turned off for mandatory kinds).
    email: bool,
    /// Ignored.
    #[serde(default)]
    #[allow(dead_code, reason = "accepted for symmetry with the answer, ignored")]
    mandatory: Option<bool>,
}

/// A user's notification preferences, every kind listed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreferencesView {
    language: LanguageName,
    quiet_hours: Option<QuietHoursView>,
    /// By kind name (`consent.requested`, …).
    kinds: BTreeMap<String, KindPreference>,
}

/// Preferences to save (kinds left out keep the default: on).
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PreferencesInput {
    /// `en`, `es` or `hi`.
    language: String,
    quiet_hours: Option<QuietHoursView>,
    /// By kind name; `mandatory` is ignored.
    #[serde(default)]
    kinds: BTreeMap<String, KindChoice>,
}

fn hh_mm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Minutes after midnight of `HH:MM`.
fn minutes(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

fn preferences_view(preferences: &Preferences) -> PreferencesView {
    PreferencesView {
        language: preferences.language.into(),
        quiet_hours: preferences
            .quiet_hours
            .as_ref()
            .map(|quiet| QuietHoursView {
                start: hh_mm(quiet.start),
                end: hh_mm(quiet.end),
                timezone: quiet.timezone.clone(),
            }),
        kinds: preferences
            .every_choice()
            .into_iter()
            .map(|(kind, choice)| {
                let view = KindPreference {
                    in_app: choice.in_app,
                    email: choice.email,
                    mandatory: kind.is_mandatory(),
                };
                (kind.as_str().to_owned(), view)
            })
            .collect(),
    }
}

impl PreferencesInput {
    /// The preferences, or a `400` naming the bad language, time or kind (the service checks
    /// the mandatory kinds and the zone).
    fn parse(self) -> Result<Preferences, ApiError> {
        let language = Language::parse(&self.language).ok_or_else(|| {
            invalid(format!(
                "unknown language {:?}: use en, es or hi",
                self.language
            ))
        })?;
        let quiet_hours = match self.quiet_hours {
            None => None,
            Some(quiet) => Some(QuietHours {
                start: minutes(&quiet.start).ok_or_else(|| {
                    invalid(format!("quiet_hours.start {:?} is not HH:MM", quiet.start))
                })?,
                end: minutes(&quiet.end).ok_or_else(|| {
                    invalid(format!("quiet_hours.end {:?} is not HH:MM", quiet.end))
                })?,
                timezone: quiet.timezone,
            }),
        };
        let mut kinds = BTreeMap::new();
        for (name, choice) in self.kinds {
            let kind = NotificationKind::parse(&name)
                .ok_or_else(|| invalid(format!("unknown notification kind {name:?}")))?;
            let choice = ChannelChoice {
                in_app: choice.in_app,
                email: choice.email,
            };
            kinds.insert(kind, choice);
        }
        Ok(Preferences {
            language,
            quiet_hours,
            kinds,
        })
    }
}

/// `GET /api/notifications/preferences`.
pub(crate) async fn preferences(
    State(app): State<AppState>,
    signed: Signed,
) -> Result<Json<PreferencesView>, ApiError> {
    let preferences = app.notifications.preferences(user(&signed)).await?;
    Ok(Json(preferences_view(&preferences)))
}

/// `PUT /api/notifications/preferences`: answers the stored preferences.
pub(crate) async fn set_preferences(
    State(app): State<AppState>,
    signed: Signed,
    Body(body): Body<PreferencesInput>,
) -> Result<Json<PreferencesView>, ApiError> {
    let preferences = body.parse()?;
    let stored = app
        .notifications
        .set_preferences(user(&signed), preferences)
        .await?;
    Ok(Json(preferences_view(&stored)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_hh_mm_within_a_day() {
        assert_eq!(minutes("22:00"), Some(1320));
        assert_eq!(minutes("07:05"), Some(425));
        assert_eq!(minutes("00:00"), Some(0));
        assert_eq!(minutes("23:59"), Some(1439));
        for bad in ["24:00", "7:00", "12:60", "1200", "ab:cd", ""] {
            assert_eq!(minutes(bad), None, "{bad}");
        }
        assert_eq!(hh_mm(425), "07:05");
    }

    #[test]
    fn the_limit_is_1_to_100_and_the_cursor_a_number() {
        let query = |limit: Option<&str>, before: Option<&str>| InboxQuery {
            limit: limit.map(str::to_owned),
            before: before.map(str::to_owned),
        };
        assert_eq!(query(None, None).validate().ok(), Some((None, None)));
        assert_eq!(
            query(Some("100"), Some("7")).validate().ok(),
            Some((Some(100), Some(7)))
        );
        assert!(query(Some("0"), None).validate().is_err());
        assert!(query(Some("101"), None).validate().is_err());
        assert!(query(None, Some("x")).validate().is_err());
    }
}
