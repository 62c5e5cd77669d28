//! The platform crate's integration tests, linked into one binary.
#![allow(
    clippy::disallowed_methods,
    reason = "tests read their database urls from the environment and name throwaway databases (clippy.toml bans these in library code)"
)]

mod audit_tip;
mod jobs_support;
mod jobs_worker;
mod notifications;
mod shared_pool;
mod subscription_states;
mod upgrade;
