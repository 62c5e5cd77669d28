//! Issue #24: mutated FHIR JSON bodies and mutated search query strings sent over HTTP to the
//! real server binary answer 4xx (or 2xx), never 5xx, each within a time limit, and the server
//! keeps answering. Seeds: the vendored HL7 examples of `medilink-fhir/tests/data/fuzz-seeds`;
//! a deterministic mutator (`MEDILINK_FUZZ_SEED` replays another run).

use std::time::Duration;

use crate::support::PASSWORD;
use crate::support::process::{Server, describe, user_add};

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "null",
    "1e999",
    "\"\\ud800\"",
    "[[[[[[[[",
    "{\"a\":",
    "\"gender\":\"male\",",
    ",,",
    "\u{0}",
    "99999999999999999999999999999999999999999",
    "\"resourceType\":\"Bundle\",",
    "%00",
    "&",
    "=",
    ":missing",
    ".",
    "_has:",
    "\\",
    "\u{ff}",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1).min(data.len());
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + 1 + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            2 => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
            3 => data.truncate(at),
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes().to_vec();
                data.splice(at..at, token);
            }
        }
    }
    data
}

const QUERIES: &[&str] = &[
    "Patient?name=x&_count=5",
    "Observation?subject:Patient.name=x&code=http://loinc.org|1234-5",
    "Observation?value-quantity=gt5.4|http://unitsofmeasure.org|mg&_sort=-date",
    "Patient?_has:Observation:subject:code=x&birthdate=ge2000-01-01",
    "Encounter?_include=Encounter:subject&_revinclude=Observation:encounter&_total=accurate",
    "Patient?_id=a,b,c&_elements=name,gender&_summary=count",
];

#[tokio::test]
async fn mutated_bodies_and_queries_never_answer_5xx_over_http() {
    let dir = tempfile::tempdir().expect("dir");
    let output = user_add(dir.path(), "admin@test.local", PASSWORD, "admin");
    assert!(output.status.success(), "{}", describe(&output));
    let output = user_add(dir.path(), "pat@test.local", PASSWORD, "patient");
    assert!(output.status.success(), "{}", describe(&output));
    let server = Server::start(dir.path()).await;
    let token = server.token("pat@test.local", PASSWORD).await;
    let seeds_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../medilink-fhir/tests/data/fuzz-seeds");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&seeds_dir)
        .expect("seeds")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| std::fs::read(path).expect("seed"))
        .collect();
    seeds.sort();
    let seed = std::env::var("MEDILINK_FUZZ_SEED")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0x5EED_0024_u64);
    let mut rng = Rng(seed.max(1));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let (mut client_errors, mut successes) = (0, 0);
    for case in 0..300 {
        let (method, url, body) = if case % 2 == 0 {
            let base = &seeds[rng.below(seeds.len())];
            let body = mutate(&mut rng, base);
            let ty = ["Patient", "Observation", ""][rng.below(3)];
            (
                reqwest::Method::POST,
                format!("{}/fhir/R4/{ty}", server.base),
                Some(body),
            )
        } else {
            let base = QUERIES[rng.below(QUERIES.len())];
            let query = mutate(&mut rng, base.as_bytes());
            // Bytes a URL cannot carry are percent-encoded, as a client would send them.
            let query: String = query
                .iter()
                .map(|&byte| {
                    if byte.is_ascii_graphic() && byte != b'#' {
                        (byte as char).to_string()
                    } else {
                        format!("%{byte:02X}")
                    }
                })
                .collect();
            (
                reqwest::Method::GET,
                format!("{}/fhir/R4/{query}", server.base),
                None,
            )
        };
        let mut request = client.request(method, &url).bearer_auth(&token);
        if let Some(body) = body.clone() {
            request = request
                .header("content-type", "application/fhir+json")
                .body(body);
        }
        let response = request.send().await;
        let response = match response {
            Ok(response) => response,
            // A URL reqwest itself refuses to send is not the server's answer.
            Err(err) if err.is_builder() => continue,
            Err(err) => panic!("case {case} (seed {seed}): no answer: {err} {url}"),
        };
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(
            !status.is_server_error(),
            "case {case} (seed {seed}): {status} for {url} {}: {text}",
            body.map(|b| String::from_utf8_lossy(&b[..b.len().min(300)]).into_owned())
                .unwrap_or_default()
        );
        if status.is_client_error() {
            client_errors += 1;
        } else {
            successes += 1;
        }
    }
    // Control: the mutator produces both refused and accepted requests.
    assert!(
        client_errors > 0 && successes > 0,
        "{client_errors} 4xx, {successes} 2xx"
    );
    // The server keeps answering.
    let health = client
        .get(format!("{}/health/ready", server.base))
        .send()
        .await
        .expect("ready answers");
    assert!(health.status().is_success());
}

/// Mutated `Authorization` headers (from a valid bearer token) and mutated multipart uploads
/// answer 4xx (or 2xx), never 5xx; the valid forms are the controls.
#[tokio::test]
async fn mutated_authorization_headers_and_uploads_never_answer_5xx() {
    use axum::http::Method;

    let app = crate::support::TestApp::new().await;
    let patient = app.create_patient().await;
    let mut rng = Rng(0x5EED_0024);
    let bearer = format!("Bearer {}", app.token);
    let control = app
        .request(
            Method::GET,
            "/fhir/R4/Patient",
            &[("authorization", &bearer)],
            "",
        )
        .await;
    assert_eq!(control.status, axum::http::StatusCode::OK, "control");
    let mut refused = 0;
    for case in 0..400 {
        let header = mutate(&mut rng, bearer.as_bytes());
        let Ok(value) = axum::http::HeaderValue::from_bytes(&header) else {
            continue;
        };
        let Ok(text) = value.to_str() else {
            continue;
        };
        let response = app
            .request(
                Method::GET,
                "/fhir/R4/Patient",
                &[("authorization", text)],
                "",
            )
            .await;
        assert!(
            !response.status.is_server_error(),
            "case {case}: {text:?}: {}",
            response.text()
        );
        if response.status.is_client_error() {
            refused += 1;
        }
    }
    assert!(refused > 0, "mutated tokens are refused");
    let (content_type, body) = crate::support::multipart(&patient, "report.pdf", b"%PDF-1.4 x");
    let headers = [("content-type", content_type.as_str())];
    let control = app
        .request(Method::POST, "/api/documents", &headers, body.clone())
        .await;
    assert_eq!(
        control.status,
        axum::http::StatusCode::ACCEPTED,
        "{}",
        control.text()
    );
    for case in 0..300 {
        let mutated = mutate(&mut rng, &body);
        let content_type = if case % 5 == 0 {
            String::from_utf8_lossy(&mutate(&mut rng, content_type.as_bytes())).into_owned()
        } else {
            content_type.clone()
        };
        let Ok(value) = axum::http::HeaderValue::from_str(&content_type) else {
            continue;
        };
        let Ok(content_type) = value.to_str() else {
            continue;
        };
        let response = app
            .request(
                Method::POST,
                "/api/documents",
                &[("content-type", content_type)],
                mutated,
            )
            .await;
        assert!(
            !response.status.is_server_error(),
            "case {case}: {content_type:?}: {}",
            response.text()
        );
    }
}
