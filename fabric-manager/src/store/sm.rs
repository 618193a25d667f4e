//! The state machine store: the replicated [`State`] in memory, snapshots in
//! redb (openraft `RaftStateMachine` and `RaftSnapshotBuilder`).
//!
//! Applying entries touches memory only; the state reaches disk through
//! snapshots, which are written with fsync. On open the latest snapshot is
//! loaded and openraft re-applies the log after it, up to the saved
//! committed log id.

use super::{Ctx, SNAP_DATA, SNAP_META, SNAP_SEQ, SNAPSHOT, StoreError, blocking, sto_err};
use crate::raft_types::{NodeId, Response, TypeConfig};
use crate::state::{Event, State};
use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend,
    RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StoredMembership,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::{broadcast, watch};

/// How many events a slow subscriber may lag behind before it misses some.
pub const EVENT_CAPACITY: usize = 4096;

type Membership = StoredMembership<NodeId, BasicNode>;
type Meta = SnapshotMeta<NodeId, BasicNode>;

/// The state machine: [`State`] plus the raft bookkeeping applied with it.
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct StateMachineStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// This member: the one whose callers wait on the entries it proposed.
    node: NodeId,
    /// The snapshot database (`snapshot.redb`).
    db: Arc<Database>,
    data: RwLock<Applied>,
    /// Held by `apply` across each whole entry and by the snapshot builder
    /// while it copies `data`: `data` itself is locked a chunk of commands
    /// at a time (see [`APPLY_CHUNK`]), and a snapshot must never hold part
    /// of an entry.
    entry_gate: std::sync::Mutex<()>,
    events: broadcast::Sender<Event>,
    /// The index of the last entry applied or snapshot installed: a
    /// "the state changed" signal for loops that re-read the state (no
    /// per-event copy, one wake-up per burst).
    changes: watch::Sender<u64>,
    snapshots_installed: AtomicU64,
    /// Index of the last snapshot built or installed (0 if none).
    snapshot_index: AtomicU64,
    /// Sequence number of the last snapshot built here (persisted).
    snapshot_seq: AtomicU64,
}

/// Commands applied per hold of the state's write lock. Every API call
/// reads the state (token verification) and a reader blocks its runtime
/// thread while apply holds the lock: a whole entry of ~500 commands held it
/// for milliseconds — tens when the thread was preempted — stalling request
/// handling and raft traffic on both threads. Readers may see a prefix of an
/// entry's commands; each command is a request of its own, so that is a
/// state between two requests.
const APPLY_CHUNK: usize = 32;

/// Everything a snapshot holds.
#[derive(Clone, Default)]
struct Applied {
    state: State,
    last_applied: Option<LogId<NodeId>>,
    last_membership: Membership,
}

/// Serialized form of a snapshot, borrowing the state.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    last_applied: &'a Option<LogId<NodeId>>,
    last_membership: &'a Membership,
    state: &'a State,
}

/// Deserialized form of a snapshot.
#[derive(Deserialize)]
struct SnapshotOwned {
    last_applied: Option<LogId<NodeId>>,
    last_membership: Membership,
    state: State,
}

impl SnapshotOwned {
    /// Decodes snapshot bytes into a ready-to-use [`Applied`] (reindexed).
    fn decode(bytes: &[u8]) -> Result<Applied, serde_json::Error> {
        let SnapshotOwned {
            last_applied,
            last_membership,
            mut state,
        } = serde_json::from_slice(bytes)?;
        state.reindex();
        Ok(Applied {
            state,
            last_applied,
            last_membership,
        })
    }
}

/// The stored snapshot as raw parts.
struct StoredSnapshot {
    meta: Meta,
    data: Vec<u8>,
}

impl StateMachineStore {
    /// Loads the stored snapshot (if any) from `db` into memory.
    pub(crate) fn load(node: NodeId, db: Arc<Database>, path: &Path) -> Result<Self, StoreError> {
        let open_err = |source: redb::Error| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let corrupt = |what: &'static str, reason: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            what,
            reason,
        };

        let (seq, stored) = read_snapshot_raw(&db).map_err(|e| match e {
            RawError::Db(e) => open_err(e),
            RawError::Decode(what, e) => corrupt(what, e.to_string()),
            RawError::Missing(what) => corrupt(what, "it is missing".to_string()),
        })?;

        let mut applied = Applied::default();
        let mut snapshot_index = 0;
        if let Some(StoredSnapshot { meta, data }) = stored {
            let decoded = SnapshotOwned::decode(&data)
                .map_err(|e| corrupt("snapshot data", e.to_string()))?;
            if decoded.last_applied != meta.last_log_id {
                return Err(corrupt(
                    "snapshot data",
                    format!(
                        "it covers log id {:?} but its meta says {:?}",
                        decoded.last_applied, meta.last_log_id
                    ),
                ));
            }
            snapshot_index = meta.last_log_id.map_or(0, |id| id.index);
            applied = Applied {
                state: decoded.state,
                last_applied: meta.last_log_id,
                last_membership: meta.last_membership,
            };
        }

        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (changes, _) = watch::channel(snapshot_index);
        Ok(Self {
            inner: Arc::new(Inner {
                node,
                db,
                data: RwLock::new(applied),
                entry_gate: std::sync::Mutex::new(()),
                events,
                changes,
                snapshots_installed: AtomicU64::new(0),
                snapshot_index: AtomicU64::new(snapshot_index),
                snapshot_seq: AtomicU64::new(seq),
            }),
        })
    }

    fn data(&self) -> RwLockReadGuard<'_, Applied> {
        self.inner
            .data
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn data_mut(&self) -> RwLockWriteGuard<'_, Applied> {
        self.inner
            .data
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the current state (under a read lock; keep `f` short).
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.data().state)
    }

    /// Subscribes to the events of entries applied from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Watches for state changes: the value is the index of the last entry
    /// applied (or snapshot installed), and `changed()` wakes once however
    /// many changed it since. For loops that re-read what they need from
    /// the state; [`Self::subscribe`] is for those that need each event.
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// How many snapshots were installed from a leader since open.
    pub fn snapshots_installed(&self) -> u64 {
        self.inner.snapshots_installed.load(Ordering::Relaxed)
    }

    /// The log id of the last applied entry.
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.data().last_applied
    }

    /// Log index of the last snapshot built or installed (0 if none).
    pub fn snapshot_index(&self) -> u64 {
        self.inner.snapshot_index.load(Ordering::Relaxed)
    }

    /// Hex SHA-256 of the state's serde_json form: equal on replicas that
    /// applied the same log.
    pub fn digest(&self) -> String {
        let bytes = match serde_json::to_vec(&self.data().state) {
            Ok(bytes) => bytes,
            // Not expected (the state is plain data); keep the digest
            // distinguishable rather than panicking.
            Err(e) => return format!("unserializable state: {e}"),
        };
        let hash = Sha256::digest(&bytes);
        let mut out = String::with_capacity(64);
        for b in hash {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Low-level failures while reading the stored snapshot.
#[derive(Debug, thiserror::Error)]
enum RawError {
    #[error(transparent)]
    Db(#[from] redb::Error),
    #[error("cannot decode the stored {0}: {1}")]
    Decode(&'static str, serde_json::Error),
    #[error("the stored {0} is missing")]
    Missing(&'static str),
}

/// Reads the snapshot sequence number and the stored snapshot, if any.
fn read_snapshot_raw(db: &Database) -> Result<(u64, Option<StoredSnapshot>), RawError> {
    let txn = db.begin_read().map_err(redb::Error::from)?;
    let table = txn.open_table(SNAPSHOT).map_err(redb::Error::from)?;
    let seq = match table.get(SNAP_SEQ).map_err(redb::Error::from)? {
        Some(v) => serde_json::from_slice(v.value())
            .map_err(|e| RawError::Decode("snapshot sequence number", e))?,
        None => 0,
    };
    let Some(meta) = table.get(SNAP_META).map_err(redb::Error::from)? else {
        return Ok((seq, None));
    };
    let meta: Meta =
        serde_json::from_slice(meta.value()).map_err(|e| RawError::Decode("snapshot meta", e))?;
    let Some(data) = table.get(SNAP_DATA).map_err(redb::Error::from)? else {
        return Err(RawError::Missing("snapshot data"));
    };
    let data = data.value().to_vec();
    Ok((seq, Some(StoredSnapshot { meta, data })))
}

/// Every row of `db`'s snapshot table, as (key, bytes).
pub(crate) fn snapshot_rows(db: &Database) -> Result<Vec<(String, Vec<u8>)>, redb::Error> {
    let txn = db.begin_read()?;
    let table = txn.open_table(SNAPSHOT)?;
    let rows = table
        .iter()?
        .map(|row| row.map(|(k, v)| (k.value().to_string(), v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Which database a step of [`move_legacy_snapshot`] failed on.
#[derive(Debug)]
pub(crate) enum MoveError {
    Log(redb::Error),
    Snapshots(redb::Error),
}

/// Moves a snapshot that a data directory from before [`SNAPSHOT_FILE`]
/// keeps in the log's database into `snapshots`, unless that holds the
/// same or a newer one (the move was cut short after the copy, or an older
/// version ran in between and wrote the legacy one); then removes it from
/// `main`. Each step is a durable transaction, so a crash between them
/// repeats the rest at the next start.
///
/// [`SNAPSHOT_FILE`]: super::SNAPSHOT_FILE
pub(crate) fn move_legacy_snapshot(main: &Database, snapshots: &Database) -> Result<(), MoveError> {
    let legacy = snapshot_rows(main).map_err(MoveError::Log)?;
    if legacy.is_empty() {
        return Ok(());
    }
    let current = snapshot_rows(snapshots).map_err(MoveError::Snapshots)?;
    let row = |rows: &'_ [(String, Vec<u8>)], key: &str| -> Option<Vec<u8>> {
        rows.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let log_id = |rows: &[(String, Vec<u8>)]| {
        row(rows, SNAP_META)
            .and_then(|m| serde_json::from_slice::<Meta>(&m).ok())
            .map(|m| m.last_log_id)
    };
    let seq = |rows: &[(String, Vec<u8>)]| {
        row(rows, SNAP_SEQ)
            .and_then(|b| serde_json::from_slice::<u64>(&b).ok())
            .unwrap_or(0)
    };
    let copy = match (log_id(&legacy), log_id(&current)) {
        (Some(legacy), Some(current)) => legacy > current,
        (Some(_), None) => true,
        // An unreadable legacy meta: load fails on it the same way where
        // it is, so keep what `snapshots` has, if anything.
        (None, current) => current.is_none(),
    };
    if copy {
        // Snapshot ids stay unique across both histories; JSON, as
        // `write_snapshot` stores it, is the number's digits.
        let next = seq(&legacy).max(seq(&current)).to_string();
        change_rows(snapshots, |table| {
            for (key, value) in &legacy {
                table.insert(key.as_str(), value.as_slice())?;
            }
            table.insert(SNAP_SEQ, next.as_bytes())?;
            Ok(())
        })
        .map_err(MoveError::Snapshots)?;
    }
    change_rows(main, |table| {
        for (key, _) in &legacy {
            table.remove(key.as_str())?;
        }
        Ok(())
    })
    .map_err(MoveError::Log)?;
    if copy {
        tracing::info!("moved the stored snapshot out of the log's database into its own");
    } else {
        tracing::info!("removed an older snapshot copy from the log's database");
    }
    Ok(())
}

/// Changes `db`'s snapshot table with `f` in one durable transaction.
fn change_rows(
    db: &Database,
    f: impl FnOnce(&mut redb::Table<'_, &'static str, &'static [u8]>) -> Result<(), redb::StorageError>,
) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    f(&mut txn.open_table(SNAPSHOT)?)?;
    txn.commit()?;
    Ok(())
}

/// Stores a snapshot durably. With `only_if_newer`, a stored snapshot with
/// a greater last log id is kept (a build racing an install). Returns
/// whether the snapshot was stored.
fn write_snapshot(
    db: &Database,
    meta: &Meta,
    data: &[u8],
    seq: Option<u64>,
    only_if_newer: bool,
) -> Result<bool, StorageError<NodeId>> {
    let subject = ErrorSubject::Snapshot(Some(meta.signature()));
    let verb = ErrorVerb::Write;
    let mut txn = db.begin_write().ctx(subject.clone(), verb)?;
    txn.set_durability(Durability::Immediate)
        .ctx(subject.clone(), verb)?;
    let mut stored = false;
    {
        let mut table = txn.open_table(SNAPSHOT).ctx(subject.clone(), verb)?;
        if let Some(seq) = seq {
            let bytes = serde_json::to_vec(&seq).ctx(subject.clone(), verb)?;
            table
                .insert(SNAP_SEQ, bytes.as_slice())
                .ctx(subject.clone(), verb)?;
        }
        let keep_existing = only_if_newer
            && match table.get(SNAP_META).ctx(subject.clone(), verb)? {
                // An unreadable stored meta is replaced.
                Some(v) => serde_json::from_slice::<Meta>(v.value())
                    .is_ok_and(|existing| existing.last_log_id > meta.last_log_id),
                None => false,
            };
        if !keep_existing {
            let meta_bytes = serde_json::to_vec(meta).ctx(subject.clone(), verb)?;
            table
                .insert(SNAP_META, meta_bytes.as_slice())
                .ctx(subject.clone(), verb)?;
            table.insert(SNAP_DATA, data).ctx(subject.clone(), verb)?;
            stored = true;
        }
    }
    txn.commit().ctx(subject, verb)?;
    Ok(stored)
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        // A consistent copy at an entry boundary: the gate holds apply back
        // between entries while the records (not the derived lookups, which
        // a snapshot never stores) are copied under the read lock.
        let applied = {
            let _entry = self
                .inner
                .entry_gate
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let data = self.data();
            Applied {
                state: data.state.snapshot_copy(),
                last_applied: data.last_applied,
                last_membership: data.last_membership.clone(),
            }
        };
        let seq = self.inner.snapshot_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let db = self.inner.db.clone();
        let subject = ErrorSubject::Snapshot(None);

        let (meta, data, stored) = blocking(subject.clone(), ErrorVerb::Write, move || {
            let (term, index) = applied
                .last_applied
                .map_or((0, 0), |id| (id.leader_id.term, id.index));
            let meta = Meta {
                last_log_id: applied.last_applied,
                last_membership: applied.last_membership.clone(),
                snapshot_id: format!("{term}-{index}-{seq}"),
            };
            let data = serde_json::to_vec(&SnapshotRef {
                last_applied: &applied.last_applied,
                last_membership: &applied.last_membership,
                state: &applied.state,
            })
            .ctx(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
            )?;
            let stored = write_snapshot(&db, &meta, &data, Some(seq), true)?;
            Ok((meta, data, stored))
        })
        .await?;

        if stored {
            self.inner
                .snapshot_index
                .fetch_max(meta.last_log_id.map_or(0, |id| id.index), Ordering::Relaxed);
        }
        tracing::info!(snapshot = %meta.snapshot_id, bytes = data.len(), stored, "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, Membership), StorageError<NodeId>> {
        let data = self.data();
        Ok((data.last_applied, data.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries = entries.into_iter();
        let mut responses = Vec::with_capacity(entries.size_hint().0);
        let mut last = None;
        for entry in entries {
            last = Some(entry.log_id.index);
            let _entry = self
                .inner
                .entry_gate
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match entry.payload {
                EntryPayload::Blank => {
                    self.data_mut().last_applied = Some(entry.log_id);
                    responses.push(Vec::new());
                }
                EntryPayload::Normal(batch) => {
                    // Callers wait only on the member that proposed the
                    // entry (writes to others are forwarded to it); the
                    // others skip building what the callers are shown.
                    let observed = entry.log_id.leader_id.node_id == self.inner.node;
                    let index = entry.log_id.index;
                    let mut results = Vec::with_capacity(if observed { batch.len() } else { 0 });
                    for chunk in batch.chunks(APPLY_CHUNK) {
                        let mut data = self.data_mut();
                        for envelope in chunk {
                            let events = if observed {
                                let applied = data.state.apply(index, envelope);
                                results.push(applied.result);
                                applied.events
                            } else {
                                data.state.apply_unobserved(index, envelope).1
                            };
                            for event in events {
                                // No subscriber is fine.
                                let _ = self.inner.events.send(event);
                            }
                        }
                    }
                    self.data_mut().last_applied = Some(entry.log_id);
                    responses.push(results);
                }
                EntryPayload::Membership(membership) => {
                    let mut data = self.data_mut();
                    data.last_applied = Some(entry.log_id);
                    data.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                    responses.push(Vec::new());
                }
            }
        }
        if let Some(last) = last {
            self.inner.changes.send_replace(last);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let db = self.inner.db.clone();
        let meta = meta.clone();
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));

        let (meta, applied) = blocking(subject.clone(), ErrorVerb::Write, move || {
            let decoded = SnapshotOwned::decode(&data).ctx(subject.clone(), ErrorVerb::Read)?;
            if decoded.last_applied != meta.last_log_id {
                return Err(sto_err(
                    subject,
                    ErrorVerb::Read,
                    AnyError::error(format!(
                        "snapshot data covers log id {:?} but its meta says {:?}",
                        decoded.last_applied, meta.last_log_id
                    )),
                ));
            }
            write_snapshot(&db, &meta, &data, None, false)?;
            Ok((meta, decoded))
        })
        .await?;

        let index = meta.last_log_id.map_or(0, |id| id.index);
        *self.data_mut() = Applied {
            state: applied.state,
            last_applied: meta.last_log_id,
            last_membership: meta.last_membership.clone(),
        };
        self.inner.snapshot_index.store(index, Ordering::Relaxed);
        self.inner
            .snapshots_installed
            .fetch_add(1, Ordering::Relaxed);
        self.inner.changes.send_replace(index);
        tracing::info!(snapshot = %meta.snapshot_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let db = self.inner.db.clone();
        let subject = ErrorSubject::Snapshot(None);
        let stored = blocking(subject.clone(), ErrorVerb::Read, move || {
            read_snapshot_raw(&db)
                .map(|(_, stored)| stored)
                .ctx(subject, ErrorVerb::Read)
        })
        .await?;
        Ok(stored.map(|StoredSnapshot { meta, data }| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}
