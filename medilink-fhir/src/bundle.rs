//! Batch and transaction Bundles (`POST [base]` with a Bundle of type `batch`/`transaction`).
//!
//! A transaction assigns ids to created resources up front, rewrites `urn:uuid:` (and any other
//! `fullUrl`, also when reached as a relative `Type/id` from an entry with an absolute
//! `fullUrl` on the same base) references and conditional references (`Type?criteria`, resolved through search by [`crate::conditional`]) to `Type/id`, and
//! hands every write to [`ResourceStore::transaction`] at once, so it commits entirely or not
//! at all. Batch entries run one by one and fail independently. The outcome is structured
//! ([`BundleOutcome`]); turning it into a response Bundle is the server's job.

mod entry;

use std::collections::HashMap;

use serde_json::Value;

use crate::clock::IdGen;
use crate::conditional;
use crate::context::RequestContext;
use crate::error::{FhirError, FhirResult, IssueCode};
use crate::search::limits::{MAX_BUNDLE_ENTRIES, exceeded};
use crate::store::{ResourceStore, StoredResource, WriteOp, WriteOutcome};

use entry::{Entry, Method, Target, parse_entry};

/// Which kind of Bundle was processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleType {
    /// Entries succeed or fail independently.
    Batch,
    /// All entries or none.
    Transaction,
}

/// What an entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryAction {
    /// A resource was created (201).
    Created,
    /// An existing resource was updated (200).
    Updated,
    /// A resource was deleted (204).
    Deleted,
    /// A delete found nothing live to delete (204).
    NothingDeleted,
    /// A conditional create matched an existing resource (200, nothing written).
    Matched,
    /// A read (200).
    Read,
    /// A read this library does not answer (a search or `metadata`): the caller answers it
    /// from [`EntryResult::deferred`] (with a transaction, after the writes committed).
    Deferred,
}

/// A read of a batch or transaction entry left to the caller, who renders its answer (a
/// `searchset` Bundle, the CapabilityStatement).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeferredRead {
    /// `GET Type?query` (the query as sent, still URL-encoded; possibly empty).
    Search {
        /// The type searched.
        resource_type: crate::ResourceType,
        /// The query string.
        query: String,
    },
    /// `GET metadata`.
    Capabilities,
}

/// The successful result of one entry.
#[derive(Debug, Clone)]
pub struct EntryResult {
    /// What happened.
    pub action: EntryAction,
    /// The version written, matched or read (`None` for deletes of nothing).
    pub stored: Option<StoredResource>,
    /// With [`EntryAction::Deferred`]: the read the caller answers.
    pub deferred: Option<DeferredRead>,
}

impl EntryResult {
    fn new(action: EntryAction, stored: Option<StoredResource>) -> EntryResult {
        EntryResult {
            action,
            stored,
            deferred: None,
        }
    }
}

/// The result of processing a Bundle, one outcome per entry in the order of the request.
#[derive(Debug)]
pub struct BundleOutcome {
    /// Batch or transaction.
    pub bundle_type: BundleType,
    /// Per entry: its result, or (batch only) its error.
    pub entries: Vec<FhirResult<EntryResult>>,
}

/// Processes a batch or transaction Bundle against `store`.
pub async fn process(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    ids: &dyn IdGen,
    bundle: Value,
) -> FhirResult<BundleOutcome> {
    let Value::Object(mut bundle) = bundle else {
        return Err(FhirError::invalid(
            IssueCode::Structure,
            None,
            "the body must be a Bundle",
        ));
    };
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(FhirError::invalid(
            IssueCode::Invalid,
            Some("resourceType".to_owned()),
            "only a Bundle can be posted to the base url",
        ));
    }
    let bundle_type = match bundle.get("type").and_then(Value::as_str) {
        Some("batch") => BundleType::Batch,
        Some("transaction") => BundleType::Transaction,
        _ => {
            return Err(FhirError::invalid(
                IssueCode::Value,
                Some("Bundle.type".to_owned()),
                "the bundle type must be batch or transaction",
            ));
        }
    };
    let raw_entries = match bundle.remove("entry") {
        Some(Value::Array(entries)) => entries,
        None => Vec::new(),
        Some(_) => {
            return Err(FhirError::invalid(
                IssueCode::Structure,
                Some("Bundle.entry".to_owned()),
                "Bundle.entry must be an array",
            ));
        }
    };
    if raw_entries.len() > MAX_BUNDLE_ENTRIES {
        return Err(exceeded(
            "the number of Bundle entries",
            MAX_BUNDLE_ENTRIES,
            format!("the bundle has {} entries", raw_entries.len()),
        ));
    }
    let parsed = raw_entries.into_iter().map(parse_entry);
    let entries = match bundle_type {
        BundleType::Batch => {
            let mut results = Vec::new();
            for entry in parsed {
                results.push(match entry {
                    Ok(entry) => run_single(store, ctx, entry).await,
                    Err(err) => Err(err),
                });
            }
            results
        }
        BundleType::Transaction => {
            let entries = parsed
                .enumerate()
                .map(|(index, entry)| entry.map_err(|err| in_entry(index, err)))
                .collect::<FhirResult<Vec<_>>>()?;
            run_transaction(store, ctx, ids, entries).await?
        }
    };
    Ok(BundleOutcome {
        bundle_type,
        entries,
    })
}

fn in_entry(index: usize, err: FhirError) -> FhirError {
    match err {
        already @ FhirError::BundleEntry { .. } => already,
        other => FhirError::BundleEntry {
            index,
            source: Box::new(other),
        },
    }
}

fn written(outcome: WriteOutcome) -> EntryResult {
    let action = if outcome.created {
        EntryAction::Created
    } else if outcome.stored.is_deleted() {
        EntryAction::Deleted
    } else {
        EntryAction::Updated
    };
    EntryResult::new(action, Some(outcome.stored))
}

fn deleted(outcome: Option<WriteOutcome>) -> EntryResult {
    match outcome {
        Some(outcome) => EntryResult::new(EntryAction::Deleted, Some(outcome.stored)),
        None => EntryResult::new(EntryAction::NothingDeleted, None),
    }
}

/// Resolves a conditional query (`identifier=…&…`) through search to at most one resource
/// (`MultipleMatches` otherwise).
async fn resolve_one(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    resource_type: crate::ResourceType,
    query: &str,
    operation: &'static str,
) -> FhirResult<Option<StoredResource>> {
    let params = conditional::parse_query_string(query);
    conditional::resolve(store, ctx, resource_type, &params, operation).await
}

/// One batch entry (or one GET of a transaction; searches and `metadata` are deferred to the
/// caller).
async fn run_single(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    entry: Entry,
) -> FhirResult<EntryResult> {
    match (entry.method, entry.target.clone()) {
        (Method::Get, Target::Instance(ty, id)) => Ok(read(store.read(ctx, ty, &id).await?)),
        (Method::Get, Target::Version(ty, id, v)) => Ok(read(store.vread(ctx, ty, &id, v).await?)),
        (Method::Get, Target::Type(resource_type)) => Ok(deferred(DeferredRead::Search {
            resource_type,
            query: String::new(),
        })),
        (Method::Get, Target::Conditional(resource_type, query)) => {
            Ok(deferred(DeferredRead::Search {
                resource_type,
                query,
            }))
        }
        (Method::Get, Target::Metadata) => Ok(deferred(DeferredRead::Capabilities)),
        (Method::Post, Target::Type(ty)) => {
            let resource = entry.resource.ok_or_else(missing_resource)?;
            let Some(query) = &entry.if_none_exist else {
                return Ok(written_create(store.create(ctx, resource).await?));
            };
            let criteria = conditional::parse_query_string(query);
            Ok(
                match conditional::create(store, ctx, ty, &criteria, resource).await? {
                    conditional::CreateOutcome::Created(stored) => written_create(stored),
                    conditional::CreateOutcome::Existing(stored) => {
                        EntryResult::new(EntryAction::Matched, Some(stored))
                    }
                },
            )
        }
        (Method::Put, Target::Instance(ty, id)) => {
            let resource = entry.resource.ok_or_else(missing_resource)?;
            Ok(written(
                store.update(ctx, ty, &id, resource, entry.if_match).await?,
            ))
        }
        (Method::Put, Target::Conditional(ty, query)) => {
            let resource = entry.resource.ok_or_else(missing_resource)?;
            let criteria = conditional::parse_query_string(&query);
            let outcome =
                conditional::update(store, ctx, ty, &criteria, resource, entry.if_match).await?;
            Ok(written(outcome))
        }
        (Method::Patch, Target::Instance(ty, id)) => {
            let patch = entry.patch_document()?;
            let current = store.read(ctx, ty, &id).await?;
            let patched = entry::apply_patch(&current, &patch)?;
            let if_match = entry.if_match.or(Some(current.version_id));
            Ok(written(
                store.update(ctx, ty, &id, patched, if_match).await?,
            ))
        }
        (Method::Delete, Target::Instance(ty, id)) => {
            Ok(deleted(store.delete(ctx, ty, &id, entry.if_match).await?))
        }
        (Method::Delete, Target::Conditional(ty, query)) => {
            let criteria = conditional::parse_query_string(&query);
            Ok(deleted(
                conditional::delete(store, ctx, ty, &criteria).await?,
            ))
        }
        _ => Err(entry::unsupported()),
    }
}

fn written_create(stored: StoredResource) -> EntryResult {
    EntryResult::new(EntryAction::Created, Some(stored))
}

fn read(stored: StoredResource) -> EntryResult {
    EntryResult::new(EntryAction::Read, Some(stored))
}

fn deferred(read: DeferredRead) -> EntryResult {
    EntryResult {
        action: EntryAction::Deferred,
        stored: None,
        deferred: Some(read),
    }
}

fn missing_resource() -> FhirError {
    FhirError::invalid(
        IssueCode::Required,
        Some("Bundle.entry.resource".to_owned()),
        "this entry needs a resource",
    )
}

/// What a transaction entry turns into before the single store call.
enum Planned {
    /// Index into the store's write list.
    Write(usize),
    /// A conditional create that matched: nothing written.
    Matched(StoredResource),
    /// A read, run after the writes.
    Read(Entry),
    /// A conditional delete that matched nothing.
    Nothing,
}

async fn run_transaction(
    store: &dyn ResourceStore,
    ctx: &RequestContext,
    ids: &dyn IdGen,
    entries: Vec<Entry>,
) -> FhirResult<Vec<FhirResult<EntryResult>>> {
    // 1. Resolve conditionals and assign ids, recording what each fullUrl now names.
    let mut aliases: HashMap<String, String> = HashMap::new();
    let mut staged = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let full_url = entry.full_url.clone();
        let staged_entry = entry::stage(store, ctx, ids, entry, &mut aliases)
            .await
            .map_err(|err| in_entry(index, err))?;
        staged.push((staged_entry, full_url));
    }
    // 2. Rewrite references and build the writes.
    let mut resolver = entry::ReferenceResolver::new(store, ctx, aliases);
    let mut ops: Vec<WriteOp> = Vec::new();
    let mut op_entries: Vec<usize> = Vec::new();
    let mut plan = Vec::with_capacity(staged.len());
    for (index, (staged_entry, full_url)) in staged.into_iter().enumerate() {
        let planned = match staged_entry {
            entry::Staged::Write(mut op) => {
                resolver
                    .rewrite_op(&mut op, full_url.as_deref())
                    .await
                    .map_err(|err| in_entry(index, err))?;
                ops.push(op);
                op_entries.push(index);
                Planned::Write(ops.len() - 1)
            }
            entry::Staged::Matched(stored) => Planned::Matched(stored),
            entry::Staged::Read(entry) => Planned::Read(entry),
            entry::Staged::Nothing => Planned::Nothing,
        };
        plan.push(planned);
    }
    // 3. One atomic write.
    let written_ops = store.transaction(ctx, ops).await.map_err(|err| match err {
        FhirError::BundleEntry { index, source } => FhirError::BundleEntry {
            index: op_entries.get(index).copied().unwrap_or(index),
            source,
        },
        other => other,
    })?;
    let mut outcomes: Vec<Option<Option<WriteOutcome>>> =
        written_ops.into_iter().map(Some).collect();
    // 4. Reads see the transaction's result.
    let mut results = Vec::with_capacity(plan.len());
    for (index, planned) in plan.into_iter().enumerate() {
        let result = match planned {
            Planned::Write(slot) => {
                let outcome = outcomes[slot]
                    .take()
                    .expect("invariant: each write is used once");
                match outcome {
                    Some(outcome) if outcome.stored.is_deleted() => deleted(Some(outcome)),
                    Some(outcome) => written(outcome),
                    None => deleted(None),
                }
            }
            Planned::Matched(stored) => EntryResult::new(EntryAction::Matched, Some(stored)),
            Planned::Nothing => deleted(None),
            // The writes are committed: a failed read is reported on its own entry.
            Planned::Read(entry) => {
                results.push(
                    run_single(store, ctx, entry)
                        .await
                        .map_err(|err| in_entry(index, err)),
                );
                continue;
            }
        };
        results.push(Ok(result));
    }
    Ok(results)
}
