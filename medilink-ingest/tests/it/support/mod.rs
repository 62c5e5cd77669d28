//! Helpers of the integration tests.

pub(crate) mod fake_http;
#[path = "../../../examples/accuracy/score.rs"]
#[allow(
    dead_code,
    reason = "shared with the accuracy example; only part is used here"
)]
pub(crate) mod score;
