//! [`Ocr`] by the `tesseract` program (Debian `tesseract-ocr`), run as a subprocess: the
//! image goes in on stdin, TSV (words, boxes, lines) comes out on stdout.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{Ocr, OcrPage, Word};
use crate::error::{IngestError, IngestResult};

/// How to run tesseract.
#[derive(Debug, Clone, PartialEq)]
pub struct TesseractOptions {
    /// The program; `tesseract` is looked up on `PATH`.
    pub program: PathBuf,
    /// Language models (`-l`), e.g. `eng`.
    pub language: String,
    /// Page segmentation mode (`--psm`). 6 ("a single uniform block of text") reads the
    /// fixtures best, because it keeps every table row on one line; see the crate README for
    /// the measurements.
    pub page_segmentation: u8,
    /// How long one page may take.
    pub timeout: Duration,
    /// Threads tesseract may use (`OMP_THREAD_LIMIT`); 1 lets pages run side by side.
    pub threads: u8,
    /// The resolution to assume (`--dpi`); 0 lets tesseract estimate it from the text size
    /// (the page images it is given carry none).
    pub dpi: u32,
    /// Further tesseract variables (`-c name=value`), e.g. `thresholding_method=2` (Sauvola).
    pub variables: Vec<(String, String)>,
}

impl Default for TesseractOptions {
    fn default() -> Self {
        TesseractOptions {
            program: PathBuf::from("tesseract"),
            language: "eng".into(),
            page_segmentation: 6,
            timeout: Duration::from_secs(60),
            threads: 1,
            dpi: 0,
            variables: Vec::new(),
        }
    }
}

/// OCR by the `tesseract` program.
#[derive(Debug, Clone, Default)]
pub struct TesseractOcr {
    options: TesseractOptions,
}

impl TesseractOcr {
    /// Tesseract run with `options`.
    pub fn new(options: TesseractOptions) -> Self {
        TesseractOcr { options }
    }

    fn failure(message: String, retryable: bool) -> IngestError {
        IngestError::Stage {
            stage: "ocr",
            message,
            retryable,
        }
    }
}

#[async_trait]
impl Ocr for TesseractOcr {
    async fn recognize(&self, image: &[u8]) -> IngestResult<String> {
        Ok(self.recognize_page(image).await?.text)
    }

    /// Tesseract's TSV output: every word with its box and the line it belongs to. The text
    /// is rebuilt from it, one line per tesseract line, a gap wider than the line's height
    /// becoming two or more spaces (one per half height), as with
    /// `preserve_interword_spaces`.
    async fn recognize_page(&self, image: &[u8]) -> IngestResult<OcrPage> {
        let options = &self.options;
        let mut command = Command::new(&options.program);
        command
            .arg("stdin")
            .arg("stdout")
            .arg("-l")
            .arg(&options.language)
            .arg("--psm")
            .arg(options.page_segmentation.to_string())
            // Keep runs of spaces between columns, so cells stay apart.
            .arg("-c")
            .arg("preserve_interword_spaces=1");
        if options.dpi > 0 {
            command.arg("--dpi").arg(options.dpi.to_string());
        }
        for (name, value) in &options.variables {
            command.arg("-c").arg(format!("{name}={value}"));
        }
        let mut child = command
            .arg("tsv")
            .env("OMP_THREAD_LIMIT", options.threads.max(1).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Self::failure(
                        format!(
                            "the OCR program `{}` is not installed (Debian: apt-get install tesseract-ocr)",
                            options.program.display()
                        ),
                        false,
                    )
                } else {
                    Self::failure(format!("the OCR program cannot be started: {e}"), false)
                }
            })?;
        let Some(mut stdin) = child.stdin.take() else {
            return Err(Self::failure("the OCR program has no input".into(), false));
        };
        let image = image.to_vec();
        // Feed stdin while stdout is read, so neither pipe fills up and blocks the other.
        let writer = tokio::spawn(async move {
            let written = stdin.write_all(&image).await;
            drop(stdin);
            written
        });
        let output = match tokio::time::timeout(options.timeout, child.wait_with_output()).await {
            Ok(output) => {
                output.map_err(|e| Self::failure(format!("the OCR program failed: {e}"), true))?
            }
            // Dropping the future drops the child, which kills it.
            Err(_) => {
                return Err(Self::failure(
                    format!(
                        "the OCR program took longer than {} s",
                        options.timeout.as_secs()
                    ),
                    true,
                ));
            }
        };
        // A write error means tesseract stopped reading: its exit status says why.
        let _ = writer.await;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let reason = stderr
                .lines()
                .find(|l| l.contains("Error") || l.contains("error") || l.contains("Failed"))
                .unwrap_or_else(|| stderr.lines().next().unwrap_or(""));
            return Err(Self::failure(
                format!("the OCR program failed ({}): {reason}", output.status),
                false,
            ));
        }
        Ok(parse_tsv(&String::from_utf8_lossy(&output.stdout)))
    }
}

/// One tesseract line: (page, block, paragraph, line) and its words.
type OcrLine = ((u32, u32, u32, u32), Vec<Word>);

/// Turns the word boxes level when the page image was still skewed: tesseract finds tilted
/// lines, but reports boxes in image coordinates. The median slope of the lines' word centres
/// (lines of three or more words) is the skew; every box is moved as if the page were turned
/// back by it (small-angle rotation about the origin).
fn level_words(lines: &mut [OcrLine]) {
    let mut slopes: Vec<f64> = lines
        .iter()
        .filter(|(_, words)| words.len() >= 3)
        .filter_map(|(_, words)| {
            let points: Vec<(f64, f64)> = words
                .iter()
                .map(|w| ((w.x0 + w.x1) / 2.0, w.bottom))
                .collect();
            let n = points.len() as f64;
            let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
            let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
            let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
            let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
            (sxx > 0.0).then(|| sxy / sxx)
        })
        .filter(|slope| slope.abs() < 0.2)
        .collect();
    if slopes.len() < 3 {
        return;
    }
    slopes.sort_by(f64::total_cmp);
    let slope = slopes[slopes.len() / 2];
    if slope.abs() < 0.002 {
        return;
    }
    for (_, words) in lines.iter_mut() {
        for word in words {
            let cx = (word.x0 + word.x1) / 2.0;
            let cy = (word.top + word.bottom) / 2.0;
            let dx = slope * cy;
            let dy = -slope * cx;
            word.x0 += dx;
            word.x1 += dx;
            word.top += dy;
            word.bottom += dy;
        }
    }
}

/// Tesseract's TSV (level, page, block, paragraph, line, word, left, top, width, height,
/// confidence, text) as lines of text and words.
pub(crate) fn parse_tsv(tsv: &str) -> OcrPage {
    let mut lines: Vec<OcrLine> = Vec::new();
    for row in tsv.lines().skip(1) {
        let fields: Vec<&str> = row.splitn(12, '\t').collect();
        let [
            level,
            page,
            block,
            par,
            line,
            _,
            left,
            top,
            width,
            height,
            _,
            text,
        ] = fields[..]
        else {
            continue;
        };
        let text = text.trim();
        if level != "5" || text.is_empty() {
            continue;
        }
        let number = |s: &str| s.trim().parse::<f64>().ok();
        let id = |s: &str| s.trim().parse::<u32>().unwrap_or(0);
        let (Some(left), Some(top), Some(width), Some(height)) =
            (number(left), number(top), number(width), number(height))
        else {
            continue;
        };
        let key = (id(page), id(block), id(par), id(line));
        let word = Word {
            text: text.to_owned(),
            x0: left,
            x1: left + width,
            top,
            bottom: top + height,
            size: 0.0,
        };
        match lines.last_mut() {
            Some((last, words)) if *last == key => words.push(word),
            _ => lines.push((key, vec![word])),
        }
    }
    level_words(&mut lines);
    let mut page = OcrPage::default();
    let mut text_lines = Vec::with_capacity(lines.len());
    for (_, mut words) in lines {
        words.sort_by(|a, b| a.x0.total_cmp(&b.x0));
        let mut heights: Vec<f64> = words.iter().map(|w| w.bottom - w.top).collect();
        heights.sort_by(f64::total_cmp);
        let height = heights[heights.len() / 2].max(1.0);
        let mut line = String::new();
        let mut previous_end: Option<f64> = None;
        for word in &mut words {
            if let Some(end) = previous_end {
                let gap = word.x0 - end;
                if gap > height {
                    let spaces = ((gap / (0.5 * height)).round() as usize).clamp(2, 40);
                    line.extend(std::iter::repeat_n(' ', spaces));
                } else {
                    line.push(' ');
                }
            }
            line.push_str(&word.text);
            previous_end = Some(word.x1);
            word.size = 1.3 * height;
        }
        text_lines.push(line);
        page.words.extend(words);
    }
    page.text = text_lines.join("\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_becomes_lines_and_words() {
        let tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
            4\t1\t1\t1\t1\t0\t10\t10\t300\t20\t-1\t\n\
            5\t1\t1\t1\t1\t1\t10\t10\t70\t20\t96\tGlucose\n\
            5\t1\t1\t1\t1\t2\t200\t10\t30\t20\t95\t105\n\
            5\t1\t1\t1\t1\t3\t236\t12\t50\t18\t95\tmg/dL\n\
            5\t1\t1\t1\t2\t1\t10\t40\t40\t20\t90\tHGB\n";
        let page = parse_tsv(tsv);
        assert!(page.text.starts_with("Glucose  "), "{:?}", page.text);
        assert!(page.text.ends_with("105 mg/dL\nHGB"), "{:?}", page.text);
        assert_eq!(page.words.len(), 4);
        assert_eq!((page.words[1].x0, page.words[1].x1), (200.0, 230.0));
        assert!(page.words[3].top > page.words[0].bottom);
    }

    #[tokio::test]
    async fn a_missing_program_is_a_permanent_ocr_failure() {
        let ocr = TesseractOcr::new(TesseractOptions {
            program: PathBuf::from("/nonexistent/tesseract"),
            ..TesseractOptions::default()
        });
        let err = ocr.recognize(b"\x89PNG\r\n\x1a\n").await.unwrap_err();
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("not installed"), "{err}");
    }

    #[tokio::test]
    async fn a_slow_program_is_stopped_at_the_timeout() {
        // A stand-in program that ignores its arguments and hangs.
        let dir = std::env::temp_dir().join(format!("medilink-ocr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("slow-ocr");
        std::fs::write(&script, "#!/bin/sh\nsleep 5\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let ocr = TesseractOcr::new(TesseractOptions {
            program: script,
            timeout: Duration::from_millis(200),
            ..TesseractOptions::default()
        });
        let started = std::time::Instant::now();
        let err = ocr.recognize(b"image").await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
