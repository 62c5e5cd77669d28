//! k-anonymity of a research export (issue #15): pure functions, no I/O.
//!
//! Each exported patient is described by its **quasi-identifiers**, read from its
//! de-identified `Patient` ([`QuasiIdentifiers::of`]): the birth year (Safe Harbor already made
//! it a year, everyone who may be 90 or older sharing one), the gender and, only when the
//! export keeps ZIP3 ([`super::DeidOptions::keep_zip3`]), the three-digit ZIP prefixes of the
//! addresses. Missing values count as one more value ("unknown").
//!
//! [`plan`] generalises them in a fixed ladder of [`Step`]s applied to every patient alike —
//! birth year to 5-year bands, then to 10-year bands, then ZIP3 removed (when kept), then
//! gender removed — and picks the **first level with the fewest patients in groups smaller
//! than k** (the first level where every group has k or more patients, when one exists; a step
//! that suppresses nobody more is never taken). The patients still in groups smaller than k at
//! that level are **suppressed**: their `Patient` and every resource naming them are left out
//! of the export. Dates of events (every `date`/`dateTime` in every exported resource) are
//! always years already: that generalisation is Safe Harbor's ([`super`]), reported here too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The smallest and largest k an export may ask for.
pub const K_RANGE: std::ops::RangeInclusive<u32> = 2..=100;

/// The generalisation of the event dates every export applies (reported in the manifest).
pub const EVENT_DATES_TO_YEAR: &str = "event-dates:year";

/// One patient's quasi-identifiers (from its de-identified `Patient`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct QuasiIdentifiers {
    /// The birth year (`None`: unknown).
    pub birth_year: Option<i32>,
    /// The administrative gender (`None`: unknown).
    pub gender: Option<String>,
    /// The ZIP3 prefixes of the addresses, sorted, comma-separated (`None`: none kept).
    pub zip3: Option<String>,
}

impl QuasiIdentifiers {
    /// The quasi-identifiers of a de-identified `Patient` (its `birthDate` is a year).
    pub fn of(patient: &Value) -> QuasiIdentifiers {
        let birth_year = patient
            .get("birthDate")
            .and_then(Value::as_str)
            .and_then(|date| date.get(..4))
            .and_then(|year| year.parse().ok());
        let gender = patient
            .get("gender")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let zips: BTreeSet<&str> = patient
            .get("address")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|address| address.get("postalCode").and_then(Value::as_str))
            .collect();
        let zip3 = (!zips.is_empty()).then(|| zips.into_iter().collect::<Vec<_>>().join(","));
        QuasiIdentifiers {
            birth_year,
            gender,
            zip3,
        }
    }
}

/// A generalisation step, applied to every patient of the export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// The birth year becomes its 5-year band (1980–1984; `birthDate` holds 1980).
    BirthYear5,
    /// The birth year becomes its 10-year band (1980–1989; `birthDate` holds 1980).
    BirthYear10,
    /// The ZIP3 prefixes are removed.
    Zip3Removed,
    /// The gender is removed.
    GenderRemoved,
}

impl Step {
    /// The stable name in the manifest's `generalisation`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::BirthYear5 => "birth-year:5-year-band",
            Step::BirthYear10 => "birth-year:10-year-band",
            Step::Zip3Removed => "zip3:removed",
            Step::GenderRemoved => "gender:removed",
        }
    }
}

/// The ladder of steps, in order (ZIP3 only when the export keeps it).
fn ladder(keep_zip3: bool) -> Vec<Step> {
    let mut steps = vec![Step::BirthYear5, Step::BirthYear10];
    if keep_zip3 {
        steps.push(Step::Zip3Removed);
    }
    steps.push(Step::GenderRemoved);
    steps
}

/// The quasi-identifiers after `steps`.
fn generalised(qis: &QuasiIdentifiers, steps: &[Step]) -> QuasiIdentifiers {
    let band = if steps.contains(&Step::BirthYear10) {
        10
    } else if steps.contains(&Step::BirthYear5) {
        5
    } else {
        1
    };
    QuasiIdentifiers {
        birth_year: qis.birth_year.map(|year| year - year.rem_euclid(band)),
        gender: qis
            .gender
            .clone()
            .filter(|_| !steps.contains(&Step::GenderRemoved)),
        zip3: qis
            .zip3
            .clone()
            .filter(|_| !steps.contains(&Step::Zip3Removed)),
    }
}

/// The patients (of `patients`) in groups smaller than `k` after `steps`.
fn small_groups<'a>(
    patients: &'a [(String, QuasiIdentifiers)],
    k: u32,
    steps: &[Step],
) -> BTreeSet<&'a str> {
    let mut groups: BTreeMap<QuasiIdentifiers, Vec<&str>> = BTreeMap::new();
    for (id, qis) in patients {
        groups
            .entry(generalised(qis, steps))
            .or_default()
            .push(id.as_str());
    }
    groups
        .into_values()
        .filter(|members| members.len() < k as usize)
        .flatten()
        .collect()
}

/// What k-anonymity does to an export: the steps taken and the patients suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The k asked for.
    pub k: u32,
    /// Whether ZIP3 is a quasi-identifier (the export keeps it).
    pub keep_zip3: bool,
    /// The steps applied, in order.
    pub steps: Vec<Step>,
    /// The (stored, not pseudonymised) ids of the patients suppressed.
    pub suppressed: BTreeSet<String>,
}

/// Plans k-anonymity for `patients` (stored id and quasi-identifiers of each, one entry per
/// patient): the first level of the ladder with the fewest patients in groups smaller than
/// `k`, and those patients.
pub fn plan(k: u32, keep_zip3: bool, patients: &[(String, QuasiIdentifiers)]) -> Plan {
    let ladder = ladder(keep_zip3);
    let mut best: Option<(usize, BTreeSet<&str>)> = None;
    for level in 0..=ladder.len() {
        let small = small_groups(patients, k, &ladder[..level]);
        let better = best
            .as_ref()
            .is_none_or(|(_, fewest)| small.len() < fewest.len());
        if better {
            let done = small.is_empty();
            best = Some((level, small));
            if done {
                break;
            }
        }
    }
    let (level, small) = best.unwrap_or_default();
    Plan {
        k,
        keep_zip3,
        steps: ladder[..level].to_vec(),
        suppressed: small.into_iter().map(str::to_owned).collect(),
    }
}

impl Plan {
    /// The names of the quasi-identifiers, as the manifest reports them.
    pub fn quasi_identifiers(&self) -> Vec<String> {
        let mut names = vec!["birth-year".to_owned(), "gender".to_owned()];
        if self.keep_zip3 {
            names.push("zip3".to_owned());
        }
        names
    }

    /// The generalisations applied, as the manifest reports them: event dates to the year
    /// (always), then the steps.
    pub fn generalisation(&self) -> Vec<String> {
        std::iter::once(EVENT_DATES_TO_YEAR)
            .chain(self.steps.iter().map(|step| step.as_str()))
            .map(str::to_owned)
            .collect()
    }

    /// Whether the data of the patient with the stored id `patient` is suppressed.
    pub fn suppresses(&self, patient: &str) -> bool {
        self.suppressed.contains(patient)
    }

    /// Applies the steps to a de-identified `Patient`: `birthDate` becomes its band's first
    /// year, and ZIP3 and gender are removed when their step was taken.
    pub fn generalise_patient(&self, patient: &mut Value) {
        let Some(map) = patient.as_object_mut() else {
            return;
        };
        let qis = generalised(
            &QuasiIdentifiers::of(&Value::Object(map.clone())),
            &self.steps,
        );
        if let Some(year) = qis.birth_year {
            map.insert("birthDate".to_owned(), Value::String(format!("{year:04}")));
        }
        if self.steps.contains(&Step::GenderRemoved) {
            map.remove("gender");
        }
        if self.steps.contains(&Step::Zip3Removed)
            && let Some(addresses) = map.get_mut("address").and_then(Value::as_array_mut)
        {
            for address in addresses.iter_mut() {
                if let Some(address) = address.as_object_mut() {
                    address.remove("postalCode");
                }
            }
            // An address left with nothing is dropped (FHIR elements are never empty).
            addresses.retain(|address| address.as_object().is_some_and(|a| !a.is_empty()));
            if addresses.is_empty() {
                map.remove("address");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A group of generated patients: how many, birth year, gender, ZIP3.
    type Group<'a> = (usize, Option<i32>, Option<&'a str>, Option<&'a str>);

    fn patients(groups: &[Group<'_>]) -> Vec<(String, QuasiIdentifiers)> {
        let mut all = Vec::new();
        for (n, year, gender, zip3) in groups {
            for _ in 0..*n {
                let id = format!("p{}", all.len() + 1);
                all.push((
                    id,
                    QuasiIdentifiers {
                        birth_year: *year,
                        gender: gender.map(str::to_owned),
                        zip3: zip3.map(str::to_owned),
                    },
                ));
            }
        }
        all
    }

    fn ids(plan: &Plan) -> Vec<&str> {
        plan.suppressed.iter().map(String::as_str).collect()
    }

    #[test]
    fn groups_of_k_or_more_need_nothing() {
        let all = patients(&[
            (5, Some(1980), Some("female"), None),
            (5, Some(1990), Some("male"), None),
        ]);
        let plan = plan(5, false, &all);
        assert!(plan.steps.is_empty());
        assert!(plan.suppressed.is_empty());
        assert_eq!(plan.generalisation(), ["event-dates:year"]);
        assert_eq!(plan.quasi_identifiers(), ["birth-year", "gender"]);
    }

    #[test]
    fn two_unique_patients_far_from_the_rest_are_suppressed_without_generalising() {
        // 7 share a tuple; 2 are unique at every level (another century, another gender):
        // generalising helps nobody, so nothing is generalised and the 2 are suppressed.
        let all = patients(&[
            (7, Some(1980), Some("female"), None),
            (1, Some(1920), Some("male"), None),
            (1, Some(2010), Some("male"), None),
        ]);
        let plan = plan(5, false, &all);
        assert!(plan.steps.is_empty(), "{plan:?}");
        assert_eq!(ids(&plan), ["p8", "p9"]);
    }

    #[test]
    fn five_year_bands_merge_a_near_birth_year() {
        // 1982 joins 1980's band (1980–1984); 1987 needs 10-year bands; 1950 never merges.
        let all = patients(&[
            (4, Some(1980), Some("female"), None),
            (1, Some(1982), Some("female"), None),
            (1, Some(1950), Some("female"), None),
        ]);
        let five = plan(5, false, &all);
        assert_eq!(five.steps, [Step::BirthYear5]);
        assert_eq!(ids(&five), ["p6"]);
        let mut more = all.clone();
        more.push((
            "p7".to_owned(),
            QuasiIdentifiers {
                birth_year: Some(1987),
                gender: Some("female".to_owned()),
                zip3: None,
            },
        ));
        let ten = plan(6, false, &more);
        assert_eq!(ten.steps, [Step::BirthYear5, Step::BirthYear10]);
        assert_eq!(ids(&ten), ["p6"]);
        assert_eq!(
            ten.generalisation(),
            [
                "event-dates:year",
                "birth-year:5-year-band",
                "birth-year:10-year-band"
            ]
        );
    }

    #[test]
    fn zip3_goes_before_gender_and_gender_last() {
        // Two ZIP3s of 3 each (k = 5): ZIP3 must go; then every group has 6.
        let all = patients(&[
            (3, Some(1980), Some("female"), Some("021")),
            (3, Some(1980), Some("female"), Some("100")),
        ]);
        let zip = plan(5, true, &all);
        assert_eq!(
            zip.steps,
            [Step::BirthYear5, Step::BirthYear10, Step::Zip3Removed]
        );
        assert!(zip.suppressed.is_empty());
        assert_eq!(zip.quasi_identifiers(), ["birth-year", "gender", "zip3"]);
        // 3 women and 3 men (k = 5): only removing gender makes one group of 6.
        let all = patients(&[
            (3, Some(1980), Some("female"), None),
            (3, Some(1980), Some("male"), None),
        ]);
        let gender = plan(5, false, &all);
        assert_eq!(
            gender.steps,
            [Step::BirthYear5, Step::BirthYear10, Step::GenderRemoved]
        );
        assert!(gender.suppressed.is_empty());
        // Unknown values are one more value: 2 without a birth date stay apart (k = 2 keeps them).
        let all = patients(&[(2, None, None, None), (2, Some(1970), Some("other"), None)]);
        let unknown = plan(2, false, &all);
        assert!(unknown.steps.is_empty() && unknown.suppressed.is_empty());
        let unknown = plan(3, false, &all);
        assert_eq!(ids(&unknown), ["p1", "p2", "p3", "p4"]);
        assert!(unknown.steps.is_empty());
    }

    #[test]
    fn a_patient_is_generalised_as_planned() {
        let mut patient = json!({
            "resourceType": "Patient", "gender": "female", "birthDate": "1983",
            "address": [{"postalCode": "021", "state": "MA"}, {"postalCode": "100"}],
        });
        assert_eq!(
            QuasiIdentifiers::of(&patient),
            QuasiIdentifiers {
                birth_year: Some(1983),
                gender: Some("female".into()),
                zip3: Some("021,100".into())
            }
        );
        let plan = Plan {
            k: 5,
            keep_zip3: true,
            steps: vec![
                Step::BirthYear5,
                Step::BirthYear10,
                Step::Zip3Removed,
                Step::GenderRemoved,
            ],
            suppressed: BTreeSet::new(),
        };
        plan.generalise_patient(&mut patient);
        assert_eq!(
            patient,
            json!({"resourceType": "Patient", "birthDate": "1980", "address": [{"state": "MA"}]})
        );
        let five = Plan {
            steps: vec![Step::BirthYear5],
            ..plan
        };
        let mut patient = json!({"resourceType": "Patient", "birthDate": "1989", "gender": "male"});
        five.generalise_patient(&mut patient);
        assert_eq!(
            patient,
            json!({"resourceType": "Patient", "birthDate": "1985", "gender": "male"})
        );
    }
}
