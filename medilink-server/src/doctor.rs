//! `medilink-server doctor` (issue #16): checks the machine the server is to run on and says
//! what to fix, one line per check (`ok`, `warn` or `fail`); any `fail` makes the command exit
//! with status 1.
//!
//! Checks: the OCR engine (`tesseract` on `PATH`, its version and English data), the data
//! directory (writable) and its free disk, the database (`--database-url`, reachable within
//! [`DATABASE_TIMEOUT`]; an embedded SQLite file not created yet is fine), and the four keys
//! (configured and valid, or present in `{data-dir}/keys/`; generated at first start in
//! development, required with `MEDILINK_ENV=production`). It creates nothing but a probe file
//! it removes again.

use std::fmt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::SystemClock;
use medilink_platform::keys::parse_key;

use crate::config::{KeyArgs, StorageArgs};

/// How long the database may take to answer.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(10);
/// Free space below which the data directory fails, and below which it warns.
const DISK_FAIL_BYTES: u64 = 1 << 30;
const DISK_WARN_BYTES: u64 = 5 << 30;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Nothing to do.
    Ok,
    /// Works, but something is missing or short.
    Warn,
    /// The server cannot run (or not safely) until it is fixed.
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// The outcome.
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// What to do about a warning or failure.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            level: Level::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn bad(name: &'static str, level: Level, detail: impl Into<String>, fix: &str) -> Check {
        Check {
            name,
            level,
            detail: detail.into(),
            fix: Some(fix.to_owned()),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        };
        write!(f, "{level:<4}  {:<10}  {}", self.name, self.detail)?;
        match &self.fix {
            Some(fix) => write!(f, " (fix: {fix})"),
            None => Ok(()),
        }
    }
}

/// Runs every check, prints one line each, and fails when any check failed.
pub async fn run(storage: &StorageArgs, keys: &KeyArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    let checks = checks(storage, keys).await;
    let mut out = std::io::stdout().lock();
    for check in &checks {
        writeln!(out, "{check}")?;
    }
    drop(out);
    let failed = checks
        .iter()
        .filter(|check| check.level == Level::Fail)
        .count();
    if failed > 0 {
        anyhow::bail!("doctor: {failed} check(s) failed; see the fixes above");
    }
    Ok(())
}

/// Every check, in order.
pub async fn checks(storage: &StorageArgs, keys: &KeyArgs) -> Vec<Check> {
    let mut checks = vec![tesseract(), data_dir(&storage.data_dir)];
    if let Some(disk) = disk(&storage.data_dir) {
        checks.push(disk);
    }
    checks.push(database(storage).await);
    checks.extend(key_checks(keys, &storage.data_dir));
    checks
}

fn tesseract() -> Check {
    const FIX: &str =
        "install it: apt-get install tesseract-ocr (Debian/Ubuntu), brew install tesseract (macOS)";
    let output = match Command::new("tesseract").arg("--version").output() {
        Ok(output) => output,
        Err(_) => {
            return Check::bad(
                "tesseract",
                Level::Warn,
                "not found on PATH: scanned lab reports and photos cannot be read (text PDFs can)",
                FIX,
            );
        }
    };
    // Older releases print the version on stderr.
    let text = [output.stdout, output.stderr].concat();
    let text = String::from_utf8_lossy(&text);
    let version = text.lines().next().unwrap_or("tesseract").trim().to_owned();
    let languages = Command::new("tesseract").arg("--list-langs").output();
    let english = languages.is_ok_and(|output| {
        let text = [output.stdout, output.stderr].concat();
        String::from_utf8_lossy(&text)
            .lines()
            .any(|line| line.trim() == "eng")
    });
    if english {
        Check::ok("tesseract", version)
    } else {
        Check::bad(
            "tesseract",
            Level::Warn,
            format!("{version}, without English data (eng)"),
            "apt-get install tesseract-ocr-eng",
        )
    }
}

fn data_dir(dir: &Path) -> Check {
    const FIX: &str = "choose a writable --data-dir / MEDILINK_DATA_DIR";
    let probe = dir.join(format!(".doctor-probe-{}", std::process::id()));
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"probe"))
        .and_then(|()| std::fs::remove_file(&probe));
    match written {
        Ok(()) => Check::ok("data dir", format!("{} is writable", dir.display())),
        Err(err) => Check::bad(
            "data dir",
            Level::Fail,
            format!("cannot write in {}: {err}", dir.display()),
            FIX,
        ),
    }
}

fn disk(dir: &Path) -> Option<Check> {
    let free = fs4::available_space(dir).ok()?;
    let gib = free as f64 / f64::from(1u32 << 30);
    let detail = format!("{gib:.1} GiB free in {}", dir.display());
    let fix = "free some space or move --data-dir / MEDILINK_DATA_DIR to a larger disk";
    Some(if free < DISK_FAIL_BYTES {
        Check::bad("disk", Level::Fail, detail, fix)
    } else if free < DISK_WARN_BYTES {
        Check::bad("disk", Level::Warn, detail, fix)
    } else {
        Check::ok("disk", detail)
    })
}

/// `url` without its password.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

async fn database(storage: &StorageArgs) -> Check {
    const FIX: &str = "start the database or correct --database-url / MEDILINK_DATABASE_URL";
    let config = match storage.validate(false) {
        Ok(config) => config,
        Err(err) => return Check::bad("database", Level::Fail, format!("{err:#}"), FIX),
    };
    let url = config.sql.url.clone();
    let shown = redacted(&url);
    if let Some(path) = url.strip_prefix("sqlite://")
        && !Path::new(path.split('?').next().unwrap_or(path)).exists()
    {
        return Check::ok(
            "database",
            format!("{shown} does not exist yet: created at the first start"),
        );
    }
    if let Some(refused) = unreachable_host(&url).await {
        return Check::bad(
            "database",
            Level::Fail,
            format!("cannot reach {shown}: {refused}"),
            FIX,
        );
    }
    let opened = tokio::time::timeout(
        DATABASE_TIMEOUT,
        crate::state::open_storage(&config, Arc::new(SystemClock)),
    )
    .await;
    match opened {
        Ok(Ok((store, _ids))) => {
            let _ = store.close().await;
            Check::ok("database", format!("{shown} answers"))
        }
        Ok(Err(err)) => Check::bad(
            "database",
            Level::Fail,
            format!("cannot reach {shown}: {}", root_cause(&err)),
            FIX,
        ),
        Err(_) => Check::bad(
            "database",
            Level::Fail,
            format!(
                "{shown} did not answer within {} s",
                DATABASE_TIMEOUT.as_secs()
            ),
            FIX,
        ),
    }
}

/// Why the host of a network database URL does not accept connections (`None`: it does, or
/// the URL names no host), so that a refused connection is said at once.
async fn unreachable_host(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?.to_owned();
    let port = parsed.port().unwrap_or(5432);
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(DATABASE_TIMEOUT, connect).await {
        Ok(Ok(_)) => None,
        Ok(Err(err)) => Some(format!("{host}:{port}: {err}")),
        Err(_) => Some(format!(
            "{host}:{port} did not answer within {} s",
            DATABASE_TIMEOUT.as_secs()
        )),
    }
}

fn root_cause(err: &anyhow::Error) -> String {
    err.chain()
        .last()
        .map_or_else(|| err.to_string(), ToString::to_string)
}

fn key_checks(keys: &KeyArgs, data_dir: &Path) -> Vec<Check> {
    let production = match keys.production() {
        Ok(production) => production,
        Err(err) => {
            return vec![Check::bad(
                "keys",
                Level::Fail,
                format!("{err:#}"),
                "set MEDILINK_ENV to development or production",
            )];
        }
    };
    let dir = data_dir.join("keys");
    [
        (&keys.jwt_key, "MEDILINK_AUTH_JWT_KEY", "jwt.key"),
        (
            &keys.encryption_key,
            "MEDILINK_AUTH_ENCRYPTION_KEY",
            "encryption.key",
        ),
        (&keys.lookup_key, "MEDILINK_AUTH_LOOKUP_KEY", "lookup.key"),
        (&keys.research_key, "MEDILINK_RESEARCH_KEY", "research.key"),
    ]
    .into_iter()
    .map(|(given, env, file)| key(given.as_deref(), env, &dir.join(file), production))
    .chain([smart_key(
        keys.smart_signing_key.as_deref(),
        &dir.join(crate::smart::keys::CURRENT_FILE),
        production,
    )])
    .collect()
}

/// The SMART signing key (issue #17): a readable RSA PEM, configured or in the key directory;
/// production generates none.
fn smart_key(given: Option<&Path>, default: &Path, production: bool) -> Check {
    let path = given.unwrap_or(default);
    let fix = "set MEDILINK_SMART_SIGNING_KEY to an RSA key in PEM \
               (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out smart-signing.pem)";
    match std::fs::read(path) {
        Ok(pem) => match crate::smart::SigningKeys::from_pem(&pem, None) {
            Ok(keys) => Check::ok(
                "smart key",
                format!("{} (kid {})", path.display(), keys.current_kid()),
            ),
            Err(err) => Check::bad("smart key", Level::Fail, format!("{err:#}"), fix),
        },
        Err(_) if production || given.is_some() => Check::bad(
            "smart key",
            Level::Fail,
            format!(
                "{} cannot be read (production generates no keys)",
                path.display()
            ),
            fix,
        ),
        Err(_) => Check::ok(
            "smart key",
            format!(
                "{} is generated at the first start (development)",
                path.display()
            ),
        ),
    }
}

fn key(given: Option<&str>, env: &str, path: &Path, production: bool) -> Check {
    let fix = format!("set {env} to the base64 of 32 random bytes (openssl rand -base64 32)");
    let parsed = match given {
        Some(text) => parse_key(text, env).map(|_| format!("{env} is set")),
        None => match std::fs::read_to_string(path) {
            Ok(text) => {
                parse_key(&text, &path.display().to_string()).map(|_| path.display().to_string())
            }
            Err(_) if production => {
                return Check::bad(
                    "key",
                    Level::Fail,
                    format!("{env} is not set (production generates no keys)"),
                    &fix,
                );
            }
            Err(_) => {
                return Check::ok(
                    "key",
                    format!(
                        "{} is generated at the first start (development)",
                        path.display()
                    ),
                );
            }
        },
    };
    match parsed {
        Ok(found) => Check::ok("key", found),
        Err(err) => Check::bad("key", Level::Fail, err.to_string(), &fix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redacted("postgres://u:secret@db:5432/x"),
            "postgres://u:***@db:5432/x"
        );
        assert_eq!(redacted("postgres://u@db/x"), "postgres://u@db/x");
    }

    #[test]
    fn a_check_line_says_what_to_fix() {
        let line = Check::bad("disk", Level::Warn, "2.0 GiB free", "free some space");
        assert_eq!(
            line.to_string(),
            "warn  disk        2.0 GiB free (fix: free some space)"
        );
        assert_eq!(Check::ok("key", "set").to_string(), "ok    key         set");
    }

    #[test]
    fn production_needs_a_smart_signing_key() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("smart-signing.pem");
        assert_eq!(smart_key(None, &path, true).level, Level::Fail);
        assert_eq!(smart_key(None, &path, false).level, Level::Ok);
        std::fs::write(&path, "not a key").expect("write");
        assert_eq!(smart_key(None, &path, false).level, Level::Fail);
        let pem = josekit::jws::RS256
            .generate_key_pair(2048)
            .expect("rsa")
            .to_pem_private_key();
        std::fs::write(&path, pem).expect("write");
        assert_eq!(smart_key(Some(&path), &path, true).level, Level::Ok);
    }

    #[test]
    fn production_needs_configured_keys() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("jwt.key");
        let missing = key(None, "MEDILINK_AUTH_JWT_KEY", &path, true);
        assert_eq!(missing.level, Level::Fail);
        assert!(
            missing.detail.contains("MEDILINK_AUTH_JWT_KEY"),
            "{missing}"
        );
        assert_eq!(key(None, "X", &path, false).level, Level::Ok);
        assert_eq!(
            key(Some("bm90IGEga2V5"), "X", &path, false).level,
            Level::Fail
        );
        std::fs::write(
            &path,
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]),
        )
        .expect("write");
        assert_eq!(key(None, "X", &path, true).level, Level::Ok);
    }
}
