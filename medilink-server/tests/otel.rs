//! Issue #19: traces reach an OTLP collector (`it/telemetry.rs`), in a test binary of its own:
//! the exporting subscriber is process-wide, as in the hosts.

#![allow(
    dead_code,
    reason = "the shared helpers of tests/it, of which this binary uses a few"
)]

#[path = "it/support/mod.rs"]
mod support;
#[path = "it/telemetry.rs"]
mod telemetry;
