//! HTTP integration tests of `medilink-server` (one test binary).

mod support;

mod audit;
mod bundle;
mod consent;
mod errors;
mod failures;
mod history;
mod live;
mod lockouts;
mod metadata;
mod read_write;
mod route_table;
mod search;
mod tokens;
