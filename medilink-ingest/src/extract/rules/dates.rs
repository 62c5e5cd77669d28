//! The report's dates by their labels: the specimen's collection becomes the results'
//! effective date, the report's release (reported, final, issued; else received) its issued
//! date. A date keeps the time printed after it (`03/14/2026 08:15`, `8:15 PM`) as a local
//! time without a zone (`2026-03-14T08:15:00`); the pipeline adds the zone.

use std::sync::OnceLock;

use regex::Regex;

use crate::extract::values;

/// The best date seen so far for each role: (priority, lower is better; date).
#[derive(Debug, Clone, Default)]
pub(crate) struct Dates {
    effective: Option<(u8, String)>,
    issued: Option<(u8, String)>,
}

/// Labels of the specimen's collection, then weaker hints of the effective date.
fn effective_priority(label: &str) -> u8 {
    const LABELS: &[(&str, u8)] = &[
        ("collect", 0),
        ("drawn", 0),
        ("obtained", 0),
        ("specimen", 1),
        ("date of service", 2),
        ("service date", 2),
        ("received", 4),
        ("report", 5),
        ("final", 5),
        ("issued", 5),
        ("resulted", 5),
        ("printed", 6),
        ("date", 3),
    ];
    LABELS
        .iter()
        .filter(|(word, _)| label.contains(word))
        .map(|(_, priority)| *priority)
        .min()
        .unwrap_or(7)
}

/// Labels of the report's release; `None` for a label that is not one.
fn issued_priority(label: &str) -> Option<u8> {
    const LABELS: &[(&str, u8)] = &[
        ("report", 0),
        ("final", 0),
        ("issued", 0),
        ("resulted", 0),
        ("released", 0),
        ("verified", 1),
        ("received", 2),
    ];
    if label.contains("collect") || label.contains("drawn") {
        return None;
    }
    LABELS
        .iter()
        .filter(|(word, _)| label.contains(word))
        .map(|(_, priority)| *priority)
        .min()
}

impl Dates {
    /// A date with the label printed before (or above) it.
    pub(crate) fn offer(&mut self, label: &str, date: String) {
        let label = label.to_ascii_lowercase();
        if label.contains("birth") || label.contains("dob") || label.contains("d.o.b") {
            return;
        }
        let effective = effective_priority(&label);
        if self
            .effective
            .as_ref()
            .is_none_or(|(best, _)| effective < *best)
        {
            self.effective = Some((effective, date.clone()));
        }
        if let Some(issued) = issued_priority(&label)
            && self.issued.as_ref().is_none_or(|(best, _)| issued < *best)
        {
            self.issued = Some((issued, date));
        }
    }

    /// Every date of `line` with the text before it (back to the previous date) as its label.
    pub(crate) fn offer_line(&mut self, line: &str) {
        let mut label_start = 0;
        for (date, start, end) in values::dates(line) {
            let label = &line[label_start..start];
            label_start = end;
            let (date, time_end) = with_time(date, &line[end..]);
            label_start += time_end;
            self.offer(label, date);
        }
    }

    /// The effective (collection) date and the issued date.
    pub(crate) fn finish(self) -> (Option<String>, Option<String>) {
        (
            self.effective.map(|(_, date)| date),
            self.issued.map(|(_, date)| date),
        )
    }
}

/// `date` (`YYYY-MM-DD`) with the time at the start of `after`, if there is one, and how many
/// bytes of `after` the time took.
pub(crate) fn with_time(date: String, after: &str) -> (String, usize) {
    static TIME: OnceLock<Regex> = OnceLock::new();
    let time = TIME.get_or_init(|| {
        Regex::new(r"^[\s,@T]*(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?[Mm]\.?)?")
            .expect("invariant: valid regex")
    });
    let Some(captures) = time.captures(after) else {
        return (date, 0);
    };
    let number = |i: usize| {
        captures
            .get(i)
            .and_then(|m| m.as_str().parse::<u32>().ok())
            .unwrap_or(0)
    };
    let (mut hour, minute, second) = (number(1), number(2), number(3));
    match captures.get(4).map(|m| m.as_str().to_ascii_lowercase()) {
        Some(p) if p == "p" && hour < 12 => hour += 12,
        Some(a) if a == "a" && hour == 12 => hour = 0,
        _ => {}
    }
    if hour > 23 || minute > 59 || second > 59 {
        return (date, 0);
    }
    let end = captures.get(0).map_or(0, |m| m.end());
    (format!("{date}T{hour:02}:{minute:02}:{second:02}"), end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(lines: &[&str]) -> (Option<String>, Option<String>) {
        let mut dates = Dates::default();
        for line in lines {
            dates.offer_line(line);
        }
        dates.finish()
    }

    #[test]
    fn collection_is_effective_and_the_report_date_is_issued() {
        let (effective, issued) = read(&[
            "DOB: 1980-05-17",
            "Date Received: 03/15/2026 09:40   Date Collected: 03/14/2026 07:55",
            "Date Reported: 03/16/2026 4:02 PM",
        ]);
        assert_eq!(effective.as_deref(), Some("2026-03-14T07:55:00"));
        assert_eq!(issued.as_deref(), Some("2026-03-16T16:02:00"));
    }

    #[test]
    fn other_labs_date_formats_keep_their_times() {
        // Issue #20: European, ISO, US month-name and day-month-year dates, with times.
        for (line, want) in [
            ("Collected: 07.12.2026 08:15", "2026-12-07T08:15:00"),
            ("Collected: 2026-12-07 08:15", "2026-12-07T08:15:00"),
            ("Collected: 2026-12-07T08:15:30", "2026-12-07T08:15:30"),
            ("Collected: Dec 7, 2026 8:15 AM", "2026-12-07T08:15:00"),
            ("Collected: 7-Dec-2026 20:15", "2026-12-07T20:15:00"),
            ("Collected: 7 December 2026, 8:15 pm", "2026-12-07T20:15:00"),
            ("Collected: 12/07/2026 @ 08:15", "2026-12-07T08:15:00"),
        ] {
            let (effective, _) = read(&[line]);
            assert_eq!(effective.as_deref(), Some(want), "{line}");
        }
    }

    #[test]
    fn without_a_collection_date_the_best_other_date_is_effective() {
        let (effective, issued) = read(&["Received: 2026-03-15", "Printed: 2026-03-17"]);
        assert_eq!(effective.as_deref(), Some("2026-03-15"));
        assert_eq!(issued.as_deref(), Some("2026-03-15"));
        assert_eq!(read(&["DOB 1980-01-01"]), (None, None));
    }
}
