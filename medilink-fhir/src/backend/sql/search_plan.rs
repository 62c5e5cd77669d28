//! Criteria → SQL: each criterion becomes a boolean expression over a resource-table alias,
//! built from `IN (subquery)` over the index tables (by `rid`, the resource's surrogate key;
//! the alias's own `resource_type` condition restricts the type), so chains, `_has` and the
//! compartment restriction nest naturally and the planner can drive from the indexes.

use sea_orm::Value as SqlValue;

use crate::error::{FhirError, FhirResult};
use crate::model::ResourceType;
use crate::search::compartment::{
    MANY_PATIENTS, PATIENTS_PARAM, compartment_params, patient_compartment_params,
};
use crate::search::limits::index_key;
use crate::search::normalize::{Number, Range, normalize_string};
use crate::search::{
    Criterion, Modifier, ParamType, Prefix, Restriction, SearchParam, SearchValue, TokenValue,
    Visibility,
};

/// Accumulates SQL text parameters while criteria are planned.
#[derive(Debug, Default)]
pub(super) struct Plan {
    pub(super) values: Vec<SqlValue>,
    pub(super) aliases: usize,
    /// "now" in microseconds, for `ap` on dates.
    pub(super) now: i64,
    /// The caller's restriction, applied again at every chain and `_has` step (each by its
    /// own type) so that no hop reaches a resource the caller may not see.
    pub(super) restrict: Option<Restriction>,
    /// Plan patient membership conditions as correlated `EXISTS` (set when other criteria are
    /// present to drive the query).
    pub(super) correlate_compartment: bool,
    /// Bind the consent restriction's patient lists as one JSON array (`json_each`, SQLite)
    /// instead of one parameter per patient.
    pub(super) json_lists: bool,
}

/// The index table of a parameter type.
pub(super) fn table_of(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String => "search_string",
        ParamType::Token => "search_token",
        ParamType::Reference => "search_reference",
        ParamType::Date => "search_date",
        ParamType::Number => "search_number",
        ParamType::Quantity => "search_quantity",
        ParamType::Uri => "search_uri",
        ParamType::Composite | ParamType::Special => "search_composite",
    }
}

/// The largest char, appended to a prefix to bound a range scan.
const MAX_CHAR: char = '\u{10FFFF}';

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl Plan {
    /// `IN (…)` operand for the ids: one JSON array parameter on SQLite, else one parameter
    /// per id.
    fn id_list(&mut self, ids: &[String]) -> String {
        if self.json_lists {
            let array = serde_json::Value::from(ids.to_vec()).to_string();
            format!("(SELECT value FROM json_each({}))", self.bind(array))
        } else {
            let marks: Vec<&str> = ids.iter().map(|id| self.bind(id.as_str())).collect();
            format!("({})", marks.join(", "))
        }
    }

    fn bind(&mut self, value: impl Into<SqlValue>) -> &'static str {
        self.values.push(value.into());
        "?"
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("s{}", self.aliases)
    }

    /// All criteria ANDed, over `alias` (a `resources` row of `resource_type`).
    pub(super) fn all(
        &mut self,
        criteria: &[Criterion],
        resource_type: ResourceType,
        alias: &str,
    ) -> FhirResult<String> {
        let mut parts = Vec::with_capacity(criteria.len());
        for criterion in criteria {
            if let Criterion::Restricted(restriction) = criterion {
                let visibility = restriction.of(resource_type);
                // Another criterion may already confine every match to some permitted
                // patients: asking for a member again would only re-check it row by row.
                let implied = match &visibility {
                    Visibility::Patients { permitted, .. } => criteria
                        .iter()
                        .filter_map(|other| implied_members(other, resource_type, permitted))
                        .min_by_key(Vec::len),
                    _ => None,
                };
                parts.push(self.visible(&visibility, alias, implied.as_deref()));
                for extra in restriction.criteria(resource_type) {
                    parts.push(self.criterion(&extra, resource_type, alias)?);
                }
                continue;
            }
            parts.push(self.criterion(criterion, resource_type, alias)?);
        }
        Ok(if parts.is_empty() {
            "1 = 1".to_owned()
        } else {
            parts.join(" AND ")
        })
    }

    fn criterion(
        &mut self,
        criterion: &Criterion,
        ty: ResourceType,
        alias: &str,
    ) -> FhirResult<String> {
        Ok(match criterion {
            Criterion::Ids(ids) => {
                if ids.is_empty() {
                    return Ok("1 = 0".to_owned());
                }
                let marks: Vec<&str> = ids.iter().map(|id| self.bind(id.as_str())).collect();
                format!("{alias}.id IN ({})", marks.join(", "))
            }
            Criterion::LastUpdated(values) => {
                let conds: Vec<String> = values
                    .iter()
                    .map(|(prefix, range)| {
                        self.range_cond(
                            &format!("{alias}.last_updated"),
                            &format!("({alias}.last_updated + 1)"),
                            *prefix,
                            *range,
                        )
                    })
                    .collect();
                format!("({})", balanced_or(&conds))
            }
            Criterion::Param {
                param,
                modifier,
                values,
            } => self.param(param, modifier, values, alias)?,
            Criterion::Missing { param, missing } => {
                let s = self.alias();
                let (table, code) = match param.kind {
                    ParamType::Special => return Err(unsupported("special parameters")),
                    kind => (table_of(kind), param.code.clone()),
                };
                let p = self.bind(code);
                let not = if *missing { "NOT " } else { "" };
                format!(
                    "{alias}.rid {not}IN (SELECT {s}.rid FROM {table} {s} WHERE {s}.param = {p})"
                )
            }
            Criterion::Chain { reference, targets } => {
                let s = self.alias();
                let p = self.bind(reference.code.as_str());
                let mut branches = Vec::new();
                for (target_type, inner) in targets {
                    let target_alias = self.alias();
                    let tt = self.bind(target_type.as_str());
                    let tt2 = self.bind(target_type.as_str());
                    let live = self.bind(false);
                    let mut inner = self.criterion(inner, *target_type, &target_alias)?;
                    inner.push_str(&self.restriction(*target_type, &target_alias)?);
                    branches.push(format!(
                        "({s}.target_type = {tt} AND {s}.target_id IN (SELECT {target_alias}.id FROM resources {target_alias} \
                         WHERE {target_alias}.resource_type = {tt2} AND {target_alias}.deleted = {live} AND {inner}))"
                    ));
                }
                format!(
                    "{alias}.rid IN (SELECT {s}.rid FROM search_reference {s} WHERE {s}.param = {p} AND ({}))",
                    balanced_or(&branches)
                )
            }
            Criterion::Has {
                source,
                reference,
                inner,
            } => {
                let s = self.alias();
                let source_alias = self.alias();
                let p = self.bind(reference.code.as_str());
                let tt = self.bind(ty.as_str());
                let st = self.bind(source.as_str());
                let live = self.bind(false);
                let mut inner = self.criterion(inner, *source, &source_alias)?;
                inner.push_str(&self.restriction(*source, &source_alias)?);
                format!(
                    "{alias}.id IN (SELECT {s}.target_id FROM search_reference {s} WHERE {s}.param = {p} \
                     AND {s}.target_type = {tt} AND {s}.rid IN (SELECT {source_alias}.rid FROM resources {source_alias} \
                     WHERE {source_alias}.resource_type = {st} AND {source_alias}.deleted = {live} AND {inner}))"
                )
            }
            Criterion::Restricted(restriction) => {
                let visibility = restriction.of(ty);
                let mut condition = self.visible(&visibility, alias, None);
                for extra in restriction.criteria(ty) {
                    condition.push_str(" AND ");
                    condition.push_str(&self.criterion(&extra, ty, alias)?);
                }
                condition
            }
            Criterion::Compartment { compartment, id } => {
                let params = compartment_params(*compartment, ty);
                if params.is_empty() {
                    return Ok("1 = 0".to_owned());
                }
                let s = self.alias();
                let param_marks: Vec<&str> = params.iter().map(|p| self.bind(p.as_str())).collect();
                let target_type = self.bind(compartment.as_str());
                let target_id = self.bind(id.as_str());
                format!(
                    "{alias}.rid IN (SELECT {s}.rid FROM search_reference {s} WHERE {s}.param IN ({}) \
                     AND {s}.target_type = {target_type} AND {s}.target_id = {target_id})",
                    param_marks.join(", ")
                )
            }
            Criterion::PatientCompartment(patients) => {
                if patients.is_empty() {
                    return Ok("1 = 0".to_owned());
                }
                if ty == ResourceType::Patient {
                    let marks: Vec<&str> =
                        patients.iter().map(|id| self.bind(id.as_str())).collect();
                    return Ok(format!("{alias}.id IN ({})", marks.join(", ")));
                }
                let params = patient_compartment_params(ty);
                if params.is_empty() {
                    return Ok("1 = 0".to_owned());
                }
                let s = self.alias();
                let param_marks: Vec<&str> = params.iter().map(|p| self.bind(p.as_str())).collect();
                let patient = self.bind("Patient");
                let id_marks: Vec<&str> =
                    patients.iter().map(|id| self.bind(id.as_str())).collect();
                let condition = format!(
                    "{s}.param IN ({}) AND {s}.target_type = {patient} AND {s}.target_id IN ({})",
                    param_marks.join(", "),
                    id_marks.join(", ")
                );
                if self.correlate_compartment {
                    // Other criteria already narrow the rows: check each candidate through the
                    // `rid` index instead of materializing every permitted patient's rows.
                    format!(
                        "EXISTS (SELECT 1 FROM search_reference {s} WHERE {s}.rid = {alias}.rid AND {condition})"
                    )
                } else {
                    format!(
                        "{alias}.rid IN (SELECT {s}.rid FROM search_reference {s} WHERE {condition})"
                    )
                }
            }
        })
    }

    /// ` AND <visibility condition>` for a hop to `ty` when the query is restricted, with
    /// the restriction's own criteria of `ty` (a granular scope's category) ANDed: every hop
    /// into a type meets what a search of that type would.
    fn restriction(&mut self, ty: ResourceType, alias: &str) -> FhirResult<String> {
        let Some(restriction) = self.restrict.clone() else {
            return Ok(String::new());
        };
        let mut condition = match restriction.of(ty) {
            Visibility::All => String::new(),
            visibility => format!(" AND {}", self.visible(&visibility, alias, None)),
        };
        for extra in restriction.criteria(ty) {
            condition.push_str(" AND ");
            condition.push_str(&self.criterion(&extra, ty, alias)?);
        }
        Ok(condition)
    }

    /// The condition of `visibility` over `alias`: no patient outside the permitted ones and,
    /// when asked, at least one permitted patient. `implied`: permitted patients one of which
    /// every match references anyway (another criterion says so, [`implied_members`]).
    ///
    /// The row's `patient` column (migration 0008) decides a resource that names no patient or
    /// exactly one; only a resource naming several ([`MANY_PATIENTS`]) is checked against its
    /// [`PATIENTS_PARAM`] rows (a correlated `NOT EXISTS`, and `EXISTS` for membership).
    fn visible(
        &mut self,
        visibility: &Visibility,
        alias: &str,
        implied: Option<&[String]>,
    ) -> String {
        let (permitted, member) = match visibility {
            Visibility::All => return "1 = 1".to_owned(),
            Visibility::Nothing => return "1 = 0".to_owned(),
            Visibility::Patients { permitted, member } => (permitted.clone(), *member),
        };
        if member && permitted.is_empty() {
            return "1 = 0".to_owned();
        }
        if permitted.is_empty() {
            return format!("{alias}.patient IS NULL");
        }
        // A one-patient match of an implying criterion is one of the implied patients (fewer
        // values to compare than the whole permitted list).
        let sole = implied.unwrap_or(&permitted);
        let sole = match sole {
            [one] => format!("{alias}.patient = {}", self.bind(one.as_str())),
            many => format!("{alias}.patient IN {}", self.id_list(many)),
        };
        let x = self.alias();
        let foreign = self.id_list(&permitted);
        // The parameter is a literal (a constant of ours), so that the planner can use the
        // partial index `search_reference_patient` (migration 0007).
        let mut many = format!(
            "{alias}.patient = '{MANY_PATIENTS}' AND NOT EXISTS (SELECT 1 FROM search_reference {x} \
             WHERE {x}.rid = {alias}.rid AND {x}.param = '{PATIENTS_PARAM}' AND {x}.target_id NOT IN {foreign})"
        );
        if implied.is_some() {
            // Every match names an implied patient: neither "no patient" nor a member check.
            return format!("({sole} OR ({many}))");
        }
        if member {
            let s = self.alias();
            let members = self.id_list(&permitted);
            many.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM search_reference {s} WHERE {s}.rid = {alias}.rid \
                 AND {s}.param = '{PATIENTS_PARAM}' AND {s}.target_id IN {members})"
            ));
            return format!("({sole} OR ({many}))");
        }
        format!("({alias}.patient IS NULL OR {sole} OR ({many}))")
    }

    fn param(
        &mut self,
        param: &SearchParam,
        modifier: &Modifier,
        values: &[SearchValue],
        alias: &str,
    ) -> FhirResult<String> {
        let s = self.alias();
        let (table, code) = match (param.kind, modifier) {
            (ParamType::Token, Modifier::Text) => ("search_string", format!("{}:text", param.code)),
            (ParamType::Token, Modifier::OfType) => {
                ("search_token", format!("{}:of-type", param.code))
            }
            (ParamType::Reference, Modifier::Identifier) => {
                ("search_token", format!("{}:identifier", param.code))
            }
            (ParamType::Special, _) => return Err(unsupported("special parameters")),
            (kind, _) => (table_of(kind), param.code.clone()),
        };
        let p = self.bind(code);
        let mut conds = Vec::with_capacity(values.len());
        for value in values {
            conds.push(self.value(&s, param, modifier, value)?);
        }
        let negate = if *modifier == Modifier::Not {
            "NOT "
        } else {
            ""
        };
        Ok(format!(
            "{alias}.rid {negate}IN (SELECT {s}.rid FROM {table} {s} WHERE {s}.param = {p} AND ({}))",
            balanced_or(&conds)
        ))
    }

    fn value(
        &mut self,
        s: &str,
        param: &SearchParam,
        modifier: &Modifier,
        value: &SearchValue,
    ) -> FhirResult<String> {
        Ok(match (value, modifier) {
            (SearchValue::String(text), Modifier::Exact) => {
                format!(
                    "{s}.value_exact = {}",
                    self.bind(index_key(text).into_owned())
                )
            }
            (SearchValue::String(text), Modifier::Contains) => {
                format!(
                    "{s}.value_norm LIKE {} ESCAPE '\\'",
                    self.bind(format!("%{}%", escape_like(&normalize_string(text))))
                )
            }
            (SearchValue::String(text), _) => {
                self.prefix_cond(&format!("{s}.value_norm"), &normalize_string(text))
            }
            (SearchValue::Token(token), Modifier::Text) => {
                // Any word of the display text starting with the value.
                let norm =
                    escape_like(&normalize_string(token.code.as_deref().unwrap_or_default()));
                let start = self.bind(format!("{norm}%"));
                let word = self.bind(format!("% {norm}%"));
                format!(
                    "({s}.value_norm LIKE {start} ESCAPE '\\' OR {s}.value_norm LIKE {word} ESCAPE '\\')"
                )
            }
            (SearchValue::Token(token), Modifier::OfType) => {
                // `type-system|type-code|value`: stored as system = type system, code = `type-code|value`.
                let raw = match (&token.system, &token.code) {
                    (Some(Some(system)), Some(code)) => format!("{system}|{code}"),
                    (_, Some(code)) => code.clone(),
                    _ => String::new(),
                };
                let mut parts = raw.splitn(3, '|');
                let (Some(system), Some(code), Some(id_value)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(FhirError::bad_request(format!(
                        "{}:of-type needs system|code|value",
                        param.code
                    )));
                };
                let sys = self.bind(system);
                let key = self.bind(format!("{code}|{id_value}"));
                format!("{s}.system = {sys} AND {s}.code = {key}")
            }
            (SearchValue::Token(token), _) => self.token_cond(s, "system", "code", token),
            (
                SearchValue::Reference {
                    resource_type,
                    id,
                    url,
                },
                _,
            ) => {
                let mut cond = match id {
                    Some(id) => {
                        let mut c =
                            format!("{s}.target_id = {}", self.bind(index_key(id).into_owned()));
                        if let Some(t) = resource_type {
                            c.push_str(&format!(
                                " AND {s}.target_type = {}",
                                self.bind(t.as_str())
                            ));
                        }
                        c
                    }
                    None => "1 = 0".to_owned(),
                };
                if url.contains("://") || url.starts_with("urn:") {
                    cond = format!(
                        "({cond}) OR {s}.url = {}",
                        self.bind(index_key(url).into_owned())
                    );
                }
                cond
            }
            (SearchValue::Date { prefix, range }, _) => {
                self.range_cond(&format!("{s}.low"), &format!("{s}.high"), *prefix, *range)
            }
            (SearchValue::Number { prefix, number }, _) => {
                self.number_cond(&format!("{s}.value"), *prefix, *number)
            }
            (
                SearchValue::Quantity {
                    prefix,
                    number,
                    system,
                    code,
                },
                _,
            ) => {
                let mut cond = self.number_cond(&format!("{s}.value"), *prefix, *number);
                if let Some(system) = system {
                    let system = self.bind(index_key(system).into_owned());
                    cond.push_str(&format!(" AND {s}.system = {system}"));
                }
                if let Some(code) = code {
                    let code = self.bind(index_key(code).into_owned());
                    cond.push_str(&format!(" AND {s}.code = {code}"));
                }
                cond
            }
            (SearchValue::Uri(uri), Modifier::Below) => {
                format!(
                    "{s}.uri LIKE {} ESCAPE '\\'",
                    self.bind(format!("{}%", escape_like(uri)))
                )
            }
            (SearchValue::Uri(uri), Modifier::Above) => {
                let v = self.bind(uri.as_str());
                format!("substr({v}, 1, length({s}.uri)) = {s}.uri")
            }
            (SearchValue::Uri(uri), _) => {
                format!("{s}.uri = {}", self.bind(index_key(uri).into_owned()))
            }
            (SearchValue::Composite(parts), _) => self.composite_cond(s, param, parts)?,
        })
    }

    fn token_cond(
        &mut self,
        s: &str,
        system_col: &str,
        code_col: &str,
        token: &TokenValue,
    ) -> String {
        let mut conds = Vec::new();
        match &token.system {
            None => {}
            Some(None) => conds.push(format!("{s}.{system_col} = ''")),
            Some(Some(system)) => {
                let system = self.bind(index_key(system).into_owned());
                conds.push(format!("{s}.{system_col} = {system}"))
            }
        }
        if let Some(code) = &token.code {
            let code = self.bind(index_key(code).into_owned());
            conds.push(format!("{s}.{code_col} = {code}"));
        }
        if conds.is_empty() {
            "1 = 1".to_owned()
        } else {
            conds.join(" AND ")
        }
    }

    fn prefix_cond(&mut self, column: &str, norm: &str) -> String {
        // Stored values are bounded keys: a longer value compares on its key.
        let norm = index_key(norm);
        let low = self.bind(norm.as_ref());
        let high = self.bind(format!("{norm}{MAX_CHAR}"));
        format!("{column} >= {low} AND {column} < {high}")
    }

    fn composite_cond(
        &mut self,
        s: &str,
        param: &SearchParam,
        parts: &[SearchValue],
    ) -> FhirResult<String> {
        let mut conds = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let cond = match (i, part) {
                (0, SearchValue::Token(token)) => self.token_cond(s, "s1", "k1", token),
                (0, SearchValue::Reference { url, .. }) => {
                    format!("{s}.k1 = {}", self.bind(index_key(url).into_owned()))
                }
                (1, SearchValue::Token(token)) => self.token_cond(s, "s2", "k2", token),
                (
                    1,
                    SearchValue::Quantity {
                        prefix,
                        number,
                        system,
                        code,
                    },
                ) => {
                    let mut c = self.number_cond(&format!("{s}.n2"), *prefix, *number);
                    if let Some(system) = system {
                        c.push_str(&format!(" AND {s}.s2 = {}", self.bind(system.as_str())));
                    }
                    if let Some(code) = code {
                        c.push_str(&format!(" AND {s}.k2 = {}", self.bind(code.as_str())));
                    }
                    c
                }
                (1, SearchValue::Number { prefix, number }) => {
                    self.number_cond(&format!("{s}.n2"), *prefix, *number)
                }
                (1, SearchValue::Date { prefix, range }) => {
                    self.range_cond(&format!("{s}.lo2"), &format!("{s}.hi2"), *prefix, *range)
                }
                (1, SearchValue::String(text)) => {
                    self.prefix_cond(&format!("{s}.k2"), &normalize_string(text))
                }
                (2, SearchValue::Number { prefix, number }) => {
                    self.number_cond(&format!("{s}.n3"), *prefix, *number)
                }
                _ => {
                    return Err(FhirError::bad_request(format!(
                        "unsupported component value in {}",
                        param.code
                    )));
                }
            };
            conds.push(format!("({cond})"));
        }
        Ok(conds.join(" AND "))
    }

    /// Prefix semantics for ranges (dates): `[lo, hi)` of the target against the value's range.
    fn range_cond(&mut self, lo: &str, hi: &str, prefix: Prefix, v: Range) -> String {
        match prefix {
            Prefix::Eq => format!(
                "{lo} >= {} AND {hi} <= {}",
                self.bind(v.low),
                self.bind(v.high)
            ),
            Prefix::Ne => format!(
                "NOT ({lo} >= {} AND {hi} <= {})",
                self.bind(v.low),
                self.bind(v.high)
            ),
            Prefix::Gt => format!("{hi} > {}", self.bind(v.high)),
            Prefix::Lt => format!("{lo} < {}", self.bind(v.low)),
            Prefix::Ge => format!("{hi} > {}", self.bind(v.low)),
            Prefix::Le => format!("{lo} < {}", self.bind(v.high)),
            Prefix::Sa => format!("{lo} >= {}", self.bind(v.high)),
            Prefix::Eb => format!("{hi} <= {}", self.bind(v.low)),
            Prefix::Ap => {
                let distance = (self.now.saturating_sub(v.low)).unsigned_abs() / 10;
                let slack = (distance as i64).max(86_400_000_000);
                format!(
                    "{lo} < {} AND {hi} > {}",
                    self.bind(v.high.saturating_add(slack)),
                    self.bind(v.low.saturating_sub(slack))
                )
            }
        }
    }

    /// Prefix semantics for numbers: `eq` uses the value's precision range.
    fn number_cond(&mut self, column: &str, prefix: Prefix, n: Number) -> String {
        match prefix {
            Prefix::Eq => format!(
                "{column} >= {} AND {column} < {}",
                self.bind(n.low),
                self.bind(n.high)
            ),
            Prefix::Ne => format!(
                "NOT ({column} >= {} AND {column} < {})",
                self.bind(n.low),
                self.bind(n.high)
            ),
            Prefix::Gt | Prefix::Sa => format!("{column} > {}", self.bind(n.value)),
            Prefix::Lt | Prefix::Eb => format!("{column} < {}", self.bind(n.value)),
            Prefix::Ge => format!("{column} >= {}", self.bind(n.value)),
            Prefix::Le => format!("{column} <= {}", self.bind(n.value)),
            Prefix::Ap => {
                let (a, b) = (n.value * 0.9, n.value * 1.1);
                format!(
                    "{column} >= {} AND {column} <= {}",
                    self.bind(a.min(b)),
                    self.bind(a.max(b))
                )
            }
        }
    }
}

/// The permitted patients one of which every resource matching `criterion` (on `ty`)
/// references, if it confines matches so, so that a [`Visibility::Patients`] restriction need
/// not ask for a member and compares a one-patient row with these only: `_id` of
/// permitted Patients, or a plain reference criterion whose every value is
/// `Patient/<permitted id>` (or that id alone). Every reference to a Patient is also indexed
/// under [`PATIENTS_PARAM`], which the restriction reads. Anything else (modifiers, chains,
/// absolute urls, versioned references) is not taken as proof.
pub(super) fn implied_members(
    criterion: &Criterion,
    ty: ResourceType,
    permitted: &[String],
) -> Option<Vec<String>> {
    let ids: Vec<String> = match criterion {
        Criterion::Ids(ids) if ty == ResourceType::Patient => {
            ids.iter().map(|id| id.as_str().to_owned()).collect()
        }
        Criterion::Param {
            param,
            modifier: Modifier::None | Modifier::Type(ResourceType::Patient),
            values,
        } if param.kind == ParamType::Reference => values
            .iter()
            .map(|value| match value {
                SearchValue::Reference {
                    resource_type: Some(ResourceType::Patient),
                    id: Some(id),
                    url,
                } if *url == format!("Patient/{id}") || url == id => Some(id.clone()),
                _ => None,
            })
            .collect::<Option<_>>()?,
        _ => return None,
    };
    let mut ids = ids;
    ids.sort();
    ids.dedup();
    (!ids.is_empty() && ids.iter().all(|id| permitted.contains(id))).then_some(ids)
}

/// `(a) OR (b) OR …` as a balanced tree: a flat chain of a thousand ORs is an expression a
/// thousand deep, past SQLite's limit (1,000); balanced, its depth is logarithmic.
fn balanced_or(conds: &[String]) -> String {
    match conds {
        [] => "1 = 0".to_owned(),
        [one] => format!("({one})"),
        _ => {
            let (left, right) = conds.split_at(conds.len() / 2);
            format!("({} OR {})", balanced_or(left), balanced_or(right))
        }
    }
}

fn unsupported(what: &str) -> FhirError {
    FhirError::Unsupported {
        feature: what.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::SearchQuery;

    fn criterion(ty: ResourceType, name: &str, value: &str) -> Criterion {
        let query = SearchQuery::parse(ty, &[(name.to_owned(), value.to_owned())], true)
            .expect("valid query");
        query.criteria.into_iter().next().expect("one criterion")
    }

    fn implied(ty: ResourceType, name: &str, value: &str) -> bool {
        let permitted = ["p1".to_owned(), "p2".to_owned()];
        implied_members(&criterion(ty, name, value), ty, &permitted).is_some()
    }

    #[test]
    fn a_reference_to_permitted_patients_implies_a_member() {
        let obs = ResourceType::Observation;
        assert!(implied(obs, "subject", "Patient/p1"));
        assert!(implied(obs, "performer", "Patient/p2"));
        assert!(implied(obs, "patient", "Patient/p1"));
        assert!(implied(obs, "patient", "p1"));
        assert!(implied(obs, "patient", "Patient/p1,Patient/p2"));
        assert!(implied(obs, "subject:Patient", "p1"));
        // Every reference to a Patient is indexed under `_patient`, `focus` included.
        assert!(implied(obs, "focus", "Patient/p1"));
        assert!(implied(ResourceType::Condition, "patient", "Patient/p2"));
        assert!(implied(ResourceType::Patient, "_id", "p1,p2"));
    }

    #[test]
    fn anything_less_than_proof_keeps_the_member_condition() {
        let obs = ResourceType::Observation;
        // A patient outside the permitted set, alone or among permitted ones.
        assert!(!implied(obs, "patient", "Patient/p3"));
        assert!(!implied(obs, "patient", "Patient/p1,Patient/p3"));
        // Modifiers, absolute urls, other types, versions, ids of other types.
        assert!(!implied(obs, "patient:missing", "false"));
        assert!(!implied(obs, "patient:identifier", "urn:x|p1"));
        assert!(!implied(
            obs,
            "subject",
            "https://other.example/fhir/Patient/p1"
        ));
        assert!(!implied(obs, "subject", "Group/p1"));
        assert!(!implied(obs, "subject", "Patient/p1/_history/2"));
        assert!(!implied(obs, "code", "http://loinc.org|2708-6"));
        assert!(!implied(ResourceType::Patient, "_id", "p1,p3"));
        assert!(!implied(obs, "_id", "p1"));
        // A chain to a permitted patient's name is not a reference to that patient.
        assert!(!implied(obs, "subject:Patient.name", "p1"));
    }
}
