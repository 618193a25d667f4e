//! The raft log store: log entries, vote, committed and last purged log id
//! in redb (openraft `RaftLogStorage`, storage-v2).
//!
//! Each call is one redb write transaction; all of them but
//! `save_committed` are committed with fsync before they return, so an
//! acknowledged append or vote survives a crash.

use super::{Ctx, LOGS, META, META_COMMITTED, META_PURGED, META_VOTE, blocking, sto_err};
use crate::codec;
use crate::raft_types::{NodeId, TypeConfig};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend,
    RaftLogReader, StorageError, Vote,
};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

/// How many of the newest entries are also kept in memory, so replication
/// to followers that keep up never reads or decodes from disk.
pub const CACHED_ENTRIES: usize = 4096;
/// ... and at most this many commands in them: under load an entry carries
/// hundreds of commands, and 4,096 such entries held ~400 MB that followers
/// that keep up never read (the fresh memory alone cost the leader ~5% of
/// its CPU in page faults).
pub const CACHED_COMMANDS: usize = 32 * 1024;

/// The raft log, vote and log pointers, in `pan.redb`. Cheap to
/// clone; clones share the database and the cache (the log reader is a clone).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    cache: Arc<Mutex<LogCache>>,
}

/// The newest durable entries, contiguous by index. Holds only entries
/// already committed to redb; truncate and purge drop from it first.
#[derive(Default)]
struct LogCache {
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    /// Commands in `entries` (an entry without commands counts as one).
    commands: usize,
}

/// What an entry counts for against [`CACHED_COMMANDS`].
fn weight(entry: &Entry<TypeConfig>) -> usize {
    match &entry.payload {
        EntryPayload::Normal(batch) => batch.len().max(1),
        _ => 1,
    }
}

impl LogCache {
    fn insert(&mut self, entries: &[Entry<TypeConfig>]) {
        for e in entries {
            self.commands += weight(e);
            if let Some(old) = self.entries.insert(e.log_id.index, e.clone()) {
                self.commands -= weight(&old);
            }
        }
        // The newest entry stays, however large.
        while self.entries.len() > 1
            && (self.entries.len() > CACHED_ENTRIES || self.commands > CACHED_COMMANDS)
        {
            if let Some((_, old)) = self.entries.pop_first() {
                self.commands -= weight(&old);
            }
        }
    }

    /// Entries `[first, last)` if the cache holds all of them.
    fn get(&self, first: u64, last: u64) -> Option<Vec<Entry<TypeConfig>>> {
        let (&lo, _) = self.entries.first_key_value()?;
        let (&hi, _) = self.entries.last_key_value()?;
        if first < lo || last > hi.saturating_add(1) || last <= first {
            return None;
        }
        Some(
            self.entries
                .range(first..last)
                .map(|(_, e)| e.clone())
                .collect(),
        )
    }

    fn truncate(&mut self, from: u64) {
        let dropped = self.entries.split_off(&from);
        self.commands -= dropped.values().map(weight).sum::<usize>();
    }

    fn purge(&mut self, upto: u64) {
        let kept = self.entries.split_off(&upto.saturating_add(1));
        let dropped = std::mem::replace(&mut self.entries, kept);
        self.commands -= dropped.values().map(weight).sum::<usize>();
    }
}

/// Just the log id of a stored entry; decoding it skips the payload.
#[derive(Deserialize)]
struct EntryLogId {
    log_id: LogId<NodeId>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Database>) -> Self {
        Self {
            db,
            cache: Arc::default(),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, LogCache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads one metadata value.
    fn read_meta<T: serde::de::DeserializeOwned>(
        db: &Database,
        key: &str,
        subject: ErrorSubject<NodeId>,
    ) -> Result<Option<T>, StorageError<NodeId>> {
        let txn = db.begin_read().ctx(subject.clone(), ErrorVerb::Read)?;
        let table = txn.open_table(META).ctx(subject.clone(), ErrorVerb::Read)?;
        let Some(value) = table.get(key).ctx(subject.clone(), ErrorVerb::Read)? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .ctx(subject, ErrorVerb::Read)
            .map(Some)
    }

    /// Writes (or with `None`, removes) one metadata value in its own
    /// transaction with the given durability.
    fn write_meta<T: serde::Serialize>(
        db: &Database,
        key: &str,
        value: Option<&T>,
        durability: Durability,
        subject: ErrorSubject<NodeId>,
    ) -> Result<(), StorageError<NodeId>> {
        let verb = ErrorVerb::Write;
        let mut txn = db.begin_write().ctx(subject.clone(), verb)?;
        txn.set_durability(durability).ctx(subject.clone(), verb)?;
        {
            let mut table = txn.open_table(META).ctx(subject.clone(), verb)?;
            match value {
                Some(v) => {
                    let bytes = serde_json::to_vec(v).ctx(subject.clone(), verb)?;
                    table
                        .insert(key, bytes.as_slice())
                        .ctx(subject.clone(), verb)?;
                }
                None => {
                    table.remove(key).ctx(subject.clone(), verb)?;
                }
            }
        }
        txn.commit().ctx(subject, verb)
    }

    fn read_entries(
        db: &Database,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        // Normalize to [first, last) so an empty or inverted range is never
        // handed to redb.
        let first = match start {
            Bound::Included(i) => i,
            Bound::Excluded(i) => match i.checked_add(1) {
                Some(i) => i,
                None => return Ok(Vec::new()),
            },
            Bound::Unbounded => 0,
        };
        let last = match end {
            Bound::Included(i) => i.checked_add(1),
            Bound::Excluded(i) => Some(i),
            Bound::Unbounded => None,
        };
        if last.is_some_and(|last| last <= first) {
            return Ok(Vec::new());
        }

        let txn = db.begin_read().ctx(ErrorSubject::Logs, ErrorVerb::Read)?;
        let table = txn
            .open_table(LOGS)
            .ctx(ErrorSubject::Logs, ErrorVerb::Read)?;
        let range = match last {
            Some(last) => table.range(first..last),
            None => table.range(first..),
        }
        .ctx(ErrorSubject::Logs, ErrorVerb::Read)?;

        let mut entries = Vec::with_capacity(last.map_or(0, |last| {
            usize::try_from(last - first).unwrap_or(0).min(1024)
        }));
        for item in range {
            let (index, bytes) = item.ctx(ErrorSubject::Logs, ErrorVerb::Read)?;
            let index = index.value();
            let entry = codec::decode_entry(bytes.value())
                .ctx(ErrorSubject::LogIndex(index), ErrorVerb::Read)?;
            if entry.log_id.index != index {
                return Err(sto_err(
                    ErrorSubject::LogIndex(index),
                    ErrorVerb::Read,
                    AnyError::error(format!(
                        "entry stored at index {index} carries log id {}",
                        entry.log_id
                    )),
                ));
            }
            entries.push(entry);
        }
        Ok(entries)
    }

    fn append_blocking(
        db: &Database,
        entries: &[Entry<TypeConfig>],
    ) -> Result<(), StorageError<NodeId>> {
        let verb = ErrorVerb::Write;
        let mut txn = db.begin_write().ctx(ErrorSubject::Logs, verb)?;
        txn.set_durability(Durability::Immediate)
            .ctx(ErrorSubject::Logs, verb)?;
        {
            let mut table = txn.open_table(LOGS).ctx(ErrorSubject::Logs, verb)?;
            for entry in entries {
                let buf = codec::encode(entry).ctx(ErrorSubject::Log(entry.log_id), verb)?;
                table
                    .insert(entry.log_id.index, buf.as_slice())
                    .ctx(ErrorSubject::Log(entry.log_id), verb)?;
            }
        }
        txn.commit().ctx(ErrorSubject::Logs, verb)
    }

    /// Deletes entries with index >= `log_id.index`.
    fn truncate_blocking(db: &Database, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let verb = ErrorVerb::Delete;
        let mut txn = db.begin_write().ctx(ErrorSubject::Logs, verb)?;
        txn.set_durability(Durability::Immediate)
            .ctx(ErrorSubject::Logs, verb)?;
        {
            let mut table = txn.open_table(LOGS).ctx(ErrorSubject::Logs, verb)?;
            table
                .retain_in(log_id.index.., |_, _| false)
                .ctx(ErrorSubject::Logs, verb)?;
        }
        txn.commit().ctx(ErrorSubject::Logs, verb)
    }

    /// Records `log_id` as last purged and deletes entries up to it, in one
    /// transaction.
    fn purge_blocking(db: &Database, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let verb = ErrorVerb::Delete;
        let mut txn = db.begin_write().ctx(ErrorSubject::Logs, verb)?;
        txn.set_durability(Durability::Immediate)
            .ctx(ErrorSubject::Logs, verb)?;
        {
            let mut meta = txn.open_table(META).ctx(ErrorSubject::Logs, verb)?;
            let bytes = serde_json::to_vec(&log_id).ctx(ErrorSubject::Logs, verb)?;
            meta.insert(META_PURGED, bytes.as_slice())
                .ctx(ErrorSubject::Logs, verb)?;
            let mut table = txn.open_table(LOGS).ctx(ErrorSubject::Logs, verb)?;
            table
                .retain_in(..=log_id.index, |_, _| false)
                .ctx(ErrorSubject::Logs, verb)?;
        }
        txn.commit().ctx(ErrorSubject::Logs, verb)
    }

    /// The index of the last purged entry (0 when none was), read from
    /// the database; for the store's consistency check at open.
    pub(crate) fn purged_index(&self) -> Result<u64, String> {
        let purged: Option<LogId<NodeId>> =
            Self::read_meta(&self.db, META_PURGED, ErrorSubject::Logs)
                .map_err(|e| e.to_string())?;
        Ok(purged.map_or(0, |id| id.index))
    }

    fn log_state_blocking(db: &Database) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id: Option<LogId<NodeId>> =
            Self::read_meta(db, META_PURGED, ErrorSubject::Logs)?;
        let txn = db.begin_read().ctx(ErrorSubject::Logs, ErrorVerb::Read)?;
        let table = txn
            .open_table(LOGS)
            .ctx(ErrorSubject::Logs, ErrorVerb::Read)?;
        let last = match table.last().ctx(ErrorSubject::Logs, ErrorVerb::Read)? {
            Some((index, bytes)) => {
                let index = index.value();
                let e: EntryLogId = codec::decode_prefix(bytes.value())
                    .ctx(ErrorSubject::LogIndex(index), ErrorVerb::Read)?;
                Some(e.log_id)
            }
            None => None,
        };
        Ok(LogState {
            last_log_id: last.or(last_purged_log_id),
            last_purged_log_id,
        })
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let start = range.start_bound().cloned();
        let end = range.end_bound().cloned();
        let first = match start {
            Bound::Included(i) => Some(i),
            Bound::Excluded(i) => i.checked_add(1),
            Bound::Unbounded => None,
        };
        let last = match end {
            Bound::Included(i) => i.checked_add(1),
            Bound::Excluded(i) => Some(i),
            Bound::Unbounded => None,
        };
        if let (Some(first), Some(last)) = (first, last)
            && let Some(hit) = self.cache().get(first, last)
        {
            return Ok(hit);
        }
        let db = self.db.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Read, move || {
            Self::read_entries(&db, start, end)
        })
        .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let db = self.db.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Read, move || {
            Self::log_state_blocking(&db)
        })
        .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let db = self.db.clone();
        let vote = *vote;
        blocking(ErrorSubject::Vote, ErrorVerb::Write, move || {
            Self::write_meta(
                &db,
                META_VOTE,
                Some(&vote),
                Durability::Immediate,
                ErrorSubject::Vote,
            )
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        let db = self.db.clone();
        blocking(ErrorSubject::Vote, ErrorVerb::Read, move || {
            Self::read_meta(&db, META_VOTE, ErrorSubject::Vote)
        })
        .await
    }

    /// Saved without fsync: it becomes durable with the next append (or any
    /// other durable write). Losing it only makes a restart re-apply less.
    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let db = self.db.clone();
        blocking(ErrorSubject::Store, ErrorVerb::Write, move || {
            Self::write_meta(
                &db,
                META_COMMITTED,
                committed.as_ref(),
                Durability::None,
                ErrorSubject::Store,
            )
        })
        .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        let db = self.db.clone();
        blocking(ErrorSubject::Store, ErrorVerb::Read, move || {
            Self::read_meta(&db, META_COMMITTED, ErrorSubject::Store)
        })
        .await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        if entries.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let db = self.db.clone();
        let result = blocking(ErrorSubject::Logs, ErrorVerb::Write, move || {
            Self::append_blocking(&db, &entries).map(|()| entries)
        })
        .await;
        match result {
            Ok(entries) => {
                self.cache().insert(&entries);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.cache().truncate(log_id.index);
        let db = self.db.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            Self::truncate_blocking(&db, log_id)
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        self.cache().purge(log_id.index);
        let db = self.db.clone();
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            Self::purge_blocking(&db, log_id)
        })
        .await
    }
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use crate::state::{Command, Envelope};
    use openraft::testing::log_id;

    fn entry(index: u64, commands: usize) -> Entry<TypeConfig> {
        let envelope = Envelope {
            principal: "admin".into(),
            at_ms: 1,
            command: Command::DeletePartition {
                name: "p".to_string(),
            }
            .into(),
        };
        Entry {
            log_id: log_id(1, 1, index),
            payload: EntryPayload::Normal(Arc::new(vec![envelope; commands].into())),
        }
    }

    #[test]
    fn the_cache_holds_a_bounded_number_of_commands_newest_first() {
        let mut cache = LogCache::default();
        let per_entry = CACHED_COMMANDS / 8;
        let entries: Vec<_> = (1..=20).map(|i| entry(i, per_entry)).collect();
        cache.insert(&entries);
        assert_eq!(cache.entries.len(), 8, "8 entries of 1/8 of the bound fit");
        assert_eq!(cache.commands, CACHED_COMMANDS);
        assert!(cache.get(13, 21).is_some(), "the newest are kept");
        assert!(cache.get(12, 21).is_none(), "older ones were dropped");

        // One entry larger than the bound is still cached alone.
        cache.insert(&[entry(21, CACHED_COMMANDS * 2)]);
        assert_eq!(cache.entries.len(), 1);
        assert_eq!(cache.commands, CACHED_COMMANDS * 2);

        // Truncate and purge keep the count right.
        cache.insert(&[entry(22, 3), entry(23, 4)]);
        cache.truncate(23);
        assert_eq!(cache.commands, 3);
        cache.purge(22);
        assert_eq!((cache.entries.len(), cache.commands), (0, 0));
    }
}
