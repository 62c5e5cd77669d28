//! The [`BlobStore`] seam: uploaded documents and exports, by key. The filesystem in the data
//! directory by default, S3 or MinIO when configured.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::error::FhirResult;

/// Stores immutable byte objects by key (`documents/<uuid>`).
#[async_trait]
pub trait BlobStore: Send + Sync + Debug {
    /// Stores `bytes` under `key` (replacing any object there).
    async fn put(&self, key: &str, bytes: Vec<u8>) -> FhirResult<()>;
    /// The object under `key`, `None` when there is none.
    async fn get(&self, key: &str) -> FhirResult<Option<Vec<u8>>>;
    /// Removes the object under `key` (no error when there is none).
    async fn delete(&self, key: &str) -> FhirResult<()>;
}
