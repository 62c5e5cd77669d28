//! Writing search index rows: the stale rows of rewritten resources are deleted and the new
//! rows inserted inside the write transaction: with multi-row INSERTs on SQLite, and on
//! PostgreSQL with one `DELETE … WHERE rid = ANY($1)` and one `INSERT … SELECT … FROM UNNEST(…)`
//! per table, whatever the number of rows ([`super::unnest`], issue #19).

use sea_orm::{ConnectionTrait, DatabaseTransaction, Value as SqlValue};

use super::{LOOKUP_CHUNK, SqlResourceStore, classify};
use crate::error::FhirResult;
use crate::search::extract::IndexRows;
use crate::search::limits::index_key;

/// The index tables and their columns before `rid` (the resource's surrogate key).
pub(super) const INDEX_TABLES: [(&str, &str); 8] = [
    ("search_string", "param, value_norm, value_exact"),
    ("search_token", "param, system, code"),
    ("search_reference", "param, target_type, target_id, url"),
    ("search_date", "param, low, high"),
    ("search_number", "param, value"),
    ("search_quantity", "param, system, code, value"),
    ("search_uri", "param, uri"),
    (
        "search_composite",
        "param, s1, k1, s2, k2, n2, lo2, hi2, n3",
    ),
];

/// The columns of [`INDEX_TABLES`] (and the rid) with their PostgreSQL types, for
/// [`super::unnest`]. Only the composite table's second and third components may be NULL.
#[cfg(feature = "sql-postgres")]
const PG_COLUMNS: [&[super::unnest::Column]; 8] = {
    use super::unnest::Kind::{BigInt, Double, Text};
    [
        &[
            ("param", Text, false),
            ("value_norm", Text, false),
            ("value_exact", Text, false),
            ("rid", BigInt, false),
        ],
        &[
            ("param", Text, false),
            ("system", Text, false),
            ("code", Text, false),
            ("rid", BigInt, false),
        ],
        &[
            ("param", Text, false),
            ("target_type", Text, false),
            ("target_id", Text, false),
            ("url", Text, false),
            ("rid", BigInt, false),
        ],
        &[
            ("param", Text, false),
            ("low", BigInt, false),
            ("high", BigInt, false),
            ("rid", BigInt, false),
        ],
        &[
            ("param", Text, false),
            ("value", Double, false),
            ("rid", BigInt, false),
        ],
        &[
            ("param", Text, false),
            ("system", Text, false),
            ("code", Text, false),
            ("value", Double, false),
            ("rid", BigInt, false),
        ],
        &[
            ("param", Text, false),
            ("uri", Text, false),
            ("rid", BigInt, false),
        ],
        &[
            ("param", Text, false),
            ("s1", Text, false),
            ("k1", Text, false),
            ("s2", Text, false),
            ("k2", Text, true),
            ("n2", Double, true),
            ("lo2", BigInt, true),
            ("hi2", BigInt, true),
            ("n3", Double, true),
            ("rid", BigInt, false),
        ],
    ]
};

/// Absent key parts are stored as `''` (key columns cannot be NULL); text is stored as its
/// bounded index key ([`index_key`]).
fn or_empty(value: Option<String>) -> SqlValue {
    text(value.unwrap_or_default())
}

/// A text key column: the bounded [`index_key`] of the value, so that no index row outgrows
/// PostgreSQL's B-tree row limit whatever the resource holds. The value's own `String` is
/// moved, not copied, when it is short enough (nearly always).
fn text(value: String) -> SqlValue {
    let bounded = match index_key(&value) {
        std::borrow::Cow::Owned(key) => Some(key),
        std::borrow::Cow::Borrowed(_) => None,
    };
    bounded.unwrap_or(value).into()
}

/// Index rows of one write transaction, ready to be written.
#[derive(Debug, Default)]
pub(super) struct IndexBatch {
    stale: Vec<i64>,
    rows: [Vec<SqlValue>; 8],
}

impl IndexBatch {
    /// The existing rows of this resource must go.
    pub(super) fn remove(&mut self, rid: i64) {
        self.stale.push(rid);
    }

    /// Adds the rows of one resource (columns as in [`INDEX_TABLES`], then the rid); the
    /// rows' strings move into the batch.
    pub(super) fn add(&mut self, rid: i64, index: IndexRows) {
        let key = |out: &mut Vec<SqlValue>| out.push(SqlValue::BigInt(Some(rid)));
        for (param, norm, exact) in index.strings {
            self.rows[0].extend([param.into(), text(norm), text(exact)]);
            key(&mut self.rows[0]);
        }
        for (param, system, code) in index.tokens {
            self.rows[1].extend([param.into(), or_empty(system), text(code)]);
            key(&mut self.rows[1]);
        }
        for (param, target_type, target_id, url) in index.references {
            self.rows[2].extend([
                param.into(),
                or_empty(target_type),
                or_empty(target_id),
                or_empty(url),
            ]);
            key(&mut self.rows[2]);
        }
        for (param, low, high) in index.dates {
            self.rows[3].extend([param.into(), low.into(), high.into()]);
            key(&mut self.rows[3]);
        }
        for (param, value) in index.numbers {
            self.rows[4].extend([param.into(), value.into()]);
            key(&mut self.rows[4]);
        }
        for (param, system, code, value) in index.quantities {
            self.rows[5].extend([param.into(), or_empty(system), or_empty(code), value.into()]);
            key(&mut self.rows[5]);
        }
        for (param, uri) in index.uris {
            self.rows[6].extend([param.into(), text(uri)]);
            key(&mut self.rows[6]);
        }
        for row in index.composites {
            self.rows[7].extend([
                row.param.into(),
                or_empty(row.s1),
                text(row.k1),
                or_empty(row.s2),
                row.k2.map(text).unwrap_or(SqlValue::String(None)),
                SqlValue::from(row.n2),
                SqlValue::from(row.lo2),
                SqlValue::from(row.hi2),
                SqlValue::from(row.n3),
            ]);
            key(&mut self.rows[7]);
        }
    }

    /// Deletes the stale rows and inserts the new ones.
    pub(super) async fn write(
        self,
        store: &SqlResourceStore,
        txn: &DatabaseTransaction,
    ) -> FhirResult<()> {
        #[cfg(feature = "sql-postgres")]
        if store.backend == sea_orm::DbBackend::Postgres {
            return self.write_unnest(store, txn).await;
        }
        for stale in self.stale.chunks(LOOKUP_CHUNK) {
            let keys = vec!["?"; stale.len()].join(", ");
            for (table, _) in INDEX_TABLES {
                let sql = format!("DELETE FROM {table} WHERE rid IN ({keys})");
                let values = stale
                    .iter()
                    .map(|rid| SqlValue::BigInt(Some(*rid)))
                    .collect();
                txn.execute_raw(store.statement(&sql, values))
                    .await
                    .map_err(classify)?;
            }
        }
        for ((table, columns), rows) in INDEX_TABLES.iter().zip(self.rows) {
            let width = 1 + columns.split(',').count();
            let head = format!("INSERT INTO {table} ({columns}, rid) VALUES ");
            // Two values of one resource may share a bounded key: keep one row.
            store
                .insert_rows(txn, &head, width, " ON CONFLICT DO NOTHING", rows)
                .await?;
        }
        Ok(())
    }

    /// [`Self::write`] on PostgreSQL: one statement per table for the stale rows and one for
    /// the new rows.
    #[cfg(feature = "sql-postgres")]
    async fn write_unnest(
        self,
        store: &SqlResourceStore,
        txn: &DatabaseTransaction,
    ) -> FhirResult<()> {
        use sea_orm::sea_query::ArrayType;

        if !self.stale.is_empty() {
            let stale: Vec<SqlValue> = self
                .stale
                .iter()
                .map(|rid| SqlValue::BigInt(Some(*rid)))
                .collect();
            let keys = SqlValue::Array(ArrayType::BigInt, Some(Box::new(stale)));
            for (table, _) in INDEX_TABLES {
                let sql = format!("DELETE FROM {table} WHERE rid = ANY($1::bigint[])");
                txn.execute_raw(sea_orm::Statement::from_sql_and_values(
                    store.backend,
                    sql,
                    [keys.clone()],
                ))
                .await
                .map_err(classify)?;
            }
        }
        for (((table, _), columns), rows) in INDEX_TABLES.iter().zip(PG_COLUMNS).zip(self.rows) {
            // Two values of one resource may share a bounded key: keep one row.
            store
                .insert_unnest(txn, table, columns, " ON CONFLICT DO NOTHING", rows)
                .await?;
        }
        Ok(())
    }
}
