//! `GET [base]/Observation/$lastn` and `GET [base]/Observation/$stats` (R4 operations, issue
//! #18): this module parses the operation parameters into a search and renders the result;
//! the use cases are [`FhirAccess::lastn`] and [`FhirAccess::stats`], through the consent
//! guard.
//!
//! `$lastn` takes `max` (default 1) and any Observation search parameter; `patient` or
//! `subject` is required, as R4 says. `$stats` takes `subject` (or `patient`), `code`,
//! `system`, `coding`, `duration` (hours back from now), `statistic` and `include`; its answer
//! is a `Parameters` with one `statistic` Observation per subject, code and unit (and the
//! `source` Observations with `include=true`).

use axum::extract::State;
use axum::http::StatusCode;
use medilink_consent::FhirAccess;
use medilink_consent::observations::{Scan, Statistic};
use medilink_fhir::clock::format_instant;
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{ErrorKind, FhirResult, IssueCode, ResourceType};
use serde_json::{Value, json};

use crate::context::RequestCaller;
use crate::error::{ApiError, operation_outcome};
use crate::fhir::extract::{Base, TypePath};
use crate::fhir::response::FhirResponse;
use crate::fhir::search::{SearchParams, entry, outcome_entry, parse_stored};
use crate::state::AppState;

/// `GET [base]/Observation/$lastn`: a `searchset` of the latest `max` Observations per
/// subject and code among those the search parameters select.
pub(crate) async fn lastn(
    State(app): State<AppState>,
    caller: RequestCaller,
    Base(base): Base,
    TypePath(resource_type): TypePath,
    params: SearchParams,
) -> Result<FhirResponse, ApiError> {
    observation_only(resource_type, "$lastn")?;
    let (max, criteria) = lastn_params(&params.pairs)?;
    let query = SearchQuery::parse(ResourceType::Observation, &criteria, params.strict)?;
    let access = FhirAccess::new(&app.store, app.search_index.as_ref());
    let scan = access.lastn(caller.context(), query.clone(), max).await?;
    let bundle = render_lastn(&base, &query, scan, app.ids.new_id())?;
    Ok(FhirResponse::json(StatusCode::OK, bundle))
}

/// `GET [base]/Observation/$stats`: a `Parameters` of statistic Observations.
pub(crate) async fn stats(
    State(app): State<AppState>,
    caller: RequestCaller,
    TypePath(resource_type): TypePath,
    Base(base): Base,
    params: SearchParams,
) -> Result<FhirResponse, ApiError> {
    observation_only(resource_type, "$stats")?;
    let request = StatsRequest::parse(&params.pairs, app.clock.now())?;
    let query = SearchQuery::parse(ResourceType::Observation, &request.criteria, true)?;
    let access = FhirAccess::new(&app.store, app.search_index.as_ref());
    let stats = access.stats(caller.context(), query).await?;
    Ok(FhirResponse::json(
        StatusCode::OK,
        request.render(&base, stats)?,
    ))
}

fn observation_only(resource_type: ResourceType, operation: &str) -> Result<(), ApiError> {
    match resource_type {
        ResourceType::Observation => Ok(()),
        _ => Err(ApiError::with_kind(
            ErrorKind::NotFound,
            IssueCode::NotSupported,
            format!("{operation} is defined on Observation only"),
        )),
    }
}

fn invalid(operation: &str, name: &str, why: &str) -> ApiError {
    let name: String = name.chars().take(64).collect();
    ApiError::bad_request(IssueCode::Invalid, format!("{operation} {name}: {why}"))
}

/// `max` and the search criteria of a `$lastn` request.
fn lastn_params(pairs: &[(String, String)]) -> Result<(usize, Vec<(String, String)>), ApiError> {
    let mut max = 1;
    let mut criteria = Vec::new();
    for (name, value) in pairs {
        match name.as_str() {
            "max" => {
                max = value
                    .parse::<usize>()
                    .ok()
                    .filter(|max| *max > 0)
                    .ok_or_else(|| invalid("$lastn", name, "not a positive integer"))?;
            }
            "_count" | "_cursor" | "_sort" | "_total" => {
                return Err(invalid("$lastn", name, "not a parameter of $lastn"));
            }
            _ => criteria.push((name.clone(), value.clone())),
        }
    }
    let about = |name: &str| {
        name == "patient"
            || name == "subject"
            || name.starts_with("patient:")
            || name.starts_with("subject:")
            || name.starts_with("patient.")
            || name.starts_with("subject.")
    };
    if !criteria.iter().any(|(name, _)| about(name)) {
        return Err(ApiError::bad_request(
            IssueCode::Required,
            "$lastn needs patient or subject",
        ));
    }
    Ok((max, criteria))
}

fn render_lastn(base: &str, query: &SearchQuery, scan: Scan, id: String) -> FhirResult<Value> {
    let mut entries = Vec::with_capacity(scan.resources.len() + 1);
    for stored in &scan.resources {
        if let Some(resource) = parse_stored(stored)? {
            entries.push(entry(base, stored, resource, "match"));
        }
    }
    let total = entries.len();
    let mut warnings = query.ignored.clone();
    warnings.extend(scan.warning());
    if !warnings.is_empty() {
        entries.push(outcome_entry(&warnings));
    }
    Ok(json!({
        "resourceType": "Bundle",
        "id": id,
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": format!("{base}/Observation/$lastn")}],
        "entry": entries,
    }))
}

/// A parsed `$stats` request.
#[derive(Debug)]
struct StatsRequest {
    criteria: Vec<(String, String)>,
    statistics: Vec<Statistic>,
    include: bool,
}

impl StatsRequest {
    fn parse(
        pairs: &[(String, String)],
        now: time::OffsetDateTime,
    ) -> Result<StatsRequest, ApiError> {
        let bad = |name: &str, why: &str| invalid("$stats", name, why);
        let (mut subject, mut codes, mut system) = (None, Vec::new(), None);
        let (mut statistics, mut include, mut criteria) = (Vec::new(), false, Vec::new());
        for (name, value) in pairs {
            match name.as_str() {
                "subject" | "patient" => subject = Some(value.clone()),
                "code" => codes.extend(value.split(',').map(str::to_owned)),
                "system" => system = Some(value.clone()),
                "coding" => codes.extend(value.split(',').map(str::to_owned)),
                "duration" => {
                    let hours: f64 = value
                        .parse()
                        .ok()
                        .filter(|hours: &f64| hours.is_finite() && *hours > 0.0)
                        .ok_or_else(|| bad(name, "not a positive number of hours"))?;
                    let back = time::Duration::checked_seconds_f64(hours * 3600.0)
                        .ok_or_else(|| bad(name, "out of range"))?;
                    let from = now
                        .checked_sub(back)
                        .ok_or_else(|| bad(name, "out of range"))?;
                    criteria.push(("date".to_owned(), format!("ge{}", format_instant(from))));
                }
                "statistic" => {
                    for code in value.split(',').map(str::trim) {
                        statistics.push(
                            Statistic::from_code(code)
                                .ok_or_else(|| bad(name, "not a supported statistic"))?,
                        );
                    }
                }
                "include" => {
                    include = value
                        .parse()
                        .map_err(|_| bad(name, "expected true or false"))?
                }
                _ => return Err(bad(name, "not a parameter of $stats")),
            }
        }
        let subject = subject
            .ok_or_else(|| ApiError::bad_request(IssueCode::Required, "$stats needs subject"))?;
        criteria.push(("subject".to_owned(), subject));
        if !codes.is_empty() {
            let codes: Vec<String> = codes
                .into_iter()
                .map(|code| match (&system, code.contains('|')) {
                    (Some(system), false) => format!("{system}|{code}"),
                    _ => code,
                })
                .collect();
            criteria.push(("code".to_owned(), codes.join(",")));
        }
        if statistics.is_empty() {
            statistics = Statistic::DEFAULT.to_vec();
        }
        Ok(StatsRequest {
            criteria,
            statistics,
            include,
        })
    }

    fn render(
        &self,
        base: &str,
        stats: medilink_consent::observations::Stats,
    ) -> FhirResult<Value> {
        let mut parameters = Vec::new();
        for group in &stats.groups {
            parameters.push(
                json!({"name": "statistic", "resource": group.observation(&self.statistics)}),
            );
        }
        if self.include {
            for stored in stats.groups.iter().flat_map(|group| &group.sources) {
                if let Some(resource) = parse_stored(stored)? {
                    let url = format!("{base}/{}", stored.reference());
                    parameters.push(json!({"name": "source", "resource": resource, "part": [
                        {"name": "fullUrl", "valueUri": url}]}));
                }
            }
        }
        let mut issues = Vec::new();
        if stats.skipped > 0 {
            issues.push(medilink_fhir::Issue {
                severity: medilink_fhir::Severity::Information,
                code: IssueCode::Informational,
                expression: None,
                diagnostics: format!(
                    "{} matching observations have no numeric valueQuantity and are not counted",
                    stats.skipped
                ),
            });
        }
        if stats.truncated {
            issues.push(medilink_fhir::Issue {
                severity: medilink_fhir::Severity::Warning,
                code: IssueCode::TooLong,
                expression: None,
                diagnostics: "only the latest matching observations were read".to_owned(),
            });
        }
        if !issues.is_empty() {
            parameters.push(json!({"name": "outcome", "resource": operation_outcome(&issues)}));
        }
        Ok(json!({"resourceType": "Parameters", "parameter": parameters}))
    }
}
