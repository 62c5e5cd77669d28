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
    /// Starts writing the object under `key` in parts (exports): the parts are not held in
    /// memory together; the object is complete once [`BlobWriter::close`] returns.
    async fn writer(&self, key: &str) -> FhirResult<Box<dyn BlobWriter>>;
    /// The size in bytes of the object under `key`, `None` when there is none.
    async fn size(&self, key: &str) -> FhirResult<Option<u64>>;
    /// At most `len` bytes of the object under `key` from `offset` (fewer at its end), `None`
    /// when there is no object: how large objects are streamed out.
    async fn read_range(&self, key: &str, offset: u64, len: u64) -> FhirResult<Option<Vec<u8>>>;
}

/// An object being written part by part ([`BlobStore::writer`]).
#[async_trait]
pub trait BlobWriter: Send {
    /// Appends `bytes`.
    async fn write(&mut self, bytes: Vec<u8>) -> FhirResult<()>;
    /// Finishes the object.
    async fn close(self: Box<Self>) -> FhirResult<()>;
}
