//! [`Ocr`] by the `tesseract` program (Debian `tesseract-ocr`), run as a subprocess: the
//! image goes in on stdin, the text comes out on stdout.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::Ocr;
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
}

impl Default for TesseractOptions {
    fn default() -> Self {
        TesseractOptions {
            program: PathBuf::from("tesseract"),
            language: "eng".into(),
            page_segmentation: 6,
            timeout: Duration::from_secs(60),
            threads: 1,
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
        let options = &self.options;
        let mut child = Command::new(&options.program)
            .arg("stdin")
            .arg("stdout")
            .arg("-l")
            .arg(&options.language)
            .arg("--psm")
            .arg(options.page_segmentation.to_string())
            // Keep runs of spaces between columns, so cells stay apart.
            .arg("-c")
            .arg("preserve_interword_spaces=1")
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
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
