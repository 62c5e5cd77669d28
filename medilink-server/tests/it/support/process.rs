//! The compiled `medilink-server` binary as a child process on a data directory: CLI runs
//! (`user add`, `audit verify`, …) and `serve` on a real socket of 127.0.0.1, killed when
//! dropped. Shared by the CLI, document and LLM-extractor tests.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The server binary cargo built for these tests.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_medilink-server");

/// The binary with a clean `MEDILINK_*` environment on `data_dir`, logging at `info`.
pub(crate) fn command(data_dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("MEDILINK_") {
            command.env_remove(name);
        }
    }
    command
        .env("RUST_LOG", "info")
        .arg("--data-dir")
        .arg(data_dir);
    command
}

/// Runs the binary with `args` to completion.
pub(crate) fn run(data_dir: &Path, args: &[&str]) -> Output {
    command(data_dir)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Exit status and both streams, for assertion messages.
pub(crate) fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `user add`, as an operator bootstraps an account.
pub(crate) fn user_add(data_dir: &Path, email: &str, password: &str, role: &str) -> Output {
    let mut args = vec![
        "user",
        "add",
        "--email",
        email,
        "--password",
        password,
        "--role",
        role,
    ];
    // A physician account needs a display name.
    if role == "physician" {
        args.extend(["--name", "Dr Test"]);
    }
    // A patient account needs the demographics of its Patient (issue #16).
    if role == "patient" {
        args.extend(["--name", "Pat Test", "--birth-date", "1980-01-01"]);
    }
    run(data_dir, &args)
}

/// A port of 127.0.0.1 nothing listens on right now.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// A `serve` process, killed (SIGKILL) when dropped. Its stderr is appended to
/// `server.log` in the data directory, so a restart on the same directory keeps the first log.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:{port}`.
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `serve` on a free port with cheap password hashing.
    pub(crate) async fn start(data_dir: &Path) -> Server {
        Server::start_with(data_dir, free_port(), |_| {}).await
    }

    /// `serve` on `port` with cheap password hashing; `configure` adds arguments or
    /// environment. Waits until `/health` answers; panics with the log if the process exits.
    pub(crate) async fn start_with(
        data_dir: &Path,
        port: u16,
        configure: impl FnOnce(&mut Command),
    ) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.join("server.log"))
            .expect("log file");
        let mut command = command(data_dir);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--argon2-memory-kib", "1024", "--argon2-iterations", "1"])
            .stdout(Stdio::null())
            .stderr(log);
        configure(&mut command);
        let child = command.spawn().expect("serve starts");
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log = std::fs::read_to_string(data_dir.join("server.log")).unwrap_or_default();
                panic!("serve exited early ({status}): {log}");
            }
            let health = client.get(format!("{}/health", server.base)).send().await;
            if health.is_ok_and(|response| response.status().is_success()) {
                return server;
            }
            assert!(Instant::now() < deadline, "serve did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `POST /api/auth/login`: the status and the JSON answer.
    pub(crate) async fn login(&self, email: &str, password: &str) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/api/auth/login", self.base))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The access token of a login that must succeed.
    pub(crate) async fn token(&self, email: &str, password: &str) -> String {
        let (status, tokens) = self.login(email, password).await;
        assert_eq!(status, 200, "{tokens}");
        tokens["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }

    /// Sends SIGTERM (the orchestrator's stop) and returns at once.
    #[allow(dead_code, reason = "shared by the shutdown and crash tests")]
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "SIGTERM sent");
    }

    /// Whether the process is still running.
    #[allow(dead_code, reason = "shared by the shutdown and crash tests")]
    pub(crate) fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit (at most `limit`); its exit status and how long it took.
    #[allow(dead_code, reason = "shared by the shutdown and crash tests")]
    pub(crate) async fn wait_exit(
        &mut self,
        limit: Duration,
    ) -> Option<(std::process::ExitStatus, Duration)> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((status, started.elapsed()));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// SIGKILL (`Child::kill` on Unix): no shutdown hook runs, leases stay held.
    pub(crate) fn kill(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reaped");
    }

    /// `GET path` with `token`, which must answer 200 with JSON.
    pub(crate) async fn get(&self, token: &str, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.expect("json")
    }

    /// Uploads `bytes` into `patient`'s record; the job id of the 202 answer.
    pub(crate) async fn upload(&self, token: &str, patient: &str, bytes: &[u8]) -> String {
        let (content_type, body) = super::multipart(patient, "report.pdf", bytes);
        let response = reqwest::Client::new()
            .post(format!("{}/api/documents", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("upload");
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json::<Value>().await.expect("json")["job_id"]
            .as_str()
            .expect("job id")
            .to_owned()
    }

    /// Polls the job until its status is one of `statuses` (at most 3 minutes).
    pub(crate) async fn wait_for(&self, token: &str, id: &str, statuses: &[&str]) -> Value {
        for _ in 0..3600 {
            let job = self.get(token, &format!("/api/documents/jobs/{id}")).await;
            if statuses.iter().any(|status| job["status"] == *status) {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("job {id} never reached {statuses:?}");
    }
}

/// The committed text PDF the process tests upload (`report-text-a-001.pdf` of the ingest
/// fixtures), and how many results its ingest files.
pub(crate) fn text_report() -> (Vec<u8>, u64) {
    let fixtures = format!(
        "{}/../medilink-ingest/tests/fixtures",
        env!("CARGO_MANIFEST_DIR")
    );
    let pdf = std::fs::read(format!("{fixtures}/report-text-a-001.pdf")).expect("fixture");
    let truth: Value = serde_json::from_slice(
        &std::fs::read(format!("{fixtures}/report-text-a-001.json")).expect("truth"),
    )
    .expect("json");
    let results = truth["results"].as_array().expect("results").len() as u64;
    (pdf, results)
}
