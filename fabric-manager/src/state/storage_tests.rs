//! Images, volume operations and networks in the state machine: the two-step
//! storage work (intent, then the executor's report), its refusals, and the
//! network ids that keep partitions apart.

use super::tests::{
    assert_in_use, assert_invalid_argument, assert_not_found, finish_storage_work, make_volume,
    normalized_index, ok, partition, refused, server_view, with_partitions,
};
use super::*;

fn rebuilt(state: &State) -> tests::NormIndex {
    let mut copy = state.clone();
    copy.reindex();
    normalized_index(&copy)
}

#[track_caller]
fn index_consistent(state: &State) {
    assert_eq!(normalized_index(state), rebuilt(state));
}

fn add_image(name: &str, size_bytes: u64) -> Command {
    Command::AddImage {
        name: name.into(),
        source_path: None,
        size_bytes,
    }
}

fn clone_volume(partition: &str, name: &str, image: &str, size_bytes: u64) -> Command {
    Command::CreateVolume {
        name: name.into(),
        partition: partition.into(),
        size_bytes,
        image: Some(image.into()),
    }
}

fn volume_view(outcome: Outcome) -> VolumeView {
    match outcome {
        Outcome::Volume(v) => v,
        other => panic!("expected a volume, got {other:?}"),
    }
}

/// The pending work of one volume: (generation, op).
fn pending(state: &State, name: &str) -> (u64, VolumeOp) {
    state
        .pending_storage_work()
        .into_iter()
        .find_map(|w| match w {
            StorageWork::Volume {
                name: n,
                generation,
                op,
                ..
            } if n == name => Some((generation, op)),
            _ => None,
        })
        .expect("pending work")
}

fn done(partition: &str, name: &str, generation: u64, error: Option<&str>) -> Command {
    Command::VolumeOpDone {
        name: name.into(),
        partition: partition.into(),
        generation,
        size_bytes: 1 << 30,
        error: error.map(str::to_string),
    }
}

fn network(partition: &str, name: &str, id: Option<u32>) -> Command {
    Command::CreateNetwork {
        name: name.into(),
        partition: partition.into(),
        network_id: id,
    }
}

fn server_on(partition: &str, name: &str, networks: &[&str], volumes: &[&str]) -> Command {
    Command::CreateServer {
        name: name.into(),
        partition: partition.into(),
        nics: 0,
        identity_pool: None,
        boot_volume: None,
        requirements: Qualification::default(),
        networks: networks.iter().map(|n| n.to_string()).collect(),
        volumes: volumes.iter().map(|v| v.to_string()).collect(),
        priority: 0,
        failover_pool: None,
        preempt: false,
        failback_window: None,
    }
}

#[test]
fn an_image_is_ready_after_its_report_and_a_failed_add_leaves_nothing() {
    let mut state = State::default();
    let Outcome::Image(view) = ok(&mut state, add_image("debian", 1 << 30)) else {
        panic!("an image");
    };
    assert_eq!(view.state, "creating");
    index_consistent(&state);
    let [StorageWork::Image { generation, .. }] = state.pending_storage_work()[..] else {
        panic!("one image work item");
    };
    ok(
        &mut state,
        Command::ImageOpDone {
            name: "debian".into(),
            generation,
            size_bytes: 2 << 30,
            error: None,
        },
    );
    let image = state.image("debian").unwrap();
    assert_eq!((image.state.as_str(), image.size_bytes), ("ready", 2 << 30));
    assert!(state.pending_storage_work().is_empty());

    // A failed add: the record goes, the reason stays for the caller.
    let Outcome::Image(bad) = ok(&mut state, add_image("broken", 1 << 20)) else {
        panic!("an image");
    };
    let [StorageWork::Image { generation, .. }] = state.pending_storage_work()[..] else {
        panic!("one image work item");
    };
    ok(
        &mut state,
        Command::ImageOpDone {
            name: "broken".into(),
            generation,
            size_bytes: 0,
            error: Some("qemu-img: no space".into()),
        },
    );
    assert_not_found(
        &state.image("broken").unwrap_err(),
        "image 'broken'",
        "image list",
    );
    assert_eq!(state.create_failure(bad.id), Some("qemu-img: no space"));
    index_consistent(&state);

    // A stale report changes nothing.
    let err = refused(
        &mut state,
        Command::ImageOpDone {
            name: "debian".into(),
            generation,
            size_bytes: 0,
            error: None,
        },
    );
    assert!(err.to_string().contains("stale"), "{err}");
}

#[test]
fn images_are_checked_before_anything_is_recorded() {
    let mut state = State::default();
    let err = refused(
        &mut state,
        Command::AddImage {
            name: "rel".into(),
            source_path: Some("images/debian.qcow2".into()),
            size_bytes: 0,
        },
    );
    assert_invalid_argument(&err, "image 'rel'", "source file", "not an absolute path");
    let err = refused(&mut state, add_image("odd", 1000));
    assert_invalid_argument(&err, "image 'odd'", "size", "not a multiple of 512");
    refused(&mut state, add_image("bad/name", 1 << 20));
    ok(&mut state, add_image("debian", 1 << 30));
    let err = refused(&mut state, add_image("debian", 1 << 30));
    assert!(matches!(err, StateError::AlreadyExists { .. }), "{err}");
}

#[test]
fn clones_take_the_image_size_and_pin_the_image() {
    let mut state = with_partitions(&["acme"]);
    ok(&mut state, add_image("debian", 1 << 30));
    // Not ready yet: no clone.
    let err = refused(&mut state, clone_volume("acme", "v1", "debian", 0));
    assert!(err.to_string().contains("wait until it is ready"), "{err}");
    finish_storage_work(&mut state);
    let err = refused(&mut state, clone_volume("acme", "v1", "nope", 0));
    assert_not_found(&err, "image 'nope'", "image list");
    let image_size = state.image("debian").unwrap().size_bytes;
    let err = refused(&mut state, clone_volume("acme", "v1", "debian", 512));
    assert_invalid_argument(
        &err,
        "volume 'v1' in partition 'acme'",
        "size",
        "smaller than image 'debian'",
    );
    let v = volume_view(ok(&mut state, clone_volume("acme", "v1", "debian", 0)));
    assert_eq!(
        (v.size_bytes, v.image.as_deref()),
        (image_size, Some("debian"))
    );
    assert_eq!(v.state, "creating");
    let err = refused(
        &mut state,
        Command::DeleteImage {
            name: "debian".into(),
        },
    );
    assert_in_use(
        &err,
        "image 'debian'",
        "1 volume(s) cloned from it (acme/v1)",
        "delete those volumes first; a thin clone reads its image",
    );
    index_consistent(&state);
}

#[test]
fn a_failed_create_removes_the_record_and_keeps_the_reason() {
    let mut state = with_partitions(&["acme"]);
    let v = volume_view(ok(&mut state, tests::volume("acme", "v1", 1 << 30)));
    let (generation, op) = pending(&state, "v1");
    assert_eq!(op, VolumeOp::Create);
    ok(
        &mut state,
        done("acme", "v1", generation, Some("disk full")),
    );
    assert!(state.volumes(None).unwrap().is_empty());
    assert_eq!(state.create_failure(v.id), Some("disk full"));
    assert_eq!(state.partitions()[0].volumes, 0);
    index_consistent(&state);
    // The name is free again.
    ok(&mut state, tests::volume("acme", "v1", 1 << 30));
}

#[test]
fn one_operation_at_a_time_and_stale_reports_are_refused() {
    let mut state = with_partitions(&["acme"]);
    make_volume(&mut state, "acme", "v1", 1 << 30);
    let resize = |size| Command::ResizeVolume {
        name: "v1".into(),
        partition: "acme".into(),
        size_bytes: size,
    };
    let err = refused(&mut state, resize(1 << 29));
    assert_invalid_argument(
        &err,
        "volume 'v1' in partition 'acme'",
        "size",
        "volumes only grow",
    );
    ok(&mut state, resize(2 << 30));
    let (generation, _) = pending(&state, "v1");
    let err = refused(
        &mut state,
        Command::SnapshotVolume {
            name: "v1".into(),
            partition: "acme".into(),
            snapshot: "s1".into(),
        },
    );
    assert!(err.to_string().contains("is resizing"), "{err}");
    refused(&mut state, done("acme", "v1", generation - 1, None));
    ok(&mut state, done("acme", "v1", generation, None));
    assert_eq!(state.volume("acme", "v1").unwrap().state, "ready");
}

#[test]
fn snapshots_restore_and_delete_by_name() {
    let mut state = with_partitions(&["acme"]);
    make_volume(&mut state, "acme", "v1", 1 << 30);
    let snap = |s: &str| Command::SnapshotVolume {
        name: "v1".into(),
        partition: "acme".into(),
        snapshot: s.into(),
    };
    ok(&mut state, snap("before"));
    finish_storage_work(&mut state);
    let v = state.volume("acme", "v1").unwrap();
    assert_eq!(v.snapshots.len(), 1);
    assert_eq!(v.snapshots[0].name, "before");
    let err = refused(&mut state, snap("before"));
    assert!(matches!(err, StateError::AlreadyExists { .. }), "{err}");
    let err = refused(
        &mut state,
        Command::RestoreVolume {
            name: "v1".into(),
            partition: "acme".into(),
            snapshot: "after".into(),
        },
    );
    assert_not_found(
        &err,
        "snapshot 'after' of volume 'v1' in partition 'acme'",
        "volume show v1 --partition acme",
    );
    ok(
        &mut state,
        Command::RestoreVolume {
            name: "v1".into(),
            partition: "acme".into(),
            snapshot: "before".into(),
        },
    );
    let (generation, _) = pending(&state, "v1");
    // A failed restore keeps the volume as it was, with the reason.
    ok(
        &mut state,
        done("acme", "v1", generation, Some("qemu-img: locked")),
    );
    let v = state.volume("acme", "v1").unwrap();
    assert_eq!(v.state, "ready");
    assert!(v.last_error.as_deref().unwrap().contains("locked"));
    ok(
        &mut state,
        Command::DeleteSnapshot {
            name: "v1".into(),
            partition: "acme".into(),
            snapshot: "before".into(),
        },
    );
    finish_storage_work(&mut state);
    let v = state.volume("acme", "v1").unwrap();
    assert!(v.snapshots.is_empty());
    assert_eq!(v.last_error, None);
}

#[test]
fn attached_volumes_cannot_be_deleted_and_placed_ones_not_restored() {
    let mut state = with_partitions(&["acme"]);
    make_volume(&mut state, "acme", "data", 1 << 30);
    ok(&mut state, server_on("acme", "web-1", &[], &["data"]));
    let err = refused(
        &mut state,
        Command::DeleteVolume {
            name: "data".into(),
            partition: "acme".into(),
        },
    );
    assert_in_use(
        &err,
        "volume 'data' in partition 'acme'",
        "server acme/web-1 (data volume; the server is defined)",
        "delete the server first; a volume is deleted only when nothing is attached to it",
    );
    // A second server cannot take it.
    let err = refused(&mut state, server_on("acme", "web-2", &[], &["data"]));
    assert!(matches!(err, StateError::InUse { .. }), "{err}");
    // Not placed: a snapshot is fine.
    ok(
        &mut state,
        Command::SnapshotVolume {
            name: "data".into(),
            partition: "acme".into(),
            snapshot: "s".into(),
        },
    );
    index_consistent(&state);
}

#[test]
fn partitions_get_disjoint_network_id_ranges() {
    let mut state = State::default();
    ok(&mut state, partition("acme"));
    ok(&mut state, partition("globex"));
    let ranges: Vec<_> = state.partitions().iter().map(|p| p.network_ids).collect();
    assert_eq!(ranges, [Some((1024, 2047)), Some((2048, 3071))]);
    let with_range = |name: &str, ids: &str| Command::CreatePartition {
        name: name.into(),
        description: String::new(),
        network_ids: Some(ids.into()),
    };
    let err = refused(&mut state, with_range("initech", "2000-2100"));
    assert_invalid_argument(&err, "partition 'initech'", "network ids", "overlaps");
    for bad in ["10-", "x-y", "5-1", "0-10", "1-16777216"] {
        refused(&mut state, with_range("initech", bad));
    }
    ok(&mut state, with_range("initech", "100-101"));
    // The next default block skips what is taken.
    ok(&mut state, partition("umbrella"));
    assert_eq!(state.partitions()[3].network_ids, Some((3072, 4095)));
}

#[test]
fn networks_take_ids_from_their_partition_and_are_exhausted_clearly() {
    let mut state = State::default();
    ok(
        &mut state,
        Command::CreatePartition {
            name: "small".into(),
            description: String::new(),
            network_ids: Some("100-101".into()),
        },
    );
    ok(&mut state, partition("acme"));
    let Outcome::Network(n) = ok(&mut state, network("small", "a", None)) else {
        panic!("a network");
    };
    assert_eq!(n.network_id, 100);
    let err = refused(&mut state, network("small", "b", Some(102)));
    assert_invalid_argument(
        &err,
        "network 'b' in partition 'small'",
        "network id",
        "outside partition 'small''s range 100-101",
    );
    let err = refused(&mut state, network("small", "b", Some(100)));
    assert_invalid_argument(
        &err,
        "network 'b' in partition 'small'",
        "network id",
        "already used by network 'a'",
    );
    ok(&mut state, network("small", "b", None));
    let err = refused(&mut state, network("small", "c", None));
    assert!(matches!(err, StateError::Exhausted { .. }), "{err}");
    assert!(err.to_string().contains("used all 2 network ids"), "{err}");
    // Another partition's range is its own.
    let Outcome::Network(n) = ok(&mut state, network("acme", "a", None)) else {
        panic!("a network");
    };
    assert_eq!(n.network_id, 1024);
    index_consistent(&state);
}

#[test]
fn servers_get_one_vnic_per_network_of_their_own_partition_only() {
    let mut state = with_partitions(&["acme", "globex"]);
    ok(&mut state, network("acme", "front", None));
    ok(&mut state, network("acme", "back", None));
    ok(&mut state, network("globex", "secret", None));
    let web = server_view(ok(
        &mut state,
        server_on("acme", "web", &["front", "back"], &[]),
    ));
    let nics: Vec<_> = web
        .nics
        .iter()
        .map(|n| (n.network.as_deref(), n.network_id))
        .collect();
    assert_eq!(
        nics,
        [(Some("front"), Some(1024)), (Some("back"), Some(1025))]
    );
    // Another partition's network is not there for acme (and says nothing
    // of globex).
    let err = refused(&mut state, server_on("acme", "spy", &["secret"], &[]));
    assert_not_found(
        &err,
        "network 'secret' in partition 'acme'",
        "network list --partition acme",
    );
    let err = refused(
        &mut state,
        server_on("acme", "dup", &["front", "front"], &[]),
    );
    assert!(err.to_string().contains("given twice"), "{err}");
    let mut too_few = server_on("acme", "few", &["front", "back"], &[]);
    if let Command::CreateServer { nics, .. } = &mut too_few {
        *nics = 1;
    }
    let err = refused(&mut state, too_few);
    assert!(err.to_string().contains("cannot carry 2 networks"), "{err}");
    // In use: no delete; the partition keeps it.
    let err = refused(
        &mut state,
        Command::DeleteNetwork {
            name: "front".into(),
            partition: "acme".into(),
        },
    );
    assert_in_use(
        &err,
        "network 'front' in partition 'acme'",
        "1 server(s) (acme/web)",
        "delete those servers first",
    );
    assert_eq!(
        state.networks(Some("acme")).unwrap()[0].servers,
        ["acme/web"]
    );
    ok(&mut state, tests::delete_server("acme", "web"));
    ok(
        &mut state,
        Command::DeleteNetwork {
            name: "front".into(),
            partition: "acme".into(),
        },
    );
    index_consistent(&state);
    // The freed id is taken again first.
    let Outcome::Network(n) = ok(&mut state, network("acme", "front2", None)) else {
        panic!("a network");
    };
    assert_eq!(n.network_id, 1024);
}

#[test]
fn a_server_starts_only_once_its_volumes_are_ready() {
    let mut state = with_partitions(&["acme"]);
    ok(&mut state, tests::volume("acme", "boot", 1 << 30));
    ok(
        &mut state,
        tests::server_with("acme", "web", 1, None, Some("boot")),
    );
    ok(
        &mut state,
        tests::add_blade(
            "b1",
            "https://10.0.0.1",
            None,
            Some(tests::facts("X1", 8, 32)),
        ),
    );
    let err = refused(
        &mut state,
        Command::StartServer {
            name: "web".into(),
            partition: "acme".into(),
            blade: None,
        },
    );
    assert!(
        err.to_string()
            .contains("is creating; wait until it is ready"),
        "{err}"
    );
    finish_storage_work(&mut state);
    ok(
        &mut state,
        Command::StartServer {
            name: "web".into(),
            partition: "acme".into(),
            blade: None,
        },
    );
    let work = state.pending_server_work();
    assert_eq!(work[0].volumes.len(), 1);
    assert_eq!(work[0].volumes[0].name, "boot");
}
