//! Lexical checks of the R4 temporal primitives (`date`, `dateTime`, `instant`, `time`), with
//! calendar-aware day ranges and the R4 time-zone offsets.

/// `n` ASCII digits at the start of `text`, parsed.
fn digits(text: &str, n: usize) -> Option<u32> {
    let part = text.get(..n)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`; returns the rest after the full date when there is one.
fn parse_date(text: &str) -> Option<(&str, bool)> {
    let year = digits(text, 4)?;
    if year == 0 {
        return None;
    }
    let rest = &text[4..];
    let Some(rest) = rest.strip_prefix('-') else {
        return Some((rest, false));
    };
    let month = digits(rest, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let rest = &rest[2..];
    let Some(rest) = rest.strip_prefix('-') else {
        return Some((rest, false));
    };
    let day = digits(rest, 2)?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some((&rest[2..], true))
}

/// `hh:mm:ss(.f+)?`; returns the rest.
fn parse_time(text: &str) -> Option<&str> {
    let hour = digits(text, 2)?;
    let minute = digits(text.get(3..)?, 2)?;
    let second = digits(text.get(6..)?, 2)?;
    if text.get(2..3)? != ":" || text.get(5..6)? != ":" || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let rest = &text[8..];
    match rest.strip_prefix('.') {
        Some(fraction) => {
            let n_digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
            (n_digits > 0).then(|| &fraction[n_digits..])
        }
        None => Some(rest),
    }
}

/// `Z` or `(+|-)hh:mm` with hh ≤ 14.
fn is_zone(text: &str) -> bool {
    if text == "Z" {
        return true;
    }
    let Some(offset) = text.strip_prefix(['+', '-']) else {
        return false;
    };
    offset.len() == 5
        && &offset[2..3] == ":"
        && matches!((digits(offset, 2), digits(&offset[3..], 2)), (Some(h), Some(m)) if (h < 14 && m < 60) || (h == 14 && m == 0))
}

pub(crate) fn is_date(text: &str) -> bool {
    matches!(parse_date(text), Some(("", _)))
}

pub(crate) fn is_date_time(text: &str) -> bool {
    match parse_date(text) {
        Some(("", _)) => true,
        Some((rest, true)) => rest
            .strip_prefix('T')
            .and_then(parse_time)
            .is_some_and(is_zone),
        _ => false,
    }
}

pub(crate) fn is_instant(text: &str) -> bool {
    match parse_date(text) {
        Some((rest, true)) => rest
            .strip_prefix('T')
            .and_then(parse_time)
            .is_some_and(is_zone),
        _ => false,
    }
}

pub(crate) fn is_time(text: &str) -> bool {
    parse_time(text) == Some("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        for good in ["2024", "2024-02", "2024-02-29"] {
            assert!(is_date(good), "{good}");
        }
        for bad in [
            "24",
            "2023-02-29",
            "2024-13",
            "2024-1-01",
            "2024-01-01T10:00:00Z",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        assert!(is_date_time("2015-02-07T13:28:17.239+02:00"));
        assert!(is_date_time("2015-02"));
        assert!(!is_date_time("2015-02-07T13:28:17"));
        assert!(!is_date_time("2015-02-07T13:28Z"));
        assert!(is_instant("2015-02-07T13:28:17Z"));
        assert!(!is_instant("2015-02-07"));
        assert!(is_time("23:59:60.5"));
        assert!(!is_time("24:00:00"));
        assert!(!is_zone("+15:00"));
    }
}
