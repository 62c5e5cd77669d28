//! Moving the change feed into a [`SearchIndex`]: [`catch_up`] once, or [`follow`] until
//! shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::SearchIndex;
use crate::context::RequestContext;
use crate::error::FhirResult;
use crate::store::ResourceStore;

/// How many feed entries are read, applied and committed at a time.
pub const FEED_BATCH: usize = 1000;

/// The longest wait between retries after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Applies the feed after `index.position()` until it is exhausted; returns how many entries
/// were applied. Writes that land meanwhile may or may not be included.
pub async fn catch_up(store: &dyn ResourceStore, index: &dyn SearchIndex) -> FhirResult<u64> {
    apply_feed(store, index, &RequestContext::system()).await
}

/// Reads, applies and commits feed batches from the index's position until a batch comes
/// back short.
async fn apply_feed(
    store: &dyn ResourceStore,
    index: &dyn SearchIndex,
    ctx: &RequestContext,
) -> FhirResult<u64> {
    let mut applied = 0;
    loop {
        let batch = store
            .changes_since(ctx, index.position(), FEED_BATCH)
            .await?;
        if batch.is_empty() {
            return Ok(applied);
        }
        index.apply(&batch).await?;
        applied += batch.len() as u64;
        if batch.len() < FEED_BATCH {
            return Ok(applied);
        }
    }
}

/// Rebuilds `index` when its position is not an entry of the store's feed: the index was
/// filled from another database, or the database was restored to an earlier state. Returns
/// whether it rebuilt. [`follow`] calls this once before following.
pub async fn realign(store: &dyn ResourceStore, index: &dyn SearchIndex) -> FhirResult<bool> {
    let position = index.position();
    if position == 0 {
        return Ok(false);
    }
    let ctx = RequestContext::system();
    let at_position = store.changes_since(&ctx, position - 1, 1).await?;
    if at_position.first().map(|change| change.seq) == Some(position) {
        return Ok(false);
    }
    tracing::warn!(
        position,
        "full-text index is not from this store's change feed; rebuilding it"
    );
    index.rebuild(store, &ctx, &|_| {}).await?;
    Ok(true)
}

/// Keeps `index` following the change feed of `store` until `shutdown` completes: first
/// [`realign`]s it, then applies what is new, sleeps `poll` when caught up, and retries
/// failures (logged) with a growing wait of at most 30 s. Spawn it once per index at server
/// start.
///
/// Stopping between or during steps is safe: each batch commits atomically with its position.
pub async fn follow(
    store: Arc<dyn ResourceStore>,
    index: Arc<dyn SearchIndex>,
    poll: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut backoff = poll;
    let mut aligned = false;
    loop {
        let step = async {
            if !aligned {
                realign(&*store, &*index).await?;
                aligned = true;
            }
            catch_up(&*store, &*index).await
        };
        let wait = tokio::select! {
            () = &mut shutdown => return,
            outcome = step => match outcome {
                Ok(applied) => {
                    if applied > 0 {
                        tracing::debug!(applied, position = index.position(), "full-text index caught up");
                    }
                    backoff = poll;
                    poll
                }
                Err(err) => {
                    tracing::warn!(error = %err, position = index.position(), "full-text index update failed; retrying");
                    let wait = backoff;
                    backoff = (backoff * 2).clamp(poll, MAX_BACKOFF.max(poll));
                    wait
                }
            },
        };
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
