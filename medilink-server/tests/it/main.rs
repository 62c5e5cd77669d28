//! HTTP integration tests of `medilink-server` (one test binary).

mod support;

mod bundle;
mod errors;
mod failures;
mod history;
mod live;
mod metadata;
mod read_write;
