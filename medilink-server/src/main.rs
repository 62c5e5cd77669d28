//! The `medilink-server` binary: parses the command line, sets up logging (and, with
//! `--otlp-endpoint`, trace export) and runs the chosen command.

use clap::Parser;
use medilink_server::config::Cli;
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
    let (traces, telemetry) = match cli.telemetry.otlp_endpoint.as_deref() {
        Some(endpoint) => {
            let (layer, telemetry) =
                medilink_platform::telemetry::otlp_layer(endpoint, "medilink-server")?;
            (Some(layer), Some(telemetry))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .init();
    let outcome = medilink_server::serve::run(cli).await;
    drop(telemetry); // exports the last spans
    outcome
}
