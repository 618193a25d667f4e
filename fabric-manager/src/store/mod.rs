//! The durable store of a fabric manager: openraft's log storage in one redb
//! file, `<data dir>/pan.redb`, and its state machine storage in another,
//! `<data dir>/snapshot.redb` (redb runs one write transaction at a time per
//! file, so a large snapshot being stored would otherwise hold up appends).
//!
//! What is stored:
//! - in `pan.redb`, the raft log (`raft_log`: index -> `crate::codec`
//!   (postcard) of `openraft::Entry`) and the raft metadata (`raft_meta`:
//!   vote, committed log id, last purged log id),
//! - in `snapshot.redb`, the latest state machine snapshot (`snapshot`: its
//!   meta, its bytes and a sequence number used to make snapshot ids
//!   unique). Data directories from before that file kept it in `pan.redb`;
//!   it is moved at start.
//!
//! The replicated [`State`](crate::state::State) itself lives in memory (see
//! [`StateMachineStore`]); it is persisted only through snapshots. After a
//! restart the state machine starts from the stored snapshot and openraft
//! re-applies the log from there up to the saved committed log id.
//!
//! Every write that openraft is told is done (appended entries, vote,
//! truncation, purge, snapshot) is committed with fsync before the
//! acknowledgement. The one exception is the committed log id, which is
//! written without fsync and becomes durable with the next append: losing it
//! in a crash only means re-applying less on restart, which raft recovers from.
//!
//! This module does file I/O on the data directory only; it never touches
//! hardware, and the state machine it hosts stays pure.

// openraft's storage traits fix the error type (`StorageError`, ~224 bytes);
// the helpers here return it as is.
#![allow(clippy::result_large_err)]

mod log;
mod sm;

#[cfg(test)]
mod tests;

pub use log::LogStore;
pub use sm::StateMachineStore;

use crate::raft_types::NodeId;
use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageError, StorageIOError};
use redb::{Database, DatabaseError, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the database file inside the data directory: the raft log, vote
/// and committed index.
pub const DB_FILE: &str = "pan.redb";
/// Name of the snapshot database file inside the data directory. A file of
/// its own because redb runs one write transaction at a time per file:
/// storing a snapshot (tens of MB at 60k servers, 0.3-0.4 s) in the log's
/// file held every log append, and so every write, for as long.
pub const SNAPSHOT_FILE: &str = "snapshot.redb";
/// The snapshot database's page cache: it is read at start and when a
/// member that fell behind is sent the snapshot, never on the write path.
const SNAPSHOT_CACHE_BYTES: usize = 4 * 1024 * 1024;
/// redb's page cache (its default is 1 GiB). The log's recent entries are
/// cached decoded by the log store and the state lives in memory, so the
/// page cache mostly held log pages written once and never read again —
/// memory the process grew into at the write rate.
const DB_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Raft log entries by index.
pub(crate) const LOGS: TableDefinition<'static, u64, &[u8]> = TableDefinition::new("raft_log");
/// Raft metadata: [`META_VOTE`], [`META_COMMITTED`], [`META_PURGED`].
pub(crate) const META: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("raft_meta");
/// The latest snapshot, in [`SNAPSHOT_FILE`] (and in [`DB_FILE`] in data
/// directories written before it existed, moved at start):
/// [`SNAP_META`], [`SNAP_DATA`], [`SNAP_SEQ`].
pub(crate) const SNAPSHOT: TableDefinition<'static, &str, &[u8]> = TableDefinition::new("snapshot");

pub(crate) const META_VOTE: &str = "vote";
pub(crate) const META_COMMITTED: &str = "committed";
pub(crate) const META_PURGED: &str = "last_purged";
pub(crate) const SNAP_META: &str = "meta";
pub(crate) const SNAP_DATA: &str = "data";
pub(crate) const SNAP_SEQ: &str = "seq";

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot create data directory {path}; check that the path is right and that the \
         fabric-manager user may write there"
    )]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "data directory {path} is held by another fabric-manager process; stop that process, \
         or give this one its own data directory"
    )]
    Locked { path: PathBuf },

    #[error(
        "cannot open the store file {path}; if the file is damaged, restore the data \
         directory from a backup (pan.redb and snapshot.redb together), or remove this member \
         from the cluster and rejoin it with an empty data directory"
    )]
    Open {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },

    #[error(
        "the stored {what} in {path} is unreadable ({reason}); the file may be damaged: restore \
         the data directory from a backup (pan.redb and snapshot.redb together), or remove this \
         member from the cluster and rejoin it with an empty data directory"
    )]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },

    #[error(
        "the data directory {path} does not hold together: its log (pan.redb) starts after \
         index {purged}, but its snapshot (snapshot.redb) ends at index {snapshot}, so the \
         entries between are gone; the two files come from different times. Restore both from \
         the same backup, or remove this member from the cluster and rejoin it with an empty \
         data directory"
    )]
    SnapshotBehindLog {
        path: PathBuf,
        purged: u64,
        snapshot: u64,
    },
}

/// Opens (creating if needed) the store in `data_dir` and returns its log
/// store and state machine store, each on its own database file.
///
/// The state machine starts from the stored snapshot, if there is one.
/// Blocks on file I/O; call it before starting raft, or from a blocking task.
pub fn open(data_dir: &Path, node: NodeId) -> Result<(LogStore, StateMachineStore), StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let path = data_dir.join(DB_FILE);
    let db = open_db(data_dir, &path, DB_CACHE_BYTES)?;
    create_tables(&db, true).map_err(|source| StoreError::Open {
        path: path.clone(),
        source,
    })?;
    let snapshot_path = data_dir.join(SNAPSHOT_FILE);
    let snapshots = open_db(data_dir, &snapshot_path, SNAPSHOT_CACHE_BYTES)?;
    let open_err = |source| StoreError::Open {
        path: snapshot_path.clone(),
        source,
    };
    create_tables(&snapshots, false).map_err(open_err)?;
    // The new file's directory entry is durable before anything relies on
    // it (the legacy snapshot's only copy may be about to live there).
    std::fs::File::open(data_dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| StoreError::CreateDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
    sm::move_legacy_snapshot(&db, &snapshots).map_err(|e| match e {
        sm::MoveError::Log(source) => StoreError::Open {
            path: path.clone(),
            source,
        },
        sm::MoveError::Snapshots(source) => open_err(source),
    })?;
    let sm = StateMachineStore::load(node, Arc::new(snapshots), &snapshot_path)?;
    let log = LogStore::new(Arc::new(db));
    // A log purged past the snapshot cannot be replayed onto it.
    let purged = log.purged_index().map_err(|reason| StoreError::Corrupt {
        path: path.clone(),
        what: "last purged log id",
        reason,
    })?;
    let snapshot = sm.last_applied().map_or(0, |id| id.index);
    if purged > snapshot {
        return Err(StoreError::SnapshotBehindLog {
            path: data_dir.to_path_buf(),
            purged,
            snapshot,
        });
    }
    Ok((log, sm))
}

/// Opens (creating if needed) the redb database at `path` in `data_dir`.
fn open_db(data_dir: &Path, path: &Path, cache_bytes: usize) -> Result<Database, StoreError> {
    redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)
        .map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Locked {
                path: data_dir.to_path_buf(),
            },
            other => StoreError::Open {
                path: path.to_path_buf(),
                source: other.into(),
            },
        })
}

/// Creates the tables so that read transactions always find them: the
/// snapshot table, and with `log` the log's tables.
fn create_tables(db: &Database, log: bool) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        if log {
            txn.open_table(LOGS)?;
            txn.open_table(META)?;
        }
        txn.open_table(SNAPSHOT)?;
    }
    txn.commit()?;
    Ok(())
}

/// Builds an openraft storage error for `subject` and `verb` from `source`.
pub(crate) fn sto_err(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    source: impl Into<AnyError>,
) -> StorageError<NodeId> {
    StorageIOError::new(subject, verb, source).into()
}

/// Adds openraft error context to a fallible result.
pub(crate) trait Ctx<T> {
    fn ctx(self, subject: ErrorSubject<NodeId>, verb: ErrorVerb)
    -> Result<T, StorageError<NodeId>>;
}

impl<T, E> Ctx<T> for Result<T, E>
where
    E: std::error::Error + 'static,
{
    fn ctx(
        self,
        subject: ErrorSubject<NodeId>,
        verb: ErrorVerb,
    ) -> Result<T, StorageError<NodeId>> {
        self.map_err(|e| sto_err(subject, verb, &e))
    }
}

/// Runs blocking database work on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    f: F,
) -> Result<T, StorageError<NodeId>>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StorageError<NodeId>> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(join) => Err(sto_err(subject, verb, &join)),
    }
}
