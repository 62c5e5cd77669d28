//! Content detection by magic bytes (never by file name).

use serde::{Deserialize, Serialize};

use crate::error::{IngestError, IngestResult};

/// The document types the pipeline accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocumentKind {
    /// `%PDF-`
    Pdf,
    /// `\x89PNG\r\n\x1a\n`
    Png,
    /// `\xFF\xD8\xFF`
    Jpeg,
}

impl DocumentKind {
    /// The kind of `bytes`, from their first bytes; `None` for anything else.
    pub fn sniff(bytes: &[u8]) -> Option<DocumentKind> {
        if bytes.starts_with(b"%PDF-") {
            Some(DocumentKind::Pdf)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(DocumentKind::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(DocumentKind::Jpeg)
        } else {
            None
        }
    }

    /// Like [`DocumentKind::sniff`], with an error that says what the bytes are instead: an
    /// empty file is [`IngestError::Unreadable`], other formats [`IngestError::UnsupportedType`].
    pub fn detect(bytes: &[u8]) -> IngestResult<DocumentKind> {
        if bytes.is_empty() {
            return Err(IngestError::Unreadable("the document is empty".into()));
        }
        DocumentKind::sniff(bytes).ok_or_else(|| {
            IngestError::UnsupportedType(match Self::known_other(bytes) {
                Some(what) => format!("{what}, not a PDF, PNG or JPEG"),
                None => "not a PDF, PNG or JPEG".into(),
            })
        })
    }

    /// Formats people upload by mistake, named for the error message.
    fn known_other(bytes: &[u8]) -> Option<&'static str> {
        const KNOWN: [(&[u8], &str); 8] = [
            (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
            (b"\xD0\xCF\x11\xE0", "an old Microsoft Office document"),
            (b"GIF8", "a GIF image"),
            (b"II*\0", "a TIFF image"),
            (b"MM\0*", "a TIFF image"),
            (b"RIFF", "a RIFF file (WebP image, WAV or AVI)"),
            (b"\x1F\x8B", "a gzip archive"),
            (b"{\\rtf", "an RTF document"),
        ];
        KNOWN
            .iter()
            .find(|(magic, _)| bytes.starts_with(magic))
            .map(|(_, what)| *what)
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            DocumentKind::Pdf => "application/pdf",
            DocumentKind::Png => "image/png",
            DocumentKind::Jpeg => "image/jpeg",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_not_name() {
        assert_eq!(DocumentKind::sniff(b"%PDF-1.7\n"), Some(DocumentKind::Pdf));
        assert_eq!(
            DocumentKind::sniff(b"\x89PNG\r\n\x1a\n\0\0"),
            Some(DocumentKind::Png)
        );
        assert_eq!(
            DocumentKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(DocumentKind::Jpeg)
        );
        assert_eq!(DocumentKind::sniff(b"PK\x03\x04"), None);
        assert_eq!(DocumentKind::sniff(b""), None);
    }

    #[test]
    fn detect_says_what_the_bytes_are_instead() {
        assert_eq!(
            DocumentKind::detect(b"%PDF-1.4").unwrap(),
            DocumentKind::Pdf
        );
        let empty = DocumentKind::detect(b"").unwrap_err();
        assert!(matches!(empty, IngestError::Unreadable(_)), "{empty}");
        let zip = DocumentKind::detect(b"PK\x03\x04rest").unwrap_err();
        assert!(
            matches!(&zip, IngestError::UnsupportedType(m) if m.contains("ZIP")),
            "{zip}"
        );
        let text = DocumentKind::detect(b"hello").unwrap_err();
        assert!(matches!(&text, IngestError::UnsupportedType(m) if m == "not a PDF, PNG or JPEG"));
    }
}
