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
//!
//! # Quick start
//!
//! Wrap the store in a [`ConsentGuard`] and hand only the guard to request handlers; each
//! request's context carries the signed-in [`Caller`](medilink_platform::Caller):
//!
//! ```
//! use std::sync::Arc;
//!
//! use medilink_consent::mail::LogMailer;
//! use medilink_consent::{ConsentGuard, ConsentService, GrantRequest};
//! use medilink_fhir::{Clock, IdGen, RequestContext, ResourceStore, ResourceType};
//! use medilink_fhir::{SqlOptions, SystemClock, UuidIdGen};
//! use medilink_platform::{Caller, CallerContext, Role, UserId, open_store_and_platform};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock: Arc<dyn Clock> = Arc::new(SystemClock);
//! let ids: Arc<dyn IdGen> = Arc::new(UuidIdGen);
//! let options = SqlOptions::new("sqlite::memory:");
//! let (store, platform) = open_store_and_platform(&options, clock.clone(), ids).await?;
//! let consents = Arc::new(ConsentService::new(
//!     store.clone(),
//!     platform.kv.clone(),
//!     clock,
//!     Arc::new(LogMailer),
//! ));
//! let guarded = ConsentGuard::new(store.clone(), consents.clone());
//!
//! let patient = store
//!     .create(&RequestContext::system(), serde_json::json!({"resourceType": "Patient"}))
//!     .await?;
//! let physician = Caller::user(UserId("dr".into()), Role::Physician, true, None);
//! let as_physician = RequestContext::for_caller(physician, "request-1");
//! // No consent yet: the patient reads as missing.
//! assert!(guarded.read(&as_physician, ResourceType::Patient, &patient.id).await.is_err());
//!
//! // The patient grants the physician access to all of their data.
//! let me = Caller::user(UserId("me".into()), Role::Patient, true, Some(patient.id.clone()));
//! let grant = GrantRequest {
//!     patient: None,
//!     grantee: Some("dr".into()),
//!     grantee_role: Some(Role::Physician),
//!     scope: Vec::new(),
//!     purpose: None,
//!     end: None,
//! };
//! consents.create(&me, grant).await?;
//! assert!(guarded.read(&as_physician, ResourceType::Patient, &patient.id).await.is_ok());
//! # Ok(())
//! # }
//! ```
//!
//! `examples/consent_guard.rs` goes on to searches, the positive control and revocation.
//!
//! This crate has no feature flags.
#![warn(missing_docs)]

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
pub mod observations;
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
