//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the application API (public).
//!
//! The document is hand-written JSON, `medilink-server/openapi.json`, embedded at compile time;
//! only `info.version` is filled in here (the crate version). Why not `utoipa` derive
//! annotations: the handlers answer `serde_json::Value`s built with `json!` (see
//! [`super::consents`], [`super::documents`]), so derived schemas would need a typed response
//! struct per handler or hand-written `#[schema]` overrides anyway, and the proc-macro crates
//! (`utoipa-gen`, `syn` with full features) would add to every build of this crate on a
//! 2-core machine. A hand-written document costs nothing to compile; what keeps it true is
//! `tests/it/openapi.rs`: the route table and the document list the same routes and methods,
//! the public routes of the table are exactly the unsecured operations, and real responses of
//! the handlers validate against the documented schemas.

use std::sync::LazyLock;

use axum::Json;
use serde_json::Value;

/// The document as written in the repository (`info.version` is a placeholder there).
pub(crate) const DOCUMENT: &str = include_str!("../../openapi.json");

/// The served document: [`DOCUMENT`] with `info.version` set to the crate version.
static SERVED: LazyLock<Value> = LazyLock::new(|| {
    // A malformed document fails `tests/it/openapi.rs`; serve `null` rather than panic.
    let mut document: Value = serde_json::from_str(DOCUMENT).unwrap_or(Value::Null);
    if let Some(info) = document.get_mut("info").and_then(Value::as_object_mut) {
        info.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    }
    document
});

/// `GET /api/openapi.json`.
pub(crate) async fn document() -> Json<Value> {
    Json(SERVED.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_document_carries_the_crate_version() {
        assert_eq!(SERVED["openapi"], "3.1.0");
        assert_eq!(SERVED["info"]["version"], env!("CARGO_PKG_VERSION"));
    }
}
