//! PostgreSQL: the rows of one table and write transaction in **one** statement, whatever their
//! number: `INSERT INTO t (…) SELECT … FROM UNNEST($1::text[], $2::bigint[], …)`, one array
//! parameter per column (issue #19). Multi-row `VALUES` lists (SQLite, [`super::SqlResourceStore::insert_rows`])
//! need one statement per 256 rows and ten bound parameters per row; here the server gets one
//! statement of a handful of arrays, and the statement text is the same for every batch (it
//! stays in the prepared-statement cache).
//!
//! The driver binds arrays without NULL elements, so a column that may hold NULL is sent with
//! a placeholder value and a bit in one extra `bigint[]` column (`m`): bit `k` set means the
//! `k`-th nullable column of that row is NULL.

use sea_orm::sea_query::ArrayType;
use sea_orm::{ConnectionTrait, DatabaseTransaction, Value as SqlValue};

use super::{SqlResourceStore, classify};
use crate::error::FhirResult;

/// A column's PostgreSQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    BigInt,
    Double,
    Bool,
}

impl Kind {
    fn array_type(self) -> ArrayType {
        match self {
            Kind::Text => ArrayType::String,
            Kind::BigInt => ArrayType::BigInt,
            Kind::Double => ArrayType::Double,
            Kind::Bool => ArrayType::Bool,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Kind::Text => "text[]",
            Kind::BigInt => "bigint[]",
            Kind::Double => "float8[]",
            Kind::Bool => "boolean[]",
        }
    }

    /// The value sent in place of a NULL (masked out again by the statement).
    fn placeholder(self) -> SqlValue {
        match self {
            Kind::Text => SqlValue::String(Some(String::new())),
            Kind::BigInt => SqlValue::BigInt(Some(0)),
            Kind::Double => SqlValue::Double(Some(0.0)),
            Kind::Bool => SqlValue::Bool(Some(false)),
        }
    }
}

/// A column of an UNNEST insert: name, type, whether it may hold NULL.
pub(super) type Column = (&'static str, Kind, bool);

/// The statement that inserts the rows of `columns` into `table`, followed by `tail`
/// (`ON CONFLICT …`).
fn statement_text(table: &str, columns: &[Column], tail: &str) -> String {
    let names: Vec<&str> = columns.iter().map(|(name, _, _)| *name).collect();
    let mut arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(at, (_, kind, _))| format!("${}::{}", at + 1, kind.sql()))
        .collect();
    let mut aliases: Vec<String> = (0..columns.len()).map(|at| format!("c{at}")).collect();
    let nullable = columns.iter().any(|(_, _, nullable)| *nullable);
    if nullable {
        arrays.push(format!("${}::bigint[]", columns.len() + 1));
        aliases.push("m".to_owned());
    }
    let mut bit = 0;
    let select: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(at, (_, _, nullable))| {
            if *nullable {
                let expr = format!(
                    "CASE WHEN u.m & {} <> 0 THEN NULL ELSE u.c{at} END",
                    1 << bit
                );
                bit += 1;
                expr
            } else {
                format!("u.c{at}")
            }
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM UNNEST({}) AS u({}){tail}",
        names.join(", "),
        select.join(", "),
        arrays.join(", "),
        aliases.join(", "),
    )
}

/// Turns rows given flat (`values` holds the rows one after the other, `columns.len()` values
/// each) into one array per column (plus the NULL mask).
fn column_arrays(columns: &[Column], values: Vec<SqlValue>) -> Vec<SqlValue> {
    let width = columns.len();
    let rows = values.len() / width;
    let mut arrays: Vec<Vec<SqlValue>> = (0..width).map(|_| Vec::with_capacity(rows)).collect();
    let nullable = columns.iter().any(|(_, _, nullable)| *nullable);
    let mut masks: Vec<SqlValue> = Vec::with_capacity(if nullable { rows } else { 0 });
    let mut values = values.into_iter();
    for _ in 0..rows {
        let mut mask = 0_i64;
        let mut bit = 0;
        for (array, (_, kind, may_be_null)) in arrays.iter_mut().zip(columns) {
            let value = values
                .next()
                .expect("invariant: rows × columns values were counted above");
            if *may_be_null {
                if !value.is_some() {
                    mask |= 1 << bit;
                    array.push(kind.placeholder());
                } else {
                    array.push(value);
                }
                bit += 1;
            } else {
                array.push(value);
            }
        }
        if nullable {
            masks.push(SqlValue::BigInt(Some(mask)));
        }
    }
    let mut out: Vec<SqlValue> = arrays
        .into_iter()
        .zip(columns)
        .map(|(array, (_, kind, _))| SqlValue::Array(kind.array_type(), Some(Box::new(array))))
        .collect();
    if nullable {
        out.push(SqlValue::Array(ArrayType::BigInt, Some(Box::new(masks))));
    }
    out
}

impl SqlResourceStore {
    /// Inserts rows given flat (one value per column, row after row) into `table` in one
    /// statement (PostgreSQL only).
    pub(super) async fn insert_unnest(
        &self,
        txn: &DatabaseTransaction,
        table: &str,
        columns: &[Column],
        tail: &str,
        values: Vec<SqlValue>,
    ) -> FhirResult<()> {
        if values.is_empty() {
            return Ok(());
        }
        let sql = statement_text(table, columns, tail);
        let arrays = column_arrays(columns, values);
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            self.backend,
            sql,
            arrays,
        ))
        .await
        .map_err(classify)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_columns_are_masked() {
        let columns: [Column; 3] = [
            ("a", Kind::Text, false),
            ("b", Kind::Double, true),
            ("rid", Kind::BigInt, false),
        ];
        assert_eq!(
            statement_text("t", &columns, " ON CONFLICT DO NOTHING"),
            "INSERT INTO t (a, b, rid) SELECT u.c0, CASE WHEN u.m & 1 <> 0 THEN NULL ELSE u.c1 END, u.c2 \
             FROM UNNEST($1::text[], $2::float8[], $3::bigint[], $4::bigint[]) AS u(c0, c1, c2, m) \
             ON CONFLICT DO NOTHING"
        );
        let arrays = column_arrays(
            &columns,
            vec![
                "x".into(),
                SqlValue::Double(None),
                SqlValue::BigInt(Some(1)),
                "y".into(),
                SqlValue::Double(Some(2.5)),
                SqlValue::BigInt(Some(2)),
            ],
        );
        assert_eq!(arrays.len(), 4);
        assert_eq!(
            arrays[1],
            SqlValue::Array(
                ArrayType::Double,
                Some(Box::new(vec![
                    SqlValue::Double(Some(0.0)),
                    SqlValue::Double(Some(2.5))
                ]))
            )
        );
        assert_eq!(
            arrays[3],
            SqlValue::Array(
                ArrayType::BigInt,
                Some(Box::new(vec![
                    SqlValue::BigInt(Some(1)),
                    SqlValue::BigInt(Some(0))
                ]))
            )
        );
    }
}
