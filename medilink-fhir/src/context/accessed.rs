//! [`Accessed`]: the per-request record of what a request touched — each resource returned or
//! changed, with the patients it belongs to — filled by whoever decides access (the consent
//! guard) and read once, after the request, by whoever writes the audit record.
//!
//! The library knows nothing of consent or users here: a disclosure is just "this request
//! returned or changed `Type/id`, which belongs to these patients". The default sink is off
//! (records nothing, costs nothing), so platform work that is not audited pays nothing.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use crate::model::{ResourceId, ResourceType};

/// How a request touched a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Interaction {
    /// Returned by a read.
    Read,
    /// Returned by a version read.
    Vread,
    /// Returned as a search match.
    Search,
    /// Returned by `_include` / `_revinclude`.
    Include,
    /// Returned as a history entry.
    History,
    /// Created.
    Create,
    /// Updated (new and previous version).
    Update,
    /// Deleted (the deleted version).
    Delete,
}

impl Interaction {
    /// The lowercase name (`read`, `search`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Interaction::Read => "read",
            Interaction::Vread => "vread",
            Interaction::Search => "search",
            Interaction::Include => "include",
            Interaction::History => "history",
            Interaction::Create => "create",
            Interaction::Update => "update",
            Interaction::Delete => "delete",
        }
    }
}

#[derive(Debug, Default)]
struct Log {
    /// Keep each resource (`false`: patients, types and interactions only, for bulk work).
    detailed: bool,
    resources: Vec<(ResourceType, ResourceId)>,
    seen: HashSet<(ResourceType, ResourceId)>,
    patients: BTreeMap<String, Vec<(ResourceType, ResourceId)>>,
    seen_of_patient: HashSet<(String, ResourceType, ResourceId)>,
    /// Summarizing only: each patient's types (bounded by patients × types).
    patient_types: BTreeMap<String, BTreeSet<ResourceType>>,
    types: BTreeSet<ResourceType>,
    interactions: BTreeSet<Interaction>,
    count: u64,
}

/// The disclosure sink of one request: cheap to clone (clones share it), off by default.
#[derive(Debug, Clone, Default)]
pub struct Accessed(Option<Arc<Mutex<Log>>>);

/// What a request touched, summed up (distinct values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessSummary {
    /// Each resource returned or changed, in first-touched order (empty for a summarizing
    /// sink).
    pub resources: Vec<(ResourceType, ResourceId)>,
    /// The patients those resources belong to, each with the resources of theirs (empty for a
    /// summarizing sink).
    pub patients: BTreeMap<String, Vec<(ResourceType, ResourceId)>>,
    /// A summarizing sink's patients, each with the types of theirs, sorted (empty for a
    /// collecting sink, whose `patients` name the resources themselves).
    pub patient_types: BTreeMap<String, Vec<ResourceType>>,
    /// Their types, sorted.
    pub resource_types: Vec<ResourceType>,
    /// The interactions, sorted.
    pub interactions: Vec<Interaction>,
    /// Disclosures recorded (with repeats).
    pub count: u64,
}

impl Accessed {
    /// A sink that keeps every resource (one request).
    pub fn collecting() -> Self {
        Accessed(Some(Arc::new(Mutex::new(Log {
            detailed: true,
            ..Log::default()
        }))))
    }

    /// A sink that keeps patients, types and interactions only (bulk work: an export job).
    pub fn summarizing() -> Self {
        Accessed(Some(Arc::default()))
    }

    /// Whether anything is recorded (callers skip computing patients when not).
    pub fn is_collecting(&self) -> bool {
        self.0.is_some()
    }

    fn log(&self) -> Option<std::sync::MutexGuard<'_, Log>> {
        self.0
            .as_ref()
            .map(|log| log.lock().unwrap_or_else(|poison| poison.into_inner()))
    }

    /// Records that `resource_type/id`, belonging to `patients`, was touched by `interaction`.
    pub fn record(
        &self,
        interaction: Interaction,
        resource_type: ResourceType,
        id: &ResourceId,
        patients: &[String],
    ) {
        let Some(mut log) = self.log() else {
            return;
        };
        log.count += 1;
        log.interactions.insert(interaction);
        log.types.insert(resource_type);
        let detailed = log.detailed;
        for patient in patients {
            if !log.patients.contains_key(patient) {
                log.patients.insert(patient.clone(), Vec::new());
            }
            if !detailed {
                log.patient_types
                    .entry(patient.clone())
                    .or_default()
                    .insert(resource_type);
            }
            if detailed
                && log
                    .seen_of_patient
                    .insert((patient.clone(), resource_type, id.clone()))
                && let Some(theirs) = log.patients.get_mut(patient)
            {
                theirs.push((resource_type, id.clone()));
            }
        }
        if detailed && log.seen.insert((resource_type, id.clone())) {
            log.resources.push((resource_type, id.clone()));
        }
    }

    /// Everything recorded so far.
    pub fn summary(&self) -> AccessSummary {
        let Some(log) = self.log() else {
            return AccessSummary::default();
        };
        AccessSummary {
            resources: log.resources.clone(),
            patients: log.patients.clone(),
            patient_types: log
                .patient_types
                .iter()
                .map(|(patient, types)| (patient.clone(), types.iter().copied().collect()))
                .collect(),
            resource_types: log.types.iter().copied().collect(),
            interactions: log.interactions.iter().copied().collect(),
            count: log.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> ResourceId {
        ResourceId::new(text).expect("id")
    }

    #[test]
    fn the_default_sink_records_nothing() {
        let sink = Accessed::default();
        sink.record(
            Interaction::Read,
            ResourceType::Observation,
            &id("o1"),
            &["p1".to_owned()],
        );
        assert!(!sink.is_collecting());
        assert_eq!(sink.summary(), AccessSummary::default());
    }

    #[test]
    fn clones_share_one_record_of_distinct_resources_and_patients() {
        let sink = Accessed::collecting();
        let clone = sink.clone();
        clone.record(
            Interaction::History,
            ResourceType::Observation,
            &id("o1"),
            &["p2".to_owned()],
        );
        sink.record(
            Interaction::History,
            ResourceType::Observation,
            &id("o1"),
            &["p2".to_owned()],
        );
        sink.record(
            Interaction::Include,
            ResourceType::Patient,
            &id("p1"),
            &["p1".to_owned()],
        );
        let summary = sink.summary();
        assert_eq!(
            summary.resources,
            vec![
                (ResourceType::Observation, id("o1")),
                (ResourceType::Patient, id("p1"))
            ]
        );
        assert_eq!(
            summary.patients,
            BTreeMap::from([
                ("p1".to_owned(), vec![(ResourceType::Patient, id("p1"))]),
                ("p2".to_owned(), vec![(ResourceType::Observation, id("o1"))]),
            ])
        );
        assert_eq!(
            summary.interactions,
            vec![Interaction::Include, Interaction::History]
        );
        assert_eq!(summary.count, 3);
        let bulk = Accessed::summarizing();
        bulk.record(
            Interaction::Search,
            ResourceType::Observation,
            &id("o1"),
            &["p2".to_owned()],
        );
        bulk.record(
            Interaction::Search,
            ResourceType::Condition,
            &id("c1"),
            &["p2".to_owned(), "p3".to_owned()],
        );
        assert!(bulk.summary().resources.is_empty());
        assert_eq!(
            bulk.summary().patients,
            BTreeMap::from([("p2".to_owned(), Vec::new()), ("p3".to_owned(), Vec::new())])
        );
        // Issue #15: a summarizing sink keeps each patient's types (not their resources).
        assert_eq!(
            bulk.summary().patient_types,
            BTreeMap::from([
                (
                    "p2".to_owned(),
                    vec![ResourceType::Condition, ResourceType::Observation]
                ),
                ("p3".to_owned(), vec![ResourceType::Condition]),
            ])
        );
        assert!(sink.summary().patient_types.is_empty());
    }
}
