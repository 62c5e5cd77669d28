//! The backend conformance suite: every [`ResourceStore`] backend must pass these tests.
//!
//! Written once against the trait and instantiated per backend with
//! [`resource_store_suite!`](crate::resource_store_suite): each test gets a fresh, empty
//! store from a [`Harness`] factory and the harness's cleanup runs even when the test fails.

mod bundles;
mod harness;
mod limit_cases;
mod search_cases;
mod store_cases;

pub use bundles::*;
pub use harness::*;
pub use limit_cases::*;
pub use search_cases::*;
pub use store_cases::*;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::store::ResourceStore;

/// A boxed cleanup future.
pub type Cleanup = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A fresh store for one test, plus what to do afterwards (drop a database, …).
pub struct Harness {
    /// The store under test.
    pub store: Arc<dyn ResourceStore>,
    /// Runs after the test, whether it passed or not.
    pub cleanup: Option<Box<dyn FnOnce() -> Cleanup + Send>>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Runs one suite case against a fresh harness, always cleaning up.
pub async fn run<M, MF, T, TF>(make: M, case: T)
where
    M: FnOnce() -> MF,
    MF: Future<Output = Option<Harness>>,
    T: FnOnce(Arc<dyn ResourceStore>) -> TF,
    TF: Future<Output = ()> + Send + 'static,
{
    let Some(harness) = make().await else {
        return;
    };
    let outcome = tokio::spawn(case(harness.store.clone())).await;
    drop(harness.store);
    if let Some(cleanup) = harness.cleanup {
        cleanup().await;
    }
    if let Err(err) = outcome {
        if err.is_panic() {
            std::panic::resume_unwind(err.into_panic());
        }
        panic!("suite case was cancelled: {err}");
    }
}

/// Instantiates the resource-store conformance suite. `$make` is an async fn returning
/// `Option<Harness>` (`None` skips, e.g. when the backend's env variable is unset).
#[macro_export]
macro_rules! resource_store_suite {
    ($make:path) => {
        $crate::resource_store_suite!(@cases $make;
            create_read_vread, update_versions_and_if_match, delete_writes_tombstones,
            invalid_writes_store_nothing, every_resource_type_is_accepted, history_pages_and_filters,
            transactions_are_all_or_nothing, concurrent_writers_keep_versions_and_feed_consistent,
            concurrent_transactions_never_interleave, change_feed_is_ordered, identifiers_follow_writes,
            bundle_transaction_resolves_references, bundle_transaction_rolls_back_on_failure,
            bundle_batch_entries_fail_independently, bundle_conditional_create_and_references,
            close_is_clean, search_table_of_queries, search_sees_only_current_versions,
            search_totals_and_includes, search_paging_is_stable_under_writes,
            search_restriction_applies_to_every_hop, search_restriction_follows_each_version,
            search_budget_is_enforced_on_the_backend,
            hostile_strings_are_refused_or_stored);
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::testsuite::run($make, $crate::testsuite::$case).await;
            }
        )*
    };
}
