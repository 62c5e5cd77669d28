//! The [`BlobStore`] seam: uploaded documents and exports, by key. The filesystem in the data
//! directory by default, S3 or MinIO when configured; [`MemoryBlobStore`] in process.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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

/// Blobs in process memory: the server's store when it is not built from a configuration
/// (tests, examples), and the test double of the services' tests.
#[derive(Debug, Default)]
pub struct MemoryBlobStore {
    objects: Objects,
}

type Objects = Arc<Mutex<HashMap<String, Vec<u8>>>>;

fn lock(objects: &Objects) -> MutexGuard<'_, HashMap<String, Vec<u8>>> {
    objects.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryBlobStore {
    fn objects(&self) -> MutexGuard<'_, HashMap<String, Vec<u8>>> {
        lock(&self.objects)
    }
}

/// An object written in parts into a [`MemoryBlobStore`] (stored on close).
struct MemoryBlobWriter {
    objects: Objects,
    key: String,
    bytes: Vec<u8>,
}

#[async_trait]
impl BlobWriter for MemoryBlobWriter {
    async fn write(&mut self, bytes: Vec<u8>) -> FhirResult<()> {
        self.bytes.extend_from_slice(&bytes);
        Ok(())
    }
    async fn close(self: Box<Self>) -> FhirResult<()> {
        let MemoryBlobWriter {
            objects,
            key,
            bytes,
        } = *self;
        lock(&objects).insert(key, bytes);
        Ok(())
    }
}

#[async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> FhirResult<()> {
        self.objects().insert(key.to_owned(), bytes);
        Ok(())
    }
    async fn get(&self, key: &str) -> FhirResult<Option<Vec<u8>>> {
        Ok(self.objects().get(key).cloned())
    }
    async fn delete(&self, key: &str) -> FhirResult<()> {
        self.objects().remove(key);
        Ok(())
    }
    async fn writer(&self, key: &str) -> FhirResult<Box<dyn BlobWriter>> {
        Ok(Box::new(MemoryBlobWriter {
            objects: self.objects.clone(),
            key: key.to_owned(),
            bytes: Vec::new(),
        }))
    }
    async fn size(&self, key: &str) -> FhirResult<Option<u64>> {
        Ok(self.objects().get(key).map(|bytes| bytes.len() as u64))
    }
    async fn read_range(&self, key: &str, offset: u64, len: u64) -> FhirResult<Option<Vec<u8>>> {
        Ok(self.objects().get(key).map(|bytes| {
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            let end = start
                .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
                .min(bytes.len());
            bytes[start..end].to_vec()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_blobs_are_written_whole_or_in_parts_and_read_in_ranges() {
        let blobs = MemoryBlobStore::default();
        blobs.put("a", b"hello".to_vec()).await.expect("put");
        let mut writer = blobs.writer("b").await.expect("writer");
        writer.write(b"par".to_vec()).await.expect("write");
        writer.write(b"ts".to_vec()).await.expect("write");
        assert_eq!(blobs.get("b").await.expect("get"), None, "stored on close");
        writer.close().await.expect("close");
        assert_eq!(blobs.get("b").await.expect("get"), Some(b"parts".to_vec()));
        assert_eq!(blobs.size("a").await.expect("size"), Some(5));
        let range = blobs.read_range("a", 3, 10).await.expect("range");
        assert_eq!(range, Some(b"lo".to_vec()));
        let past_end = blobs.read_range("a", 9, 1).await.expect("range");
        assert_eq!(past_end, Some(Vec::new()));
        blobs.delete("a").await.expect("delete");
        assert_eq!(blobs.get("a").await.expect("get"), None);
        assert_eq!(blobs.read_range("a", 0, 1).await.expect("range"), None);
    }
}
