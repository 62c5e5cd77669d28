//! Embeds `medilink-fhir` as a library: open a store, create a Patient, read it back.
//!
//! Run with `cargo run -p medilink-examples --example embed_store`.

use std::sync::Arc;

use medilink_fhir::{RequestContext, ResourceType, SqlOptions, SystemClock, UuidIdGen, open_store};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = open_store(
        &SqlOptions::new("sqlite::memory:"),
        Arc::new(SystemClock),
        Arc::new(UuidIdGen),
    )
    .await?;
    let ctx = RequestContext::system();
    let patient = serde_json::json!({"resourceType": "Patient", "name": [{"family": "Example", "given": ["Synthetic"]}]});
    let created = store.create(&ctx, patient).await?;
    let read = store.read(&ctx, ResourceType::Patient, &created.id).await?;
    eprintln!(
        "{} version {}: {}",
        read.reference(),
        read.version_id,
        read.json.as_deref().unwrap_or("")
    );
    Ok(())
}
