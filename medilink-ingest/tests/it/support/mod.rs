//! Helpers of the integration tests.

pub(crate) mod fake_http;
