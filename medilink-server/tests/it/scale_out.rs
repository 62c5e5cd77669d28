//! Issue #19: the scaled-out deployment under faults, as `deploy/compose.yaml` runs it but
//! without Docker. PostgreSQL, Redis and S3 (moto at `MEDILINK_TEST_S3_ENDPOINT`), two
//! `medilink-server serve --no-worker` and two `medilink-worker` processes sharing them, nginx in
//! front with `deploy/nginx/nginx.conf` (upstreams and paths made local, its health and retry
//! settings as deployed). Load goes through nginx: a read phase and a write phase (the figures
//! of BENCHMARKS.md), then creates, updates, transactions, document uploads (jobs) and reads
//! while one server and one worker (holding a job's lease) are SIGKILLed and restarted. Then:
//! every write answered 2xx is there with its version (a 502/503 answer counts for nothing),
//! every answered transaction is whole and the others whole or absent, every upload's job
//! completes to exactly one set of Observations (the killed worker's job runs again, once),
//! the restarted server takes traffic again, a consent revoked through one server is refused at
//! once by the other (after a positive control), the change feed has no gap and `audit verify`
//! passes.
//!
//! Needs `MEDILINK_TEST_POSTGRES_URL` (skipped without it, as every PostgreSQL test);
//! with it, fails naming what is missing when `MEDILINK_TEST_REDIS_URL`,
//! `MEDILINK_TEST_S3_ENDPOINT` or nginx (`apt-get install nginx-light`; `scripts/setup`
//! installs it) are not there: blobs on a shared directory are not what is deployed.
//! About 130–190 s on the 2-core machine at load 12–22 (debug build); `--nocapture` prints the
//! figures.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use medilink_fhir::jobs::{JobFilter, JobStatus};
use serde_json::{Value, json};

use crate::support::PASSWORD;
use crate::support::process::{BIN, Server, command, describe, free_port, text_report};

/// The same keys for every process (as `.env` gives them to every compose service).
const KEYS: [(&str, &str); 4] = [
    (
        "MEDILINK_AUTH_JWT_KEY",
        "c2NhbGUtb3V0LWp3dC1rZXktb2YtdGhpcnR5LXR3bzE=",
    ),
    (
        "MEDILINK_AUTH_ENCRYPTION_KEY",
        "c2NhbGUtb3V0LWVuY3J5cHRpb24ta2V5LW9mLTMyYjE=",
    ),
    (
        "MEDILINK_AUTH_LOOKUP_KEY",
        "c2NhbGUtb3V0LWxvb2t1cC1rZXktb2YtMzItYnl0ZTE=",
    ),
    (
        "MEDILINK_RESEARCH_KEY",
        "c2NhbGUtb3V0LXJlc2VhcmNoLWtleS1vZi0zMmJ5dDE=",
    ),
];

/// The environment every MediLink process of the deployment shares.
#[derive(Clone)]
struct Env(Vec<(&'static str, String)>);

impl Env {
    fn apply(&self, command: &mut Command) {
        for (name, value) in &self.0 {
            command.env(name, value);
        }
    }
}

/// What the services need, or why the test cannot run (`None`: skip, no PostgreSQL).
fn services() -> Option<(String, String, PathBuf)> {
    std::env::var("MEDILINK_TEST_POSTGRES_URL").ok()?;
    let need = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "the scale-out test needs {name} (scripts/setup starts Redis and the moto S3 \
                 stand-in and exports it); MEDILINK_TEST_POSTGRES_URL= (empty) skips it"
            )
        })
    };
    let redis = need("MEDILINK_TEST_REDIS_URL");
    let s3 = need("MEDILINK_TEST_S3_ENDPOINT");
    let nginx = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "the scale-out test needs nginx (apt-get install nginx-light; scripts/setup \
                 installs it); MEDILINK_TEST_POSTGRES_URL= (empty) skips it"
            )
        });
    Some((redis, s3, nginx))
}

/// `medilink-worker` beside the server binary: `cargo test --workspace` (so `.ci/run`) builds
/// both; run alone (`cargo test -p medilink-server`), this package's tests do not rebuild it, so
/// it is built here when missing (`cargo build -p medilink-worker` refreshes a stale one).
/// Not built every time: `-p medilink-worker` alone resolves other features than the test
/// build and recompiles half the workspace.
fn worker_binary() -> PathBuf {
    let debug = Path::new(BIN).parent().expect("the binary's directory");
    let binary = debug.join("medilink-worker");
    if binary.exists() {
        return binary;
    }
    let target = debug.parent().expect("the target directory");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let built = Command::new(cargo)
        .args(["build", "--quiet", "-p", "medilink-worker", "--bin"])
        .arg("medilink-worker")
        .env("CARGO_TARGET_DIR", target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "cargo build -p medilink-worker: {}",
        describe(&built)
    );
    binary
}

/// A child process (server, worker or nginx), SIGKILLed when dropped.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `url` answers 200 (at most 60 s); panics with the log if `process` exits.
async fn wait_up(process: &mut Process, url: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!("{url}: the process exited ({status}): {}", process.log());
        }
        let answer = client.get(url).timeout(Duration::from_secs(5)).send().await;
        if answer.is_ok_and(|response| response.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `medilink-worker` as `worker-N` of compose: metrics on `port`, 3 s leases (a killed
/// worker's job is leased again soon), polling every 100 ms.
async fn worker(binary: &Path, dir: &Path, env: &Env, n: u16, port: u16) -> Process {
    let data = dir.join(format!("worker-{n}"));
    std::fs::create_dir_all(&data).expect("worker dir");
    let log = data.join("worker.log");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .expect("log file");
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars() {
        if name.starts_with("MEDILINK_") {
            command.env_remove(name);
        }
    }
    env.apply(&mut command);
    command
        .env("RUST_LOG", "info")
        .env("MEDILINK_DATA_DIR", &data)
        .env("MEDILINK_WORKER_ID", format!("worker-{n}"))
        .env(
            "MEDILINK_WORKER_METRICS_LISTEN",
            format!("127.0.0.1:{port}"),
        )
        .env("MEDILINK_WORKER_CONCURRENCY", "2")
        .env("MEDILINK_DATABASE_MAX_CONNECTIONS", "8")
        .args(["--lease-secs", "3", "--poll-ms", "100"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file);
    if n != 1 {
        // Only worker-1 schedules the periodic maintenance jobs.
        command.env("MEDILINK_WORKER_NO_SCHEDULE", "true");
    }
    let mut process = Process {
        child: command.spawn().expect("medilink-worker starts"),
        log,
    };
    wait_up(&mut process, &format!("http://127.0.0.1:{port}/metrics")).await;
    process
}

/// `medilink-server serve` as `server-N` of compose on `port` (its own data directory: the
/// full-text index is one process's), rate limits raised so that the load measures the
/// servers, not the limiter.
async fn server(dir: &Path, env: &Env, n: u16, port: u16) -> Server {
    let data = dir.join(format!("server-{n}"));
    std::fs::create_dir_all(&data).expect("server dir");
    let env = env.clone();
    let server = Server::start_with(&data, port, move |command| {
        env.apply(command);
        command
            .env("MEDILINK_NO_WORKER", "true")
            .env("MEDILINK_SERVER_TRUST_FORWARDED_FOR", "true")
            .env("MEDILINK_DATABASE_MAX_CONNECTIONS", "16")
            .env("MEDILINK_RATE_LIMIT_PATIENT", "1000000")
            .env("MEDILINK_RATE_LIMIT_PHYSICIAN", "1000000");
    })
    .await;
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client
            .get(format!("{}/health/ready", server.base))
            .send()
            .await;
        if ready.is_ok_and(|response| response.status().is_success()) {
            return server;
        }
        assert!(Instant::now() < deadline, "server-{n} never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// nginx with `deploy/nginx/nginx.conf`, its upstreams on the servers' ports, listening on
/// `port`, its pid, logs and temporary files under `dir`; run as the test user, not a daemon.
async fn nginx(binary: &Path, dir: &Path, name: &str, port: u16, upstreams: [u16; 2]) -> Process {
    let prefix = dir.join(name);
    std::fs::create_dir_all(prefix.join("logs")).expect("nginx dir");
    // nginx's workers run as `nobody` when the test runs as root: they must reach the prefix.
    for path in [dir, prefix.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/nginx/nginx.conf"
    ))
    .expect("deploy/nginx/nginx.conf");
    let p = prefix.display();
    let temp = format!(
        "http {{\n    client_body_temp_path {p}/body;\n    proxy_temp_path {p}/proxy;\n    \
         fastcgi_temp_path {p}/fastcgi;\n    uwsgi_temp_path {p}/uwsgi;\n    \
         scgi_temp_path {p}/scgi;\n"
    );
    let replacements = [
        ("pid /var/run/nginx.pid;", format!("pid {p}/nginx.pid;")),
        (
            "server server-1:8080 ",
            format!("server 127.0.0.1:{} ", upstreams[0]),
        ),
        (
            "server server-2:8080 ",
            format!("server 127.0.0.1:{} ", upstreams[1]),
        ),
        (
            "listen 80 default_server;",
            format!("listen 127.0.0.1:{port} default_server;"),
        ),
        (
            "access_log /dev/stdout medilink;",
            format!("access_log {p}/logs/access.log medilink;"),
        ),
        ("http {\n", temp),
    ];
    let mut config = template;
    for (from, to) in replacements {
        assert_eq!(
            config.matches(from).count(),
            1,
            "deploy/nginx/nginx.conf changed: `{from}` is not there once; update this test"
        );
        config = config.replace(from, &to);
    }
    std::fs::write(prefix.join("nginx.conf"), config).expect("nginx.conf");
    let log = prefix.join("logs").join("stderr.log");
    let file = std::fs::File::create(&log).expect("log");
    let child = Command::new(binary)
        .arg("-p")
        .arg(&prefix)
        .arg("-c")
        .arg(prefix.join("nginx.conf"))
        .args(["-e", "stderr", "-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("nginx starts");
    let mut process = Process { child, log };
    wait_up(
        &mut process,
        &format!("http://127.0.0.1:{port}/health/ready"),
    )
    .await;
    process
}

/// What one request of the load was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

/// The answers and the writes the load saw.
#[derive(Default)]
struct Ledger {
    /// (ms since the start, kind, status; 0: no answer at all).
    requests: Vec<(u64, Kind, u16)>,
    /// (id, version) of each answered create or update.
    versions: Vec<(String, String)>,
    /// (tag, entries, answered) of each transaction sent.
    transactions: Vec<(String, usize, bool)>,
    /// (job id, `DocumentReference/{id}`) of each answered upload.
    uploads: Vec<(String, String)>,
}

struct Load {
    base: String,
    token: String,
    patient: String,
    started: Instant,
    stop: AtomicBool,
    ledger: Mutex<Ledger>,
}

impl Load {
    fn note(&self, kind: Kind, status: u16) {
        let at = self.started.elapsed().as_millis() as u64;
        self.ledger
            .lock()
            .expect("ledger")
            .requests
            .push((at, kind, status));
    }

    /// Sends `request`: its status (0 when there was no answer) and JSON body.
    async fn send(&self, kind: Kind, request: reqwest::RequestBuilder) -> (u16, Value) {
        let answer = request
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(60))
            .send()
            .await;
        let (status, body) = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (0, Value::Null),
        };
        self.note(kind, status);
        (status, body)
    }

    fn answered(&self, body: &Value) {
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        let version = body["meta"]["versionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!id.is_empty() && !version.is_empty(), "{body}");
        self.ledger
            .lock()
            .expect("ledger")
            .versions
            .push((id, version));
    }
}

fn observation(patient: &str, text: &str) -> Value {
    json!({"resourceType": "Observation", "status": "preliminary",
        "code": {"text": text}, "subject": {"reference": format!("Patient/{patient}")}})
}

/// Reads: the patient, and a page of its Observations, in turn.
async fn reader(load: Arc<Load>) {
    let client = reqwest::Client::new();
    let read = format!("{}/fhir/R4/Patient/{}", load.base, load.patient);
    let search = format!(
        "{}/fhir/R4/Observation?patient={}&_count=10",
        load.base, load.patient
    );
    for n in 0u64.. {
        if load.stop.load(Ordering::Relaxed) {
            return;
        }
        let url = if n % 2 == 0 { &read } else { &search };
        load.send(Kind::Read, client.get(url)).await;
    }
}

/// Creates only (the write figure).
async fn creator(load: Arc<Load>) {
    let client = reqwest::Client::new();
    let url = format!("{}/fhir/R4/Observation", load.base);
    while !load.stop.load(Ordering::Relaxed) {
        let body = observation(&load.patient, "scale-out create");
        let (status, created) = load.send(Kind::Write, client.post(&url).json(&body)).await;
        if status == 201 {
            load.answered(&created);
        }
    }
}

/// Creates, updates of its own Observation and transactions of 10–15 entries, in turn.
async fn writer(load: Arc<Load>, worker: usize) {
    let client = reqwest::Client::new();
    let mut own: Option<String> = None;
    for n in 0usize.. {
        if load.stop.load(Ordering::Relaxed) {
            return;
        }
        match (n % 3, &own) {
            (1, Some(id)) => {
                let mut body = observation(&load.patient, &format!("scale-out update {n}"));
                body["id"] = json!(id);
                let url = format!("{}/fhir/R4/Observation/{id}", load.base);
                let (status, updated) = load.send(Kind::Write, client.put(url).json(&body)).await;
                if status == 200 {
                    load.answered(&updated);
                }
            }
            (2, _) => {
                let tag = format!("scaleout{}w{worker}n{n}", uuid::Uuid::new_v4().simple());
                let size = 10 + n % 6;
                load.ledger
                    .lock()
                    .expect("ledger")
                    .transactions
                    .push((tag.clone(), size, false));
                let entries: Vec<Value> = (0..size)
                    .map(|_| {
                        json!({"resource": observation(&load.patient, &tag),
                            "request": {"method": "POST", "url": "Observation"}})
                    })
                    .collect();
                let bundle =
                    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries});
                let url = format!("{}/fhir/R4", load.base);
                let (status, _) = load.send(Kind::Write, client.post(url).json(&bundle)).await;
                if status == 200 {
                    let mut ledger = load.ledger.lock().expect("ledger");
                    if let Some(sent) = ledger.transactions.iter_mut().find(|t| t.0 == tag) {
                        sent.2 = true;
                    }
                }
            }
            _ => {
                let url = format!("{}/fhir/R4/Observation", load.base);
                let body = observation(&load.patient, "scale-out create");
                let (status, created) = load.send(Kind::Write, client.post(url).json(&body)).await;
                if status == 201 {
                    load.answered(&created);
                    own = created["id"].as_str().map(str::to_owned);
                }
            }
        }
    }
}

/// Document uploads (each a `document.ingest` job for the workers).
async fn uploader(load: Arc<Load>) {
    let client = reqwest::Client::new();
    let (pdf, _) = text_report();
    let url = format!("{}/api/documents", load.base);
    while !load.stop.load(Ordering::Relaxed) {
        let (content_type, body) = crate::support::multipart(&load.patient, "report.pdf", &pdf);
        let request = client
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        let (status, answer) = load.send(Kind::Write, request).await;
        if status == 202 {
            let job = answer["job_id"].as_str().unwrap_or_default().to_owned();
            let document = answer["document_reference"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            load.ledger
                .lock()
                .expect("ledger")
                .uploads
                .push((job, document));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `tasks` until `stop` is set, then waits for them (each ends at its next request).
async fn finish(load: &Load, tasks: Vec<tokio::task::JoinHandle<()>>) {
    load.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(90), task)
            .await
            .expect("a load task ends")
            .expect("a load task does not panic");
    }
}

/// Requests of `kind` per second between `from` and `to` (ms), and how many were not 2xx.
fn rate(ledger: &Ledger, kind: Kind, from: u64, to: u64) -> (f64, usize) {
    let within: Vec<_> = ledger
        .requests
        .iter()
        .filter(|(at, k, _)| *k == kind && (from..to).contains(at))
        .collect();
    let failed = within
        .iter()
        .filter(|(_, _, status)| !(200..300).contains(status))
        .count();
    (within.len() as f64 * 1000.0 / (to - from) as f64, failed)
}

/// The jobs leased by `worker` now.
async fn leased_by(jobs: &dyn medilink_fhir::jobs::JobQueue, worker: &str) -> Vec<uuid::Uuid> {
    let filter = JobFilter {
        statuses: vec![JobStatus::Processing],
        kind: Some("document.ingest".to_owned()),
        ..JobFilter::default()
    };
    jobs.list(&filter)
        .await
        .expect("jobs")
        .into_iter()
        .filter(|job| job.leased_by.as_deref() == Some(worker))
        .map(|job| job.id)
        .collect()
}

/// How many `medilink_http_requests_total` samples of FHIR routes `base/metrics` shows.
async fn fhir_requests_seen(base: &str) -> usize {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter(|line| {
            line.starts_with("medilink_http_requests_total{") && line.contains("route=\"/fhir/R4")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_and_two_workers_behind_nginx_lose_nothing_when_one_of_each_is_killed() {
    let Some((redis, s3, nginx_binary)) = services() else {
        eprintln!("skipping the scale-out test: MEDILINK_TEST_POSTGRES_URL is not set");
        return;
    };
    crate::support::PostgresDatabase::run("scale-out", move |url| async move {
        scenario(url, redis, s3, nginx_binary).await;
    })
    .await;
}

async fn scenario(url: String, redis: String, s3: String, nginx_binary: PathBuf) {
    let worker_binary = worker_binary();
    let temp = tempfile::tempdir().expect("dir");
    let dir = temp.path();
    let bucket = format!("medilink-scale-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{}/{bucket}", s3.trim_end_matches('/')))
        .send()
        .await
        .unwrap_or_else(|err| panic!("the S3 stand-in at {s3} does not answer: {err}"));
    assert!(
        created.status().is_success(),
        "bucket: {}",
        created.status()
    );
    let mut shared = vec![
        ("MEDILINK_DATABASE_URL", url.clone()),
        ("MEDILINK_DATABASE_NO_MIGRATE", "true".to_owned()),
        ("MEDILINK_REDIS_URL", redis),
        (
            "MEDILINK_BLOB_URL",
            format!(
                "s3://{bucket}?endpoint={}&region=us-east-1",
                s3.trim_end_matches('/')
            ),
        ),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
    ];
    shared.extend(
        KEYS.iter()
            .map(|(name, value)| (*name, (*value).to_owned())),
    );
    let env = Env(shared);

    // The compose `migrate` service, then the accounts.
    let cli = |args: &[&str]| {
        let mut cli = command(dir);
        env.apply(&mut cli);
        let output = cli.args(args).output().expect("the binary runs");
        assert!(output.status.success(), "{args:?}: {}", describe(&output));
    };
    cli(&["migrate"]);
    cli(&[
        "user",
        "add",
        "--email",
        "pat@test.local",
        "--password",
        PASSWORD,
        "--role",
        "patient",
        "--name",
        "Pat Test",
        "--birth-date",
        "1980-01-01",
    ]);
    cli(&[
        "user",
        "add",
        "--email",
        "doc@test.local",
        "--password",
        PASSWORD,
        "--role",
        "physician",
        "--name",
        "Dr Test",
    ]);

    let ports = [free_port(), free_port()];
    let worker_ports = [free_port(), free_port()];
    let mut server_1 = server(dir, &env, 1, ports[0]).await;
    let server_2 = server(dir, &env, 2, ports[1]).await;
    let mut worker_1 = worker(&worker_binary, dir, &env, 1, worker_ports[0]).await;
    let _worker_2 = worker(&worker_binary, dir, &env, 2, worker_ports[1]).await;
    let nginx_port = free_port();
    let nginx = nginx(&nginx_binary, dir, "nginx", nginx_port, ports).await;
    let front = format!("http://127.0.0.1:{nginx_port}");
    as_deployed(
        &front,
        &nginx_binary,
        dir,
        [&server_1.base, &server_2.base],
        worker_ports[0],
    )
    .await;
    let (store, platform) = medilink_platform::open_store_and_platform(
        &medilink_fhir::SqlOptions::new(url.clone()),
        Arc::new(medilink_fhir::SystemClock),
        Arc::new(medilink_fhir::UuidIdGen),
    )
    .await
    .expect("the database");

    // A login on server-2, a read on server-1: a token of one server is good on the other.
    let token = server_2.token("pat@test.local", PASSWORD).await;
    let patient = server_1.get(&token, "/api/auth/me").await["patient_id"]
        .as_str()
        .expect("patient")
        .to_owned();
    let load = Arc::new(Load {
        base: front.clone(),
        token,
        patient,
        started: Instant::now(),
        stop: AtomicBool::new(false),
        ledger: Mutex::default(),
    });
    let now = |load: &Load| load.started.elapsed().as_millis() as u64;

    // Phase 1: reads only, 5 s, 4 connections. Phase 2: creates only, 5 s, 4 connections.
    let read_from = now(&load);
    let tasks = (0..4).map(|_| tokio::spawn(reader(load.clone()))).collect();
    tokio::time::sleep(Duration::from_secs(5)).await;
    finish(&load, tasks).await;
    let read_to = now(&load);
    load.stop.store(false, Ordering::Relaxed);
    let write_from = now(&load);
    let tasks = (0..4)
        .map(|_| tokio::spawn(creator(load.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(5)).await;
    finish(&load, tasks).await;
    let write_to = now(&load);
    load.stop.store(false, Ordering::Relaxed);

    // Phase 3: everything at once; once worker-1 holds a document job's lease, server-1 and
    // worker-1 are SIGKILLed, and restarted 2 s later on the same ports.
    let mixed_from = now(&load);
    let mut tasks: Vec<_> = (0..3)
        .map(|n| tokio::spawn(writer(load.clone(), n)))
        .collect();
    tasks.push(tokio::spawn(uploader(load.clone())));
    tasks.extend((0..2).map(|_| tokio::spawn(reader(load.clone()))));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut orphaned = Vec::new();
    let mut killed_at = None;
    for attempt in 0..5 {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut held = Vec::new();
        while held.is_empty() && Instant::now() < deadline {
            held = leased_by(platform.jobs.as_ref(), "worker-1").await;
            if held.is_empty() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        worker_1.kill();
        if attempt == 0 {
            server_1.kill();
            killed_at = Some(now(&load));
        }
        // A lease of the dead worker that is still held: that job must run again, once.
        for id in held {
            let job = platform.jobs.get(id).await.expect("job").expect("there");
            if job.status == JobStatus::Processing && job.leased_by.as_deref() == Some("worker-1") {
                orphaned.push(id);
            }
        }
        if attempt == 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        worker_1 = worker(&worker_binary, dir, &env, 1, worker_ports[0]).await;
        if attempt == 0 {
            let restarted = Instant::now();
            server_1 = server(dir, &env, 1, ports[0]).await;
            let restart_ready = restarted.elapsed();
            // nginx sends traffic to it again (after `fail_timeout` at the latest).
            let deadline = Instant::now() + Duration::from_secs(30);
            while fhir_requests_seen(&server_1.base).await == 0 {
                assert!(
                    Instant::now() < deadline,
                    "nginx never sent a FHIR request to the restarted server-1"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            eprintln!(
                "scale-out: server-1 ready {} ms after its restart, back in nginx's rotation {} ms after",
                restart_ready.as_millis(),
                restarted.elapsed().as_millis()
            );
        }
        if !orphaned.is_empty() {
            break;
        }
    }
    assert!(
        !orphaned.is_empty(),
        "worker-1 never held a job's lease when it was killed (5 tries)"
    );
    let killed_at = killed_at.expect("killed");
    // Load goes on for 5 s with both back.
    tokio::time::sleep(Duration::from_secs(5)).await;
    finish(&load, tasks).await;
    let mixed_to = now(&load);
    let ledger = std::mem::take(&mut *load.ledger.lock().expect("ledger"));

    // The figures, and the errors: none before the kill; after it only nginx's 502/503 (no
    // server answered) — never a 5xx of a server nor a dropped connection.
    let (reads, read_errors) = rate(&ledger, Kind::Read, read_from, read_to);
    let (writes, write_errors) = rate(&ledger, Kind::Write, write_from, write_to);
    assert_eq!(
        (read_errors, write_errors),
        (0, 0),
        "errors without a fault"
    );
    let before: Vec<_> = ledger
        .requests
        .iter()
        .filter(|(at, _, status)| *at < killed_at && !(200..300).contains(status))
        .collect();
    assert!(before.is_empty(), "errors before the kill: {before:?}");
    let after: Vec<_> = ledger
        .requests
        .iter()
        .filter(|(at, _, status)| *at >= killed_at && !(200..300).contains(status))
        .collect();
    for (_, _, status) in &after {
        assert!(
            [502, 503].contains(status),
            "a request answered {status} during the fault: {}",
            server_1.base
        );
    }
    let mixed: Vec<_> = ledger
        .requests
        .iter()
        .filter(|(at, _, _)| (mixed_from..mixed_to).contains(at))
        .collect();
    let last_error = after.iter().map(|(at, _, _)| *at).max();
    eprintln!(
        "scale-out figures: reads {reads:.0} req/s, creates {writes:.0} req/s (4 connections each, \
         through nginx); mixed phase {} requests in {} ms, {} of them non-2xx after the kill \
         ({:?}), the last {} ms after the kill; {} uploads, {} transactions, {} versions answered",
        mixed.len(),
        mixed_to - mixed_from,
        after.len(),
        after
            .iter()
            .map(|(_, _, status)| *status)
            .collect::<Vec<_>>(),
        last_error.map_or(0, |at| at - killed_at),
        ledger.uploads.len(),
        ledger.transactions.len(),
        ledger.versions.len(),
    );

    // Every answered write is there with its version (read from server-2, not through nginx).
    let token = server_2.token("pat@test.local", PASSWORD).await;
    assert!(!ledger.versions.is_empty(), "some writes were answered");
    // (Checked 8 at a time: hundreds of reads one by one are most of the test's time.)
    futures::stream::iter(&ledger.versions)
        .for_each_concurrent(8, |(id, version)| {
            let (server_2, token) = (&server_2, &token);
            async move {
                let path = format!("/fhir/R4/Observation/{id}/_history/{version}");
                let stored = server_2.get(token, &path).await;
                assert_eq!(stored["meta"]["versionId"], version.as_str(), "{id}");
            }
        })
        .await;
    assert!(
        ledger.transactions.iter().any(|t| t.2),
        "some transactions were answered"
    );
    futures::stream::iter(&ledger.transactions)
        .for_each_concurrent(8, |(tag, size, answered)| {
            let (server_2, token) = (&server_2, &token);
            async move {
                let path = format!("/fhir/R4/Observation?code:text={tag}&_summary=count");
                let found = server_2.get(token, &path).await["total"]
                    .as_u64()
                    .expect("total");
                if *answered {
                    assert_eq!(found, *size as u64, "{tag}: answered, so whole");
                } else {
                    assert!(
                        found == 0 || found == *size as u64,
                        "{tag}: {found} of {size}"
                    );
                }
            }
        })
        .await;

    // Every upload's job completes once, to one set of Observations; the killed worker's
    // leased job ran again.
    assert!(!ledger.uploads.is_empty(), "some uploads were answered");
    let (_, results) = text_report();
    futures::stream::iter(&ledger.uploads)
        .for_each_concurrent(8, |(job, document)| {
            let (server_2, token) = (&server_2, &token);
            async move {
                let done = server_2
                    .wait_for(token, job, &["completed", "needs_review", "failed"])
                    .await;
                assert_eq!(done["status"], "completed", "{done}");
                assert_eq!(done["document_reference"], document.as_str(), "{done}");
                assert_eq!(done["counts"]["observations"], results, "{done}");
                let path = format!("/fhir/R4/Observation?derived-from={document}&_summary=count");
                let filed = server_2.get(token, &path).await["total"].as_u64();
                assert_eq!(filed, Some(results), "{document}: filed once");
            }
        })
        .await;
    for id in &orphaned {
        let job = platform.jobs.get(*id).await.expect("job").expect("there");
        assert_eq!(job.status, JobStatus::Completed, "{job:?}");
        assert!(
            job.attempts >= 2,
            "the killed worker's job ran again: {job:?}"
        );
    }

    // A consent given and revoked through server-1 (the restarted one) is honoured at once by
    // server-2, asked directly.
    let (doctor, _) = crate::restart::enrolled_physician(&server_1, "doc@test.local").await;
    let doctor_id = server_1.get(&doctor, "/api/auth/me").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let patient_token = server_1.token("pat@test.local", PASSWORD).await;
    let record = format!("{}/fhir/R4/Patient/{}", server_2.base, load.patient);
    let client = reqwest::Client::new();
    let read = |token: String| {
        let request = client.get(&record).bearer_auth(token);
        async move { request.send().await.expect("answer").status().as_u16() }
    };
    assert_eq!(read(doctor.clone()).await, 404, "no consent yet");
    let granted = client
        .post(format!("{}/api/consents", server_1.base))
        .bearer_auth(&patient_token)
        .json(&json!({"grantee": doctor_id, "scope": ["*"], "purpose": "TREAT"}))
        .send()
        .await
        .expect("consent");
    assert_eq!(granted.status().as_u16(), 201);
    let consent = granted.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(
        read(doctor.clone()).await,
        200,
        "positive control: granted on server-1, readable on server-2"
    );
    let revoked = client
        .delete(format!("{}/api/consents/{consent}", server_1.base))
        .bearer_auth(&patient_token)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status().as_u16(), 200);
    assert_eq!(
        read(doctor.clone()).await,
        404,
        "revoked on server-1, refused at once by server-2"
    );

    // The change feed has no gap; the audit chain verifies.
    drop(nginx);
    drop(server_1);
    drop(server_2);
    drop(worker_1);
    let feed = store
        .changes_since(&medilink_fhir::RequestContext::system(), 0, 1_000_000)
        .await
        .expect("feed");
    assert!(!feed.is_empty(), "changes were written");
    for (i, change) in feed.iter().enumerate() {
        assert_eq!(change.seq, i as u64 + 1, "the feed is gapless");
    }
    store.close().await.expect("close");
    cli(&["audit", "verify"]);
}

/// `method url` with `headers` and `body`: status, headers and body.
async fn exchange(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .timeout(Duration::from_secs(120));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body).send().await.expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.bytes().await.expect("body").to_vec(),
    )
}

fn is_outcome(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body)
        .is_ok_and(|body| body["resourceType"] == "OperationOutcome")
}

/// What `deploy/check.sh` checked live before this test (issue #19): the deployed nginx
/// config in front of the real servers refuses `/metrics`, gzips FHIR JSON, sends the
/// servers' security headers once, keeps request ids, answers its own 413 as an
/// OperationOutcome, lets a 20 MiB upload through to the server, replaces a client's
/// `X-Forwarded-For` (seen by a header-echoing upstream behind a second copy of the config);
/// every metric the alerts and the Grafana dashboard use is in the live expositions with its
/// type.
async fn as_deployed(
    front: &str,
    nginx_binary: &Path,
    dir: &Path,
    servers: [&str; 2],
    worker_port: u16,
) {
    use reqwest::Method;
    let get = |path: &str| format!("{front}{path}");
    for path in ["/metrics", "//metrics"] {
        let (status, _, _) = exchange(Method::GET, &get(path), &[], Vec::new()).await;
        assert_eq!(status, 403, "nginx refuses {path}");
    }
    let (status, headers, _) = exchange(
        Method::GET,
        &get("/fhir/R4/metadata"),
        &[("accept-encoding", "gzip")],
        Vec::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"gzip"[..]),
        "FHIR JSON gzipped"
    );
    for name in ["content-security-policy", "x-frame-options"] {
        assert_eq!(headers.get_all(name).iter().count(), 1, "{name} sent once");
    }
    assert!(headers.contains_key("x-request-id"), "a request id");
    let (_, headers, _) = exchange(
        Method::GET,
        &get("/health"),
        &[("x-request-id", "check-request-42")],
        Vec::new(),
    )
    .await;
    assert_eq!(
        headers.get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"check-request-42"[..]),
        "the client's request id is kept end to end"
    );
    let (status, _, body) = exchange(
        Method::POST,
        &get("/fhir/R4/Patient"),
        &[("content-type", "application/fhir+json")],
        vec![b' '; 18 * 1024 * 1024],
    )
    .await;
    assert_eq!(status, 413, "above 17m");
    assert!(is_outcome(&body), "nginx's 413 is an OperationOutcome");
    // 20 MiB to /api/documents passes nginx (21m); the server refuses it without a token
    // before reading it, and closes the connection, which nginx sometimes sees first (502
    // turned into its 503 OperationOutcome).
    let (content_type, upload) =
        crate::support::multipart("Patient/x", "big.pdf", &vec![0; 20 * 1024 * 1024]);
    let (status, _, body) = exchange(
        Method::POST,
        &get("/api/documents"),
        &[("content-type", content_type.as_str())],
        upload,
    )
    .await;
    assert!(
        status == 401 || ([502, 503].contains(&status) && is_outcome(&body)),
        "a 20 MiB upload reaches the server: {status}"
    );
    for _ in 0..20 {
        exchange(Method::GET, &get("/health"), &[], Vec::new()).await;
    }
    for server in servers {
        let metrics = reqwest::get(format!("{server}/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics
                .lines()
                .any(|line| line.starts_with("medilink_http_requests_total{")
                    && line.contains("route=\"/health\"")),
            "nginx balances over both servers: {server} got none"
        );
    }

    // A header-echoing upstream behind a second copy of the config.
    let echo = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
        let seen: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    json!(value.to_str().unwrap_or_default()),
                )
            })
            .collect();
        axum::Json(Value::Object(seen))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let echo_port = listener.local_addr().expect("address").port();
    let echo_task = tokio::spawn(async move { axum::serve(listener, echo).await });
    let second_port = free_port();
    let second = nginx(
        nginx_binary,
        dir,
        "nginx-echo",
        second_port,
        [echo_port, echo_port],
    )
    .await;
    let (_, _, body) = exchange(
        Method::GET,
        &format!("http://127.0.0.1:{second_port}/fhir/R4/Patient?name=x"),
        &[
            ("x-forwarded-for", "203.0.113.66"),
            ("host", "medilink.example"),
        ],
        Vec::new(),
    )
    .await;
    let seen: Value = serde_json::from_slice(&body).expect("the echo");
    assert_eq!(
        seen["x-forwarded-for"], "127.0.0.1",
        "replaced, not appended: {seen}"
    );
    assert_eq!(seen["x-forwarded-proto"], "http", "{seen}");
    assert_eq!(seen["host"], "medilink.example", "{seen}");
    assert!(seen["x-request-id"].is_string(), "{seen}");
    drop(second);
    echo_task.abort();

    // Every metric name of the alerts and the dashboard, in a live exposition with its type.
    let mut types = std::collections::BTreeMap::new();
    for url in [
        format!("{}/metrics", servers[0]),
        format!("http://127.0.0.1:{worker_port}/metrics"),
    ] {
        let text = reqwest::get(url)
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ")
                && let Some((family, kind)) = rest.split_once(' ')
            {
                types.insert(family.to_owned(), kind.to_owned());
            }
        }
    }
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy");
    let used: String = ["prometheus/alerts.yml", "grafana/dashboards/medilink.json"]
        .iter()
        .map(|file| std::fs::read_to_string(format!("{deploy}/{file}")).expect("deploy file"))
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for (at, _) in used.match_indices("medilink_") {
        let before = used[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = used[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        names.insert(name);
    }
    assert!(names.len() > 5, "{names:?}");
    let mut unseen = Vec::new();
    for name in &names {
        let (family, want) = if let Some(base) = name.strip_suffix("_total") {
            (types.get(name).or_else(|| types.get(base)), Some("counter"))
        } else if let Some(base) = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
        {
            (types.get(base), Some("histogram"))
        } else {
            (types.get(name), None)
        };
        match (family, want) {
            // A labelled family shows up at its first sample (no job failed yet, …);
            // deploy/check.sh checks that the code registers it.
            (None, _) => unseen.push(name.clone()),
            (Some(kind), Some(want)) => assert_eq!(kind, want, "{name} used as a {want}"),
            (Some(_), None) => {}
        }
    }
    eprintln!(
        "scale-out: {} metric names of alerts/dashboard live, not yet sampled: {unseen:?}",
        names.len() - unseen.len()
    );
}
