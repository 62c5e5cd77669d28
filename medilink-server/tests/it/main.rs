//! HTTP integration tests of `medilink-server` (one test binary).

mod support;

mod access_log;
mod access_rule;
mod accounts;
mod admin;
mod audit;
mod bundle;
mod cli;
mod clinical;
mod consent;
mod consent_paths;
mod directory;
mod documents;
mod documents_llm;
mod errors;
mod export;
mod failures;
mod history;
mod jobs;
mod limits;
mod live;
mod lockouts;
mod metadata;
mod metrics;
mod mfa;
mod notifications;
mod openapi;
mod rate_limits;
mod read_write;
mod research;
mod restart;
mod route_table;
mod search;
mod static_files;
mod tokens;
