//! [`FeedRelay`]: notices derived from the versions of one resource type in the change feed.
//! A FHIR write and its `resource_versions` row are one transaction, so a version that
//! records an event (a `Consent` changing state, a `Communication` announcing results) is an
//! outbox row written with the change itself; the relay reads the feed after a cursor kept in
//! the key-value store and tells each version through a [`FeedEvents`] that writes once-only
//! notices (keyed by the version), so reading a version twice — a crash before the cursor
//! moved, two workers at once, a follow right after the change and the periodic job — tells
//! nobody twice. Without a cursor (first start, lost) the feed is read from the start, but
//! versions older than the relay's lookback are not told (stale news).

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use medilink_fhir::kv::KeyValue;
use medilink_fhir::{
    Clock, FhirResult, RequestContext, ResourceStore, ResourceType, StoredResource,
};
use serde::{Deserialize, Serialize};

/// Versions read per page.
const PAGE: usize = 200;
/// How long a cursor is kept without a run (every run rewrites it).
const CURSOR_TTL: Duration = Duration::from_secs(400 * 24 * 3600);

/// Turns one version of the followed type into notices.
#[async_trait]
pub trait FeedEvents: Send + Sync + Debug {
    /// Tells what `stored` records (once-only notices keyed by its version); the number of
    /// notices written.
    async fn tell(&self, stored: &StoredResource) -> FhirResult<u64>;
}

/// The result of one follow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedResult {
    /// Versions read.
    pub versions: u64,
    /// Notices written (0 when every version was told before).
    pub told: u64,
    /// The feed position reached.
    pub position: u64,
}

/// Follows the feed of one type (see the module documentation).
#[derive(Debug, Clone)]
pub struct FeedRelay {
    /// The platform's (unguarded) store, read as the system.
    pub store: Arc<dyn ResourceStore>,
    /// Where the cursor is kept.
    pub kv: Arc<dyn KeyValue>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The type followed.
    pub resource_type: ResourceType,
    /// The cursor's key-value key.
    pub cursor_key: &'static str,
    /// Versions older than this are not told when there is no cursor.
    pub lookback: time::Duration,
}

impl FeedRelay {
    async fn cursor(&self) -> FhirResult<Option<u64>> {
        Ok(self
            .kv
            .get(self.cursor_key)
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok()))
    }

    /// Tells every version after the cursor through `events` and moves the cursor.
    pub async fn follow(&self, events: &dyn FeedEvents) -> FhirResult<FeedResult> {
        let cursor = self.cursor().await?;
        let oldest = cursor.is_none().then(|| self.clock.now() - self.lookback);
        let mut result = FeedResult {
            position: cursor.unwrap_or(0),
            ..FeedResult::default()
        };
        let ctx = RequestContext::system();
        loop {
            let page = self
                .store
                .changes_of_type_since(&ctx, self.resource_type, result.position, PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            let last = last.seq;
            for stored in &page {
                result.versions += 1;
                if oldest.is_some_and(|oldest| stored.last_updated < oldest) {
                    continue;
                }
                result.told += events.tell(stored).await?;
            }
            result.position = last;
            self.kv
                .set(self.cursor_key, last.to_string().as_bytes(), CURSOR_TTL)
                .await?;
            if page.len() < PAGE {
                break;
            }
        }
        Ok(result)
    }
}
