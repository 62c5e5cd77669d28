//! The text stage on the generated fixtures (`tests/fixtures`, made by `tools/labgen`): text
//! PDFs through the text layer, scans and photos through OCR, poison files refused.
//!
//! The tests that run tesseract need `MEDILINK_TEST_OCR` set (CI sets it and installs
//! `tesseract-ocr`); without it they return early.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use medilink_ingest::text::{
    DefaultTextExtractor, DocumentText, Ocr, TesseractOcr, TextExtractor, TextOrigin,
};
use medilink_ingest::{DocumentKind, IngestError, IngestResult};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The fixture documents whose name contains `kind` (`-text-`, `-scan-`, `-photo-`), sorted.
fn documents(kind: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.contains(kind) && !name.ends_with(".json") && !name.ends_with(".md")
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no {kind} fixtures");
    found
}

fn ground_truth(document: &Path) -> Value {
    let text = std::fs::read_to_string(document.with_extension("json")).expect("ground truth");
    serde_json::from_str(&text).expect("ground truth is JSON")
}

fn results(truth: &Value) -> &[Value] {
    truth["results"].as_array().expect("results")
}

fn field<'a>(result: &'a Value, name: &str) -> &'a str {
    result[name].as_str().unwrap_or_default()
}

/// An OCR double: remembers the size of every image it is given and answers with a fixed line.
#[derive(Debug, Default)]
struct FixtureOcr {
    seen: Mutex<Vec<(u32, u32)>>,
}

#[async_trait]
impl Ocr for FixtureOcr {
    async fn recognize(&self, image: &[u8]) -> IngestResult<String> {
        let decoded = image::load_from_memory_with_format(image, image::ImageFormat::Png)
            .expect("the OCR engine is given PNG");
        self.seen
            .lock()
            .expect("lock")
            .push((decoded.width(), decoded.height()));
        Ok("Glucose  105  mg/dL  70-99  H".into())
    }
}

async fn text_of(path: &Path, ocr: Arc<dyn Ocr>) -> IngestResult<DocumentText> {
    let bytes = std::fs::read(path).expect("fixture");
    let kind = DocumentKind::detect(&bytes)?;
    DefaultTextExtractor::new(ocr).text(&bytes, kind).await
}

/// The report date in the three styles the generator prints.
fn date_styles(iso: &str) -> [String; 3] {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, rest) = iso.split_at(4);
    let month: usize = rest[1..3].parse().expect("month");
    let day = &rest[4..6];
    [
        iso.to_owned(),
        format!("{}/{day}/{year}", &rest[1..3]),
        format!("{day} {} {year}", MONTHS[month - 1]),
    ]
}

#[tokio::test]
async fn text_pdfs_come_from_the_text_layer_with_cells_apart() {
    let mut multi_page = 0;
    for path in documents("-text-") {
        let ocr = Arc::new(FixtureOcr::default());
        let text = text_of(&path, ocr.clone()).await.expect("text");
        let name = path.display();
        assert_eq!(text.origin, TextOrigin::TextLayer, "{name}");
        assert!(ocr.seen.lock().expect("lock").is_empty(), "{name}: no OCR");
        if text.pages.len() > 1 {
            multi_page += 1;
        }
        let truth = ground_truth(&path);
        let all = text.pages.join("\n");
        assert!(
            all.contains(truth["patient_name"].as_str().unwrap_or("?")),
            "{name}"
        );
        let dates = date_styles(truth["report_date"].as_str().expect("date"));
        assert!(
            dates.iter().any(|d| text.pages[0].contains(d.as_str())),
            "{name}: date"
        );
        let layout = truth["layout"].as_str().unwrap_or_default();
        for result in results(&truth) {
            let (test, value, unit) = (
                field(result, "printed_name"),
                field(result, "value_text"),
                field(result, "printed_unit"),
            );
            // The line of this result: the test name, then its value and unit.
            let line = all
                .lines()
                .find(|l| {
                    l.trim_start().starts_with(test)
                        && l[l.find(test).unwrap_or(0) + test.len()..]
                            .split_whitespace()
                            .any(|w| w == value || w == format!("{value}:"))
                })
                .unwrap_or_else(|| panic!("{name}: no line for {test} = {value}\n{all}"));
            assert!(line.contains(unit), "{name}: {line:?} lacks {unit}");
            if layout != "b" {
                // Table layouts: the name and value cells are at least two spaces apart.
                let after_name = &line[line.find(test).unwrap_or(0) + test.len()..];
                let between = &after_name[..after_name.find(value).unwrap_or(0)];
                assert!(
                    between.trim_matches('.').contains("  ") || between.contains(".  "),
                    "{name}: cells run together in {line:?}"
                );
            }
        }
    }
    assert!(multi_page >= 1, "a long report runs over two pages");
}

#[tokio::test]
async fn scans_and_photos_go_to_ocr_page_by_page_cleaned_up() {
    let mut paths = documents("-scan-");
    paths.extend(documents("-photo-"));
    for path in paths {
        let ocr = Arc::new(FixtureOcr::default());
        let text = text_of(&path, ocr.clone()).await.expect("text");
        let name = path.display();
        assert_eq!(text.origin, TextOrigin::Ocr, "{name}");
        let seen = ocr.seen.lock().expect("lock").clone();
        assert_eq!(
            seen.len(),
            text.pages.len(),
            "{name}: one OCR call per page"
        );
        // Low-resolution pages are scaled to the OCR width.
        assert!(seen.iter().all(|(w, _)| *w == 2400), "{name}: {seen:?}");
        assert!(text.pages.iter().all(|p| p.contains("Glucose")));
    }
}

#[tokio::test]
async fn poison_files_fail_cleanly_and_fast() {
    let mut checked = 0;
    for entry in std::fs::read_dir(fixtures().join("poison")).expect("poison fixtures") {
        let path = entry.expect("entry").path();
        let started = Instant::now();
        let outcome = text_of(&path, Arc::new(FixtureOcr::default())).await;
        let elapsed = started.elapsed();
        let name = path.display();
        match outcome {
            Err(IngestError::Unreadable(message)) => assert!(!message.is_empty(), "{name}"),
            Err(IngestError::UnsupportedType(message)) => {
                assert!(name.to_string().contains("zip"), "{name}: {message}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert!(elapsed < Duration::from_secs(2), "{name} took {elapsed:?}");
        checked += 1;
    }
    assert!(checked >= 7, "poison fixtures missing");
}

#[tokio::test]
async fn a_zip_renamed_pdf_is_named_as_a_zip_archive() {
    let err = text_of(
        &fixtures().join("poison/zip-renamed.pdf"),
        Arc::new(FixtureOcr::default()),
    )
    .await
    .expect_err("not a PDF");
    assert!(err.to_string().contains("ZIP archive"), "{err}");
}

/// The words of OCR output, split at whitespace and brackets.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "()[]".contains(c))
        .map(|t| t.trim_matches(|c: char| c == ':' || c == ',').to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether `value` was read: a word that is the value, or starts with it and goes on with a
/// unit (`38%`, `105mg/dL`; not `20-50`, a range).
fn value_read(words: &[String], value: &str) -> bool {
    words.iter().any(|w| {
        w.strip_prefix(value).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with(|c: char| c.is_alphabetic() || "%µ".contains(c))
        })
    })
}

/// A line for comparing: dot leaders dropped, whitespace collapsed.
fn normalise(line: &str) -> Vec<char> {
    let mut out = String::new();
    let mut dots = 0;
    for c in line.chars().chain(std::iter::once(' ')) {
        if c == '.' {
            dots += 1;
            continue;
        }
        match dots {
            0 => {}
            1 | 2 => out.extend(std::iter::repeat_n('.', dots)),
            _ => out.push(' '),
        }
        dots = 0;
        out.push(c);
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .collect()
}

/// The fewest edits that turn `needle` into some part of `haystack` (approximate substring).
fn substring_distance(needle: &[char], haystack: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=needle.len()).collect();
    let mut current = vec![0; needle.len() + 1];
    let mut best = needle.len();
    for h in haystack {
        current[0] = 0;
        for i in 1..=needle.len() {
            let substitute = previous[i - 1] + usize::from(needle[i - 1] != *h);
            current[i] = substitute.min(previous[i] + 1).min(current[i - 1] + 1);
        }
        best = best.min(current[needle.len()]);
        std::mem::swap(&mut previous, &mut current);
    }
    best
}

#[test]
fn substring_distance_counts_edits_to_the_closest_part() {
    let d = |a: &str, b: &str| substring_distance(&normalise(a), &normalise(b));
    assert_eq!(d("HGB 13.5 g/dL", "x  HGB ........ 13.5   g/dL  13-17"), 0);
    assert_eq!(d("HGB 13.5 g/dL", "HG8 13.5 g/dl"), 2);
    assert_eq!(d("abc", ""), 3);
    assert!(value_read(&tokens("TSAT 38% 20-50"), "38"));
    assert!(!value_read(&tokens("TSAT 380 20-50"), "38"));
    assert!(!value_read(&tokens("TSAT 38.5"), "38"));
    assert!(!value_read(&tokens("TSAT 20-50"), "20"));
}

/// Character accuracy of the result lines: for each ground-truth result, `name value unit`
/// against the closest part of any OCR line; 1 − edits / characters.
fn character_accuracy(pages: &str, truth: &Value) -> (usize, usize) {
    let lines: Vec<Vec<char>> = pages.lines().map(normalise).collect();
    let (mut edits, mut characters) = (0, 0);
    for result in results(truth) {
        let expected: Vec<char> = format!(
            "{} {} {}",
            field(result, "printed_name"),
            field(result, "value_text"),
            field(result, "printed_unit")
        )
        .trim()
        .chars()
        .collect();
        edits += lines
            .iter()
            .map(|l| substring_distance(&expected, l))
            .min()
            .unwrap_or(expected.len());
        characters += expected.len();
    }
    (edits, characters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tesseract_reads_the_values_of_scans_and_photos() {
    if std::env::var_os("MEDILINK_TEST_OCR").is_none() {
        return;
    }
    let ocr: Arc<dyn Ocr> = Arc::new(TesseractOcr::default());
    // Two documents at a time: one tesseract thread each, on a two-core machine.
    let permits = Arc::new(tokio::sync::Semaphore::new(2));
    for kind in ["-scan-", "-photo-"] {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for path in documents(kind) {
            let (ocr, permits) = (ocr.clone(), permits.clone());
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.expect("semaphore");
                let text = text_of(&path, ocr).await.expect("OCR");
                (path, text.pages.join("\n"))
            });
        }
        let (mut found, mut total, mut edits, mut characters) = (0, 0, 0, 0);
        while let Some(done) = tasks.join_next().await {
            let (path, all) = done.expect("task");
            let words = tokens(&all);
            let truth = ground_truth(&path);
            let values: Vec<&str> = results(&truth)
                .iter()
                .map(|r| field(r, "value_text"))
                .collect();
            let hits = values.iter().filter(|v| value_read(&words, v)).count();
            let name = path.display();
            // Every document is mostly read, and the kind as a whole at least 90 %.
            assert!(
                hits * 10 >= values.len() * 6,
                "{name}: {hits}/{} values\n{all}",
                values.len()
            );
            let (e, c) = character_accuracy(&all, &truth);
            found += hits;
            total += values.len();
            edits += e;
            characters += c;
        }
        let accuracy = 1.0 - edits as f64 / characters as f64;
        eprintln!(
            "{kind}: {found}/{total} values read, character accuracy {:.1} %, {:.1} s",
            accuracy * 100.0,
            started.elapsed().as_secs_f64()
        );
        assert!(
            found * 10 >= total * 9,
            "{kind}: only {found}/{total} values read"
        );
        assert!(accuracy >= 0.85, "{kind}: character accuracy {accuracy:.3}");
    }
}

/// A two-page PDF: page 1 has a text layer (two table rows), page 2 only an image.
fn mixed_pdf() -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};

    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let mut text_ops = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), 10.into()]),
    ];
    for (row, cells) in [
        ["Hemoglobin", "13.5", "g/dL", "13.0-17.0"],
        ["Glucose, fasting", "105", "mg/dL", "70-99"],
    ]
    .iter()
    .enumerate()
    {
        for (column, cell) in cells.iter().enumerate() {
            let (x, y) = (50 + 150 * column as i64, 700 - 14 * row as i64);
            text_ops.push(Operation::new(
                "Tm",
                vec![1.into(), 0.into(), 0.into(), 1.into(), x.into(), y.into()],
            ));
            text_ops.push(Operation::new("Tj", vec![Object::string_literal(*cell)]));
        }
    }
    text_ops.push(Operation::new("ET", vec![]));
    let text_content = Content {
        operations: text_ops,
    };
    let text_stream = doc.add_object(Stream::new(
        dictionary! {},
        text_content.encode().expect("content"),
    ));
    let (width, height) = (300i64, 100i64);
    let pixels: Vec<u8> = (0..width * height)
        .map(|i| {
            if (i % width) % 20 < 10 && (i / width) % 30 < 12 {
                0
            } else {
                255
            }
        })
        .collect();
    let image_id = doc.add_object(Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => width, "Height" => height,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
        },
        pixels,
    ));
    let image_stream = doc.add_object(Stream::new(
        dictionary! {},
        b"q 612 0 0 792 0 0 cm /Im0 Do Q".to_vec(),
    ));
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
        "XObject" => dictionary! { "Im0" => image_id },
    });
    let kids: Vec<Object> = [text_stream, image_stream]
        .into_iter()
        .map(|contents| {
            doc.add_object(dictionary! {
                "Type" => "Page", "Parent" => pages_id, "Contents" => contents,
                "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
                "Resources" => resources,
            })
            .into()
        })
        .collect();
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => 2 }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}

#[tokio::test]
async fn each_pdf_page_is_read_its_own_way() {
    let bytes = mixed_pdf();
    let ocr = Arc::new(FixtureOcr::default());
    let text = DefaultTextExtractor::new(ocr.clone())
        .text(&bytes, DocumentKind::detect(&bytes).expect("a PDF"))
        .await
        .expect("text");
    assert_eq!(text.origin, TextOrigin::Mixed);
    assert_eq!(text.pages.len(), 2);
    let rows: Vec<Vec<&str>> = text.pages[0]
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows,
        [
            ["Hemoglobin", "13.5", "g/dL", "13.0-17.0"],
            ["Glucose, fasting", "105", "mg/dL", "70-99"],
        ]
    );
    assert_eq!(
        ocr.seen.lock().expect("lock").len(),
        1,
        "only page 2 is OCRed"
    );
    assert_eq!(text.pages[1], "Glucose  105  mg/dL  70-99  H");
}

/// A one-page PDF whose content stream is `content`, with Helvetica as `/F1`.
fn one_page_pdf(content: Vec<u8>) -> Vec<u8> {
    use lopdf::{Document, Object, Stream, dictionary};

    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let contents = doc.add_object(Stream::new(dictionary! {}, content));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => contents,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(
            dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
        ),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save");
    out
}

#[tokio::test]
async fn a_page_placing_millions_of_glyphs_is_refused() {
    let mut content = b"BT /F1 1 Tf (".to_vec();
    content.extend(std::iter::repeat_n(b'x', 300_000));
    content.extend(b") Tj ET");
    let bytes = one_page_pdf(content);
    let started = Instant::now();
    let err = DefaultTextExtractor::new(Arc::new(FixtureOcr::default()))
        .text(&bytes, DocumentKind::Pdf)
        .await
        .expect_err("refused");
    assert!(matches!(err, IngestError::Unreadable(_)), "{err}");
    assert!(err.to_string().contains("glyphs"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn scaled_and_kerned_text_keeps_its_reading_order() {
    // Text drawn through a scaled CTM, with TJ kerning and T* line moves.
    let content = b"q 2 0 0 2 0 0 cm BT /F1 5 Tf 12 TL 25 380 Td \
        [(Hemo) -20 (globin)] TJ 60 0 Td (13.5) Tj T* (next line) Tj ET Q"
        .to_vec();
    let bytes = one_page_pdf(content);
    let text = medilink_ingest::text::DefaultTextExtractor::with_options(
        Arc::new(FixtureOcr::default()),
        medilink_ingest::text::TextOptions {
            min_text_chars: 5,
            ..Default::default()
        },
    )
    .text(&bytes, DocumentKind::Pdf)
    .await
    .expect("text");
    let lines: Vec<&str> = text.pages[0].lines().collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("Hemoglobin  "), "{lines:?}");
    assert!(lines[0].ends_with("13.5"), "{lines:?}");
    assert_eq!(lines[1], "next line");
}
