//! Value normalization shared by index extraction and query planning: accent- and
//! case-insensitive strings, FHIR dates as precision-aware ranges, numbers with their implicit
//! precision range.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Lowercase, accents removed, inner whitespace collapsed: how strings are compared.
pub fn normalize_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut last_space = true;
    for ch in value.nfd().filter(|c| !is_combining_mark(*c)) {
        if ch.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.extend(ch.to_lowercase());
            last_space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// A half-open instant range `[low, high)` in microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Inclusive start.
    pub low: i64,
    /// Exclusive end.
    pub high: i64,
}

impl Range {
    /// The unbounded range.
    pub const ALL: Range = Range {
        low: i64::MIN,
        high: i64::MAX,
    };
}

fn micros(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000) as i64
}

/// Parses an R4 `date`, `dateTime` or `instant` (any precision) into the range it denotes.
/// Values without a time zone are taken as UTC.
pub fn date_range(text: &str) -> Option<Range> {
    let (date_part, time_part) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let mut fields = date_part.split('-');
    let year: i32 = parse_fixed(fields.next()?, 4)?;
    let month = match fields.next() {
        Some(m) => Some(parse_fixed::<u8>(m, 2)?),
        None => None,
    };
    let day = match fields.next() {
        Some(d) => Some(parse_fixed::<u8>(d, 2)?),
        None => None,
    };
    if fields.next().is_some() {
        return None;
    }
    let first_month = Month::try_from(month.unwrap_or(1)).ok()?;
    let start_date = Date::from_calendar_date(year, first_month, day.unwrap_or(1)).ok()?;
    let Some(time_part) = time_part else {
        let low = start_date.midnight().assume_utc();
        let high = match (month, day) {
            (None, _) => Date::from_calendar_date(year + 1, Month::January, 1)
                .ok()?
                .midnight(),
            (Some(_), None) => {
                let (y, m) = if first_month == Month::December {
                    (year + 1, Month::January)
                } else {
                    (year, first_month.next())
                };
                Date::from_calendar_date(y, m, 1).ok()?.midnight()
            }
            (Some(_), Some(_)) => start_date.next_day()?.midnight(),
        }
        .assume_utc();
        return Some(Range {
            low: micros(low),
            high: micros(high),
        });
    };
    day?;
    let (clock, offset) = split_offset(time_part)?;
    let mut hms = clock.split(':');
    let hour: u8 = parse_fixed(hms.next()?, 2)?;
    let minute: u8 = parse_fixed(hms.next()?, 2)?;
    let (second, fraction, step) = match hms.next() {
        None => (0u8, 0u32, 60_000_000i64),
        Some(sec) => match sec.split_once('.') {
            None => (parse_fixed(sec, 2)?, 0, 1_000_000),
            Some((whole, frac)) => {
                if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let digits = frac.len().min(6) as u32;
                let micro: u32 = frac[..digits as usize].parse().ok()?;
                (
                    parse_fixed(whole, 2)?,
                    micro * 10u32.pow(6 - digits),
                    10i64.pow(6 - digits),
                )
            }
        },
    };
    if hms.next().is_some() {
        return None;
    }
    let time = Time::from_hms_micro(hour, minute, second.min(59), fraction).ok()?;
    let at = PrimitiveDateTime::new(start_date, time).assume_offset(offset);
    let low = micros(at);
    Some(Range {
        low,
        high: low + step,
    })
}

fn split_offset(time: &str) -> Option<(&str, UtcOffset)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, UtcOffset::UTC));
    }
    match time.rfind(['+', '-']) {
        Some(at) if at > 0 => {
            let (clock, zone) = time.split_at(at);
            let sign: i8 = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone[1..].split_once(':')?;
            let offset = UtcOffset::from_hms(
                sign * parse_fixed::<i8>(h, 2)?,
                sign * parse_fixed::<i8>(m, 2)?,
                0,
            )
            .ok()?;
            Some((clock, offset))
        }
        _ => Some((time, UtcOffset::UTC)),
    }
}

fn parse_fixed<T: std::str::FromStr>(text: &str, width: usize) -> Option<T> {
    if text.len() != width || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A decimal search value and the implicit range of its precision (`100` → `[99.5, 100.5)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number {
    /// The value.
    pub value: f64,
    /// Lower bound of the precision range.
    pub low: f64,
    /// Upper bound of the precision range.
    pub high: f64,
}

/// Parses a FHIR decimal (with optional exponent) and its significant-figure range.
pub fn parse_number(text: &str) -> Option<Number> {
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() || text.contains(['i', 'n', 'N', 'I']) {
        return None;
    }
    let (mantissa, exponent) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let decimals = mantissa.split_once('.').map_or(0, |(_, f)| f.len() as i32);
    let half = 0.5 * 10f64.powi(exponent - decimals);
    Some(Number {
        value,
        low: value - half,
        high: value + half,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(text: &str) -> i64 {
        date_range(text).expect(text).low
    }

    #[test]
    fn strings_fold_case_and_accents() {
        assert_eq!(normalize_string("  Zoë  ÅNGSTRÖM\tx "), "zoe angstrom x");
        assert_eq!(normalize_string("Müller"), normalize_string("muller"));
    }

    #[test]
    fn dates_become_ranges_of_their_precision() {
        let year = date_range("2021").unwrap();
        assert_eq!(
            (year.low, year.high),
            (iso("2021-01-01"), iso("2022-01-01"))
        );
        let month = date_range("2021-12").unwrap();
        assert_eq!(month.high, iso("2022-01-01"));
        let day = date_range("2024-02-29").unwrap();
        assert_eq!(day.high - day.low, 86_400_000_000);
        let minute = date_range("2021-03-04T10:30+02:00").unwrap();
        assert_eq!(minute.low, iso("2021-03-04T08:30:00Z"));
        assert_eq!(minute.high - minute.low, 60_000_000);
        let milli = date_range("2021-03-04T10:30:00.123Z").unwrap();
        assert_eq!(milli.high - milli.low, 1_000);
        for bad in [
            "2021-13",
            "2021-02-30",
            "21",
            "2021-1-01",
            "2021-01-01T25:00:00Z",
            "2021-01T10:00Z",
            "x",
        ] {
            assert!(date_range(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn numbers_carry_their_precision() {
        let n = parse_number("100").unwrap();
        assert_eq!((n.low, n.high), (99.5, 100.5));
        let n = parse_number("100.00").unwrap();
        assert!((n.high - 100.005).abs() < 1e-9);
        let n = parse_number("1e2").unwrap();
        assert_eq!((n.low, n.high), (50.0, 150.0));
        assert!(parse_number("abc").is_none());
        assert!(parse_number("NaN").is_none());
    }
}
