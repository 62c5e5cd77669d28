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

use crate::auth::demographics::Demographics;
use crate::auth::service::{NewAccount, PatientRecord};
use crate::auth::{Auth, AuthSettings};
use crate::config::{
    AuditCommand, Cli, Command, PatientArgs, ServeConfig, SmartCommand, UserCommand, WorkerSettings,
};
use crate::state::{AppState, open_platform, open_search_index, open_storage};

/// How long requests in flight may run after SIGTERM before the server closes them. With the
/// worker's grace period (20 s, running alongside) and the final audit flush, a server exits
/// within 30 s of SIGTERM: the `terminationGracePeriodSeconds` default of Kubernetes and the
/// `stop_grace_period` to give compose (ARCHITECTURE, "Reliability").
pub const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(25);

/// How often the full-text follower polls the change feed when caught up.
const FULLTEXT_POLL: std::time::Duration = std::time::Duration::from_secs(1);
/// How often the subscription dispatcher looks for new events and due rest-hooks.
const SUBSCRIPTION_POLL: std::time::Duration = std::time::Duration::from_millis(500);

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
            patient,
        }) => user_add(&cli, email, password, role, name.as_deref(), patient).await,
        Command::Audit(AuditCommand::Verify) => audit_verify(&cli).await,
        Command::Doctor => crate::doctor::run(&cli.storage, &cli.keys).await,
        Command::Smart(SmartCommand::RotateKey) => {
            let storage = cli.storage.validate(false)?;
            let kid = crate::smart::SigningKeys::rotate(&storage.data_dir.join("keys"))?;
            tracing::info!(%kid, "SMART signing key rotated: restart the servers");
            Ok(())
        }
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
    patient: &PatientArgs,
) -> anyhow::Result<()> {
    let role = Role::parse(role).with_context(|| {
        format!("--role: {role:?} is not patient, physician, admin or researcher")
    })?;
    let demographics = cli_demographics(role, name, patient)?;
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
        .create(NewAccount {
            email,
            password,
            name,
            role,
            status: Some(AccountStatus::Active),
            patient: PatientRecord::Create(demographics.as_ref()),
        })
        .await?;
    tracing::info!(user_id = %user.id, %role, "user added");
    drop(auth);
    store.close().await.context("closing the store")
}

/// The demographics of `user add` for a patient (validated as at registration; names from
/// `--name` when `--given`/`--family` are absent, gender `unknown` by default), `None` for
/// the other roles, which refuse the patient flags.
fn cli_demographics(
    role: Role,
    name: Option<&str>,
    args: &PatientArgs,
) -> anyhow::Result<Option<Demographics>> {
    if role != Role::Patient {
        if args.any() {
            anyhow::bail!(
                "--given, --family, --birth-date, --gender and --phone are for --role patient only"
            );
        }
        return Ok(None);
    }
    let words: Vec<&str> = name.unwrap_or_default().split_whitespace().collect();
    let given = if args.given.is_empty() {
        words
            .split_last()
            .map(|(_, first)| first.iter().map(|w| w.to_string()).collect())
            .unwrap_or_default()
    } else {
        args.given.clone()
    };
    let family = args
        .family
        .clone()
        .or_else(|| words.last().map(|w| w.to_string()))
        .unwrap_or_default();
    if given.is_empty() || family.trim().is_empty() {
        anyhow::bail!(
            "a patient needs --given and --family (or a --name of two words or more, \
             e.g. --name \"Ada Lovelace\")"
        );
    }
    let Some(birth_date) = args.birth_date.clone() else {
        anyhow::bail!("a patient needs --birth-date YYYY-MM-DD");
    };
    let demographics = Demographics {
        given,
        family,
        birth_date,
        gender: args.gender.clone().unwrap_or_else(|| "unknown".to_owned()),
        phone: args.phone.clone(),
    };
    let today = time::OffsetDateTime::now_utc().date();
    let valid = demographics.validate(today).map_err(|error| {
        anyhow::anyhow!("--{}: {}", error.field.replace('_', "-"), error.reason)
    })?;
    Ok(Some(valid))
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
    let _serve_lock = sqlite_serve_lock(&config)?;
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
    // FHIR Subscriptions: every server numbers and sends (issue #21), unless
    // `--no-subscription-dispatch` leaves it to workers.
    let dispatcher = config.subscription_dispatch.then(|| {
        tokio::spawn(
            state
                .subscriptions
                .as_ref()
                .clone()
                .run(SUBSCRIPTION_POLL, stopped(signalled.clone())),
        )
    });
    let worker = config
        .worker
        .map(|settings| tokio::spawn(worker(&state, settings).run(stopped(signalled.clone()))));
    // An upload cut between its document and its job (a crash) gets its job now rather than
    // at the next periodic `document.relay` (issue #24).
    let relay = state.job_deps.document_relay();
    tokio::spawn(async move {
        match relay.follow().await {
            Ok(result) if result.told > 0 => {
                tracing::warn!(
                    queued = result.told,
                    "documents without a job queued at start-up"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "document relay at start-up failed"),
        }
    });
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
    if let Some(dispatcher) = dispatcher {
        let _ = dispatcher.await;
    }
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

/// The SQLite file `url` names (`None`: not SQLite, or an in-memory database).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path.is_empty() || path == ":memory:" || query.contains("mode=memory");
    (!memory).then(|| std::path::PathBuf::from(path))
}

/// On SQLite without Redis, unless `--shared-sqlite`: an exclusive lock on
/// `<database file>.serve-lock`, held while the server runs (the system drops it when the
/// process ends, even killed), so this process is the only server on the database and may
/// keep its security state in process (`state::single_server`). A second server on the same
/// file is refused with an error that names the option.
fn sqlite_serve_lock(config: &ServeConfig) -> anyhow::Result<Option<std::fs::File>> {
    if config.shared_sqlite || config.security.redis_url.is_some() {
        return Ok(None);
    }
    let Some(database) = sqlite_file(&config.storage.sql.url) else {
        return Ok(None);
    };
    let mut name = database.clone().into_os_string();
    name.push(".serve-lock");
    let path = std::path::PathBuf::from(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the serve lock {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another server already serves the SQLite database {}: run one server per SQLite \
             file, or pass --shared-sqlite (MEDILINK_SHARED_SQLITE) to every server on it \
             (security state is then kept in the database, not in process)",
            database.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(err).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(given: &[&str], family: Option<&str>, birth: Option<&str>) -> PatientArgs {
        PatientArgs {
            given: given.iter().map(|g| g.to_string()).collect(),
            family: family.map(str::to_owned),
            birth_date: birth.map(str::to_owned),
            ..PatientArgs::default()
        }
    }

    #[test]
    fn a_patient_gets_demographics_from_the_flags_or_the_name() {
        let flags = cli_demographics(
            Role::Patient,
            None,
            &args(&["Mary", "Jane"], Some("Seacole"), Some("1975-11-23")),
        )
        .unwrap()
        .unwrap();
        assert_eq!(flags.given, ["Mary", "Jane"]);
        assert_eq!(flags.family, "Seacole");
        assert_eq!(flags.gender, "unknown");
        let named = cli_demographics(
            Role::Patient,
            Some(" Ada  King Lovelace "),
            &args(&[], None, Some("1985-12-10")),
        )
        .unwrap()
        .unwrap();
        assert_eq!(named.given, ["Ada", "King"]);
        assert_eq!(named.family, "Lovelace");
        let patient = named.new_patient();
        assert_eq!(patient["birthDate"], "1985-12-10");
        assert_eq!(patient["name"][0]["family"], "Lovelace");
    }

    #[test]
    fn bad_or_missing_demographics_are_refused_naming_the_flag() {
        let refused = |role, name, args: PatientArgs| {
            cli_demographics(role, name, &args).unwrap_err().to_string()
        };
        assert!(
            refused(
                Role::Patient,
                Some("Ada"),
                args(&[], None, Some("1985-12-10"))
            )
            .contains("--family")
        );
        assert!(
            refused(Role::Patient, Some("Ada Lovelace"), args(&[], None, None))
                .contains("--birth-date")
        );
        assert!(
            refused(
                Role::Patient,
                Some("Ada Lovelace"),
                args(&[], None, Some("2999-01-01"))
            )
            .starts_with("--birth-date:")
        );
        let mut robot = args(&[], None, Some("1985-12-10"));
        robot.gender = Some("robot".into());
        assert!(refused(Role::Patient, Some("Ada Lovelace"), robot).starts_with("--gender:"));
        assert!(
            refused(
                Role::Physician,
                Some("Dr A"),
                args(&[], None, Some("1985-12-10"))
            )
            .contains("patient only")
        );
        assert!(
            cli_demographics(Role::Physician, Some("Dr A"), &PatientArgs::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_sqlite_file_of_a_url() {
        assert_eq!(
            sqlite_file("sqlite:///tmp/x/medilink.db?mode=rwc"),
            Some("/tmp/x/medilink.db".into())
        );
        assert_eq!(sqlite_file("sqlite:data/m.db"), Some("data/m.db".into()));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(
            sqlite_file("sqlite://file.db?mode=memory&cache=shared"),
            None
        );
        assert_eq!(sqlite_file("postgres://postgres@127.0.0.1/test"), None);
    }
}
