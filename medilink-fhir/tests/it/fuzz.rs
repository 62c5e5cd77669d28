//! Issue #24: generated inputs, as ordinary bounded tests (cargo-fuzz needs a nightly
//! toolchain these machines do not have). A deterministic mutator (byte-level: flips,
//! deletions, duplications, splices, hostile tokens; and structure-level: a node replaced by a
//! hostile value) runs from the HL7 examples in `tests/data/fuzz-seeds/` (Apache-2.0, see its
//! README) over each target:
//!
//! - FHIR JSON parse + validate (`model::parse_json`, `validate::check`);
//! - search parameters parse + plan + run (`SearchQuery::parse`, the SQLite store's search);
//! - FHIRPath parse + evaluate (expressions from the spec's test suite);
//! - Bundle processing (transactions and batches with `urn:uuid` references; a refused
//!   transaction writes nothing) and JSON Patch.
//!
//! The property everywhere: no panic, no `Internal` error, no case slower than a bound. A
//! failure prints the seed and case number; `MEDILINK_FUZZ_SEED` and `MEDILINK_FUZZ_CASES`
//! replay or lengthen a run. Every input that once failed stays below as a regression case.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use medilink_fhir::fhirpath::{Expression, evaluate};
use medilink_fhir::model::parse_json;
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{
    ErrorKind, FhirError, FixedClock, RequestContext, ResourceStore, ResourceType, SeqIdGen,
    SqlOptions, bundle, open_store, patch, validate,
};
use serde_json::{Value, json};

/// A small deterministic generator (xorshift64*).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The run's seed and case count (defaults: fixed, bounded).
pub(crate) fn settings(default_cases: usize) -> (u64, usize) {
    let seed = std::env::var("MEDILINK_FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0x5EED_0024);
    let cases = std::env::var("MEDILINK_FUZZ_CASES")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default_cases);
    (seed, cases)
}

/// Hostile fragments inserted by the byte mutator.
const TOKENS: &[&str] = &[
    "null",
    "true",
    "-0",
    "1e999",
    "-1e-999",
    "123456789012345678901234567890123456789012345678901234567890",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "[]",
    "{}",
    "[[[[[[[[[[[[[[[[",
    "{\"a\":{\"a\":{\"a\":",
    "\"gender\":\"male\",",
    "\"resourceType\":\"Bundle\",",
    "\"reference\":\"urn:uuid:x\",",
    "\"id\":\"../../etc\",",
    "\u{0}",
    "\u{202e}",
    "\"\\\\\"",
    ",,",
    "\"2024-02-30T25:61:61Z\"",
];

/// One byte-level mutation of `input` (several steps), splicing from `others`.
pub(crate) fn mutate_bytes(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = data.len().max(1);
        let at = rng.below(len).min(data.len());
        match rng.below(9) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = *rng.pick(b"\x00\xff\"{[]},:\\\x80\xc3");
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
            4 => {
                let token = rng.pick(TOKENS).as_bytes().to_vec();
                data.splice(at..at, token);
            }
            5 => data.truncate(at),
            6 if !others.is_empty() => {
                let other = rng.pick(others);
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(256)).min(other.len());
                data.splice(at..at, other[from..end].iter().copied());
            }
            7 if data.len() > 1 => {
                let (i, j) = (rng.below(data.len()), rng.below(data.len()));
                data.swap(i, j);
            }
            _ => {
                let token = rng.pick(TOKENS).as_bytes().to_vec();
                data.extend(token);
            }
        }
    }
    data
}

/// A hostile JSON value.
fn hostile_value(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(""),
        3 => json!("\u{0}\u{1f}"),
        4 => json!("x".repeat(rng.below(5000))),
        5 => serde_json::from_str(&"9".repeat(1 + rng.below(400))).expect("a number"),
        6 => json!(-1),
        7 => json!(1.5e300),
        8 => json!([]),
        9 => json!({}),
        10 => json!({"reference": "urn:uuid:does-not-exist"}),
        11 => json!([{"url": "http://x", "valueString": "y"}]),
        12 => json!("2024-13-45"),
        _ => {
            let mut value = json!(1);
            for _ in 0..rng.below(120) {
                value = json!([value]);
            }
            value
        }
    }
}

/// One structure-level mutation: a random node of `value` replaced by a hostile one (or a
/// key added, or removed).
pub(crate) fn mutate_value(rng: &mut Rng, value: &mut Value) {
    let depth = rng.below(6);
    mutate_at(rng, value, depth);
}

fn mutate_at(rng: &mut Rng, node: &mut Value, depth: usize) {
    if depth > 0 {
        match node {
            Value::Object(map) if !map.is_empty() => {
                let i = rng.below(map.len());
                if let Some((_, child)) = map.iter_mut().nth(i) {
                    return mutate_at(rng, child, depth - 1);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                let i = rng.below(items.len());
                return mutate_at(rng, &mut items[i], depth - 1);
            }
            _ => {}
        }
    }
    let choice = rng.below(3);
    if let Value::Object(map) = node {
        if choice == 0 && !map.is_empty() {
            let i = rng.below(map.len());
            let key = map.keys().nth(i).cloned();
            if let Some(key) = key {
                map.remove(&key);
            }
            return;
        }
        if choice == 1 {
            let keys = [
                "id",
                "extension",
                "_birthDate",
                "resourceType",
                "meta",
                "reference",
                "x",
            ];
            let key = (*rng.pick(&keys)).to_owned();
            map.insert(key, hostile_value(rng));
            return;
        }
    }
    *node = hostile_value(rng);
}

fn seeds_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-seeds")
}

/// The seed resources (every `.json` but the patch cases).
pub(crate) fn seed_resources() -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(seeds_dir())
        .expect("seeds")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == "json")
                && !path.ends_with("json-patch-tests.json")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 8, "the seeds are vendored");
    files
        .iter()
        .map(|path| std::fs::read(path).expect("seed"))
        .collect()
}

/// Runs `f`, failing with `what` when it panics or takes longer than `limit`.
fn guarded<T>(what: &str, limit: Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let took = started.elapsed();
    match outcome {
        Ok(value) => {
            assert!(took < limit, "{what}: took {took:?}");
            value
        }
        Err(_) => panic!("{what}: panicked"),
    }
}

fn not_internal(what: &str, error: &FhirError) {
    assert_ne!(error.kind(), ErrorKind::Internal, "{what}: {error}");
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned()
}

#[test]
fn fhir_json_parse_and_validate_never_panic() {
    let (seed, cases) = settings(3000);
    let mut rng = Rng::new(seed);
    let seeds = seed_resources();
    let mut accepted = 0;
    for case in 0..cases {
        let base = rng.pick(&seeds).clone();
        let input = if case % 2 == 0 {
            mutate_bytes(&mut rng, &base, &seeds)
        } else {
            let mut value: Value = serde_json::from_slice(&base).expect("seed");
            for _ in 0..=rng.below(3) {
                mutate_value(&mut rng, &mut value);
            }
            serde_json::to_vec(&value).expect("serialises")
        };
        let what = format!("seed {seed} case {case}: {}", shown(&input));
        guarded(&what, Duration::from_secs(5), || {
            if let Ok(value) = parse_json(&input) {
                let issues = validate::check(&value);
                if issues.is_empty() {
                    accepted += 1;
                }
            }
        });
    }
    // Control: the mutator keeps some inputs valid and breaks others.
    assert!(
        accepted > 0 && accepted < cases,
        "{accepted} of {cases} accepted"
    );
}

/// Search parameter names and values the generator combines.
const PARAM_NAMES: &[&str] = &[
    "_id",
    "_lastUpdated",
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_summary",
    "_total",
    "_elements",
    "_text",
    "_content",
    "_has:Observation:subject:code",
    "name",
    "family",
    "gender",
    "birthdate",
    "identifier",
    "subject",
    "subject:Patient.name",
    "code",
    "value-quantity",
    "date",
    "status",
    "general-practitioner.name",
    "_tag",
    "_profile",
    "code-value-quantity",
    "patient",
    "_id:missing",
    "name:exact",
    "name:contains",
    "code:text",
    "subject:identifier",
    "organization._has:Patient:organization:name",
];
const PARAM_VALUES: &[&str] = &[
    "x",
    "",
    "gt2024",
    "le2024-01-01T00:00:00Z",
    "eq1e999",
    "ap5.4|http://unitsofmeasure.org|mg",
    "http://loinc.org|1234-5",
    "|",
    "||",
    "Patient/1",
    "urn:uuid:1",
    "true",
    "-1",
    "0",
    "99999999999999999999999999999",
    "name",
    "-name,_id",
    "Observation:subject",
    "*",
    "\u{0}",
    "%00",
    "a,b,c,d,e,f",
    "2024-02-30",
    "lt-2024",
    "ne",
    "sa2024",
    "text",
    "Patient:organization:Organization",
    "count",
    "accurate",
];

#[tokio::test]
async fn search_parameters_parse_and_plan_never_fail_internally() {
    let (seed, cases) = settings(600);
    let mut rng = Rng::new(seed ^ 0x5EA);
    let store = memory_store().await;
    let ctx = RequestContext::system();
    let types = [
        ResourceType::Patient,
        ResourceType::Observation,
        ResourceType::Encounter,
        ResourceType::Organization,
    ];
    let mut ran = 0;
    for case in 0..cases {
        let ty = *rng.pick(&types);
        let params: Vec<(String, String)> = (0..=rng.below(5))
            .map(|_| {
                let mut name = (*rng.pick(PARAM_NAMES)).to_owned();
                let mut value = (*rng.pick(PARAM_VALUES)).to_owned();
                if rng.below(4) == 0 {
                    name = String::from_utf8_lossy(&mutate_bytes(&mut rng, name.as_bytes(), &[]))
                        .into_owned();
                }
                if rng.below(3) == 0 {
                    value = String::from_utf8_lossy(&mutate_bytes(&mut rng, value.as_bytes(), &[]))
                        .into_owned();
                }
                (name, value)
            })
            .collect();
        let what = format!("seed {seed} case {case}: {ty} {params:?}");
        let parsed = guarded(&what, Duration::from_secs(2), || {
            SearchQuery::parse(ty, &params, rng.below(2) == 0)
        });
        match parsed {
            Ok(query) => {
                let started = Instant::now();
                if let Err(error) = store.search(&ctx, &query).await {
                    not_internal(&what, &error);
                }
                assert!(started.elapsed() < Duration::from_secs(10), "{what}");
                ran += 1;
            }
            Err(error) => not_internal(&what, &error),
        }
    }
    assert!(ran > 0, "some queries parse and run");
}

/// The expressions of the spec's FHIRPath test suite.
fn fhirpath_expressions() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fhirpath/tests-fhir-r4.xml");
    let text = std::fs::read_to_string(path).expect("fhirpath tests");
    text.split("<expression")
        .skip(1)
        .filter_map(|part| {
            let start = part.find('>')? + 1;
            let end = part.find("</expression>")?;
            Some(
                part[start..end]
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&"),
            )
        })
        .collect()
}

#[test]
fn fhirpath_parse_and_evaluate_never_panic() {
    let (seed, cases) = settings(4000);
    let mut rng = Rng::new(seed ^ 0xF4);
    let expressions = fhirpath_expressions();
    assert!(expressions.len() > 500, "{}", expressions.len());
    let sources: Vec<Vec<u8>> = expressions.iter().map(|e| e.clone().into_bytes()).collect();
    let resources: Vec<Value> = seed_resources()
        .iter()
        .map(|bytes| serde_json::from_slice(bytes).expect("seed"))
        .collect();
    let mut parsed = 0;
    for case in 0..cases {
        let source = rng.pick(&sources).clone();
        let mutated = if case % 5 == 0 {
            source
        } else {
            mutate_bytes(&mut rng, &source, &sources)
        };
        let text = String::from_utf8_lossy(&mutated).into_owned();
        let resource = rng.pick(&resources);
        let what = format!("seed {seed} case {case}: {text:?}");
        guarded(&what, Duration::from_secs(5), || {
            if let Ok(expression) = Expression::parse(&text) {
                parsed += 1;
                let _ = evaluate(&expression, resource);
            }
        });
    }
    assert!(parsed > cases / 10, "{parsed} of {cases} parsed");
}

async fn memory_store() -> Arc<dyn ResourceStore> {
    let clock = Arc::new(FixedClock::new(
        time::macros::datetime!(2024-01-01 0:00 UTC),
    ));
    open_store(
        &SqlOptions::new("sqlite::memory:"),
        clock,
        Arc::new(SeqIdGen::new("fz")),
    )
    .await
    .expect("store")
}

/// A transaction or batch of the seed resources, each with a `urn:uuid` full URL, the later
/// ones referencing the first.
fn seed_bundle(rng: &mut Rng, resources: &[Value], kind: &str) -> Value {
    let first = "urn:uuid:00000000-0000-4000-8000-000000000000";
    let mut patient = json!({"resourceType": "Patient", "gender": "other"});
    if rng.below(2) == 0 {
        patient["birthDate"] = json!("1970-01-01");
    }
    let mut entries = vec![json!({"fullUrl": first, "resource": patient,
        "request": {"method": "POST", "url": "Patient"}})];
    for n in 0..=rng.below(4) {
        let mut resource = rng.pick(resources).clone();
        if let Some(map) = resource.as_object_mut() {
            map.remove("id");
            map.insert("subject".to_owned(), json!({"reference": first}));
        }
        let ty = resource["resourceType"]
            .as_str()
            .unwrap_or("Basic")
            .to_owned();
        entries.push(json!({
            "fullUrl": format!("urn:uuid:00000000-0000-4000-8000-00000000000{}", n + 1),
            "resource": resource,
            "request": {"method": "POST", "url": ty}
        }));
    }
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}

#[tokio::test]
async fn bundles_and_patches_never_fail_internally_nor_apply_partly() {
    let (seed, cases) = settings(300);
    let mut rng = Rng::new(seed ^ 0xB0);
    let store = memory_store().await;
    let ids = SeqIdGen::new("fb");
    let ctx = RequestContext::system();
    let resources: Vec<Value> = seed_resources()
        .iter()
        .map(|bytes| serde_json::from_slice(bytes).expect("seed"))
        .collect();
    let (mut committed, mut refused) = (0, 0);
    for case in 0..cases {
        let kind = if rng.below(2) == 0 {
            "transaction"
        } else {
            "batch"
        };
        let mut bundle_value = seed_bundle(&mut rng, &resources, kind);
        for _ in 0..rng.below(3) {
            mutate_value(&mut rng, &mut bundle_value);
        }
        let before = store
            .changes_since(&ctx, 0, 1_000_000)
            .await
            .expect("feed")
            .len();
        let what = format!(
            "seed {seed} case {case}: {}",
            shown(bundle_value.to_string().as_bytes())
        );
        let started = Instant::now();
        let outcome = bundle::process(store.as_ref(), &ctx, &ids, bundle_value.clone()).await;
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        let after = store
            .changes_since(&ctx, 0, 1_000_000)
            .await
            .expect("feed")
            .len();
        match outcome {
            Ok(outcome) => {
                for entry in &outcome.entries {
                    if let Err(error) = entry {
                        not_internal(&what, error);
                    }
                }
                committed += 1;
            }
            Err(error) => {
                not_internal(&what, &error);
                if kind == "transaction" && bundle_value["type"] == "transaction" {
                    assert_eq!(before, after, "{what}: a refused transaction wrote");
                }
                refused += 1;
            }
        }
    }
    assert!(
        committed > 0 && refused > 0,
        "{committed} committed, {refused} refused"
    );
    // JSON Patch: the RFC 6902 cases, mutated.
    let text = std::fs::read(seeds_dir().join("json-patch-tests.json")).expect("patch tests");
    let tests: Vec<Value> = serde_json::from_slice(&text).expect("json");
    for case in 0..cases * 5 {
        let test = rng.pick(&tests);
        let mut document = test["doc"].clone();
        let mut operations = test["patch"].clone();
        if case % 3 != 0 {
            mutate_value(&mut rng, &mut operations);
        }
        if case % 4 == 0 {
            mutate_value(&mut rng, &mut document);
        }
        let what = format!("seed {seed} patch case {case}: {operations}");
        let outcome = guarded(&what, Duration::from_secs(2), || {
            patch::apply_json_patch(&document, &operations)
        });
        if let Err(error) = outcome {
            not_internal(&what, &error);
        }
    }
}
