//! `medilink-worker`: runs the queued jobs of MediLink in processes of their own, as many as
//! needed on one database (the embedded default runs the same loop inside the server).
//!
//! It is thin: [`config`] parses the command line, [`run`] opens the stores and runs the
//! library's [`Worker`](medilink_platform::worker::Worker) with the handlers registered
//! in [`run::registry`] until SIGTERM or Ctrl-C; with `--metrics-listen` it serves [`metrics`]
//! at `GET /metrics`.

pub mod config;
pub mod metrics;
pub mod run;
pub mod test_handlers;
