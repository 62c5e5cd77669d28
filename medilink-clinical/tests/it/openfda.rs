//! The openFDA source against a local fake server (no network): hit, miss, timeout, 500, bad
//! JSON, a huge body, the cache, and a Checker that keeps the offline findings when it fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use medilink_clinical::{
    ActiveMedication, Checker, ClinicalError, InteractionSource, KnowledgeBase, MedicationInput,
    OfflineSource, OpenFdaSource, ResolvedDrug, Severity,
};
use medilink_fhir::kv::LocalKeyValue;
use medilink_fhir::{Clock, FixedClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const WARFARIN_LABEL: &str = r#"{"results":[{"set_id":"set-warfarin","drug_interactions":["7 DRUG INTERACTIONS. Concomitant use of drugs that increase bleeding risk such as ibuprofen requires monitoring. Tramadol may increase the INR. Avoid concomitant use of sertraline where possible."]}]}"#;
const SILDENAFIL_LABEL: &str = r#"{"results":[{"set_id":"set-sildenafil","drug_interactions":["Nitrates: sildenafil is contraindicated with regular or intermittent use of nitroglycerin."]}]}"#;

/// A fake openFDA answering by the generic name searched; counts requests.
async fn fake_openfda() -> (String, Arc<AtomicUsize>) {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(error) => panic!("bind: {error}"),
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request).to_string();
                let (status, body): (&str, String) = if head.contains("warfarin") {
                    ("200 OK", WARFARIN_LABEL.to_owned())
                } else if head.contains("sildenafil") {
                    ("200 OK", SILDENAFIL_LABEL.to_owned())
                } else if head.contains("clarithromycin") {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    ("200 OK", "{}".to_owned())
                } else if head.contains("simvastatin") {
                    ("500 Internal Server Error", "oops".to_owned())
                } else if head.contains("fluoxetine") {
                    ("200 OK", "<html>not json".to_owned())
                } else if head.contains("phenelzine") {
                    ("200 OK", "x".repeat(5 * 1024 * 1024))
                } else {
                    (
                        "404 Not Found",
                        r#"{"error":{"code":"NOT_FOUND"}}"#.to_owned(),
                    )
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://{address}/"), count)
}

async fn source() -> (OpenFdaSource, Arc<AtomicUsize>) {
    let (base, count) = fake_openfda().await;
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(time::OffsetDateTime::UNIX_EPOCH));
    let cache = Arc::new(LocalKeyValue::new(clock.clone()));
    let url = match url::Url::parse(&base) {
        Ok(url) => url,
        Err(error) => panic!("{error}"),
    };
    (
        OpenFdaSource::new(url, cache, clock, Duration::from_millis(500)),
        count,
    )
}

fn drug(text: &str) -> ResolvedDrug {
    KnowledgeBase::offline().resolve(&MedicationInput::text(text))
}

#[tokio::test]
async fn a_label_that_names_the_other_drug_is_a_rule_and_is_cached() {
    let (openfda, count) = source().await;
    let rules = openfda
        .interactions(&drug("warfarin"), &drug("ibuprofen"))
        .await;
    let rules = rules.unwrap_or_default();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].severity, Severity::Moderate);
    assert!(rules[0].source.contains("set-warfarin"));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // "avoid" -> serious, from the cached label: no new request
    let sertraline = openfda
        .interactions(&drug("sertraline"), &drug("warfarin"))
        .await
        .unwrap_or_default();
    assert_eq!(sertraline[0].severity, Severity::Serious);
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "sertraline's label (404) fetched once, warfarin's cached"
    );
    let again = openfda
        .interactions(&drug("sertraline"), &drug("warfarin"))
        .await
        .unwrap_or_default();
    assert_eq!(again, sertraline);
    assert_eq!(count.load(Ordering::SeqCst), 2, "the miss is cached too");
    let contraindicated = openfda
        .interactions(&drug("viagra"), &drug("nitrostat"))
        .await
        .unwrap_or_default();
    assert_eq!(contraindicated[0].severity, Severity::Contraindicated);
}

#[tokio::test]
async fn a_missing_label_is_no_rule() {
    let (openfda, _) = source().await;
    let rules = openfda
        .interactions(&drug("metformin"), &drug("lisinopril"))
        .await;
    assert!(matches!(rules.as_deref(), Ok([])), "{rules:?}");
}

#[tokio::test]
async fn failures_are_errors_not_panics() {
    let (openfda, _) = source().await;
    let timeout = openfda
        .interactions(&drug("clarithromycin"), &drug("metformin"))
        .await;
    assert!(
        matches!(timeout, Err(ClinicalError::Timeout { .. })),
        "{timeout:?}"
    );
    let status = openfda
        .interactions(&drug("simvastatin"), &drug("metformin"))
        .await;
    assert!(
        matches!(status, Err(ClinicalError::Status { status: 500, .. })),
        "{status:?}"
    );
    let json = openfda
        .interactions(&drug("fluoxetine"), &drug("metformin"))
        .await;
    assert!(
        matches!(json, Err(ClinicalError::InvalidAnswer { .. })),
        "{json:?}"
    );
    let huge = openfda
        .interactions(&drug("phenelzine"), &drug("metformin"))
        .await;
    assert!(
        matches!(huge, Err(ClinicalError::TooLarge { .. })),
        "{huge:?}"
    );
    // nothing listens here
    let clock: Arc<dyn Clock> = Arc::new(FixedClock::new(time::OffsetDateTime::UNIX_EPOCH));
    let closed = OpenFdaSource::new(
        url::Url::parse("http://127.0.0.1:9/").unwrap_or_else(|error| panic!("{error}")),
        Arc::new(LocalKeyValue::new(clock.clone())),
        clock,
        Duration::from_millis(500),
    );
    let unreachable = closed
        .interactions(&drug("warfarin"), &drug("aspirin"))
        .await;
    assert!(unreachable.is_err());
}

#[tokio::test]
async fn a_failing_online_source_leaves_the_offline_findings() {
    let (openfda, _) = source().await;
    let checker = Checker::with_sources(vec![Arc::new(OfflineSource), Arc::new(openfda)]);
    let active = [ActiveMedication {
        drug: drug("Biaxin"),
        reference: None,
    }];
    let outcome = checker.check_outcome(&[drug("Zocor")], &active, &[]).await;
    assert_eq!(outcome.findings.len(), 1);
    assert_eq!(outcome.findings[0].severity, Severity::Contraindicated);
    assert_eq!(outcome.warnings.len(), 1, "{:?}", outcome.warnings);
    assert!(outcome.warnings[0].starts_with("openfda:"));
    let findings = checker.check(&[drug("Zocor")], &active, &[]).await;
    assert_eq!(findings.map(|f| f.len()).ok(), Some(1));
    // online adds what the base lacks (warfarin + tramadol is not in the offline base)
    let added = checker
        .check_outcome(
            &[drug("tramadol")],
            &[ActiveMedication {
                drug: drug("warfarin"),
                reference: None,
            }],
            &[],
        )
        .await;
    assert!(
        added.findings.iter().any(|f| f.source.contains("openFDA")),
        "{added:?}"
    );
}
