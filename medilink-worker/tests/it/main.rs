//! Integration tests of `medilink-worker`, against the compiled binary (one test binary).

mod documents;
mod every_kind;
mod export;
mod mail;
mod metrics;
mod outbox_crash;
mod release;
mod subscriptions;
mod two_workers;
