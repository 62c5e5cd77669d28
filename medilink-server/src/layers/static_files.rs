//! The web dashboards: the built staff portal (`/`: physicians, and the admin and research
//! sections, `/admin/…`, `/research/…`, `/invite/{token}`) and patient portal (`/patient/`) of
//! `dashboards/dist`, embedded into the binary at build time (read from disk in debug builds)
//! or read from a configured directory.
//!
//! Rules: `GET`/`HEAD` only; `/api`, `/fhir`, `/health`, `/metrics`, `/oauth` and
//! `/.well-known` are never answered
//! here. Hashed assets (`/assets/…`) are `immutable` for a year, everything else (the HTML)
//! `no-cache` with an `ETag`. An unknown path that is not an asset gets its portal's
//! `index.html` (SPA fallback: `/patient/…` and the SMART consent screen `/smart/…` → the
//! patient portal, anything else → the physician portal); a missing asset is a plain `404`. Without built dashboards the portals
//! answer a short page saying how to build them.

use std::borrow::Cow;
use std::path::Path;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::config::Dashboards;
use crate::state::AppState;

/// `dashboards/dist` as of the build (empty when it was not built).
#[derive(rust_embed::Embed)]
#[folder = "$CARGO_MANIFEST_DIR/../dashboards/dist/"]
#[allow_missing = true]
struct Embedded;

/// Path prefixes that belong to the APIs, never to the dashboards.
const RESERVED: [&str; 6] = [
    "/api",
    "/fhir",
    "/health",
    "/metrics",
    "/oauth",
    "/.well-known",
];

/// Content security policy of the dashboard pages: the default one, plus `data:` images (the
/// TOTP enrolment QR code is a `data:` URL).
const PAGE_CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                        frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The bytes of `file` of `dashboards` (a relative path already checked by [`file_path`]).
async fn read(dashboards: &Dashboards, file: &str) -> Option<Cow<'static, [u8]>> {
    match dashboards {
        Dashboards::Embedded => Embedded::get(file).map(|embedded| embedded.data),
        Dashboards::Dir(dir) => read_regular_file(&dir.join(file)).await.map(Cow::Owned),
    }
}

async fn read_regular_file(path: &Path) -> Option<Vec<u8>> {
    let metadata = tokio::fs::metadata(path).await.ok()?;
    if !metadata.is_file() {
        return None;
    }
    tokio::fs::read(path).await.ok()
}

/// Whether the dashboards middleware answers a `method` request for `path` (the metrics
/// give all of its answers one route label).
pub(crate) fn serves(app: &AppState, method: &Method, path: &str) -> bool {
    app.dashboards.is_some() && matches!(*method, Method::GET | Method::HEAD) && !reserved(path)
}

/// Whether `path` belongs to an API (`/api`, `/api/…`, …).
fn reserved(path: &str) -> bool {
    RESERVED.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The relative file a URL path names (`/` → `index.html`, `/patient/` →
/// `patient/index.html`), or `None` when it could escape the directory or is not plain.
fn file_path(path: &str) -> Option<String> {
    let relative = path.strip_prefix('/')?;
    let mut file = relative.to_owned();
    if file.is_empty() || file.ends_with('/') {
        file.push_str("index.html");
    }
    let plain = file.split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && !segment.starts_with('.')
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
    });
    plain.then_some(file)
}

/// Whether a missing path is an asset (a plain `404`) rather than a client route (the SPA
/// fallback): anything under `/assets/`, and top-level files such as `/favicon.ico`.
fn is_asset(path: &str) -> bool {
    let relative = path.trim_start_matches('/');
    relative.starts_with("assets/")
        || (!relative.contains('/') && relative.contains('.') && !relative.ends_with(".html"))
}

/// The index page a client route of `path` belongs to.
fn fallback_index(path: &str) -> &'static str {
    // Issue #17: the SMART consent screen is a page of the patient portal's bundle.
    if path.starts_with("/patient/") || path.starts_with("/smart/") {
        "patient/index.html"
    } else {
        "index.html"
    }
}

/// The `Content-Type` of `file`, from its extension.
fn content_type(file: &str) -> &'static str {
    let extension = file.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The response for `file` with its bytes.
fn file_response(request: &Request, file: &str, bytes: Cow<'static, [u8]>) -> Response {
    let immutable = file.starts_with("assets/");
    let tag = etag(&bytes);
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|candidate| candidate.trim() == tag));
    let status = if unchanged {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let body = if unchanged || request.method() == Method::HEAD {
        Body::empty()
    } else {
        Body::from(bytes)
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(file)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { IMMUTABLE } else { "no-cache" }),
    );
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    if file.ends_with(".html") {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_CSP),
        );
    }
    response
}

fn plain(status: StatusCode, cache: &'static str, html: &'static str) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>MediLink</title></head><body><main><h1>The dashboards are not built</h1>\
<p>The FHIR API is running at <a href=\"/fhir/R4/metadata\">/fhir/R4</a>. To serve the web \
dashboards, build them (<code>npm ci &amp;&amp; npm run build</code> in <code>dashboards/</code>, \
or run <code>scripts/run</code>) or point <code>--dashboards-dir</code> at a build.</p>\
</main></body></html>";

const NOT_FOUND: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Not found</title></head><body><h1>Not found</h1></body></html>";

/// Middleware (outside authentication: the pages are public, the data behind them is not):
/// answers dashboard paths, passes everything else on.
pub(crate) async fn serve(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(dashboards) = app.dashboards.as_ref() else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    if !matches!(*request.method(), Method::GET | Method::HEAD) || reserved(path) {
        return next.run(request).await;
    }
    if path == "/patient" {
        let mut response = StatusCode::PERMANENT_REDIRECT.into_response();
        response
            .headers_mut()
            .insert(header::LOCATION, HeaderValue::from_static("/patient/"));
        return response;
    }
    let file = file_path(path);
    if let Some(file) = &file
        && let Some(bytes) = read(dashboards, file).await
    {
        return file_response(&request, file, bytes);
    }
    if is_asset(path) {
        return plain(StatusCode::NOT_FOUND, "no-cache", NOT_FOUND);
    }
    let index = fallback_index(path);
    match read(dashboards, index).await {
        Some(bytes) => file_response(&request, index, bytes),
        None => plain(StatusCode::NOT_FOUND, "no-store", NOT_BUILT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_prefixes_are_reserved_and_paths_stay_inside() {
        for path in [
            "/api",
            "/api/auth/me",
            "/fhir/R4/Patient",
            "/health",
            "/metrics",
        ] {
            assert!(reserved(path), "{path}");
        }
        for path in ["/", "/apix", "/patient/", "/healthy"] {
            assert!(!reserved(path), "{path}");
        }
        assert_eq!(file_path("/").as_deref(), Some("index.html"));
        assert_eq!(
            file_path("/patient/").as_deref(),
            Some("patient/index.html")
        );
        assert_eq!(
            file_path("/assets/app-1a2b.js").as_deref(),
            Some("assets/app-1a2b.js")
        );
        for path in [
            "/../secret",
            "/assets/../../x",
            "/.env",
            "/a//b",
            "/a%2e%2e/x",
            "/a\\b",
        ] {
            assert_eq!(file_path(path), None, "{path}");
        }
    }

    #[test]
    fn assets_and_client_routes_are_told_apart() {
        assert!(is_asset("/assets/missing.js"));
        assert!(is_asset("/favicon.ico"));
        assert!(!is_asset("/patients/123"));
        assert!(!is_asset("/patients/id.with.dots"));
        assert!(!is_asset("/patient/records/index.html"));
        assert_eq!(fallback_index("/patient/records"), "patient/index.html");
        assert_eq!(fallback_index("/patients/p1"), "index.html");
        // Issue #15: the admin and research sections and the invitation links are client
        // routes of the staff portal (a hard reload of a deep link loads it).
        for path in [
            "/admin",
            "/admin/users/u-1",
            "/admin/audit",
            "/research/exports/e1",
            "/invite/Zm9vYmFy-_0123456789abcdefABCDEF",
        ] {
            assert!(!is_asset(path), "{path}");
            assert_eq!(fallback_index(path), "index.html", "{path}");
        }
        assert_eq!(
            content_type("assets/a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("x.unknown"), "application/octet-stream");
    }
}
