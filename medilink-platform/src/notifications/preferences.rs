//! A user's [`Preferences`]: language, quiet hours for e-mail, and per kind × channel on/off.
//!
//! Defaults (a user who never saved any): English, no quiet hours, every kind on in-app and by
//! e-mail. In-app notices cannot be turned off (the inbox is the record of what happened);
//! e-mail can, except for the mandatory security notices ([`NotificationKind::is_mandatory`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime, Time, UtcOffset};

use super::kind::NotificationKind;

/// A catalogue language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Language {
    /// English (the default).
    #[default]
    En,
    /// Spanish.
    Es,
    /// Hindi.
    Hi,
}

impl Language {
    /// Every language with a catalogue.
    pub const ALL: [Language; 3] = [Language::En, Language::Es, Language::Hi];

    /// The BCP 47 tag.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
            Language::Hi => "hi",
        }
    }

    /// The language tagged `tag` (`en`, `es`, `hi`).
    pub fn parse(tag: &str) -> Option<Language> {
        Self::ALL
            .into_iter()
            .find(|language| language.as_str() == tag)
    }
}

/// Whether a kind goes out on each channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelChoice {
    /// The portal's inbox (always on).
    pub in_app: bool,
    /// E-mail.
    pub email: bool,
}

impl Default for ChannelChoice {
    fn default() -> Self {
        ChannelChoice {
            in_app: true,
            email: true,
        }
    }
}

/// A daily window in which e-mail waits (delivered at the window's end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    /// Start, minutes after local midnight (0–1439).
    pub start: u16,
    /// End, minutes after local midnight (0–1439); before `start`: the window spans midnight.
    pub end: u16,
    /// `UTC` or a fixed offset `±HH:MM` (named zones and their daylight saving are not known).
    pub timezone: String,
}

impl QuietHours {
    /// The zone's offset, if `timezone` is one this crate knows.
    pub fn offset(&self) -> Option<UtcOffset> {
        parse_offset(&self.timezone)
    }

    /// When an e-mail due at `now` may go out: `now` outside the window, else the window's
    /// end.
    pub fn release(&self, now: OffsetDateTime) -> OffsetDateTime {
        let Some(offset) = self.offset() else {
            return now;
        };
        if self.start == self.end {
            return now;
        }
        let local = now.to_offset(offset);
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let inside = if self.start < self.end {
            self.start <= minute && minute < self.end
        } else {
            minute >= self.start || minute < self.end
        };
        if !inside {
            return now;
        }
        let end = Time::from_hms((self.end / 60) as u8, (self.end % 60) as u8, 0)
            .expect("invariant: validated minutes of a day");
        let mut release = local.replace_time(end);
        if release <= local {
            release += Duration::days(1);
        }
        release.to_offset(UtcOffset::UTC)
    }
}

/// `UTC`, `Z` or `±HH:MM`.
fn parse_offset(zone: &str) -> Option<UtcOffset> {
    if matches!(zone, "UTC" | "Z" | "Etc/UTC") {
        return Some(UtcOffset::UTC);
    }
    let (sign, rest) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: i8 = hours.parse().ok()?;
    let minutes: i8 = minutes.parse().ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

/// A user's notification preferences.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preferences {
    /// The language of e-mails (and of the portal's texts).
    pub language: Language,
    /// When e-mail waits, if ever.
    pub quiet_hours: Option<QuietHours>,
    /// The choices that differ from the default (on everywhere); see [`Preferences::choice`].
    pub kinds: BTreeMap<NotificationKind, ChannelChoice>,
}

/// Why preferences were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreferenceProblem {
    /// E-mail of these mandatory kinds cannot be turned off.
    Mandatory(Vec<NotificationKind>),
    /// In-app notices of these kinds cannot be turned off.
    InApp(Vec<NotificationKind>),
    /// Quiet hours outside 0–1439 minutes, or a zone that is neither `UTC` nor `±HH:MM`.
    QuietHours,
}

impl Preferences {
    /// The effective choice for `kind` (mandatory kinds: everything on).
    pub fn choice(&self, kind: NotificationKind) -> ChannelChoice {
        if kind.is_mandatory() {
            return ChannelChoice::default();
        }
        let stored = self.kinds.get(&kind).copied().unwrap_or_default();
        ChannelChoice {
            in_app: true,
            email: stored.email,
        }
    }

    /// The choice of every kind, as the API shows it.
    pub fn every_choice(&self) -> BTreeMap<NotificationKind, ChannelChoice> {
        NotificationKind::ALL
            .into_iter()
            .map(|kind| (kind, self.choice(kind)))
            .collect()
    }

    /// Checks preferences a user wants to save.
    pub fn validate(&self) -> Result<(), PreferenceProblem> {
        let mandatory: Vec<_> = self
            .kinds
            .iter()
            .filter(|(kind, choice)| kind.is_mandatory() && !(choice.email && choice.in_app))
            .map(|(kind, _)| *kind)
            .collect();
        if !mandatory.is_empty() {
            return Err(PreferenceProblem::Mandatory(mandatory));
        }
        let in_app: Vec<_> = self
            .kinds
            .iter()
            .filter(|(_, choice)| !choice.in_app)
            .map(|(kind, _)| *kind)
            .collect();
        if !in_app.is_empty() {
            return Err(PreferenceProblem::InApp(in_app));
        }
        if let Some(quiet) = &self.quiet_hours
            && (quiet.start >= 1440 || quiet.end >= 1440 || quiet.offset().is_none())
        {
            return Err(PreferenceProblem::QuietHours);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn quiet(start: u16, end: u16, timezone: &str) -> QuietHours {
        QuietHours {
            start,
            end,
            timezone: timezone.into(),
        }
    }

    #[test]
    fn quiet_hours_defer_to_the_end_of_the_window() {
        let night = quiet(22 * 60, 7 * 60, "UTC");
        let late = datetime!(2024-03-01 23:30 UTC);
        assert_eq!(night.release(late), datetime!(2024-03-02 07:00 UTC));
        let early = datetime!(2024-03-02 06:59 UTC);
        assert_eq!(night.release(early), datetime!(2024-03-02 07:00 UTC));
        let day = datetime!(2024-03-02 12:00 UTC);
        assert_eq!(night.release(day), day);
        // 22:00–07:00 in India (+05:30) is 16:30–01:30 UTC.
        let india = quiet(22 * 60, 7 * 60, "+05:30");
        assert_eq!(
            india.release(datetime!(2024-03-01 17:00 UTC)),
            datetime!(2024-03-02 01:30 UTC)
        );
        assert_eq!(
            india.release(datetime!(2024-03-01 12:00 UTC)),
            datetime!(2024-03-01 12:00 UTC)
        );
        // A window within one day.
        let lunch = quiet(12 * 60, 13 * 60, "-03:00");
        assert_eq!(
            lunch.release(datetime!(2024-03-01 15:30 UTC)),
            datetime!(2024-03-01 16:00 UTC)
        );
    }

    #[test]
    fn mandatory_kinds_cannot_be_turned_off() {
        let mut preferences = Preferences::default();
        preferences.kinds.insert(
            NotificationKind::PasswordChanged,
            ChannelChoice {
                in_app: true,
                email: false,
            },
        );
        preferences.kinds.insert(
            NotificationKind::ResultsFiled,
            ChannelChoice {
                in_app: true,
                email: false,
            },
        );
        assert_eq!(
            preferences.validate(),
            Err(PreferenceProblem::Mandatory(vec![
                NotificationKind::PasswordChanged
            ]))
        );
        preferences.kinds.remove(&NotificationKind::PasswordChanged);
        assert_eq!(preferences.validate(), Ok(()));
        assert!(!preferences.choice(NotificationKind::ResultsFiled).email);
        assert!(preferences.choice(NotificationKind::BreakGlass).email);
        preferences.quiet_hours = Some(quiet(0, 1440, "UTC"));
        assert_eq!(preferences.validate(), Err(PreferenceProblem::QuietHours));
        preferences.quiet_hours = Some(quiet(0, 60, "Europe/Paris"));
        assert_eq!(preferences.validate(), Err(PreferenceProblem::QuietHours));
    }
}
