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
}

impl RequestContext {
    /// A context for platform-internal work (an empty caller slot).
    pub fn system() -> Self {
        RequestContext {
            caller: None,
            request_id: String::from("system"),
            accessed: Accessed::default(),
        }
    }

    /// The caller slot's value as `T`, when it holds one.
    pub fn caller_as<T: Any>(&self) -> Option<&T> {
        let requester: &dyn Any = self.caller.as_deref()?;
        requester.downcast_ref()
    }
}
