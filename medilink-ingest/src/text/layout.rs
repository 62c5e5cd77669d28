//! Positioned glyphs to lines of text in reading order, with column gaps kept visible.
//!
//! A rule-based extractor splits table cells on runs of two or more spaces, so a gap wider
//! than a word space becomes at least two spaces (more for wider gaps, roughly one per half
//! em, which keeps columns roughly aligned).

/// One glyph (or a few characters drawn as one) at its place on the page.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Glyph {
    /// Left edge, in page units, growing to the right.
    pub(crate) x: f64,
    /// Baseline, in page units, growing upwards (PDF user space).
    pub(crate) y: f64,
    /// Advance width, in page units.
    pub(crate) width: f64,
    /// Font size, in page units.
    pub(crate) size: f64,
    /// The characters.
    pub(crate) text: String,
}

/// Gaps narrower than this many ems join characters into a word.
const LETTER_GAP: f64 = 0.15;
/// Gaps wider than this many ems separate columns (two or more spaces).
const COLUMN_GAP: f64 = 0.8;
/// The most spaces one gap becomes.
const MAX_SPACES: usize = 40;

/// The glyphs as text: one line per baseline, top to bottom, each line left to right.
pub(crate) fn lines(mut glyphs: Vec<Glyph>) -> String {
    glyphs.retain(|g| {
        !g.text.trim().is_empty() && g.x.is_finite() && g.y.is_finite() && g.size > 0.0
    });
    // Top to bottom; ties left to right.
    glyphs.sort_by(|a, b| b.y.total_cmp(&a.y).then(a.x.total_cmp(&b.x)));
    let mut rows: Vec<Vec<Glyph>> = Vec::new();
    let mut baseline = f64::NAN;
    for glyph in glyphs {
        let same_row = rows.last().is_some_and(|row: &Vec<Glyph>| {
            let size = row.iter().map(|g| g.size).fold(glyph.size, f64::max);
            (baseline - glyph.y).abs() <= 0.4 * size
        });
        if same_row {
            if let Some(row) = rows.last_mut() {
                row.push(glyph);
            }
        } else {
            baseline = glyph.y;
            rows.push(vec![glyph]);
        }
    }
    let mut out = String::new();
    for mut row in rows {
        row.sort_by(|a, b| a.x.total_cmp(&b.x));
        let line = join_row(&row);
        if !line.is_empty() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// The glyphs as words with their boxes (y grows downwards): glyphs on one baseline closer
/// than a letter gap join into a word; blank glyphs separate words.
pub(crate) fn words(glyphs: &[Glyph]) -> Vec<super::Word> {
    let mut sorted: Vec<&Glyph> = glyphs
        .iter()
        .filter(|g| g.x.is_finite() && g.y.is_finite() && g.size > 0.0 && g.width.is_finite())
        .collect();
    sorted.sort_by(|a, b| b.y.total_cmp(&a.y).then(a.x.total_cmp(&b.x)));
    let mut out: Vec<super::Word> = Vec::new();
    let mut current: Option<(super::Word, f64)> = None;
    for glyph in sorted {
        let blank = glyph.text.trim().is_empty();
        if let Some((word, baseline)) = &mut current {
            let same_line = (*baseline - glyph.y).abs() <= 0.4 * glyph.size.max(word.size);
            let gap = glyph.x - word.x1;
            let em = glyph.size.max(word.size);
            if same_line && !blank && gap <= LETTER_GAP * em && gap > -0.5 * em {
                word.text.push_str(&glyph.text);
                word.x1 = word.x1.max(glyph.x + glyph.width);
                continue;
            }
            // A repeat of the word's last glyph at (almost) its place: fake bold.
            if same_line && !blank && word.text.ends_with(glyph.text.as_str()) && gap < 0.0 {
                continue;
            }
            if let Some((word, _)) = current.take() {
                out.push(word);
            }
        }
        if blank {
            continue;
        }
        current = Some((
            super::Word {
                text: glyph.text.clone(),
                x0: glyph.x,
                x1: glyph.x + glyph.width,
                top: -(glyph.y + 0.75 * glyph.size),
                bottom: -(glyph.y - 0.25 * glyph.size),
                size: glyph.size,
            },
            glyph.y,
        ));
    }
    if let Some((word, _)) = current {
        out.push(word);
    }
    out
}

fn join_row(row: &[Glyph]) -> String {
    let mut line = String::new();
    let mut previous: Option<&Glyph> = None;
    for glyph in row {
        if let Some(prev) = previous {
            let em = prev.size.max(glyph.size);
            // The same text drawn again at (almost) the same place: fake bold or a shadow.
            if glyph.text == prev.text && (glyph.x - prev.x).abs() < 0.2 * em {
                continue;
            }
            let gap = glyph.x - (prev.x + prev.width);
            if gap > COLUMN_GAP * em {
                let spaces = ((gap / (0.5 * em)).round() as usize).clamp(2, MAX_SPACES);
                line.extend(std::iter::repeat_n(' ', spaces));
            } else if gap > LETTER_GAP * em {
                line.push(' ');
            }
        }
        line.push_str(&glyph.text);
        previous = Some(glyph);
    }
    line.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A word of fixed-width glyphs (0.5 em each) starting at `x`.
    fn word(x: f64, y: f64, text: &str) -> Vec<Glyph> {
        text.chars()
            .enumerate()
            .map(|(i, c)| Glyph {
                x: x + i as f64 * 5.0,
                y,
                width: 5.0,
                size: 10.0,
                text: c.to_string(),
            })
            .collect()
    }

    #[test]
    fn words_get_one_space_and_columns_at_least_two() {
        let mut glyphs = word(0.0, 700.0, "Glucose");
        glyphs.extend(word(38.0, 700.0, "fasting")); // 3 units after "Glucose": one space
        glyphs.extend(word(200.0, 700.0, "105")); // far: a column
        glyphs.extend(word(216.0, 700.0, "mg/dL")); // 1 unit after "105": same word
        let text = lines(glyphs);
        assert!(text.starts_with("Glucose fasting  "), "{text:?}");
        assert!(text.trim_end().ends_with("105mg/dL"), "{text:?}");
        let gap = text.find("105").unwrap() - "Glucose fasting".len();
        assert!((2..=MAX_SPACES).contains(&gap), "{text:?}");
    }

    #[test]
    fn orders_lines_top_to_bottom_whatever_the_drawing_order() {
        let mut glyphs = word(0.0, 600.0, "second");
        glyphs.extend(word(100.0, 700.0, "right"));
        glyphs.extend(word(0.0, 701.5, "first")); // slightly off the baseline: same line
        // "first" ends at 25, "right" starts at 100: 75 units are 15 half-ems.
        assert_eq!(
            lines(glyphs),
            format!("first{}right\nsecond\n", " ".repeat(15))
        );
    }

    #[test]
    fn words_have_boxes_and_split_at_gaps_and_blanks() {
        let mut glyphs = word(0.0, 700.0, "Glucose");
        glyphs.push(Glyph {
            x: 35.0,
            y: 700.0,
            width: 3.0,
            size: 10.0,
            text: " ".into(),
        });
        glyphs.extend(word(38.0, 700.0, "fasting"));
        glyphs.extend(word(200.0, 700.0, "105"));
        glyphs.extend(word(0.0, 680.0, "HGB"));
        let words = words(&glyphs);
        let texts: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["Glucose", "fasting", "105", "HGB"]);
        assert_eq!((words[2].x0, words[2].x1), (200.0, 215.0));
        assert!(words[0].top < words[0].bottom && words[0].bottom < words[3].top);
    }

    #[test]
    fn drops_overprinted_duplicates_and_blank_glyphs() {
        let mut glyphs = word(0.0, 700.0, "HGB");
        glyphs.extend(word(0.3, 700.0, "HGB")); // fake bold
        glyphs.extend(word(40.0, 500.0, "   "));
        glyphs.push(Glyph {
            x: f64::NAN,
            y: 1.0,
            width: 1.0,
            size: 1.0,
            text: "x".into(),
        });
        assert_eq!(lines(glyphs), "HGB\n");
    }
}
