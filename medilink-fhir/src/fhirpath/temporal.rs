//! Partial-precision dates, date-times and times: parsing, comparison (empty when the
//! precisions differ and the common part is equal) and calendar arithmetic.

use std::cmp::Ordering;

use time::{Date, Duration, Month, PrimitiveDateTime, Time};

/// A parsed temporal value: components up to its precision, plus an optional UTC offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Temporal {
    /// `[year, month, day, hour, minute, millisecond-of-minute]`, as many as given.
    pub(crate) parts: Vec<i64>,
    /// Offset from UTC in minutes, when written.
    pub(crate) offset: Option<i64>,
    /// Whether the text was a time of day only.
    pub(crate) time_only: bool,
    /// Whether seconds had a fraction (kept for formatting).
    pub(crate) millis: bool,
}

/// Parses `2014-01-02T10:30:00.000+01:00`, `2014`, `T10:30` (pass `time_only`) and so on.
pub(crate) fn parse(text: &str, time_only: bool) -> Option<Temporal> {
    let mut parts = Vec::new();
    let mut offset = None;
    let mut millis = false;
    let time_text = if time_only {
        text.strip_prefix('T').unwrap_or(text)
    } else {
        let (date, rest) = match text.split_once('T') {
            Some((date, rest)) => (date, Some(rest)),
            None => (text, None),
        };
        for (i, piece) in date.split('-').enumerate() {
            let expected_len = if i == 0 { 4 } else { 2 };
            if piece.len() != expected_len || i > 2 {
                return None;
            }
            parts.push(piece.parse().ok()?);
        }
        match rest {
            Some(rest) if !rest.is_empty() => rest,
            _ => return valid(parts, offset, time_only, millis),
        }
    };
    let (clock, zone) = split_zone(time_text)?;
    if let Some(zone) = zone {
        offset = Some(zone);
    }
    let pieces: Vec<&str> = clock.split(':').collect();
    if pieces.len() > 3 {
        return None;
    }
    for (i, piece) in pieces.iter().enumerate() {
        if i == 2 {
            let (seconds, fraction) = match piece.split_once('.') {
                Some((s, f)) => (s, Some(f)),
                None => (*piece, None),
            };
            let mut ms: i64 = seconds.parse::<i64>().ok()? * 1000;
            if let Some(fraction) = fraction {
                millis = true;
                let padded = format!("{fraction:0<3}");
                ms += padded.get(..3)?.parse::<i64>().ok()?;
            }
            if seconds.len() != 2 {
                return None;
            }
            parts.push(ms);
        } else {
            if piece.len() != 2 {
                return None;
            }
            parts.push(piece.parse().ok()?);
        }
    }
    valid(parts, offset, time_only, millis)
}

fn valid(parts: Vec<i64>, offset: Option<i64>, time_only: bool, millis: bool) -> Option<Temporal> {
    let ranges: &[(i64, i64)] = if time_only {
        &[(0, 23), (0, 59), (0, 59_999)]
    } else {
        &[(1, 9999), (1, 12), (1, 31), (0, 23), (0, 59), (0, 59_999)]
    };
    for (part, (low, high)) in parts.iter().zip(ranges) {
        if part < low || part > high {
            return None;
        }
    }
    Some(Temporal {
        parts,
        offset,
        time_only,
        millis,
    })
}

fn split_zone(text: &str) -> Option<(&str, Option<i64>)> {
    if let Some(clock) = text.strip_suffix('Z') {
        return Some((clock, Some(0)));
    }
    if let Some(pos) = text.rfind(['+', '-']) {
        let (clock, zone) = text.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let (hours, minutes) = zone[1..].split_once(':')?;
        let minutes = hours.parse::<i64>().ok()? * 60 + minutes.parse::<i64>().ok()?;
        return Some((clock, Some(sign * minutes)));
    }
    Some((text, None))
}

impl Temporal {
    /// Components normalized to UTC when an offset is given and the value has a time part.
    fn normalized(&self) -> Vec<i64> {
        let Some(offset) = self.offset else {
            return self.parts.clone();
        };
        if offset == 0 || self.time_only || self.parts.len() < 5 {
            return self.parts.clone();
        }
        let Some(moment) = to_primitive(&self.parts) else {
            return self.parts.clone();
        };
        let utc = moment - Duration::minutes(offset);
        let mut parts = from_primitive(utc);
        parts.truncate(self.parts.len());
        parts
    }

    /// Compares two values; `None` when the answer depends on missing precision.
    pub(crate) fn compare(&self, other: &Temporal) -> Option<Ordering> {
        if self.time_only != other.time_only {
            return None;
        }
        let has_time = |t: &Temporal| t.time_only || t.parts.len() > 3;
        if has_time(self) && has_time(other) && self.offset.is_some() != other.offset.is_some() {
            return None;
        }
        let (left, right) = (self.normalized(), other.normalized());
        for (a, b) in left.iter().zip(&right) {
            match a.cmp(b) {
                Ordering::Equal => {}
                unequal => return Some(unequal),
            }
        }
        (left.len() == right.len()).then_some(Ordering::Equal)
    }

    /// Adds `amount` of a calendar `unit` (`year`, `month`, `day`, `hour`, … or UCUM).
    pub(crate) fn add(&self, amount: f64, unit: &str) -> Option<Temporal> {
        if self.time_only {
            return None;
        }
        let unit = if unit.len() > 2 {
            unit.trim_end_matches('s')
        } else {
            unit
        };
        let mut parts = self.parts.clone();
        let amount = if matches!(unit, "year" | "month" | "week" | "day") {
            amount.trunc()
        } else {
            amount
        };
        match unit {
            "year" => parts[0] += amount.trunc() as i64,
            "month" => {
                let total = parts[0] * 12 + parts.get(1).copied().unwrap_or(1) - 1;
                let total = total + amount.trunc() as i64;
                parts[0] = total.div_euclid(12);
                if parts.len() > 1 {
                    parts[1] = total.rem_euclid(12) + 1;
                }
            }
            _ => {
                let minutes_per = match unit {
                    "week" | "wk" => 7.0 * 1440.0,
                    "day" | "d" => 1440.0,
                    "hour" | "h" => 60.0,
                    "minute" | "min" => 1.0,
                    "second" | "s" => 1.0 / 60.0,
                    "millisecond" | "ms" => 1.0 / 60_000.0,
                    _ => return None,
                };
                let millis = (amount * minutes_per * 60_000.0).round() as i64;
                let moment = to_primitive(&parts)? + Duration::milliseconds(millis);
                let mut new_parts = from_primitive(moment);
                new_parts.truncate(parts.len());
                parts = new_parts;
            }
        }
        // clamp the day to the month's length
        if parts.len() > 2 {
            let month = Month::try_from(u8::try_from(parts[1]).ok()?).ok()?;
            let last = month.length(i32::try_from(parts[0]).ok()?);
            parts[2] = parts[2].min(i64::from(last));
        }
        Some(Temporal {
            parts,
            ..self.clone()
        })
    }

    /// Formats back to FHIRPath text (without `@`).
    pub(crate) fn format(&self) -> String {
        let mut text = String::new();
        let (date_parts, time_parts) = if self.time_only {
            (&[][..], &self.parts[..])
        } else {
            let split = self.parts.len().min(3);
            (&self.parts[..split], &self.parts[split..])
        };
        for (i, part) in date_parts.iter().enumerate() {
            if i == 0 {
                text.push_str(&format!("{part:04}"));
            } else {
                text.push_str(&format!("-{part:02}"));
            }
        }
        if !self.time_only && self.parts.len() > 3 {
            text.push('T');
        }
        for (i, part) in time_parts.iter().enumerate() {
            match i {
                0 => text.push_str(&format!("{part:02}")),
                1 => text.push_str(&format!(":{part:02}")),
                _ if self.millis => {
                    text.push_str(&format!(":{:02}.{:03}", part / 1000, part % 1000));
                }
                _ => text.push_str(&format!(":{:02}", part / 1000)),
            }
        }
        match self.offset {
            Some(0) if !time_parts.is_empty() => text.push('Z'),
            Some(offset) if !time_parts.is_empty() => {
                let sign = if offset < 0 { '-' } else { '+' };
                text.push_str(&format!(
                    "{sign}{:02}:{:02}",
                    offset.abs() / 60,
                    offset.abs() % 60
                ));
            }
            _ => {}
        }
        text
    }
}

fn to_primitive(parts: &[i64]) -> Option<PrimitiveDateTime> {
    let get = |i: usize, default: i64| parts.get(i).copied().unwrap_or(default);
    let month = Month::try_from(u8::try_from(get(1, 1)).ok()?).ok()?;
    let date = Date::from_calendar_date(i32::try_from(get(0, 1)).ok()?, month, 1).ok()?
        + Duration::days(get(2, 1) - 1);
    let ms = get(5, 0);
    let time = Time::from_hms_milli(
        u8::try_from(get(3, 0)).ok()?,
        u8::try_from(get(4, 0)).ok()?,
        u8::try_from(ms / 1000).ok()?,
        u16::try_from(ms % 1000).ok()?,
    )
    .ok()?;
    Some(PrimitiveDateTime::new(date, time))
}

fn from_primitive(moment: PrimitiveDateTime) -> Vec<i64> {
    vec![
        i64::from(moment.year()),
        i64::from(u8::from(moment.month())),
        i64::from(moment.day()),
        i64::from(moment.hour()),
        i64::from(moment.minute()),
        i64::from(moment.second()) * 1000 + i64::from(moment.millisecond()),
    ]
}
