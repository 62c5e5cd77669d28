//! [`TantivySearchIndex`]: the [`SearchIndex`] on a Tantivy index, in a directory of its own
//! (or in RAM for tests).
//!
//! One document per live resource: `key` (`Type/id`, raw, stored), `type` (raw, for the type
//! filter), `text` (narrative) and `content` (all strings), the last two analyzed by
//! [`super::query::analyzer`] with positions for phrases. The feed position and a schema
//! version travel in each commit's payload, so a commit is atomic with its position.
//!
//! Tantivy calls block (commits fsync, searches read memory-mapped files), so every call runs
//! on `tokio::task::spawn_blocking`. One writer per directory: a second process opening the
//! same directory gets [`FhirError::Unavailable`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tantivy::collector::TopDocs;
use tantivy::directory::{Directory as _, INDEX_WRITER_LOCK, MmapDirectory};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value as _,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use super::follow::FEED_BATCH;
use super::query::{ANALYZER, all_clauses, analyzer, any_of, clauses};
use super::{FullTextHit, FullTextQuery, SearchIndex, extract};
use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult};
use crate::model::{ResourceId, ResourceType};
use crate::store::{ResourceStore, StoredResource};

/// Bumped whenever the schema or the analysis changes: an index of another version is
/// recreated and refilled from the feed.
const SCHEMA_VERSION: u32 = 1;

/// Indexing memory of the single writer thread.
const WRITER_MEMORY_BYTES: usize = 32 * 1024 * 1024;

/// What each commit records next to the documents.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    schema: u32,
    position: u64,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    key: Field,
    resource_type: Field,
    text: Field,
    content: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        key: builder.add_text_field("key", STRING | STORED),
        resource_type: builder.add_text_field("type", STRING),
        text: builder.add_text_field("text", words.clone()),
        content: builder.add_text_field("content", words),
    };
    (builder.build(), fields)
}

/// A full-text index on Tantivy. Cloning shares the index.
#[derive(Clone)]
pub struct TantivySearchIndex {
    inner: Arc<Inner>,
    /// Held by `apply` and for the whole of `rebuild`, so that a batch read before a rebuild
    /// cleared the index is not applied in the middle of it.
    feed_gate: Arc<tokio::sync::Mutex<()>>,
}

struct Inner {
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    position: AtomicU64,
    location: Option<PathBuf>,
}

impl fmt::Debug for TantivySearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TantivySearchIndex")
            .field("location", &self.inner.location)
            .field("position", &self.inner.position.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

/// Why an existing directory could not be opened.
enum OpenFailure {
    /// Another writer holds the directory: leave it alone.
    Busy(FhirError),
    /// Missing, foreign, stale or corrupt: recreate it.
    Unreadable(String),
}

impl TantivySearchIndex {
    /// Opens the index in `dir`, continuing from its committed position. A missing, empty,
    /// unreadable or corrupt index (checksums are verified, which reads the whole index once)
    /// or one of another schema version is wiped and recreated empty at position 0.
    ///
    /// Blocks on file I/O: call it at start-up or from `spawn_blocking`.
    pub fn open(dir: &Path) -> FhirResult<Self> {
        std::fs::create_dir_all(dir).map_err(internal)?;
        match open_existing(dir) {
            Ok(index) => return Ok(index),
            Err(OpenFailure::Busy(err)) => return Err(err),
            Err(OpenFailure::Unreadable(reason)) => {
                tracing::warn!(path = %dir.display(), %reason, "full-text index unusable; recreating it empty");
            }
        }
        let directory = MmapDirectory::open(dir).map_err(internal)?;
        {
            let _lock = directory
                .acquire_lock(&INDEX_WRITER_LOCK)
                .map_err(|err| FhirError::Unavailable { source: err.into() })?;
            wipe(dir)?;
        }
        let (schema, _) = schema();
        let index = Index::create(directory, schema, Default::default()).map_err(classify)?;
        let index = Self::start(index, Some(dir.to_path_buf()), 0).map_err(classify)?;
        index.inner.commit(&mut *index.inner.lock_writer()?, 0)?;
        Ok(index)
    }

    /// An index in RAM, for tests.
    pub fn in_memory() -> FhirResult<Self> {
        let (schema, _) = schema();
        Self::start(Index::create_in_ram(schema), None, 0).map_err(classify)
    }

    fn start(index: Index, location: Option<PathBuf>, position: u64) -> tantivy::Result<Self> {
        index.tokenizers().register(ANALYZER, analyzer());
        let (_, fields) = schema();
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(TantivySearchIndex {
            inner: Arc::new(Inner {
                fields,
                reader,
                writer: Mutex::new(writer),
                position: AtomicU64::new(position),
                location,
            }),
            feed_gate: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Runs `work` on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Inner) -> FhirResult<T> + Send + 'static,
    ) -> FhirResult<T> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || work(&inner))
            .await
            .map_err(internal)?
    }
}

fn open_existing(dir: &Path) -> Result<TantivySearchIndex, OpenFailure> {
    let unreadable = |err: &dyn fmt::Display| OpenFailure::Unreadable(err.to_string());
    let directory = MmapDirectory::open(dir).map_err(|err| unreadable(&err))?;
    if !Index::exists(&directory).map_err(|err| unreadable(&err))? {
        return Err(OpenFailure::Unreadable("no index".to_owned()));
    }
    let index = Index::open(directory).map_err(|err| unreadable(&err))?;
    if index.schema() != schema().0 {
        return Err(OpenFailure::Unreadable("different schema".to_owned()));
    }
    let metas = index.load_metas().map_err(|err| unreadable(&err))?;
    let payload: Payload = metas
        .payload
        .as_deref()
        .and_then(|payload| serde_json::from_str(payload).ok())
        .ok_or_else(|| OpenFailure::Unreadable("no position in the last commit".to_owned()))?;
    if payload.schema != SCHEMA_VERSION {
        return Err(OpenFailure::Unreadable(format!(
            "schema version {}",
            payload.schema
        )));
    }
    let damaged = index.validate_checksum().map_err(|err| unreadable(&err))?;
    if !damaged.is_empty() {
        return Err(OpenFailure::Unreadable(format!(
            "{} damaged files",
            damaged.len()
        )));
    }
    TantivySearchIndex::start(index, Some(dir.to_path_buf()), payload.position).map_err(|err| {
        match err {
            TantivyError::LockFailure(..) => OpenFailure::Busy(classify(err)),
            err => unreadable(&err),
        }
    })
}

/// Removes everything in `dir` but Tantivy's lock files (which the caller holds).
fn wipe(dir: &Path) -> FhirResult<()> {
    for entry in std::fs::read_dir(dir).map_err(internal)? {
        let entry = entry.map_err(internal)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".tantivy-") && name.ends_with(".lock") {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().map_err(internal)?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(internal)?;
    }
    Ok(())
}

impl Inner {
    fn lock_writer(&self) -> FhirResult<std::sync::MutexGuard<'_, IndexWriter>> {
        self.writer
            .lock()
            .map_err(|_| internal("full-text index writer lock poisoned"))
    }

    /// Commits pending operations with `position`, then makes them searchable.
    fn commit(&self, writer: &mut IndexWriter, position: u64) -> FhirResult<()> {
        let payload = serde_json::to_string(&Payload {
            schema: SCHEMA_VERSION,
            position,
        })
        .map_err(internal)?;
        let committed = writer.prepare_commit().and_then(|mut prepared| {
            prepared.set_payload(&payload);
            prepared.commit()
        });
        if let Err(err) = committed {
            let _ = writer.rollback();
            return Err(classify(err));
        }
        // Searchable first, then announced: a caller that sees the new position (a follower's
        // waiter, a `_text` search that caught up) must also see the documents.
        self.reader.reload().map_err(classify)?;
        self.position.store(position, Ordering::Release);
        Ok(())
    }

    fn apply(&self, changes: &[StoredResource]) -> FhirResult<()> {
        let mut writer = self.lock_writer()?;
        let from = self.position.load(Ordering::Acquire);
        let mut position = from;
        for change in changes.iter().filter(|change| change.seq > from) {
            let key = change.reference();
            writer.delete_term(Term::from_field_text(self.fields.key, &key));
            if let Some(json) = &change.json {
                match serde_json::from_str::<Value>(json) {
                    Ok(resource) => {
                        let added = writer.add_document(self.document(&key, change, &resource));
                        if let Err(err) = added {
                            let _ = writer.rollback();
                            return Err(classify(err));
                        }
                    }
                    Err(err) => {
                        tracing::warn!(resource = %key, seq = change.seq, error = %err, "stored resource is not json; not indexed");
                    }
                }
            }
            position = position.max(change.seq);
        }
        if position == from {
            return Ok(());
        }
        self.commit(&mut writer, position)
    }

    fn document(&self, key: &str, change: &StoredResource, resource: &Value) -> TantivyDocument {
        let mut document = TantivyDocument::default();
        document.add_text(self.fields.key, key);
        document.add_text(self.fields.resource_type, change.resource_type.to_string());
        document.add_text(self.fields.text, extract::narrative_text(resource));
        for text in extract::content_strings(resource) {
            document.add_text(self.fields.content, text);
        }
        document
    }

    fn clear(&self) -> FhirResult<()> {
        let mut writer = self.lock_writer()?;
        writer.delete_all_documents().map_err(classify)?;
        self.commit(&mut writer, 0)
    }

    fn query(&self, query: &FullTextQuery) -> FhirResult<Vec<FullTextHit>> {
        if query.text.is_none() && query.content.is_none() {
            return Err(FhirError::bad_request(
                "a full-text search needs _text or _content",
            ));
        }
        let mut analyzer = analyzer();
        let mut subqueries = Vec::new();
        for (field, words) in [
            (self.fields.text, &query.text),
            (self.fields.content, &query.content),
        ] {
            if let Some(words) = words {
                let clauses = clauses(&mut analyzer, words);
                if clauses.is_empty() {
                    return Ok(Vec::new());
                }
                subqueries.extend(all_clauses(field, &clauses));
            }
        }
        let searcher = self.reader.searcher();
        let limit = query
            .limit
            .min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX));
        if limit == 0 {
            return Ok(Vec::new());
        }
        if !query.resource_types.is_empty() {
            let types = query.resource_types.iter().map(ToString::to_string);
            let filter = any_of(self.fields.resource_type, types);
            subqueries.push((Occur::Must, Box::new(ConstScoreQuery::new(filter, 0.0))));
        }
        let top = searcher
            .search(
                &BooleanQuery::new(subqueries),
                &TopDocs::with_limit(limit).order_by_score(),
            )
            .map_err(classify)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let document: TantivyDocument = searcher.doc(address).map_err(classify)?;
            let key = document
                .get_first(self.fields.key)
                .and_then(|value| value.as_str());
            match key.and_then(parse_key) {
                Some((resource_type, id)) => hits.push(FullTextHit {
                    resource_type,
                    id,
                    score,
                }),
                None => tracing::warn!(?key, "full-text index holds a malformed key"),
            }
        }
        Ok(hits)
    }
}

fn parse_key(key: &str) -> Option<(ResourceType, ResourceId)> {
    let (resource_type, id) = key.split_once('/')?;
    Some((
        ResourceType::from_name(resource_type)?,
        ResourceId::new(id).ok()?,
    ))
}

#[async_trait]
impl SearchIndex for TantivySearchIndex {
    async fn apply(&self, changes: &[StoredResource]) -> FhirResult<()> {
        let _gate = self.feed_gate.lock().await;
        let changes = changes.to_vec();
        self.blocking(move |inner| inner.apply(&changes)).await
    }

    fn position(&self) -> u64 {
        self.inner.position.load(Ordering::Acquire)
    }

    async fn query(&self, query: &FullTextQuery) -> FhirResult<Vec<FullTextHit>> {
        let query = query.clone();
        self.blocking(move |inner| inner.query(&query)).await
    }

    async fn rebuild(
        &self,
        store: &dyn ResourceStore,
        ctx: &RequestContext,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> FhirResult<u64> {
        let _gate = self.feed_gate.lock().await;
        self.blocking(Inner::clear).await?;
        let mut applied = 0;
        loop {
            let batch = store
                .changes_since(ctx, self.position(), FEED_BATCH)
                .await?;
            if batch.is_empty() {
                break;
            }
            let full = batch.len() == FEED_BATCH;
            applied += batch.len() as u64;
            self.blocking(move |inner| inner.apply(&batch)).await?;
            progress(self.position());
            if !full {
                break;
            }
        }
        tracing::info!(
            applied,
            position = self.position(),
            "full-text index rebuilt"
        );
        Ok(applied)
    }
}

fn internal(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> FhirError {
    FhirError::Internal { source: err.into() }
}

/// Tantivy errors: a held lock is `Unavailable`, anything else `Internal`.
fn classify(err: TantivyError) -> FhirError {
    match err {
        TantivyError::LockFailure(..) => FhirError::Unavailable { source: err.into() },
        err => internal(err),
    }
}
