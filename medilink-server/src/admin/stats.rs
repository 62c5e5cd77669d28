//! `GET /api/admin/stats`: what the platform holds, cheaply. Resources by type come from the
//! last run of the daily `maintenance.statistics` job (counted now when it has not run yet);
//! everything else is an indexed count: patients and active consents (a `_summary=count`
//! search each), break-glass grants (audit records by action and instant), jobs by kind and
//! status (one grouped count) and accounts by role.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use medilink_fhir::clock::format_instant;
use medilink_fhir::jobs::{JobFilter, JobKind, JobStatus};
use medilink_fhir::search::SearchQuery;
use medilink_fhir::{RequestContext, ResourceStore, ResourceType};
use medilink_platform::maintenance::Statistics;
use medilink_platform::{AccountStatus, Action, AuditFilter, Role, UserFilter};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// Break-glass grants in the last day and week.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BreakGlassCounts {
    last_24h: u64,
    last_7d: u64,
}

/// The platform's numbers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminStats {
    /// When these numbers were gathered.
    #[schema(format = DateTime)]
    computed_at: String,
    /// Current resources by type (types without any left out), as of the last statistics
    /// run.
    resources: BTreeMap<String, u64>,
    /// Current `Patient` resources.
    patients: u64,
    /// `Consent` resources with status `active` (grants and break-glass).
    active_consents: u64,
    break_glass: BreakGlassCounts,
    /// Document ingest jobs by status.
    documents: BTreeMap<String, u64>,
    /// Every job by status.
    jobs: BTreeMap<String, u64>,
    /// Bulk Data and research export jobs by status.
    exports: BTreeMap<String, u64>,
    /// Accounts by role.
    users: BTreeMap<String, u64>,
    /// Physicians waiting for approval.
    pending_physicians: u64,
}

/// Current resources matching `params` on `resource_type` (a count-only search).
async fn count(
    store: &dyn ResourceStore,
    resource_type: ResourceType,
    params: &[(&str, &str)],
) -> Result<u64, ApiError> {
    let mut params: Vec<(String, String)> = params
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    params.push(("_summary".to_owned(), "count".to_owned()));
    let query = SearchQuery::parse(resource_type, &params, true)?;
    let page = store.search(&RequestContext::system(), &query).await?;
    Ok(page.total.unwrap_or(0))
}

/// Resources by type from the last completed statistics run, else counted now.
async fn resources(
    app: &AppState,
    store: Arc<dyn ResourceStore>,
) -> Result<BTreeMap<String, u64>, ApiError> {
    let last = app
        .jobs
        .list(&JobFilter {
            kind: Some(Statistics::KIND.to_owned()),
            statuses: vec![JobStatus::Completed],
            limit: Some(1),
            ..JobFilter::default()
        })
        .await?;
    if let Some(counted) = last.first().and_then(|job| job.result_of::<Statistics>()) {
        return Ok(counted.resources);
    }
    let statistics = Statistics {
        store,
        queue: app.jobs.clone(),
        clock: app.clock.clone(),
    };
    Ok(statistics.count().await?.resources)
}

/// Break-glass grants recorded since `ago` before now.
async fn break_glass(app: &AppState, ago: Duration) -> Result<u64, ApiError> {
    let filter = AuditFilter {
        action: Some(Action::BreakGlass),
        since: Some(app.clock.now() - ago),
        ..AuditFilter::default()
    };
    Ok(app.audit_log.count(&filter).await?)
}

/// Accounts by role, and the physicians waiting for approval.
async fn users(app: &AppState) -> Result<(BTreeMap<String, u64>, u64), ApiError> {
    let accounts = app.auth.accounts();
    let mut users = BTreeMap::new();
    for role in Role::ALL {
        let filter = UserFilter {
            role: Some(role),
            ..UserFilter::default()
        };
        users.insert(
            role.as_str().to_owned(),
            accounts.count_users(&filter).await?,
        );
    }
    let pending = UserFilter {
        role: Some(Role::Physician),
        status: Some(AccountStatus::Pending),
        ..UserFilter::default()
    };
    Ok((users, accounts.count_users(&pending).await?))
}

/// `GET /api/admin/stats`.
pub(crate) async fn stats(app: &AppState) -> Result<AdminStats, ApiError> {
    let store = app.job_deps.store.clone();
    let summary = app.jobs.summary().await?;
    let (users, pending_physicians) = users(app).await?;
    Ok(AdminStats {
        computed_at: format_instant(app.clock.now()),
        resources: resources(app, store.clone()).await?,
        patients: count(store.as_ref(), ResourceType::Patient, &[]).await?,
        active_consents: count(
            store.as_ref(),
            ResourceType::Consent,
            &[("status", "active")],
        )
        .await?,
        break_glass: BreakGlassCounts {
            last_24h: break_glass(app, Duration::from_secs(24 * 3600)).await?,
            last_7d: break_glass(app, Duration::from_secs(7 * 24 * 3600)).await?,
        },
        documents: summary.by_status(|kind| kind == "document.ingest"),
        exports: summary.by_status(|kind| kind == "fhir.export" || kind == "research.export"),
        jobs: summary.by_status(|_| true),
        users,
        pending_physicians,
    })
}
