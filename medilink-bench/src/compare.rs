//! `compare`: the issue #19 table against any FHIR R4 base URL, so that MediLink and another
//! server can be measured side by side with the same data and the same load.
//!
//! 1. Load: the transaction bundles of `--bundles DIR` (Synthea output: `*Information*.json`
//!    first, as Synthea's hospital and practitioner bundles must precede the patients'), or
//!    `--patients N` generated clones of the US Core bundle, POSTed to the base by
//!    `--clients` clients; resources/s.
//! 2. Pick the workloads' values from what the server holds (read over HTTP): patient ids, a
//!    family name, an Observation code with many hits, a Condition code, a patient with that
//!    Observation code.
//! 3. Run `wrk` (must be installed) for each workload with `--connections` connections for
//!    `--duration` seconds; req/s, p50, p99 and non-2xx answers, as a Markdown table.
//!
//! The bearer token is optional (a server without authentication needs none). With
//! `--server-pid`, the server's resident memory after the run is reported too (same machine).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

/// What to run (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) url: String,
    pub(crate) token: Option<String>,
    pub(crate) bundles: Option<PathBuf>,
    pub(crate) patients: usize,
    pub(crate) clients: usize,
    pub(crate) connections: usize,
    pub(crate) duration_secs: u64,
    pub(crate) skip_load: bool,
    pub(crate) server_pid: Option<u32>,
}

/// One wrk workload: a name and the request paths it cycles through.
#[derive(Debug)]
struct Workload {
    name: String,
    paths: Vec<String>,
}

/// One wrk result.
#[derive(Debug, Default)]
struct WrkResult {
    requests_per_sec: f64,
    p50: String,
    p99: String,
    non_2xx: u64,
    /// Requests wrk gave up on (its 2 s timeout): their latencies are not in p50/p99.
    timeouts: u64,
}

pub(crate) async fn run(options: &Options) -> Result<()> {
    let base = options.url.trim_end_matches('/').to_owned();
    let client = Client {
        http: reqwest::Client::new(),
        base: base.clone(),
        auth: options
            .token
            .as_ref()
            .map(|token| format!("Bearer {token}")),
    };
    let mut table = String::from(
        "| workload | req/s (or resources/s) | p50 | p99 | non-2xx | timeouts |\n|---|---|---|---|---|---|\n",
    );
    if !options.skip_load {
        let (shared, patients) = load_bundles(options)?;
        for bundle in &shared {
            post(&client, serde_json::to_string(bundle)?).await?;
        }
        let (resources, secs) = post_bundles(&client, patients, options.clients).await?;
        let rate = resources as f64 / secs;
        println!("load: {resources} resources in {secs:.1}s = {rate:.0} resources/s");
        let _ = writeln!(
            table,
            "| transaction bundles, {} clients | {rate:.0} resources/s | | | | |",
            options.clients
        );
    }
    let workloads = workloads(&client).await?;
    for workload in &workloads {
        let result = wrk(options, &base, workload)?;
        println!(
            "{}: {:.0} req/s, p50 {}, p99 {}, non-2xx {}, timeouts {}",
            workload.name,
            result.requests_per_sec,
            result.p50,
            result.p99,
            result.non_2xx,
            result.timeouts
        );
        let _ = writeln!(
            table,
            "| `{}` | {:.0} | {} | {} | {} | {} |",
            workload.name,
            result.requests_per_sec,
            result.p50,
            result.p99,
            result.non_2xx,
            result.timeouts
        );
    }
    if let Some(pid) = options.server_pid {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("server process {pid}"))?;
        if let Some(rss) = status.lines().find(|line| line.starts_with("VmRSS:")) {
            let _ = writeln!(
                table,
                "\nserver {}",
                rss.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
    }
    println!("\n{table}");
    Ok(())
}

/// The FHIR base and the optional bearer token.
#[derive(Debug, Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
    auth: Option<String>,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        };
        let request = self
            .http
            .request(method, url)
            .header("accept", "application/fhir+json");
        match &self.auth {
            Some(auth) => request.header("authorization", auth),
            None => request,
        }
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let response = self.request(reqwest::Method::GET, path).send().await?;
        ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        Ok(response.json().await?)
    }
}

/// The bundles to load: the shared ones (posted first, alone) and the patients' ones.
fn load_bundles(options: &Options) -> Result<(Vec<Value>, Vec<Value>)> {
    let Some(dir) = &options.bundles else {
        return Ok((Vec::new(), crate::data::bundles(options.patients)?));
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    let read = |path: &PathBuf| -> Result<Value> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))
    };
    let (shared, patients): (Vec<PathBuf>, Vec<PathBuf>) =
        files.into_iter().partition(|path| is_shared(path));
    Ok((
        shared.iter().map(read).collect::<Result<_>>()?,
        patients.iter().map(read).collect::<Result<_>>()?,
    ))
}

fn is_shared(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.contains("Information"))
}

/// POSTs `bundles` with `clients` clients; resources and seconds.
async fn post_bundles(
    client: &Client,
    bundles: Vec<Value>,
    clients: usize,
) -> Result<(usize, f64)> {
    let resources: usize = bundles.iter().map(crate::data::entry_count).sum();
    let mut bodies: Vec<String> = bundles
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    bodies.reverse(); // popped from the end: the first file goes first
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (client, queue) = (client.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                let Some(body) = next else {
                    return anyhow::Ok(());
                };
                post(&client, body).await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((resources, started.elapsed().as_secs_f64()))
}

async fn post(client: &Client, body: String) -> Result<()> {
    let response = client
        .request(reqwest::Method::POST, "")
        .header("content-type", "application/fhir+json")
        .header("prefer", "return=minimal")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!(
            "bundle refused: {status}: {}",
            text.chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

fn resources(bundle: &Value) -> impl Iterator<Item = &Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| &entry["resource"])
}

/// The first `system|code` of `resource.code`.
fn code_of(resource: &Value) -> Option<String> {
    let coding = resource["code"]["coding"].as_array()?.first()?;
    let code = coding["code"].as_str()?;
    Some(match coding["system"].as_str() {
        Some(system) => format!("{system}|{code}"),
        None => code.to_owned(),
    })
}

fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The workloads with values read from the server.
async fn workloads(client: &Client) -> Result<Vec<Workload>> {
    let patients = client.get("Patient?_count=200").await?;
    let ids: Vec<String> = resources(&patients)
        .filter_map(|patient| patient["id"].as_str().map(str::to_owned))
        .collect();
    ensure!(!ids.is_empty(), "the server holds no Patient");
    let family = resources(&patients)
        .find_map(|patient| patient["name"][0]["family"].as_str().map(str::to_owned))
        .context("no Patient with a family name")?;
    // The most frequent Observation code among a page of Observations (many hits).
    let observations = client.get("Observation?_count=200").await?;
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for observation in resources(&observations) {
        if let Some(code) = code_of(observation) {
            *codes.entry(code).or_default() += 1;
        }
    }
    let (observation_code, _) = codes
        .into_iter()
        .max_by_key(|(_, count)| *count)
        .context("no Observation with a code")?;
    let conditions = client.get("Condition?_count=50").await?;
    let condition_code = resources(&conditions)
        .find_map(code_of)
        .context("no Condition with a code")?;
    let with_code = client
        .get(&format!(
            "Observation?code={}&_count=1",
            encode(&observation_code)
        ))
        .await?;
    let patient_with_code = resources(&with_code)
        .find_map(|observation| {
            observation["subject"]["reference"]
                .as_str()
                .and_then(|reference| reference.strip_prefix("Patient/"))
                .map(str::to_owned)
        })
        .context("no Observation of that code names its patient")?;
    let observation_code = encode(&observation_code);
    Ok(vec![
        Workload {
            name: "GET Patient/{id}".into(),
            paths: ids.iter().map(|id| format!("Patient/{id}")).collect(),
        },
        Workload {
            name: "Observation?code=X&_count=20".into(),
            paths: vec![format!("Observation?code={observation_code}&_count=20")],
        },
        Workload {
            name: "Patient?family=X".into(),
            paths: vec![format!("Patient?family={}", encode(&family))],
        },
        Workload {
            name: "Condition?code=X".into(),
            paths: vec![format!("Condition?code={}", encode(&condition_code))],
        },
        Workload {
            name: "Observation?patient=X&code=Y&_sort=-date".into(),
            paths: vec![format!(
                "Observation?patient={patient_with_code}&code={observation_code}&_sort=-date"
            )],
        },
    ])
}

/// Runs wrk for `workload`; its figures.
fn wrk(options: &Options, base: &str, workload: &Workload) -> Result<WrkResult> {
    let url = url::Url::parse(base).context("base URL")?;
    let prefix = url.path().trim_end_matches('/').to_owned();
    let origin = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().context("base URL host")?,
        url.port()
            .map(|port| format!(":{port}"))
            .unwrap_or_default()
    );
    let mut script = String::from("local paths = {\n");
    for path in &workload.paths {
        let _ = writeln!(script, "  {:?},", format!("{prefix}/{path}"));
    }
    script.push_str(
        "}\nlocal n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format(\"GET\", paths[(n % #paths) + 1])\nend\n",
    );
    let dir = tempfile::tempdir()?;
    let script_path = dir.path().join("workload.lua");
    std::fs::write(&script_path, script)?;
    let mut command = std::process::Command::new("wrk");
    command
        .arg("-t2")
        .arg(format!("-c{}", options.connections))
        .arg(format!("-d{}s", options.duration_secs))
        .arg("--latency")
        .arg("-s")
        .arg(&script_path)
        .arg("-H")
        .arg("Accept: application/fhir+json");
    if let Some(token) = &options.token {
        command
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"));
    }
    let output = command
        .arg(origin)
        .output()
        .context("running wrk (apt install wrk)")?;
    ensure!(
        output.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(parse_wrk(&String::from_utf8_lossy(&output.stdout)))
}

/// The figures of wrk's `--latency` report.
fn parse_wrk(report: &str) -> WrkResult {
    let mut result = WrkResult::default();
    for line in report.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(value)) => {
                result.requests_per_sec = value.parse().unwrap_or(0.0);
            }
            (Some("50%"), Some(value)) => result.p50 = value.to_owned(),
            (Some("99%"), Some(value)) => result.p99 = value.to_owned(),
            (Some("Socket"), Some("errors:")) => {
                result.timeouts = line
                    .rsplit("timeout ")
                    .next()
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0);
            }
            (Some("Non-2xx"), _) => {
                result.non_2xx = line
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0);
            }
            _ => {}
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_figures_of_a_wrk_report() {
        let report = "Running 10s test @ http://127.0.0.1:8080\n  Latency Distribution\n     50%    1.20ms\n     75%    1.50ms\n     90%    2.00ms\n     99%    5.10ms\n  33330 requests in 10.00s, 50.00MB read\n  Socket errors: connect 0, read 0, write 0, timeout 7\n  Non-2xx or 3xx responses: 12\nRequests/sec:   3333.00\n";
        let result = parse_wrk(report);
        assert!((result.requests_per_sec - 3333.0).abs() < 0.01);
        assert_eq!(result.p50, "1.20ms");
        assert_eq!(result.p99, "5.10ms");
        assert_eq!(result.non_2xx, 12);
        assert_eq!(result.timeouts, 7);
    }

    #[test]
    fn codes_keep_their_system() {
        let observation = serde_json::json!({"code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}});
        assert_eq!(
            code_of(&observation).as_deref(),
            Some("http://loinc.org|8302-2")
        );
        assert_eq!(
            encode("http://loinc.org|8302-2"),
            "http%3A%2F%2Floinc.org%7C8302-2"
        );
    }

    #[test]
    fn synthea_shared_bundles_are_told_apart() {
        assert!(is_shared(Path::new(
            "b/hospitalInformation1625911868739.json"
        )));
        assert!(is_shared(Path::new(
            "b/practitionerInformation1625911868739.json"
        )));
        assert!(!is_shared(Path::new(
            "b/085e81c0-7a95-ef02-16ef-aa1b4344deed.json"
        )));
    }
}
