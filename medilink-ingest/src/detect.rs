//! Content detection by magic bytes (never by file name).

use serde::{Deserialize, Serialize};

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
}
