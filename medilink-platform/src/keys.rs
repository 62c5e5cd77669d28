//! Secret keys held as base64 text: given in the configuration (flag, environment variable),
//! else read from a key file in the data directory, else — in development only — generated
//! into that file (mode 0600) so that restarts keep it. Production refuses a key it would have
//! to generate, and leaves no file behind. `medilink-server` (JWT, encryption, lookup and
//! research keys) and `medilink-worker` (the research key) resolve keys with this one function,
//! so a worker on the server's data directory finds the same keys.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Length of every key, in bytes.
pub const KEY_LEN: usize = 32;

/// Why a key could not be had. Messages name the setting (`name`), never the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not base64.
    #[error("{name}: not base64")]
    NotBase64 {
        /// The setting or file.
        name: String,
    },
    /// The text decodes to the wrong number of bytes.
    #[error("{name}: a key is {KEY_LEN} bytes (base64), got {len}")]
    Length {
        /// The setting or file.
        name: String,
        /// Bytes decoded.
        len: usize,
    },
    /// Production without a configured key.
    #[error("{name}: MEDILINK_ENV=production refuses a generated development key; configure it")]
    Production {
        /// The setting.
        name: String,
    },
    /// The key file could not be read or written.
    #[error("key file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Decodes a base64 key; `name` (the setting or file) is what errors mention.
pub fn parse_key(text: &str, name: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|_| KeyError::NotBase64 {
            name: name.to_owned(),
        })?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| KeyError::Length {
        name: name.to_owned(),
        len: bytes.len(),
    })
}

/// Length of the nonce that starts a sealed value.
const NONCE_LEN: usize = 12;

/// Encrypts `plaintext` for column `field` (bound as associated data) under `key`
/// (ChaCha20-Poly1305): nonce ‖ ciphertext. The PII columns of accounts are sealed this way.
pub fn seal(key: &[u8; KEY_LEN], field: &str, plaintext: &[u8]) -> Vec<u8> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).expect("invariant: the OS random source is available");
    let sealed = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: field.as_bytes(),
            },
        )
        .expect("invariant: encryption of a bounded buffer cannot fail");
    let mut out = nonce.to_vec();
    out.extend(sealed);
    out
}

/// Decrypts what [`seal`] produced for `field` under `key`; `None` when it does not
/// authenticate.
pub fn open(key: &[u8; KEY_LEN], field: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: field.as_bytes(),
            },
        )
        .ok()
}

/// The key `given` in the configuration (named `name`), else the one in `dir/file`, else a
/// new one generated into `dir/file` unless `production`.
pub fn resolve_key(
    given: Option<&str>,
    name: &str,
    dir: &Path,
    file: &str,
    production: bool,
) -> Result<[u8; KEY_LEN], KeyError> {
    if let Some(text) = given {
        return parse_key(text, name);
    }
    let path = dir.join(file);
    let io = |source| KeyError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return parse_key(&text, &path.display().to_string()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(io(err)),
    }
    if production {
        return Err(KeyError::Production {
            name: name.to_owned(),
        });
    }
    std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|err| io(std::io::Error::other(err.to_string())))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut handle = options.open(&path).map_err(io)?;
    std::io::Write::write_all(&mut handle, STANDARD.encode(key).as_bytes()).map_err(io)?;
    tracing::warn!(path = %path.display(), "generated a new key (development default)");
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_then_file_then_generated_except_in_production() {
        let dir = tempfile::tempdir().expect("dir");
        let keys = dir.path().join("keys");
        let given = STANDARD.encode([7u8; KEY_LEN]);
        assert_eq!(
            resolve_key(Some(&given), "--k", &keys, "k.key", true).expect("configured"),
            [7u8; KEY_LEN]
        );
        // Production never generates, and leaves nothing behind.
        let refused = resolve_key(None, "--k / MEDILINK_K", &keys, "k.key", true);
        assert!(matches!(refused, Err(KeyError::Production { .. })));
        assert!(
            refused
                .expect_err("refused")
                .to_string()
                .contains("--k / MEDILINK_K")
        );
        assert!(!keys.join("k.key").exists());
        // Development generates once; later starts (also production ones) read the same key.
        let generated = resolve_key(None, "--k", &keys, "k.key", false).expect("generated");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(keys.join("k.key"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            resolve_key(None, "--k", &keys, "k.key", false).expect("read"),
            generated
        );
        assert_eq!(
            resolve_key(None, "--k", &keys, "k.key", true).expect("read"),
            generated
        );
    }

    #[test]
    fn bad_keys_name_their_setting_and_never_echo_the_text() {
        let short = STANDARD.encode([1u8; 4]);
        let err = parse_key(&short, "--k").expect_err("short");
        assert_eq!(err.to_string(), "--k: a key is 32 bytes (base64), got 4");
        let err = parse_key("not base64 secret!", "--k").expect_err("not base64");
        assert!(!err.to_string().contains("secret"));
    }
}
