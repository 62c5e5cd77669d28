//! The `medilink-worker` binary: parses the command line, sets up logging (and, with
//! `--otlp-endpoint`, trace export) and runs the worker until SIGTERM or Ctrl-C.

use clap::Parser;
use medilink_worker::config::Cli;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt::layer().with_filter(
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
    );
    let (traces, telemetry) = match cli.otlp_endpoint.as_deref() {
        Some(endpoint) => {
            let (layer, telemetry) =
                medilink_platform::telemetry::otlp_layer(endpoint, "medilink-worker")?;
            (Some(layer), Some(telemetry))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    let config = cli.validate()?;
    let outcome =
        medilink_worker::run::run(config, medilink_platform::worker::shutdown_signal()).await;
    drop(telemetry); // exports the last spans
    outcome
}
