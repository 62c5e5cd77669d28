//! Running a [`SearchQuery`]: one keyset-paged query over `resources` with the planned
//! criteria, the sort keys as correlated aggregates over the index tables, then the page's
//! contents, the total and `_include`/`_revinclude`.
//!
//! Paging is by keyset (the sort keys and the id of the last row), not OFFSET, so a page link
//! stays correct while other clients write: rows are neither skipped nor repeated.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use sea_orm::{DbBackend, Value as SqlValue};
use serde_json::{Value, json};

use super::reader::Reader;
use super::rows::{VERSION_COLUMNS, stored_from_row};
use super::search_plan::{Plan, table_of};
use super::{SqlResourceStore, classify};
use crate::clock::to_micros;
use crate::error::{FhirError, FhirResult, Issue, IssueCode, Severity};
use crate::model::ResourceType;
use crate::search::limits::{MAX_BIND_PARAMETERS, exceeded};
use crate::search::registry::registry;
use crate::search::{
    Criterion, Include, ParamType, SearchPage, SearchQuery, SortKey, Summary, TotalMode,
};
use crate::store::StoredResource;

/// How a sort key's SQL value is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyClass {
    Text,
    Int,
    Real,
}

/// A decoded paging cursor: the key values of a boundary row and the direction.
#[derive(Debug)]
struct Cursor {
    keys: Vec<Value>,
    id: String,
    backward: bool,
}

fn encode_cursor(keys: &[Value], id: &str, backward: bool) -> String {
    let body = json!({"k": keys, "i": id, "b": backward});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string())
}

fn decode_cursor(text: &str, width: usize) -> FhirResult<Cursor> {
    let bad = || FhirError::bad_request("invalid _cursor: repeat the search from its first page");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bad())?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let keys = body
        .get("k")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(bad)?;
    let id = body
        .get("i")
        .and_then(Value::as_str)
        .ok_or_else(bad)?
        .to_owned();
    if keys.len() != width
        || id.contains('\0')
        || keys
            .iter()
            .any(|k| k.as_str().is_some_and(|k| k.contains('\0')))
    {
        return Err(bad());
    }
    Ok(Cursor {
        keys,
        id,
        backward: body.get("b").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// The SQL expression and class of a sort key, over alias `r`.
fn sort_expr(
    store: &SqlResourceStore,
    key: &SortKey,
    values: &mut Vec<SqlValue>,
) -> (String, KeyClass) {
    let (inner, class) = match (key.code.as_str(), &key.param) {
        ("_id", _) => ("r.id".to_owned(), KeyClass::Text),
        ("_lastUpdated", _) => ("r.last_updated".to_owned(), KeyClass::Int),
        (_, Some(param)) => {
            let agg = if key.descending { "MAX" } else { "MIN" };
            let (column, class) = match param.kind {
                ParamType::String => ("value_norm", KeyClass::Text),
                ParamType::Token => ("code", KeyClass::Text),
                ParamType::Reference => ("target_id", KeyClass::Text),
                ParamType::Uri => ("uri", KeyClass::Text),
                ParamType::Date if key.descending => ("high", KeyClass::Int),
                ParamType::Date => ("low", KeyClass::Int),
                _ => ("value", KeyClass::Real),
            };
            values.push(param.code.as_str().into());
            (
                format!(
                    "(SELECT {agg}(x.{column}) FROM {} x WHERE x.rid = r.rid AND x.param = ?)",
                    table_of(param.kind)
                ),
                class,
            )
        }
        (_, None) => ("r.id".to_owned(), KeyClass::Text),
    };
    // Missing values sort last in both directions.
    let sentinel: SqlValue = match (class, key.descending) {
        (KeyClass::Text, false) => "\u{10FFFF}".into(),
        (KeyClass::Text, true) => "".into(),
        (KeyClass::Int, false) => i64::MAX.into(),
        (KeyClass::Int, true) => i64::MIN.into(),
        (KeyClass::Real, false) => f64::MAX.into(),
        (KeyClass::Real, true) => f64::MIN.into(),
    };
    values.push(sentinel);
    let collate = if class == KeyClass::Text && store.backend == DbBackend::Postgres {
        " COLLATE \"C\""
    } else {
        ""
    };
    (format!("(COALESCE({inner}, ?){collate})"), class)
}

fn key_value(class: KeyClass, value: &Value) -> FhirResult<SqlValue> {
    let bad = || FhirError::bad_request("invalid _cursor: repeat the search from its first page");
    Ok(match class {
        KeyClass::Text => value.as_str().ok_or_else(bad)?.into(),
        KeyClass::Int => value.as_i64().ok_or_else(bad)?.into(),
        KeyClass::Real => value.as_f64().ok_or_else(bad)?.into(),
    })
}

/// The most matches `_total=estimate` counts (a larger total is reported as this, with a note).
pub(crate) const ESTIMATE_CAP: u64 = 10_000;

/// Runs one page of `query`.
pub(super) async fn run(store: &SqlResourceStore, query: &SearchQuery) -> FhirResult<SearchPage> {
    if query.text.is_some() || query.content.is_some() {
        return Err(FhirError::Unsupported {
            feature: "_text/_content without the full-text index (resolve them to _id first)"
                .to_owned(),
        });
    }
    let restrict = query.criteria.iter().find_map(|c| match c {
        Criterion::Restricted(restriction) => Some(restriction.clone()),
        _ => None,
    });
    let mut plan = Plan {
        now: to_micros(store.clock.now()),
        correlate_compartment: restrict.is_some() && query.criteria.len() > 1,
        restrict,
        json_lists: store.backend == DbBackend::Sqlite,
        ..Plan::default()
    };
    let live = plan_filter(&mut plan, query)?;
    // The parser's limits keep every search far below the backends' bind limits (SQLite
    // 32,766, PostgreSQL 65,535); this guards what they do not see (the consent restriction,
    // repeated at every hop) with a clean 400 instead of a driver error.
    let bound = plan.values.len() + 3 * (query.sort.len() + 1);
    if bound > MAX_BIND_PARAMETERS {
        return Err(exceeded(
            "the number of bound values of one search statement",
            MAX_BIND_PARAMETERS,
            format!("this search would bind {bound}; narrow it"),
        ));
    }
    let filter_values = plan.values.clone();
    let mut reader = Reader::new(store);
    let mut page = SearchPage {
        warnings: query.ignored.clone(),
        ..SearchPage::default()
    };

    if query.total != TotalMode::None || query.summary == Summary::Count {
        // `_total=estimate` (issue #18): a count that stops at ESTIMATE_CAP matches, so a
        // large table costs a bounded scan; a capped count says it is a lower bound.
        let estimate = query.total == TotalMode::Estimate && query.summary != Summary::Count;
        let sql = match estimate {
            true => format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM resources r WHERE {live} LIMIT {}) capped",
                ESTIMATE_CAP + 1
            ),
            false => format!("SELECT COUNT(*) FROM resources r WHERE {live}"),
        };
        // Counted once per statement while nothing is written (`totals.rs`, issue #19).
        let watermark: Option<i64> = match reader
            .one("SELECT MAX(seq) FROM resource_versions", vec![])
            .await?
        {
            Some(row) => row.try_get_by_index(0).map_err(classify)?,
            None => None,
        };
        let watermark = watermark.unwrap_or(0);
        let key = super::totals::key(&sql, &filter_values);
        let mut total = match store.totals.get(&key, watermark) {
            Some(total) => total,
            None => {
                let row = reader.one(&sql, filter_values.clone()).await?;
                let total: i64 = match row {
                    Some(row) => row.try_get_by_index(0).map_err(classify)?,
                    None => 0,
                };
                let total = total.max(0) as u64;
                store.totals.put(key, watermark, total);
                total
            }
        };
        if estimate && total > ESTIMATE_CAP {
            total = ESTIMATE_CAP;
            page.warnings.push(Issue {
                severity: Severity::Information,
                code: IssueCode::Informational,
                expression: Some("_total".to_owned()),
                diagnostics: format!(
                    "_total=estimate: more than {ESTIMATE_CAP} matches (the total given is a \
                     lower bound; ask _total=accurate for the exact count)"
                ),
            });
        }
        page.total = Some(total);
    }
    if query.summary == Summary::Count || query.count == 0 {
        return Ok(page);
    }

    // Sort keys (explicit keys, then the id as the final tiebreak).
    let mut key_values: Vec<SqlValue> = Vec::new();
    let keys: Vec<(String, KeyClass, bool)> = query
        .sort
        .iter()
        .map(|key| {
            let (expr, class) = sort_expr(store, key, &mut key_values);
            (expr, class, key.descending)
        })
        .collect();
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| decode_cursor(c, keys.len()))
        .transpose()?;
    let backward = cursor.as_ref().is_some_and(|c| c.backward);

    let mut values = key_values;
    values.extend(filter_values);
    let select_keys: String = keys
        .iter()
        .enumerate()
        .map(|(i, (expr, _, _))| format!(", {expr} AS k{i}"))
        .collect();
    let mut keyset = "1 = 1".to_owned();
    if let Some(cursor) = &cursor {
        let mut ors = Vec::new();
        for i in 0..=keys.len() {
            let mut ands = Vec::new();
            for (j, (_, class, _)) in keys.iter().enumerate().take(i) {
                ands.push(format!("q.k{j} = ?"));
                values.push(key_value(*class, &cursor.keys[j])?);
            }
            if i < keys.len() {
                let (_, class, descending) = keys[i];
                let forward_gt = !descending;
                let op = if forward_gt != cursor.backward {
                    ">"
                } else {
                    "<"
                };
                ands.push(format!("q.k{i} {op} ?"));
                values.push(key_value(class, &cursor.keys[i])?);
            } else {
                ands.push(format!(
                    "q.id {} ?",
                    if cursor.backward { "<" } else { ">" }
                ));
                values.push(cursor.id.as_str().into());
            }
            ors.push(format!("({})", ands.join(" AND ")));
        }
        keyset = ors.join(" OR ");
    }
    let order: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, (_, _, descending))| {
            format!(
                "q.k{i} {}",
                if *descending != backward {
                    "DESC"
                } else {
                    "ASC"
                }
            )
        })
        .chain(std::iter::once(format!(
            "q.id {}",
            if backward { "DESC" } else { "ASC" }
        )))
        .collect();
    let limit = query.count + 1;
    let sql = format!(
        "SELECT q.id, q.seq{} FROM (SELECT r.id AS id, r.seq AS seq{select_keys} FROM resources r WHERE {live}) q \
         WHERE {keyset} ORDER BY {} LIMIT {limit}",
        (0..keys.len())
            .map(|i| format!(", q.k{i}"))
            .collect::<String>(),
        order.join(", ")
    );
    let rows = reader.all(&sql, values).await?;
    let mut hits: Vec<(String, i64, Vec<Value>)> = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get_by_index(0).map_err(classify)?;
        let seq: i64 = row.try_get_by_index(1).map_err(classify)?;
        let mut key_json = Vec::with_capacity(keys.len());
        for (i, (_, class, _)) in keys.iter().enumerate() {
            key_json.push(match class {
                KeyClass::Text => json!(row.try_get_by_index::<String>(i + 2).map_err(classify)?),
                KeyClass::Int => json!(row.try_get_by_index::<i64>(i + 2).map_err(classify)?),
                KeyClass::Real => json!(row.try_get_by_index::<f64>(i + 2).map_err(classify)?),
            });
        }
        hits.push((id, seq, key_json));
    }
    let more = hits.len() > query.count;
    hits.truncate(query.count);
    if backward {
        hits.reverse();
    }
    if let (Some(first), Some(last)) = (hits.first(), hits.last()) {
        let more_after = if backward { true } else { more };
        let more_before = if backward { more } else { cursor.is_some() };
        if more_after {
            page.next_cursor = Some(encode_cursor(&last.2, &last.0, false));
        }
        if more_before {
            page.previous_cursor = Some(encode_cursor(&first.2, &first.0, true));
        }
    } else if let Some(cursor) = &cursor {
        // An empty page after a cursor: offer the way back.
        if !cursor.backward {
            page.previous_cursor = Some(encode_cursor(&cursor.keys, &cursor.id, true));
        }
    }
    let seqs: Vec<i64> = hits.iter().map(|h| h.1).collect();
    page.matches = fetch_by_seq(&mut reader, &seqs).await?;
    page.includes = includes(&mut reader, query, &page.matches).await?;
    Ok(page)
}

/// The WHERE clause over `r` for the query's type and criteria (live resources only).
fn plan_filter(plan: &mut Plan, query: &SearchQuery) -> FhirResult<String> {
    plan.values.push(query.resource_type.as_str().into());
    plan.values.push(false.into());
    let criteria = plan.all(&query.criteria, query.resource_type, "r")?;
    Ok(format!(
        "r.resource_type = ? AND r.deleted = ? AND {criteria}"
    ))
}

/// Current versions by sequence number, in the order given.
async fn fetch_by_seq(reader: &mut Reader<'_>, seqs: &[i64]) -> FhirResult<Vec<StoredResource>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; seqs.len()].join(", ");
    let sql = format!("SELECT {VERSION_COLUMNS} FROM resource_versions WHERE seq IN ({marks})");
    let values = seqs.iter().map(|s| SqlValue::from(*s)).collect();
    let rows = reader.all(&sql, values).await?;
    let mut by_seq: HashMap<u64, StoredResource> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let stored = stored_from_row(row)?;
        by_seq.insert(stored.seq, stored);
    }
    Ok(seqs
        .iter()
        .filter_map(|s| by_seq.remove(&(*s as u64)))
        .collect())
}

/// Current live versions of `(type, id)` keys.
async fn fetch_current(
    reader: &mut Reader<'_>,
    keys: &[(String, String)],
) -> FhirResult<Vec<StoredResource>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(400) {
        let mut values: Vec<SqlValue> = vec![false.into()];
        for (t, id) in chunk {
            values.push(t.as_str().into());
            values.push(id.as_str().into());
        }
        let sql = format!(
            "SELECT r.seq FROM resources r WHERE r.deleted = ? AND (r.resource_type, r.id) IN (VALUES {})",
            vec!["(?, ?)"; chunk.len()].join(", ")
        );
        let rows = reader.all(&sql, values).await?;
        let seqs = rows
            .iter()
            .map(|r| r.try_get_by_index::<i64>(0).map_err(classify))
            .collect::<FhirResult<Vec<_>>>()?;
        out.extend(fetch_by_seq(reader, &seqs).await?);
    }
    Ok(out)
}

/// `_include` (with `:iterate`) and `_revinclude` for the page's matches.
async fn includes(
    reader: &mut Reader<'_>,
    query: &SearchQuery,
    matches: &[StoredResource],
) -> FhirResult<Vec<StoredResource>> {
    if (query.includes.is_empty() && query.revincludes.is_empty()) || matches.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen: HashSet<(ResourceType, String)> = matches
        .iter()
        .map(|m| (m.resource_type, m.id.to_string()))
        .collect();
    let mut included: Vec<StoredResource> = Vec::new();
    let mut frontier: Vec<StoredResource> = matches.to_vec();
    for round in 0..4 {
        let mut wanted: Vec<(String, String)> = Vec::new();
        for include in &query.includes {
            if round > 0 && !include.iterate {
                continue;
            }
            wanted.extend(forward_targets(reader, include, &frontier).await?);
        }
        for include in &query.revincludes {
            if round > 0 && !include.iterate {
                continue;
            }
            wanted.extend(reverse_sources(reader, include, &frontier).await?);
        }
        wanted.retain(|(t, id)| {
            ResourceType::from_name(t).is_some_and(|t| seen.insert((t, id.clone())))
        });
        if wanted.is_empty() {
            break;
        }
        let fetched = fetch_current(reader, &wanted).await?;
        included.extend(fetched.iter().cloned());
        frontier = fetched;
    }
    Ok(included)
}

async fn forward_targets(
    reader: &mut Reader<'_>,
    include: &Include,
    from: &[StoredResource],
) -> FhirResult<Vec<(String, String)>> {
    let ids: Vec<&str> = from
        .iter()
        .filter(|r| r.resource_type == include.source)
        .map(|r| r.id.as_str())
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut values: Vec<SqlValue> = Vec::new();
    let mut sql = String::from(
        "SELECT DISTINCT s.target_type, s.target_id FROM search_reference s WHERE s.target_id <> ''",
    );
    param_filter(&mut sql, &mut values, include);
    if let Some(target) = include.target {
        sql.push_str(" AND s.target_type = ?");
        values.push(target.as_str().into());
    }
    sql.push_str(&format!(
        " AND s.rid IN (SELECT t.rid FROM resources t WHERE t.resource_type = ? AND t.id IN ({}))",
        vec!["?"; ids.len()].join(", ")
    ));
    values.push(include.source.as_str().into());
    values.extend(ids.into_iter().map(SqlValue::from));
    let rows = reader.all(&sql, values).await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get_by_index::<String>(0).map_err(classify)?,
                r.try_get_by_index::<String>(1).map_err(classify)?,
            ))
        })
        .collect()
}

/// ` AND s.param …`: the include's parameter, or every reference parameter of its source type
/// (index rows do not carry the type, and the parameter leads the index key).
fn param_filter(sql: &mut String, values: &mut Vec<SqlValue>, include: &Include) {
    match &include.param {
        Some(code) => {
            sql.push_str(" AND s.param = ?");
            values.push(code.as_str().into());
        }
        None => {
            let reference_params: Vec<String> = registry()
                .params(include.source)
                .filter(|p| p.kind == ParamType::Reference)
                .map(|p| p.code.clone())
                .collect();
            if reference_params.is_empty() {
                sql.push_str(" AND 1 = 0");
                return;
            }
            sql.push_str(&format!(
                " AND s.param IN ({})",
                vec!["?"; reference_params.len()].join(", ")
            ));
            values.extend(reference_params.into_iter().map(SqlValue::from));
        }
    }
}

async fn reverse_sources(
    reader: &mut Reader<'_>,
    include: &Include,
    to: &[StoredResource],
) -> FhirResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut by_type: HashMap<ResourceType, Vec<&str>> = HashMap::new();
    for resource in to {
        by_type
            .entry(resource.resource_type)
            .or_default()
            .push(resource.id.as_str());
    }
    for (target_type, ids) in by_type {
        if include.target.is_some_and(|t| t != target_type) {
            continue;
        }
        let mut values: Vec<SqlValue> =
            vec![include.source.as_str().into(), target_type.as_str().into()];
        let mut sql = String::from(
            "SELECT DISTINCT t.id FROM search_reference s JOIN resources t ON t.rid = s.rid \
             WHERE t.resource_type = ? AND s.target_type = ?",
        );
        param_filter(&mut sql, &mut values, include);
        sql.push_str(&format!(
            " AND s.target_id IN ({})",
            vec!["?"; ids.len()].join(", ")
        ));
        values.extend(ids.into_iter().map(SqlValue::from));
        let rows = reader.all(&sql, values).await?;
        for row in rows {
            out.push((
                include.source.as_str().to_owned(),
                row.try_get_by_index::<String>(0).map_err(classify)?,
            ));
        }
    }
    Ok(out)
}
