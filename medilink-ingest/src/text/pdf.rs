//! A PDF's pages: the text layer as positioned glyphs, or the page image when there is no
//! usable text.
//!
//! The content stream interpreter follows the text operators of ISO 32000-1 §9 (text state,
//! text and line matrices, `cm`/`q`/`Q`) far enough to place every glyph; it does not draw
//! anything. Form XObjects and annotations are not read.

use std::collections::HashMap;

use lopdf::Encoding;
use lopdf::content::Content;
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

use super::layout::{self, Glyph};
use super::{TextOptions, pdf_image, pdf_metrics};
use crate::error::{IngestError, IngestResult};

/// The most bytes one stream (font map, object stream) may decompress to.
const MAX_STREAM_BYTES: usize = 32 * 1024 * 1024;
/// The most bytes a page's content may decompress to (real pages need well under 1 MiB).
const MAX_CONTENT_BYTES: usize = 8 * 1024 * 1024;
/// The most glyphs one page may place (a dense A4 page has about 5 000).
const MAX_GLYPHS: usize = 200_000;
/// The most `/W` width entries read from one composite font.
const MAX_CID_WIDTHS: usize = 1 << 17;
/// The end-of-file marker must be within this many bytes of the end.
const EOF_WINDOW: usize = 2048;

/// One page of a PDF, as the text stage needs it.
#[derive(Debug)]
pub(crate) enum PdfPage {
    /// The page's text layer, lines in reading order, and its words.
    Text(String, Vec<super::Word>),
    /// No usable text layer: the page's (largest) image, ready for OCR.
    Image(image::GrayImage),
}

/// The pages of `bytes`, a PDF. Damaged, truncated, encrypted or hostile files are
/// [`IngestError::Unreadable`].
pub(crate) fn read(bytes: &[u8], options: &TextOptions) -> IngestResult<Vec<PdfPage>> {
    let tail = &bytes[bytes.len().saturating_sub(EOF_WINDOW)..];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(IngestError::Unreadable(
            "the PDF is truncated (it has no end-of-file marker)".into(),
        ));
    }
    let load_options = LoadOptions {
        max_decompressed_size: Some(MAX_STREAM_BYTES),
        ..LoadOptions::default()
    };
    let document = Document::load_mem_with_options(bytes, load_options)
        .map_err(|e| IngestError::Unreadable(format!("the PDF cannot be parsed: {e}")))?;
    if document.is_encrypted() {
        return Err(IngestError::Unreadable(
            "the PDF is encrypted with a password".into(),
        ));
    }
    let pages = document.get_pages();
    if pages.is_empty() {
        return Err(IngestError::Unreadable("the PDF has no pages".into()));
    }
    if pages.len() > options.max_pages {
        return Err(IngestError::Unreadable(format!(
            "the PDF has {} pages, more than the {} accepted",
            pages.len(),
            options.max_pages
        )));
    }
    let mut out = Vec::with_capacity(pages.len());
    for (number, page_id) in pages {
        let glyphs = page_glyphs(&document, page_id)
            .map_err(|e| IngestError::Unreadable(format!("page {number} cannot be read: {e}")))?;
        let words = layout::words(&glyphs);
        let text = layout::lines(glyphs);
        if has_text_layer(&text, options.min_text_chars) {
            out.push(PdfPage::Text(text, words));
            continue;
        }
        match pdf_image::largest_page_image(&document, page_id, &options.limits)? {
            Some(image) => out.push(PdfPage::Image(image)),
            None => out.push(PdfPage::Text(text, words)),
        }
    }
    Ok(out)
}

/// Whether a page's extracted text is worth keeping rather than OCRing the page: enough
/// characters, most of them letters, digits or common punctuation (a font without a usable
/// character map decodes to symbols or U+FFFD).
pub(crate) fn has_text_layer(text: &str, min_chars: usize) -> bool {
    let visible: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    if visible.len() < min_chars || visible.is_empty() {
        return false;
    }
    let readable = visible
        .iter()
        .filter(|c| c.is_alphanumeric() || ".,:;-+/()%<>=*[]#'\"^µ".contains(**c))
        .count();
    readable * 10 >= visible.len() * 8
}

/// The glyphs of one page's text layer.
fn page_glyphs(document: &Document, page_id: ObjectId) -> lopdf::Result<Vec<layout::Glyph>> {
    let fonts = document.get_page_fonts(page_id)?;
    let mut loaded = HashMap::new();
    for (name, dict) in fonts {
        loaded.insert(name, PdfFont::load(document, dict)?);
    }
    let content = document.get_page_content_with_limit(page_id, MAX_CONTENT_BYTES)?;
    let content = Content::decode(&content)?;
    let mut interpreter = Interpreter {
        fonts: &loaded,
        state: TextState::default(),
        stack: Vec::new(),
        tm: IDENTITY,
        tlm: IDENTITY,
        glyphs: Vec::new(),
    };
    for op in &content.operations {
        interpreter.apply(&op.operator, &op.operands);
        if interpreter.glyphs.len() > MAX_GLYPHS {
            return Err(lopdf::Error::Syntax(format!(
                "the page places more than {MAX_GLYPHS} glyphs"
            )));
        }
    }
    Ok(interpreter.glyphs)
}

/// A font's character decoding and glyph widths.
struct PdfFont<'a> {
    encoding: Encoding<'a>,
    /// Type 0 (composite) fonts: two-byte codes (Identity-H and most CJK-free CMaps).
    two_byte: bool,
    first_char: u32,
    /// Simple fonts: `/Widths` from `first_char`.
    widths: Vec<f64>,
    /// Composite fonts: `/W` of the descendant font.
    cid_widths: HashMap<u32, f64>,
    default_width: f64,
    base_font: String,
}

impl<'a> PdfFont<'a> {
    fn load(document: &'a Document, dict: &'a Dictionary) -> lopdf::Result<Self> {
        let encoding = dict.get_font_encoding_with_limit(document, MAX_STREAM_BYTES)?;
        let base_font = dict
            .get(b"BaseFont")
            .and_then(Object::as_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        // Subset fonts are named `ABCDEF+RealName`.
        let base_font = match base_font.split_once('+') {
            Some((prefix, rest)) if prefix.len() == 6 => rest.to_owned(),
            _ => base_font,
        };
        let subtype = dict.get(b"Subtype").and_then(Object::as_name).ok();
        let mut font = PdfFont {
            encoding,
            two_byte: subtype == Some(b"Type0".as_slice()),
            first_char: 0,
            widths: Vec::new(),
            cid_widths: HashMap::new(),
            default_width: 500.0,
            base_font,
        };
        if font.two_byte {
            font.default_width = 1000.0;
            let descendant = dict
                .get_deref(b"DescendantFonts", document)
                .and_then(Object::as_array)
                .ok()
                .and_then(|a| a.first())
                .and_then(|d| document.dereference(d).ok())
                .and_then(|(_, d)| d.as_dict().ok());
            if let Some(descendant) = descendant {
                if let Some(dw) = descendant.get_deref(b"DW", document).ok().and_then(number) {
                    font.default_width = dw;
                }
                if let Ok(w) = descendant
                    .get_deref(b"W", document)
                    .and_then(Object::as_array)
                {
                    font.cid_widths = cid_widths(document, w);
                }
            }
        } else {
            font.first_char = dict
                .get(b"FirstChar")
                .ok()
                .and_then(number)
                .map_or(0, |f| f.max(0.0) as u32);
            if let Ok(widths) = dict
                .get_deref(b"Widths", document)
                .and_then(Object::as_array)
            {
                font.widths = widths
                    .iter()
                    .map(|w| document.dereference(w).ok().and_then(|(_, w)| number(w)))
                    .map(|w| w.unwrap_or(0.0))
                    .collect();
            }
            if let Some(missing) = dict
                .get_deref(b"FontDescriptor", document)
                .and_then(Object::as_dict)
                .ok()
                .and_then(|d| d.get(b"MissingWidth").ok())
                .and_then(number)
            {
                font.default_width = missing;
            }
        }
        Ok(font)
    }

    /// The width of `code`, in thousandths of the font size.
    fn width(&self, code: u32) -> f64 {
        if self.two_byte {
            return self
                .cid_widths
                .get(&code)
                .copied()
                .unwrap_or(self.default_width);
        }
        let listed = code
            .checked_sub(self.first_char)
            .and_then(|i| self.widths.get(i as usize))
            .copied();
        match listed {
            Some(w) if w > 0.0 => w,
            _ => u8::try_from(code)
                .ok()
                .and_then(|c| pdf_metrics::standard_width(&self.base_font, c))
                .unwrap_or(self.default_width),
        }
    }
}

/// `/W` of a CID font: `c [w1 w2 …]` and `c_first c_last w` entries (at most
/// [`MAX_CID_WIDTHS`] widths in all, so a hostile array cannot keep the parser busy).
fn cid_widths(document: &Document, w: &[Object]) -> HashMap<u32, f64> {
    let mut out = HashMap::new();
    let mut budget = MAX_CID_WIDTHS;
    let mut i = 0;
    while i < w.len() && budget > 0 {
        let Some(first) = number(&w[i]) else { break };
        let first = first.max(0.0) as u32;
        match w
            .get(i + 1)
            .map(|o| document.dereference(o).map(|(_, o)| o))
        {
            Some(Ok(Object::Array(list))) => {
                for (k, width) in list.iter().enumerate().take(budget) {
                    if let Some(width) = number(width) {
                        out.insert(first.saturating_add(k as u32), width);
                    }
                }
                budget = budget.saturating_sub(list.len());
                i += 2;
            }
            Some(Ok(last)) => {
                let (Some(last), Some(width)) = (number(last), w.get(i + 2).and_then(number))
                else {
                    break;
                };
                let last = last.max(0.0) as u32;
                for code in (first..=last).take(budget) {
                    out.insert(code, width);
                }
                budget = budget.saturating_sub(last.saturating_sub(first) as usize + 1);
                i += 3;
            }
            _ => break,
        }
    }
    out
}

fn number(object: &Object) -> Option<f64> {
    match object {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

/// An affine matrix `[a b c d e f]`, PDF convention (row vectors).
type Matrix = [f64; 6];
const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

fn multiply(m: &Matrix, n: &Matrix) -> Matrix {
    [
        m[0] * n[0] + m[1] * n[2],
        m[0] * n[1] + m[1] * n[3],
        m[2] * n[0] + m[3] * n[2],
        m[2] * n[1] + m[3] * n[3],
        m[4] * n[0] + m[5] * n[2] + n[4],
        m[4] * n[1] + m[5] * n[3] + n[5],
    ]
}

fn translate(tx: f64, ty: f64) -> Matrix {
    [1.0, 0.0, 0.0, 1.0, tx, ty]
}

/// The parts of the graphics state that place text (saved by `q`, restored by `Q`).
#[derive(Debug, Clone)]
struct TextState {
    ctm: Matrix,
    font: Option<Vec<u8>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    horizontal_scale: f64,
    leading: f64,
    rise: f64,
}

impl Default for TextState {
    fn default() -> Self {
        TextState {
            ctm: IDENTITY,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            horizontal_scale: 1.0,
            leading: 0.0,
            rise: 0.0,
        }
    }
}

/// The most nested `q` the interpreter keeps (deeper saves are ignored, not an error).
const MAX_STACK: usize = 64;

struct Interpreter<'f, 'a> {
    fonts: &'f HashMap<Vec<u8>, PdfFont<'a>>,
    state: TextState,
    stack: Vec<TextState>,
    tm: Matrix,
    tlm: Matrix,
    glyphs: Vec<Glyph>,
}

impl Interpreter<'_, '_> {
    fn apply(&mut self, operator: &str, operands: &[Object]) {
        let n = |i: usize| operands.get(i).and_then(number).unwrap_or(0.0);
        let matrix = || [n(0), n(1), n(2), n(3), n(4), n(5)];
        match operator {
            "q" if self.stack.len() < MAX_STACK => self.stack.push(self.state.clone()),
            "Q" => {
                if let Some(saved) = self.stack.pop() {
                    self.state = saved;
                }
            }
            "cm" if operands.len() == 6 => {
                self.state.ctm = multiply(&matrix(), &self.state.ctm);
            }
            "BT" => {
                self.tm = IDENTITY;
                self.tlm = IDENTITY;
            }
            "Tf" => {
                self.state.font = operands
                    .first()
                    .and_then(|o| o.as_name().ok())
                    .map(<[u8]>::to_vec);
                self.state.size = n(1);
            }
            "Tc" => self.state.char_spacing = n(0),
            "Tw" => self.state.word_spacing = n(0),
            "Tz" => self.state.horizontal_scale = n(0) / 100.0,
            "TL" => self.state.leading = n(0),
            "Ts" => self.state.rise = n(0),
            "Td" => self.next_line(n(0), n(1)),
            "TD" => {
                self.state.leading = -n(1);
                self.next_line(n(0), n(1));
            }
            "Tm" if operands.len() == 6 => {
                self.tm = matrix();
                self.tlm = self.tm;
            }
            "T*" => self.next_line(0.0, -self.state.leading),
            "Tj" => self.show_operand(operands.first()),
            "'" => {
                self.next_line(0.0, -self.state.leading);
                self.show_operand(operands.first());
            }
            "\"" => {
                self.state.word_spacing = n(0);
                self.state.char_spacing = n(1);
                self.next_line(0.0, -self.state.leading);
                self.show_operand(operands.get(2));
            }
            "TJ" => {
                let Some(Object::Array(items)) = operands.first() else {
                    return;
                };
                for item in items {
                    match item {
                        Object::String(bytes, _) => self.show(bytes),
                        other => {
                            if let Some(adjust) = number(other) {
                                let tx = -adjust / 1000.0
                                    * self.state.size
                                    * self.state.horizontal_scale;
                                self.tm = multiply(&translate(tx, 0.0), &self.tm);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn next_line(&mut self, tx: f64, ty: f64) {
        self.tlm = multiply(&translate(tx, ty), &self.tlm);
        self.tm = self.tlm;
    }

    fn show_operand(&mut self, operand: Option<&Object>) {
        if let Some(Object::String(bytes, _)) = operand {
            self.show(bytes);
        }
    }

    fn show(&mut self, bytes: &[u8]) {
        let fonts = self.fonts;
        let Some(font) = self.state.font.as_ref().and_then(|name| fonts.get(name)) else {
            return;
        };
        let state = &self.state;
        let code_len = if font.two_byte { 2 } else { 1 };
        for chunk in bytes.chunks(code_len) {
            let code = chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b));
            let w0 = font.width(code) / 1000.0;
            let render = multiply(&self.tm, &state.ctm);
            let text_to_page = [
                state.size * state.horizontal_scale,
                0.0,
                0.0,
                state.size,
                0.0,
                state.rise,
            ];
            let trm = multiply(&text_to_page, &render);
            let text = font
                .encoding
                .bytes_to_string(chunk)
                .unwrap_or_else(|_| "\u{FFFD}".into());
            let scale_x = render[0].hypot(render[1]);
            self.glyphs.push(Glyph {
                x: trm[4],
                y: trm[5],
                width: w0 * state.size * state.horizontal_scale * scale_x,
                size: (state.size * render[2].hypot(render[3])).abs(),
                text,
            });
            let word_spacing = if code_len == 1 && code == 32 {
                state.word_spacing
            } else {
                0.0
            };
            let tx = (w0 * state.size + state.char_spacing + word_spacing) * state.horizontal_scale;
            self.tm = multiply(&translate(tx, 0.0), &self.tm);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_layer_needs_enough_readable_characters() {
        assert!(has_text_layer(
            "Hemoglobin  13.5  g/dL  13.0-17.0\nGlucose  105 mg/dL",
            20
        ));
        assert!(!has_text_layer("Page 1 of 1", 20));
        assert!(!has_text_layer(&"\u{FFFD}\u{2022}".repeat(40), 20));
    }

    #[test]
    fn cid_widths_read_both_forms_within_a_budget() {
        let document = Document::new();
        let w = vec![
            Object::Integer(1),
            Object::Array(vec![Object::Integer(500), Object::Real(600.5)]),
            Object::Integer(10),
            Object::Integer(12),
            Object::Integer(250),
        ];
        let widths = cid_widths(&document, &w);
        assert_eq!(widths.get(&1), Some(&500.0));
        assert_eq!(widths.get(&2), Some(&600.5));
        assert_eq!(widths.get(&12), Some(&250.0));
        assert_eq!(widths.len(), 5);
        // A range over every code stops at the budget.
        let hostile = vec![
            Object::Integer(0),
            Object::Integer(i64::from(u32::MAX)),
            Object::Integer(1),
        ];
        assert_eq!(cid_widths(&document, &hostile).len(), MAX_CID_WIDTHS);
    }

    #[test]
    fn matrices_compose_like_the_pdf_spec() {
        // Translate then scale: a point at the origin lands at (20, 40).
        let m = multiply(&translate(10.0, 20.0), &[2.0, 0.0, 0.0, 2.0, 0.0, 0.0]);
        assert_eq!(m, [2.0, 0.0, 0.0, 2.0, 20.0, 40.0]);
    }
}
