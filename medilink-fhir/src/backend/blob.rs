//! [`OpendalBlobStore`]: the [`BlobStore`] seam on Apache OpenDAL, and [`open_blob_store`],
//! which picks the service from a URL:
//!
//! - `fs:///abs/path` (feature `blob-fs`): files under a directory; the server's default is
//!   `<data-dir>/blobs`.
//! - `s3://bucket[/prefix]?endpoint=…&region=…` (feature `blob-s3`): S3, MinIO or any
//!   S3-compatible server. Credentials come from [`BlobOptions`] (the binaries fill them from
//!   `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`) or from the URL's `access_key_id` /
//!   `secret_access_key` query parameters; with neither, OpenDAL's default AWS chain applies.
//!   Further query keys: `virtual_host=true` (bucket in the host name; path style otherwise).

use std::fmt;
use std::sync::Arc;

use crate::blob::BlobStore;
use crate::error::{FhirError, FhirResult};

/// Where blobs go and how to authenticate there.
#[derive(Clone, Default)]
pub struct BlobOptions {
    /// `fs:///path` or `s3://bucket[/prefix]?endpoint=…&region=…`.
    pub url: String,
    /// S3 access key id (overrides the URL's).
    pub access_key_id: Option<String>,
    /// S3 secret access key (overrides the URL's).
    pub secret_access_key: Option<String>,
}

impl BlobOptions {
    /// Options for `url`, no explicit credentials.
    pub fn new(url: impl Into<String>) -> Self {
        BlobOptions {
            url: url.into(),
            ..BlobOptions::default()
        }
    }
}

impl fmt::Debug for BlobOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobOptions")
            .field("url", &redact_url(&self.url))
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// `url` without its query string's secret (for logs and `Debug`).
pub fn redact_url(url: &str) -> String {
    match url.split_once('?') {
        Some((base, query)) => {
            let kept: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key == "secret_access_key" => format!("{key}=<redacted>"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{base}?{}", kept.join("&"))
        }
        None => url.to_owned(),
    }
}

/// Opens the blob store the URL names and checks that it answers (the directory can be
/// created, the bucket exists and the credentials are accepted). Fails, naming the Cargo
/// feature, when that service was compiled out, and names the problem when the URL is
/// malformed or the store unreachable.
pub async fn open_blob_store(options: &BlobOptions) -> FhirResult<Arc<dyn BlobStore>> {
    let scheme = options.url.split("://").next().unwrap_or_default();
    let store: Opened = match scheme {
        "fs" => open_fs(options)?,
        "s3" => open_s3(options)?,
        _ => {
            return Err(FhirError::bad_request(format!(
                "unsupported blob url scheme {scheme:?}: use fs:///path or s3://bucket"
            )));
        }
    };
    #[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
    store.check().await?;
    Ok(store)
}

#[cfg(feature = "blob-fs")]
fn open_fs(options: &BlobOptions) -> FhirResult<Arc<OpendalBlobStore>> {
    let root = options.url.trim_start_matches("fs://");
    if root.is_empty() || root.contains('?') {
        return Err(FhirError::bad_request(
            "blob url fs:// needs a directory path and no query (fs:///var/lib/medilink/blobs)",
        ));
    }
    let builder = opendal::services::Fs::default().root(root);
    let operator = opendal::Operator::new(builder)
        .map_err(|err| unopenable(&format!("fs://{root}"), err))?
        .layer(opendal::layers::RetryLayer::new().with_max_times(3))
        .finish();
    Ok(Arc::new(OpendalBlobStore {
        operator,
        location: format!("fs://{root}"),
    }))
}

/// What the service openers return.
#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
type Opened = Arc<OpendalBlobStore>;
#[cfg(not(any(feature = "blob-fs", feature = "blob-s3")))]
type Opened = Arc<dyn BlobStore>;

#[cfg(not(feature = "blob-fs"))]
fn open_fs<T>(_: &BlobOptions) -> FhirResult<T> {
    Err(FhirError::Unsupported {
        feature: "fs blob store (compiled without the `blob-fs` feature)".to_owned(),
    })
}

#[cfg(feature = "blob-s3")]
fn open_s3(options: &BlobOptions) -> FhirResult<Arc<OpendalBlobStore>> {
    let bad =
        |why: &str| FhirError::bad_request(format!("blob url {}: {why}", redact_url(&options.url)));
    let parsed = url::Url::parse(&options.url).map_err(|err| bad(&err.to_string()))?;
    let bucket = parsed
        .host_str()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| bad("no bucket (s3://bucket/prefix?endpoint=…)"))?;
    let prefix = parsed.path().trim_matches('/');
    let mut builder = opendal::services::S3::default()
        .bucket(bucket)
        .root(&format!("/{prefix}"));
    let mut access_key_id = None;
    let mut secret_access_key = None;
    let mut has_region = false;
    for (key, value) in parsed.query_pairs() {
        match key.as_ref() {
            "endpoint" => builder = builder.endpoint(&value),
            "region" => {
                has_region = true;
                builder = builder.region(&value);
            }
            "access_key_id" => access_key_id = Some(value.into_owned()),
            "secret_access_key" => secret_access_key = Some(value.into_owned()),
            "virtual_host" => match value.as_ref() {
                "true" => builder = builder.enable_virtual_host_style(),
                "false" => {}
                _ => return Err(bad("virtual_host must be true or false")),
            },
            other => return Err(bad(&format!("unknown query parameter {other:?}"))),
        }
    }
    if !has_region {
        // S3-compatible servers ignore it; AWS needs one to sign.
        builder = builder.region("us-east-1");
    }
    let access_key_id = options.access_key_id.clone().or(access_key_id);
    let secret_access_key = options.secret_access_key.clone().or(secret_access_key);
    match (access_key_id, secret_access_key) {
        (Some(id), Some(secret)) => {
            builder = builder
                .access_key_id(&id)
                .secret_access_key(&secret)
                .disable_config_load()
                .disable_ec2_metadata();
        }
        (None, None) => {}
        _ => return Err(bad("give both the access key id and the secret access key")),
    }
    let operator = opendal::Operator::new(builder)
        .map_err(|err| unopenable(&format!("s3://{bucket}/{prefix}"), err))?
        .layer(opendal::layers::TimeoutLayer::new())
        .layer(opendal::layers::RetryLayer::new().with_max_times(3))
        .finish();
    Ok(Arc::new(OpendalBlobStore {
        operator,
        location: format!("s3://{bucket}/{prefix}"),
    }))
}

#[cfg(not(feature = "blob-s3"))]
fn open_s3<T>(_: &BlobOptions) -> FhirResult<T> {
    Err(FhirError::Unsupported {
        feature: "s3 blob store (compiled without the `blob-s3` feature)".to_owned(),
    })
}

#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
/// Checks a blob key: `segment/segment…` of printable characters, no empty, `.` or `..`
/// segment and no backslash (a key never leaves the store's root).
fn check_key(key: &str) -> FhirResult<()> {
    let ok = !key.is_empty()
        && key.len() <= 512
        && !key.contains('\\')
        && !key.chars().any(char::is_control)
        && key
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if ok {
        Ok(())
    } else {
        let shown: String = key.chars().take(100).collect();
        Err(FhirError::bad_request(format!(
            "invalid blob key {shown:?}: segments separated by '/', no empty, '.' or '..' segment"
        )))
    }
}

/// Converts an OpenDAL error (the one place that does): temporary failures, and those still
/// failing after the retries (`persistent`: an S3 endpoint that is down), are `Unavailable`.
#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
fn convert(err: opendal::Error) -> FhirError {
    if err.is_temporary() || err.is_persistent() {
        FhirError::Unavailable {
            source: Box::new(err),
        }
    } else {
        FhirError::Internal {
            source: Box::new(err),
        }
    }
}

/// A store that cannot be opened at `location` (no credentials in it).
#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
fn unopenable(location: &str, err: opendal::Error) -> FhirError {
    FhirError::Unavailable {
        source: format!("blob store {location} cannot be opened: {err}").into(),
    }
}

/// A [`BlobStore`] on an OpenDAL operator (filesystem or S3).
#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
pub struct OpendalBlobStore {
    operator: opendal::Operator,
    /// Where, for `Debug` (no credentials).
    location: String,
}

#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
impl OpendalBlobStore {
    /// Lists the root once: the store exists and accepts the credentials.
    async fn check(&self) -> FhirResult<()> {
        self.operator
            .check()
            .await
            .map_err(|err| FhirError::Unavailable {
                source: format!("blob store {} does not answer: {err}", self.location).into(),
            })
    }
}

#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
impl fmt::Debug for OpendalBlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpendalBlobStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
#[async_trait::async_trait]
impl BlobStore for OpendalBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> FhirResult<()> {
        check_key(key)?;
        self.operator.write(key, bytes).await.map_err(convert)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> FhirResult<Option<Vec<u8>>> {
        check_key(key)?;
        match self.operator.read(key).await {
            Ok(buffer) => Ok(Some(buffer.to_vec())),
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(convert(err)),
        }
    }

    async fn delete(&self, key: &str) -> FhirResult<()> {
        check_key(key)?;
        match self.operator.delete(key).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(convert(err)),
        }
    }

    async fn writer(&self, key: &str) -> FhirResult<Box<dyn crate::blob::BlobWriter>> {
        check_key(key)?;
        // Parts are gathered into chunks of WRITER_CHUNK (S3 multipart parts must be at least
        // 5 MiB but the last).
        let writer = self
            .operator
            .writer_with(key)
            .chunk(WRITER_CHUNK)
            .await
            .map_err(convert)?;
        Ok(Box::new(OpendalBlobWriter { writer }))
    }

    async fn size(&self, key: &str) -> FhirResult<Option<u64>> {
        check_key(key)?;
        match self.operator.stat(key).await {
            Ok(metadata) => Ok(Some(metadata.content_length())),
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(convert(err)),
        }
    }

    async fn read_range(&self, key: &str, offset: u64, len: u64) -> FhirResult<Option<Vec<u8>>> {
        check_key(key)?;
        let Some(size) = self.size(key).await? else {
            return Ok(None);
        };
        let end = offset.saturating_add(len).min(size);
        if offset >= end {
            return Ok(Some(Vec::new()));
        }
        match self.operator.read_with(key).range(offset..end).await {
            Ok(buffer) => Ok(Some(buffer.to_vec())),
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(convert(err)),
        }
    }
}

/// Bytes gathered per upload by an [`OpendalBlobWriter`].
#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
const WRITER_CHUNK: usize = 8 * 1024 * 1024;

/// An object being written through opendal.
#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
struct OpendalBlobWriter {
    writer: opendal::Writer,
}

#[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
#[async_trait::async_trait]
impl crate::blob::BlobWriter for OpendalBlobWriter {
    async fn write(&mut self, bytes: Vec<u8>) -> FhirResult<()> {
        self.writer.write(bytes).await.map_err(convert)
    }

    async fn close(mut self: Box<Self>) -> FhirResult<()> {
        self.writer.close().await.map_err(convert)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(feature = "blob-fs", feature = "blob-s3"))]
    fn keys_stay_inside_the_root() {
        for good in ["documents/0190-abc", "a", "exports/2024/01/x.ndjson"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/abs",
            "a//b",
            "../etc/passwd",
            "a/./b",
            "a/..",
            "a\\b",
            "a\nb",
            "x/",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_redacted_from_urls_and_debug() {
        let url = "s3://b?endpoint=http://h&access_key_id=AK&secret_access_key=SHH";
        assert_eq!(
            redact_url(url),
            "s3://b?endpoint=http://h&access_key_id=AK&secret_access_key=<redacted>"
        );
        let mut options = BlobOptions::new(url);
        options.secret_access_key = Some("ALSO-SECRET".to_owned());
        let shown = format!("{options:?}");
        assert!(
            !shown.contains("SHH") && !shown.contains("ALSO-SECRET"),
            "{shown}"
        );
    }

    #[tokio::test]
    async fn unknown_schemes_and_bad_urls_are_named() {
        let err = open_blob_store(&BlobOptions::new("ftp://x"))
            .await
            .expect_err("ftp");
        assert!(err.to_string().contains("ftp"), "{err}");
        let err = open_blob_store(&BlobOptions::new("fs://"))
            .await
            .expect_err("empty fs");
        assert!(err.to_string().contains("directory"), "{err}");
        #[cfg(feature = "blob-s3")]
        {
            let err = open_blob_store(&BlobOptions::new("s3://b?colour=red"))
                .await
                .expect_err("query");
            assert!(err.to_string().contains("colour"), "{err}");
            let err = open_blob_store(&BlobOptions::new("s3://b?access_key_id=A"))
                .await
                .expect_err("half credentials");
            assert!(err.to_string().contains("both"), "{err}");
        }
    }
}
