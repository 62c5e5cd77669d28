//! The `medilink-worker` binary: parses the command line and runs the worker until SIGTERM or
//! Ctrl-C.

use clap::Parser;
use medilink_worker::config::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = Cli::parse().validate()?;
    medilink_worker::run::run(config, medilink_platform::worker::shutdown_signal()).await
}
