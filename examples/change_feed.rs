//! Drives a custom consumer from the store's change feed: a projection of heart-rate
//! Observations into rows of another table (here the platform's durable key-value table),
//! resuming after a restart from a cursor kept in the same table.
//!
//! Run with `cargo run -p medilink-examples --example change_feed`.
//!
//! Every write gets a global sequence number; [`ResourceStore::changes_of_type_since`] returns
//! the versions written after a position, deletions included (as tombstones). A consumer
//! applies a batch, then saves the position of its last entry: after a crash it replays at most
//! one batch, so applying an entry must be idempotent (an upsert or a delete by id is).

use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::kv::KeyValue;
use medilink_fhir::{
    Clock, IdGen, RequestContext, ResourceStore, ResourceType, SqlOptions, StoredResource,
    SystemClock, UuidIdGen,
};
use medilink_platform::open_store_and_platform;
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

/// How long projected rows and the cursor are kept (the key-value table expires entries).
const KEEP: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Feed entries read per batch.
const BATCH: usize = 100;
const CURSOR_KEY: &str = "example.heart-rate.cursor";

/// The projection: one row per heart-rate Observation (`{patient, value}`), keyed by its id.
#[derive(Debug)]
struct HeartRates {
    store: Arc<dyn ResourceStore>,
    table: Arc<dyn KeyValue>,
}

impl HeartRates {
    /// Applies every feed entry after the saved cursor; returns how many it applied.
    async fn catch_up(&self) -> Result<usize, Error> {
        let ctx = RequestContext::system();
        let mut cursor: u64 = match self.table.get(CURSOR_KEY).await? {
            Some(bytes) => String::from_utf8(bytes)?.parse()?,
            None => 0,
        };
        let mut applied = 0;
        loop {
            let batch = self
                .store
                .changes_of_type_since(&ctx, ResourceType::Observation, cursor, BATCH)
                .await?;
            let Some(last) = batch.last() else {
                return Ok(applied);
            };
            let last_seq = last.seq;
            for version in &batch {
                self.apply(version).await?;
            }
            applied += batch.len();
            // Rows first, cursor second: a crash in between replays the batch, harmlessly.
            cursor = last_seq;
            let position = cursor.to_string();
            self.table
                .set(CURSOR_KEY, position.as_bytes(), KEEP)
                .await?;
        }
    }

    async fn apply(&self, version: &StoredResource) -> Result<(), Error> {
        let key = format!("example.heart-rate.{}", version.id);
        let observation: Value = match version.json.as_deref() {
            Some(text) => serde_json::from_str(text)?,
            // A deletion: the row goes.
            None => return Ok(self.table.delete(&key).await?),
        };
        let is_heart_rate = observation["code"]["coding"]
            .as_array()
            .is_some_and(|codings| codings.iter().any(|c| c["code"] == "8867-4"));
        if !is_heart_rate {
            // Also when an update changed the code: the row goes.
            return Ok(self.table.delete(&key).await?);
        }
        let row = json!({
            "patient": observation["subject"]["reference"],
            "value": observation["valueQuantity"]["value"],
        });
        self.table
            .set(&key, row.to_string().as_bytes(), KEEP)
            .await?;
        Ok(())
    }

    /// The projected row of an Observation.
    async fn row(&self, id: &str) -> Result<Option<Value>, Error> {
        let key = format!("example.heart-rate.{id}");
        Ok(match self.table.get(&key).await? {
            Some(bytes) => Some(serde_json::from_slice(&bytes)?),
            None => None,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ids: Arc<dyn IdGen> = Arc::new(UuidIdGen);
    let (store, platform) =
        open_store_and_platform(&SqlOptions::new("sqlite::memory:"), clock, ids).await?;
    let ctx = RequestContext::system();
    let projection = HeartRates {
        store: store.clone(),
        table: platform.kv.clone(),
    };

    let heart_rate = |value: u32| {
        json!({"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": "Patient/example"},
            "valueQuantity": {"value": value, "unit": "/min"}})
    };
    let first = store.create(&ctx, heart_rate(72)).await?;
    let second = store.create(&ctx, heart_rate(80)).await?;
    // Other types are not in this consumer's feed.
    store
        .create(&ctx, json!({"resourceType": "Patient"}))
        .await?;
    assert_eq!(projection.catch_up().await?, 2);
    assert_eq!(
        projection.row(first.id.as_str()).await?.ok_or("row")?["value"],
        72
    );

    // An update and a deletion reach the projection as the next two entries.
    let mut changed = heart_rate(75);
    changed["id"] = json!(first.id.as_str());
    store
        .update(&ctx, ResourceType::Observation, &first.id, changed, None)
        .await?;
    store
        .delete(&ctx, ResourceType::Observation, &second.id, None)
        .await?;
    assert_eq!(projection.catch_up().await?, 2, "only what is new");
    assert_eq!(
        projection.row(first.id.as_str()).await?.ok_or("row")?["value"],
        75
    );
    assert_eq!(projection.row(second.id.as_str()).await?, None, "deleted");

    // A restarted consumer resumes from the saved cursor: nothing to replay.
    let restarted = HeartRates {
        store: store.clone(),
        table: platform.kv.clone(),
    };
    assert_eq!(restarted.catch_up().await?, 0);
    eprintln!("change_feed: 4 entries projected, restart resumed at the saved cursor");
    Ok(())
}
