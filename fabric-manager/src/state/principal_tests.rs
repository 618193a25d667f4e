//! Principals (create, bootstrap, rotate, revoke, delete, authenticate) and
//! partition quotas in the replicated state.

use super::tests::{
    add_blade, assert_in_use, assert_invalid_argument, assert_not_found, at_ms, check_invariants,
    facts, finish_storage_work, make_volume, next_index, ok, refused, server_view, server_with,
    volume, with_partitions,
};
use super::*;
use partitions::{AuthnError, BearerToken, Principal, Quota, Role, SEED_LEN, TokenSeed, Usage};

const GIB: u64 = 1 << 30;

/// A deterministic token seed; different `n` give different tokens.
fn seed(n: u8) -> TokenSeed {
    let mut bytes = [0u8; SEED_LEN];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(29).wrapping_add(n.wrapping_mul(101)) ^ 0xa5;
    }
    TokenSeed::from_random(bytes)
}

fn new_principal(
    name: &str,
    roles: &[&str],
    n: u8,
    expires_at_ms: Option<u64>,
) -> (Principal, BearerToken) {
    let roles = roles.iter().map(|r| r.parse::<Role>().unwrap()).collect();
    Principal::new(name, roles, &seed(n), 5, expires_at_ms).unwrap()
}

fn create(principal: &Principal) -> Command {
    Command::CreatePrincipal {
        principal: principal.clone(),
    }
}

fn bootstrap(principal: &Principal) -> Command {
    Command::BootstrapPrincipal {
        principal: principal.clone(),
    }
}

fn rotate(name: &str, n: u8, expires_at_ms: Option<u64>) -> (Command, BearerToken) {
    let (token, hash) = partitions::issue(&seed(n), 7).unwrap();
    (
        Command::RotatePrincipal {
            name: name.to_string(),
            token: hash,
            expires_at_ms,
        },
        token,
    )
}

fn revoke(name: &str) -> Command {
    Command::RevokePrincipal {
        name: name.to_string(),
    }
}

fn delete(name: &str) -> Command {
    Command::DeletePrincipal {
        name: name.to_string(),
    }
}

fn set_quota(partition: &str, quota: Quota) -> Command {
    Command::SetQuota {
        partition: partition.to_string(),
        quota,
    }
}

/// Dedicates `pool` to `partition` (its only quota).
pub(super) fn dedicate(partition: &str, pool: &str) -> Command {
    set_quota(
        partition,
        Quota {
            dedicated_pool: Some(pool.to_string()),
            ..Quota::default()
        },
    )
}

fn principal_view(outcome: Outcome) -> PrincipalView {
    match outcome {
        Outcome::Principal(view) => view,
        other => panic!("expected a principal, got {other:?}"),
    }
}

fn partition_view(outcome: Outcome) -> PartitionView {
    match outcome {
        Outcome::Partition(view) => view,
        other => panic!("expected a partition, got {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A state with partition `acme` and the bootstrap admin `root`.
fn bootstrapped() -> (State, BearerToken) {
    let mut state = with_partitions(&["acme"]);
    let (root, token) = new_principal("root", &["fabric-admin"], 1, None);
    ok(&mut state, bootstrap(&root));
    (state, token)
}

#[track_caller]
fn assert_last_admin(err: &StateError, name: &str, what: &str) {
    assert_eq!(
        err,
        &StateError::InvalidTransition {
            object: format!("principal '{name}'"),
            state: "the last usable fabric-admin".to_string(),
            remedy: format!(
                "{what} it would lock every administrator out; create or rotate another \
                 fabric-admin first"
            ),
        }
    );
    assert!(
        err.to_string().starts_with(&format!(
            "principal '{name}' is the last usable fabric-admin; {what} it would lock every \
             administrator out"
        )),
        "{err}"
    );
}

// ------------------------------------------------------------ principals

#[test]
fn created_principal_has_a_view_without_its_hash_and_authenticates() {
    let (mut state, _) = bootstrapped();
    let expires = at_ms(next_index(&state)) + 60_000;
    let (alice, token) = new_principal(
        "alice",
        &["partition-viewer:acme", "partition-admin:acme"],
        2,
        Some(expires),
    );
    let view = principal_view(ok(&mut state, create(&alice)));
    let expected = PrincipalView {
        name: "alice".to_string(),
        roles: vec![
            "partition-admin:acme".to_string(),
            "partition-viewer:acme".to_string(),
        ],
        revoked: false,
        created_at_ms: 5,
        expires_at_ms: Some(expires),
        token_key_id: token.key_id().to_string(),
    };
    assert_eq!(view, expected);
    assert_eq!(state.principal("alice").unwrap(), expected);
    let names: Vec<String> = state.principals().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["alice", "root"]);
    assert!(state.has_principals());
    let found = state
        .authenticate(token.expose_secret(), expires - 1)
        .unwrap();
    assert_eq!(found.name, "alice");
    assert_eq!(found.roles, alice.roles);
    assert_not_found(
        &state.principal("nobody").unwrap_err(),
        "principal 'nobody'",
        "principal list",
    );
    check_invariants(&state).unwrap();
}

#[test]
fn principal_events_are_fabric_wide() {
    let (mut state, _) = bootstrapped();
    let (alice, _) = new_principal("alice", &["operator"], 2, None);
    let index = next_index(&state);
    let applied = state.apply(
        index,
        &Envelope {
            principal: "root".into(),
            at_ms: at_ms(index),
            command: create(&alice).into(),
        },
    );
    assert!(applied.result.is_ok());
    assert_eq!(
        applied.events,
        vec![Event {
            index,
            at_ms: at_ms(index),
            kind: "principal.created".to_string(),
            object: "principal/alice".to_string(),
            partition: None,
        }]
    );
}

#[test]
fn bad_principals_are_refused() {
    let (mut state, root_token) = bootstrapped();
    // Same name.
    let (again, _) = new_principal("root", &["operator"], 2, None);
    let err = refused(&mut state, create(&again));
    assert_eq!(
        err,
        StateError::AlreadyExists {
            object: "principal 'root'".to_string()
        }
    );
    // A role on a partition that does not exist.
    let (ghost, _) = new_principal("bob", &["partition-admin:ghost"], 3, None);
    let err = refused(&mut state, create(&ghost));
    assert_not_found(&err, "partition 'ghost'", "partition list");
    // A key id another principal's token has.
    let (twin, _) = new_principal("carol", &["operator"], 1, None);
    let err = refused(&mut state, create(&twin));
    assert_invalid_argument(
        &err,
        "principal 'carol'",
        "token",
        &format!(
            "its key id {} is already used by another principal's token",
            root_token.key_id()
        ),
    );
    // No roles, a bad name, an expiry in the past.
    let (mut none, _) = new_principal("dave", &["operator"], 4, None);
    none.roles.clear();
    assert_invalid_argument(
        &refused(&mut state, create(&none)),
        "principal 'dave'",
        "roles",
        "give at least one",
    );
    let (mut bad, _) = new_principal("erin", &["operator"], 5, None);
    bad.name = "a/b".to_string();
    assert!(matches!(
        refused(&mut state, create(&bad)),
        StateError::InvalidName { .. }
    ));
    let now = at_ms(next_index(&state));
    let (old, _) = new_principal("frank", &["operator"], 6, Some(now));
    assert_invalid_argument(
        &refused(&mut state, create(&old)),
        "principal 'frank'",
        "expiry",
        "give an expiry in the future or none",
    );
    check_invariants(&state).unwrap();
}

#[test]
fn bootstrap_is_accepted_only_while_no_principal_exists() {
    let mut state = with_partitions(&["acme"]);
    assert!(!state.has_principals());
    // The bootstrap principal must be a usable fabric-admin.
    let (op, _) = new_principal("ops", &["operator"], 2, None);
    assert_invalid_argument(
        &refused(&mut state, bootstrap(&op)),
        "principal 'ops'",
        "roles",
        "must be a fabric-admin",
    );
    let (root, token) = new_principal("root", &["fabric-admin"], 1, None);
    let applied = ok(&mut state, bootstrap(&root));
    assert_eq!(principal_view(applied).roles, ["fabric-admin"]);
    assert!(state.has_principals());

    // Repeating it (another member's first start, a retry) changes nothing.
    for again in [
        root.clone(),
        new_principal("root2", &["fabric-admin"], 3, None).0,
    ] {
        let err = refused(&mut state, bootstrap(&again));
        assert!(
            matches!(err, StateError::InvalidTransition { .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("the fabric is already bootstrapped; principals already exist; "),
            "{err}"
        );
    }
    assert_eq!(state.principals().len(), 1);
    assert_eq!(
        state.authenticate(token.expose_secret(), 0).unwrap().name,
        "root"
    );
    check_invariants(&state).unwrap();
}

#[test]
fn rotation_replaces_the_token_and_lifts_a_revocation() {
    let (mut state, _) = bootstrapped();
    let (alice, old) = new_principal("alice", &["operator"], 2, None);
    ok(&mut state, create(&alice));
    ok(&mut state, revoke("alice"));
    assert!(state.principal("alice").unwrap().revoked);

    let expires = at_ms(next_index(&state)) + 1_000_000;
    let (command, new) = rotate("alice", 3, Some(expires));
    let view = principal_view(ok(&mut state, command));
    assert!(!view.revoked);
    assert_eq!(view.expires_at_ms, Some(expires));
    assert_eq!(view.token_key_id, new.key_id().to_string());
    assert_eq!(view.created_at_ms, 5);

    // The old token is gone: unknown, like any token never issued.
    assert_eq!(
        state.authenticate(old.expose_secret(), 0),
        Err(AuthnError::Unknown {
            key_id: old.key_id()
        })
    );
    assert_eq!(
        state.authenticate(new.expose_secret(), 0).unwrap().name,
        "alice"
    );

    // Rotating onto another principal's key id, into the past, or for a
    // principal that does not exist is refused.
    let (command, _) = rotate("alice", 1, None);
    assert_invalid_argument(
        &refused(&mut state, command),
        "principal 'alice'",
        "token",
        "already used by another principal's token",
    );
    let (command, _) = rotate("alice", 4, Some(1));
    assert_invalid_argument(
        &refused(&mut state, command),
        "principal 'alice'",
        "expiry",
        "in the future",
    );
    let (command, _) = rotate("nobody", 4, None);
    assert_not_found(
        &refused(&mut state, command),
        "principal 'nobody'",
        "principal list",
    );
    check_invariants(&state).unwrap();
}

#[test]
fn revoke_and_delete_keep_a_usable_fabric_admin() {
    let (mut state, root_token) = bootstrapped();
    assert_last_admin(&refused(&mut state, revoke("root")), "root", "revoking");
    assert_last_admin(&refused(&mut state, delete("root")), "root", "deleting");

    // Non-admins come and go freely.
    let (alice, _) = new_principal("alice", &["operator"], 2, None);
    ok(&mut state, create(&alice));
    ok(&mut state, revoke("alice"));
    assert_eq!(ok(&mut state, delete("alice")), Outcome::Deleted);
    assert_not_found(
        &refused(&mut state, delete("alice")),
        "principal 'alice'",
        "principal list",
    );
    assert_not_found(
        &refused(&mut state, revoke("alice")),
        "principal 'alice'",
        "principal list",
    );

    // With a second admin, either may go, but not both.
    let (admin2, _) = new_principal("admin2", &["fabric-admin", "operator"], 3, None);
    ok(&mut state, create(&admin2));
    ok(&mut state, revoke("root"));
    assert_last_admin(&refused(&mut state, delete("admin2")), "admin2", "deleting");
    assert_last_admin(&refused(&mut state, revoke("admin2")), "admin2", "revoking");
    // A revoked admin does not count, and may itself be deleted.
    let (command, new_root) = rotate("root", 4, None);
    ok(&mut state, command);
    ok(&mut state, delete("admin2"));
    assert!(matches!(
        state.authenticate(root_token.expose_secret(), 0),
        Err(AuthnError::Unknown { .. })
    ));
    assert_eq!(
        state
            .authenticate(new_root.expose_secret(), 0)
            .unwrap()
            .name,
        "root"
    );
    check_invariants(&state).unwrap();
}

#[test]
fn an_expired_admin_does_not_count_as_usable() {
    let (mut state, _) = bootstrapped();
    let expires = at_ms(next_index(&state)) + 1;
    let (temp, _) = new_principal("temp", &["fabric-admin"], 2, Some(expires));
    ok(&mut state, create(&temp));
    // `temp` has expired by the next command's time.
    assert_last_admin(&refused(&mut state, revoke("root")), "root", "revoking");
    // An expired admin can be deleted: it locks no one out.
    ok(&mut state, delete("temp"));
}

#[test]
fn authentication_tells_each_failure_apart() {
    let (mut state, root_token) = bootstrapped();
    let (alice, alice_token) = new_principal("alice", &["operator"], 2, Some(50_000));
    ok(&mut state, create(&alice));

    assert_eq!(
        state
            .authenticate(root_token.expose_secret(), 0)
            .unwrap()
            .name,
        "root"
    );
    // Wrong secret: unknown, as for a key id no one has.
    let good = alice_token.expose_secret();
    let wrong = format!("{}{}", &good[..21], "ab".repeat(32));
    assert_eq!(
        state.authenticate(&wrong, 0),
        Err(AuthnError::Unknown {
            key_id: alice_token.key_id()
        })
    );
    let (stranger, _) = partitions::issue(&seed(9), 0).unwrap();
    assert_eq!(
        state.authenticate(stranger.expose_secret(), 0),
        Err(AuthnError::Unknown {
            key_id: stranger.key_id()
        })
    );
    assert_eq!(state.authenticate("", 0), Err(AuthnError::Missing));
    assert!(matches!(
        state.authenticate("pan_nope", 0),
        Err(AuthnError::Malformed { .. })
    ));
    // Expired at and after its instant.
    assert!(state.authenticate(good, 49_999).is_ok());
    assert_eq!(
        state.authenticate(good, 50_000),
        Err(AuthnError::Expired {
            key_id: alice_token.key_id(),
            expired_at_ms: 50_000
        })
    );
    // Revoked: told only to the holder of the right secret.
    ok(&mut state, revoke("alice"));
    assert_eq!(
        state.authenticate(good, 0),
        Err(AuthnError::Revoked {
            key_id: alice_token.key_id()
        })
    );
    assert!(matches!(
        state.authenticate(&wrong, 0),
        Err(AuthnError::Unknown { .. })
    ));
    // Deleted: unknown.
    ok(&mut state, delete("alice"));
    assert!(matches!(
        state.authenticate(good, 0),
        Err(AuthnError::Unknown { .. })
    ));
}

#[test]
fn authentication_survives_a_snapshot_round_trip() {
    let (state, token) = bootstrapped();
    let bytes = serde_json::to_vec(&state).unwrap();
    let mut restored: State = serde_json::from_slice(&bytes).unwrap();
    restored.reindex();
    assert_eq!(restored, state);
    assert_eq!(
        restored
            .authenticate(token.expose_secret(), 0)
            .unwrap()
            .name,
        "root"
    );
}

#[test]
fn audit_events_views_and_errors_never_carry_a_token_hash_or_secret() {
    let mut state = with_partitions(&["acme"]);
    let (root, root_token) = new_principal("root", &["fabric-admin"], 1, None);
    let (alice, alice_token) = new_principal("alice", &["partition-admin:acme"], 2, Some(1 << 50));
    let (rotation, rotated) = rotate("alice", 3, None);
    let Command::RotatePrincipal {
        token: rotated_hash,
        ..
    } = rotation.clone()
    else {
        unreachable!()
    };
    let mut secrets: Vec<String> = Vec::new();
    for (hash, token) in [
        (&root.token, &root_token),
        (&alice.token, &alice_token),
        (&rotated_hash, &rotated),
    ] {
        secrets.push(hex(&hash.digest));
        secrets.push(hex(&hash.salt));
        secrets.push(token.expose_secret()[21..].to_string());
    }
    let mut texts = Vec::new();
    for command in [
        bootstrap(&root),
        bootstrap(&root),
        create(&alice),
        create(&alice),
        rotation.clone(),
        revoke("alice"),
        delete("alice"),
        revoke("root"),
    ] {
        let index = next_index(&state);
        let applied = state.apply(
            index,
            &Envelope {
                principal: "root".into(),
                at_ms: at_ms(index),
                command: command.clone().into(),
            },
        );
        texts.push(format!("{:?}", applied.result));
        texts.push(format!("{:?}", applied.events));
        texts.push(format!("{command:?}"));
    }
    for record in state.audit(100) {
        texts.push(record.command.clone());
        texts.push(record.error.clone().unwrap_or_default());
    }
    texts.push(format!("{:?}", state.principals()));
    for text in &texts {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{text} holds {secret}");
        }
    }
    let audit: Vec<String> = state
        .audit(100)
        .into_iter()
        .rev()
        .map(|r| r.command)
        .collect();
    assert_eq!(
        audit[1..4],
        [
            format!(
                "principal bootstrap root roles=fabric-admin expires_at_ms=never key_id={}",
                root_token.key_id()
            ),
            format!(
                "principal bootstrap root roles=fabric-admin expires_at_ms=never key_id={}",
                root_token.key_id()
            ),
            format!(
                "principal create alice roles=partition-admin:acme expires_at_ms={} key_id={}",
                1u64 << 50,
                alice_token.key_id()
            ),
        ]
    );
    assert_eq!(
        audit[5..],
        [
            format!(
                "principal rotate alice expires_at_ms=never key_id={}",
                rotated.key_id()
            ),
            "principal revoke alice".to_string(),
            "principal delete alice".to_string(),
            "principal revoke root".to_string(),
        ]
    );
}

#[test]
fn a_partition_with_principal_roles_cannot_be_deleted() {
    let (mut state, _) = bootstrapped();
    let (alice, _) = new_principal("alice", &["partition-admin:acme"], 2, None);
    let (bob, _) = new_principal("bob", &["operator", "partition-viewer:acme"], 3, None);
    ok(&mut state, create(&alice));
    ok(&mut state, create(&bob));
    let err = refused(
        &mut state,
        Command::DeletePartition {
            name: "acme".to_string(),
        },
    );
    assert_in_use(
        &err,
        "partition 'acme'",
        "2 principal(s) with roles on it (alice, bob)",
        "delete those principals first (`panctl principal delete`)",
    );
    ok(&mut state, delete("alice"));
    ok(&mut state, delete("bob"));
    ok(
        &mut state,
        Command::DeletePartition {
            name: "acme".to_string(),
        },
    );
    check_invariants(&state).unwrap();
}

// ------------------------------------------------------------ quotas

fn quota_message(
    partition: &str,
    which: &str,
    limit: u64,
    current: u64,
    requested: u64,
    flag: &str,
) -> String {
    format!(
        "partition '{partition}' is at its {which} quota: limit {limit}, in use {current}, \
         requested {requested} more; free some up or ask a fabric admin to raise it with \
         `panctl partition set-quota {partition} {flag} <n>`"
    )
}

#[track_caller]
fn assert_quota(err: &StateError, message: &str) {
    assert_eq!(
        err,
        &StateError::Exhausted {
            detail: message.to_string()
        }
    );
    assert_eq!(err.to_string(), message);
}

fn network(partition: &str, name: &str) -> Command {
    Command::CreateNetwork {
        name: name.to_string(),
        partition: partition.to_string(),
        network_id: None,
    }
}

fn start(partition: &str, name: &str) -> Command {
    Command::StartServer {
        name: name.to_string(),
        partition: partition.to_string(),
        blade: None,
    }
}

#[test]
fn set_quota_shows_in_the_view_with_usage() {
    let mut state = with_partitions(&["acme", "other"]);
    ok(
        &mut state,
        Command::CreatePool {
            name: "gold".to_string(),
            qualification: Qualification::default(),
        },
    );
    let quota = Quota {
        max_servers: Some(3),
        max_volumes: Some(4),
        max_volume_bytes: Some(10 * GIB),
        max_networks: Some(2),
        max_blades: Some(1),
        dedicated_pool: Some("gold".to_string()),
    };
    let view = partition_view(ok(&mut state, set_quota("acme", quota.clone())));
    assert_eq!(view.quota, quota);
    assert_eq!(view.usage, Usage::default());

    make_volume(&mut state, "acme", "boot", 2 * GIB);
    make_volume(&mut state, "acme", "data", GIB);
    ok(&mut state, network("acme", "n0"));
    ok(
        &mut state,
        server_with("acme", "web", 1, None, Some("boot")),
    );
    ok(&mut state, server_with("other", "db", 1, None, None));
    ok(
        &mut state,
        add_blade(
            "b1",
            "https://10.0.0.1",
            Some("gold"),
            Some(facts("X1", 16, 64)),
        ),
    );
    ok(&mut state, start("acme", "web"));
    // A pending resize counts at its target size.
    ok(
        &mut state,
        Command::ResizeVolume {
            name: "data".to_string(),
            partition: "acme".to_string(),
            size_bytes: 3 * GIB,
        },
    );
    let acme = &state.partitions()[0];
    assert_eq!(
        acme.usage,
        Usage {
            servers: 1,
            volumes: 2,
            volume_bytes: 5 * GIB,
            networks: 1,
            blades: 1,
        }
    );
    assert_eq!(acme.quota, quota);
    assert_eq!(state.partitions()[1].usage.servers, 1);
    assert_eq!(state.partitions()[1].quota, Quota::default());
    check_invariants(&state).unwrap();

    // Limits lowered below the usage keep it, and refuse only growth.
    ok(
        &mut state,
        set_quota(
            "acme",
            Quota {
                max_servers: Some(0),
                ..Quota::default()
            },
        ),
    );
    assert_eq!(state.partitions()[0].usage.servers, 1);
    assert_quota(
        &refused(&mut state, server_with("acme", "web2", 1, None, None)),
        &quota_message("acme", "servers", 0, 1, 1, "--max-servers"),
    );
    ok(&mut state, set_quota("acme", Quota::default()));
    ok(&mut state, server_with("acme", "web2", 1, None, None));
}

#[test]
fn bad_quotas_are_refused() {
    let mut state = with_partitions(&["acme"]);
    let err = refused(&mut state, set_quota("ghost", Quota::default()));
    assert_not_found(&err, "partition 'ghost'", "partition list");
    let err = refused(&mut state, dedicate("acme", "../x"));
    assert_invalid_argument(&err, "partition 'acme'", "quota", "invalid pool name");
    let err = refused(&mut state, dedicate("acme", "gold"));
    assert_not_found(&err, "pool 'gold'", "pool list");
}

#[test]
fn each_quota_refuses_growth_past_its_limit_with_what_to_do() {
    let mut state = with_partitions(&["acme"]);
    ok(
        &mut state,
        set_quota(
            "acme",
            Quota {
                max_servers: Some(2),
                max_volumes: Some(2),
                max_volume_bytes: Some(4 * GIB),
                max_networks: Some(1),
                max_blades: Some(1),
                dedicated_pool: None,
            },
        ),
    );
    // Networks.
    ok(&mut state, network("acme", "n0"));
    assert_quota(
        &refused(&mut state, network("acme", "n1")),
        &quota_message("acme", "networks", 1, 1, 1, "--max-networks"),
    );
    // Volume bytes on create, then the count.
    make_volume(&mut state, "acme", "v0", GIB);
    assert_quota(
        &refused(&mut state, volume("acme", "v1", 3 * GIB + 512)),
        &quota_message(
            "acme",
            "volume bytes",
            4 * GIB,
            GIB,
            3 * GIB + 512,
            "--max-volume-bytes",
        ),
    );
    make_volume(&mut state, "acme", "v1", 2 * GIB);
    assert_quota(
        &refused(&mut state, volume("acme", "v2", 512)),
        &quota_message("acme", "volumes", 2, 2, 1, "--max-volumes"),
    );
    // Volume bytes on resize: only the growth is requested.
    let resize = |size_bytes| Command::ResizeVolume {
        name: "v0".to_string(),
        partition: "acme".to_string(),
        size_bytes,
    };
    assert_quota(
        &refused(&mut state, resize(2 * GIB + 512)),
        &quota_message(
            "acme",
            "volume bytes",
            4 * GIB,
            3 * GIB,
            GIB + 512,
            "--max-volume-bytes",
        ),
    );
    ok(&mut state, resize(2 * GIB));
    // The pending resize already counts: the other volume cannot take it.
    let err = refused(
        &mut state,
        Command::ResizeVolume {
            name: "v1".to_string(),
            partition: "acme".to_string(),
            size_bytes: 2 * GIB + 512,
        },
    );
    assert_quota(
        &err,
        &quota_message(
            "acme",
            "volume bytes",
            4 * GIB,
            4 * GIB,
            512,
            "--max-volume-bytes",
        ),
    );
    finish_storage_work(&mut state);
    assert_eq!(state.partitions()[0].usage.volume_bytes, 4 * GIB);
    // Servers.
    ok(&mut state, server_with("acme", "s0", 1, None, None));
    ok(&mut state, server_with("acme", "s1", 1, None, None));
    assert_quota(
        &refused(&mut state, server_with("acme", "s2", 1, None, None)),
        &quota_message("acme", "servers", 2, 2, 1, "--max-servers"),
    );
    // Blades: a second placed server is refused while the first holds one.
    ok(
        &mut state,
        add_blade("b1", "https://10.0.0.1", None, Some(facts("X1", 16, 64))),
    );
    ok(
        &mut state,
        add_blade("b2", "https://10.0.0.2", None, Some(facts("X1", 16, 64))),
    );
    let placed = server_view(ok(&mut state, start("acme", "s0")));
    assert_quota(
        &refused(&mut state, start("acme", "s1")),
        &quota_message("acme", "blades", 1, 1, 1, "--max-blades"),
    );
    assert_eq!(state.partitions()[0].usage.blades, 1);
    ok(
        &mut state,
        Command::ServerStartFailed {
            name: "s0".to_string(),
            partition: "acme".to_string(),
            generation: placed.generation,
            reason: "test".to_string(),
        },
    );
    assert_eq!(state.partitions()[0].usage.blades, 0);
    ok(&mut state, start("acme", "s1"));
    check_invariants(&state).unwrap();

    // Deleting frees: a volume's bytes and count go back.
    ok(
        &mut state,
        Command::DeleteVolume {
            name: "v1".to_string(),
            partition: "acme".to_string(),
        },
    );
    assert_eq!(state.partitions()[0].usage.volume_bytes, 4 * GIB);
    finish_storage_work(&mut state);
    assert_eq!(state.partitions()[0].usage.volume_bytes, 2 * GIB);
    assert_eq!(state.partitions()[0].usage.volumes, 1);
    check_invariants(&state).unwrap();
}

#[test]
fn quotas_of_one_partition_do_not_limit_another() {
    let mut state = with_partitions(&["acme", "other"]);
    ok(
        &mut state,
        set_quota(
            "acme",
            Quota {
                max_servers: Some(0),
                max_networks: Some(0),
                ..Quota::default()
            },
        ),
    );
    ok(&mut state, server_with("other", "s0", 1, None, None));
    ok(&mut state, network("other", "n0"));
    assert_eq!(
        Command::SetQuota {
            partition: "acme".into(),
            quota: Quota {
                max_servers: Some(0),
                ..Quota::default()
            }
        }
        .to_string(),
        "partition set-quota acme max_servers=0 max_volumes=- max_volume_bytes=- max_networks=- max_blades=- dedicated_pool=-"
    );
}

/// Where `partition/name` was placed.
fn placed_on(state: &State, partition: &str, name: &str) -> Option<String> {
    state
        .servers(Some(partition))
        .expect("partition exists")
        .into_iter()
        .find(|s| s.name == name)
        .and_then(|s| s.blade)
}

#[test]
fn a_dedicated_pool_runs_only_its_partitions_servers_and_they_run_only_there() {
    let mut state = with_partitions(&["acme", "other"]);
    for pool in ["gold", "spare"] {
        ok(
            &mut state,
            Command::CreatePool {
                name: pool.to_string(),
                qualification: Qualification::default(),
            },
        );
    }
    // The shared blades are smaller: best fit would pick them first.
    for (name, pool, cores) in [
        ("g1", Some("gold"), 32),
        ("g2", Some("gold"), 32),
        ("s1", None, 8),
        ("s2", None, 8),
    ] {
        ok(
            &mut state,
            add_blade(
                name,
                &format!("https://{name}.bmc"),
                pool,
                Some(facts("X1", cores, 64)),
            ),
        );
    }
    ok(&mut state, dedicate("acme", "gold"));
    for (p, name) in [
        ("acme", "web"),
        ("acme", "web2"),
        ("acme", "web3"),
        ("other", "db"),
        ("other", "db2"),
        ("other", "db3"),
    ] {
        ok(&mut state, server_with(p, name, 1, None, None));
    }

    ok(&mut state, start("acme", "web"));
    ok(&mut state, start("other", "db"));
    ok(&mut state, start("other", "db2"));
    assert_eq!(placed_on(&state, "acme", "web").as_deref(), Some("g1"));
    assert_eq!(placed_on(&state, "other", "db").as_deref(), Some("s1"));
    assert_eq!(placed_on(&state, "other", "db2").as_deref(), Some("s2"));

    // The shared blades are full; gold's free blade is not for others, and
    // the refusal does not say whose it is.
    let err = refused(&mut state, start("other", "db3")).to_string();
    assert!(
        err.contains("g2: its pool 'gold' is dedicated to another partition"),
        "{err}"
    );
    assert!(!err.contains("acme"), "{err}");

    // Asked for a blade outside its pool, acme is refused too.
    let err = refused(
        &mut state,
        Command::StartServer {
            name: "web2".to_string(),
            partition: "acme".to_string(),
            blade: Some("s1".to_string()),
        },
    )
    .to_string();
    assert!(err.contains("s1"), "{err}");
    ok(&mut state, start("acme", "web2"));
    assert_eq!(placed_on(&state, "acme", "web2").as_deref(), Some("g2"));
    // A free shared blade is still not acme's.
    ok(
        &mut state,
        add_blade("s3", "https://s3.bmc", None, Some(facts("X1", 8, 64))),
    );
    let err = refused(&mut state, start("acme", "web3")).to_string();
    assert!(
        err.contains("not in partition 'acme''s dedicated pool 'gold'"),
        "{err}"
    );

    // One pool, one partition; a dedicated pool cannot be deleted.
    let err = refused(&mut state, dedicate("other", "gold")).to_string();
    assert!(err.contains("dedicated to partition 'acme'"), "{err}");
    ok(&mut state, dedicate("acme", "spare"));
    let err = refused(
        &mut state,
        Command::DeletePool {
            name: "spare".to_string(),
        },
    )
    .to_string();
    assert!(err.contains("partition 'acme''s dedicated pool"), "{err}");
    check_invariants(&state).unwrap();
}
