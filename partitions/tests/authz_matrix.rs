//! The authorization matrix, spelled out for review: every [`Action`] ×
//! every role × every kind of target, with the expected decision.
//!
//! Actions are grouped into classes listed explicitly below; the test fails if
//! an action is in no class or in two, so a new RPC must be placed in the
//! matrix before it can pass. The caller is a principal of partition `acme`
//! (for the partition roles); "other" is partition `globex`.
//!
//! Pure tests over values: no I/O.

use partitions::{Action, Decision, Principal, Role, Target, TokenSeed, authorize, visible};

/// Expected decision: Allow, permission Denied, Not found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum E {
    A,
    D,
    N,
}
use E::{A, D, N};

/// What the request touches, relative to the caller's partition `acme`.
#[derive(Clone, Copy, Debug)]
enum T {
    /// An object in `acme`, or `acme` itself.
    Own,
    /// An object in `globex`, or `globex` itself.
    Other,
    /// A fabric-wide object.
    Fabric,
    /// A listing across partitions (filtered with `visible`).
    Listing,
}

const ROLES: [&str; 4] = [
    "fabric-admin",
    "operator",
    "partition-admin:acme",
    "partition-viewer:acme",
];

/// The action classes. Each action is in exactly one.
const CLASSES: &[(&str, &[Action])] = &[
    (
        "cluster-read",
        &[Action::ClusterStatus, Action::ListPrincipals],
    ),
    (
        "membership",
        &[
            Action::AddMember,
            Action::RemoveMember,
            Action::CreatePrincipal,
            Action::RevokePrincipal,
            Action::RotatePrincipal,
            Action::DeletePrincipal,
        ],
    ),
    (
        "partition-lifecycle",
        &[
            Action::CreatePartition,
            Action::DeletePartition,
            Action::SetQuota,
        ],
    ),
    ("partition-read", &[Action::ListPartitions]),
    (
        "hardware-read",
        &[
            Action::ListPools,
            Action::ListIdentityPools,
            Action::ListBlades,
            Action::GetBlade,
        ],
    ),
    (
        "hardware-write",
        &[
            Action::CreatePool,
            Action::DeletePool,
            Action::CreateIdentityPool,
            Action::DeleteIdentityPool,
            Action::AddBlade,
            Action::RemoveBlade,
            Action::DiscoverBlades,
            Action::BladePower,
            Action::AddImage,
            Action::DeleteImage,
            Action::ConfirmFenced,
            Action::RepairBlade,
            Action::DrainBlade,
        ],
    ),
    (
        "workload-read",
        &[
            Action::ListServers,
            Action::GetServer,
            Action::ListVolumes,
            Action::GetVolume,
            Action::ListNetworks,
        ],
    ),
    (
        "workload-write",
        &[
            Action::CreateServer,
            Action::DeleteServer,
            Action::StartServer,
            Action::StopServer,
            Action::CreateVolume,
            Action::DeleteVolume,
            Action::ResizeVolume,
            Action::SnapshotVolume,
            Action::RestoreVolume,
            Action::DeleteSnapshot,
            Action::CreateNetwork,
            Action::DeleteNetwork,
            Action::MoveServer,
        ],
    ),
    (
        "observe",
        &[
            Action::ListAudit,
            Action::WatchEvents,
            Action::WhoAmI,
            Action::ListFailovers,
            Action::Coverage,
            Action::ListImages,
        ],
    ),
];

/// The matrix. Columns: fabric-admin, operator, partition-admin:acme,
/// partition-viewer:acme.
#[rustfmt::skip]
const MATRIX: &[(&str, T, [E; 4])] = &[
    // class                  target     FA  OP  PA  PV
    ("cluster-read",          T::Own,     [A,  A,  D,  D]),
    ("cluster-read",          T::Other,   [A,  A,  N,  N]),
    ("cluster-read",          T::Fabric,  [A,  A,  D,  D]),
    ("cluster-read",          T::Listing, [A,  A,  D,  D]),

    ("membership",            T::Own,     [A,  D,  D,  D]),
    ("membership",            T::Other,   [A,  D,  N,  N]),
    ("membership",            T::Fabric,  [A,  D,  D,  D]),
    ("membership",            T::Listing, [A,  D,  D,  D]),

    ("partition-lifecycle",   T::Own,     [A,  D,  D,  D]),
    ("partition-lifecycle",   T::Other,   [A,  D,  N,  N]),
    ("partition-lifecycle",   T::Fabric,  [A,  D,  D,  D]),
    ("partition-lifecycle",   T::Listing, [A,  D,  D,  D]),

    ("partition-read",        T::Own,     [A,  A,  A,  A]),
    ("partition-read",        T::Other,   [A,  A,  N,  N]),
    ("partition-read",        T::Fabric,  [A,  A,  D,  D]),
    ("partition-read",        T::Listing, [A,  A,  A,  A]),

    ("hardware-read",         T::Own,     [A,  A,  D,  D]),
    ("hardware-read",         T::Other,   [A,  A,  N,  N]),
    ("hardware-read",         T::Fabric,  [A,  A,  D,  D]),
    ("hardware-read",         T::Listing, [A,  A,  D,  D]),

    ("hardware-write",        T::Own,     [A,  A,  D,  D]),
    ("hardware-write",        T::Other,   [A,  A,  N,  N]),
    ("hardware-write",        T::Fabric,  [A,  A,  D,  D]),
    ("hardware-write",        T::Listing, [A,  A,  D,  D]),

    ("workload-read",         T::Own,     [A,  A,  A,  A]),
    ("workload-read",         T::Other,   [A,  A,  N,  N]),
    ("workload-read",         T::Fabric,  [A,  A,  D,  D]),
    ("workload-read",         T::Listing, [A,  A,  A,  A]),

    ("workload-write",        T::Own,     [A,  D,  A,  D]),
    ("workload-write",        T::Other,   [A,  D,  N,  N]),
    ("workload-write",        T::Fabric,  [A,  D,  D,  D]),
    ("workload-write",        T::Listing, [A,  D,  D,  D]),

    ("observe",               T::Own,     [A,  A,  A,  A]),
    ("observe",               T::Other,   [A,  A,  N,  N]),
    ("observe",               T::Fabric,  [A,  A,  D,  D]),
    ("observe",               T::Listing, [A,  A,  A,  A]),
];

fn principal(role: &str) -> Principal {
    let mut bytes = [0u8; partitions::SEED_LEN];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = i as u8;
    }
    let role: Role = role.parse().unwrap();
    Principal::new(
        "caller",
        vec![role],
        &TokenSeed::from_random(bytes),
        0,
        None,
    )
    .unwrap()
    .0
}

fn target(t: T) -> Target<'static> {
    match t {
        T::Own => Target::Partition("acme"),
        T::Other => Target::Partition("globex"),
        T::Fabric => Target::Fabric,
        T::Listing => Target::Partitions,
    }
}

fn class_of(action: Action) -> Vec<&'static str> {
    CLASSES
        .iter()
        .filter(|(_, actions)| actions.contains(&action))
        .map(|(class, _)| *class)
        .collect()
}

#[test]
fn every_action_is_in_exactly_one_class() {
    for action in Action::ALL {
        assert_eq!(
            class_of(*action).len(),
            1,
            "{action:?} is in classes {:?}; put it in exactly one",
            class_of(*action)
        );
    }
}

#[test]
fn every_class_has_a_row_per_target() {
    for (class, _) in CLASSES {
        let targets: Vec<String> = MATRIX
            .iter()
            .filter(|(c, _, _)| c == class)
            .map(|(_, t, _)| format!("{t:?}"))
            .collect();
        assert_eq!(targets, ["Own", "Other", "Fabric", "Listing"], "{class}");
    }
    for (class, _, _) in MATRIX {
        assert!(
            CLASSES.iter().any(|(c, _)| c == class),
            "unknown class {class}"
        );
    }
}

#[test]
fn every_action_role_and_target_decides_as_the_matrix_says() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for action in Action::ALL {
        let class = class_of(*action)[0];
        for (_, t, expected) in MATRIX.iter().filter(|(c, _, _)| *c == class) {
            for (role, want) in ROLES.iter().zip(expected) {
                let got = authorize(&principal(role), *action, target(*t));
                let got_e = match &got {
                    Decision::Allow => A,
                    Decision::DenyPermission { reason } => {
                        assert!(!reason.is_empty());
                        D
                    }
                    Decision::DenyNotFound => N,
                };
                checked += 1;
                if got_e != *want {
                    failures.push(format!(
                        "{} as {role} on {t:?}: want {want:?}, got {got:?}",
                        action.rpc_name()
                    ));
                }
            }
        }
    }
    assert_eq!(checked, Action::ALL.len() * ROLES.len() * 4);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A tenant's answer for another partition never depends on the action, so
/// it cannot tell a partition that exists from one that does not.
#[test]
fn tenants_learn_nothing_about_other_partitions() {
    for role in ["partition-admin:acme", "partition-viewer:acme"] {
        let p = principal(role);
        for action in Action::ALL {
            for other in ["globex", "initech", "", "ACME", "acme2"] {
                assert_eq!(
                    authorize(&p, *action, Target::Partition(other)),
                    Decision::DenyNotFound,
                    "{role} {action:?} {other}"
                );
            }
        }
        assert!(visible(&p, Some("acme")));
        assert!(!visible(&p, Some("globex")));
        assert!(!visible(&p, None));
    }
}

/// Permission-denied reasons say which RPC was refused, and a tenant's never
/// name another partition (operators may see every partition's name).
#[test]
fn denial_reasons_name_only_the_callers_partition() {
    for role in ROLES {
        let p = principal(role);
        for action in Action::ALL {
            for t in [T::Own, T::Other, T::Fabric, T::Listing] {
                if let Decision::DenyPermission { reason } = authorize(&p, *action, target(t)) {
                    if role.starts_with("partition-") {
                        assert!(!reason.contains("globex"), "{role} {action:?}: {reason}");
                    }
                    assert!(reason.contains(action.rpc_name()), "{reason}");
                }
            }
        }
    }
}

/// `visible` agrees with reading the item directly.
#[test]
fn visibility_agrees_with_authorize() {
    for role in ROLES {
        let p = principal(role);
        for item in [Some("acme"), Some("globex")] {
            let read = authorize(&p, Action::GetServer, Target::Partition(item.unwrap()));
            assert_eq!(visible(&p, item), read.is_allowed(), "{role} {item:?}");
        }
        let read = authorize(&p, Action::GetBlade, Target::Fabric);
        assert_eq!(visible(&p, None), read.is_allowed(), "{role} fabric");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn role() -> impl Strategy<Value = Role> {
        let partition = prop_oneof![Just("acme"), Just("globex"), Just("initech")];
        prop_oneof![
            1 => Just(Role::FabricAdmin),
            1 => Just(Role::Operator),
            3 => partition.clone().prop_map(|p| Role::PartitionAdmin(p.to_string())),
            3 => partition.prop_map(|p| Role::PartitionViewer(p.to_string())),
        ]
    }

    fn with_roles(roles: Vec<Role>) -> Principal {
        let mut p = principal("operator");
        p.roles = roles;
        p
    }

    proptest! {
        /// Whatever the roles: a partition the principal holds no role in
        /// (and no fabric role) is not found, for every action.
        #[test]
        fn unscoped_partitions_are_not_found(
            roles in proptest::collection::vec(role(), 0..4),
            target in "[a-z]{0,8}",
        ) {
            let p = with_roles(roles.clone());
            let scoped = roles.iter().any(|r| r.partition().is_none_or(|own| own == target));
            for action in Action::ALL {
                let d = authorize(&p, *action, Target::Partition(&target));
                if !scoped {
                    prop_assert_eq!(d, Decision::DenyNotFound);
                } else {
                    prop_assert_ne!(d, Decision::DenyNotFound);
                }
            }
        }

        /// Lists show exactly the items a direct read would allow.
        #[test]
        fn visible_agrees_with_a_direct_read(
            roles in proptest::collection::vec(role(), 0..4),
            item in proptest::option::of("[a-z]{1,8}"),
        ) {
            let p = with_roles(roles);
            let direct = match &item {
                Some(part) => authorize(&p, Action::GetServer, Target::Partition(part)),
                None => authorize(&p, Action::GetBlade, Target::Fabric),
            };
            prop_assert_eq!(visible(&p, item.as_deref()), direct.is_allowed());
        }

        /// A role never lowers what another role grants.
        #[test]
        fn adding_a_role_never_takes_a_permission_away(
            roles in proptest::collection::vec(role(), 1..3),
            extra in role(),
            target in prop_oneof![Just("acme"), Just("globex"), Just("zeta")],
        ) {
            let before = with_roles(roles.clone());
            let after = with_roles([roles, vec![extra]].concat());
            for action in Action::ALL {
                for t in [Target::Partition(target), Target::Fabric, Target::Partitions] {
                    if authorize(&before, *action, t).is_allowed() {
                        prop_assert!(authorize(&after, *action, t).is_allowed());
                    }
                }
            }
        }
    }
}
