//! The raw baseline: the same JSON rows written with plain multi-row INSERTs into one table
//! (and, on PostgreSQL, with COPY), no versioning, no validation, no indexes but the key.

use std::time::Instant;

use anyhow::Result;
use sea_orm::{
    ConnectionTrait, Database, DbBackend, Statement, TransactionTrait, Value as SqlValue,
};
use serde_json::Value;

pub(crate) async fn run(url: &str, bundles: &[Value]) -> Result<()> {
    let rows: Vec<Vec<(String, String, String)>> = bundles
        .iter()
        .enumerate()
        .map(|(b, bundle)| {
            bundle["entry"]
                .as_array()
                .map(|entries| {
                    entries
                        .iter()
                        .enumerate()
                        .map(|(i, entry)| {
                            let resource = &entry["resource"];
                            let ty = resource["resourceType"]
                                .as_str()
                                .unwrap_or("Basic")
                                .to_owned();
                            (ty, format!("{b}-{i}"), resource.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect();
    let total: usize = rows.iter().map(Vec::len).sum();
    let url = if url.starts_with("sqlite") && !url.contains('?') {
        format!("{url}?mode=rwc")
    } else {
        url.to_owned()
    };
    let db = Database::connect(url.as_str()).await?;
    let backend = db.get_database_backend();
    db.execute_unprepared("CREATE TABLE raw_rows (resource_type TEXT NOT NULL, id TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (resource_type, id))").await?;
    if backend == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL")
            .await?;
    }
    let started = Instant::now();
    for bundle_rows in &rows {
        let txn = db.begin().await?;
        for chunk in bundle_rows.chunks(500) {
            let mut sql = String::from("INSERT INTO raw_rows (resource_type, id, content) VALUES ");
            let mut values: Vec<SqlValue> = Vec::with_capacity(chunk.len() * 3);
            for (n, (ty, id, content)) in chunk.iter().enumerate() {
                if n > 0 {
                    sql.push_str(", ");
                }
                match backend {
                    DbBackend::Postgres => {
                        sql.push_str(&format!("(${}, ${}, ${})", 3 * n + 1, 3 * n + 2, 3 * n + 3))
                    }
                    _ => sql.push_str("(?, ?, ?)"),
                }
                values.extend([
                    ty.as_str().into(),
                    id.as_str().into(),
                    content.as_str().into(),
                ]);
            }
            txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                .await?;
        }
        txn.commit().await?;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "raw batched INSERT: {total} rows, one transaction per bundle, {secs:.2}s = {:.0} rows/s",
        total as f64 / secs
    );
    if backend == DbBackend::Postgres {
        copy(&db, &rows, total).await?;
    }
    Ok(())
}

async fn copy(
    db: &sea_orm::DatabaseConnection,
    rows: &[Vec<(String, String, String)>],
    total: usize,
) -> Result<()> {
    db.execute_unprepared("TRUNCATE raw_rows").await?;
    let pool = db.get_postgres_connection_pool();
    let started = Instant::now();
    let mut connection = pool.acquire().await?;
    let mut copy = connection
        .copy_in_raw("COPY raw_rows (resource_type, id, content) FROM STDIN WITH (FORMAT csv)")
        .await?;
    let mut buffer = String::new();
    for (ty, id, content) in rows.iter().flatten() {
        buffer.push_str(&format!("{ty},{id},\"{}\"\n", content.replace('"', "\"\"")));
        if buffer.len() > 1 << 20 {
            copy.send(std::mem::take(&mut buffer).into_bytes()).await?;
        }
    }
    copy.send(buffer.into_bytes()).await?;
    copy.finish().await?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "raw COPY: {total} rows, {secs:.2}s = {:.0} rows/s",
        total as f64 / secs
    );
    Ok(())
}
