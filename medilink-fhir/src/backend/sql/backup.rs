//! Online snapshots of a SQLite database file ([`snapshot_sqlite`]) for `medilink-server
//! backup`: `VACUUM INTO` reads the database in one read transaction, so the copy is
//! consistent at one commit while servers keep writing (WAL readers never block writers), and
//! it is written compacted, without the `-wal` file.

use std::path::Path;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend, Statement};

use super::classify;
use crate::error::{FhirError, FhirResult};

/// Whether the file at `path` starts with the SQLite header (`SQLite format 3\0`).
pub fn is_sqlite_file(path: &Path) -> bool {
    use std::io::Read;
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut header))
        .is_ok_and(|()| &header == b"SQLite format 3\0")
}

/// Writes a consistent copy of the SQLite database `source` to the new file `target` while
/// other connections may write to `source`.
pub async fn snapshot_sqlite(source: &Path, target: &Path) -> FhirResult<()> {
    if target.exists() {
        return Err(FhirError::bad_request(format!(
            "{} exists: a snapshot is written to a new file",
            target.display()
        )));
    }
    let url = format!("sqlite://{}?mode=ro", source.display());
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.map_err(classify)?;
    let target = target
        .to_str()
        .ok_or_else(|| FhirError::bad_request("the snapshot path is not valid UTF-8".to_owned()))?;
    let outcome = db
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "VACUUM INTO ?",
            vec![target.into()],
        ))
        .await
        .map_err(classify);
    let closed = db.close().await.map_err(classify);
    outcome.and(closed).map(drop)
}
