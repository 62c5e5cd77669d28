//! Store failures that plain requests cannot provoke (write conflicts, an unreachable or
//! broken backend), through a store double that fails writes and delegates everything else.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use medilink_fhir::{
    FhirError, FhirResult, HistoryPage, HistoryQuery, RequestContext, ResourceId, ResourceStore,
    ResourceType, StoredResource, VersionId, WriteOp, WriteOutcome,
};
use serde_json::Value;

use crate::support::{TestApp, patient};

/// Updates fail with a write conflict, deletes with an unavailable backend, creates with an
/// internal error; reads and history go to the real store.
#[derive(Debug)]
struct FailingStore(Arc<dyn ResourceStore>);

fn broken() -> Box<dyn std::error::Error + Send + Sync> {
    "connection reset while writing row 42 of table resource_versions".into()
}

#[async_trait]
impl ResourceStore for FailingStore {
    async fn create(&self, _ctx: &RequestContext, _resource: Value) -> FhirResult<StoredResource> {
        Err(FhirError::Internal { source: broken() })
    }
    async fn read(
        &self,
        ctx: &RequestContext,
        ty: ResourceType,
        id: &ResourceId,
    ) -> FhirResult<StoredResource> {
        self.0.read(ctx, ty, id).await
    }
    async fn vread(
        &self,
        ctx: &RequestContext,
        ty: ResourceType,
        id: &ResourceId,
        version: VersionId,
    ) -> FhirResult<StoredResource> {
        self.0.vread(ctx, ty, id, version).await
    }
    async fn update(
        &self,
        _ctx: &RequestContext,
        resource_type: ResourceType,
        id: &ResourceId,
        _resource: Value,
        _if_match: Option<VersionId>,
    ) -> FhirResult<WriteOutcome> {
        Err(FhirError::WriteConflict {
            resource_type,
            id: id.clone(),
        })
    }
    async fn delete(
        &self,
        _ctx: &RequestContext,
        _ty: ResourceType,
        _id: &ResourceId,
        _if_match: Option<VersionId>,
    ) -> FhirResult<Option<WriteOutcome>> {
        Err(FhirError::Unavailable { source: broken() })
    }
    async fn history(&self, ctx: &RequestContext, query: &HistoryQuery) -> FhirResult<HistoryPage> {
        self.0.history(ctx, query).await
    }
    async fn transaction(
        &self,
        ctx: &RequestContext,
        ops: Vec<WriteOp>,
    ) -> FhirResult<Vec<Option<WriteOutcome>>> {
        self.0.transaction(ctx, ops).await
    }
    async fn find_by_identifier(
        &self,
        ctx: &RequestContext,
        resource_type: ResourceType,
        system: Option<&str>,
        value: &str,
    ) -> FhirResult<Vec<ResourceId>> {
        self.0
            .find_by_identifier(ctx, resource_type, system, value)
            .await
    }
    async fn search(
        &self,
        _ctx: &RequestContext,
        _query: &medilink_fhir::search::SearchQuery,
    ) -> FhirResult<medilink_fhir::search::SearchPage> {
        Err(FhirError::Unavailable { source: broken() })
    }

    async fn changes_since(
        &self,
        _ctx: &RequestContext,
        _after: u64,
        _limit: usize,
    ) -> FhirResult<Vec<StoredResource>> {
        Err(FhirError::Unavailable { source: broken() })
    }

    async fn close(&self) -> FhirResult<()> {
        Ok(())
    }
}

async fn failing_app() -> TestApp {
    let real = TestApp::new().await;
    let mut state = real.state.clone();
    let failing: Arc<dyn ResourceStore> = Arc::new(FailingStore(real.state.store.inner().clone()));
    state.store = real.state.store.rewrap(failing);
    real.with_state(state)
}

#[tokio::test]
async fn write_conflicts_are_409() {
    let app = failing_app().await;
    let mut body = patient();
    body["id"] = serde_json::json!("p1");
    app.put("/fhir/R4/Patient/p1", &body)
        .await
        .assert_outcome(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn an_unavailable_backend_is_503_with_retry_after_and_not_ready() {
    let app = failing_app().await;
    let response = app.delete("/fhir/R4/Patient/p1").await;
    response.assert_outcome(StatusCode::SERVICE_UNAVAILABLE, "transient");
    assert_eq!(response.header("retry-after"), "5");
    assert!(!response.text().contains("connection reset"));
    assert_eq!(
        app.get("/health/ready").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn internal_errors_name_the_request_id_but_not_the_detail() {
    let app = failing_app().await;
    let headers = [
        ("content-type", "application/fhir+json"),
        ("x-request-id", "req-77"),
    ];
    let response = app
        .request(
            Method::POST,
            "/fhir/R4/Patient",
            &headers,
            Body::from(patient().to_string()),
        )
        .await;
    response.assert_outcome(StatusCode::INTERNAL_SERVER_ERROR, "exception");
    let diagnostics = response.json()["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(diagnostics.contains("req-77"), "{diagnostics}");
    assert!(!response.text().contains("resource_versions"));
}
