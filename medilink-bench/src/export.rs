//! `medilink-bench export`: Bulk Data `$export` throughput through the export job's handler
//! (the work a worker does), on a store loaded by `medilink-bench search`: an admin's
//! system-level export of every type, then a physician's `Patient/$export` under all-data
//! grants from `--patients` patients (every query restricted by the consent guard). Files go
//! to a filesystem blob store in a temporary directory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use medilink_consent::export::{BulkExport, ExportLevel, ExportRequest, ExportResult, KIND};
use medilink_fhir::{
    BlobOptions, RequestContext, SqlOptions, SystemClock, UuidIdGen, open_blob_store,
};
use medilink_platform::Caller;
use medilink_platform::open_store_and_platform;
use medilink_platform::worker::JobHandler;
use medilink_platform::{Role, UserId};

/// Runs both exports and prints a Markdown table row for each.
pub(crate) async fn run(database_url: &str, patients: usize) -> Result<()> {
    let clock = Arc::new(SystemClock);
    let (store, platform) = open_store_and_platform(
        &SqlOptions::new(database_url.to_owned()),
        clock.clone(),
        Arc::new(UuidIdGen),
    )
    .await?;
    let dir = tempfile::tempdir()?;
    let blobs =
        open_blob_store(&BlobOptions::new(format!("fs://{}", dir.path().display()))).await?;
    let exports = BulkExport::new(store.clone(), blobs, platform.jobs.clone(), clock);
    let admin = RequestContext {
        caller: Some(std::sync::Arc::new(Caller::User {
            user_id: UserId("bench-admin".to_owned()),
            role: Role::Admin,
            mfa: true,
            patient_id: None,
            purpose_of_use: None,
            app: None,
        })),
        request_id: "bench".to_owned(),
        accessed: Default::default(),
        mark: None,
    };
    let (_, physician) = crate::consent::physician_with_grants(&store, patients).await?;
    println!("| export | resources | files | NDJSON bytes | seconds | resources/s |");
    println!("|---|---|---|---|---|---|");
    for (name, ctx, level) in [
        (
            "admin, system level, every type",
            &admin,
            ExportLevel::System,
        ),
        (
            "physician, Patient/$export under grants",
            &physician,
            ExportLevel::Patients,
        ),
    ] {
        let request = ExportRequest::parse(level, &[], "bench".to_owned())?;
        let queued = exports.start(ctx, request).await?;
        let job = platform
            .jobs
            .lease("bench", &[KIND], Duration::from_secs(3600))
            .await?
            .filter(|job| job.id == queued.id)
            .context("the export job is leased")?;
        let started = Instant::now();
        let outcome = exports
            .run(&job)
            .await
            .map_err(|err| anyhow::anyhow!("export failed: {err:?}"))?;
        let seconds = started.elapsed().as_secs_f64();
        let Ok(manifest) = serde_json::from_value::<ExportResult>(outcome.result.clone()) else {
            bail!("the export has no manifest: {}", outcome.result);
        };
        let output = manifest.output;
        let resources: u64 = output.iter().map(|file| file.count).sum();
        let bytes = walk_bytes(dir.path())?;
        println!(
            "| {name} | {resources} | {} | {bytes} | {seconds:.2} | {:.0} |",
            output.len(),
            resources as f64 / seconds
        );
        platform
            .jobs
            .complete(job.id, "bench", outcome.status, outcome.result)
            .await?;
        std::fs::remove_dir_all(dir.path())?;
        std::fs::create_dir_all(dir.path())?;
    }
    Ok(())
}

/// Bytes of every file under `dir`.
fn walk_bytes(dir: &std::path::Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            walk_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
