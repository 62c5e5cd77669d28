//! The request context every store call receives: who is asking (opaque to this crate), the
//! request id, and the [`Accessed`] sink that records what the request touched.
//!
//! This crate has no notion of users: the caller is a slot ([`Requester`]) that the crates above
//! fill and read (`medilink_platform::Caller`, through its `CallerContext` extension trait;
//! `medilink_consent::ConsentGuard` decides from it). An empty slot is the platform's own work.

mod accessed;

use std::any::Any;
use std::fmt;
use std::sync::Arc;

pub use accessed::{AccessSummary, Accessed, Interaction};

/// What fills a [`RequestContext`]'s caller slot: any value of the crates above (this crate never
/// looks inside).
pub trait Requester: Any + fmt::Debug + Send + Sync {}

impl<T: Any + fmt::Debug + Send + Sync> Requester for T {}

/// Per-request information passed to every store method.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Who is asking, as the crates above define it (`medilink_platform::Caller`); `None` for
    /// the platform's own work ([`RequestContext::system`]).
    pub caller: Option<Arc<dyn Requester>>,
    /// Correlates logs and audit records.
    pub request_id: String,
    /// What the request returned or changed (off unless the request is audited).
    pub accessed: Accessed,
    /// A mark the platform's own code puts on a write it makes for the caller (a value of a
    /// type private to the crate that makes it, so no other code can forge it; read with
    /// [`RequestContext::mark_as`]); `None` on every request a client makes. Example:
    /// `medilink_ingest`'s upload writes its `DocumentReference`, with the extensions only the
    /// platform may write, through the consent guard as the uploader, marked as the upload.
    pub mark: Option<Arc<dyn Requester>>,
}

impl RequestContext {
    /// A context for platform-internal work (an empty caller slot).
    pub fn system() -> Self {
        RequestContext {
            caller: None,
            request_id: String::from("system"),
            accessed: Accessed::default(),
            mark: None,
        }
    }

    /// The same context with `mark` ([`RequestContext::mark`]).
    pub fn with_mark(mut self, mark: impl Requester) -> Self {
        self.mark = Some(Arc::new(mark));
        self
    }

    /// The mark's value as `T`, when the context carries one of that type.
    pub fn mark_as<T: Any>(&self) -> Option<&T> {
        let mark: &dyn Any = self.mark.as_deref()?;
        mark.downcast_ref()
    }

    /// The caller slot's value as `T`, when it holds one.
    pub fn caller_as<T: Any>(&self) -> Option<&T> {
        let requester: &dyn Any = self.caller.as_deref()?;
        requester.downcast_ref()
    }
}
