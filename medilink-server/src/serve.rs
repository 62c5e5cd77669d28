//! Running the commands: `serve` (with graceful shutdown, and `--demo`), `migrate`, `import`,
//! `doctor` and the others.

use std::future::IntoFuture;
use std::sync::Arc;

use anyhow::Context;
use medilink_fhir::{Clock, SystemClock};
use medilink_jobs::register_jobs;
use medilink_platform::admin_jobs::register_reindex;
use medilink_platform::maintenance::register_fulltext;
use medilink_platform::worker::{Registry, Worker, WorkerOptions};
use medilink_platform::{AccountStatus, Role};

use crate::auth::{Auth, AuthSettings};
use crate::config::{AuditCommand, Cli, Command, ServeConfig, UserCommand, WorkerSettings};
use crate::state::{AppState, open_platform, open_search_index, open_storage};

/// How long requests in flight may run after SIGTERM before the server closes them. With the
/// worker's grace period (20 s, running alongside) and the final audit flush, a server exits
/// within 30 s of SIGTERM: the `terminationGracePeriodSeconds` default of Kubernetes and the
/// `stop_grace_period` to give compose (ARCHITECTURE, "Reliability").
pub const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(25);

/// How often the full-text follower polls the change feed when caught up.
const FULLTEXT_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the command the command line names.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => serve(args.validate(&cli.storage, &cli.keys)?).await,
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
        Command::Reindex => reindex(&cli).await,
        Command::User(UserCommand::Add {
            email,
            password,
            role,
            name,
        }) => user_add(&cli, email, password, role, name.as_deref()).await,
        Command::Audit(AuditCommand::Verify) => audit_verify(&cli).await,
        Command::Doctor => crate::doctor::run(&cli.storage, &cli.keys).await,
        Command::Backup { to, include_keys } => crate::backup::backup(&cli, to, *include_keys)
            .await
            .map(drop),
        Command::Restore { from } => crate::backup::restore(&cli, from).await.map(drop),
        Command::Openapi => {
            use std::io::Write as _;
            let document = crate::openapi_document();
            std::io::stdout().lock().write_all(document.as_bytes())?;
            Ok(())
        }
    }
}

/// `reindex`: empties the full-text index and refills it from the whole change feed.
async fn reindex(cli: &Cli) -> anyhow::Result<()> {
    use medilink_fhir::fulltext::SearchIndex;
    let storage = cli.storage.validate(true)?;
    let (store, _ids) = open_storage(&storage, Arc::new(SystemClock)).await?;
    let index = open_search_index(&storage)
        .await
        .context("is a server still running on this data directory?")?;
    let applied = index
        .rebuild(
            store.as_ref(),
            &medilink_fhir::RequestContext::system(),
            &|_| {},
        )
        .await
        .context("rebuilding the full-text index")?;
    tracing::info!(applied, "full-text index rebuilt");
    drop(index);
    store.close().await.context("closing the store")
}

/// `user add`: an active account (TOTP is enrolled at first login where mandatory).
async fn user_add(
    cli: &Cli,
    email: &str,
    password: &str,
    role: &str,
    name: Option<&str>,
) -> anyhow::Result<()> {
    let role = Role::parse(role).with_context(|| {
        format!("--role: {role:?} is not patient, physician, admin or researcher")
    })?;
    let storage = cli.storage.validate(true)?;
    let keys = cli.keys.keys(&storage.data_dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (store, platform, _ids) = open_platform(&storage, clock.clone()).await?;
    let auth = Auth::new(
        platform.accounts,
        platform.kv,
        clock,
        store.clone(),
        keys,
        AuthSettings::default(),
    )?;
    let user = auth
        .create_account(email, password, name, role, Some(AccountStatus::Active))
        .await?;
    tracing::info!(user_id = %user.id, %role, "user added");
    drop(auth);
    store.close().await.context("closing the store")
}

/// `audit verify`: fails naming the first broken record.
async fn audit_verify(cli: &Cli) -> anyhow::Result<()> {
    let storage = cli.storage.validate(true)?;
    let (_store, platform, _ids) = open_platform(&storage, Arc::new(SystemClock)).await?;
    let verification = platform.audit.verify().await?;
    match verification.first_broken {
        None => {
            tracing::info!(records = verification.records, "audit trail verified");
            Ok(())
        }
        Some(seq) => anyhow::bail!(
            "audit trail broken at record {seq} ({} records verified before it)",
            verification.records
        ),
    }
}

/// Resolves once `signalled` turns true (or its sender is gone).
async fn stopped(mut signalled: tokio::sync::watch::Receiver<bool>) {
    let _ = signalled.wait_for(|stop| *stop).await;
}

/// Serves the HTTP API until SIGTERM or Ctrl-C, then drains in-flight requests (at most
/// [`SHUTDOWN_DRAIN`]) and releases the jobs its worker still holds.
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
    if let Some(testdata) = &config.demo {
        let setup = crate::demo::prepare(&state, testdata).await?;
        let base_url = config
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", config.listen));
        setup.print(&mut std::io::stdout().lock(), &base_url)?;
    }
    tracing::info!(listen = %config.listen, "serving the FHIR API at /fhir/R4");
    // One shutdown signal for everything: at SIGTERM (or Ctrl-C) the listener closes, requests
    // in flight finish (for at most `SHUTDOWN_DRAIN`), and the worker stops leasing at once,
    // lets its running jobs finish for its grace period and releases the rest.
    let (signal, signalled) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        medilink_platform::worker::shutdown_signal().await;
        let _ = signal.send(true);
    });
    // The index follower and shutdown are the platform's own work: the unguarded store.
    let store = state.store.inner().clone();
    let follower = tokio::spawn(medilink_fhir::fulltext::follow(
        store.clone(),
        state.search_index.clone(),
        FULLTEXT_POLL,
        stopped(signalled.clone()),
    ));
    let worker = config
        .worker
        .map(|settings| tokio::spawn(worker(&state, settings).run(stopped(signalled.clone()))));
    let app = crate::app(state.clone());
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(signalled.clone()))
    .into_future();
    let drain_deadline = async {
        stopped(signalled.clone()).await;
        tokio::time::sleep(SHUTDOWN_DRAIN).await;
    };
    let served = tokio::select! {
        served = server => served.context("server error"),
        () = drain_deadline => {
            tracing::warn!(
                drain_secs = SHUTDOWN_DRAIN.as_secs(),
                "requests still running at the end of the drain: closing them"
            );
            Ok(())
        }
    };
    let _ = follower.await;
    if let Some(worker) = worker {
        match worker.await {
            Ok(report) => tracing::info!(
                ran = report.ran,
                released = report.released,
                "worker stopped"
            ),
            Err(err) => tracing::error!(error = %err, "worker task failed"),
        }
    }
    served?;
    state.audit.flush().await;
    store.close().await.context("closing the store")?;
    tracing::info!("shut down");
    Ok(())
}

/// The handlers of a server process's worker: every queue-wide kind
/// ([`medilink_jobs::register_jobs`], the same call `medilink-worker` makes), and the
/// full-text catch-up and rebuild of this process's own index (`maintenance.fulltext`,
/// `maintenance.reindex`: node-local).
pub fn registry(state: &AppState) -> Registry {
    let mut registry = Registry::new();
    register_jobs(&mut registry, &state.job_deps);
    register_fulltext(
        &mut registry,
        state.store.inner().clone(),
        state.search_index.clone(),
    );
    register_reindex(
        &mut registry,
        state.store.inner().clone(),
        state.search_index.clone(),
        state.jobs.clone(),
    );
    registry
}

/// The job worker of a server process, running [`registry`].
pub fn worker(state: &AppState, settings: WorkerSettings) -> Worker {
    let registry = registry(state);
    let worker_id = format!("server-{}-{}", std::process::id(), uuid::Uuid::new_v4());
    let mut options = WorkerOptions::new(worker_id);
    options.concurrency = settings.concurrency;
    options.lease = settings.lease;
    Worker::new(state.jobs.clone(), registry, state.clock.clone(), options)
}
