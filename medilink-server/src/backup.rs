//! `backup` and `restore` of the embedded default (issue #24): the data directory's SQLite
//! databases, blobs and, when asked, keys, with a manifest of SHA-256 checksums.
//!
//! - `backup --to PATH [--include-keys]` works while a server runs: every SQLite database
//!   file at the top of the data directory (`medilink.db`) is copied with `VACUUM INTO` (one
//!   read transaction: the copy is the database at one commit, never a torn file), then the
//!   blob directory (`blobs/`; blobs are written before the rows that name them, so every
//!   blob the database copy references is complete). The full-text index is not copied: it is
//!   derived data, rebuilt from the change feed by `restore`. Keys (`keys/*.key`) only with
//!   `--include-keys`: then the backup directory is `0700` and each key `0600`, and the
//!   command warns that the backup holds the secrets that decrypt the accounts' PII and sign
//!   tokens. Without them, a restore needs the same keys given again (flags, environment or
//!   the key files).
//! - `restore --from PATH --data-dir NEW` checks every file against the manifest (size and
//!   SHA-256; a missing, changed or unlisted file stops it before anything is written),
//!   refuses a `NEW` that is not empty, copies, and rebuilds the full-text index.
//!
//! PostgreSQL deployments are backed up with `pg_dump` and their blob store's tools (README).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use medilink_fhir::SystemClock;
use medilink_fhir::backend::sql::backup::{is_sqlite_file, snapshot_sqlite};
use medilink_fhir::fulltext::SearchIndex as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Cli;

/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "manifest.json";
/// The manifest's format version.
const FORMAT: u32 = 1;

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version (1).
    pub format: u32,
    /// When the backup was taken (UTC, RFC 3339).
    pub created_at: String,
    /// The version of the server that took it.
    pub medilink_version: String,
    /// Whether `keys/` is included.
    pub includes_keys: bool,
    /// How the full-text index comes back (`rebuilt on restore`).
    pub fulltext: String,
    /// Every file, relative to the backup directory, with its size and SHA-256 (hex).
    pub files: Vec<ManifestFile>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Path relative to the backup directory, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents, lowercase hex.
    pub sha256: String,
}

fn sha256_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        bytes += read as u64;
        hasher.update(&buffer[..read]);
    }
    let hex = hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    Ok((bytes, hex))
}

/// Every regular file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> anyhow::Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(root, &path, out)?;
            } else if kind.is_file() {
                let relative = path.strip_prefix(root).context("under the root")?;
                let parts: Vec<String> = relative
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<u64> {
    let mut copied = 0;
    for relative in files_under(from)? {
        let target = to.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from.join(&relative), &target)
            .with_context(|| format!("copying {relative}"))?;
        copied += 1;
    }
    Ok(copied)
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

/// A directory that does not exist or is empty.
fn ensure_empty(dir: &Path, what: &str) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .with_context(|| format!("{what}: {} is not a directory", dir.display()))?;
        if entries.next().is_some() {
            bail!("{what}: {} is not empty", dir.display());
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{what}: creating {}", dir.display()))
}

/// The embedded database URL's scheme check: backup and restore are for SQLite.
fn embedded_only(cli: &Cli) -> anyhow::Result<()> {
    if let Some(url) = &cli.storage.database_url
        && !url.starts_with("sqlite:")
    {
        bail!(
            "--database-url is not SQLite: back up PostgreSQL with pg_dump and the blob store \
             with its own tools (README, \"Backup and restore\")"
        );
    }
    Ok(())
}

/// `backup --to PATH [--include-keys]`.
pub async fn backup(cli: &Cli, to: &Path, include_keys: bool) -> anyhow::Result<Manifest> {
    embedded_only(cli)?;
    let data_dir = &cli.storage.data_dir;
    if !data_dir.is_dir() {
        bail!("--data-dir: {} is not a directory", data_dir.display());
    }
    ensure_empty(to, "--to")?;
    restrict(to, 0o700)?;
    let mut databases = 0;
    for entry in std::fs::read_dir(data_dir)? {
        let path = entry?.path();
        if path.is_file() && is_sqlite_file(&path) {
            let name = path.file_name().context("a file name")?;
            snapshot_sqlite(&path, &to.join(name))
                .await
                .with_context(|| format!("snapshot of {}", path.display()))?;
            databases += 1;
        }
    }
    if databases == 0 {
        bail!("--data-dir: no SQLite database in {}", data_dir.display());
    }
    let blobs = copy_tree(&data_dir.join("blobs"), &to.join("blobs"))?;
    if include_keys {
        let keys = to.join("keys");
        copy_tree(&data_dir.join("keys"), &keys)?;
        if keys.is_dir() {
            restrict(&keys, 0o700)?;
            for key in files_under(&keys)? {
                restrict(&keys.join(key), 0o600)?;
            }
        }
        tracing::warn!(
            backup = %to.display(),
            "the backup holds the secret keys (PII encryption, e-mail lookup, token signing, \
             research): keep it encrypted and readable by the operator only (it is 0700, keys 0600)"
        );
    }
    let files = manifest_files(to)?;
    let manifest = Manifest {
        format: FORMAT,
        created_at: medilink_fhir::clock::format_instant(time::OffsetDateTime::now_utc()),
        medilink_version: env!("CARGO_PKG_VERSION").to_owned(),
        includes_keys: include_keys,
        fulltext: "rebuilt on restore".to_owned(),
        files,
    };
    std::fs::write(to.join(MANIFEST), serde_json::to_vec_pretty(&manifest)?)?;
    tracing::info!(
        backup = %to.display(),
        databases,
        blobs,
        files = manifest.files.len(),
        include_keys,
        "backup written"
    );
    Ok(manifest)
}

fn manifest_files(dir: &Path) -> anyhow::Result<Vec<ManifestFile>> {
    files_under(dir)?
        .into_iter()
        .filter(|path| path != MANIFEST)
        .map(|path| {
            let (bytes, sha256) = sha256_file(&dir.join(&path))?;
            Ok(ManifestFile {
                path,
                bytes,
                sha256,
            })
        })
        .collect()
}

/// Checks every file of the backup at `from` against its manifest.
pub fn verify(from: &Path) -> anyhow::Result<Manifest> {
    let text = std::fs::read(from.join(MANIFEST))
        .with_context(|| format!("--from: no {MANIFEST} in {}", from.display()))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("--from: {MANIFEST} is not valid"))?;
    if manifest.format != FORMAT {
        bail!("--from: backup format {} is not {FORMAT}", manifest.format);
    }
    let found = manifest_files(from)?;
    for listed in &manifest.files {
        match found.iter().find(|file| file.path == listed.path) {
            None => bail!("--from: {} is missing", listed.path),
            Some(file) if file != listed => {
                bail!("--from: {} does not match its checksum", listed.path)
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found
        .iter()
        .find(|file| !manifest.files.iter().any(|listed| listed.path == file.path))
    {
        bail!("--from: {} is not in the manifest", extra.path);
    }
    Ok(manifest)
}

/// `restore --from PATH` into `--data-dir`.
pub async fn restore(cli: &Cli, from: &Path) -> anyhow::Result<Manifest> {
    embedded_only(cli)?;
    let manifest = verify(from)?;
    let data_dir: PathBuf = cli.storage.data_dir.clone();
    ensure_empty(&data_dir, "--data-dir")?;
    for file in &manifest.files {
        let target = data_dir.join(&file.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(from.join(&file.path), &target)
            .with_context(|| format!("restoring {}", file.path))?;
    }
    let keys = data_dir.join("keys");
    if keys.is_dir() {
        restrict(&keys, 0o700)?;
        for key in files_under(&keys)? {
            restrict(&keys.join(key), 0o600)?;
        }
    }
    // The full-text index is derived data: rebuilt from the restored change feed.
    let storage = cli.storage.validate(true)?;
    let (store, _ids) = crate::state::open_storage(&storage, Arc::new(SystemClock)).await?;
    let index = crate::state::open_search_index(&storage).await?;
    let applied = index
        .rebuild(
            store.as_ref(),
            &medilink_fhir::RequestContext::system(),
            &|_| {},
        )
        .await
        .context("rebuilding the full-text index")?;
    drop(index);
    store.close().await.context("closing the store")?;
    tracing::info!(
        data_dir = %data_dir.display(),
        files = manifest.files.len(),
        indexed = applied,
        includes_keys = manifest.includes_keys,
        "backup restored"
    );
    Ok(manifest)
}
