//! `encode`/`decode` (`base64`, `urlbase64`, `hex`) and `escape`/`unescape` (`html`, `json`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// Applies `function` (`encode`, `decode`, `escape`, `unescape`) with `format` to `text`;
/// `None` when the format is unknown or the input does not decode.
pub(crate) fn apply(function: &str, format: &str, text: &str) -> Option<String> {
    match (function, format) {
        ("encode", "base64") => Some(STANDARD.encode(text)),
        ("encode", "urlbase64") => Some(URL_SAFE.encode(text)),
        ("encode", "hex") => Some(text.bytes().map(|b| format!("{b:02x}")).collect()),
        ("decode", "base64") => String::from_utf8(STANDARD.decode(text).ok()?).ok(),
        ("decode", "urlbase64") => String::from_utf8(URL_SAFE.decode(text).ok()?).ok(),
        ("decode", "hex") => {
            let bytes: Option<Vec<u8>> = (0..text.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
                .collect();
            String::from_utf8(bytes?).ok()
        }
        ("escape", "html") => Some(
            text.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
                .replace('\'', "&#39;"),
        ),
        ("unescape", "html") => Some(
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&"),
        ),
        ("escape", "json") => Some(text.replace('\\', "\\\\").replace('"', "\\\"")),
        ("unescape", "json") => Some(text.replace("\\\"", "\"").replace("\\\\", "\\")),
        _ => None,
    }
}
