//! The OCR engine the harnesses use: the `tesseract` program through its command line
//! (a stand-in until the crate's own engine is merged from the text stage).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use async_trait::async_trait;
use medilink_ingest::IngestError;
use medilink_ingest::text::Ocr;

/// `tesseract - - --psm 6` on the image bytes.
#[derive(Debug, Default)]
pub(crate) struct CommandOcr;

#[async_trait]
impl Ocr for CommandOcr {
    async fn recognize(&self, image: &[u8]) -> Result<String, IngestError> {
        let image = image.to_vec();
        tokio::task::spawn_blocking(move || {
            let failed = |message: String| IngestError::Stage {
                stage: "ocr",
                message,
                retryable: false,
            };
            let mut child = Command::new("tesseract")
                .args(["-", "-", "--psm", "6"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| failed(format!("tesseract cannot be started: {e}")))?;
            child
                .stdin
                .take()
                .ok_or_else(|| failed("no stdin".into()))?
                .write_all(&image)
                .map_err(|e| failed(format!("tesseract input: {e}")))?;
            let output = child
                .wait_with_output()
                .map_err(|e| failed(format!("tesseract: {e}")))?;
            if !output.status.success() {
                return Err(failed(format!("tesseract exited with {}", output.status)));
            }
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        })
        .await
        .map_err(|_| IngestError::Stage {
            stage: "ocr",
            message: "the OCR task failed".into(),
            retryable: false,
        })?
    }
}

/// The engine to use.
pub(crate) fn default_ocr() -> Arc<dyn Ocr> {
    Arc::new(CommandOcr)
}
