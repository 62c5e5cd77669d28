//! Printed units to UCUM (`mg/dl` → `mg/dL`, `x10^9/L` → `10*9/L`, `IU/L` → `[IU]/L`, …).
//!
//! The printed forms on lab reports are a small language: an optional power of ten, then
//! prefixed base units separated by `/`, plus a handful of special spellings (`K/uL`,
//! `cells/uL`, `/HPF`, `mmHg`, `mL/min/1.73m2`). [`normalize`] returns `None` when the text is
//! not recognisably a unit, so callers keep the printed text and leave the UCUM code out.

use std::sync::OnceLock;

use regex::Regex;

/// The UCUM form of a printed unit, or `None` when it is not recognised.
pub fn normalize(printed: &str) -> Option<String> {
    let cleaned = clean(printed);
    if cleaned.is_empty() {
        return None;
    }
    let key = cleaned.to_ascii_lowercase();
    if let Some(special) = special(&key) {
        return Some(special.to_owned());
    }
    let cleaned = ocr_repairs(&cleaned);
    if let Some(captures) = power_of_ten().captures(&cleaned) {
        let exponent = captures.get(1)?.as_str().trim_start_matches('0');
        let rest = captures.get(2)?.as_str();
        let exponent = if exponent.is_empty() { "0" } else { exponent };
        let rest = if rest.is_empty() {
            String::new()
        } else {
            compound(rest)?
        };
        return Some(format!("10*{exponent}{rest}"));
    }
    let (core, annotation) = split_annotation(&cleaned);
    let mut unit = compound(core)?;
    if let Some(annotation) = annotation {
        unit.push_str(&format!("{{{annotation}}}"));
    }
    Some(unit)
}

/// A coarse dimension of a UCUM unit (`mass/vol`, `subst/vol`, `count/vol`, `%`, …), used to
/// tell whether a printed unit fits a table entry (mg/dL and g/L fit; mg/dL and mmol/L don't).
pub fn dimension(ucum: &str) -> String {
    let ucum = strip_braces(ucum);
    let mut parts = ucum.splitn(2, '/');
    let numerator = parts.next().unwrap_or_default();
    let denominator = parts.next();
    let numerator = kind(numerator);
    match denominator {
        None => numerator.to_owned(),
        Some(denominator) => {
            let denominator: Vec<&str> = denominator
                .split('/')
                .filter(|part| !part.is_empty())
                .map(kind)
                .collect();
            format!("{numerator}/{}", denominator.join("/"))
        }
    }
}

/// The size of a simple UCUM unit relative to its unprefixed form (`u[IU]/mL` → the base
/// `[IU]/L` times 10⁻³, `g/dL` → `g/L` times 10): two units are the same quantity in another
/// spelling when base and factor agree (`u[IU]/mL` and `m[IU]/L`). `None` for anything but
/// prefixed base units separated by `/` (powers of ten, annotations, special units).
pub(crate) fn magnitude(ucum: &str) -> Option<(String, f64)> {
    let mut base = String::new();
    let mut factor = 1.0;
    for (index, part) in ucum.split('/').enumerate() {
        if index > 0 {
            base.push('/');
        }
        if part.is_empty() && index == 0 {
            continue;
        }
        let (scale, unit) = prefix_scale(part)?;
        base.push_str(unit);
        factor = if index == 0 {
            factor * scale
        } else {
            factor / scale
        };
    }
    Some((base, factor))
}

/// A prefixed base unit's prefix as a factor and its base (`mmol` → 10⁻³, `mol`).
fn prefix_scale(part: &str) -> Option<(f64, &str)> {
    const BASES: [&str; 8] = ["mol", "eq", "g", "L", "[IU]", "U", "Pa", "m"];
    if BASES.contains(&part) {
        return Some((1.0, part));
    }
    let mut characters = part.chars();
    let scale = match characters.next()? {
        'k' => 1e3,
        'd' => 1e-1,
        'c' => 1e-2,
        'm' => 1e-3,
        'u' => 1e-6,
        'n' => 1e-9,
        'p' => 1e-12,
        'f' => 1e-15,
        _ => return None,
    };
    let rest = characters.as_str();
    BASES.contains(&rest).then_some((scale, rest))
}

/// Whether two UCUM units are the same quantity in different spellings (`u[IU]/mL` and
/// `m[IU]/L`, `ug/L` and `ng/mL`).
pub(crate) fn same_magnitude(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (magnitude(a), magnitude(b)) {
        (Some((base_a, factor_a)), Some((base_b, factor_b))) => {
            base_a == base_b && ((factor_a / factor_b) - 1.0).abs() < 1e-9
        }
        _ => false,
    }
}

fn strip_braces(ucum: &str) -> String {
    let mut out = String::with_capacity(ucum.len());
    let mut depth = 0usize;
    for character in ucum.chars() {
        match character {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(character),
            _ => {}
        }
    }
    out
}

fn kind(part: &str) -> &'static str {
    let part = part.trim_start_matches('(').trim_end_matches(')');
    let part = match part.find('.') {
        Some(index) if part[..index].chars().all(|c| c.is_ascii_digit()) => &part[index + 1..],
        _ => part,
    };
    let without_power = match part.strip_prefix("10*") {
        Some(rest) => rest.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => part,
    };
    let base = without_power;
    if base.is_empty() || base == "1" {
        "count"
    } else if base == "%" {
        "%"
    } else if base.ends_with("[IU]") || base.ends_with('U') {
        "units"
    } else if base.ends_with("mol") || base.ends_with("eq") {
        "subst"
    } else if base.ends_with("[Hg]") || base.ends_with("Pa") {
        "pressure"
    } else if base.ends_with("[HPF]") || base.ends_with("[LPF]") {
        "field"
    } else if base.ends_with('g') {
        "mass"
    } else if base.ends_with('L') || base == "m3" {
        "vol"
    } else if matches!(base, "s" | "min" | "h" | "d") {
        "time"
    } else if base.ends_with('m') {
        "length"
    } else {
        "other"
    }
}

/// Unicode and OCR clean-up: micro signs, superscripts, multiplication signs, spacing.
fn clean(printed: &str) -> String {
    let mut out = String::with_capacity(printed.len());
    for character in printed.trim().chars() {
        match character {
            'µ' | 'μ' => out.push('u'),
            '²' => out.push('2'),
            '³' => out.push('3'),
            '⁹' => out.push_str("^9"),
            '⁶' => out.push_str("^6"),
            '¹' => out.push('1'),
            '⁰' => out.push('0'),
            '×' => out.push('x'),
            '∕' | '⁄' => out.push('/'),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    let mut out = out.trim_matches(',').to_owned();
    // `(mg/dL)` and `[mg/dL]` as printed in a units column.
    for (open, close) in [('(', ')'), ('[', ']')] {
        if out.starts_with(open)
            && out.ends_with(close)
            && out[1..out.len() - 1]
                .chars()
                .all(|c| c != open && c != close)
        {
            out = out[1..out.len() - 1].to_owned();
        }
    }
    out
}

fn special(key: &str) -> Option<&'static str> {
    Some(match key {
        "%" | "percent" | "pct" => "%",
        "k/ul" | "thou/ul" | "thou/mm3" | "k/mm3" | "10^3/mm3" | "x10^3/mm3" | "/nl" => "10*3/uL",
        "m/ul" | "mill/ul" | "mil/ul" | "mill/mm3" | "m/mm3" | "/pl" => "10*6/uL",
        "cells/ul" | "/ul" | "cells/mm3" | "/mm3" | "/cumm" | "cells/cumm" | "/cmm" => "/uL",
        "/hpf" | "hpf" | "/[hpf]" | "cells/hpf" | "perhpf" => "/[HPF]",
        "/lpf" | "lpf" | "/[lpf]" | "perlpf" => "/[LPF]",
        "s" | "sec" | "secs" | "second" | "seconds" => "s",
        "min" | "mins" | "minutes" => "min",
        "mm/h" | "mm/hr" | "mm/1h" | "mm/1hr" | "mm/hour" | "mmhr" => "mm/h",
        "mmhg" | "mm[hg]" => "mm[Hg]",
        "ratio" | "{ratio}" => "{ratio}",
        "inr" | "{inr}" => "{INR}",
        "titer" | "titre" | "{titer}" => "{titer}",
        "index" | "{index}" => "{index}",
        "ph" | "[ph]" | "phunits" => "[pH]",
        "sg" | "{sg}" | "1" => "1",
        "/100{wbcs}" | "/100wbc" | "/100wbcs" | "/100{wbc}" => "/100{WBCs}",
        "copies/ml" | "{copies}/ml" | "cp/ml" => "{copies}/mL",
        "mosm/kg" | "mosmol/kg" | "mosm/kgh2o" => "mosm/kg",
        "ml/min/1.73m2" | "ml/min/1.73m^2" | "ml/min/1.73" | "ml/min/{1.73_m2}"
        | "ml/min/1.73sqm" => "mL/min/{1.73_m2}",
        "mg/24h" | "mg/24hr" | "mg/24hrs" | "mg/(24.h)" | "mg/d" | "mg/day" => "mg/(24.h)",
        "g/24h" | "g/24hr" | "g/(24.h)" | "g/d" | "g/day" => "g/(24.h)",
        "mg/gcreat" | "mg/gcr" | "mg/gcreatinine" => "mg/g",
        "ug/mlfeu" | "ug/ml{feu}" | "mg/lfeu" | "mg/l{feu}" => "ug/mL{FEU}",
        "ng/mlfeu" | "ng/ml{feu}" | "ug/lfeu" => "ng/mL{FEU}",
        "ng/mlddu" | "ng/ml{ddu}" => "ng/mL{DDU}",
        "eu/dl" | "[eu]/dl" => "[EU]/dL",
        "l/l" => "L/L",
        "um3" | "cu.um" | "fl" => "fL",
        _ => return None,
    })
}

/// OCR misreadings seen in printed units: `lU` for `IU`, `p`/`ul` for `µ` before `IU`, and a
/// caret read as `%`, `~` or `7` in powers of ten (`x10%3/uL`, `x10712/L`).
fn ocr_repairs(cleaned: &str) -> String {
    static GARBLED_POWER: OnceLock<Regex> = OnceLock::new();
    let garbled = GARBLED_POWER.get_or_init(|| {
        Regex::new(r"^([xX]?)10(?:[%~^*]{1,2}|7)(3|6|9|12)(/.+)$").expect("invariant: valid regex")
    });
    let mut out = cleaned.replace("lU", "IU").replace("1U/", "IU/");
    for (garbled, fixed) in [("pIU", "uIU"), ("uIIU", "uIU"), ("ulU", "uIU")] {
        out = out.replace(garbled, fixed);
    }
    // `/di`, `/db` for `/dl`; `/mi` for `/ml`.
    for (garbled, fixed) in [
        ("/di", "/dL"),
        ("/db", "/dL"),
        ("/dI", "/dL"),
        ("/mi", "/mL"),
        ("/mI", "/mL"),
    ] {
        if let Some(stem) = out.strip_suffix(garbled) {
            out = format!("{stem}{fixed}");
        }
    }
    // Letters OCR made of a µ before `IU` (`pwIU/mL`).
    if let Some(index) = out.find("IU/") {
        let before = &out[..index];
        if !before.is_empty()
            && before.len() <= 3
            && before.chars().all(|c| c.is_ascii_lowercase())
            && !matches!(before, "m" | "u" | "k" | "n")
        {
            out = format!("uIU/{}", &out[index + 3..]);
        }
    }
    if power_of_ten().is_match(&out) {
        return out;
    }
    if let Some(captures) = garbled.captures(&out) {
        let (Some(exponent), Some(rest)) = (captures.get(2), captures.get(3)) else {
            return out;
        };
        return format!("x10^{}{}", exponent.as_str(), rest.as_str());
    }
    out
}

fn power_of_ten() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^(?:[xX]|\*)?10(?:\^|\*|\*\*|e|E)(\d{1,2})(/.*)?$")
            .expect("invariant: valid regex")
    })
}

/// `ug/mL FEU` style annotations after the unit proper.
fn split_annotation(cleaned: &str) -> (&str, Option<&str>) {
    for annotation in ["FEU", "DDU"] {
        if let Some(core) = cleaned.strip_suffix(annotation) {
            return (core, Some(annotation));
        }
    }
    (cleaned, None)
}

/// `a/b/c` where each part is a prefixed base unit; `/L` alone is allowed (count per litre).
fn compound(text: &str) -> Option<String> {
    let mut out = String::new();
    for (index, part) in text.split('/').enumerate() {
        if index > 0 {
            out.push('/');
        }
        if part.is_empty() {
            if index == 0 {
                continue;
            }
            return None;
        }
        out.push_str(&simple(part)?);
    }
    // A lone `h`, `L`, `m` or `d` is far more often a flag or a stray letter than a unit.
    if out.is_empty() || matches!(out.as_str(), "h" | "L" | "m" | "d" | "s") {
        None
    } else {
        Some(out)
    }
}

fn simple(part: &str) -> Option<String> {
    let lower = part.to_ascii_lowercase();
    let (prefix, base) = split_prefix(&lower)?;
    let base = match base {
        "g" | "gm" | "gr" | "gms" => "g",
        "mol" => "mol",
        "eq" => "eq",
        "pa" => "Pa",
        "l" => "L",
        "iu" | "[iu]" => "[IU]",
        "u" | "units" | "unit" => "U",
        "m" => "m",
        "h" | "hr" => "h",
        "min" => "min",
        "s" | "sec" => "s",
        "dl" => return Some(format!("{prefix}dL")),
        "kg" => return Some(format!("{prefix}kg")),
        _ => return None,
    };
    // `mm` is a millimetre; `mu` would be a milli-unit: both read literally.
    Some(match base {
        "[IU]" => format!("{prefix}[IU]"),
        _ => format!("{prefix}{base}"),
    })
}

fn split_prefix(lower: &str) -> Option<(&'static str, &str)> {
    const BASES: [&str; 18] = [
        "mol", "eq", "pa", "gms", "gm", "gr", "g", "l", "[iu]", "iu", "units", "unit", "u", "min",
        "sec", "hr", "h", "s",
    ];
    for base in BASES {
        if lower == base {
            return Some(("", base));
        }
    }
    let mut characters = lower.chars();
    let first = characters.next()?;
    let rest = characters.as_str();
    let prefix = match first {
        'k' => "k",
        'd' => "d",
        'c' => "c",
        'm' => "m",
        'u' => "u",
        'n' => "n",
        'p' => "p",
        'f' => "f",
        _ => return None,
    };
    if lower == "mcg" {
        return Some(("u", "g"));
    }
    if BASES.contains(&rest) || rest == "m" {
        Some((prefix, rest))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_printed_units_to_ucum() {
        for (printed, ucum) in [
            ("mg/dl", "mg/dL"),
            ("MG/DL", "mg/dL"),
            ("g/dL", "g/dL"),
            ("gm/dl", "g/dL"),
            ("x10^9/L", "10*9/L"),
            ("10^9/L", "10*9/L"),
            ("x10E3/uL", "10*3/uL"),
            ("10*3/µL", "10*3/uL"),
            ("x 10^6 / uL", "10*6/uL"),
            ("×10⁹/L", "10*9/L"),
            ("K/uL", "10*3/uL"),
            ("IU/L", "[IU]/L"),
            ("U/L", "U/L"),
            ("mIU/L", "m[IU]/L"),
            ("uIU/mL", "u[IU]/mL"),
            ("µIU/mL", "u[IU]/mL"),
            ("mEq/L", "meq/L"),
            ("mmol/l", "mmol/L"),
            ("µmol/L", "umol/L"),
            ("%", "%"),
            ("fL", "fL"),
            ("fl", "fL"),
            ("pg", "pg"),
            ("cells/uL", "/uL"),
            ("ng/mL", "ng/mL"),
            ("mcg/dL", "ug/dL"),
            ("mm/hr", "mm/h"),
            ("sec", "s"),
            ("mmHg", "mm[Hg]"),
            ("mL/min/1.73m2", "mL/min/{1.73_m2}"),
            ("mL/min/1.73 m²", "mL/min/{1.73_m2}"),
            ("/HPF", "/[HPF]"),
            ("ug/mL FEU", "ug/mL{FEU}"),
            ("mg/g", "mg/g"),
            ("pmol/L", "pmol/L"),
            ("mOsm/kg", "mosm/kg"),
            ("ratio", "{ratio}"),
            ("mlU/L", "m[IU]/L"),
            ("ulU/mL", "u[IU]/mL"),
            ("plU/mL", "u[IU]/mL"),
            ("x10%3/uL", "10*3/uL"),
            ("x10~*3/uL", "10*3/uL"),
            ("x10712/L", "10*12/L"),
            ("x10%9/L", "10*9/L"),
            ("pwlU/mL", "u[IU]/mL"),
            ("ug/di", "ug/dL"),
            ("mcg/db", "ug/dL"),
        ] {
            assert_eq!(normalize(printed).as_deref(), Some(ucum), "{printed}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_unit() {
        for printed in ["", "Negative", "H", "13.5", "13.0-17.0", "see note", "mg/"] {
            assert_eq!(normalize(printed), None, "{printed}");
        }
    }

    #[test]
    fn same_magnitude_in_other_spellings() {
        // Issue #20: insulin is printed in µIU/mL and mIU/L, one quantity.
        assert!(same_magnitude("u[IU]/mL", "m[IU]/L"));
        assert!(same_magnitude("ug/L", "ng/mL"));
        assert!(same_magnitude("mmol/L", "umol/mL"));
        assert!(!same_magnitude("g/dL", "g/L"));
        assert!(!same_magnitude("mg/dL", "mmol/L"));
        assert!(
            !same_magnitude("10*3/uL", "10*9/L"),
            "powers of ten are not read"
        );
        assert_eq!(magnitude("g/dL").map(|m| m.0), Some("g/L".to_owned()));
    }

    #[test]
    fn dimensions_tell_mass_from_substance() {
        assert_eq!(dimension("mg/dL"), dimension("g/L"));
        assert_ne!(dimension("mg/dL"), dimension("mmol/L"));
        assert_eq!(dimension("mmol/L"), dimension("meq/L"));
        assert_eq!(dimension("10*3/uL"), dimension("10*9/L"));
        assert_eq!(dimension("10*3/uL"), dimension("/uL"));
        assert_ne!(dimension("10*3/uL"), dimension("%"));
        assert_eq!(dimension("U/L"), dimension("[IU]/L"));
        assert_eq!(dimension("ug/mL{FEU}"), dimension("mg/L"));
        assert_eq!(dimension("mL/min/{1.73_m2}"), "vol/time");
    }
}
