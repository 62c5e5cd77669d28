//! Integration tests of `medilink-worker`, against the compiled binary (one test binary).

mod documents;
mod export;
mod metrics;
mod two_workers;
