//! The mapping table of `error.rs` (its module doc, checked against the code) and the
//! conversion of each library error type.

use axum::http::HeaderMap;
use medilink_consent::ConsentError;
use medilink_fhir::{FhirError, ResourceId, ResourceType};
use medilink_ingest::job::DocumentError;

use super::*;
use crate::auth::AccountError;

/// One row of the module doc's first table, per kind: status, issue code, header.
#[derive(Debug)]
struct Row {
    kind: ErrorKind,
    status: u16,
    code: String,
    header: Option<(String, String)>,
}

/// Text between the first pair of backticks.
fn ticked(text: &str) -> Option<&str> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    Some(&text[start..start + len])
}

/// The rows of the `ErrorKind` table in this file's module doc.
fn documented_rows() -> Vec<Row> {
    let source = include_str!("../error.rs");
    let mut rows = Vec::new();
    let table = source
        .lines()
        .skip_while(|line| !line.starts_with("//! | `ErrorKind` |"))
        .skip(2)
        .take_while(|line| line.starts_with("//! |"));
    for line in table {
        let cells: Vec<&str> = line.trim_start_matches("//! |").split(" | ").collect();
        let kinds: Vec<&str> = cells[0].split(" / ").map(str::trim).collect();
        let statuses: Vec<&str> = cells[1].split(" / ").collect();
        let codes: Vec<&str> = cells[2].split(" / ").collect();
        for (index, name) in kinds.iter().enumerate() {
            let kind = ErrorKind::ALL
                .into_iter()
                .find(|kind| format!("{kind:?}") == *name)
                .unwrap_or_else(|| panic!("{name} in the table is not an ErrorKind"));
            let status_cell = statuses[index.min(statuses.len() - 1)].trim();
            let status: u16 = status_cell[..3].parse().expect("a status number");
            let header = ticked(status_cell).map(|header| {
                let (name, value) = header.split_once(": ").expect("`Name: value`");
                (name.to_owned(), value.to_owned())
            });
            let code = ticked(codes[index.min(codes.len() - 1)]).expect("a ticked issue code");
            rows.push(Row {
                kind,
                status,
                code: code.to_owned(),
                header,
            });
        }
    }
    rows
}

/// A library error of a given kind with the kind's usual issue code.
#[derive(Debug, thiserror::Error)]
#[error("a {0:?} error")]
struct Plain(ErrorKind);

impl ServiceError for Plain {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

fn headers(err: ApiError) -> HeaderMap {
    err.into_response().headers().clone()
}

#[test]
fn every_kind_maps_as_the_module_table_says() {
    let rows = documented_rows();
    for kind in ErrorKind::ALL {
        let matching: Vec<&Row> = rows.iter().filter(|row| row.kind == kind).collect();
        assert_eq!(matching.len(), 1, "{kind:?} is in the table once: {rows:?}");
        let row = matching[0];
        assert_eq!(status_of(kind).as_u16(), row.status, "{kind:?}");
        assert_eq!(kind.issue_code().as_str(), row.code, "{kind:?}");
        let api = ApiError::from(Plain(kind));
        assert_eq!(api.status().as_u16(), row.status, "{kind:?}");
        assert_eq!(api.issues()[0].code, kind.issue_code(), "{kind:?}");
        let headers = headers(api);
        assert_eq!(headers[header::CONTENT_TYPE], FHIR_JSON);
        for name in [header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
            let expected = row
                .header
                .as_ref()
                .filter(|(header, _)| header.eq_ignore_ascii_case(name.as_str()))
                .map(|(_, value)| value.as_str());
            let actual = headers.get(&name).and_then(|value| value.to_str().ok());
            assert_eq!(actual, expected, "{kind:?}: {name}");
        }
    }
}

#[test]
fn internal_errors_hide_their_detail() {
    let err = FhirError::Internal {
        source: "secret detail".into(),
    };
    let api = ApiError::from(err);
    assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(api.issues()[0].code, IssueCode::Exception);
    assert!(!api.issues()[0].diagnostics.contains("secret"));
    assert!(api.issues()[0].diagnostics.contains("request id"));
}

/// Status, issue code and diagnostics of a converted error.
fn answer(api: &ApiError) -> (u16, &'static str, &str) {
    let issue = &api.issues()[0];
    (
        api.status().as_u16(),
        issue.code.as_str(),
        &issue.diagnostics,
    )
}

#[test]
fn fhir_errors_keep_their_own_codes_and_issues() {
    let id = ResourceId::new("a").expect("valid id");
    let conflict = ApiError::from(FhirError::WriteConflict {
        resource_type: ResourceType::Patient,
        id: id.clone(),
    });
    assert_eq!(
        answer(&conflict),
        (409, "conflict", "concurrent write conflict on Patient/a")
    );
    let multiple = ApiError::from(FhirError::MultipleMatches {
        resource_type: ResourceType::Patient,
        operation: "update",
        matches: 2,
    });
    assert_eq!(
        (answer(&multiple).0, answer(&multiple).1),
        (412, "processing")
    );
    let timed_out = ApiError::from(FhirError::TimedOut);
    assert_eq!(
        (answer(&timed_out).0, answer(&timed_out).1),
        (503, "too-costly")
    );
    assert_eq!(headers(timed_out)[header::RETRY_AFTER], "5");
    let invalid = ApiError::from(FhirError::BundleEntry {
        index: 2,
        source: Box::new(FhirError::invalid(
            IssueCode::Required,
            Some("Patient.name".into()),
            "missing",
        )),
    });
    assert_eq!(
        answer(&invalid),
        (400, "required", "bundle entry 2: missing")
    );
    assert_eq!(
        invalid.issues()[0].expression.as_deref(),
        Some("Bundle.entry[2].resource.Patient.name")
    );
}

#[test]
fn consent_errors_map_through_their_kinds() {
    let cases = [
        (
            ConsentError::Invalid {
                reason: "too short",
            },
            (400, "value", "invalid consent request: too short"),
        ),
        (
            ConsentError::NotFound { id: "c1".into() },
            (404, "not-found", "consent c1 not found"),
        ),
        (
            ConsentError::ExportNotFound { id: "j1".into() },
            (404, "not-found", "export j1 not found"),
        ),
        (
            ConsentError::Forbidden {
                reason: "patients only",
            },
            (403, "forbidden", "not allowed: patients only"),
        ),
        (
            ConsentError::WrongState {
                id: "c1".into(),
                status: "revoked",
                action: "accept",
            },
            (409, "conflict", "consent c1 is revoked, cannot accept"),
        ),
        (
            ConsentError::Deid(medilink_consent::deid::DeidError::NotAResource),
            (400, "processing", "not a FHIR resource: no resourceType"),
        ),
        (
            ConsentError::Deid(medilink_consent::deid::DeidError::UnsupportedType {
                resource_type: "Patient".into(),
            }),
            (
                422,
                "processing",
                "resource type Patient is not exported for research",
            ),
        ),
        (
            ConsentError::Store(FhirError::bad_request("bad")),
            (400, "invalid", "bad"),
        ),
    ];
    for (err, expected) in cases {
        assert_eq!(answer(&ApiError::from(err)), expected);
    }
    // A break-glass over its limit: 429 with `Retry-After: 60`.
    let limited = ApiError::from(ConsentError::RateLimited { limit: 3 });
    assert_eq!(
        answer(&limited),
        (
            429,
            "throttled",
            "break-glass limit reached: at most 3 per 24 hours"
        )
    );
    assert_eq!(headers(limited)[header::RETRY_AFTER], "60");
    let internal = ApiError::from(ConsentError::Store(FhirError::Internal {
        source: "secret".into(),
    }));
    assert_eq!(answer(&internal).0, 500);
    assert!(!answer(&internal).2.contains("secret"));
}

#[test]
fn document_errors_map_through_their_kinds() {
    // Issue #12: an upload of a type that is not accepted is an unsupported media type (415,
    // as the OpenAPI document says), not an unoffered feature (501).
    assert_eq!(
        DocumentError::Unsupported.kind(),
        ErrorKind::UnsupportedMediaType
    );
    let cases = [
        (
            DocumentError::Unsupported,
            (
                415,
                "not-supported",
                "unsupported document type: only PDF, PNG and JPEG files are accepted",
            ),
        ),
        (
            DocumentError::JobNotFound,
            (404, "not-found", "document job not found"),
        ),
        (
            DocumentError::WrongStatus {
                status: "completed",
            },
            (409, "conflict", "the job is completed"),
        ),
        (
            DocumentError::InvalidCorrection {
                index: 1,
                reason: "no such result",
            },
            (400, "value", "correction 1: no such result"),
        ),
        (
            DocumentError::Store(FhirError::Forbidden { reason: "no" }),
            (403, "forbidden", "access denied: no"),
        ),
    ];
    for (err, expected) in cases {
        assert_eq!(answer(&ApiError::from(err)), expected);
    }
    let damaged = ApiError::from(DocumentError::Damaged);
    assert_eq!((answer(&damaged).0, answer(&damaged).1), (500, "exception"));
    assert!(!answer(&damaged).2.contains("damaged"));
}

#[test]
fn account_errors_map_through_their_kinds() {
    let invalid = ApiError::from(AccountError::NameRequired);
    assert_eq!((answer(&invalid).0, answer(&invalid).1), (400, "required"));
    let login = ApiError::from(AccountError::InvalidLogin);
    assert_eq!(
        answer(&login),
        (401, "login", "invalid e-mail, password or code")
    );
    assert_eq!(headers(login)[header::WWW_AUTHENTICATE], "Bearer");
    let locked = ApiError::from(AccountError::LockedOut { what: "codes" });
    assert_eq!(
        answer(&locked),
        (429, "throttled", "too many failed codes; try again later")
    );
    assert_eq!(headers(locked)[header::RETRY_AFTER], "60");
    let taken = ApiError::from(AccountError::EmailTaken);
    assert_eq!(
        answer(&taken),
        (
            409,
            "conflict",
            "an account with this e-mail already exists"
        )
    );
    let suspended = ApiError::from(AccountError::NotActive { state: "suspended" });
    assert_eq!(
        answer(&suspended),
        (403, "forbidden", "the account is suspended")
    );
    let unknown = ApiError::from(AccountError::UserNotFound);
    assert_eq!(answer(&unknown), (404, "not-found", "no such user"));
}

#[test]
fn http_only_errors_have_their_own_statuses() {
    let wrong_method = ApiError::method_not_allowed("no");
    assert_eq!(answer(&wrong_method), (405, "not-supported", "no"));
    let not_acceptable = ApiError::not_acceptable("no");
    assert_eq!(answer(&not_acceptable), (406, "not-supported", "no"));
}
