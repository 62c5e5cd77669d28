//! `medilink-consent`: who may see which patient data.
//!
//! - [`grant`]: a consent ([`Grant`]) and its FHIR R4 `Consent` form, which the store holds;
//! - [`policy`]: the one decision function [`decide`] and the query restriction [`access`];
//! - [`compartment`]: which patients a resource belongs to (official Patient compartment);
//! - [`access_log`]: a patient's view of who read their data, under which grant;
//! - [`service`]: the lifecycle (grant, request, accept, decline, revoke, break-glass) and
//!   the grant cache behind the `KeyValue` seam;
//! - [`fhir_access`]: [`FhirAccess`], the reads that join the guarded store and the full-text
//!   index (`_text`/`_content` type search, cross-resource full text, `$everything`);
//! - [`export`]: FHIR Bulk Data `$export`, a job that runs as its requester through the guard;
//! - [`guard`]: [`ConsentGuard`], a [`medilink_fhir::ResourceStore`] that enforces the policy
//!   on every interaction of any store it wraps;
//! - [`subscriptions`]: FHIR Subscriptions (R5 Backport IG on R4), every notification
//!   decided for its subscriber when sent;
//! - [`deid`]: [`Deidentifier`], HIPAA Safe Harbor de-identification of resources for research
//!   export (pure, no I/O).
//!
//! This crate never talks HTTP; it sends mail only through the [`Mailer`] seam.

pub mod access_log;
pub mod compartment;
pub mod deid;
pub mod error;
pub mod expiry;
pub mod export;
pub mod fhir_access;
pub mod grant;
pub mod guard;
pub mod mail;
#[cfg(test)]
mod notice_tests;
pub mod notices;
pub mod policy;
pub mod research;
pub mod service;
pub mod subscriptions;

pub use deid::{DeidError, DeidOptions, Deidentifier};
pub use error::{ConsentError, ConsentResult};
pub use fhir_access::FhirAccess;
pub use grant::{ConsentStatus, Grant, GrantState, Initiator, Scope};
pub use guard::ConsentGuard;
pub use mail::{Mail, Mailer};
pub use policy::{Access, Action, Decision, Reason, Target, access, decide};
pub use service::{BreakGlass, ConsentService, GrantRequest};
