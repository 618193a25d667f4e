//! Tests of the durable store: openraft's storage conformance suite, a
//! restart from snapshot + log, and damaged data on disk.

use super::*;
use crate::raft_types::{Request, TypeConfig};
use crate::state::{Command, Envelope, Outcome, StateError};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite, log_id};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, Membership, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageHelper, StoredMembership, Vote,
};
use redb::TableHandle as _;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use tempfile::TempDir;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct TempStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for TempStoreBuilder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore, StateMachineStore), openraft::StorageError<NodeId>> {
        let dir =
            tempfile::tempdir().map_err(|e| sto_err(ErrorSubject::Store, ErrorVerb::Write, &e))?;
        let (log, sm) =
            open(dir.path(), 1).map_err(|e| sto_err(ErrorSubject::Store, ErrorVerb::Write, &e))?;
        Ok((dir, log, sm))
    }
}

/// openraft's own conformance suite (it runs its own tokio runtimes).
#[test]
fn openraft_storage_suite() -> Result<(), openraft::StorageError<NodeId>> {
    Suite::<TypeConfig, LogStore, StateMachineStore, TempStoreBuilder, TempDir>::test_all(
        TempStoreBuilder,
    )
}

fn lid(index: u64) -> LogId<NodeId> {
    log_id(1, 1, index)
}

fn create_partition(name: &str, at_ms: u64) -> Envelope {
    Envelope {
        principal: "admin".into(),
        at_ms,
        command: Command::CreatePartition {
            name: name.to_string(),
            description: format!("partition {name}"),
            network_ids: None,
        }
        .into(),
    }
}

fn normal(index: u64, batch: Request) -> Entry<TypeConfig> {
    Entry {
        log_id: lid(index),
        payload: EntryPayload::Normal(batch),
    }
}

fn membership(index: u64) -> Entry<TypeConfig> {
    let nodes = BTreeMap::from([(1, BasicNode::new("127.0.0.1:7001"))]);
    Entry {
        log_id: lid(index),
        payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1])], nodes)),
    }
}

/// Entries 0..=8, like a real log: the initial membership at index 0, then
/// batches of partition creations (entry 5 repeats a name, so one command of
/// it is refused).
fn entries() -> Vec<Entry<TypeConfig>> {
    let mut out = vec![membership(0)];
    for index in 1..=8 {
        let mut batch = vec![
            create_partition(&format!("p{index}a"), index * 1000),
            create_partition(&format!("p{index}b"), index * 1000 + 1),
        ];
        if index == 5 {
            batch.push(create_partition("p1a", index * 1000 + 2));
        }
        out.push(normal(index, std::sync::Arc::new(batch.into())));
    }
    out
}

fn json(entries: &[Entry<TypeConfig>]) -> Result<String, serde_json::Error> {
    serde_json::to_string(entries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_from_snapshot_and_committed_log() -> TestResult {
    let dir = tempfile::tempdir()?;
    let all = entries();
    let vote = Vote::new(1, 1);

    let (digest, state, snapshot_meta) = {
        let (mut log, mut sm) = open(dir.path(), 1)?;
        let mut events = sm.subscribe();
        log.save_vote(&vote).await?;

        log.blocking_append(all[..5].to_vec()).await?;
        log.save_committed(Some(lid(4))).await?;
        let responses = sm.apply(all[..5].to_vec()).await?;
        assert_eq!(responses.len(), 5);
        assert!(responses[0].is_empty(), "membership entry has no results");
        assert_eq!(responses[1].len(), 2);
        assert!(responses[1].iter().all(Result::is_ok));
        let event = events.try_recv()?;
        assert_eq!(event.index, 1);
        assert_eq!(event.kind, "partition.created");

        let snapshot = sm.get_snapshot_builder().await.build_snapshot().await?;
        assert_eq!(snapshot.meta.last_log_id, Some(lid(4)));
        assert_eq!(sm.snapshot_index(), 4);

        log.blocking_append(all[5..].to_vec()).await?;
        let responses = sm.apply(all[5..7].to_vec()).await?;
        assert_eq!(responses[0].len(), 3);
        assert!(
            responses[0][2].is_err(),
            "duplicate partition name is refused"
        );
        log.save_committed(Some(lid(6))).await?;
        // Entries 7 and 8 are in the log but not committed.
        assert_eq!(sm.last_applied(), Some(lid(6)));
        (sm.digest(), sm.read(Clone::clone), snapshot.meta)
    };

    let (mut log, mut sm) = open(dir.path(), 1)?;
    // The snapshot is loaded, nothing after it is applied yet.
    assert_eq!(sm.last_applied(), Some(lid(4)));
    assert_eq!(sm.snapshot_index(), 4);
    let current = sm
        .get_current_snapshot()
        .await?
        .ok_or("no stored snapshot")?;
    assert_eq!(current.meta, snapshot_meta);
    let (applied, mem) = sm.applied_state().await?;
    assert_eq!(applied, Some(lid(4)));
    assert_eq!(mem.log_id(), &Some(lid(0)));

    // Log, vote and committed are intact.
    assert_eq!(log.read_vote().await?, Some(vote));
    assert_eq!(log.read_committed().await?, Some(lid(6)));
    let state_of_log = log.get_log_state().await?;
    assert_eq!(state_of_log.last_log_id, Some(lid(8)));
    assert_eq!(state_of_log.last_purged_log_id, None);
    let read = log.try_get_log_entries(0..9).await?;
    assert_eq!(json(&read)?, json(&all)?);

    // openraft's startup path re-applies (4, 6] and lands on the same state.
    let initial = StorageHelper::new(&mut log, &mut sm)
        .get_initial_state()
        .await?;
    assert_eq!(initial.committed, Some(lid(6)));
    assert_eq!(sm.last_applied(), Some(lid(6)));
    assert_eq!(sm.digest(), digest);
    assert!(sm.read(|s| *s == state));

    // Purge up to the snapshot survives a restart too.
    log.purge(lid(4)).await?;
    drop((log, sm));
    let (mut log, _sm) = open(dir.path(), 1)?;
    let state_of_log = log.get_log_state().await?;
    assert_eq!(state_of_log.last_purged_log_id, Some(lid(4)));
    assert_eq!(state_of_log.last_log_id, Some(lid(8)));
    assert!(log.try_get_log_entries(0..5).await?.is_empty());
    assert_eq!(log.try_get_log_entries(0..100).await?.len(), 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installed_snapshot_replaces_state_and_survives_restart() -> TestResult {
    let leader_dir = tempfile::tempdir()?;
    let follower_dir = tempfile::tempdir()?;
    let all = entries();

    let (_leader_log, mut leader) = open(leader_dir.path(), 1)?;
    leader.apply(all.clone()).await?;
    let snapshot = leader.get_snapshot_builder().await.build_snapshot().await?;

    {
        let (_log, mut follower) = open(follower_dir.path(), 2)?;
        let mut data = follower.begin_receiving_snapshot().await?;
        *data = *snapshot.snapshot;
        let changes = follower.watch_changes();
        follower.install_snapshot(&snapshot.meta, data).await?;
        assert_eq!(*changes.borrow(), 8, "an installed snapshot is a change");
        assert_eq!(follower.snapshots_installed(), 1);
        assert_eq!(follower.snapshot_index(), 8);
        assert_eq!(follower.last_applied(), Some(lid(8)));
        assert_eq!(follower.digest(), leader.digest());
    }

    let (_log, follower) = open(follower_dir.path(), 2)?;
    assert_eq!(follower.last_applied(), Some(lid(8)));
    assert_eq!(follower.digest(), leader.digest());
    assert_eq!(follower.snapshots_installed(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_snapshot_is_an_error_and_changes_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (_log, mut sm) = open(dir.path(), 1)?;
    sm.apply(entries()[..3].to_vec()).await?;
    let before = sm.digest();
    let meta = SnapshotMeta {
        last_log_id: Some(lid(20)),
        last_membership: StoredMembership::default(),
        snapshot_id: "1-20-1".to_string(),
    };

    let garbage = Box::new(Cursor::new(b"\x00not json{".to_vec()));
    assert!(sm.install_snapshot(&meta, garbage).await.is_err());

    // Well-formed but for another log id than the meta claims.
    let other = sm.get_snapshot_builder().await.build_snapshot().await?;
    assert!(sm.install_snapshot(&meta, other.snapshot).await.is_err());

    assert_eq!(sm.digest(), before);
    assert_eq!(sm.last_applied(), Some(lid(2)));
    assert_eq!(sm.snapshots_installed(), 0);
    Ok(())
}

/// Overwrites `key` of `table` in the closed store at `dir` with `bytes`
/// (in the snapshot database for the snapshot table, else the log's).
fn damage<K: redb::Key + 'static>(
    dir: &Path,
    table: TableDefinition<'static, K, &'static [u8]>,
    key: K::SelfType<'_>,
    bytes: &[u8],
) -> TestResult {
    let file = if table.name() == SNAPSHOT.name() {
        SNAPSHOT_FILE
    } else {
        DB_FILE
    };
    damage_in(&dir.join(file), table, key, bytes)
}

/// The rows of the snapshot table in `file` of the closed store at `dir`.
fn snapshot_rows_in(dir: &Path, file: &str) -> Result<Vec<(String, Vec<u8>)>, redb::Error> {
    sm::snapshot_rows(&Database::create(dir.join(file))?)
}

/// Overwrites `key` of `table` in the database file `path`.
fn damage_in<K: redb::Key + 'static>(
    path: &Path,
    table: TableDefinition<'static, K, &'static [u8]>,
    key: K::SelfType<'_>,
    bytes: &[u8],
) -> TestResult {
    let db = Database::create(path)?;
    let txn = db.begin_write()?;
    {
        let mut t = txn.open_table(table)?;
        t.insert(key, bytes)?;
    }
    txn.commit()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_disk_is_an_error_not_a_panic() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let (mut log, mut sm) = open(dir.path(), 1)?;
        log.blocking_append(entries()).await?;
        log.save_vote(&Vote::new(1, 1)).await?;
        sm.apply(entries()).await?;
        sm.get_snapshot_builder().await.build_snapshot().await?;
    }

    damage(dir.path(), LOGS, 3, b"{\"log_id\": 7")?;
    damage(dir.path(), LOGS, 8, b"garbage")?;
    damage(dir.path(), META, META_VOTE, b"[1, 2")?;
    {
        let (mut log, _sm) = open(dir.path(), 1)?;
        assert!(log.try_get_log_entries(1..3).await.is_ok());
        assert!(log.try_get_log_entries(1..4).await.is_err());
        assert!(log.get_log_state().await.is_err());
        assert!(log.read_vote().await.is_err());
    }

    // An entry stored under the wrong index is refused too.
    let moved = serde_json::to_vec(&entries()[1])?;
    damage(dir.path(), LOGS, 5, &moved)?;
    {
        let (mut log, _sm) = open(dir.path(), 1)?;
        assert!(log.try_get_log_entries(5..6).await.is_err());
    }

    damage(dir.path(), SNAPSHOT, SNAP_DATA, b"{\"state\": 1}")?;
    match open(dir.path(), 1) {
        Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "snapshot data"),
        Err(other) => return Err(format!("unexpected error: {other}").into()),
        Ok(_) => return Err("a damaged snapshot was accepted".into()),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_kept_in_the_log_database_is_moved_to_its_own() -> TestResult {
    // A data directory from before `snapshot.redb`: its snapshot is in the
    // log's database. Made here by building one, then moving its rows back.
    let dir = tempfile::tempdir()?;
    let digest = {
        let (mut log, mut sm) = open(dir.path(), 1)?;
        log.blocking_append(entries()).await?;
        sm.apply(entries()).await?;
        sm.get_snapshot_builder().await.build_snapshot().await?;
        sm.digest()
    };
    let rows = |file: &str| snapshot_rows_in(dir.path(), file);
    let saved = rows(SNAPSHOT_FILE)?;
    assert_eq!(saved.len(), 3, "meta, data and seq");
    std::fs::remove_file(dir.path().join(SNAPSHOT_FILE))?;
    for (key, value) in &saved {
        damage_in(&dir.path().join(DB_FILE), SNAPSHOT, key.as_str(), value)?;
    }
    assert!(!dir.path().join(SNAPSHOT_FILE).exists());

    {
        let (_log, sm) = open(dir.path(), 1)?;
        assert_eq!(sm.digest(), digest, "the moved snapshot is the state");
        assert_eq!(sm.last_applied(), Some(lid(8)));
    }
    assert_eq!(rows(SNAPSHOT_FILE)?, saved);
    assert!(
        snapshot_rows_in(dir.path(), DB_FILE)?.is_empty(),
        "left behind"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_snapshots_the_newer_is_kept_whichever_file_holds_it() -> TestResult {
    // An older version ran after this one and stored a snapshot in the log's
    // database again (newer than the one in snapshot.redb), or the move was
    // cut short (the same one in both), or an old copy lingers (older).
    let dir = tempfile::tempdir()?;
    let snapshot_rows = |file: &str| snapshot_rows_in(dir.path(), file);
    {
        let (mut log, mut sm) = open(dir.path(), 1)?;
        log.blocking_append(entries()).await?;
        sm.apply(entries()[..5].to_vec()).await?;
        sm.get_snapshot_builder().await.build_snapshot().await?;
    }
    let older = snapshot_rows(SNAPSHOT_FILE)?;
    let newer_digest = {
        let (_log, mut sm) = open(dir.path(), 1)?;
        sm.apply(entries()[5..].to_vec()).await?;
        sm.get_snapshot_builder().await.build_snapshot().await?;
        sm.digest()
    };
    let newer = snapshot_rows(SNAPSHOT_FILE)?;
    let put = |file: &str, rows: &[(String, Vec<u8>)]| -> TestResult {
        for (key, value) in rows {
            damage_in(&dir.path().join(file), SNAPSHOT, key.as_str(), value)?;
        }
        Ok(())
    };
    // Newer in the log's database, older in snapshot.redb: the newer wins.
    put(SNAPSHOT_FILE, &older)?;
    put(DB_FILE, &newer)?;
    {
        let (_log, sm) = open(dir.path(), 1)?;
        assert_eq!(sm.last_applied(), Some(lid(8)));
        assert_eq!(sm.digest(), newer_digest);
    }
    // Older in the log's database: snapshot.redb's newer one stays.
    put(DB_FILE, &older)?;
    {
        let (_log, sm) = open(dir.path(), 1)?;
        assert_eq!(sm.last_applied(), Some(lid(8)));
    }
    assert!(
        snapshot_rows_in(dir.path(), DB_FILE)?.is_empty(),
        "left behind"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_purged_past_its_snapshot_is_refused_at_open() -> TestResult {
    // snapshot.redb lost (or restored from an older backup than pan.redb):
    // the log cannot be replayed onto what is left.
    let dir = tempfile::tempdir()?;
    {
        let (mut log, _sm) = open(dir.path(), 1)?;
        log.blocking_append(entries()).await?;
        log.purge(lid(5)).await?;
    }
    match open(dir.path(), 1) {
        Err(
            e @ StoreError::SnapshotBehindLog {
                purged: 5,
                snapshot: 0,
                ..
            },
        ) => {
            let text = e.to_string();
            assert!(text.contains("Restore both from the same backup"), "{text}");
        }
        Err(other) => return Err(format!("unexpected error: {other}").into()),
        Ok(_) => return Err("a log purged past its snapshot was accepted".into()),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_written_by_format_version_1_loads_and_grows() -> TestResult {
    // A member upgraded in place: its log holds entries the previous format
    // wrote (commands inline, version byte 1); new ones are version 2.
    let dir = tempfile::tempdir()?;
    {
        let (mut log, _sm) = open(dir.path(), 1)?;
        log.blocking_append(entries()[..3].to_vec()).await?;
    }
    for entry in &entries()[1..3] {
        let EntryPayload::Normal(batch) = &entry.payload else {
            unreachable!("entries 1 and 2 are normal")
        };
        let v1: Entry<crate::raft_types::v1::TypeConfigV1> = Entry {
            log_id: entry.log_id,
            payload: EntryPayload::Normal(std::sync::Arc::new(batch.to_vec())),
        };
        let mut bytes = vec![crate::codec::ENTRY_FORMAT_V1];
        postcard::to_io(&v1, &mut bytes)?;
        damage(dir.path(), LOGS, entry.log_id.index, &bytes)?;
    }
    let (mut log, _sm) = open(dir.path(), 1)?;
    assert_eq!(log.get_log_state().await?.last_log_id, Some(lid(2)));
    log.blocking_append(entries()[3..].to_vec()).await?;
    let read = log.try_get_log_entries(0..9).await?;
    assert_eq!(json(&read)?, json(&entries())?);
    Ok(())
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let _held = open(dir.path(), 1)?;
    match open(dir.path(), 1) {
        Err(e @ StoreError::Locked { .. }) => {
            assert!(
                e.to_string()
                    .contains("held by another fabric-manager process")
            );
            Ok(())
        }
        Err(other) => Err(format!("unexpected error: {other}").into()),
        Ok(_) => Err("the same data directory was opened twice".into()),
    }
}

#[test]
fn a_file_that_is_not_a_database_is_an_open_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join(DB_FILE), vec![0x5a; 8192])?;
    match open(dir.path(), 1) {
        Err(StoreError::Open { .. }) => Ok(()),
        Err(other) => Err(format!("unexpected error: {other}").into()),
        Ok(_) => Err("a non-database file was opened".into()),
    }
}

/// Rough append throughput (fsync per append call); run with
/// `cargo test -p fabric-manager --lib --release store::tests::append_throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing, not a check"]
async fn append_throughput() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (mut log, _sm) = open(dir.path(), 1)?;
    let mut index = 0;
    for (calls, entries_per_call, envelopes_per_entry) in [(200, 1, 1), (200, 1, 64), (50, 16, 16)]
    {
        let started = std::time::Instant::now();
        for _ in 0..calls {
            let mut batch = Vec::with_capacity(entries_per_call);
            for _ in 0..entries_per_call {
                let envelopes = (0..envelopes_per_entry)
                    .map(|i| create_partition(&format!("p{index}-{i}"), index))
                    .collect();
                batch.push(normal(index, std::sync::Arc::new(envelopes)));
                index += 1;
            }
            log.blocking_append(batch).await?;
        }
        let elapsed = started.elapsed();
        let commands = calls * entries_per_call * envelopes_per_entry;
        println!(
            "{calls} appends x {entries_per_call} entries x {envelopes_per_entry} commands: \
             {:.2} ms/append, {:.0} commands/s",
            elapsed.as_secs_f64() * 1000.0 / calls as f64,
            commands as f64 / elapsed.as_secs_f64()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_proposing_member_builds_results() -> TestResult {
    // The entries were proposed by node 1 (their log ids' leader).
    let proposer_dir = tempfile::tempdir()?;
    let other_dir = tempfile::tempdir()?;
    let (_log, mut proposer) = open(proposer_dir.path(), 1)?;
    let (_log, mut other) = open(other_dir.path(), 2)?;
    let all = entries();

    let mut changes = other.watch_changes();
    assert!(!changes.has_changed()?);
    let answered = proposer.apply(all.clone()).await?;
    let unanswered = other.apply(all.clone()).await?;
    // One signal for the whole burst, carrying the last index applied.
    assert!(changes.has_changed()?);
    assert_eq!(*changes.borrow_and_update(), 8);

    // Where callers wait: one result per command, a refusal included.
    let normal = &answered[1..];
    assert_eq!(normal.len(), 8);
    for (i, results) in normal.iter().enumerate() {
        assert_eq!(results.len(), if i == 4 { 3 } else { 2 });
        assert!(matches!(results[0], Ok(Outcome::Partition(_))));
    }
    assert!(matches!(
        normal[4][2],
        Err(StateError::AlreadyExists { .. })
    ));
    // Elsewhere: nothing built, the same state.
    assert_eq!(unanswered.len(), all.len());
    assert!(unanswered.iter().all(Vec::is_empty));
    assert_eq!(other.digest(), proposer.digest());
    assert_eq!(other.last_applied(), Some(lid(8)));
    Ok(())
}
