//! The parsed form of a search request (`GET [type]?params`) and its parser.
//!
//! Parsing validates every value up front, so a malformed date or prefix is a 400 naming the
//! parameter and the value, and planning never sees bad input.

use std::sync::Arc;

use super::limits::{
    MAX_CHAIN_DEPTH, MAX_CHAIN_FAN_OUT, MAX_CRITERIA, MAX_HAS_DEPTH, MAX_INCLUDES, MAX_SORT_KEYS,
    MAX_TOTAL_VALUES, MAX_VALUES_PER_PARAM, exceeded,
};
use super::normalize::{Number, Range, date_range, parse_number};
use super::registry::{ParamType, SearchParam, registry};
use crate::error::{FhirError, FhirResult, Issue, IssueCode, Severity};
use crate::model::{ResourceId, ResourceType};

/// Comparison prefixes of number, date and quantity values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "the variants are the R4 prefixes")]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

/// Search modifiers (`name:exact`, `code:not`, `subject:Patient`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs, reason = "the variants are the R4 modifiers")]
pub enum Modifier {
    None,
    Exact,
    Contains,
    Text,
    Not,
    Above,
    Below,
    OfType,
    Identifier,
    Type(ResourceType),
}

/// A token value: `code`, `system|code`, `|code`, `system|`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenValue {
    /// `None`: any system; `Some(None)`: no system; `Some(Some(s))`: that system.
    pub system: Option<Option<String>>,
    /// `None` for `system|`.
    pub code: Option<String>,
}

/// One value of a criterion (values of one parameter occurrence are ORed).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs, reason = "each variant mirrors a parameter type")]
pub enum SearchValue {
    String(String),
    Token(TokenValue),
    Reference {
        resource_type: Option<ResourceType>,
        id: Option<String>,
        url: String,
    },
    Date {
        prefix: Prefix,
        range: Range,
    },
    Number {
        prefix: Prefix,
        number: Number,
    },
    Quantity {
        prefix: Prefix,
        number: Number,
        system: Option<String>,
        code: Option<String>,
    },
    Uri(String),
    Composite(Vec<SearchValue>),
}

/// One criterion; the criteria of a query are ANDed.
#[derive(Debug, Clone)]
pub enum Criterion {
    /// A parameter with OR-ed values.
    Param {
        /// The parameter.
        param: Arc<SearchParam>,
        /// Its modifier.
        modifier: Modifier,
        /// OR-ed values.
        values: Vec<SearchValue>,
    },
    /// `name:missing=true|false`.
    Missing {
        /// The parameter.
        param: Arc<SearchParam>,
        /// `true`: resources without any value.
        missing: bool,
    },
    /// `_id=a,b`.
    Ids(Vec<String>),
    /// `_lastUpdated` with OR-ed values.
    LastUpdated(Vec<(Prefix, Range)>),
    /// `ref:Type.param=…` (or `ref.param=…` over every target type that has `param`).
    Chain {
        /// The reference parameter on this type.
        reference: Arc<SearchParam>,
        /// Per target type, the criterion on the target.
        targets: Vec<(ResourceType, Box<Criterion>)>,
    },
    /// Resources in the Patient compartment of one of these patients (`$everything`,
    /// `Patient/$export`; a Patient matches by its id). Types outside the compartment match
    /// nothing.
    PatientCompartment(Vec<String>),
    /// Resources in the compartment of `compartment/id` (`Encounter/{id}/Observation`), by the
    /// official R4 CompartmentDefinition of that compartment
    /// ([`compartment_params`](crate::search::compartment::compartment_params)). Types outside
    /// it match nothing.
    Compartment {
        /// The compartment's resource type.
        compartment: ResourceType,
        /// The compartment resource's id.
        id: String,
    },
    /// A caller's restriction (the consent guard's): applied to the searched type and again
    /// at every chain and `_has` hop, each hop by its own type's [`Visibility`].
    Restricted(Restriction),
    /// `_has:Type:ref:param=…` (reverse chain).
    Has {
        /// The type that references this one.
        source: ResourceType,
        /// The reference parameter on `source`.
        reference: Arc<SearchParam>,
        /// The criterion on `source`.
        inner: Box<Criterion>,
    },
}

/// What a caller may see of one resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Every resource of the type.
    All,
    /// No resource of the type.
    Nothing,
    /// The resources every one of whose patients
    /// ([`referenced_patients`](crate::search::compartment::referenced_patients)) is in
    /// `permitted`; with `member`, only those that also have at least one patient.
    Patients {
        /// The patients whose data the caller may see (sorted).
        permitted: Arc<[String]>,
        /// Whether a resource without a patient is hidden too.
        member: bool,
    },
}

/// A [`Visibility`] per resource type, decided by the caller's policy (a function, so that
/// only the types a query reaches are decided), and criteria every resource of a type must
/// meet besides (a SMART app's granular `?category=` scope): the planner applies both to the
/// searched type and again at every chain and `_has` hop into a type.
#[derive(Clone)]
pub struct Restriction {
    decide: Arc<dyn Fn(ResourceType) -> Visibility + Send + Sync>,
    criteria: Option<Arc<dyn Fn(ResourceType) -> Vec<Criterion> + Send + Sync>>,
}

impl Restriction {
    /// The restriction deciding each type with `decide`.
    pub fn new(decide: impl Fn(ResourceType) -> Visibility + Send + Sync + 'static) -> Self {
        Restriction {
            decide: Arc::new(decide),
            criteria: None,
        }
    }

    /// The same restriction, where every resource of a type must also meet the criteria
    /// `criteria` gives that type (ANDed; none: no more than its [`Visibility`]).
    pub fn with_criteria(
        mut self,
        criteria: impl Fn(ResourceType) -> Vec<Criterion> + Send + Sync + 'static,
    ) -> Self {
        self.criteria = Some(Arc::new(criteria));
        self
    }

    /// What may be seen of `resource_type`.
    pub fn of(&self, resource_type: ResourceType) -> Visibility {
        (self.decide)(resource_type)
    }

    /// The criteria every visible resource of `resource_type` meets besides.
    pub fn criteria(&self, resource_type: ResourceType) -> Vec<Criterion> {
        self.criteria
            .as_ref()
            .map(|criteria| criteria(resource_type))
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for Restriction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Restriction(..)")
    }
}

/// A sort key of `_sort`.
#[derive(Debug, Clone)]
pub struct SortKey {
    /// The parameter code (`_id`, `_lastUpdated` or a registry parameter).
    pub code: String,
    /// The parameter, for registry parameters.
    pub param: Option<Arc<SearchParam>>,
    /// `-code`.
    pub descending: bool,
}

/// `_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TotalMode {
    /// No total.
    None,
    /// An estimate: the SQL backends count at most 10,000 matches (a bounded scan on a large
    /// table); beyond that the total is that lower bound, with an informational note.
    Estimate,
    /// The exact count (the default).
    #[default]
    Accurate,
}

/// `_summary`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs, reason = "the variants are the R4 codes")]
pub enum Summary {
    #[default]
    False,
    True,
    Text,
    Data,
    Count,
}

/// `_include` / `_revinclude`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The type whose reference parameter is followed.
    pub source: ResourceType,
    /// The reference parameter code, or `None` for `*`.
    pub param: Option<String>,
    /// Only targets of this type.
    pub target: Option<ResourceType>,
    /// `:iterate` (`:recurse`).
    pub iterate: bool,
}

/// A parsed search request.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// The type searched.
    pub resource_type: ResourceType,
    /// ANDed criteria.
    pub criteria: Vec<Criterion>,
    /// `_text` (narrative full text).
    pub text: Option<String>,
    /// `_content` (all string content).
    pub content: Option<String>,
    /// `_sort`.
    pub sort: Vec<SortKey>,
    /// `_count` (page size).
    pub count: usize,
    /// Paging cursor from a previous page's link.
    pub cursor: Option<String>,
    /// `_total`.
    pub total: TotalMode,
    /// `_summary`.
    pub summary: Summary,
    /// `_elements`.
    pub elements: Vec<String>,
    /// `_include`.
    pub includes: Vec<Include>,
    /// `_revinclude`.
    pub revincludes: Vec<Include>,
    /// Parameters ignored under lenient handling, reported back as warnings.
    pub ignored: Vec<Issue>,
    /// `_list`: only resources that are entries of this `List` (the caller resolves it,
    /// through its own access rules, into an `_id` criterion).
    pub list: Option<String>,
}

/// Default and maximum `_count`.
pub const DEFAULT_COUNT: usize = 50;
/// Largest `_count` honoured.
pub const MAX_COUNT: usize = 1000;

fn bad(name: &str, value: &str, why: &str) -> FhirError {
    let value: String = value.chars().take(100).collect();
    FhirError::invalid(
        IssueCode::Invalid,
        Some(name.to_owned()),
        format!("search parameter {name}={value:?}: {why}"),
    )
}

impl SearchQuery {
    /// Parses the query parameters of a search on `resource_type`. With `strict`, unknown
    /// parameters are errors; otherwise they are ignored and listed in `ignored`.
    pub fn parse(
        resource_type: ResourceType,
        params: &[(String, String)],
        strict: bool,
    ) -> FhirResult<SearchQuery> {
        let mut query = SearchQuery {
            resource_type,
            criteria: Vec::new(),
            text: None,
            content: None,
            sort: Vec::new(),
            count: DEFAULT_COUNT,
            cursor: None,
            total: TotalMode::default(),
            summary: Summary::default(),
            elements: Vec::new(),
            includes: Vec::new(),
            revincludes: Vec::new(),
            ignored: Vec::new(),
            list: None,
        };
        let mut bound_values = 0usize;
        for (name, value) in params {
            if name.contains('\0') || value.contains('\0') {
                return Err(bad(
                    name,
                    value,
                    "a NUL character is not allowed in search parameters",
                ));
            }
            match name.as_str() {
                "_format" | "_pretty" => {}
                "_count" => {
                    query.count = value
                        .parse::<usize>()
                        .map_err(|_| bad(name, value, "not a non-negative integer"))?
                        .min(MAX_COUNT)
                }
                "_cursor" => query.cursor = Some(value.clone()),
                "_total" => {
                    query.total = match value.as_str() {
                        "none" => TotalMode::None,
                        "estimate" => TotalMode::Estimate,
                        "accurate" => TotalMode::Accurate,
                        _ => return Err(bad(name, value, "expected none, estimate or accurate")),
                    }
                }
                "_summary" => {
                    query.summary = match value.as_str() {
                        "true" => Summary::True,
                        "false" => Summary::False,
                        "text" => Summary::Text,
                        "data" => Summary::Data,
                        "count" => Summary::Count,
                        _ => {
                            return Err(bad(
                                name,
                                value,
                                "expected true, false, text, data or count",
                            ));
                        }
                    }
                }
                "_elements" => query.elements.extend(
                    value
                        .split(',')
                        .map(|e| e.trim().to_owned())
                        .filter(|e| !e.is_empty()),
                ),
                "_sort" => {
                    for key in value.split(',').filter(|k| !k.is_empty()) {
                        if query.sort.len() == MAX_SORT_KEYS {
                            return Err(exceeded(
                                "the number of _sort keys",
                                MAX_SORT_KEYS,
                                "sort by fewer parameters",
                            ));
                        }
                        query.sort.push(
                            parse_sort(resource_type, key)
                                .ok_or_else(|| bad(name, value, "unknown sort parameter"))?,
                        );
                    }
                }
                "_text" => query.text = Some(value.clone()),
                "_list" => {
                    if !ResourceId::is_valid(value) {
                        return Err(bad(name, value, "not the id of a List"));
                    }
                    query.list = Some(value.clone());
                }
                "_content" => query.content = Some(value.clone()),
                _ if name.starts_with("_include") || name.starts_with("_revinclude") => {
                    if query.includes.len() + query.revincludes.len() == MAX_INCLUDES {
                        return Err(exceeded(
                            "the number of _include and _revinclude parameters",
                            MAX_INCLUDES,
                            "include fewer kinds of resources",
                        ));
                    }
                    let include = parse_include(name, value)?;
                    if name.starts_with("_include") {
                        query.includes.push(include);
                    } else {
                        query.revincludes.push(include);
                    }
                }
                _ if canonical_version(resource_type, name, value).is_some() => {
                    // `url=u|1.2.3` (a versioned canonical): `url=u` and `version=1.2.3`.
                    let (url, version) = canonical_version(resource_type, name, value)
                        .expect("invariant: checked by the guard");
                    for (name, value) in [(name.as_str(), url), ("version", version)] {
                        match parse_criterion(resource_type, name, value, Depth::default()) {
                            Ok(criterion) => query.criteria.push(criterion),
                            Err(Unknown(reason)) => return Err(bad(name, value, &reason)),
                            Err(Malformed(err)) => return Err(err),
                        }
                    }
                }
                _ => match parse_criterion(resource_type, name, value, Depth::default()) {
                    Ok(criterion) => {
                        if query.criteria.len() == MAX_CRITERIA {
                            return Err(exceeded(
                                "the number of search criteria",
                                MAX_CRITERIA,
                                "split the search or use fewer parameters",
                            ));
                        }
                        bound_values += cost(&criterion);
                        if bound_values > MAX_TOTAL_VALUES {
                            return Err(exceeded(
                                "the number of search values (over all parameters and chain branches)",
                                MAX_TOTAL_VALUES,
                                "split the search into several requests",
                            ));
                        }
                        query.criteria.push(criterion)
                    }
                    Err(Unknown(reason)) if !strict => query.ignored.push(Issue {
                        severity: Severity::Warning,
                        code: IssueCode::NotSupported,
                        expression: Some(name.clone()),
                        diagnostics: format!("search parameter {name} ignored: {reason}"),
                    }),
                    Err(Unknown(reason)) => {
                        return Err(FhirError::invalid(
                            IssueCode::NotSupported,
                            Some(name.clone()),
                            format!("unknown or unsupported search parameter {name}: {reason}"),
                        ));
                    }
                    Err(Malformed(err)) => return Err(err),
                },
            }
        }
        Ok(query)
    }
}

/// A versioned canonical `url|version` given to a uri parameter (no modifier, one value) of a
/// type with a `version` parameter (the canonical resources): the url and the version.
fn canonical_version<'v>(
    resource_type: ResourceType,
    name: &str,
    value: &'v str,
) -> Option<(&'v str, &'v str)> {
    let param = registry().param(resource_type, name)?;
    let version = registry().param(resource_type, "version")?;
    if param.kind != ParamType::Uri || version.kind != ParamType::Token || value.contains(',') {
        return None;
    }
    let (url, version) = value.rsplit_once('|')?;
    (!url.is_empty() && !version.is_empty()).then_some((url, version))
}

/// Why a criterion did not parse.
enum ParseFailure {
    /// Unknown parameter or modifier (lenient handling may ignore it).
    Unknown(String),
    /// A malformed value: always an error.
    Malformed(FhirError),
}
use ParseFailure::{Malformed, Unknown};

fn parse_sort(resource_type: ResourceType, key: &str) -> Option<SortKey> {
    let (descending, code) = match key.strip_prefix('-') {
        Some(code) => (true, code),
        None => (false, key),
    };
    let param = match code {
        "_id" | "_lastUpdated" => None,
        _ => {
            let param = registry().param(resource_type, code)?;
            if matches!(param.kind, ParamType::Composite | ParamType::Special) {
                return None;
            }
            Some(param.clone())
        }
    };
    Some(SortKey {
        code: code.to_owned(),
        param,
        descending,
    })
}

fn parse_include(name: &str, value: &str) -> FhirResult<Include> {
    let iterate = name.ends_with(":iterate") || name.ends_with(":recurse");
    let mut parts = value.split(':');
    let source = parts.next().unwrap_or_default();
    let source: ResourceType = source
        .parse()
        .map_err(|_| bad(name, value, "unknown source type"))?;
    let param = match parts.next() {
        Some("*") | None => None,
        Some(code) => {
            let param = registry()
                .param(source, code)
                .ok_or_else(|| bad(name, value, "unknown reference parameter"))?;
            if param.kind != ParamType::Reference {
                return Err(bad(name, value, "not a reference parameter"));
            }
            Some(code.to_owned())
        }
    };
    let target = parts
        .next()
        .map(|t| {
            t.parse()
                .map_err(|_| bad(name, value, "unknown target type"))
        })
        .transpose()?;
    Ok(Include {
        source,
        param,
        target,
        iterate,
    })
}

/// How deep a criterion is nested: chain hops and `_has` levels above it.
#[derive(Debug, Clone, Copy, Default)]
struct Depth {
    chain: usize,
    has: usize,
}

/// What a criterion costs in bound values: its values, plus one per chain branch and `_has`.
fn cost(criterion: &Criterion) -> usize {
    match criterion {
        Criterion::Param { values, .. } => values.len(),
        Criterion::Ids(ids) => ids.len(),
        Criterion::LastUpdated(values) => values.len(),
        Criterion::Missing { .. } => 1,
        Criterion::PatientCompartment(patients) => patients.len(),
        Criterion::Compartment { .. } => 1,
        // Added by a guard after parsing; the planner's bound check covers it.
        Criterion::Restricted(_) => 0,
        Criterion::Chain { targets, .. } => targets.iter().map(|(_, inner)| 1 + cost(inner)).sum(),
        Criterion::Has { inner, .. } => 1 + cost(inner),
    }
}

/// The number of leaf branches of a criterion (a chain's fan-out over its hops).
fn fan_out(criterion: &Criterion) -> usize {
    match criterion {
        Criterion::Chain { targets, .. } => targets.iter().map(|(_, inner)| fan_out(inner)).sum(),
        Criterion::Has { inner, .. } => fan_out(inner),
        _ => 1,
    }
}

/// Refuses more than [`MAX_VALUES_PER_PARAM`] OR-ed values before any is parsed.
fn check_value_count(name: &str, count: usize) -> Result<(), ParseFailure> {
    if count > MAX_VALUES_PER_PARAM {
        return Err(Malformed(exceeded(
            "the number of values of one parameter",
            MAX_VALUES_PER_PARAM,
            format!("{} has {count} values", truncated(name)),
        )));
    }
    Ok(())
}

fn truncated(text: &str) -> String {
    text.chars().take(100).collect()
}

fn parse_criterion(
    resource_type: ResourceType,
    name: &str,
    value: &str,
    depth: Depth,
) -> Result<Criterion, ParseFailure> {
    if let Some(rest) = name.strip_prefix("_has:") {
        return parse_has(resource_type, name, rest, value, depth);
    }
    let (head, chained) = match name.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (name, None),
    };
    let (code, modifier_text) = match head.split_once(':') {
        Some((code, modifier)) => (code, Some(modifier)),
        None => (head, None),
    };
    match code {
        "_id" => {
            check_value_count(name, value.split(',').count())?;
            return Ok(Criterion::Ids(
                value.split(',').map(str::to_owned).collect(),
            ));
        }
        "_lastUpdated" => {
            check_value_count(name, value.split(',').count())?;
            let values = value
                .split(',')
                .map(|v| {
                    let (prefix, rest) = split_prefix(v);
                    date_range(rest)
                        .map(|r| (prefix, r))
                        .ok_or_else(|| Malformed(bad(name, v, "not a valid date")))
                })
                .collect::<Result<_, _>>()?;
            return Ok(Criterion::LastUpdated(values));
        }
        _ => {}
    }
    let param = registry()
        .param(resource_type, code)
        .ok_or_else(|| Unknown(format!("{resource_type} has no search parameter {code}")))?
        .clone();
    if let Some(chained) = chained {
        return parse_chain(
            resource_type,
            name,
            param,
            modifier_text,
            chained,
            value,
            depth,
        );
    }
    let modifier = parse_modifier(&param, modifier_text)?;
    if modifier_text == Some("missing") {
        let missing = match value {
            "true" => true,
            "false" => false,
            _ => return Err(Malformed(bad(name, value, "expected true or false"))),
        };
        return Ok(Criterion::Missing { param, missing });
    }
    let raw_values = split_values(value);
    check_value_count(name, raw_values.len())?;
    let values = raw_values
        .iter()
        .map(|v| parse_value(&param, &modifier, name, v))
        .collect::<Result<Vec<_>, _>>()?;
    if values.is_empty() {
        return Err(Malformed(bad(name, value, "empty value")));
    }
    Ok(Criterion::Param {
        param,
        modifier,
        values,
    })
}

/// Splits on commas not escaped with `\`.
fn split_values(value: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.last_mut().expect("invariant: never empty").push(next);
                }
            }
            ',' => out.push(String::new()),
            other => out.last_mut().expect("invariant: never empty").push(other),
        }
    }
    out.into_iter().filter(|v| !v.is_empty()).collect()
}

fn parse_modifier(param: &SearchParam, modifier: Option<&str>) -> Result<Modifier, ParseFailure> {
    let Some(text) = modifier else {
        return Ok(Modifier::None);
    };
    let allowed = |ok: bool, m: Modifier| {
        if ok {
            Ok(m)
        } else {
            Err(Unknown(format!(
                "modifier :{text} does not apply to {} parameters",
                param.kind.as_str()
            )))
        }
    };
    match text {
        "missing" => Ok(Modifier::None),
        "exact" => allowed(param.kind == ParamType::String, Modifier::Exact),
        "contains" => allowed(param.kind == ParamType::String, Modifier::Contains),
        "text" => allowed(param.kind == ParamType::Token, Modifier::Text),
        "not" => allowed(param.kind == ParamType::Token, Modifier::Not),
        "of-type" => allowed(param.kind == ParamType::Token, Modifier::OfType),
        "above" => allowed(param.kind == ParamType::Uri, Modifier::Above),
        "below" => allowed(param.kind == ParamType::Uri, Modifier::Below),
        "identifier" => allowed(param.kind == ParamType::Reference, Modifier::Identifier),
        other => match ResourceType::from_name(other) {
            Some(t) if param.kind == ParamType::Reference => Ok(Modifier::Type(t)),
            _ => Err(Unknown(format!("unsupported modifier :{other}"))),
        },
    }
}

fn split_prefix(value: &str) -> (Prefix, &str) {
    let prefix = match value.get(..2) {
        Some("eq") => Prefix::Eq,
        Some("ne") => Prefix::Ne,
        Some("gt") => Prefix::Gt,
        Some("lt") => Prefix::Lt,
        Some("ge") => Prefix::Ge,
        Some("le") => Prefix::Le,
        Some("sa") => Prefix::Sa,
        Some("eb") => Prefix::Eb,
        Some("ap") => Prefix::Ap,
        _ => return (Prefix::Eq, value),
    };
    (prefix, &value[2..])
}

fn parse_token(value: &str) -> TokenValue {
    match value.split_once('|') {
        None => TokenValue {
            system: None,
            code: Some(value.to_owned()),
        },
        Some(("", code)) => TokenValue {
            system: Some(None),
            code: Some(code.to_owned()),
        },
        Some((system, "")) => TokenValue {
            system: Some(Some(system.to_owned())),
            code: None,
        },
        Some((system, code)) => TokenValue {
            system: Some(Some(system.to_owned())),
            code: Some(code.to_owned()),
        },
    }
}

fn parse_typed(
    kind: ParamType,
    param: &SearchParam,
    modifier: &Modifier,
    name: &str,
    value: &str,
) -> Result<SearchValue, ParseFailure> {
    let malformed = |why: &str| Malformed(bad(name, value, why));
    Ok(match kind {
        ParamType::String => SearchValue::String(value.to_owned()),
        ParamType::Token => SearchValue::Token(parse_token(value)),
        ParamType::Uri => SearchValue::Uri(value.to_owned()),
        ParamType::Date => {
            let (prefix, rest) = split_prefix(value);
            let range = date_range(rest).ok_or_else(|| {
                malformed(
                    "not a valid date (yyyy, yyyy-mm, yyyy-mm-dd or a dateTime with time zone)",
                )
            })?;
            SearchValue::Date { prefix, range }
        }
        ParamType::Number => {
            let (prefix, rest) = split_prefix(value);
            SearchValue::Number {
                prefix,
                number: parse_number(rest).ok_or_else(|| malformed("not a valid number"))?,
            }
        }
        ParamType::Quantity => {
            let (prefix, rest) = split_prefix(value);
            let mut parts = rest.splitn(3, '|');
            let number = parse_number(parts.next().unwrap_or_default())
                .ok_or_else(|| malformed("not a valid quantity number"))?;
            let system = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
            let code = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
            SearchValue::Quantity {
                prefix,
                number,
                system,
                code,
            }
        }
        ParamType::Reference => {
            if *modifier == Modifier::Identifier {
                return Ok(SearchValue::Token(parse_token(value)));
            }
            let explicit = match modifier {
                Modifier::Type(t) => Some(*t),
                _ => None,
            };
            let (resource_type, id) = match super::extract::split_reference(value) {
                Some((t, id)) => (Some(t), Some(id)),
                None if ResourceId::is_valid(value) => (
                    explicit.or_else(|| (param.targets.len() == 1).then(|| param.targets[0])),
                    Some(value.to_owned()),
                ),
                None => (None, None),
            };
            if id.is_none() && !value.contains(':') {
                return Err(malformed(
                    "not a reference (Type/id, id or an absolute url)",
                ));
            }
            SearchValue::Reference {
                resource_type,
                id,
                url: value.to_owned(),
            }
        }
        ParamType::Composite => {
            let parts: Vec<&str> = value.split('$').collect();
            if parts.len() != param.components.len() {
                return Err(malformed(
                    "a composite value needs one $-separated part per component",
                ));
            }
            let values = parts
                .iter()
                .zip(&param.components)
                .map(|(part, component)| {
                    parse_typed(component.kind, param, &Modifier::None, name, part)
                })
                .collect::<Result<Vec<_>, _>>()?;
            SearchValue::Composite(values)
        }
        ParamType::Special => {
            return Err(Unknown("special parameters are not supported".to_owned()));
        }
    })
}

fn parse_value(
    param: &SearchParam,
    modifier: &Modifier,
    name: &str,
    value: &str,
) -> Result<SearchValue, ParseFailure> {
    parse_typed(param.kind, param, modifier, name, value)
}

fn parse_chain(
    resource_type: ResourceType,
    name: &str,
    reference: Arc<SearchParam>,
    modifier: Option<&str>,
    chained: &str,
    value: &str,
    depth: Depth,
) -> Result<Criterion, ParseFailure> {
    let depth = Depth {
        chain: depth.chain + 1,
        ..depth
    };
    if depth.chain > MAX_CHAIN_DEPTH {
        return Err(Malformed(exceeded(
            "chain depth",
            MAX_CHAIN_DEPTH,
            format!("{} chains too deep", truncated(name)),
        )));
    }
    if reference.kind != ParamType::Reference {
        return Err(Unknown(format!(
            "{} on {resource_type} is not a reference parameter and cannot be chained",
            reference.code
        )));
    }
    let candidates: Vec<ResourceType> = match modifier {
        Some(t) => vec![
            t.parse()
                .map_err(|_| Malformed(bad(name, value, "unknown chain target type")))?,
        ],
        None if reference.targets.is_empty() => ResourceType::ALL.to_vec(),
        None => reference.targets.clone(),
    };
    let mut targets = Vec::new();
    let mut last_unknown = String::new();
    for target in candidates {
        match parse_criterion(target, chained, value, depth) {
            Ok(inner) => targets.push((target, Box::new(inner))),
            Err(Unknown(reason)) => last_unknown = reason,
            Err(err) => return Err(err),
        }
    }
    if targets.is_empty() {
        return Err(Unknown(last_unknown));
    }
    let chain = Criterion::Chain { reference, targets };
    let branches = fan_out(&chain);
    if branches > MAX_CHAIN_FAN_OUT {
        let Criterion::Chain { reference, targets } = &chain else {
            unreachable!("invariant: built as a chain above")
        };
        let example = targets.first().map_or("Patient", |(t, _)| t.as_str());
        return Err(Malformed(exceeded(
            "chain fan-out (candidate target types over all hops)",
            MAX_CHAIN_FAN_OUT,
            format!(
                "{} reaches {branches} target types; name the target type with a type modifier, \
                 e.g. {}:{example}.",
                truncated(name),
                reference.code
            ),
        )));
    }
    Ok(chain)
}

fn parse_has(
    resource_type: ResourceType,
    name: &str,
    rest: &str,
    value: &str,
    depth: Depth,
) -> Result<Criterion, ParseFailure> {
    let depth = Depth {
        has: depth.has + 1,
        ..depth
    };
    if depth.has > MAX_HAS_DEPTH {
        return Err(Malformed(exceeded(
            "_has depth",
            MAX_HAS_DEPTH,
            "nest _has less deeply",
        )));
    }
    let mut parts = rest.splitn(3, ':');
    let (Some(source), Some(reference), Some(inner)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed(bad(
            name,
            value,
            "expected _has:Type:reference:parameter",
        )));
    };
    let source: ResourceType = source
        .parse()
        .map_err(|_| Malformed(bad(name, value, "unknown _has type")))?;
    let reference_param = registry()
        .param(source, reference)
        .filter(|p| p.kind == ParamType::Reference)
        .ok_or_else(|| Unknown(format!("{source} has no reference parameter {reference}")))?
        .clone();
    if !reference_param.targets.is_empty() && !reference_param.targets.contains(&resource_type) {
        return Err(Malformed(bad(
            name,
            value,
            "that reference parameter cannot point at this type",
        )));
    }
    let inner = parse_criterion(source, inner, value, depth)?;
    Ok(Criterion::Has {
        source,
        reference: reference_param,
        inner: Box::new(inner),
    })
}
