//! Time and id generation seams: library code never reads the wall clock or draws random
//! ids directly, so tests can make responses deterministic.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;

/// Source of the current instant.
pub trait Clock: Send + Sync + Debug {
    /// The current instant (UTC).
    fn now(&self) -> OffsetDateTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        #[allow(
            clippy::disallowed_methods,
            reason = "this is the one place that reads the clock"
        )]
        OffsetDateTime::now_utc()
    }
}

/// A clock that starts at a fixed instant and advances one millisecond per call.
#[derive(Debug)]
pub struct FixedClock {
    start: OffsetDateTime,
    ticks: AtomicU64,
}

impl FixedClock {
    /// A clock starting at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        FixedClock {
            start,
            ticks: AtomicU64::new(0),
        }
    }
}

impl FixedClock {
    /// Moves the clock forward by `by` (expiry, lockout and token lifetime tests).
    pub fn advance(&self, by: std::time::Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ticks.fetch_add(millis, Ordering::Relaxed);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        self.start + time::Duration::milliseconds(tick as i64)
    }
}

/// Source of new logical resource ids.
pub trait IdGen: Send + Sync + Debug {
    /// A fresh id, valid as a FHIR `id`.
    fn new_id(&self) -> String;
}

/// UUID v7 ids, the server default: time-ordered, so new rows land at the end of every index
/// keyed by id (far fewer pages touched per write than random v4 ids), yet with 74 random
/// bits they stay unguessable.
#[derive(Debug, Default, Clone, Copy)]
pub struct UuidIdGen;

impl IdGen for UuidIdGen {
    fn new_id(&self) -> String {
        #[allow(
            clippy::disallowed_methods,
            reason = "this is the one place that draws ids"
        )]
        uuid::Uuid::now_v7().to_string()
    }
}

/// Sequential ids `prefix-1`, `prefix-2`, … for deterministic tests.
#[derive(Debug)]
pub struct SeqIdGen {
    prefix: String,
    next: AtomicU64,
}

impl SeqIdGen {
    /// Ids `prefix-1`, `prefix-2`, …
    pub fn new(prefix: impl Into<String>) -> Self {
        SeqIdGen {
            prefix: prefix.into(),
            next: AtomicU64::new(1),
        }
    }
}

impl IdGen for SeqIdGen {
    fn new_id(&self) -> String {
        format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Formats an instant as an R4 `instant` (UTC, millisecond precision, `Z`).
pub fn format_instant(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Microseconds since the Unix epoch (how instants are stored).
pub fn to_micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`to_micros`].
pub fn from_micros(micros: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_format_as_r4_instants_and_round_trip_through_micros() {
        let at = time::macros::datetime!(2024-02-29 23:59:58.123456 UTC);
        assert_eq!(format_instant(at), "2024-02-29T23:59:58.123Z");
        assert_eq!(from_micros(to_micros(at)), at);
    }

    #[test]
    fn fixed_clock_and_seq_ids_are_deterministic() {
        let clock = FixedClock::new(time::macros::datetime!(2020-01-01 0:00 UTC));
        assert!(clock.now() < clock.now());
        let ids = SeqIdGen::new("p");
        assert_eq!(ids.new_id(), "p-1");
        assert_eq!(ids.new_id(), "p-2");
    }
}
