//! The small grammars of a result line: numbers (with OCR repairs and decimal commas), reference
//! ranges, flags, qualitative values and report dates.

use std::sync::OnceLock;

use regex::Regex;

/// A value as read: the number (if any), the comparator, and whether OCR repairs were needed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Number {
    pub(crate) value: f64,
    pub(crate) comparator: Option<&'static str>,
    /// The value written back without repairs (`13.5`, `<0.01`).
    pub(crate) text: String,
    pub(crate) repaired: bool,
}

fn regex(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("invariant: valid regex"))
}

/// Characters OCR puts in place of digits.
fn repair_digit(character: char) -> Option<char> {
    Some(match character {
        '0'..='9' | '.' | ',' | '-' => character,
        'O' | 'o' | 'D' | 'Q' => '0',
        'l' | 'I' | '|' | 'i' | '!' => '1',
        'S' | 's' => '5',
        'B' => '8',
        'Z' | 'z' => '2',
        _ => return None,
    })
}

/// A comparator at the start of `text` and the rest.
fn split_comparator(text: &str) -> (Option<&'static str>, &str) {
    for (printed, comparator) in [
        ("<=", "<="),
        (">=", ">="),
        ("≤", "<="),
        ("≥", ">="),
        ("=<", "<="),
        ("=>", ">="),
        ("<", "<"),
        (">", ">"),
    ] {
        if let Some(rest) = text.strip_prefix(printed) {
            return (Some(comparator), rest.trim_start());
        }
    }
    (None, text)
}

/// Reads a printed number (`13.5`, `<0.01`, `13,5`, `1,250`, `l3.O`); `None` when it is not one.
pub(crate) fn number(token: &str) -> Option<Number> {
    let (comparator, digits) = split_comparator(token.trim());
    if digits.is_empty() || !digits.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut repaired = false;
    let mut cleaned = String::with_capacity(digits.len());
    for (index, character) in digits.chars().enumerate() {
        let digit = repair_digit(character)?;
        if digit == '-' && index > 0 {
            return None;
        }
        repaired |= digit != character;
        cleaned.push(digit);
    }
    let cleaned = decimal_point(&cleaned)?;
    if cleaned.starts_with('-') && comparator.is_some() {
        return None;
    }
    let value: f64 = cleaned.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let text = match comparator {
        Some(comparator) => format!("{comparator}{cleaned}"),
        None => cleaned.clone(),
    };
    Some(Number {
        value,
        comparator,
        text,
        repaired,
    })
}

/// `13,5` → `13.5`; `1,250` → `1250`; `1,250.5` → `1250.5`; rejects `1.2.3`.
fn decimal_point(text: &str) -> Option<String> {
    let body = text.strip_prefix('-').unwrap_or(text);
    if body.is_empty() || body.starts_with(['.', ',']) && body.len() == 1 {
        return None;
    }
    let commas = body.matches(',').count();
    let dots = body.matches('.').count();
    let normalised = match (commas, dots) {
        (0, 0 | 1) => body.to_owned(),
        (1, 0) => {
            let (whole, fraction) = body.split_once(',')?;
            // A thousands separator has exactly three digits after it and a non-zero start.
            if fraction.len() == 3 && whole != "0" && !whole.is_empty() {
                format!("{whole}{fraction}")
            } else {
                format!("{whole}.{fraction}")
            }
        }
        (_, 0 | 1) => {
            let (integer, fraction) = match body.split_once('.') {
                Some((integer, fraction)) => (integer, Some(fraction)),
                None => (body, None),
            };
            let groups: Vec<&str> = integer.split(',').collect();
            if groups.iter().skip(1).any(|group| group.len() != 3) {
                return None;
            }
            match fraction {
                Some(fraction) => format!("{}.{fraction}", groups.concat()),
                None => groups.concat(),
            }
        }
        _ => return None,
    };
    if normalised.starts_with('.') || normalised.ends_with('.') {
        return None;
    }
    let sign = if text.starts_with('-') { "-" } else { "" };
    Some(format!("{sign}{normalised}"))
}

/// A reference range found in `text`: low, high, the text when it is one-sided, and the byte
/// span matched (so the caller can remove it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Range {
    pub(crate) low: Option<f64>,
    pub(crate) high: Option<f64>,
    pub(crate) text: Option<String>,
    pub(crate) span: (usize, usize),
    /// The most decimals either bound is printed with.
    pub(crate) decimals: usize,
    /// The bounds as read (`05`, `25`), to see a point OCR lost.
    pub(crate) printed: (Option<String>, Option<String>),
}

/// Digits after the decimal point of a number as printed (`40.0` → 1).
pub(crate) fn decimals(text: &str) -> usize {
    text.rsplit_once(['.', ',']).map_or(0, |(_, fraction)| {
        fraction.chars().filter(char::is_ascii_digit).count()
    })
}

/// The first reference range in `text` (`13.0-17.0`, `(Ref: 13 - 17)`, `[4.0 to 10.0]`,
/// `< 200`, `>40`, `≥ 60`).
pub(crate) fn range(text: &str) -> Option<Range> {
    static TWO_SIDED: OnceLock<Regex> = OnceLock::new();
    static ONE_SIDED: OnceLock<Regex> = OnceLock::new();
    const NUMBER: &str = r"-?[0-9OoIl]*[0-9][0-9OoIl]*(?:[.,][0-9OoIl]+)?";
    let label =
        r"(?:(?i:ref(?:erence)?(?:\s*range|\s*interval)?|normal(?:\s*range)?|range)\.?\s*:?\s*)?";
    let two_sided = regex(
        &TWO_SIDED,
        &format!(
            r"(?:^|[\s(\[:])[(\[]?\s*{label}[.,]?({NUMBER})[.,]?\s*(?:-|–|—|to|TO)\s*({NUMBER})\s*[)\]]?"
        ),
    );
    let one_sided = regex(
        &ONE_SIDED,
        &format!(
            r"(?:^|[\s(\[:])[(\[]?\s*{label}[.,]?(<=|>=|=<|=>|<|>|≤|≥|(?i:up\s+to))\s*({NUMBER})\s*[)\]]?"
        ),
    );
    let two = two_sided.captures(text).and_then(|captures| {
        let whole = captures.get(0)?;
        let low = number(captures.get(1)?.as_str())?;
        let high = number(captures.get(2)?.as_str())?;
        (low.value <= high.value).then(|| Range {
            low: Some(low.value),
            high: Some(high.value),
            text: None,
            span: (whole.start(), whole.end()),
            decimals: decimals(&low.text).max(decimals(&high.text)),
            printed: (Some(low.text.clone()), Some(high.text.clone())),
        })
    });
    let one = one_sided.captures(text).and_then(|captures| {
        let whole = captures.get(0)?;
        let printed = captures.get(1)?.as_str();
        let (comparator, _) = if printed.to_ascii_lowercase().starts_with("up") {
            // `up to 5`: at most 5.
            (Some("<="), "")
        } else {
            split_comparator(printed)
        };
        let bound = number(captures.get(2)?.as_str())?;
        let comparator = comparator?;
        let (low, high) = if comparator.starts_with('<') {
            (None, Some(bound.value))
        } else {
            (Some(bound.value), None)
        };
        Some(Range {
            low,
            high,
            text: Some(format!("{comparator}{}", bound.text)),
            span: (whole.start(), whole.end()),
            decimals: decimals(&bound.text),
            printed: (None, None),
        })
    });
    match (two, one) {
        (Some(two), Some(one)) => Some(if one.span.0 < two.span.0 { one } else { two }),
        (two, one) => two.or(one),
    }
}

/// The flag in `text` as a separate word (`H`, `(L)`, `HH`, `High`, `*`, `↑`) and its span.
pub(crate) fn flag(text: &str) -> Option<(String, (usize, usize))> {
    static FLAG: OnceLock<Regex> = OnceLock::new();
    let flag = regex(
        &FLAG,
        r"(?:^|\s)[(\[]?(HH|LL|H|L|A|AA|N|C|(?i:high|low|abnormal|critical|crit|abn)|\*+|!{1,2}|↑|↓)[)\]]?(?:\s|$)",
    );
    let captures = flag.captures(text)?;
    let word = captures.get(1)?.as_str();
    let whole = captures.get(0)?;
    Some((word.to_owned(), (whole.start(), whole.end())))
}

/// A flag attached to the end of a value (`13.5H`, `13.5*`, `13.5(L)`): the value and the flag.
pub(crate) fn trailing_flag(token: &str) -> Option<(&str, &str)> {
    for suffix in [
        "(HH)", "(LL)", "(H)", "(L)", "HH", "LL", "H", "L", "**", "*",
    ] {
        if let Some(value) = token.strip_suffix(suffix)
            && value.ends_with(|c: char| c.is_ascii_digit())
        {
            return Some((value, suffix.trim_matches(['(', ')'])));
        }
    }
    None
}

/// Qualitative results (`Negative`, `Trace`, `2+`, `Not detected`), in a canonical spelling.
pub(crate) fn qualitative(text: &str) -> Option<&'static str> {
    let lower = text.trim().to_ascii_lowercase();
    Some(match lower.as_str() {
        "negative" | "neg" | "neg." | "nil" => "Negative",
        "positive" | "pos" | "pos." => "Positive",
        "trace" | "tr" => "Trace",
        "reactive" => "Reactive",
        "non-reactive" | "nonreactive" | "non reactive" => "Non-reactive",
        "detected" => "Detected",
        "not detected" | "none detected" | "undetected" => "Not detected",
        "present" => "Present",
        "absent" | "none" => "Absent",
        "normal" => "Normal",
        "clear" => "Clear",
        "cloudy" => "Cloudy",
        "hazy" => "Hazy",
        "turbid" => "Turbid",
        "yellow" => "Yellow",
        "pale yellow" => "Pale yellow",
        "dark yellow" => "Dark yellow",
        "straw" => "Straw",
        "amber" => "Amber",
        "1+" => "1+",
        "2+" => "2+",
        "3+" => "3+",
        "4+" => "4+",
        "few" => "Few",
        "moderate" => "Moderate",
        "many" => "Many",
        "rare" => "Rare",
        _ => return None,
    })
}

/// The first date in `text`, as `YYYY-MM-DD`, and where it starts.
#[cfg(test)]
pub(crate) fn date(text: &str) -> Option<(String, usize)> {
    dates(text)
        .into_iter()
        .next()
        .map(|(date, start, _)| (date, start))
}

/// Every date in one of the usual report formats, as `YYYY-MM-DD`, with its byte span, in order.
pub(crate) fn dates(text: &str) -> Vec<(String, usize, usize)> {
    static PATTERNS: OnceLock<[Regex; 4]> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        let months = r"(?<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?";
        [
            // `2026-12-07T08:15`: the time's `T` ends the date too.
            r"\b(?<y>\d{4})-(?<m>\d{1,2})-(?<d>\d{1,2})(?:\b|T)".to_owned(),
            r"\b(?<a>\d{1,2})(?<sep>[/.])(?<b>\d{1,2})[/.](?<y>\d{4})\b".to_owned(),
            format!(r"(?i:\b(?<d>\d{{1,2}})[\s-]+{months}[\s,-]+(?<y>\d{{4}})\b)"),
            format!(r"(?i:\b{months}\s+(?<d>\d{{1,2}}),?\s+(?<y>\d{{4}})\b)"),
        ]
        .map(|pattern| Regex::new(&pattern).expect("invariant: valid regex"))
    });
    let mut found: Vec<(usize, usize, String)> = Vec::new();
    for pattern in patterns {
        for captures in pattern.captures_iter(text) {
            if let (Some(whole), Some(date)) = (captures.get(0), date_of(&captures)) {
                found.push((whole.start(), whole.end(), date));
            }
        }
    }
    found.sort();
    // Overlapping matches (`14-Mar-2026` read twice) keep the first.
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for (start, end, date) in found {
        if out.last().is_none_or(|(_, _, last_end)| start >= *last_end) {
            out.push((date, start, end));
        }
    }
    out
}

/// The date one of the patterns of [`dates`] matched: year `y` with month `m` and day `d`, or
/// a month name `mon`, or two numbers `a`, `b` whose order the separator `sep` decides.
fn date_of(captures: &regex::Captures<'_>) -> Option<String> {
    let group = |name: &str| captures.name(name).map(|found| found.as_str());
    let year = group("y")?;
    if let Some(name) = group("mon") {
        return ymd(year, &month_number(name)?, group("d")?);
    }
    if let (Some(a), Some(separator), Some(b)) = (group("a"), group("sep"), group("b")) {
        // US style month/day with slashes unless the first number cannot be a month;
        // day.month with dots (European).
        let first: u32 = a.parse().ok()?;
        return if separator == "." || first > 12 {
            ymd(year, b, a)
        } else {
            ymd(year, a, b)
        };
    }
    ymd(year, group("m")?, group("d")?)
}

fn month_number(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let months = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    months
        .iter()
        .position(|month| lower.starts_with(month))
        .map(|index| (index + 1).to_string())
}

fn ymd(year: &str, month: &str, day: &str) -> Option<String> {
    let year: i32 = year.parse().ok()?;
    let month: u8 = month.parse().ok()?;
    let day: u8 = day.parse().ok()?;
    let month = time::Month::try_from(month).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    if !(1900..=2200).contains(&year) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(token: &str) -> Option<(f64, Option<&'static str>, bool)> {
        number(token).map(|n| (n.value, n.comparator, n.repaired))
    }

    #[test]
    fn numbers_with_ocr_repairs_and_decimal_commas() {
        assert_eq!(value("13.5"), Some((13.5, None, false)));
        assert_eq!(value("<0.01"), Some((0.01, Some("<"), false)));
        assert_eq!(value("≥ 60"), Some((60.0, Some(">="), false)));
        assert_eq!(value("13,5"), Some((13.5, None, false)));
        assert_eq!(value("0,125"), Some((0.125, None, false)));
        assert_eq!(value("1,250"), Some((1250.0, None, false)));
        assert_eq!(value("l3.O"), Some((13.0, None, true)));
        assert_eq!(value("1O5"), Some((105.0, None, true)));
        assert_eq!(value("-2.5"), Some((-2.5, None, false)));
        assert_eq!(number("<0.01").map(|n| n.text), Some("<0.01".to_owned()));
        for not_a_number in [
            "",
            "H",
            "Negative",
            "mg/dL",
            "1.2.3",
            "13.0-17.0",
            "O",
            "OO",
            ".",
        ] {
            assert_eq!(value(not_a_number), None, "{not_a_number}");
        }
    }

    #[test]
    fn ranges() {
        let low_high = |text: &str| range(text).map(|r| (r.low, r.high, r.text));
        assert_eq!(low_high("13.0-17.0"), Some((Some(13.0), Some(17.0), None)));
        assert_eq!(
            low_high("13.0 - 17.0"),
            Some((Some(13.0), Some(17.0), None))
        );
        assert_eq!(
            low_high("(Ref: 13.0-17.0) H"),
            Some((Some(13.0), Some(17.0), None))
        );
        assert_eq!(
            low_high("[4.0 to 10.0]"),
            Some((Some(4.0), Some(10.0), None))
        );
        assert_eq!(low_high("13,0–17,0"), Some((Some(13.0), Some(17.0), None)));
        assert_eq!(
            low_high("< 200"),
            Some((None, Some(200.0), Some("<200".into())))
        );
        assert_eq!(
            low_high(">40"),
            Some((Some(40.0), None, Some(">40".into())))
        );
        assert_eq!(low_high("-2.0 - 2.0"), Some((Some(-2.0), Some(2.0), None)));
        assert_eq!(low_high("13.O-17.O"), Some((Some(13.0), Some(17.0), None)));
        assert_eq!(
            low_high("(Ref:.0 - 125)"),
            Some((Some(0.0), Some(125.0), None))
        );
        assert_eq!(low_high("0.0.- 30.0"), Some((Some(0.0), Some(30.0), None)));
        // Issue #20: the spellings of other labs.
        assert_eq!(low_high("70 – 99"), Some((Some(70.0), Some(99.0), None)));
        assert_eq!(
            low_high("<= 5.6"),
            Some((None, Some(5.6), Some("<=5.6".into())))
        );
        assert_eq!(
            low_high("up to 5"),
            Some((None, Some(5.0), Some("<=5".into())))
        );
        assert_eq!(
            low_high("Up to 0,5"),
            Some((None, Some(0.5), Some("<=0.5".into())))
        );
        assert_eq!(low_high("3,9 - 5,5"), Some((Some(3.9), Some(5.5), None)));
        assert_eq!(low_high("mg/dL"), None);
        assert_eq!(low_high("x10^9/L"), None);
        assert_eq!(low_high("mL/min/1.73m2"), None);
    }

    #[test]
    fn flags() {
        assert_eq!(flag("H").map(|f| f.0), Some("H".into()));
        assert_eq!(flag("g/dL (L)").map(|f| f.0), Some("L".into()));
        assert_eq!(flag("High").map(|f| f.0), Some("High".into()));
        // Issue #20: other labs' flags.
        for printed in ["*", "!", "!!", "HH", "LL", "CRIT", "A", "Abnormal", "(H)"] {
            let word = printed.trim_matches(['(', ')']);
            assert_eq!(
                flag(&format!(" {printed} ")).map(|f| f.0),
                Some(word.into()),
                "{printed}"
            );
        }
        assert_eq!(flag("mmol/L"), None);
        assert_eq!(flag("Negative"), None);
        assert_eq!(trailing_flag("13.5H"), Some(("13.5", "H")));
        assert_eq!(trailing_flag("7.2(L)"), Some(("7.2", "L")));
        assert_eq!(trailing_flag("13.5"), None);
    }

    #[test]
    fn dates() {
        let d = |text: &str| date(text).map(|(date, _)| date);
        assert_eq!(d("Collected: 2026-03-14 08:30"), Some("2026-03-14".into()));
        assert_eq!(d("Date: 03/14/2026"), Some("2026-03-14".into()));
        assert_eq!(d("Date: 14/03/2026"), Some("2026-03-14".into()));
        assert_eq!(d("Date: 14.03.2026"), Some("2026-03-14".into()));
        assert_eq!(d("Reported 14 Mar 2026"), Some("2026-03-14".into()));
        assert_eq!(d("Reported March 14, 2026"), Some("2026-03-14".into()));
        assert_eq!(d("14-Mar-2026"), Some("2026-03-14".into()));
        assert_eq!(d("2026-02-30"), None);
        assert_eq!(d("no date here 12345"), None);
    }

    #[test]
    fn qualitative_values() {
        assert_eq!(qualitative("NEG"), Some("Negative"));
        assert_eq!(qualitative("Not Detected"), Some("Not detected"));
        assert_eq!(qualitative("13.5"), None);
    }
}
