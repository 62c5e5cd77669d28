//! Keyed pseudonyms for resource ids and references (HMAC-SHA256, hex, truncated to 128 bits).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Hex digits kept of the HMAC: 128 bits, a valid FHIR id (`[A-Za-z0-9\-\.]{1,64}`).
const PSEUDONYM_HEX_LEN: usize = 32;

/// The keyed pseudonymiser. Its `Debug` output never shows the key.
#[derive(Clone)]
pub(super) struct Pseudonymizer {
    mac: HmacSha256,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer { key: <redacted> }")
    }
}

impl Pseudonymizer {
    pub(super) fn new(key: &[u8; 32]) -> Self {
        let mac = HmacSha256::new_from_slice(key).expect("invariant: HMAC accepts any key length");
        Pseudonymizer { mac }
    }

    fn digest_hex(&self, input: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(input.as_bytes());
        let bytes = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(bytes.len() * 2);
        for byte in bytes {
            hex.push_str(&format!("{byte:02x}"));
        }
        hex
    }

    /// The pseudonym of the resource `resource_type/id`: the same pair always gives the same id.
    pub(super) fn id(&self, resource_type: &str, id: &str) -> String {
        let mut hex = self.digest_hex(&format!("{resource_type}/{id}"));
        hex.truncate(PSEUDONYM_HEX_LEN);
        hex
    }

    /// The pseudonym of a `urn:uuid:` reference, itself a `urn:uuid:` (lowercase, 8-4-4-4-12).
    fn uuid(&self, uuid: &str) -> String {
        let hex = self.digest_hex(&format!("urn:uuid:{}", uuid.to_ascii_lowercase()));
        format!(
            "urn:uuid:{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }

    /// The rewritten `Reference.reference`, or `None` when it must be dropped.
    ///
    /// - `Type/id` and `Type/id/_history/v` → `Type/{pseudonym}` (the version is dropped);
    /// - `http(s)://base/…/Type/id[/_history/v]` → `Type/{pseudonym}` (the base URL names the
    ///   source system, so it goes too);
    /// - `urn:uuid:…` → `urn:uuid:{pseudonym}`;
    /// - `#local` → `#c1`, … the new id of the contained resource `local` when it is exported,
    ///   else dropped;
    /// - anything else (conditional references with search parameters, `urn:oid:`, …) → dropped.
    pub(super) fn reference(
        &self,
        reference: &str,
        kept_contained: &[(String, String)],
    ) -> Option<String> {
        if let Some(local) = reference.strip_prefix('#') {
            return kept_contained
                .iter()
                .find(|(id, _)| id == local)
                .map(|(_, new_id)| format!("#{new_id}"));
        }
        if let Some(uuid) = reference.strip_prefix("urn:uuid:") {
            return is_uuid(uuid).then(|| self.uuid(uuid));
        }
        let path = match reference.split_once("://") {
            Some((scheme, rest)) if scheme == "http" || scheme == "https" => rest,
            Some(_) => return None,
            None => reference,
        };
        if path.contains(['?', '#']) {
            return None;
        }
        let mut segments: Vec<&str> = path.split('/').collect();
        if segments.len() >= 4 && segments[segments.len() - 2] == "_history" {
            segments.truncate(segments.len() - 2);
        }
        let [.., resource_type, id] = segments.as_slice() else {
            return None;
        };
        (is_type_name(resource_type) && is_fhir_id(id))
            .then(|| format!("{resource_type}/{}", self.id(resource_type, id)))
    }
}

fn is_type_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A FHIR `id`: `[A-Za-z0-9\-\.]{1,64}`.
pub(super) fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
