//! Helpers shared by the integration tests (every module declared here).

pub(crate) mod examples;
pub(crate) mod leaks;
