//! Unit and property tests of the pure state machine.
//!
//! Every refused command goes through [`refused`], which checks that nothing
//! but the audit log changed (records, derived index and views) and that the
//! audit record names the principal, the time, the command and the error.

use super::identity::{Mac, PoolUuid};
use super::*;
use pan_api::{
    BladeId, IdentityPoolId, ImageId, NetworkId, PartitionId, PoolId, ServerId, VolumeId,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::BuildHasher as _;

pub(super) const OPERATOR: &str = "operator:alice";
pub(super) const PASSWORD: &str = "hunter2-Sup3r-S3cret";
const TINY_FIRST: &str = "02:00:00:00:00:00";
const TINY_LAST: &str = "02:00:00:00:00:03";
const TINY_PREFIX: &str = "00000000-0000-0001";

// ------------------------------------------------------------ helpers

pub(super) fn next_index(state: &State) -> u64 {
    state.audit(1).first().map_or(1, |r| r.index + 1)
}

pub(super) fn at_ms(index: u64) -> u64 {
    1_000 * index
}

/// Applies `command` as the next log entry.
pub(super) fn run(state: &mut State, command: Command) -> Applied {
    let index = next_index(state);
    state.apply(
        index,
        &Envelope {
            principal: OPERATOR.into(),
            at_ms: at_ms(index),
            command: command.into(),
        },
    )
}

/// Applies a command that must be accepted; checks its event and audit record.
#[track_caller]
/// Creates a volume and reports its storage work done, as the storage
/// executor would: the volume is ready.
pub(super) fn make_volume(state: &mut State, partition: &str, name: &str, size_bytes: u64) {
    ok(state, volume(partition, name, size_bytes));
    finish_storage_work(state);
}

/// Reports every pending image and volume operation as done.
pub(super) fn finish_storage_work(state: &mut State) {
    for work in state.pending_storage_work() {
        let command = match work {
            StorageWork::Image {
                name,
                generation,
                size_bytes,
                ..
            } => Command::ImageOpDone {
                name,
                generation,
                size_bytes: size_bytes.max(1 << 20),
                error: None,
            },
            StorageWork::Volume {
                partition,
                name,
                generation,
                op,
                size_bytes,
                ..
            } => Command::VolumeOpDone {
                name,
                partition,
                generation,
                size_bytes: match op {
                    VolumeOp::Resize { size_bytes } => size_bytes,
                    _ => size_bytes,
                },
                error: None,
            },
        };
        ok(state, command);
    }
}

pub(super) fn ok(state: &mut State, command: Command) -> Outcome {
    let text = command.to_string();
    let partition = command.partition().map(str::to_string);
    let index = next_index(state);
    let applied = run(state, command);
    let outcome = match applied.result {
        Ok(outcome) => outcome,
        Err(e) => panic!("`{text}` was refused: {e}"),
    };
    assert_eq!(applied.events.len(), 1, "`{text}`: {:?}", applied.events);
    assert_eq!(applied.events[0].index, index);
    assert_eq!(applied.events[0].at_ms, at_ms(index));
    assert_eq!(
        state.audit(1).first(),
        Some(&AuditRecord {
            index,
            at_ms: at_ms(index),
            principal: OPERATOR.to_string(),
            command: text,
            error: None,
            partition,
        })
    );
    outcome
}

/// Applies a command that must be refused; checks that only the audit changed.
#[track_caller]
pub(super) fn refused(state: &mut State, command: Command) -> StateError {
    let before = without_audit(state);
    let before_index = normalized_index(state);
    let before_views = views(state);
    let audit_len = state.audit.len();
    let text = command.to_string();
    let partition = command.partition().map(str::to_string);
    let index = next_index(state);
    let applied = run(state, command);
    let err = match applied.result {
        Ok(outcome) => panic!("`{text}` was accepted: {outcome:?}"),
        Err(e) => e,
    };
    assert!(
        applied.events.is_empty(),
        "refused `{text}` emitted {:?}",
        applied.events
    );
    assert_eq!(
        without_audit(state),
        before,
        "refused `{text}` changed the state"
    );
    assert_eq!(normalized_index(state), before_index, "refused `{text}`");
    assert_eq!(views(state), before_views, "refused `{text}`");
    assert_eq!(state.audit.len(), audit_len + 1);
    assert_eq!(
        state.audit(1).first(),
        Some(&AuditRecord {
            index,
            at_ms: at_ms(index),
            principal: OPERATOR.to_string(),
            command: text,
            error: Some(err.to_string()),
            partition,
        })
    );
    err
}

pub(super) fn without_audit(state: &State) -> State {
    let mut copy = state.clone();
    copy.audit.clear();
    copy
}

/// Every read view of the state.
#[derive(Debug, PartialEq)]
pub(super) struct Views {
    partitions: Vec<PartitionView>,
    pools: Vec<PoolView>,
    identity_pools: Vec<IdentityPoolView>,
    blades: Vec<BladeView>,
    servers: Vec<ServerView>,
    volumes: Vec<VolumeView>,
}

pub(super) fn views(state: &State) -> Views {
    Views {
        partitions: state.partitions(),
        pools: state.pools(),
        identity_pools: state.identity_pools(),
        blades: state.blades(None).expect("all blades"),
        servers: state.servers(None).expect("all servers"),
        volumes: state.volumes(None).expect("all volumes"),
    }
}

/// The derived index in a comparable form: sorted, without empty sets or zero
/// counts (which the incremental updates may leave behind and `reindex` not).
#[derive(Debug, PartialEq)]
pub(super) struct NormIndex {
    partition_by_name: BTreeMap<String, PartitionId>,
    pool_by_name: BTreeMap<String, PoolId>,
    identity_pool_by_name: BTreeMap<String, IdentityPoolId>,
    blade_by_name: BTreeMap<String, BladeId>,
    server_by_name: BTreeMap<(PartitionId, String), ServerId>,
    volume_by_name: BTreeMap<(PartitionId, String), VolumeId>,
    macs: BTreeMap<Mac, ServerId>,
    uuids: BTreeMap<PoolUuid, ServerId>,
    partition_servers: BTreeMap<PartitionId, BTreeSet<ServerId>>,
    partition_volumes: BTreeMap<PartitionId, BTreeSet<VolumeId>>,
    pool_blades: BTreeMap<PoolId, BTreeSet<BladeId>>,
    identity_pool_servers: BTreeMap<IdentityPoolId, BTreeSet<ServerId>>,
    identity_pool_macs: BTreeMap<IdentityPoolId, u64>,
    volume_users: BTreeMap<VolumeId, ServerId>,
    transitioning: BTreeSet<ServerId>,
    image_by_name: BTreeMap<String, ImageId>,
    image_volumes: BTreeMap<ImageId, BTreeSet<VolumeId>>,
    network_by_name: BTreeMap<(PartitionId, String), NetworkId>,
    partition_networks: BTreeMap<PartitionId, BTreeSet<NetworkId>>,
    network_servers: BTreeMap<NetworkId, BTreeSet<ServerId>>,
    vnis: BTreeMap<u32, NetworkId>,
    storage_images: BTreeSet<ImageId>,
    storage_volumes: BTreeSet<VolumeId>,
    principal_by_key: BTreeMap<partitions::KeyId, String>,
    partition_volume_bytes: BTreeMap<PartitionId, u64>,
    partition_placed: BTreeMap<PartitionId, BTreeSet<ServerId>>,
    failover_of_server: BTreeMap<ServerId, u64>,
}

fn sorted<K: Ord + Clone, V: Clone>(map: &BTreeMap<K, V>) -> BTreeMap<K, V> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn non_empty<K: Ord + Copy, V: Ord + Copy>(
    map: &BTreeMap<K, BTreeSet<V>>,
) -> BTreeMap<K, BTreeSet<V>> {
    map.iter()
        .filter(|(_, set)| !set.is_empty())
        .map(|(k, set)| (*k, set.clone()))
        .collect()
}

pub(super) fn normalized_index(state: &State) -> NormIndex {
    let ix = &state.index;
    NormIndex {
        partition_by_name: sorted(&ix.partition_by_name),
        pool_by_name: sorted(&ix.pool_by_name),
        identity_pool_by_name: sorted(&ix.identity_pool_by_name),
        blade_by_name: sorted(&ix.blade_by_name),
        server_by_name: ix
            .server_names
            .iter()
            .flat_map(|(&(p, hash), named)| {
                named.ids().iter().map(move |&id| {
                    let name = state.servers[&id].name.clone();
                    assert_eq!(hash, ix.name_hasher.hash_one(&name), "stale name hash");
                    ((p, name), id)
                })
            })
            .collect(),
        volume_by_name: sorted(&ix.volume_by_name),
        macs: sorted(&ix.macs),
        uuids: sorted(&ix.uuids),
        partition_servers: non_empty(&ix.partition_servers),
        partition_volumes: non_empty(&ix.partition_volumes),
        pool_blades: non_empty(&ix.pool_blades),
        identity_pool_servers: non_empty(&ix.identity_pool_servers),
        identity_pool_macs: ix
            .identity_pool_macs
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(k, n)| (*k, *n))
            .collect(),
        volume_users: sorted(&ix.volume_users),
        transitioning: ix.transitioning.clone(),
        image_by_name: sorted(&ix.image_by_name),
        image_volumes: non_empty(&ix.image_volumes),
        network_by_name: sorted(&ix.network_by_name),
        partition_networks: non_empty(&ix.partition_networks),
        network_servers: non_empty(&ix.network_servers),
        vnis: sorted(&ix.vnis),
        storage_images: ix.storage_images.clone(),
        storage_volumes: ix.storage_volumes.clone(),
        failover_of_server: sorted(&ix.failover_of_server),
        principal_by_key: sorted(&ix.principal_by_key),
        partition_volume_bytes: ix
            .partition_volume_bytes
            .iter()
            .filter(|(_, n)| **n != 0)
            .map(|(k, n)| (*k, *n))
            .collect(),
        partition_placed: non_empty(&ix.partition_placed),
    }
}

/// The index `reindex` builds from the records alone.
fn rebuilt_index(state: &State) -> NormIndex {
    let mut copy = state.clone();
    copy.reindex();
    normalized_index(&copy)
}

pub(super) fn with_partitions(names: &[&str]) -> State {
    let mut state = State::default();
    for name in names {
        ok(&mut state, partition(name));
    }
    state
}

// ------------------------------------------------------------ command builders

pub(super) fn partition(name: &str) -> Command {
    Command::CreatePartition {
        name: name.to_string(),
        description: format!("{name} tenant"),
        network_ids: None,
    }
}

fn delete_partition(name: &str) -> Command {
    Command::DeletePartition {
        name: name.to_string(),
    }
}

pub(super) fn pool(
    name: &str,
    model: Option<&str>,
    min_cores: u32,
    min_memory_gib: u64,
) -> Command {
    Command::CreatePool {
        name: name.to_string(),
        qualification: Qualification {
            model: model.map(str::to_string),
            min_cores,
            min_memory_gib,
        },
    }
}

fn delete_pool(name: &str) -> Command {
    Command::DeletePool {
        name: name.to_string(),
    }
}

fn identity_pool(name: &str, first: &str, last: &str, prefix: &str) -> Command {
    Command::CreateIdentityPool {
        name: name.to_string(),
        mac_first: first.to_string(),
        mac_last: last.to_string(),
        uuid_prefix: prefix.to_string(),
    }
}

fn tiny_pool() -> Command {
    identity_pool("tiny", TINY_FIRST, TINY_LAST, TINY_PREFIX)
}

fn delete_identity_pool(name: &str) -> Command {
    Command::DeleteIdentityPool {
        name: name.to_string(),
    }
}

pub(super) fn facts(model: &str, cores: u32, memory_gib: u64) -> BladeFacts {
    BladeFacts {
        model: model.to_string(),
        cores,
        memory_gib,
        macs: vec![Mac(0x0c_c4_7a_00_00_01), Mac(0x0c_c4_7a_00_00_02)],
        uuid: "4c4c4544-0042-3010-8052-b4c04f4e3332".to_string(),
    }
}

pub(super) fn add_blade(
    name: &str,
    url: &str,
    pool: Option<&str>,
    facts: Option<BladeFacts>,
) -> Command {
    Command::AddBlade {
        name: name.to_string(),
        bmc_url: url.to_string(),
        bmc_user: "admin".to_string(),
        bmc_password: Secret(PASSWORD.to_string()),
        facts,
        pool: pool.map(str::to_string),
    }
}

pub(super) fn remove_blade(name: &str) -> Command {
    Command::RemoveBlade {
        name: name.to_string(),
    }
}

pub(super) fn server_with(
    partition: &str,
    name: &str,
    nics: u32,
    identity_pool: Option<&str>,
    boot_volume: Option<&str>,
) -> Command {
    Command::CreateServer {
        name: name.to_string(),
        partition: partition.to_string(),
        nics,
        identity_pool: identity_pool.map(str::to_string),
        boot_volume: boot_volume.map(str::to_string),
        requirements: Qualification::default(),
        networks: Vec::new(),
        volumes: Vec::new(),
        priority: 0,
        failover_pool: None,
        preempt: false,
        failback_window: None,
    }
}

fn server(partition: &str, name: &str, nics: u32) -> Command {
    server_with(partition, name, nics, None, None)
}

pub(super) fn delete_server(partition: &str, name: &str) -> Command {
    Command::DeleteServer {
        name: name.to_string(),
        partition: partition.to_string(),
    }
}

pub(super) fn volume(partition: &str, name: &str, size_bytes: u64) -> Command {
    Command::CreateVolume {
        name: name.to_string(),
        partition: partition.to_string(),
        size_bytes,
        image: None,
    }
}

fn delete_volume(partition: &str, name: &str) -> Command {
    Command::DeleteVolume {
        name: name.to_string(),
        partition: partition.to_string(),
    }
}

pub(super) fn server_view(outcome: Outcome) -> ServerView {
    match outcome {
        Outcome::Server(view) => view,
        other => panic!("expected a server, got {other:?}"),
    }
}

// ------------------------------------------------------------ error assertions

#[track_caller]
fn assert_invalid_name(err: &StateError, kind: &str, name: &str, reason_has: &str) {
    let StateError::InvalidName {
        kind: k,
        name: n,
        reason,
    } = err
    else {
        panic!("expected InvalidName for {kind} {name:?}, got {err:?}");
    };
    assert_eq!((k.as_str(), n.as_str()), (kind, name));
    assert!(
        reason.contains(reason_has),
        "{kind} {name:?}: reason {reason:?} lacks {reason_has:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("invalid {kind} name {name:?}: ")),
        "{message}"
    );
}

#[track_caller]
fn assert_already_exists(err: &StateError, object: &str) {
    assert_eq!(
        err,
        &StateError::AlreadyExists {
            object: object.to_string()
        }
    );
    assert_eq!(
        err.to_string(),
        format!("{object} already exists; pick another name or delete the existing one first")
    );
}

#[track_caller]
pub(super) fn assert_not_found(err: &StateError, object: &str, list_hint: &str) {
    assert_eq!(
        err,
        &StateError::NotFound {
            object: object.to_string(),
            list_hint: list_hint.to_string(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!("{object} not found; list them with `panctl {list_hint}`")
    );
}

#[track_caller]
pub(super) fn assert_in_use(err: &StateError, object: &str, users: &str, remedy: &str) {
    assert_eq!(
        err,
        &StateError::InUse {
            object: object.to_string(),
            users: users.to_string(),
            remedy: remedy.to_string(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!("{object} is in use by {users}; {remedy}")
    );
}

#[track_caller]
pub(super) fn assert_invalid_argument(
    err: &StateError,
    object: &str,
    field: &str,
    reason_has: &str,
) {
    let StateError::InvalidArgument {
        object: o,
        field: f,
        reason,
    } = err
    else {
        panic!("expected InvalidArgument {field} for {object}, got {err:?}");
    };
    assert_eq!((o.as_str(), f.as_str()), (object, field), "{err}");
    assert!(
        reason.contains(reason_has),
        "reason {reason:?} lacks {reason_has:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("invalid {field} for {object}: ")),
        "{message}"
    );
}

#[track_caller]
fn assert_unqualified(err: &StateError, blade: &str, pool: &str, reason: &str) {
    assert_eq!(
        err,
        &StateError::Unqualified {
            blade: blade.to_string(),
            pool: pool.to_string(),
            reason: reason.to_string(),
        }
    );
    assert_eq!(
        err.to_string(),
        format!("blade '{blade}' does not qualify for pool '{pool}': {reason}")
    );
}

// ------------------------------------------------------------ names

/// Every command that creates a named object, naming it `name`.
fn creations_named(name: &str) -> Vec<(&'static str, Command)> {
    vec![
        ("partition", partition(name)),
        ("pool", pool(name, None, 0, 0)),
        (
            "identity pool",
            identity_pool(name, TINY_FIRST, TINY_LAST, TINY_PREFIX),
        ),
        ("blade", add_blade(name, "https://10.0.0.21", None, None)),
        ("server", server("acme", name, 1)),
        ("volume", volume("acme", name, 1 << 30)),
    ]
}

#[track_caller]
fn assert_name_refused_everywhere(name: &str, reason_has: &str) {
    let mut state = with_partitions(&["acme"]);
    for (kind, command) in creations_named(name) {
        let err = refused(&mut state, command);
        assert_invalid_name(&err, kind, name, reason_has);
    }
}

#[test]
fn empty_name_is_refused_for_every_object() {
    assert_name_refused_everywhere("", "it is empty; use 1 to 63 characters");
}

#[test]
fn name_longer_than_63_characters_is_refused_for_every_object() {
    assert_name_refused_everywhere(&"a".repeat(64), "it is 64 characters long; use at most 63");
    assert_name_refused_everywhere(
        &"x1".repeat(100),
        "it is 200 characters long; use at most 63",
    );
}

#[test]
fn name_with_slash_is_refused_for_every_object() {
    assert_name_refused_everywhere(
        "acme/web",
        "character '/' is not allowed; use letters, digits, '-', '_' and '.'",
    );
}

#[test]
fn name_with_control_character_is_refused_for_every_object() {
    assert_name_refused_everywhere("web\n1", r"character '\n' is not allowed; use letters");
    assert_name_refused_everywhere("web\t1", r"character '\t' is not allowed");
    assert_name_refused_everywhere("web\u{7f}", r"character '\u{7f}' is not allowed");
    assert_name_refused_everywhere("web\u{0}", r"character '\0' is not allowed");
    assert_name_refused_everywhere("\u{1b}[31m", "it must start with a letter or digit");
}

#[test]
fn name_with_leading_dash_or_punctuation_is_refused_for_every_object() {
    for name in ["-web", ".web", "_web", "-"] {
        assert_name_refused_everywhere(name, "it must start with a letter or digit");
    }
}

#[test]
fn name_with_space_or_non_ascii_is_refused_for_every_object() {
    assert_name_refused_everywhere("web 1", "character ' ' is not allowed");
    assert_name_refused_everywhere("wéb", "character 'é' is not allowed");
    assert_name_refused_everywhere("web:1", "character ':' is not allowed");
    assert_name_refused_everywhere("émile", "it must start with a letter or digit");
}

#[test]
fn names_at_the_limits_are_accepted_for_every_object() {
    for name in ["a".repeat(63), "0".to_string(), "Web-1_a.b".to_string()] {
        let mut state = with_partitions(&["acme"]);
        for (kind, command) in creations_named(&name) {
            if kind == "partition" && name == "acme" {
                continue;
            }
            ok(&mut state, command);
        }
        assert!(state.partitions().iter().any(|p| p.name == name));
        assert_eq!(state.pools()[0].name, name);
        assert_eq!(state.identity_pools()[1].name, name);
        assert_eq!(state.blade(&name).unwrap().name, name);
        assert_eq!(state.server("acme", &name).unwrap().name, name);
        assert_eq!(state.volumes(Some("acme")).unwrap()[0].name, name);
    }
}

// ------------------------------------------------------------ already exists

#[test]
fn duplicate_partition_is_refused() {
    let mut state = with_partitions(&["acme"]);
    let err = refused(&mut state, partition("acme"));
    assert_already_exists(&err, "partition 'acme'");
    // Names are case-sensitive.
    ok(&mut state, partition("ACME"));
}

#[test]
fn duplicate_pool_is_refused() {
    let mut state = State::default();
    ok(&mut state, pool("gold", Some("X1"), 16, 128));
    let err = refused(&mut state, pool("gold", None, 0, 0));
    assert_already_exists(&err, "pool 'gold'");
}

#[test]
fn duplicate_identity_pool_is_refused() {
    let mut state = State::default();
    ok(&mut state, tiny_pool());
    let err = refused(
        &mut state,
        identity_pool(
            "tiny",
            "06:00:00:00:00:00",
            "06:00:00:00:00:03",
            "00000000-0000-0009",
        ),
    );
    assert_already_exists(&err, "identity pool 'tiny'");
    // The pool every cluster starts with counts too.
    let err = refused(
        &mut state,
        identity_pool(
            DEFAULT_IDENTITY_POOL,
            "06:00:00:00:00:00",
            "06:00:00:00:00:03",
            "00000000-0000-0009",
        ),
    );
    assert_already_exists(&err, "identity pool 'default'");
}

#[test]
fn duplicate_blade_is_refused() {
    let mut state = State::default();
    ok(&mut state, add_blade("b1", "https://10.0.0.21", None, None));
    let err = refused(&mut state, add_blade("b1", "https://10.0.0.22", None, None));
    assert_already_exists(&err, "blade 'b1'");
}

#[test]
fn duplicate_server_in_the_same_partition_is_refused() {
    let mut state = with_partitions(&["acme"]);
    ok(&mut state, server("acme", "web-1", 1));
    let err = refused(&mut state, server("acme", "web-1", 2));
    assert_already_exists(&err, "server 'web-1' in partition 'acme'");
}

#[test]
fn same_server_name_in_another_partition_is_allowed() {
    let mut state = with_partitions(&["acme", "globex"]);
    let a = server_view(ok(&mut state, server("acme", "web-1", 1)));
    let b = server_view(ok(&mut state, server("globex", "web-1", 1)));
    assert_ne!(a.id, b.id);
    assert_ne!(a.identity, b.identity);
    assert_eq!(state.server("acme", "web-1").unwrap(), a);
    assert_eq!(state.server("globex", "web-1").unwrap(), b);
    // Deleting one leaves the other.
    ok(&mut state, delete_server("acme", "web-1"));
    assert_eq!(state.server("globex", "web-1").unwrap(), b);
    assert_eq!(state.servers(Some("acme")).unwrap(), vec![]);
}

#[test]
fn duplicate_volume_in_the_same_partition_is_refused_but_not_across_partitions() {
    let mut state = with_partitions(&["acme", "globex"]);
    ok(&mut state, volume("acme", "boot", 1 << 30));
    let err = refused(&mut state, volume("acme", "boot", 1 << 31));
    assert_already_exists(&err, "volume 'boot' in partition 'acme'");
    ok(&mut state, volume("globex", "boot", 1 << 30));
    assert_eq!(state.volumes(None).unwrap().len(), 2);
}

// ------------------------------------------------------------ not found

#[test]
fn unknown_partition_is_not_found_by_every_command_that_names_one() {
    let mut state = State::default();
    for command in [
        delete_partition("acme"),
        server("acme", "web-1", 1),
        delete_server("acme", "web-1"),
        volume("acme", "boot", 1 << 30),
        delete_volume("acme", "boot"),
    ] {
        let err = refused(&mut state, command);
        assert_not_found(&err, "partition 'acme'", "partition list");
    }
    for err in [
        state.servers(Some("acme")).unwrap_err(),
        state.volumes(Some("acme")).unwrap_err(),
        state.server("acme", "web-1").unwrap_err(),
    ] {
        assert_not_found(&err, "partition 'acme'", "partition list");
    }
}

#[test]
fn unknown_pool_is_not_found() {
    let mut state = State::default();
    let err = refused(&mut state, delete_pool("gold"));
    assert_not_found(&err, "pool 'gold'", "pool list");
    let err = refused(
        &mut state,
        add_blade(
            "b1",
            "https://10.0.0.21",
            Some("gold"),
            Some(facts("X1", 16, 128)),
        ),
    );
    assert_not_found(&err, "pool 'gold'", "pool list");
    assert_not_found(
        &state.blades(Some("gold")).unwrap_err(),
        "pool 'gold'",
        "pool list",
    );
}

#[test]
fn unknown_identity_pool_is_not_found() {
    let mut state = with_partitions(&["acme"]);
    let err = refused(&mut state, delete_identity_pool("tiny"));
    assert_not_found(&err, "identity pool 'tiny'", "identity-pool list");
    let err = refused(
        &mut state,
        server_with("acme", "web-1", 1, Some("tiny"), None),
    );
    assert_not_found(&err, "identity pool 'tiny'", "identity-pool list");
}

#[test]
fn deleted_default_identity_pool_is_not_found_by_create_server() {
    let mut state = with_partitions(&["acme"]);
    ok(&mut state, delete_identity_pool(DEFAULT_IDENTITY_POOL));
    let err = refused(&mut state, server("acme", "web-1", 1));
    assert_not_found(&err, "identity pool 'default'", "identity-pool list");
}

#[test]
fn unknown_server_is_not_found() {
    let mut state = with_partitions(&["acme", "globex"]);
    ok(&mut state, server("globex", "web-1", 1));
    let err = refused(&mut state, delete_server("acme", "web-1"));
    assert_not_found(
        &err,
        "server 'web-1' in partition 'acme'",
        "server list --partition acme",
    );
    assert_not_found(
        &state.server("acme", "web-1").unwrap_err(),
        "server 'web-1' in partition 'acme'",
        "server list --partition acme",
    );
}

#[test]
fn unknown_volume_is_not_found() {
    let mut state = with_partitions(&["acme"]);
    let err = refused(&mut state, delete_volume("acme", "boot"));
    assert_not_found(
        &err,
        "volume 'boot' in partition 'acme'",
        "volume list --partition acme",
    );
    let err = refused(
        &mut state,
        server_with("acme", "web-1", 1, None, Some("boot")),
    );
    assert_not_found(
        &err,
        "volume 'boot' in partition 'acme'",
        "volume list --partition acme",
    );
}

#[test]
fn boot_volume_of_another_partition_is_not_found() {
    let mut state = with_partitions(&["acme", "globex"]);
    ok(&mut state, volume("acme", "boot", 1 << 30));
    let err = refused(
        &mut state,
        server_with("globex", "web-1", 1, None, Some("boot")),
    );
    assert_not_found(
        &err,
        "volume 'boot' in partition 'globex'",
        "volume list --partition globex",
    );
}

#[test]
fn unknown_blade_is_not_found() {
    let mut state = State::default();
    let err = refused(&mut state, remove_blade("b1"));
    assert_not_found(&err, "blade 'b1'", "blade list");
    assert_not_found(&state.blade("b1").unwrap_err(), "blade 'b1'", "blade list");
    assert_not_found(
        &state.bmc_password("b1").unwrap_err(),
        "blade 'b1'",
        "blade list",
    );
}

// ------------------------------------------------------------ in use

#[test]
fn partition_with_servers_cannot_be_deleted() {
    let mut state = with_partitions(&["acme"]);
    ok(&mut state, server("acme", "web-1", 1));
    ok(&mut state, server("acme", "web-2", 1));
    let err = refused(&mut state, delete_partition("acme"));
    assert_in_use(
        &err,
        "partition 'acme'",
        "2 server(s), 0 volume(s) and 0 network(s)",
        "delete them first",
    );
    ok(&mut state, delete_server("acme", "web-1"));
    ok(&mut state, delete_server("acme", "web-2"));
    assert_eq!(ok(&mut state, delete_partition("acme")), Outcome::Deleted);
    assert_eq!(state.partitions(), vec![]);
}

#[test]
fn partition_with_volumes_cannot_be_deleted() {
    let mut state = with_partitions(&["acme"]);
    make_volume(&mut state, "acme", "data", 1 << 30);
    let err = refused(&mut state, delete_partition("acme"));
    assert_in_use(
        &err,
        "partition 'acme'",
        "0 server(s), 1 volume(s) and 0 network(s)",
        "delete them first",
    );
    ok(&mut state, delete_volume("acme", "data"));
    // Still there until the storage executor reports the file gone.
    refused(&mut state, delete_partition("acme"));
    finish_storage_work(&mut state);
    ok(&mut state, delete_partition("acme"));
}

#[test]
fn pool_with_blades_cannot_be_deleted() {
    let mut state = State::default();
    ok(&mut state, pool("gold", None, 8, 0));
    ok(
        &mut state,
        add_blade(
            "b1",
            "https://10.0.0.21",
            Some("gold"),
            Some(facts("X1", 16, 128)),
        ),
    );
    ok(
        &mut state,
        add_blade(
            "b2",
            "https://10.0.0.22",
            Some("gold"),
            Some(facts("X1", 16, 128)),
        ),
    );
    let err = refused(&mut state, delete_pool("gold"));
    assert_in_use(
        &err,
        "pool 'gold'",
        "2 blade(s) (b1, b2)",
        "remove those blades or move them to another pool first",
    );
    ok(&mut state, remove_blade("b1"));
    let err = refused(&mut state, delete_pool("gold"));
    assert_in_use(
        &err,
        "pool 'gold'",
        "1 blade(s) (b2)",
        "remove those blades or move them to another pool first",
    );
    ok(&mut state, remove_blade("b2"));
    assert_eq!(ok(&mut state, delete_pool("gold")), Outcome::Deleted);
    assert_eq!(state.pools(), vec![]);
}

#[test]
fn identity_pool_with_servers_cannot_be_deleted() {
    let mut state = with_partitions(&["acme"]);
    ok(&mut state, tiny_pool());
    ok(
        &mut state,
        server_with("acme", "web-1", 2, Some("tiny"), None),
    );
    let err = refused(&mut state, delete_identity_pool("tiny"));
    assert_in_use(
        &err,
        "identity pool 'tiny'",
        "1 server(s)",
        "delete those servers first",
    );
    ok(&mut state, server("acme", "web-2", 1));
    let err = refused(&mut state, delete_identity_pool(DEFAULT_IDENTITY_POOL));
    assert_in_use(
        &err,
        "identity pool 'default'",
        "1 server(s)",
        "delete those servers first",
    );
    ok(&mut state, delete_server("acme", "web-1"));
    ok(&mut state, delete_identity_pool("tiny"));
    assert_eq!(
        state
            .identity_pools()
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        vec!["default"]
    );
}

#[test]
fn boot_volume_of_a_server_cannot_be_deleted() {
    let mut state = with_partitions(&["acme"]);
    make_volume(&mut state, "acme", "boot", 1 << 30);
    ok(
        &mut state,
        server_with("acme", "web-1", 1, None, Some("boot")),
    );
    let err = refused(&mut state, delete_volume("acme", "boot"));
    assert_in_use(
        &err,
        "volume 'boot' in partition 'acme'",
        "server acme/web-1 (boot volume; the server is defined)",
        "delete the server first; a volume is deleted only when nothing is attached to it",
    );
    ok(&mut state, delete_server("acme", "web-1"));
    assert_eq!(state.volumes(None).unwrap()[0].attached_to, None);
    ok(&mut state, delete_volume("acme", "boot"));
}

#[test]
fn boot_volume_already_used_by_another_server_is_refused_on_create() {
    let mut state = with_partitions(&["acme"]);
    ok(&mut state, volume("acme", "boot", 1 << 30));
    ok(
        &mut state,
        server_with("acme", "web-1", 1, None, Some("boot")),
    );
    let err = refused(
        &mut state,
        server_with("acme", "web-2", 1, None, Some("boot")),
    );
    assert_in_use(
        &err,
        "volume 'boot' in partition 'acme'",
        "server acme/web-1",
        "give each server its own volumes; a volume is attached to one server",
    );
    // Once the first server is gone the volume is free again.
    ok(&mut state, delete_server("acme", "web-1"));
    let web2 = server_view(ok(
        &mut state,
        server_with("acme", "web-2", 1, None, Some("boot")),
    ));
    assert_eq!(web2.boot_volume.as_deref(), Some("boot"));
    assert_eq!(
        state.volumes(Some("acme")).unwrap()[0]
            .attached_to
            .as_deref(),
        Some("acme/web-2")
    );
}

// ------------------------------------------------------------ ranges

#[test]
fn server_without_a_nic_count_gets_one_vnic_per_network_or_one() {
    let mut state = with_partitions(&["acme"]);
    let view = server_view(ok(&mut state, server("acme", "web-1", 0)));
    assert_eq!(view.identity.macs.len(), 1);
}

#[test]
fn server_with_more_than_max_nics_is_refused() {
    let mut state = with_partitions(&["acme"]);
    for nics in [MAX_NICS + 1, u32::MAX] {
        let err = refused(&mut state, server("acme", "web-1", nics));
        assert_invalid_argument(
            &err,
            "server 'web-1' in partition 'acme'",
            "number of NICs",
            &format!("{nics} is out of range; use 1 to {MAX_NICS}"),
        );
    }
    let view = server_view(ok(&mut state, server("acme", "web-1", MAX_NICS)));
    assert_eq!(view.identity.macs.len(), MAX_NICS as usize);
}

#[test]
fn volume_of_size_zero_is_refused() {
    let mut state = with_partitions(&["acme"]);
    let err = refused(&mut state, volume("acme", "boot", 0));
    assert_invalid_argument(
        &err,
        "volume 'boot' in partition 'acme'",
        "size",
        "0 bytes is out of range; use 512 bytes to 1 PiB",
    );
}

#[test]
fn volume_larger_than_max_is_refused() {
    let mut state = with_partitions(&["acme"]);
    for size in [MAX_VOLUME_BYTES + 1, u64::MAX] {
        let err = refused(&mut state, volume("acme", "boot", size));
        assert_invalid_argument(
            &err,
            "volume 'boot' in partition 'acme'",
            "size",
            &format!("{size} bytes is out of range; use 512 bytes to 1 PiB"),
        );
    }
    ok(&mut state, volume("acme", "big", MAX_VOLUME_BYTES));
    ok(&mut state, volume("acme", "small", 512));
    let sizes: Vec<u64> = state
        .volumes(Some("acme"))
        .unwrap()
        .iter()
        .map(|v| v.size_bytes)
        .collect();
    assert_eq!(sizes, vec![MAX_VOLUME_BYTES, 512]);
}

#[test]
fn pool_with_empty_model_is_refused() {
    let mut state = State::default();
    let err = refused(&mut state, pool("gold", Some(""), 0, 0));
    assert_invalid_argument(
        &err,
        "pool 'gold'",
        "model",
        "it is empty; leave it out to accept any model",
    );
}

// ------------------------------------------------------------ identity pools

#[test]
fn identity_pool_with_unparsable_macs_is_refused() {
    let mut state = State::default();
    for bad in [
        "",
        "02:00:00:00:00",
        "02:00:00:00:00:zz",
        "02:00:00:00:00:000",
        "0200.0000.0000",
        "02:00:00:00:00:+0",
        "02:00:00:00:00:-0",
    ] {
        let err = refused(
            &mut state,
            identity_pool("lab", bad, TINY_LAST, TINY_PREFIX),
        );
        assert_invalid_argument(
            &err,
            "identity pool 'lab'",
            "first MAC",
            &format!("{bad:?} is not a MAC address"),
        );
        let err = refused(
            &mut state,
            identity_pool("lab", TINY_FIRST, bad, TINY_PREFIX),
        );
        assert_invalid_argument(
            &err,
            "identity pool 'lab'",
            "last MAC",
            &format!("{bad:?} is not a MAC address"),
        );
    }
}

#[test]
fn identity_pool_with_first_after_last_is_refused() {
    let mut state = State::default();
    let err = refused(
        &mut state,
        identity_pool("lab", TINY_LAST, TINY_FIRST, TINY_PREFIX),
    );
    assert_invalid_argument(
        &err,
        "identity pool 'lab'",
        "MAC range",
        "02:00:00:00:00:03 comes after 02:00:00:00:00:00; give the lower address first",
    );
}

#[test]
fn identity_pool_of_universally_administered_macs_is_refused() {
    let mut state = State::default();
    let err = refused(
        &mut state,
        identity_pool("lab", "00:1b:21:00:00:00", "00:1b:21:00:00:ff", TINY_PREFIX),
    );
    assert_invalid_argument(
        &err,
        "identity pool 'lab'",
        "MAC range",
        "00:1b:21:00:00:00 is not a locally-administered unicast address",
    );
    assert!(err.to_string().contains("e.g. 02:"), "{err}");
}

#[test]
fn identity_pool_of_multicast_macs_is_refused() {
    let mut state = State::default();
    let err = refused(
        &mut state,
        identity_pool("lab", "03:00:00:00:00:00", "03:00:00:00:00:ff", TINY_PREFIX),
    );
    assert_invalid_argument(
        &err,
        "identity pool 'lab'",
        "MAC range",
        "03:00:00:00:00:00 is not a locally-administered unicast address",
    );
}

#[test]
fn identity_pool_spanning_first_octets_is_refused() {
    let mut state = State::default();
    let err = refused(
        &mut state,
        identity_pool("lab", "02:ff:ff:ff:ff:00", "06:00:00:00:00:ff", TINY_PREFIX),
    );
    assert_invalid_argument(
        &err,
        "identity pool 'lab'",
        "MAC range",
        "first and last must share the first octet",
    );
}

#[test]
fn identity_pool_with_bad_uuid_prefix_is_refused() {
    let mut state = State::default();
    for bad in [
        "",
        "xyz",
        "00000000-0000-001",
        "00000000-0000-00001",
        "0000000g-0000-0001",
        "+0000000-0000-0001",
    ] {
        let err = refused(&mut state, identity_pool("lab", TINY_FIRST, TINY_LAST, bad));
        assert_invalid_argument(
            &err,
            "identity pool 'lab'",
            "UUID prefix",
            &format!("{bad:?} is not a UUID prefix (expected 16 hex digits"),
        );
    }
}

#[test]
fn identity_pool_overlapping_another_is_refused() {
    let mut state = State::default();
    ok(&mut state, tiny_pool());
    for (first, last) in [
        ("02:00:00:00:00:03", "02:00:00:00:00:10"),
        ("02:00:00:00:00:01", "02:00:00:00:00:02"),
        ("02:00:00:00:00:00", "02:00:00:00:00:00"),
    ] {
        let err = refused(
            &mut state,
            identity_pool("lab", first, last, "00000000-0000-0002"),
        );
        assert_eq!(
            err,
            StateError::MacRangeOverlap {
                first: first.to_string(),
                last: last.to_string(),
                other: "tiny".to_string(),
                other_first: TINY_FIRST.to_string(),
                other_last: TINY_LAST.to_string(),
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "MAC range {first}-{last} overlaps identity pool 'tiny' \
                 ({TINY_FIRST}-{TINY_LAST}); choose a disjoint range"
            )
        );
    }
    // The default pool's range is taken as well.
    let err = refused(
        &mut state,
        identity_pool(
            "lab",
            "02:50:41:ff:ff:ff",
            "02:50:42:00:00:00",
            "00000000-0000-0002",
        ),
    );
    assert!(
        matches!(&err, StateError::MacRangeOverlap { other, .. } if other == "default"),
        "{err:?}"
    );
    // Adjacent ranges do not overlap.
    ok(
        &mut state,
        identity_pool(
            "lab",
            "02:00:00:00:00:04",
            "02:00:00:00:00:07",
            "00000000-0000-0002",
        ),
    );
}

#[test]
fn identity_pool_with_duplicate_uuid_prefix_is_refused() {
    let mut state = State::default();
    ok(&mut state, tiny_pool());
    let err = refused(
        &mut state,
        identity_pool(
            "lab",
            "06:00:00:00:00:00",
            "06:00:00:00:00:ff",
            "0000000000000001",
        ),
    );
    assert_invalid_argument(
        &err,
        "identity pool 'lab'",
        "UUID prefix",
        "00000000-0000-0001 is already used by identity pool 'tiny'; choose another prefix",
    );
    let err = refused(
        &mut state,
        identity_pool(
            "lab",
            "06:00:00:00:00:00",
            "06:00:00:00:00:ff",
            "50414E00-0000-0000",
        ),
    );
    assert_invalid_argument(
        &err,
        "identity pool 'lab'",
        "UUID prefix",
        "50414e00-0000-0000 is already used by identity pool 'default'",
    );
}

#[test]
fn identity_pool_is_created_with_its_view_and_event() {
    let mut state = State::default();
    let index = next_index(&state);
    let applied = run(
        &mut state,
        identity_pool(
            "lab",
            "06:00:00:00:0A:00",
            "06-00-00-00-0a-ff",
            "ABCDEF01-2345-6789",
        ),
    );
    let expected = IdentityPoolView {
        id: 2,
        name: "lab".to_string(),
        mac_first: "06:00:00:00:0a:00".to_string(),
        mac_last: "06:00:00:00:0a:ff".to_string(),
        uuid_prefix: "abcdef01-2345-6789".to_string(),
        macs_total: 256,
        macs_used: 0,
        uuids_used: 0,
    };
    assert_eq!(applied.result, Ok(Outcome::IdentityPool(expected.clone())));
    assert_eq!(
        applied.events,
        vec![Event {
            index,
            at_ms: at_ms(index),
            kind: "identity_pool.created".to_string(),
            object: "identity-pool/lab".to_string(),
            partition: None,
        }]
    );
    assert_eq!(state.identity_pools()[1], expected);
    assert_eq!(
        state.identity_pools()[0],
        IdentityPoolView {
            id: 1,
            name: "default".to_string(),
            mac_first: "02:50:41:00:00:00".to_string(),
            mac_last: "02:50:41:ff:ff:ff".to_string(),
            uuid_prefix: "50414e00-0000-0000".to_string(),
            macs_total: 1 << 24,
            macs_used: 0,
            uuids_used: 0,
        }
    );
}

// ------------------------------------------------------------ identity exhaustion

fn macs_of(view: &ServerView) -> Vec<&str> {
    view.identity.macs.iter().map(String::as_str).collect()
}

#[track_caller]
fn assert_exhausted(err: &StateError, free: u64, needed: u64) {
    assert_eq!(
        err,
        &StateError::IdentityPoolExhausted {
            pool: "tiny".to_string(),
            first: TINY_FIRST.to_string(),
            last: TINY_LAST.to_string(),
            free,
            needed,
        }
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "identity pool 'tiny' has {free} free MAC(s) in {TINY_FIRST}-{TINY_LAST} but {needed} are needed"
        )),
        "{message}"
    );
    assert!(
        message.contains("`panctl identity-pool create"),
        "{message}"
    );
    assert!(message.contains("--identity-pool NAME"), "{message}");
}

#[test]
fn identity_pool_exhaustion_is_refused_and_deleted_servers_free_their_macs() {
    let mut state = with_partitions(&["acme"]);
    ok(&mut state, tiny_pool());
    let tiny = |name: &str, nics: u32| server_with("acme", name, nics, Some("tiny"), None);

    let a = server_view(ok(&mut state, tiny("a", 1)));
    let b = server_view(ok(&mut state, tiny("b", 1)));
    let c = server_view(ok(&mut state, tiny("c", 2)));
    assert_eq!(macs_of(&a), ["02:00:00:00:00:00"]);
    assert_eq!(macs_of(&b), ["02:00:00:00:00:01"]);
    assert_eq!(macs_of(&c), ["02:00:00:00:00:02", "02:00:00:00:00:03"]);
    assert_eq!(a.identity.uuid, "00000000-0000-0001-0000-000000000001");
    assert_eq!(c.identity.uuid, "00000000-0000-0001-0000-000000000003");
    assert_eq!(
        c.identity.host_nqn,
        "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0001-0000-000000000003"
    );
    let view = &state.identity_pools()[1];
    assert_eq!(
        (view.macs_total, view.macs_used, view.uuids_used),
        (4, 4, 3)
    );

    // Full: the next server is refused and nothing changes.
    let err = refused(&mut state, tiny("d", 1));
    assert_exhausted(&err, 0, 1);

    // One MAC free, two needed: still refused.
    ok(&mut state, delete_server("acme", "b"));
    assert_eq!(state.identity_pools()[1].macs_used, 3);
    let err = refused(&mut state, tiny("d", 2));
    assert_exhausted(&err, 1, 2);

    // The freed MAC is reused; the UUID suffix is not.
    let d = server_view(ok(&mut state, tiny("d", 1)));
    assert_eq!(macs_of(&d), ["02:00:00:00:00:01"]);
    assert_eq!(d.identity.uuid, "00000000-0000-0001-0000-000000000004");

    // Next-fit starts after the last allocation and wraps to the range start.
    ok(&mut state, delete_server("acme", "a"));
    ok(&mut state, delete_server("acme", "c"));
    let e = server_view(ok(&mut state, tiny("e", 3)));
    assert_eq!(
        macs_of(&e),
        [
            "02:00:00:00:00:02",
            "02:00:00:00:00:03",
            "02:00:00:00:00:00"
        ]
    );
    assert_eq!(e.identity.uuid, "00000000-0000-0001-0000-000000000005");
    let view = &state.identity_pools()[1];
    assert_eq!((view.macs_used, view.uuids_used), (4, 2));
    let err = refused(&mut state, tiny("f", 1));
    assert_exhausted(&err, 0, 1);

    // The default pool is untouched and still serves servers.
    let g = server_view(ok(&mut state, server("acme", "g", 1)));
    assert_eq!(macs_of(&g), ["02:50:41:00:00:00"]);
    assert_eq!(g.identity_pool, "default");
}

// ------------------------------------------------------------ blades

#[test]
fn blade_with_bad_bmc_url_is_refused() {
    let mut state = State::default();
    for url in [
        "",
        "10.0.0.21",
        "ftp://10.0.0.21",
        "HTTPS://10.0.0.21",
        "https://",
        "https:///redfish/v1",
        "https://10.0.0.21/redfish v1",
        "https://10.0.0.21\n",
        "http://bmc\u{7}",
    ] {
        let err = refused(&mut state, add_blade("b1", url, None, None));
        assert_invalid_argument(
            &err,
            "blade 'b1'",
            "BMC address",
            &format!(
                "{url:?} is not an http:// or https:// URL with a host, e.g. https://10.0.0.21"
            ),
        );
    }
}

#[test]
fn blade_with_empty_or_control_user_is_refused() {
    let mut state = State::default();
    for user in ["", "ad\nmin"] {
        let err = refused(
            &mut state,
            Command::AddBlade {
                name: "b1".to_string(),
                bmc_url: "https://10.0.0.21".to_string(),
                bmc_user: user.to_string(),
                bmc_password: Secret(PASSWORD.to_string()),
                facts: None,
                pool: None,
            },
        );
        assert_invalid_argument(
            &err,
            "blade 'b1'",
            "BMC user",
            "it is empty or holds control characters; pass --user",
        );
    }
}

#[test]
fn blade_with_empty_password_is_refused() {
    let mut state = State::default();
    let err = refused(
        &mut state,
        Command::AddBlade {
            name: "b1".to_string(),
            bmc_url: "https://10.0.0.21".to_string(),
            bmc_user: "admin".to_string(),
            bmc_password: Secret(String::new()),
            facts: None,
            pool: None,
        },
    );
    assert_invalid_argument(
        &err,
        "blade 'b1'",
        "BMC password",
        "it is empty; pass a file holding the password with --password-file",
    );
}

#[test]
fn blade_with_duplicate_bmc_url_is_refused() {
    let mut state = State::default();
    ok(&mut state, add_blade("b1", "https://10.0.0.21", None, None));
    let err = refused(&mut state, add_blade("b2", "https://10.0.0.21", None, None));
    assert_invalid_argument(
        &err,
        "blade 'b2'",
        "BMC address",
        "https://10.0.0.21 is already the BMC of blade 'b1'",
    );
    // Once b1 is removed its BMC may be added again.
    ok(&mut state, remove_blade("b1"));
    ok(&mut state, add_blade("b2", "https://10.0.0.21", None, None));
}

#[test]
fn blade_with_control_characters_in_model_is_refused() {
    let mut state = State::default();
    let err = refused(
        &mut state,
        add_blade(
            "b1",
            "https://10.0.0.21",
            None,
            Some(facts("X1\u{1b}[2J", 16, 128)),
        ),
    );
    assert_invalid_argument(&err, "blade 'b1'", "model", "it holds control characters");
}

#[test]
fn blade_without_facts_cannot_join_a_pool() {
    let mut state = State::default();
    ok(&mut state, pool("any", None, 0, 0));
    let err = refused(
        &mut state,
        add_blade("b1", "https://10.0.0.21", Some("any"), None),
    );
    assert_unqualified(
        &err,
        "b1",
        "any",
        "its inventory is unknown; give its facts (model, cores, memory)",
    );
}

#[test]
fn blade_whose_facts_do_not_qualify_is_refused() {
    let mut state = State::default();
    ok(&mut state, pool("gold", Some("X1"), 16, 128));
    let cases = [
        (facts("X2", 32, 256), r#"model is "X2", pool wants "X1""#),
        (facts("X1", 8, 256), "8 cores, at least 16 needed"),
        (
            facts("X1", 16, 64),
            "64 GiB memory, at least 128 GiB needed",
        ),
    ];
    for (facts, reason) in cases {
        let err = refused(
            &mut state,
            add_blade("b1", "https://10.0.0.21", Some("gold"), Some(facts)),
        );
        assert_unqualified(&err, "b1", "gold", reason);
    }
    // Exactly at the minimum qualifies.
    ok(
        &mut state,
        add_blade(
            "b1",
            "https://10.0.0.21",
            Some("gold"),
            Some(facts("X1", 16, 128)),
        ),
    );
    assert_eq!(state.pools()[0].blades, vec!["b1".to_string()]);
}

#[test]
fn added_blades_have_views_and_pool_membership() {
    let mut state = State::default();
    ok(&mut state, pool("gold", Some("X1"), 16, 128));
    let index = next_index(&state);
    let applied = run(
        &mut state,
        add_blade(
            "b1",
            "https://10.0.0.21",
            Some("gold"),
            Some(facts("X1", 32, 256)),
        ),
    );
    let b1 = match applied.result {
        Ok(Outcome::Blade(view)) => view,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        b1,
        BladeView {
            // The credential takes id 3, the blade id 4.
            id: 4,
            name: "b1".to_string(),
            bmc_url: "https://10.0.0.21".to_string(),
            bmc_user: "admin".to_string(),
            credential_ref: "cred-3".to_string(),
            state: "available".to_string(),
            facts: Some(BladeFactsView {
                model: "X1".to_string(),
                cores: 32,
                memory_gib: 256,
                macs: vec![
                    "0c:c4:7a:00:00:01".to_string(),
                    "0c:c4:7a:00:00:02".to_string()
                ],
                uuid: "4c4c4544-0042-3010-8052-b4c04f4e3332".to_string(),
            }),
            pool: Some("gold".to_string()),
            server: None,
            power: "unknown".to_string(),
            health: "unknown".to_string(),
        }
    );
    assert_eq!(
        applied.events,
        vec![Event {
            index,
            at_ms: at_ms(index),
            kind: "blade.added".to_string(),
            object: "blade/b1".to_string(),
            partition: None,
        }]
    );
    let b2 = match ok(&mut state, add_blade("b2", "http://bmc-2:8000", None, None)) {
        Outcome::Blade(view) => view,
        other => panic!("{other:?}"),
    };
    assert_eq!(b2.state, "discovered");
    assert_eq!((b2.pool, b2.facts), (None, None));
    assert_eq!(state.blades(Some("gold")).unwrap(), vec![b1.clone()]);
    assert_eq!(state.blades(None).unwrap().len(), 2);
    assert_eq!(state.blade("b1").unwrap(), b1);
    assert_eq!(state.pools()[0].blades, vec!["b1".to_string()]);

    // Removing a blade takes it out of its pool and drops its credential.
    ok(&mut state, remove_blade("b1"));
    assert_eq!(state.pools()[0].blades, Vec::<String>::new());
    assert_eq!(state.blades(Some("gold")).unwrap(), vec![]);
    assert_eq!(state.credentials.len(), 1);
    assert!(state.bmc_password("b1").is_err());
}

// ------------------------------------------------------------ secrets

#[test]
fn bmc_password_never_reaches_audit_debug_views_or_events() {
    let mut state = State::default();
    ok(&mut state, pool("gold", None, 0, 0));
    let command = add_blade(
        "b1",
        "https://10.0.0.21",
        Some("gold"),
        Some(facts("X1", 16, 128)),
    );
    let envelope = Envelope {
        principal: OPERATOR.into(),
        at_ms: 5,
        command: command.clone().into(),
    };
    for text in [
        format!("{command:?}"),
        format!("{command:#?}"),
        format!("{envelope:?}"),
        command.to_string(),
    ] {
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
    }
    assert_eq!(
        command.to_string(),
        "blade add b1 bmc=https://10.0.0.21 user=admin password=<redacted> pool=gold"
    );

    let applied = state.apply(7, &envelope);
    let outcome = applied.result.expect("blade added");
    let record = state.audit(1).remove(0);
    assert_eq!(
        record,
        AuditRecord {
            index: 7,
            at_ms: 5,
            principal: OPERATOR.to_string(),
            command: "blade add b1 bmc=https://10.0.0.21 user=admin password=<redacted> pool=gold"
                .to_string(),
            error: None,
            partition: None,
        }
    );
    // A refused AddBlade is audited without the password too.
    let err = refused(
        &mut state,
        add_blade("b2", "https://10.0.0.21", Some("gold"), None),
    );
    assert!(!err.to_string().contains(PASSWORD));

    for text in [
        format!("{outcome:?}"),
        serde_json::to_string(&outcome).unwrap(),
        format!("{:?}", applied.events),
        format!("{:?}", state.audit(usize::MAX)),
        serde_json::to_string(&state.audit(usize::MAX)).unwrap(),
        serde_json::to_string(&state.blades(None).unwrap()).unwrap(),
        serde_json::to_string(&state.blade("b1").unwrap()).unwrap(),
        serde_json::to_string(&state.pools()).unwrap(),
        format!("{state:?}"),
        format!("{:?}", state.bmc_password("b1").unwrap()),
    ] {
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
    }

    // The view only refers to the credential; drivers read it through bmc_password.
    let view = state.blade("b1").unwrap();
    assert_eq!(view.credential_ref, "cred-3");
    assert_eq!(
        state.bmc_password("b1").unwrap(),
        &Secret(PASSWORD.to_string())
    );
    assert_eq!(
        format!("{:?}", Secret(PASSWORD.to_string())),
        "Secret(<redacted>)"
    );
}

#[test]
fn snapshot_carries_the_password_so_a_restored_replica_can_reach_the_bmc() {
    let mut state = State::default();
    ok(&mut state, add_blade("b1", "https://10.0.0.21", None, None));
    let json = serde_json::to_string(&state).unwrap();
    let mut restored: State = serde_json::from_str(&json).unwrap();
    restored.reindex();
    assert_eq!(
        restored.bmc_password("b1").unwrap(),
        &Secret(PASSWORD.to_string())
    );
}

// ------------------------------------------------------------ happy paths, views, events, audit

#[test]
fn create_partition_returns_view_event_and_audit_record() {
    let mut state = State::default();
    let applied = state.apply(
        41,
        &Envelope {
            principal: "operator:bob".into(),
            at_ms: 1_700_000_000_000,
            command: partition("acme").into(),
        },
    );
    let view = PartitionView {
        id: 2,
        name: "acme".to_string(),
        description: "acme tenant".to_string(),
        created_at_ms: 1_700_000_000_000,
        servers: 0,
        volumes: 0,
        network_ids: Some((1024, 2047)),
        networks: 0,
        quota: partitions::Quota::default(),
        usage: partitions::Usage::default(),
    };
    assert_eq!(applied.result, Ok(Outcome::Partition(view.clone())));
    assert_eq!(
        applied.events,
        vec![Event {
            index: 41,
            at_ms: 1_700_000_000_000,
            kind: "partition.created".to_string(),
            object: "partition/acme".to_string(),
            partition: Some("acme".to_string()),
        }]
    );
    assert_eq!(state.partitions(), vec![view]);
    assert_eq!(
        state.audit(10),
        vec![AuditRecord {
            index: 41,
            at_ms: 1_700_000_000_000,
            principal: "operator:bob".to_string(),
            command: "partition create acme network_ids=auto".to_string(),
            error: None,
            partition: Some("acme".to_string()),
        }]
    );
}

#[test]
fn create_server_allocates_an_identity_and_updates_every_view() {
    let mut state = with_partitions(&["acme"]);
    make_volume(&mut state, "acme", "boot", 1 << 34);
    let index = next_index(&state);
    let applied = run(
        &mut state,
        Command::CreateServer {
            name: "web-1".to_string(),
            partition: "acme".to_string(),
            nics: 2,
            identity_pool: None,
            boot_volume: Some("boot".to_string()),
            requirements: Qualification {
                model: Some("X1".to_string()),
                min_cores: 8,
                min_memory_gib: 32,
            },
            networks: Vec::new(),
            volumes: Vec::new(),
            priority: 0,
            failover_pool: None,
            preempt: false,
            failback_window: None,
        },
    );
    let expected = ServerView {
        id: 4,
        name: "web-1".to_string(),
        partition: "acme".to_string(),
        identity: IdentityView {
            uuid: "50414e00-0000-0000-0000-000000000001".to_string(),
            macs: vec![
                "02:50:41:00:00:00".to_string(),
                "02:50:41:00:00:01".to_string(),
            ],
            host_nqn: "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001"
                .to_string(),
        },
        identity_pool: "default".to_string(),
        boot_volume: Some("boot".to_string()),
        requirements: Qualification {
            model: Some("X1".to_string()),
            min_cores: 8,
            min_memory_gib: 32,
        },
        state: "defined".to_string(),
        blade: None,
        generation: 1,
        created_at_ms: at_ms(index),
        last_error: None,
        nics: ["02:50:41:00:00:00", "02:50:41:00:00:01"]
            .into_iter()
            .map(|mac| NicView {
                mac: mac.to_string(),
                network: None,
                network_id: None,
            })
            .collect(),
        volumes: Vec::new(),
        priority: 0,
        failover_pool: None,
        preempt: false,
        failback_window: None,
        home_blade: None,
    };
    assert_eq!(applied.result, Ok(Outcome::Server(expected.clone())));
    assert_eq!(
        applied.events,
        vec![Event {
            index,
            at_ms: at_ms(index),
            kind: "server.created".to_string(),
            object: "server/acme/web-1".to_string(),
            partition: Some("acme".to_string()),
        }]
    );
    assert_eq!(state.server("acme", "web-1").unwrap(), expected);
    assert_eq!(state.servers(Some("acme")).unwrap(), vec![expected.clone()]);
    assert_eq!(state.servers(None).unwrap(), vec![expected]);
    assert_eq!(state.server_count(), 1);
    assert_eq!(
        state.volumes(Some("acme")).unwrap(),
        vec![VolumeView {
            id: 3,
            name: "boot".to_string(),
            partition: "acme".to_string(),
            size_bytes: 1 << 34,
            attached_to: Some("acme/web-1".to_string()),
            image: None,
            state: "ready".to_string(),
            nqn: "nqn.2026-11.io.pan:volume:3".to_string(),
            snapshots: Vec::new(),
            last_error: None,
        }]
    );
    let p = &state.partitions()[0];
    assert_eq!((p.servers, p.volumes), (1, 1));
    let d = &state.identity_pools()[0];
    assert_eq!((d.macs_used, d.uuids_used), (2, 1));
    assert_eq!(
        state.audit(1)[0].command,
        "server create acme/web-1 nics=2 boot_volume=boot"
    );

    // The next server continues after the first one's MACs.
    let web2 = server_view(ok(&mut state, server("acme", "web-2", 1)));
    assert_eq!(macs_of(&web2), ["02:50:41:00:00:02"]);
    assert_eq!(web2.identity.uuid, "50414e00-0000-0000-0000-000000000002");
}

#[test]
fn deletes_emit_events_and_free_names_but_never_ids() {
    let mut state = with_partitions(&["acme"]);
    ok(&mut state, tiny_pool());
    ok(&mut state, pool("gold", None, 0, 0));
    ok(&mut state, add_blade("b1", "https://10.0.0.21", None, None));
    ok(&mut state, volume("acme", "boot", 512));
    let first = server_view(ok(&mut state, server("acme", "web-1", 1)));
    // A volume goes in two steps: the intent, then the executor's report.
    finish_storage_work(&mut state);
    ok(&mut state, delete_volume("acme", "boot"));
    assert_eq!(state.pending_storage_work().len(), 1);
    finish_storage_work(&mut state);
    assert_eq!(state.audit(1)[0].command.split(' ').next(), Some("volume"));
    assert!(state.volumes(None).unwrap().is_empty());

    let deletes = [
        (
            delete_server("acme", "web-1"),
            "server.deleted",
            "server/acme/web-1",
            Some("acme"),
        ),
        (
            delete_partition("acme"),
            "partition.deleted",
            "partition/acme",
            Some("acme"),
        ),
        (delete_pool("gold"), "pool.deleted", "pool/gold", None),
        (
            delete_identity_pool("tiny"),
            "identity_pool.deleted",
            "identity-pool/tiny",
            None,
        ),
        (remove_blade("b1"), "blade.removed", "blade/b1", None),
    ];
    for (command, kind, object, partition) in deletes {
        let index = next_index(&state);
        let applied = run(&mut state, command);
        assert_eq!(applied.result, Ok(Outcome::Deleted));
        assert_eq!(
            applied.events,
            vec![Event {
                index,
                at_ms: at_ms(index),
                kind: kind.to_string(),
                object: object.to_string(),
                partition: partition.map(str::to_string),
            }]
        );
    }
    let v = views(&state);
    assert_eq!(v.partitions, vec![]);
    assert_eq!(v.pools, vec![]);
    assert_eq!(v.identity_pools.len(), 1);
    assert_eq!(v.blades, vec![]);
    assert_eq!(v.servers, vec![]);
    assert_eq!(v.volumes, vec![]);
    assert_eq!(state.credentials.len(), 0);

    // Every name is free again; ids keep counting.
    ok(&mut state, partition("acme"));
    ok(&mut state, tiny_pool());
    ok(&mut state, pool("gold", None, 0, 0));
    ok(&mut state, add_blade("b1", "https://10.0.0.21", None, None));
    ok(&mut state, volume("acme", "boot", 512));
    let second = server_view(ok(&mut state, server("acme", "web-1", 1)));
    assert!(second.id > first.id);
    assert_ne!(second.identity.uuid, first.identity.uuid);
    assert_eq!(state.partitions()[0].id, 9);
}

#[test]
fn refused_commands_are_audited_newest_first() {
    let mut state = State::default();
    ok(&mut state, partition("acme"));
    let err = refused(&mut state, partition("acme"));
    refused(&mut state, delete_pool("gold"));
    let records = state.audit(2);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].command, "pool delete gold");
    assert_eq!(
        records[0].error.as_deref(),
        Some("pool 'gold' not found; list them with `panctl pool list`")
    );
    assert_eq!(records[1].command, "partition create acme network_ids=auto");
    assert_eq!(records[1].error, Some(err.to_string()));
    assert_eq!(state.audit(10).len(), 3);
    assert_eq!(state.audit(0), vec![]);
}

#[test]
fn audit_keeps_only_the_newest_records() {
    let mut state = State::default();
    let total = AUDIT_RETENTION as u64 + 5;
    for index in 1..=total {
        state.apply(
            index,
            &Envelope {
                principal: OPERATOR.into(),
                at_ms: index,
                command: delete_partition("acme").into(),
            },
        );
    }
    assert_eq!(state.audit.len(), AUDIT_RETENTION);
    assert_eq!(state.audit(usize::MAX).last().unwrap().index, 6);
    assert_eq!(state.audit(1)[0].index, total);
}

// ------------------------------------------------------------ snapshots

/// A state that has seen every kind of command, deletes and refusals.
fn populated() -> State {
    let mut state = with_partitions(&["acme", "globex", "initech"]);
    ok(&mut state, tiny_pool());
    ok(&mut state, pool("gold", Some("X1"), 16, 128));
    ok(&mut state, pool("iron", None, 0, 0));
    ok(
        &mut state,
        add_blade(
            "b1",
            "https://10.0.0.21",
            Some("gold"),
            Some(facts("X1", 32, 256)),
        ),
    );
    ok(&mut state, add_blade("b2", "https://10.0.0.22", None, None));
    ok(
        &mut state,
        add_blade(
            "b3",
            "https://10.0.0.23",
            Some("iron"),
            Some(facts("X2", 4, 8)),
        ),
    );
    ok(&mut state, volume("acme", "boot-1", 1 << 30));
    ok(&mut state, volume("acme", "boot-2", 1 << 30));
    ok(&mut state, volume("globex", "boot-1", 1 << 30));
    ok(
        &mut state,
        server_with("acme", "web-1", 2, Some("tiny"), Some("boot-1")),
    );
    ok(
        &mut state,
        server_with("acme", "web-2", 1, Some("tiny"), None),
    );
    ok(&mut state, server("globex", "web-1", 3));
    ok(
        &mut state,
        server_with("globex", "db-1", 1, None, Some("boot-1")),
    );
    ok(&mut state, delete_server("acme", "web-2"));
    ok(&mut state, delete_partition("initech"));
    ok(&mut state, remove_blade("b2"));
    refused(&mut state, delete_pool("gold"));
    state
}

#[test]
fn snapshot_round_trip_restores_an_equal_state_with_rebuilt_indexes() {
    let mut original = populated();
    let json = serde_json::to_vec(&original).unwrap();
    let mut restored: State = serde_json::from_slice(&json).unwrap();
    restored.reindex();
    assert_eq!(restored, original);
    assert_eq!(serde_json::to_vec(&restored).unwrap(), json);
    assert_eq!(normalized_index(&restored), normalized_index(&original));
    assert_eq!(views(&restored), views(&original));
    assert_eq!(restored.audit(usize::MAX), original.audit(usize::MAX));

    // Commands that consult every index give identical results on both copies.
    let script = [
        server("acme", "web-1", 1),                            // server_by_name
        server_with("acme", "web-3", 2, Some("tiny"), None),   // macs, cursor
        server_with("acme", "web-4", 1, Some("tiny"), None),   // exhausted
        server_with("acme", "web-5", 1, None, Some("boot-1")), // volume_boots
        server_with("acme", "web-5", 1, None, Some("boot-2")),
        delete_volume("acme", "boot-1"), // volume_boots
        delete_partition("globex"),      // partition_servers
        delete_pool("gold"),             // pool_blades
        delete_identity_pool("tiny"),    // identity_pool_servers
        add_blade("b1", "https://10.0.0.99", None, None), // blade_by_name
        add_blade("b9", "https://10.0.0.21", None, None), // BMC URL
        volume("globex", "boot-1", 512), // volume_by_name
        partition("acme"),               // partition_by_name
        pool("iron", None, 0, 0),        // pool_by_name
        identity_pool(
            "tiny",
            "06:00:00:00:00:00",
            "06:00:00:00:00:01",
            "00000000-0000-0007",
        ),
        delete_server("acme", "web-1"),
        server_with("acme", "web-6", 2, Some("tiny"), None), // freed MACs
        delete_server("globex", "web-1"),
        delete_server("globex", "db-1"),
        delete_volume("globex", "boot-1"),
        delete_partition("globex"),
        remove_blade("b3"),
        delete_pool("iron"),
        server("acme", "web-7", MAX_NICS),
    ];
    for (i, command) in script.into_iter().enumerate() {
        let index = 1_000 + i as u64;
        let envelope = Envelope {
            principal: OPERATOR.into(),
            at_ms: at_ms(index),
            command: command.into(),
        };
        let a = original.apply(index, &envelope);
        let b = restored.apply(index, &envelope);
        assert_eq!(a.result, b.result, "{}", envelope.command);
        assert_eq!(a.events, b.events, "{}", envelope.command);
        assert_eq!(restored, original, "{}", envelope.command);
        assert_eq!(normalized_index(&restored), normalized_index(&original));
        assert_eq!(normalized_index(&original), rebuilt_index(&original));
    }
    // The script exercised both outcomes.
    let errors = original
        .audit(24)
        .iter()
        .filter(|r| r.error.is_some())
        .count();
    assert!((8..24).contains(&errors), "{errors} refusals");
    assert_eq!(
        serde_json::to_vec(&restored).unwrap(),
        serde_json::to_vec(&original).unwrap()
    );
}

#[test]
fn index_is_not_serialized() {
    let state = populated();
    let value = serde_json::to_value(&state).unwrap();
    let keys: BTreeSet<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "next_id",
            "next_generation",
            "partitions",
            "pools",
            "identity_pools",
            "blades",
            "servers",
            "volumes",
            "images",
            "networks",
            "create_failures",
            "failovers",
            "spare_epoch",
            "credentials",
            "principals",
            "audit",
        ])
    );
}

// ------------------------------------------------------------ invariants

/// Everything that must hold after any sequence of commands.
pub(super) fn check_invariants(state: &State) -> Result<(), TestCaseError> {
    let mut macs: HashMap<Mac, ServerId> = HashMap::new();
    let mut uuids: HashSet<PoolUuid> = HashSet::new();
    let mut nqns: HashSet<String> = HashSet::new();
    let mut boots: HashMap<VolumeId, ServerId> = HashMap::new();
    let mut pool_use: BTreeMap<IdentityPoolId, (u64, u64)> = BTreeMap::new();
    let max_id = state.next_id;

    for s in state.servers.values() {
        prop_assert!(s.id.0 < max_id);
        prop_assert!(
            state.partitions.contains_key(&s.partition),
            "server {} has no partition",
            s.name
        );
        let pool = state.identity_pools.get(&s.identity_pool);
        prop_assert!(pool.is_some(), "server {} has no identity pool", s.name);
        let pool = pool.unwrap();
        prop_assert!((1..=MAX_NICS as usize).contains(&s.identity.macs.len()));
        for mac in &s.identity.macs {
            prop_assert!(
                macs.insert(*mac, s.id).is_none(),
                "MAC {} held by two servers",
                mac
            );
            prop_assert!(
                pool.mac_first <= *mac && *mac <= pool.mac_last,
                "MAC {} outside identity pool {}",
                mac,
                pool.name
            );
        }
        prop_assert_eq!(s.identity.uuid.prefix, pool.uuid_prefix);
        prop_assert!(s.identity.uuid.suffix < pool.next_uuid_suffix);
        prop_assert!(
            uuids.insert(s.identity.uuid),
            "UUID {} twice",
            s.identity.uuid
        );
        prop_assert!(nqns.insert(s.identity.host_nqn()), "host NQN twice");
        for v in s.all_volumes() {
            let volume = state.volumes.get(&v);
            prop_assert!(volume.is_some(), "a volume of {} is gone", s.name);
            prop_assert_eq!(volume.unwrap().partition, s.partition);
            prop_assert!(
                boots.insert(v, s.id).is_none(),
                "volume {} is attached to two servers",
                v
            );
        }
        // A server's networks are its own partition's, one vNIC each.
        prop_assert_eq!(s.nic_networks.len(), s.identity.macs.len());
        let mut seen = HashSet::new();
        for n in s.nic_networks.iter().flatten() {
            let network = state.networks.get(n);
            prop_assert!(network.is_some(), "a network of {} is gone", s.name);
            prop_assert_eq!(network.unwrap().partition, s.partition);
            prop_assert!(seen.insert(*n), "{} has two vNICs on {}", s.name, n);
        }
        let entry = pool_use.entry(s.identity_pool).or_default();
        entry.0 += s.identity.macs.len() as u64;
        entry.1 += 1;
    }
    for view in state.identity_pools() {
        let id = IdentityPoolId(view.id);
        let (macs_used, uuids_used) = pool_use.get(&id).copied().unwrap_or_default();
        prop_assert_eq!(view.macs_used, macs_used, "identity pool {}", &view.name);
        prop_assert_eq!(view.uuids_used, uuids_used, "identity pool {}", &view.name);
        prop_assert!(view.macs_used <= view.macs_total);
        let pool = &state.identity_pools[&id];
        prop_assert_eq!(view.macs_total, pool.mac_total());
        prop_assert!(pool.mac_cursor < pool.mac_total());
    }
    let pools: Vec<&IdentityPool> = state.identity_pools.values().collect();
    for (i, a) in pools.iter().enumerate() {
        for b in &pools[i + 1..] {
            prop_assert!(
                !a.overlaps(b.mac_first, b.mac_last),
                "{} overlaps {}",
                &a.name,
                &b.name
            );
            prop_assert!(a.uuid_prefix != b.uuid_prefix);
        }
    }
    for v in state.volumes.values() {
        prop_assert!(state.partitions.contains_key(&v.partition));
        prop_assert!((1..=MAX_VOLUME_BYTES).contains(&v.size_bytes));
    }
    let mut urls = HashSet::new();
    for b in state.blades.values() {
        prop_assert!(urls.insert(b.bmc.url.as_str()), "BMC {} twice", &b.bmc.url);
        prop_assert!(state.credentials.contains_key(&b.bmc.credential));
        if let Some(p) = b.pool {
            let pool = state.pools.get(&p);
            prop_assert!(pool.is_some(), "blade {} is in a deleted pool", &b.name);
            let facts = b.facts.as_ref();
            prop_assert!(facts.is_some());
            prop_assert_eq!(pool.unwrap().qualification.unmet_by(facts.unwrap()), None);
        }
    }
    prop_assert_eq!(state.credentials.len(), state.blades.len());

    // Views agree with the records.
    for p in state.partitions() {
        let id = PartitionId(p.id);
        let servers = state.servers.values().filter(|s| s.partition == id).count();
        let volumes = state.volumes.values().filter(|v| v.partition == id).count();
        prop_assert_eq!((p.servers as usize, p.volumes as usize), (servers, volumes));
        prop_assert_eq!(state.servers(Some(&p.name)).unwrap().len(), servers);
        prop_assert_eq!(state.volumes(Some(&p.name)).unwrap().len(), volumes);
    }
    for p in state.pools() {
        let blades: Vec<String> = state
            .blades
            .values()
            .filter(|b| b.pool == Some(PoolId(p.id)))
            .map(|b| b.name.clone())
            .collect();
        prop_assert_eq!(&p.blades, &blades);
        prop_assert_eq!(state.blades(Some(&p.name)).unwrap().len(), blades.len());
    }
    // Failovers: the fence is recorded before any takeover, and a server
    // is on one blade at most, the one the failover says.
    for f in state.failovers.values() {
        let s = state.servers.get(&f.server);
        if f.phase == FailoverPhase::Done {
            prop_assert!(f.fenced_at_ms.is_some() && f.running_at_ms.is_some());
            continue;
        }
        prop_assert_eq!(state.index.failover_of_server.get(&f.server), Some(&f.id));
        let s = s.expect("a failover's server exists");
        match f.phase {
            FailoverPhase::Fencing | FailoverPhase::FenceFailed => {
                prop_assert_eq!(s.blade, Some(f.from_blade));
                prop_assert_eq!(state.blades[&f.from_blade].state, BladeState::Failed);
            }
            FailoverPhase::AwaitingSpare => {
                prop_assert!(f.fenced_at_ms.is_some());
                prop_assert_eq!(s.blade, None);
            }
            FailoverPhase::Booting => {
                prop_assert!(f.fenced_at_ms.is_some(), "placed before the fence");
                prop_assert_eq!(s.blade, f.to_blade);
                prop_assert_eq!(s.state, ServerState::Starting);
            }
            FailoverPhase::Done => {}
        }
    }
    for b in state.blades.values() {
        if let Some(sid) = b.server {
            prop_assert_eq!(
                state.servers[&sid].blade,
                Some(b.id),
                "blade {} holds a server placed elsewhere",
                b.name
            );
        }
    }
    let mut vnis = HashSet::new();
    for n in state.networks.values() {
        let range = state.partitions[&n.partition].network_ids;
        prop_assert!(
            range.is_some_and(|r| r.contains(n.vni)),
            "{} outside its range",
            n.name
        );
        prop_assert!(vnis.insert(n.vni), "network id {} used twice", n.vni);
    }
    let ranges: Vec<_> = state
        .partitions
        .values()
        .filter_map(|p| p.network_ids)
        .collect();
    for (i, a) in ranges.iter().enumerate() {
        for b in &ranges[i + 1..] {
            prop_assert!(!a.overlaps(b), "network id ranges {a} and {b} overlap");
        }
    }
    for v in state.volumes(None).unwrap() {
        let holder = boots
            .get(&VolumeId(v.id))
            .map(|s| format!("{}/{}", v.partition, state.servers[s].name));
        prop_assert_eq!(v.attached_to, holder);
    }
    for id in state
        .partitions
        .keys()
        .map(|k| k.0)
        .chain(state.pools.keys().map(|k| k.0))
        .chain(state.identity_pools.keys().map(|k| k.0))
        .chain(state.blades.keys().map(|k| k.0))
        .chain(state.volumes.keys().map(|k| k.0))
        .chain(state.credentials.keys().map(|k| k.0))
    {
        prop_assert!(id < max_id);
    }

    // Principals: one key id each, roles only on partitions that exist.
    let mut key_ids = HashSet::new();
    for (name, p) in &state.principals {
        prop_assert_eq!(name, &p.name);
        prop_assert!(
            key_ids.insert(p.token.key_id),
            "key id {} shared by two principals",
            p.token.key_id
        );
        prop_assert!(!p.roles.is_empty());
        prop_assert!(p.roles.windows(2).all(|w| w[0] < w[1]), "{:?}", &p.roles);
        for role in &p.roles {
            if let Some(partition) = role.partition() {
                prop_assert!(
                    state.index.partition_by_name.contains_key(partition),
                    "principal {} has a role on deleted partition {}",
                    name,
                    partition
                );
            }
        }
        let view = state.principal(name).unwrap();
        prop_assert_eq!(view.token_key_id, p.token.key_id.to_string());
    }
    prop_assert_eq!(state.has_principals(), !state.principals.is_empty());

    // Quota usage in the views is what the records add up to.
    for p in state.partitions() {
        let id = PartitionId(p.id);
        let volumes: Vec<&Volume> = state
            .volumes
            .values()
            .filter(|v| v.partition == id)
            .collect();
        let usage = partitions::Usage {
            servers: state.servers.values().filter(|s| s.partition == id).count() as u64,
            volumes: volumes.len() as u64,
            volume_bytes: volumes.iter().map(|v| storage::volume_charge(v)).sum(),
            networks: state
                .networks
                .values()
                .filter(|n| n.partition == id)
                .count() as u64,
            blades: state
                .servers
                .values()
                .filter(|s| s.partition == id && s.blade.is_some())
                .count() as u64,
        };
        prop_assert_eq!(&p.usage, &usage, "partition {}", &p.name);
        prop_assert_eq!(&p.quota, &state.partitions[&id].quota);
    }

    // The incrementally kept index equals the one rebuilt from the records.
    prop_assert_eq!(normalized_index(state), rebuilt_index(state));
    Ok(())
}

/// Checks that an accepted request grew no partition's use past a limit
/// that was in place (executor reports and quota changes are exempt: they
/// record facts and decisions, they do not ask for more).
pub(super) fn check_quota_growth(
    before: &State,
    after: &State,
    command: &Command,
) -> Result<(), TestCaseError> {
    if matches!(
        command,
        Command::SetQuota { .. } | Command::VolumeOpDone { .. }
    ) {
        return Ok(());
    }
    for p in after.partitions() {
        let Some(old) = before.partitions().into_iter().find(|o| o.id == p.id) else {
            continue;
        };
        let q = &p.quota;
        let (u, o) = (&p.usage, &old.usage);
        for (now, was, limit, what) in [
            (u.servers, o.servers, q.max_servers, "servers"),
            (u.volumes, o.volumes, q.max_volumes, "volumes"),
            (
                u.volume_bytes,
                o.volume_bytes,
                q.max_volume_bytes,
                "volume bytes",
            ),
            (u.networks, o.networks, q.max_networks, "networks"),
            (u.blades, o.blades, q.max_blades, "blades"),
        ] {
            if let Some(limit) = limit
                && now > was
            {
                prop_assert!(
                    now <= limit,
                    "`{}` took partition {} to {} {} (limit {})",
                    command,
                    &p.name,
                    now,
                    what,
                    limit
                );
            }
        }
    }
    Ok(())
}

// ------------------------------------------------------------ property tests

const PARTITIONS: [&str; 3] = ["p0", "p1", "p2"];
const SERVERS: [&str; 4] = ["s0", "s1", "s2", "s3"];
const VOLUMES: [&str; 3] = ["v0", "v1", "v2"];
const POOLS: [&str; 2] = ["gold", "iron"];
const BLADES: [&str; 3] = ["b0", "b1", "b2"];
const BMC_URLS: [&str; 3] = ["https://10.0.0.1", "https://10.0.0.2", "http://bmc-3"];
/// Identity pools the random sequences create and delete: two that fit, one
/// overlapping both, one reusing tiny's UUID prefix in another range.
const IDENTITY_POOLS: [(&str, &str, &str, &str); 4] = [
    ("tiny", TINY_FIRST, TINY_LAST, TINY_PREFIX),
    (
        "small",
        "02:00:00:00:01:00",
        "02:00:00:00:01:07",
        "00000000-0000-0002",
    ),
    (
        "clash",
        "02:00:00:00:00:02",
        "02:00:00:00:01:01",
        "00000000-0000-0003",
    ),
    (
        "twin",
        "06:00:00:00:00:00",
        "06:00:00:00:00:05",
        "00000000-0000-0001",
    ),
];

fn one_of(names: &[&'static str]) -> impl Strategy<Value = String> + use<> {
    prop::sample::select(names.to_vec()).prop_map(str::to_string)
}

fn arb_command() -> impl Strategy<Value = Command> {
    let nics = prop_oneof![1 => Just(0u32), 12 => 1u32..=4, 1 => Just(MAX_NICS + 1)];
    let server_pool = prop::sample::select(vec![
        None,
        None,
        Some("default"),
        Some("tiny"),
        Some("tiny"),
        Some("small"),
        Some("twin"),
        Some("nope"),
    ]);
    let size = prop::sample::select(vec![0, 1, 1u64 << 30, MAX_VOLUME_BYTES + 1]);
    let arb_facts = prop::option::weighted(
        0.8,
        (
            prop::sample::select(vec!["X1", "X2"]),
            prop::sample::select(vec![4u32, 16]),
        )
            .prop_map(|(model, cores)| facts(model, cores, 64)),
    );
    prop_oneof![
        2 => one_of(&PARTITIONS).prop_map(|name| partition(&name)),
        1 => one_of(&PARTITIONS).prop_map(|name| delete_partition(&name)),
        8 => (
            one_of(&SERVERS),
            one_of(&PARTITIONS),
            nics,
            server_pool,
            prop::option::of(one_of(&VOLUMES)),
        )
            .prop_map(|(name, partition, nics, pool, boot)| {
                server_with(&partition, &name, nics, pool, boot.as_deref())
            }),
        4 => (one_of(&SERVERS), one_of(&PARTITIONS))
            .prop_map(|(name, partition)| delete_server(&partition, &name)),
        3 => (one_of(&VOLUMES), one_of(&PARTITIONS), size)
            .prop_map(|(name, partition, size)| volume(&partition, &name, size)),
        2 => (one_of(&VOLUMES), one_of(&PARTITIONS))
            .prop_map(|(name, partition)| delete_volume(&partition, &name)),
        1 => (one_of(&POOLS), prop::option::of(Just("X1")), prop::sample::select(vec![0u32, 8]))
            .prop_map(|(name, model, cores)| pool(&name, model, cores, 0)),
        1 => one_of(&POOLS).prop_map(|name| delete_pool(&name)),
        2 => (
            one_of(&BLADES),
            one_of(&BMC_URLS),
            prop::option::of(one_of(&POOLS)),
            arb_facts,
        )
            .prop_map(|(name, url, pool, facts)| add_blade(&name, &url, pool.as_deref(), facts)),
        1 => one_of(&BLADES).prop_map(|name| remove_blade(&name)),
        1 => prop::sample::select(IDENTITY_POOLS.to_vec())
            .prop_map(|(name, first, last, prefix)| identity_pool(name, first, last, prefix)),
        1 => prop::sample::select(vec!["tiny", "small", "twin", "default"])
            .prop_map(delete_identity_pool),
        3 => arb_storage_command(),
        3 => arb_network_command(),
        3 => arb_failover_command(),
        3 => arb_principal_command(),
        2 => arb_quota_command(),
    ]
}

const PRINCIPALS: [&str; 3] = ["root", "alice", "bob"];

/// A deterministic token hash; equal `n` give equal key ids.
pub(super) fn token_hash(n: u8) -> partitions::TokenHash {
    let mut bytes = [0u8; partitions::SEED_LEN];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37).wrapping_add(n.wrapping_mul(71)) ^ 0x3c;
    }
    partitions::issue(&partitions::TokenSeed::from_random(bytes), 0)
        .unwrap()
        .1
}

/// Principal commands: key ids from a few seeds (so some collide), roles on
/// the random partitions, expiries in the past, the near future or never.
fn arb_principal_command() -> impl Strategy<Value = Command> {
    let roles = prop::sample::select(vec![
        vec![partitions::Role::FabricAdmin],
        vec![partitions::Role::FabricAdmin],
        vec![partitions::Role::Operator],
        vec![partitions::Role::PartitionAdmin("p0".into())],
        vec![
            partitions::Role::Operator,
            partitions::Role::PartitionViewer("p2".into()),
        ],
        vec![],
    ]);
    let expiry = prop::sample::select(vec![
        None,
        None,
        Some(1),
        Some(1_700_000_000_000 + 250 * 30),
    ]);
    prop_oneof![
        3 => (one_of(&PRINCIPALS), roles, 0u8..5, expiry.clone(), any::<bool>())
            .prop_map(|(name, roles, n, expires_at_ms, boot)| {
                let principal = partitions::Principal {
                    name,
                    roles,
                    token: token_hash(n),
                    revoked: false,
                    created_at_ms: 0,
                    expires_at_ms,
                };
                if boot {
                    Command::BootstrapPrincipal { principal }
                } else {
                    Command::CreatePrincipal { principal }
                }
            }),
        1 => (one_of(&PRINCIPALS), 0u8..5, expiry)
            .prop_map(|(name, n, expires_at_ms)| Command::RotatePrincipal {
                name,
                token: token_hash(n),
                expires_at_ms,
            }),
        1 => one_of(&PRINCIPALS).prop_map(|name| Command::RevokePrincipal { name }),
        1 => one_of(&PRINCIPALS).prop_map(|name| Command::DeletePrincipal { name }),
    ]
}

/// Quotas with small limits, and the commands that place servers (the
/// blades quota).
fn arb_quota_command() -> impl Strategy<Value = Command> {
    let small = prop::option::weighted(0.6, 0u64..3);
    let quota = (
        small.clone(),
        small.clone(),
        prop::option::weighted(0.5, prop::sample::select(vec![1u64 << 30, 3 << 30])),
        small.clone(),
        small,
        prop::option::weighted(0.2, prop::sample::select(vec!["gold", "nope"])),
    )
        .prop_map(
            |(servers, volumes, bytes, networks, blades, pool)| partitions::Quota {
                max_servers: servers,
                max_volumes: volumes,
                max_volume_bytes: bytes,
                max_networks: networks,
                max_blades: blades,
                dedicated_pool: pool.map(str::to_string),
            },
        );
    prop_oneof![
        2 => (one_of(&PARTITIONS), quota)
            .prop_map(|(partition, quota)| Command::SetQuota { partition, quota }),
        2 => (one_of(&SERVERS), one_of(&PARTITIONS))
            .prop_map(|(name, partition)| Command::StartServer { name, partition, blade: None }),
        1 => (one_of(&SERVERS), one_of(&PARTITIONS), 1u64..48)
            .prop_map(|(name, partition, generation)| Command::ServerStartFailed {
                name,
                partition,
                generation,
                reason: "no agent".to_string(),
            }),
    ]
}

const NETWORKS: [&str; 2] = ["n0", "n1"];
const SNAPSHOTS: [&str; 2] = ["s0", "s1"];

/// Image and volume commands, including executor reports with generations
/// that sometimes match the pending work.
fn arb_storage_command() -> impl Strategy<Value = Command> {
    let error = prop::option::weighted(0.3, Just("target failed".to_string()));
    prop_oneof![
        2 => (one_of(&VOLUMES), one_of(&PARTITIONS), 1u64..48, error.clone())
            .prop_map(|(name, partition, generation, error)| Command::VolumeOpDone {
                name,
                partition,
                generation,
                size_bytes: 1 << 30,
                error,
            }),
        1 => (one_of(&VOLUMES), one_of(&PARTITIONS), prop::sample::select(vec![1u64 << 29, 1 << 30, 2 << 30]))
            .prop_map(|(name, partition, size_bytes)| Command::ResizeVolume { name, partition, size_bytes }),
        2 => (0u8..3, one_of(&VOLUMES), one_of(&PARTITIONS), one_of(&SNAPSHOTS))
            .prop_map(|(kind, name, partition, snapshot)| match kind {
                0 => Command::SnapshotVolume { name, partition, snapshot },
                1 => Command::RestoreVolume { name, partition, snapshot },
                _ => Command::DeleteSnapshot { name, partition, snapshot },
            }),
        1 => (prop::sample::select(vec!["gold", "silver"]), any::<bool>())
            .prop_map(|(name, add)| if add {
                Command::AddImage { name: name.into(), source_path: None, size_bytes: 1 << 30 }
            } else {
                Command::DeleteImage { name: name.into() }
            }),
        1 => (prop::sample::select(vec!["gold", "silver"]), 1u64..48, error)
            .prop_map(|(name, generation, error)| Command::ImageOpDone {
                name: name.into(),
                generation,
                size_bytes: 1 << 30,
                error,
            }),
        1 => (one_of(&VOLUMES), one_of(&PARTITIONS), prop::sample::select(vec!["gold", "silver"]))
            .prop_map(|(name, partition, image)| Command::CreateVolume {
                name,
                partition,
                size_bytes: 0,
                image: Some(image.into()),
            }),
    ]
}

/// Failover steps in any order: the state refuses what does not fit.
fn arb_failover_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        2 => one_of(&BLADES).prop_map(|blade| Command::BladeSuspect {
            blade,
            reason: "agent silent".into(),
            silent_ms: 1000,
        }),
        2 => one_of(&BLADES).prop_map(|blade| Command::BladeFenced { blade }),
        1 => one_of(&BLADES).prop_map(|blade| Command::FenceFailed {
            blade,
            reason: "BMC hung".into(),
        }),
        1 => one_of(&BLADES).prop_map(|blade| Command::ConfirmFenced { blade }),
        2 => Just(Command::TakeOver),
        1 => one_of(&BLADES).prop_map(|blade| Command::RepairBlade { blade }),
        1 => one_of(&BLADES).prop_map(|blade| Command::SetMaintenance { blade }),
    ]
}

/// Network commands and servers on networks with data volumes.
fn arb_network_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        2 => (one_of(&NETWORKS), one_of(&PARTITIONS), prop::sample::select(vec![None, Some(1024u32), Some(2048), Some(5)]))
            .prop_map(|(name, partition, network_id)| Command::CreateNetwork { name, partition, network_id }),
        1 => (one_of(&NETWORKS), one_of(&PARTITIONS))
            .prop_map(|(name, partition)| Command::DeleteNetwork { name, partition }),
        2 => (
            one_of(&SERVERS),
            one_of(&PARTITIONS),
            prop::sample::subsequence(NETWORKS.to_vec(), 0..=2),
            prop::sample::subsequence(VOLUMES.to_vec(), 0..=2),
            (0u32..3, any::<bool>()),
        )
            .prop_map(|(name, partition, networks, volumes, (priority, preempt))| Command::CreateServer {
                name,
                partition,
                nics: 0,
                identity_pool: None,
                boot_volume: None,
                requirements: Qualification::default(),
                networks: networks.into_iter().map(str::to_string).collect(),
                volumes: volumes.into_iter().map(str::to_string).collect(),
                priority,
                failover_pool: None,
                preempt,
                failback_window: None,
            }),
    ]
}

/// Commands every random sequence starts with, so references resolve often.
fn setup() -> Vec<Command> {
    vec![partition("p0"), partition("p1"), tiny_pool()]
}

fn envelope(index: u64, command: Command) -> Envelope {
    Envelope {
        principal: format!("principal-{}", index % 3).into(),
        at_ms: 1_700_000_000_000 + 250 * index,
        command: command.into(),
    }
}

/// Applies `commands` to a fresh state and to its twin, checking every step.
fn run_sequence(commands: Vec<Command>) -> Result<(usize, usize), TestCaseError> {
    let mut state = State::default();
    let mut twin = State::default();
    // Applied as a member no caller waits on: no views, the same change.
    let mut unobserved = State::default();
    let (mut accepted, mut refusals) = (0, 0);
    for (i, command) in setup().into_iter().chain(commands).enumerate() {
        let index = i as u64 + 1;
        let envelope = envelope(index, command);
        let before = without_audit(&state);
        let before_index = normalized_index(&state);
        let before_views = views(&state);
        let applied = state.apply(index, &envelope);
        let applied_twin = twin.apply(index, &envelope);
        prop_assert_eq!(&applied.result, &applied_twin.result);
        prop_assert_eq!(&applied.events, &applied_twin.events);
        let (quiet, quiet_events) = unobserved.apply_unobserved(index, &envelope);
        prop_assert_eq!(
            &quiet,
            &applied.result.as_ref().map(drop).map_err(Clone::clone)
        );
        prop_assert_eq!(&quiet_events, &applied.events);

        let record = &state.audit(1)[0];
        prop_assert_eq!(record.index, index);
        prop_assert_eq!(record.at_ms, envelope.at_ms);
        prop_assert_eq!(&*record.principal, &*envelope.principal);
        prop_assert_eq!(&record.command, &envelope.command.to_string());
        match &applied.result {
            Ok(_) => {
                accepted += 1;
                prop_assert_eq!(&record.error, &None);
                prop_assert_eq!(applied.events.len(), 1);
                prop_assert_eq!(applied.events[0].index, index);
                prop_assert_eq!(applied.events[0].at_ms, envelope.at_ms);
                check_quota_growth(&before, &state, &envelope.command)?;
            }
            Err(e) => {
                refusals += 1;
                prop_assert_eq!(&record.error, &Some(e.to_string()));
                prop_assert!(applied.events.is_empty());
                prop_assert_eq!(
                    &without_audit(&state),
                    &before,
                    "refused {} changed the state",
                    &envelope.command
                );
                prop_assert_eq!(&normalized_index(&state), &before_index);
                prop_assert_eq!(&views(&state), &before_views);
            }
        }
        check_invariants(&state)?;
    }
    prop_assert_eq!(&state, &twin);
    prop_assert_eq!(&state, &unobserved);
    let bytes = serde_json::to_vec(&state).unwrap();
    prop_assert_eq!(&bytes, &serde_json::to_vec(&twin).unwrap());

    // And the snapshot restores to the same state with working indexes.
    let mut restored: State = serde_json::from_slice(&bytes).unwrap();
    restored.reindex();
    prop_assert_eq!(&restored, &state);
    prop_assert_eq!(normalized_index(&restored), normalized_index(&state));
    prop_assert_eq!(views(&restored), views(&state));
    Ok((accepted, refusals))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_command_sequences_keep_the_invariants_and_are_deterministic(
        commands in prop::collection::vec(arb_command(), 1..200),
    ) {
        run_sequence(commands)?;
    }

    #[test]
    fn identity_churn_in_small_pools_never_duplicates_or_leaks(
        ops in prop::collection::vec(
            (any::<bool>(), 0usize..8, 1u32..=3, prop::sample::select(vec!["tiny", "small"])),
            1..200,
        ),
    ) {
        let mut commands = vec![identity_pool(
            "small", "02:00:00:00:01:00", "02:00:00:00:01:07", "00000000-0000-0002",
        )];
        for (create, n, nics, pool) in ops {
            let name = format!("s{n}");
            commands.push(if create {
                server_with("p0", &name, nics, Some(pool), None)
            } else {
                delete_server("p0", &name)
            });
        }
        let (accepted, _) = run_sequence(commands)?;
        prop_assert!(accepted >= 4);
    }
}

#[test]
fn random_sequences_do_reach_the_interesting_cases() {
    // Guards the generator: a fixed-seed sample must hit exhaustion, overlaps
    // and in-use refusals, not just NotFound.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let mut seen = BTreeSet::new();
    let mut servers = 0;
    let (mut principals, mut placed) = (0, 0);
    for _ in 0..32 {
        let commands = prop::collection::vec(arb_command(), 150..200)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let mut state = State::default();
        for (i, command) in setup().into_iter().chain(commands).enumerate() {
            if let Err(e) = state
                .apply(i as u64 + 1, &envelope(i as u64 + 1, command))
                .result
            {
                let kind = format!("{e:?}");
                seen.insert(kind.split([' ', '{']).next().unwrap().to_string());
                if e.to_string().contains("quota: limit") {
                    seen.insert("quota".to_string());
                }
            }
        }
        servers = servers.max(state.server_count());
        principals = principals.max(state.principals().len());
        placed = placed.max(state.partitions().iter().map(|p| p.usage.blades).sum());
    }
    for kind in [
        "InvalidArgument",
        "AlreadyExists",
        "NotFound",
        "InUse",
        "IdentityPoolExhausted",
        "MacRangeOverlap",
        "Unqualified",
        "quota",
        "InvalidTransition",
    ] {
        assert!(seen.contains(kind), "{kind} never happened: {seen:?}");
    }
    assert!(servers >= 4, "at most {servers} servers at once");
    assert!(principals >= 2, "at most {principals} principals at once");
    assert!(placed >= 1, "no server was ever placed");
}

#[test]
fn a_password_typed_into_a_bmc_url_never_reaches_the_audit_log_or_errors() {
    let mut state = State::default();
    for url in [
        "https://admin:hunter2pw@10.0.0.1",
        "https://admin:hunter2pw@10.0.0.1/ x",
        "ftp://admin:hunter2pw@10.0.0.1",
    ] {
        let applied = state.apply(
            7,
            &Envelope {
                principal: "ops".into(),
                at_ms: 1,
                command: Command::AddBlade {
                    name: "b1".to_string(),
                    bmc_url: url.to_string(),
                    bmc_user: "admin".to_string(),
                    bmc_password: Secret("s3cret".to_string()),
                    facts: None,
                    pool: None,
                }
                .into(),
            },
        );
        let err = applied
            .result
            .expect_err("credentials in the URL are refused");
        assert!(!err.to_string().contains("hunter2pw"), "{err}");
        assert!(err.to_string().contains("--password-file"), "{err}");
        let audit = &state.audit(1)[0];
        assert!(!audit.command.contains("hunter2pw"), "{audit:?}");
        assert!(audit.command.contains("<redacted>@10.0.0.1"), "{audit:?}");
        assert!(!audit.error.as_deref().unwrap_or("").contains("hunter2pw"));
    }
}

#[test]
fn a_snapshot_copy_serializes_as_the_state_and_lacks_only_the_index() {
    let original = populated();
    let copy = original.snapshot_copy();
    assert_eq!(
        serde_json::to_vec(&copy).unwrap(),
        serde_json::to_vec(&original).unwrap()
    );
    assert!(copy.index.server_names.is_empty() && copy.index.macs.is_empty());
    let mut restored = copy;
    restored.reindex();
    assert_eq!(restored, original);
    assert_eq!(normalized_index(&restored), normalized_index(&original));
}
