//! The tidy test: the architecture's invariants (ARCHITECTURE.md, "Invariants (stated as
//! absences)"), checked over `cargo metadata --no-deps` and the sources, in the manner of
//! rust-analyzer's `xtask/tests/tidy.rs`. It compiles nothing but itself and reads files, so it
//! runs in well under a second as part of `cargo test --workspace` (`scripts/test`).
//!
//! Each check fails with `file:line`, the rule and how to fix it. Exceptions are short
//! allowlists below, each entry with its reason; an entry that no longer matches anything fails
//! too, so the lists only shrink and stay true.
//!
//! The source checks read Rust through a small lexer (`Source`): comments, string and char
//! literals are taken out of the code, and test-only items (`#[cfg(test)]`, the `testsuite`
//! feature, and the module files they declare) are left out. Tests themselves (`tests/`) are
//! not checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------------

/// Library crates: no binary, no HTTP server, no command line (DESIGN.md "Crate graph").
const LIBRARIES: &[&str] = &[
    "medilink-fhir",
    "medilink-consent",
    "medilink-ingest",
    "medilink-platform",
    "medilink-clinical",
    "medilink-jobs",
];

/// Every workspace crate and the workspace crates it may depend on, in any dependency kind
/// (DESIGN.md "Crate graph", STYLE.md §2): the hosts use the libraries, the libraries use
/// `medilink-fhir`, and `medilink-fhir` uses nothing. `medilink-platform` sits beside the other
/// libraries but below consent and ingest: it holds what every service shares — the one
/// `Caller` type (consent decides from it), `Role`, the audit chain (consent and ingest append
/// records) and the job handler types (their jobs implement them) — and uses `medilink-fhir`
/// only, so no cycle can form. Ingest never uses consent: it receives a guarded store. A new
/// edge is a design decision: change this table, DESIGN.md and ARCHITECTURE.md together.
const CRATE_EDGES: &[(&str, &[&str])] = &[
    ("medilink-fhir", &[]),
    ("medilink-platform", &["medilink-fhir"]),
    ("medilink-consent", &["medilink-fhir", "medilink-platform"]),
    ("medilink-ingest", &["medilink-fhir", "medilink-platform"]),
    ("medilink-clinical", &["medilink-fhir", "medilink-platform"]),
    // The job registry composes the libraries' handlers for both hosts (ARCHITECTURE.md,
    // "Departures": no library may know the others, and the hosts may not share code).
    (
        "medilink-jobs",
        &[
            "medilink-fhir",
            "medilink-consent",
            "medilink-ingest",
            "medilink-platform",
            "medilink-clinical",
        ],
    ),
    ("medilink-server", LIBRARIES),
    ("medilink-worker", LIBRARIES),
    // Dev tools: libraries only, never a host.
    ("medilink-bench", LIBRARIES),
    ("medilink-examples", LIBRARIES),
    ("xtask", &[]),
];

/// Host-only dependencies: a library never has them as a normal or build dependency.
const HOST_ONLY_DEPENDENCIES: &[&str] = &["axum", "clap", "anyhow"];

/// (library, dependency, feature, reason): a host-only dependency a library may have as an
/// optional dependency enabled only by this feature, which no default feature reaches.
const FEATURE_GATED: &[(&str, &str, &str, &str)] = &[
    (
        "medilink-ingest",
        "clap",
        "cli",
        "`medilink_ingest::cli`: the extractor flags flattened into both hosts' clap config",
    ),
    (
        "medilink-ingest",
        "anyhow",
        "cli",
        "`cli::pipeline` reports bad extractor flags to the hosts' start-up as anyhow errors",
    ),
];

/// Ambient state in library code: the wall clock, the environment and randomness go through
/// the `Clock`/`IdGen` seams or the hosts' option structs (STYLE.md §3, §5). Matched in code
/// (not comments or strings) at an identifier boundary. `clippy.toml` of each library bans
/// the methods among these as well (`disallowed-methods`).
const AMBIENT_CALLS: &[&str] = &[
    "SystemTime::now",
    "OffsetDateTime::now_utc",
    "OffsetDateTime::now_local",
    "Instant::now",
    "Utc::now",
    "Local::now",
    "env::var",
    "Uuid::new_v4",
    "Uuid::now_v7",
    "rand::",
    "getrandom::",
];

/// (file, call, reason): the allowed ambient calls in library code.
const AMBIENT_ALLOWED: &[(&str, &str, &str)] = &[
    (
        "medilink-fhir/src/clock.rs",
        "OffsetDateTime::now_utc",
        "the Clock seam (`SystemClock`)",
    ),
    (
        "medilink-fhir/src/clock.rs",
        "Uuid::now_v7",
        "the IdGen seam (`UuidIdGen`)",
    ),
    (
        "medilink-fhir/src/backend/sql/mod.rs",
        "Instant::now",
        "the SQLite statement time limit: a monotonic deadline checked by the progress handler, \
         never a timestamp",
    ),
    (
        "medilink-consent/src/guard.rs",
        "Instant::now",
        "the not-found time floor: a monotonic start of the interaction, never a timestamp",
    ),
    (
        "medilink-fhir/src/backend/sql/mod.rs",
        "Uuid::new_v4",
        "the name of a store's private in-memory SQLite database: unique per store even when \
         two stores share an `IdGen` double, never stored",
    ),
    (
        "medilink-fhir/src/fhirpath/library.rs",
        "OffsetDateTime::now_utc",
        "FHIRPath `now()`, `today()`, `timeOfDay()`: no `Clock` reaches the evaluator yet \
         (validation and search expressions do not call them)",
    ),
    (
        "medilink-platform/src/keys.rs",
        "getrandom::",
        "a new secret key file (development only): key material, not an id",
    ),
];

/// Where SQL may be written: the SQL backend, and the platform's stores on the same database
/// (accounts, audit trail), which run through the backend's `SqlResourceStore::connection`
/// seam (migrations are `.sql` files under `migrations/`, not Rust).
const SQL_HOMES: &[&str] = &[
    "medilink-fhir/src/backend/sql/",
    "medilink-platform/src/sql.rs",
    "medilink-platform/src/sql/",
];

/// SQL in a string literal: (keyword, and a second keyword the same literal must contain).
const SQL_KEYWORDS: &[(&str, Option<&str>)] = &[
    ("SELECT ", None),
    ("INSERT INTO", None),
    ("UPDATE ", Some(" SET ")),
    ("DELETE FROM", None),
    ("CREATE TABLE", None),
];

/// (file, reason): SQL outside the backend.
const SQL_ALLOWED: &[(&str, &str)] = &[(
    "medilink-bench/src/raw.rs",
    "the raw-insert baseline the benchmarks compare the store with, written past the store on purpose",
)];

/// A handler of `medilink-server` is at most this many lines, signature to closing brace
/// (issue #12: parse, one library call, map).
const HANDLER_MAX_LINES: usize = 25;

/// (file, handler, lines): handlers longer than `HANDLER_MAX_LINES` today, with their length.
/// The list only shrinks: a listed handler must keep exactly its length (lower the number when
/// it shrinks, remove the entry when it fits), and no handler may join it.
const LONG_HANDLERS: &[(&str, &str, usize)] = &[];

/// A handler is an `async fn` visible outside its module whose parameters include one of these
/// extractors; middleware (which takes `Next`) is not a handler.
const EXTRACTOR_MARKERS: &[&str] = &[
    "State(",
    ": State<",
    "Path(",
    "Query(",
    "Json(",
    "Form(",
    "Extension(",
    ": RequestCaller",
    ": Multipart",
    ": HeaderMap",
];

/// (phrase, why it is stale): comments that were true once. Matched case-insensitively.
const STALE_PHRASES: &[(&str, &str)] = &[
    (
        "until auth",
        "authentication exists (`medilink-server/src/auth/`)",
    ),
    (
        "no-op today",
        "the `RequestCaller` extractor carries the authenticated principal",
    ),
];

/// The targets whose sources the SQL, handler and comment checks read.
const ALL_TARGETS: &[&str] = &["lib", "bin", "example"];

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

#[test]
fn crate_edges_follow_the_design() {
    let workspace = Workspace::load();
    let mut failures = Vec::new();
    for package in &workspace.packages {
        let Some((_, allowed)) = CRATE_EDGES.iter().find(|(name, _)| *name == package.name) else {
            failures.push(format!(
                "{}:1: `{}` is not in CRATE_EDGES: add it with the workspace crates it may use \
                 (and to DESIGN.md and ARCHITECTURE.md)",
                package.manifest, package.name
            ));
            continue;
        };
        for dependency in &package.dependencies {
            let internal = workspace.packages.iter().any(|p| p.name == dependency.name);
            if !internal || dependency.name == package.name || allowed.contains(&&*dependency.name)
            {
                continue;
            }
            failures.push(format!(
                "{}: `{}` depends on `{}` ({}); it may use only {:?} (DESIGN.md \"Crate graph\": \
                 a new edge changes CRATE_EDGES, DESIGN.md and ARCHITECTURE.md together)",
                workspace.manifest_line(package, &dependency.key),
                package.name,
                dependency.name,
                dependency.kind,
                allowed
            ));
        }
    }
    report("crate edges", failures);
}

#[test]
fn libraries_have_no_host_dependencies() {
    let workspace = Workspace::load();
    let mut failures = Vec::new();
    let mut used = BTreeSet::new();
    for package in workspace
        .packages
        .iter()
        .filter(|p| LIBRARIES.contains(&&*p.name))
    {
        if package.has_binary {
            failures.push(format!(
                "{}:1: library crate `{}` has a binary target: binaries belong to the hosts",
                package.manifest, package.name
            ));
        }
        let host_only = package
            .dependencies
            .iter()
            .filter(|d| d.kind != "dev" && HOST_ONLY_DEPENDENCIES.contains(&&*d.name));
        for dependency in host_only {
            let at = workspace.manifest_line(package, &dependency.key);
            if !dependency.optional {
                failures.push(format!(
                    "{at}: library crate `{}` depends on `{}`: host-only (axum, clap, anyhow \
                     belong to the server, the worker and tests)",
                    package.name, dependency.name
                ));
                continue;
            }
            for feature in package.features_enabling(&dependency.key) {
                let allowed = FEATURE_GATED.iter().position(|(krate, dep, gate, _)| {
                    *krate == package.name && *dep == dependency.name && *gate == feature
                });
                match allowed {
                    Some(index) => {
                        used.insert(index);
                        if package.feature_reaches("default", &feature) {
                            failures.push(format!(
                                "{at}: feature `{feature}` of `{}` (which enables `{}`) is reached \
                                 from the default features: a library's defaults stay host-free",
                                package.name, dependency.name
                            ));
                        }
                    }
                    None => failures.push(format!(
                        "{at}: feature `{feature}` of library crate `{}` enables host-only `{}`; \
                         if that is meant, add it to FEATURE_GATED with a reason",
                        package.name, dependency.name
                    )),
                }
            }
        }
    }
    for (index, (krate, dep, feature, _)) in FEATURE_GATED.iter().enumerate() {
        if !used.contains(&index) {
            failures.push(format!(
                "xtask/tests/tidy.rs: FEATURE_GATED lists `{dep}` behind `{krate}/{feature}`, which \
                 no longer exists: remove the entry"
            ));
        }
    }
    report("no clap, anyhow or axum in library crates", failures);
}

#[test]
fn no_ambient_state_in_libraries() {
    let workspace = Workspace::load();
    let mut failures = Vec::new();
    let mut used = BTreeSet::new();
    for source in workspace.sources(LIBRARIES, &["lib"]) {
        for (number, line) in source.code_lines() {
            for call in AMBIENT_CALLS {
                if find_word(line, call).is_none() {
                    continue;
                }
                match AMBIENT_ALLOWED
                    .iter()
                    .position(|(file, allowed, _)| *file == source.path && allowed == call)
                {
                    Some(index) => {
                        used.insert(index);
                    }
                    None => failures.push(format!(
                        "{}:{number}: `{call}` in library code: use the `Clock`/`IdGen` seams \
                         (`medilink_fhir::clock`) or take the value in an option struct; an \
                         exception goes on AMBIENT_ALLOWED with its reason",
                        source.path
                    )),
                }
            }
        }
    }
    for (index, (file, call, _)) in AMBIENT_ALLOWED.iter().enumerate() {
        if !used.contains(&index) {
            failures.push(format!(
                "xtask/tests/tidy.rs: AMBIENT_ALLOWED lists `{call}` in {file}, which no longer \
                 calls it: remove the entry"
            ));
        }
    }
    report(
        "no wall clock, environment or random ids in library code",
        failures,
    );
}

#[test]
fn no_sql_outside_the_backend() {
    let workspace = Workspace::load();
    let mut failures = Vec::new();
    let mut used = BTreeSet::new();
    let all: Vec<&str> = workspace.packages.iter().map(|p| &*p.name).collect();
    for source in workspace.sources(&all, ALL_TARGETS) {
        if SQL_HOMES.iter().any(|home| source.path.starts_with(home)) {
            continue;
        }
        for (number, literal) in source.string_literals() {
            let Some(keyword) = sql_keyword(literal) else {
                continue;
            };
            match SQL_ALLOWED
                .iter()
                .position(|(file, _)| *file == source.path)
            {
                Some(index) => {
                    used.insert(index);
                }
                None => failures.push(format!(
                    "{}:{number}: SQL (`{}`) in a string literal: SQL lives in \
                     medilink-fhir/src/backend/sql/ (or medilink-platform/src/sql.rs, sql/) behind a \
                     store trait",
                    source.path,
                    keyword.trim()
                )),
            }
        }
    }
    for (index, (file, _)) in SQL_ALLOWED.iter().enumerate() {
        if !used.contains(&index) {
            failures.push(format!(
                "xtask/tests/tidy.rs: SQL_ALLOWED lists {file}, which holds no SQL any more: \
                 remove the entry"
            ));
        }
    }
    report("no SQL outside the backend", failures);
}

#[test]
fn handlers_are_short() {
    let workspace = Workspace::load();
    let mut failures = Vec::new();
    let mut seen = BTreeMap::new();
    for source in workspace.sources(&["medilink-server"], ALL_TARGETS) {
        for handler in source.handlers() {
            let listed = LONG_HANDLERS
                .iter()
                .find(|(file, name, _)| *file == source.path && *name == handler.name);
            let at = format!("{}:{}", source.path, handler.line);
            match listed {
                None if handler.lines > HANDLER_MAX_LINES => failures.push(format!(
                    "{at}: handler `{}` has {} lines, over {HANDLER_MAX_LINES}: move the work \
                     into a library function (parse, one call, map)",
                    handler.name, handler.lines
                )),
                None => {}
                Some(_) if handler.lines <= HANDLER_MAX_LINES => failures.push(format!(
                    "{at}: handler `{}` now has {} lines: remove it from LONG_HANDLERS",
                    handler.name, handler.lines
                )),
                Some((_, _, recorded)) if handler.lines > *recorded => failures.push(format!(
                    "{at}: handler `{}` grew from {recorded} to {} lines; LONG_HANDLERS only \
                     shrinks: move the new work into a library function",
                    handler.name, handler.lines
                )),
                Some((_, _, recorded)) if handler.lines < *recorded => failures.push(format!(
                    "{at}: handler `{}` shrank from {recorded} to {} lines: lower its entry in \
                     LONG_HANDLERS to {}",
                    handler.name, handler.lines, handler.lines
                )),
                Some(_) => {}
            }
            seen.insert((source.path.clone(), handler.name), handler.lines);
        }
    }
    for (file, name, _) in LONG_HANDLERS {
        if !seen.contains_key(&(file.to_string(), name.to_string())) {
            failures.push(format!(
                "xtask/tests/tidy.rs: LONG_HANDLERS lists `{name}` in {file}, which is no longer \
                 a handler there: remove the entry"
            ));
        }
    }
    assert!(
        seen.len() >= 40,
        "the handler heuristic found only {} handlers in medilink-server/src: fix \
         `Source::handlers` (EXTRACTOR_MARKERS) before trusting the length check",
        seen.len()
    );
    report("handlers are short", failures);
}

#[test]
fn no_stale_comments() {
    let workspace = Workspace::load();
    let mut failures = Vec::new();
    let all: Vec<&str> = workspace.packages.iter().map(|p| &*p.name).collect();
    for source in workspace.sources(&all, ALL_TARGETS) {
        for (number, comment) in &source.comments {
            let lower = comment.to_lowercase();
            if let Some((phrase, why)) = STALE_PHRASES.iter().find(|(p, _)| lower.contains(p)) {
                failures.push(format!(
                    "{}:{number}: stale comment (\"{phrase}\"): {why}",
                    source.path
                ));
            }
            for marker in ["TODO", "FIXME", "XXX"] {
                let Some(at) = find_word(comment, marker) else {
                    continue;
                };
                if !names_an_issue(&comment[at..]) {
                    failures.push(format!(
                        "{}:{number}: `{marker}` without an issue number: write `{marker}(#N)` \
                         naming the issue, or do it now",
                        source.path
                    ));
                }
            }
        }
    }
    report("no stale comments", failures);
}

// ---------------------------------------------------------------------------------------------
// The workspace: `cargo metadata` and the source files
// ---------------------------------------------------------------------------------------------

struct Workspace {
    root: PathBuf,
    packages: Vec<Package>,
}

struct Package {
    name: String,
    /// The manifest, relative to the workspace root.
    manifest: String,
    /// (target kind, directory of its sources) of the library, binary and example targets.
    source_roots: Vec<(String, PathBuf)>,
    has_binary: bool,
    dependencies: Vec<Dependency>,
    features: BTreeMap<String, Vec<String>>,
}

struct Dependency {
    name: String,
    /// The name in the manifest and the features (the rename, if any).
    key: String,
    /// `normal`, `dev` or `build`.
    kind: String,
    optional: bool,
}

impl Workspace {
    fn load() -> Workspace {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask sits in the workspace root")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
        let output = Command::new(cargo)
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--manifest-path",
            ])
            .arg(root.join("Cargo.toml"))
            .output()
            .expect("run cargo metadata");
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
        let packages = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|package| Package::from_metadata(&root, package))
            .collect();
        Workspace { root, packages }
    }

    /// `Cargo.toml:line` of a dependency's entry in a package's manifest.
    fn manifest_line(&self, package: &Package, key: &str) -> String {
        let text = std::fs::read_to_string(self.root.join(&package.manifest)).unwrap_or_default();
        let line = text
            .lines()
            .position(|line| {
                line.strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with([' ', '.', '=']))
            })
            .map_or(1, |index| index + 1);
        format!("{}:{line}", package.manifest)
    }

    /// The non-test sources of the named packages' targets of the given kinds (`lib`, `bin`,
    /// `example`).
    fn sources(&self, names: &[&str], kinds: &[&str]) -> Vec<Source> {
        let mut files = BTreeSet::new();
        for package in self.packages.iter().filter(|p| names.contains(&&*p.name)) {
            for (kind, dir) in &package.source_roots {
                if kinds.contains(&&**kind) {
                    collect_rust_files(dir, &mut files);
                }
            }
        }
        let sources: Vec<Source> = files
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file).expect("read source");
                Source::new(relative(&self.root, file), &text)
            })
            .collect();
        let test_modules: BTreeSet<String> =
            sources.iter().flat_map(|s| s.test_module_paths()).collect();
        sources
            .into_iter()
            .filter(|source| !test_modules.iter().any(|m| is_within(&source.path, m)))
            .collect()
    }
}

impl Package {
    fn from_metadata(root: &Path, package: &Value) -> Package {
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        let manifest = PathBuf::from(text(&package["manifest_path"]));
        let targets = package["targets"].as_array().expect("targets");
        let kinds = |target: &Value| -> Vec<String> {
            target["kind"]
                .as_array()
                .map(|kinds| kinds.iter().map(text).collect())
                .unwrap_or_default()
        };
        let mut source_roots: Vec<(String, PathBuf)> = targets
            .iter()
            .flat_map(|target| {
                let dir = PathBuf::from(text(&target["src_path"]));
                let dir = dir.parent().map(Path::to_path_buf).unwrap_or_default();
                kinds(target)
                    .into_iter()
                    .map(move |kind| (kind, dir.clone()))
            })
            .filter(|(kind, _)| matches!(&**kind, "lib" | "bin" | "example"))
            .collect();
        source_roots.sort();
        source_roots.dedup();
        let dependencies = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .map(|dependency| {
                let name = text(&dependency["name"]);
                Dependency {
                    key: dependency["rename"]
                        .as_str()
                        .map_or_else(|| name.clone(), str::to_owned),
                    name,
                    kind: dependency["kind"].as_str().unwrap_or("normal").to_owned(),
                    optional: dependency["optional"].as_bool().unwrap_or(false),
                }
            })
            .collect();
        let features = package["features"]
            .as_object()
            .map(|features| {
                features
                    .iter()
                    .map(|(name, enables)| {
                        let enables = enables
                            .as_array()
                            .map(|list| list.iter().map(text).collect());
                        (name.clone(), enables.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default();
        Package {
            name: text(&package["name"]),
            manifest: relative(root, &manifest),
            has_binary: targets
                .iter()
                .any(|target| kinds(target).iter().any(|k| k == "bin")),
            source_roots,
            dependencies,
            features,
        }
    }

    /// The features that enable an optional dependency directly (`dep:x`, `x`, `x/f`, `x?/f`).
    fn features_enabling(&self, key: &str) -> Vec<String> {
        let enables = |entry: &str| {
            let entry = entry.strip_prefix("dep:").unwrap_or(entry);
            let name = entry.split('/').next().unwrap_or(entry);
            name == key || name.strip_suffix('?') == Some(key)
        };
        let mut features: Vec<String> = self
            .features
            .iter()
            .filter(|(name, list)| list.iter().any(|e| enables(e)) || **name == key)
            .map(|(name, _)| name.clone())
            .collect();
        if features.is_empty() {
            // No `dep:` anywhere: Cargo's implicit feature named after the dependency.
            features.push(key.to_owned());
        }
        features
    }

    /// Whether enabling `from` enables `feature` (through the feature table).
    fn feature_reaches(&self, from: &str, feature: &str) -> bool {
        let mut stack = vec![from.to_owned()];
        let mut seen = BTreeSet::new();
        while let Some(current) = stack.pop() {
            if current == feature {
                return true;
            }
            if seen.insert(current.clone()) {
                stack.extend(self.features.get(&current).into_iter().flatten().cloned());
            }
        }
        false
    }
}

fn collect_rust_files(dir: &Path, files: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.insert(path);
        }
    }
}

fn relative(root: &Path, path: &Path) -> String {
    let path = path.strip_prefix(root).unwrap_or(path);
    path.to_string_lossy().replace('\\', "/")
}

/// Whether `path` is the module file `module` (`a/b.rs`) or inside its directory (`a/b/…`).
fn is_within(path: &str, module: &str) -> bool {
    let dir = module.strip_suffix(".rs").unwrap_or(module);
    path == module || path.starts_with(&format!("{dir}/"))
}

fn report(rule: &str, failures: Vec<String>) {
    if !failures.is_empty() {
        panic!(
            "tidy: {rule}: {} violation(s)\n  {}\n",
            failures.len(),
            failures.join("\n  ")
        );
    }
}

/// The first occurrence of `word` in `text` not preceded by an identifier character.
fn find_word(text: &str, word: &str) -> Option<usize> {
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Whether a `TODO…` comment names an issue: `#` followed by a digit.
fn names_an_issue(text: &str) -> bool {
    text.match_indices('#')
        .any(|(at, _)| text[at + 1..].starts_with(|c: char| c.is_ascii_digit()))
}

fn sql_keyword(literal: &str) -> Option<&'static str> {
    SQL_KEYWORDS.iter().find_map(|(keyword, and)| {
        let at = literal.find(keyword)?;
        match and {
            Some(second) => literal[at..].contains(second).then_some(*keyword),
            None => Some(*keyword),
        }
    })
}

// ---------------------------------------------------------------------------------------------
// A Rust source file, split by a small lexer
// ---------------------------------------------------------------------------------------------

struct Source {
    /// Relative to the workspace root, with `/`.
    path: String,
    /// The text with comments and the contents of string and char literals blanked (spaces;
    /// line breaks kept, so offsets map to the same lines).
    code: String,
    /// String literals (contents, escapes as written) with the line they start on.
    strings: Vec<(usize, String)>,
    /// Comments (with their `//`, `///`, `/*`) with the line they start on.
    comments: Vec<(usize, String)>,
    /// Per line (index 0 = line 1): inside a test-only item.
    test_lines: Vec<bool>,
}

struct Handler {
    name: String,
    line: usize,
    lines: usize,
}

impl Source {
    fn new(path: String, text: &str) -> Source {
        let mut lexer = Lexer::default();
        lexer.run(text);
        let mut source = Source {
            path,
            test_lines: vec![false; lexer.line],
            code: lexer.code,
            strings: lexer.strings,
            comments: lexer.comments,
        };
        for (start, end) in source.test_items() {
            let (first, last) = (source.line_of(start), source.line_of(end));
            source.test_lines[first - 1..last].fill(true);
        }
        let test_lines = &source.test_lines;
        source.strings.retain(|(line, _)| !test_lines[line - 1]);
        source.comments.retain(|(line, _)| !test_lines[line - 1]);
        source
    }

    fn line_of(&self, offset: usize) -> usize {
        self.code[..offset].matches('\n').count() + 1
    }

    /// Code lines outside test-only items, numbered from 1.
    fn code_lines(&self) -> impl Iterator<Item = (usize, &str)> {
        self.code
            .lines()
            .enumerate()
            .filter(|(index, _)| !self.test_lines[*index])
            .map(|(index, line)| (index + 1, line))
    }

    fn string_literals(&self) -> impl Iterator<Item = (usize, &str)> {
        self.strings
            .iter()
            .map(|(line, text)| (*line, text.as_str()))
    }

    /// Whether a `#[cfg(…)]` attribute marks test-only code.
    fn is_test_cfg(attribute: &str) -> bool {
        !attribute.contains("not(")
            && (find_word(attribute, "test").is_some() || attribute.contains("testsuite"))
    }

    /// (attribute start, item end) byte ranges of items under a test-only `#[cfg]`, with a
    /// body; declarations ending in `;` (`mod tests;`) are `test_module_paths`.
    fn test_items(&self) -> Vec<(usize, usize)> {
        self.test_attributes()
            .into_iter()
            .filter_map(|(start, _, body)| {
                let open = body?;
                Some((
                    start,
                    matching_brace(&self.code, open).unwrap_or(self.code.len()),
                ))
            })
            .collect()
    }

    /// Test-only attributes: (attribute start, attribute end, the item's `{` if it has a body).
    fn test_attributes(&self) -> Vec<(usize, usize, Option<usize>)> {
        let mut found = Vec::new();
        for (start, _) in self.code.match_indices("#[cfg(") {
            let Some(length) = self.code[start..].find(']') else {
                continue;
            };
            // `#[cfg(any(test, feature = "testsuite"))]`: the string is blanked in `code`,
            // so the attribute is read from the strings too.
            let end = start + length + 1;
            let attribute = &self.code[start..end];
            let in_strings = self
                .strings
                .iter()
                .filter(|(line, _)| *line == self.line_of(start))
                .any(|(_, text)| text == "testsuite");
            if !(Self::is_test_cfg(attribute) || in_strings && !attribute.contains("not(")) {
                continue;
            }
            let rest = &self.code[end..];
            let body = rest.find('{');
            let semicolon = rest.find(';');
            let item = match (body, semicolon) {
                (Some(open), Some(semi)) if semi < open => None,
                (Some(open), _) => Some(end + open),
                _ => None,
            };
            found.push((start, end, item));
        }
        found
    }

    /// Module files declared test-only here (`#[cfg(test)] mod tests;` → `…/tests.rs`).
    fn test_module_paths(&self) -> Vec<String> {
        let file = Path::new(&self.path);
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let parent = file.parent().map(relative_str).unwrap_or_default();
        let dir = if matches!(stem, "mod" | "lib" | "main") {
            parent
        } else {
            format!("{parent}/{stem}")
        };
        let mut paths = Vec::new();
        for (_, end, item) in self.test_attributes() {
            if item.is_some() {
                continue;
            }
            let declaration = &self.code[end..];
            let declaration = &declaration[..declaration.find(';').unwrap_or(0)];
            if let Some(at) = find_word(declaration, "mod") {
                let name = declaration[at + 3..].trim();
                paths.push(format!("{dir}/{name}.rs"));
            }
        }
        paths
    }

    /// The handlers: `pub`/`pub(crate)` `async fn`s taking an extractor (see
    /// EXTRACTOR_MARKERS), with their length in lines, signature to closing brace.
    fn handlers(&self) -> Vec<Handler> {
        let mut handlers = Vec::new();
        for (at, _) in self.code.match_indices("async fn ") {
            let line_start = self.code[..at].rfind('\n').map_or(0, |n| n + 1);
            let prefix = self.code[line_start..at].trim();
            if !prefix.starts_with("pub") || self.test_lines[self.line_of(at) - 1] {
                continue;
            }
            let name_start = at + "async fn ".len();
            let name: String = self.code[name_start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            let Some(open) = self.code[at..].find('{').map(|open| at + open) else {
                continue;
            };
            let signature = &self.code[at..open];
            let takes_extractor = EXTRACTOR_MARKERS.iter().any(|m| signature.contains(m));
            if !takes_extractor || signature.contains("Next") {
                continue;
            }
            let close = matching_brace(&self.code, open).unwrap_or(self.code.len());
            let line = self.line_of(at);
            handlers.push(Handler {
                name,
                line,
                lines: self.line_of(close) - line + 1,
            });
        }
        handlers
    }
}

fn relative_str(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// The offset of the `}` matching the `{` at `open` (in blanked code).
fn matching_brace(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (offset, byte) in code.as_bytes()[open..].iter().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + offset);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits Rust text into code (comments and literal contents blanked), string literals and
/// comments. Enough Rust for these checks: line and nested block comments, strings with
/// escapes, raw strings (`r#"…"#`, `br"…"`), char literals and lifetimes.
#[derive(Default)]
struct Lexer {
    code: String,
    strings: Vec<(usize, String)>,
    comments: Vec<(usize, String)>,
    /// The current line (1-based) once `run` has started; after it, the number of lines.
    line: usize,
}

impl Lexer {
    fn keep(&mut self, c: char) {
        self.code.push(c);
        if c == '\n' {
            self.line += 1;
        }
    }

    fn blank(&mut self, c: char) {
        self.keep(if c == '\n' { '\n' } else { ' ' });
    }

    fn run(&mut self, text: &str) {
        let chars: Vec<char> = text.chars().collect();
        let at = |i: usize| chars.get(i).copied();
        self.line = 1;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let previous_is_ident =
                i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
            if c == '/' && at(i + 1) == Some('/') {
                let start = i;
                while i < chars.len() && chars[i] != '\n' {
                    self.blank(chars[i]);
                    i += 1;
                }
                self.comments
                    .push((self.line, chars[start..i].iter().collect()));
            } else if c == '/' && at(i + 1) == Some('*') {
                let (start, line) = (i, self.line);
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && at(i + 1) == Some('*') {
                        depth += 1;
                    } else if chars[i] == '*' && at(i + 1) == Some('/') {
                        depth -= 1;
                    } else {
                        self.blank(chars[i]);
                        i += 1;
                        continue;
                    }
                    self.blank(' ');
                    self.blank(' ');
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                }
                self.comments.push((line, chars[start..i].iter().collect()));
            } else if (c == 'r' || (c == 'b' && at(i + 1) == Some('r'))) && !previous_is_ident {
                let mut quote = i + if c == 'b' { 2 } else { 1 };
                while at(quote) == Some('#') {
                    quote += 1;
                }
                if at(quote) != Some('"') {
                    self.keep(c);
                    i += 1;
                    continue;
                }
                let hashes = quote - i - if c == 'b' { 2 } else { 1 };
                for &prefix in &chars[i..=quote] {
                    self.keep(prefix);
                }
                let (line, mut content) = (self.line, String::new());
                let mut j = quote + 1;
                while j < chars.len()
                    && !(chars[j] == '"' && (1..=hashes).all(|h| at(j + h) == Some('#')))
                {
                    content.push(chars[j]);
                    self.blank(chars[j]);
                    j += 1;
                }
                for &suffix in &chars[j.min(chars.len())..(j + 1 + hashes).min(chars.len())] {
                    self.keep(suffix);
                }
                self.strings.push((line, content));
                i = j + 1 + hashes;
            } else if c == '"' {
                self.keep('"');
                let (line, mut content) = (self.line, String::new());
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        content.push('\\');
                        self.blank('\\');
                        i += 1;
                    }
                    content.push(chars[i]);
                    self.blank(chars[i]);
                    i += 1;
                }
                self.keep('"');
                i += 1;
                self.strings.push((line, content));
            } else if c == '\'' && at(i + 1) == Some('\\') {
                // An escaped char literal: '\n', '\'', '\u{…}'.
                let mut close = i + 3;
                while close < chars.len() && chars[close] != '\'' {
                    close += 1;
                }
                self.keep('\'');
                for &inner in &chars[i + 1..close.min(chars.len())] {
                    self.blank(inner);
                }
                self.keep('\'');
                i = close + 1;
            } else if c == '\'' && at(i + 2) == Some('\'') {
                self.keep('\'');
                self.blank(chars[i + 1]);
                self.keep('\'');
                i += 3;
            } else {
                self.keep(c);
                i += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The lexer and the heuristics, on small inputs
// ---------------------------------------------------------------------------------------------

#[test]
fn lexer_separates_code_strings_and_comments() {
    let text = "let a = \"SELECT \\\"x\\\" {\"; // TODO later\nlet b = r#\"a \"quoted\" }\"#;\n\
                let c = '{'; let d = '\\''; fn f<'a>(x: &'a str) {}\n/* outer /* inner */ still */ x";
    let source = Source::new(String::from("f.rs"), text);
    assert_eq!(
        source.strings,
        vec![
            (1, String::from("SELECT \\\"x\\\" {")),
            (2, String::from("a \"quoted\" }"))
        ]
    );
    assert_eq!(source.comments.len(), 2);
    assert_eq!(source.comments[0], (1, String::from("// TODO later")));
    assert!(source.comments[1].1.ends_with("still */"));
    assert_eq!(source.code.lines().count(), 4);
    assert!(!source.code.contains("SELECT"));
    // Braces left in the code balance: the ones in literals are gone.
    assert_eq!(
        source.code.matches('{').count(),
        source.code.matches('}').count()
    );
    assert!(source.code.contains("fn f<'a>(x: &'a str) {}"));
}

#[test]
fn test_only_code_is_left_out() {
    let text = "fn a() { Instant::now(); }\n#[cfg(test)]\nmod tests {\n    fn b() {\n        \
                Uuid::new_v4();\n    }\n}\n#[cfg(any(test, feature = \"testsuite\"))]\nmod suite;\n\
                #[cfg(not(test))]\nfn c() {}\n";
    let source = Source::new(String::from("crate/src/thing.rs"), text);
    let lines: Vec<usize> = source.code_lines().map(|(n, _)| n).collect();
    assert_eq!(lines, vec![1, 8, 9, 10, 11]);
    assert_eq!(
        source.test_module_paths(),
        vec![String::from("crate/src/thing/suite.rs")]
    );
    assert!(is_within(
        "crate/src/thing/suite/deep.rs",
        "crate/src/thing/suite.rs"
    ));
    assert!(!is_within(
        "crate/src/thing/suite_x.rs",
        "crate/src/thing/suite.rs"
    ));
}

#[test]
fn handlers_are_recognised() {
    let text = "pub(crate) async fn read(\n    State(app): State<AppState>,\n    caller: RequestCaller,\n\
                ) -> Result<(), ApiError> {\n    if x { y }\n    Ok(())\n}\n\
                async fn helper(caller: &RequestCaller) {}\n\
                pub(crate) async fn layer(request: Request, next: Next) -> Response { next }\n";
    let handlers = Source::new(String::from("s.rs"), text).handlers();
    assert_eq!(handlers.len(), 1);
    assert_eq!(
        (
            handlers[0].name.as_str(),
            handlers[0].line,
            handlers[0].lines
        ),
        ("read", 1, 7)
    );
}

#[test]
fn words_issues_and_sql() {
    assert_eq!(find_word("operand::x rand::y", "rand::"), Some(11));
    assert!(find_word("getrandom::fill", "rand::").is_none());
    assert!(names_an_issue("TODO(#12): later"));
    assert!(!names_an_issue("TODO: later #x"));
    assert_eq!(sql_keyword("UPDATE jobs SET status = ?"), Some("UPDATE "));
    assert_eq!(sql_keyword("UPDATE the index"), None);
    assert_eq!(sql_keyword("select lower case"), None);
}
