//! The Observation operations of R4 (issue #18): `Observation/$lastn`, the latest `max`
//! results per code and patient (what the lab-trend charts read), and `Observation/$stats`,
//! statistics of the `valueQuantity`s per code. Both read through [`FhirAccess::search`], so
//! the consent guard's restriction is part of every query: a caller sees statistics of, and
//! the latest results among, only what they may read.
//!
//! Both scan the matching Observations newest first (`_sort=-date`), page by page, at most
//! [`OBSERVATION_SCAN_LIMIT`] of them; a cut scan says so.

use std::collections::HashMap;

use medilink_fhir::search::query::MAX_COUNT;
use medilink_fhir::search::{SearchQuery, SortKey, TotalMode, registry};
use medilink_fhir::{
    FhirError, FhirResult, Issue, IssueCode, RequestContext, ResourceStore, ResourceType, Severity,
    StoredResource,
};
use serde_json::{Value, json};

use crate::fhir_access::FhirAccess;

/// Most Observations one `$lastn` or `$stats` reads.
pub const OBSERVATION_SCAN_LIMIT: usize = 10_000;

/// The CodeSystem of the R4 statistic codes (`observation-statistics`).
pub const STATISTICS_SYSTEM: &str = "http://hl7.org/fhir/observation-statistics";

/// The CodeSystem of the statistics MediLink adds to the R4 ones (`last`).
pub const LOCAL_STATISTICS_SYSTEM: &str = "urn:medilink:observation-statistics";

/// The Observations of a scan, newest first, and whether [`OBSERVATION_SCAN_LIMIT`] cut it.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// The resources selected, in order.
    pub resources: Vec<StoredResource>,
    /// Whether the scan stopped at [`OBSERVATION_SCAN_LIMIT`].
    pub truncated: bool,
}

impl Scan {
    /// The warning a cut scan carries.
    pub fn warning(&self) -> Option<Issue> {
        self.truncated.then(|| Issue {
            severity: Severity::Warning,
            code: IssueCode::TooLong,
            expression: None,
            diagnostics: format!(
                "only the latest {OBSERVATION_SCAN_LIMIT} matching observations were read"
            ),
        })
    }
}

/// One statistic of `$stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// `count`: the number of values.
    Count,
    /// `minimum`.
    Minimum,
    /// `maximum`.
    Maximum,
    /// `average`: the arithmetic mean.
    Average,
    /// `median`.
    Median,
    /// `sum`.
    Sum,
    /// `std-dev`: the sample standard deviation.
    StdDev,
    /// `last` (MediLink's): the latest value.
    Last,
}

impl Statistic {
    /// The statistics given when none is asked for.
    pub const DEFAULT: [Statistic; 6] = [
        Statistic::Count,
        Statistic::Minimum,
        Statistic::Maximum,
        Statistic::Average,
        Statistic::Median,
        Statistic::Last,
    ];

    /// Every supported statistic.
    pub const ALL: [Statistic; 8] = [
        Statistic::Count,
        Statistic::Minimum,
        Statistic::Maximum,
        Statistic::Average,
        Statistic::Median,
        Statistic::Sum,
        Statistic::StdDev,
        Statistic::Last,
    ];

    /// The statistic's code.
    pub fn code(self) -> &'static str {
        match self {
            Statistic::Count => "count",
            Statistic::Minimum => "minimum",
            Statistic::Maximum => "maximum",
            Statistic::Average => "average",
            Statistic::Median => "median",
            Statistic::Sum => "sum",
            Statistic::StdDev => "std-dev",
            Statistic::Last => "last",
        }
    }

    /// The statistic of `code`.
    pub fn from_code(code: &str) -> Option<Statistic> {
        Statistic::ALL.into_iter().find(|s| s.code() == code)
    }

    fn system(self) -> &'static str {
        match self {
            Statistic::Last => LOCAL_STATISTICS_SYSTEM,
            _ => STATISTICS_SYSTEM,
        }
    }

    /// The statistic of `values` (newest first); `None` when there is none (no values, or a
    /// standard deviation of one).
    fn of(self, values: &[f64]) -> Option<f64> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let sum: f64 = values.iter().sum();
        let mean = sum / n as f64;
        Some(match self {
            Statistic::Count => n as f64,
            Statistic::Minimum => values.iter().copied().fold(f64::INFINITY, f64::min),
            Statistic::Maximum => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            Statistic::Average => mean,
            Statistic::Sum => sum,
            Statistic::Last => values[0],
            Statistic::Median => {
                let mut sorted = values.to_vec();
                sorted.sort_by(f64::total_cmp);
                match n % 2 {
                    1 => sorted[n / 2],
                    _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
                }
            }
            Statistic::StdDev => {
                if n < 2 {
                    return None;
                }
                let squares: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
                (squares / (n - 1) as f64).sqrt()
            }
        })
    }
}

/// The statistics of one code (and unit) of one subject.
#[derive(Debug, Clone)]
pub struct StatsGroup {
    /// The Observations' `code`, as the newest one has it.
    pub code: Value,
    /// The `subject` reference.
    pub subject: Option<String>,
    /// The unit (`valueQuantity` without `value`).
    pub unit: Value,
    /// The values, newest first.
    pub values: Vec<f64>,
    /// The effective times of the newest and the oldest value.
    pub period: (Option<String>, Option<String>),
    /// The Observations the values come from, newest first.
    pub sources: Vec<StoredResource>,
}

impl StatsGroup {
    /// The group as the R4 statistic Observation: `code` and `subject` of the source
    /// Observations, `effectivePeriod` over them, one `component` per statistic.
    pub fn observation(&self, statistics: &[Statistic]) -> Value {
        let components: Vec<Value> = statistics
            .iter()
            .filter_map(|statistic| {
                let value = statistic.of(&self.values)?;
                let mut quantity = self.unit.clone();
                match statistic {
                    Statistic::Count => quantity = json!({"value": value}),
                    _ => quantity["value"] = json!(value),
                }
                Some(json!({
                    "code": {"coding": [{"system": statistic.system(), "code": statistic.code()}]},
                    "valueQuantity": quantity,
                }))
            })
            .collect();
        let mut observation = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": self.code,
            "component": components,
        });
        if let Some(subject) = &self.subject {
            observation["subject"] = json!({"reference": subject});
        }
        let (newest, oldest) = &self.period;
        if let (Some(end), Some(start)) = (newest, oldest) {
            observation["effectivePeriod"] = json!({"start": start, "end": end});
        }
        observation
    }
}

/// The result of `$stats`.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// One group per subject, code and unit, in order of their newest value.
    pub groups: Vec<StatsGroup>,
    /// Observations matched without a numeric `valueQuantity` (not counted).
    pub skipped: usize,
    /// Whether [`OBSERVATION_SCAN_LIMIT`] cut the scan.
    pub truncated: bool,
}

impl<S: ResourceStore + 'static> FhirAccess<'_, S> {
    /// `Observation/$lastn`: of the Observations matching `query`, the latest `max` of each
    /// subject and code (newest first within a group; groups in the order of their newest).
    pub async fn lastn(
        &self,
        ctx: &RequestContext,
        query: SearchQuery,
        max: usize,
    ) -> FhirResult<Scan> {
        let (observations, truncated) = self.scan_observations(ctx, query).await?;
        // Per group (in the order of its newest): how many are taken.
        let mut groups: HashMap<String, (usize, usize)> = HashMap::new();
        let mut taken: Vec<(usize, StoredResource)> = Vec::new();
        for (stored, observation) in observations {
            let key = format!(
                "{}#{}",
                subject(&observation).unwrap_or_default(),
                code_key(&observation)
            );
            let next = groups.len();
            let (group, count) = groups.entry(key).or_insert((next, 0));
            if *count < max {
                *count += 1;
                taken.push((*group, stored));
            }
        }
        // Stable: newest first within a group.
        taken.sort_by_key(|(group, _)| *group);
        Ok(Scan {
            resources: taken.into_iter().map(|(_, stored)| stored).collect(),
            truncated,
        })
    }

    /// `Observation/$stats`: the Observations matching `query`, grouped by subject, code and
    /// unit, with their numeric `valueQuantity`s (newest first) for the statistics.
    pub async fn stats(&self, ctx: &RequestContext, query: SearchQuery) -> FhirResult<Stats> {
        let (observations, truncated) = self.scan_observations(ctx, query).await?;
        let mut stats = Stats {
            truncated,
            ..Stats::default()
        };
        let mut index: HashMap<String, usize> = HashMap::new();
        for (stored, observation) in observations {
            let quantity = &observation["valueQuantity"];
            let Some(value) = quantity["value"].as_f64() else {
                stats.skipped += 1;
                continue;
            };
            let mut unit = quantity.clone();
            if let Some(unit) = unit.as_object_mut() {
                unit.remove("value");
                unit.remove("comparator");
            }
            let subject = subject(&observation);
            let key = format!(
                "{}#{}#{}",
                subject.as_deref().unwrap_or_default(),
                code_key(&observation),
                unit
            );
            let effective = effective(&observation);
            let next = stats.groups.len();
            let position = *index.entry(key).or_insert(next);
            if position == next {
                stats.groups.push(StatsGroup {
                    code: observation["code"].clone(),
                    subject,
                    unit,
                    values: Vec::new(),
                    period: (effective.clone(), None),
                    sources: Vec::new(),
                });
            }
            let group = &mut stats.groups[position];
            group.values.push(value);
            group.period.1 = effective;
            group.sources.push(stored);
        }
        Ok(stats)
    }

    /// The Observations matching `query`, newest first (by `date`), each parsed; at most
    /// [`OBSERVATION_SCAN_LIMIT`] (the flag: the scan was cut).
    async fn scan_observations(
        &self,
        ctx: &RequestContext,
        mut query: SearchQuery,
    ) -> FhirResult<(Vec<(StoredResource, Value)>, bool)> {
        if query.resource_type != ResourceType::Observation {
            return Err(FhirError::invalid(
                IssueCode::NotSupported,
                None,
                "$lastn and $stats are defined on Observation only",
            ));
        }
        query.sort = vec![SortKey {
            code: "date".to_owned(),
            param: registry().param(ResourceType::Observation, "date").cloned(),
            descending: true,
        }];
        query.count = MAX_COUNT;
        query.total = TotalMode::None;
        query.includes.clear();
        query.revincludes.clear();
        let mut found = Vec::new();
        loop {
            let (page, _) = self.search(ctx, query.clone()).await?;
            for stored in page.matches {
                if found.len() == OBSERVATION_SCAN_LIMIT {
                    return Ok((found, true));
                }
                if stored.is_deleted() {
                    continue;
                }
                let observation = parse(&stored)?;
                found.push((stored, observation));
            }
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => return Ok((found, false)),
            }
        }
    }
}

fn parse(stored: &StoredResource) -> FhirResult<Value> {
    serde_json::from_str(stored.json.as_deref().unwrap_or("null")).map_err(|err| {
        FhirError::Internal {
            source: Box::new(err),
        }
    })
}

/// The `subject` reference of an Observation.
fn subject(observation: &Value) -> Option<String> {
    observation["subject"]["reference"]
        .as_str()
        .map(str::to_owned)
}

/// What identifies an Observation's code: its codings (`system|code`, sorted), else its text.
fn code_key(observation: &Value) -> String {
    let mut codings: Vec<String> = observation["code"]["coding"]
        .as_array()
        .map(|codings| {
            codings
                .iter()
                .map(|coding| {
                    format!(
                        "{}|{}",
                        coding["system"].as_str().unwrap_or_default(),
                        coding["code"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    codings.sort();
    match codings.is_empty() {
        true => format!(
            "text:{}",
            observation["code"]["text"].as_str().unwrap_or_default()
        ),
        false => codings.join(","),
    }
}

/// When an Observation was made: `effective[x]` (a period's start), else `issued`.
fn effective(observation: &Value) -> Option<String> {
    ["effectiveDateTime", "effectiveInstant"]
        .iter()
        .find_map(|name| observation[*name].as_str())
        .or_else(|| observation["effectivePeriod"]["start"].as_str())
        .or_else(|| observation["issued"].as_str())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_values() {
        let values = [4.0, 1.0, 3.0, 2.0];
        let of = |statistic: Statistic| statistic.of(&values).expect("value");
        assert_eq!(of(Statistic::Count), 4.0);
        assert_eq!(of(Statistic::Minimum), 1.0);
        assert_eq!(of(Statistic::Maximum), 4.0);
        assert_eq!(of(Statistic::Average), 2.5);
        assert_eq!(of(Statistic::Median), 2.5);
        assert_eq!(of(Statistic::Sum), 10.0);
        assert_eq!(of(Statistic::Last), 4.0);
        assert!((of(Statistic::StdDev) - 1.290_994_448_735_805_6).abs() < 1e-12);
        assert_eq!(Statistic::Median.of(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(Statistic::StdDev.of(&[1.0]), None);
        assert_eq!(Statistic::Average.of(&[]), None);
        assert_eq!(Statistic::from_code("std-dev"), Some(Statistic::StdDev));
        assert_eq!(Statistic::from_code("mean"), None);
    }

    #[test]
    fn codes_group_by_codings_in_any_order() {
        let a = json!({"code": {"coding": [{"system": "s", "code": "1"}, {"system": "t", "code": "2"}]}});
        let b = json!({"code": {"coding": [{"system": "t", "code": "2"}, {"system": "s", "code": "1"}]}});
        assert_eq!(code_key(&a), code_key(&b));
        assert_eq!(code_key(&json!({"code": {"text": "x"}})), "text:x");
    }
}
