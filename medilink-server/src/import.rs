//! `medilink-server import FILE|DIR…`: loads FHIR Bundles (`.json`) and NDJSON (`.ndjson`)
//! into the store, with a progress bar and a summary. Directories are walked recursively and
//! files load in name order (Synthea's `0-*` hospital and practitioner bundles first). A bad
//! file is reported and the others still load; the command fails at the end if any did.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use medilink_fhir::import::{import_bundle, import_ndjson};
use medilink_fhir::{IdGen, RequestContext, ResourceStore};

/// Imports the given files and directories into `store`.
pub async fn run(
    store: Arc<dyn ResourceStore>,
    ids: Arc<dyn IdGen>,
    paths: Vec<PathBuf>,
) -> anyhow::Result<()> {
    let files = collect_files(&paths)?;
    let progress = ProgressBar::new(files.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files, {msg} [{elapsed_precise}]")
            .context("progress template")?,
    );
    let ctx = RequestContext::system();
    let started = Instant::now();
    let (mut resources, mut failed_entries, mut failed_files) = (0usize, 0usize, Vec::new());
    for file in &files {
        match import_file(store.as_ref(), &ctx, ids.as_ref(), file).await {
            Ok((written, failed)) => {
                resources += written;
                failed_entries += failed;
            }
            Err(err) => {
                progress.suspend(|| tracing::error!(file = %file.display(), error = %format!("{err:#}"), "import failed"));
                failed_files.push(file.clone());
            }
        }
        progress.set_message(format!("{resources} resources"));
        progress.inc(1);
    }
    progress.finish();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "imported {resources} resources from {} of {} files in {secs:.1}s ({:.0} resources/s); {failed_entries} batch entries failed",
        files.len() - failed_files.len(),
        files.len(),
        resources as f64 / secs
    );
    if !failed_files.is_empty() {
        for file in &failed_files {
            eprintln!("  failed: {}", file.display());
        }
        bail!(
            "{} of {} files failed to import",
            failed_files.len(),
            files.len()
        );
    }
    Ok(())
}

async fn import_file(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    ids: &dyn IdGen,
    file: &Path,
) -> anyhow::Result<(usize, usize)> {
    if file.extension().is_some_and(|ext| ext == "ndjson") {
        let reader = BufReader::new(std::fs::File::open(file)?);
        let written = import_ndjson(store, ctx, reader, |_| {}).await?;
        return Ok((written, 0));
    }
    let bytes = tokio::fs::read(file).await?;
    let bundle: serde_json::Value = serde_json::from_slice(&bytes).context("malformed json")?;
    if bundle.get("resourceType").and_then(|t| t.as_str()) != Some("Bundle") {
        bail!("not a Bundle (use .ndjson for one resource per line)");
    }
    let count = import_bundle(store, ctx, ids, bundle).await?;
    Ok((count.written, count.failed))
}

/// The files to import, directories expanded recursively, each directory in name order.
fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()?;
            children.sort();
            let children: Vec<PathBuf> = children
                .into_iter()
                .filter(|p| {
                    p.is_dir() || p.extension().is_some_and(|e| e == "json" || e == "ndjson")
                })
                .collect();
            files.extend(collect_files(&children)?);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            bail!("{} does not exist", path.display());
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_in_name_order_and_skip_other_files() {
        let dir = tempfile::tempdir().expect("dir");
        for name in ["b.json", "0-a.json", "c.ndjson", "notes.txt"] {
            std::fs::write(dir.path().join(name), "{}").expect("write");
        }
        let files = collect_files(&[dir.path().to_path_buf()]).expect("collect");
        let names: Vec<_> = files
            .iter()
            .map(|f| f.file_name().and_then(|n| n.to_str()).unwrap_or(""))
            .collect();
        assert_eq!(names, vec!["0-a.json", "b.json", "c.ndjson"]);
        assert!(collect_files(&[dir.path().join("missing")]).is_err());
    }
}
