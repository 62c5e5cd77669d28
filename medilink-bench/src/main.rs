//! `medilink-bench`: the benchmark driver behind the figures in BENCHMARKS.md.
//!
//! - `ingest --database-url URL --patients N`: loads N generated patient transaction bundles
//!   through the library (`medilink_fhir::import::import_bundle`) and prints resources/s.
//! - `raw --database-url URL --patients N`: the machine's raw limit for the same JSON rows:
//!   plain multi-row INSERTs into one table (and `COPY` on PostgreSQL).
//! - `http --url http://127.0.0.1:8080/fhir/R4 --patients N --concurrency C`: the same bundles
//!   POSTed to a running server.
//! - `clinical [--rounds N]`: one offline drug check (20 active medications, 5 allergies)
//!   repeated N times; p50/p99/max in µs.
//! - `seed-read --url … --count N`: creates N patients and prints their ids for a read load test.
//! - `compare --url BASE [--token T] [--bundles DIR | --patients N]`: loads the bundles over
//!   HTTP into any FHIR base URL and runs the issue #19 wrk workloads against it (`compare.rs`).
//!
//! `postgres://…/test` URLs get a fresh database per run, dropped afterwards; `sqlite` runs use a
//! file in a temporary directory unless a path is given.

#![allow(clippy::print_stdout, reason = "a benchmark driver reports on stdout")]

mod clinical;
mod compare;
mod consent;
mod data;
mod export;
mod raw;
mod search;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use medilink_fhir::import::import_bundle;
use medilink_fhir::{RequestContext, SqlOptions, SystemClock, UuidIdGen, open_store};
use sea_orm::{ConnectionTrait, Database};

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Library ingest of generated transaction bundles.
    Ingest {
        #[arg(long, default_value = "sqlite")]
        database_url: String,
        #[arg(long, default_value_t = 100)]
        patients: usize,
        /// Concurrent importers.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// Raw batched INSERTs of the same JSON rows.
    Raw {
        #[arg(long, default_value = "sqlite")]
        database_url: String,
        #[arg(long, default_value_t = 100)]
        patients: usize,
    },
    /// HTTP ingest against a running server.
    Http {
        #[arg(long, default_value = "http://127.0.0.1:8080/fhir/R4")]
        url: String,
        #[arg(long, default_value_t = 100)]
        patients: usize,
        #[arg(long, default_value_t = 2)]
        concurrency: usize,
        /// Bearer token (see scripts/bench/admin_token.py).
        #[arg(long, env = "MEDILINK_BENCH_TOKEN")]
        token: String,
    },
    /// Search latency on a loaded store (loads the data first when the store has fewer patients).
    Search {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 375)]
        patients: usize,
        #[arg(long, default_value_t = 200)]
        rounds: usize,
    },
    /// Bulk `$export` throughput (run `search` first to load the store).
    Export {
        #[arg(long)]
        database_url: String,
        /// Patients whose grants the exporting physician holds.
        #[arg(long, default_value_t = 50)]
        patients: usize,
    },
    /// Offline drug interaction and allergy check latency (issue #13).
    Clinical {
        #[arg(long, default_value_t = 10_000)]
        rounds: usize,
    },
    /// Consent-guard overhead on reads and searches (run `search` first to load the store).
    Consent {
        #[arg(long)]
        database_url: String,
        #[arg(long, default_value_t = 50)]
        patients: usize,
        #[arg(long, default_value_t = 400)]
        rounds: usize,
    },
    /// Load bundles over HTTP into any FHIR base URL and run the issue #19 wrk workloads.
    Compare {
        /// The FHIR base URL (`http://127.0.0.1:8080/fhir/R4`, another server's base).
        #[arg(long)]
        url: String,
        /// Bearer token, if the server wants one (see scripts/bench/admin_token.py).
        #[arg(long, env = "MEDILINK_BENCH_TOKEN")]
        token: Option<String>,
        /// A directory of transaction bundles (Synthea's `output/fhir`); else generated ones.
        #[arg(long)]
        bundles: Option<std::path::PathBuf>,
        /// Generated patients when no `--bundles` directory is given.
        #[arg(long, default_value_t = 120)]
        patients: usize,
        /// Concurrent clients of the load phase.
        #[arg(long, default_value_t = 2)]
        clients: usize,
        /// wrk connections.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Seconds per wrk workload.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Skip the load phase (the server already holds the data).
        #[arg(long)]
        skip_load: bool,
        /// The server's process id on this machine: its resident memory is reported.
        #[arg(long)]
        server_pid: Option<u32>,
    },
    /// Create patients for a read load test; prints one id per line.
    SeedRead {
        #[arg(long, default_value = "http://127.0.0.1:8080/fhir/R4")]
        url: String,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Bearer token (see scripts/bench/admin_token.py).
        #[arg(long, env = "MEDILINK_BENCH_TOKEN")]
        token: String,
    },
}

/// A database for one run, and how to get rid of it.
struct Scratch {
    url: String,
    _dir: Option<tempfile::TempDir>,
    drop_pg: Option<(String, String)>,
}

impl Scratch {
    async fn new(spec: &str) -> Result<Scratch> {
        if spec == "sqlite" {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}/bench.db", dir.path().display());
            return Ok(Scratch {
                url,
                _dir: Some(dir),
                drop_pg: None,
            });
        }
        if spec.starts_with("postgres") {
            let admin = Database::connect(spec).await?;
            let name = format!("medilink_bench_{}", std::process::id());
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
                .await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            let (prefix, _) = spec
                .rsplit_once('/')
                .context("postgres url needs a database")?;
            return Ok(Scratch {
                url: format!("{prefix}/{name}"),
                _dir: None,
                drop_pg: Some((spec.to_owned(), name)),
            });
        }
        Ok(Scratch {
            url: spec.to_owned(),
            _dir: None,
            drop_pg: None,
        })
    }

    async fn finish(self) -> Result<()> {
        if let Some((admin_url, name)) = self.drop_pg {
            let admin = Database::connect(admin_url.as_str()).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Ingest {
            database_url,
            patients,
            concurrency,
        } => ingest(&database_url, patients, concurrency).await,
        Command::Raw {
            database_url,
            patients,
        } => {
            let scratch = Scratch::new(&database_url).await?;
            raw::run(&scratch.url, &data::bundles(patients)?).await?;
            scratch.finish().await
        }
        Command::Http {
            url,
            patients,
            concurrency,
            token,
        } => http(&url, patients, concurrency, &token).await,
        Command::SeedRead { url, count, token } => seed_read(&url, count, &token).await,
        Command::Compare {
            url,
            token,
            bundles,
            patients,
            clients,
            connections,
            duration,
            skip_load,
            server_pid,
        } => {
            compare::run(&compare::Options {
                url,
                token,
                bundles,
                patients,
                clients,
                connections,
                duration_secs: duration,
                skip_load,
                server_pid,
            })
            .await
        }
        Command::Clinical { rounds } => clinical::run(rounds.max(1)).await,
        Command::Consent {
            database_url,
            patients,
            rounds,
        } => consent::run(&database_url, patients, rounds).await,
        Command::Export {
            database_url,
            patients,
        } => export::run(&database_url, patients).await,
        Command::Search {
            database_url,
            patients,
            rounds,
        } => search::run(&database_url, patients, rounds).await,
    }
}

async fn ingest(database_url: &str, patients: usize, concurrency: usize) -> Result<()> {
    let bundles = data::bundles(patients)?;
    let resources: usize = bundles.iter().map(data::entry_count).sum();
    let scratch = Scratch::new(database_url).await?;
    let store = open_store(
        &SqlOptions::new(scratch.url.clone()),
        Arc::new(SystemClock),
        Arc::new(UuidIdGen),
    )
    .await?;
    let ids = Arc::new(UuidIdGen);
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(bundles));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (store, ids, queue) = (store.clone(), ids.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                let Some(bundle) = next else {
                    return anyhow::Ok(());
                };
                import_bundle(
                    store.as_ref(),
                    &RequestContext::system(),
                    ids.as_ref(),
                    bundle,
                )
                .await?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "library ingest: {resources} resources in {patients} transaction bundles, concurrency {concurrency}, {secs:.2}s = {:.0} resources/s",
        resources as f64 / secs
    );
    drop(store);
    scratch.finish().await
}

async fn http(url: &str, patients: usize, concurrency: usize, token: &str) -> Result<()> {
    let bundles = data::bundles(patients)?;
    let resources: usize = bundles.iter().map(data::entry_count).sum();
    let bodies: Vec<String> = bundles
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<_, _>>()?;
    let client = reqwest::Client::new();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, queue, url, auth) = (
            client.clone(),
            queue.clone(),
            url.to_owned(),
            format!("Bearer {token}"),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                let Some(body) = next else {
                    return anyhow::Ok(());
                };
                let response = client
                    .post(&url)
                    .header("content-type", "application/fhir+json")
                    .header("prefer", "return=minimal")
                    .header("authorization", &auth)
                    .body(body)
                    .send()
                    .await?;
                anyhow::ensure!(
                    response.status().is_success(),
                    "server answered {}",
                    response.status()
                );
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "http ingest: {resources} resources in {patients} transaction bundles, concurrency {concurrency}, {secs:.2}s = {:.0} resources/s",
        resources as f64 / secs
    );
    Ok(())
}

async fn seed_read(url: &str, count: usize, token: &str) -> Result<()> {
    let client = reqwest::Client::new();
    for n in 0..count {
        let body = serde_json::json!({"resourceType": "Patient", "id": format!("read-{n}"),
            "name": [{"family": format!("Bench{n}"), "given": ["Synthetic"]}], "gender": "other", "birthDate": "1980-01-01"});
        let response = client
            .put(format!("{url}/Patient/read-{n}"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "seed failed: {}",
            response.status()
        );
    }
    println!(
        "seeded {count} patients read-0 … read-{}",
        count.saturating_sub(1)
    );
    Ok(())
}
