//! TOTP (RFC 6238 via totp-rs: SHA-1, 6 digits, 30 s steps, ±1 step of skew), the enrolment
//! QR code (SVG) and one-time backup codes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use totp_rs::{Algorithm, TOTP};

use super::crypto::random_bytes;

/// How many backup codes enrolment hands out.
pub const BACKUP_CODES: usize = 10;

/// The issuer shown in authenticator apps.
const ISSUER: &str = "MediLink";

/// A TOTP generator for `secret`, labelled with `account` (no `:` allowed: replaced).
pub fn totp(secret: &[u8], account: &str) -> TOTP {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        account.replace(':', "_"),
    )
    .expect("invariant: 20-byte secrets and 6 digits are valid")
}

/// A fresh 160-bit secret.
pub fn new_secret() -> Vec<u8> {
    random_bytes::<20>().to_vec()
}

/// Whether `code` is valid for `secret` at Unix time `now`.
pub fn check(secret: &[u8], code: &str, now: i64) -> bool {
    let code = code.trim();
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && totp(secret, "x").check(code, u64::try_from(now).unwrap_or(0))
}

/// The otpauth URI and an SVG QR code of it as a `data:` URL.
pub fn enrolment(secret: &[u8], account: &str) -> (String, String) {
    let uri = totp(secret, account).get_url();
    let svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(200, 200)
                .build()
        })
        .unwrap_or_default();
    (
        uri,
        format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg)),
    )
}

/// Ten fresh backup codes (`xxxxx-xxxxx`, lowercase base32-like alphabet).
pub fn new_backup_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..BACKUP_CODES)
        .map(|_| {
            let bytes = random_bytes::<10>();
            let chars: String = bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// The canonical form of a typed backup code.
pub fn normalize_backup_code(code: &str) -> String {
    code.trim().to_lowercase().replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_check_within_skew_and_enrolment_has_a_qr() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = totp(&secret, "a").generate(now as u64);
        assert!(check(&secret, &code, now));
        assert!(check(&secret, &code, now + 30));
        assert!(!check(&secret, &code, now + 120));
        assert!(!check(&secret, "12345", now));
        let (uri, qr) = enrolment(&secret, "someone@example.org");
        assert!(uri.starts_with("otpauth://totp/MediLink:"));
        assert!(qr.starts_with("data:image/svg+xml;base64,"));
        let codes = new_backup_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes[0].len(), 11);
    }
}
