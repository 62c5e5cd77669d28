//! Running the commands: `serve` (with graceful shutdown), `migrate` and `import`.

use std::sync::Arc;

use anyhow::Context;
use medilink_fhir::SystemClock;

use crate::config::{Cli, Command, ServeConfig};
use crate::state::{AppState, open_storage};

/// Runs the command the command line names.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => serve(args.validate(&cli.storage)?).await,
        Command::Migrate => {
            let (store, _ids) =
                open_storage(&cli.storage.validate(true)?, Arc::new(SystemClock)).await?;
            tracing::info!("migrations applied");
            store.close().await.context("closing the store")
        }
        Command::Import { paths } => {
            let (store, ids) =
                open_storage(&cli.storage.validate(true)?, Arc::new(SystemClock)).await?;
            crate::import::run(store.clone(), ids, paths.clone()).await?;
            store.close().await.context("closing the store")
        }
    }
}

/// Serves the HTTP API until SIGTERM or Ctrl-C, then drains in-flight requests.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let state = AppState::from_config(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "--listen / MEDILINK_SERVER_LISTEN: cannot bind {}",
                config.listen
            )
        })?;
    tracing::info!(listen = %config.listen, "serving the FHIR API at /fhir/R4");
    let store = state.store.clone();
    axum::serve(listener, crate::app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server error")?;
    store.close().await.context("closing the store")?;
    tracing::info!("shut down");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}
