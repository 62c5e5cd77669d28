//! The blob store (issue #6) on the filesystem always and on an S3-compatible server when
//! `MEDILINK_TEST_S3_ENDPOINT` names one (`.ci/run` starts `moto_server` on 127.0.0.1:5900).
//! Each S3 test creates its own bucket and deletes it afterwards.

use std::sync::Arc;

use medilink_fhir::blob::BlobStore;
use medilink_fhir::{BlobOptions, ErrorKind, open_blob_store};

/// Put, get, replace, delete and bad keys: the same behaviour on every service.
async fn conformance(blobs: Arc<dyn BlobStore>) {
    assert_eq!(blobs.get("documents/missing").await.expect("get"), None);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    blobs.put("documents/a", bytes.clone()).await.expect("put");
    blobs
        .put("documents/b", b"second".to_vec())
        .await
        .expect("put");
    assert_eq!(blobs.get("documents/a").await.expect("get"), Some(bytes));
    blobs
        .put("documents/a", b"replaced".to_vec())
        .await
        .expect("replace");
    assert_eq!(
        blobs.get("documents/a").await.expect("get").as_deref(),
        Some(&b"replaced"[..])
    );
    blobs.put("empty", Vec::new()).await.expect("put empty");
    assert_eq!(blobs.get("empty").await.expect("get"), Some(Vec::new()));
    blobs.delete("documents/a").await.expect("delete");
    assert_eq!(blobs.get("documents/a").await.expect("get"), None);
    blobs
        .delete("documents/a")
        .await
        .expect("deleting twice is no error");
    assert_eq!(
        blobs.get("documents/b").await.expect("get").as_deref(),
        Some(&b"second"[..]),
        "other keys untouched"
    );
    for bad in ["", "../outside", "/abs", "a//b"] {
        let err = blobs.put(bad, b"x".to_vec()).await.expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::Invalid, "{bad:?}: {err}");
        assert!(blobs.get(bad).await.is_err());
    }
    for key in ["documents/b", "empty"] {
        blobs.delete(key).await.expect("delete");
    }
    parts_and_ranges(blobs).await;
}

/// Objects written in parts and read back in ranges (exports).
async fn parts_and_ranges(blobs: Arc<dyn BlobStore>) {
    let mut writer = blobs
        .writer("exports/j/Patient.ndjson")
        .await
        .expect("writer");
    let mut expected = Vec::new();
    for part in 0..3u8 {
        let chunk: Vec<u8> = vec![b'a' + part; 70_000];
        expected.extend_from_slice(&chunk);
        writer.write(chunk).await.expect("write");
    }
    writer.close().await.expect("close");
    let key = "exports/j/Patient.ndjson";
    assert_eq!(blobs.size(key).await.expect("size"), Some(210_000));
    assert_eq!(blobs.size("exports/j/none").await.expect("size"), None);
    let mut read = Vec::new();
    let mut offset = 0u64;
    loop {
        let chunk = blobs
            .read_range(key, offset, 65_536)
            .await
            .expect("range")
            .expect("object");
        if chunk.is_empty() {
            break;
        }
        assert!(chunk.len() <= 65_536);
        offset += chunk.len() as u64;
        read.extend_from_slice(&chunk);
    }
    assert_eq!(read, expected);
    assert_eq!(
        blobs
            .read_range("exports/j/none", 0, 10)
            .await
            .expect("range"),
        None
    );
    assert!(blobs.writer("../outside").await.is_err());
    blobs.delete(key).await.expect("delete");
    assert_eq!(blobs.size(key).await.expect("size"), None);
}

#[tokio::test]
async fn filesystem_store_keeps_blobs_under_its_root() {
    let dir = tempfile::tempdir().expect("dir");
    let root = dir.path().join("blobs");
    let blobs = open_blob_store(&BlobOptions::new(format!("fs://{}", root.display())))
        .await
        .expect("open fs store");
    conformance(blobs.clone()).await;
    blobs
        .put("documents/x", b"on disk".to_vec())
        .await
        .expect("put");
    assert_eq!(
        std::fs::read(root.join("documents/x")).expect("file"),
        b"on disk"
    );
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("file");
    let err = open_blob_store(&BlobOptions::new(format!("fs://{}/blobs", file.display())))
        .await
        .expect_err("a root under a regular file");
    assert!(
        err.to_string().contains("a-file") || format!("{err:?}").contains("a-file"),
        "{err:?}"
    );
    let outside = dir.path().join("outside");
    assert!(blobs.put("../outside", b"x".to_vec()).await.is_err());
    assert!(!outside.exists(), "nothing written outside the root");
}

#[tokio::test]
async fn unknown_scheme_names_the_choices() {
    let err = open_blob_store(&BlobOptions::new("gs://bucket"))
        .await
        .expect_err("gs");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("s3://"), "{err}");
}

const FAKE_AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
     Credential=testing/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00";

/// A bucket on the S3-compatible server, deleted (with its objects) on drop.
struct Bucket {
    endpoint: String,
    name: String,
}

impl Bucket {
    async fn create(endpoint: &str) -> Bucket {
        let name = format!("medilink-test-{}", uuid::Uuid::new_v4().simple());
        let response = reqwest::Client::new()
            .put(format!("{endpoint}/{name}"))
            .send()
            .await
            .expect("create bucket");
        assert!(
            response.status().is_success(),
            "create bucket: {}",
            response.status()
        );
        Bucket {
            endpoint: endpoint.to_owned(),
            name,
        }
    }

    /// Lists the keys in the bucket (to check what the store left behind).
    async fn keys(&self) -> Vec<String> {
        let body = reqwest::Client::new()
            .get(format!("{}/{}?list-type=2", self.endpoint, self.name))
            .send()
            .await
            .expect("list bucket")
            .text()
            .await
            .expect("list body");
        body.split("<Key>")
            .skip(1)
            .filter_map(|part| part.split_once("</Key>").map(|(key, _)| key.to_owned()))
            .collect()
    }

    async fn delete(self) {
        let client = reqwest::Client::new();
        for key in self.keys().await {
            // moto refuses an anonymous object delete; it does not check the signature.
            let response = client
                .delete(format!("{}/{}/{key}", self.endpoint, self.name))
                .header("authorization", FAKE_AUTHORIZATION)
                .send()
                .await
                .expect("delete object");
            assert!(
                response.status().is_success(),
                "delete {key}: {}",
                response.status()
            );
        }
        let response = client
            .delete(format!("{}/{}", self.endpoint, self.name))
            .send()
            .await
            .expect("delete bucket");
        assert!(
            response.status().is_success(),
            "delete bucket: {}",
            response.status()
        );
    }
}

fn s3_endpoint() -> Option<String> {
    let endpoint = std::env::var("MEDILINK_TEST_S3_ENDPOINT").ok();
    if endpoint.is_none() {
        eprintln!("MEDILINK_TEST_S3_ENDPOINT is unset: skipping the S3 blob-store tests");
    }
    endpoint
}

#[tokio::test]
async fn s3_store_passes_the_same_conformance_with_a_prefix() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let bucket = Bucket::create(&endpoint).await;
    let mut options = BlobOptions::new(format!(
        "s3://{}/medilink?endpoint={endpoint}&region=us-east-1",
        bucket.name
    ));
    options.access_key_id = Some("testing".to_owned());
    options.secret_access_key = Some("testing".to_owned());
    let blobs = open_blob_store(&options).await.expect("open s3 store");
    let outcome = tokio::spawn(async move {
        conformance(blobs.clone()).await;
        blobs
            .put("documents/kept", b"x".to_vec())
            .await
            .expect("put");
    })
    .await;
    let keys = bucket.keys().await;
    bucket.delete().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
    assert_eq!(
        keys,
        vec!["medilink/documents/kept".to_owned()],
        "objects under the prefix"
    );
}

#[tokio::test]
async fn s3_credentials_from_the_url_and_a_missing_bucket() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let bucket = Bucket::create(&endpoint).await;
    let url = format!(
        "s3://{}?endpoint={endpoint}&access_key_id=testing&secret_access_key=testing",
        bucket.name
    );
    let blobs = open_blob_store(&BlobOptions::new(url)).await.expect("open");
    let outcome = tokio::spawn(async move {
        blobs.put("k", b"v".to_vec()).await.expect("put");
        assert_eq!(
            blobs.get("k").await.expect("get").as_deref(),
            Some(&b"v"[..])
        );
        blobs.delete("k").await.expect("delete");
    })
    .await;
    bucket.delete().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }

    let missing = format!(
        "s3://medilink-no-such-bucket?endpoint={endpoint}&access_key_id=t&secret_access_key=t"
    );
    let err = open_blob_store(&BlobOptions::new(missing))
        .await
        .expect_err("a missing bucket fails at open");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("medilink-no-such-bucket"),
        "names the bucket: {shown}"
    );
    assert!(
        !shown.contains("secret_access_key=t"),
        "no credentials in errors: {shown}"
    );
}
