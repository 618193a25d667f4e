//! Authorization: the one function that decides who may do what
//! ([`authorize`]), and its list filter ([`visible`]).
//!
//! Rules, per role (a principal gets the most permissive answer any of its
//! roles gives, ranked allow > permission denied > not found):
//!
//! | role | reads | writes |
//! |---|---|---|
//! | fabric-admin | everything | everything |
//! | operator | everything (fabric objects, every partition's servers and volumes, audit, events) | hardware: blades, pools, identity pools, discovery, power. Not: cluster membership, creating or deleting partitions, servers or volumes |
//! | partition-admin:P | partition P and its servers and volumes; lists, audit and events filtered to P | servers and volumes of P (create, delete, start, stop). Not: creating or deleting P itself |
//! | partition-viewer:P | as partition-admin:P | nothing |
//!
//! Tenants (partition roles) get **not found** for anything in another
//! partition, whatever the action, so the answer is the same whether that
//! partition or object exists or not; the API must then answer exactly as it
//! does for a missing object. They get **permission denied** for fabric-wide
//! objects (blades, pools, identity pools, cluster, partition lifecycle):
//! those exist for everyone, and the denial does not depend on any name.
//!
//! Operators may read tenants' server and volume *records* (names, state,
//! placement: a blade already shows the server it runs) to run the hardware,
//! but not change them; volume contents and tenants' credentials are not
//! reachable through any action. Membership changes are fabric-admin only
//! because a new member receives the whole replicated state, BMC passwords
//! included.
//!
//! Pure functions over values; this module must never do I/O.

use crate::action::{Access, Action, Domain};
use crate::principal::{Principal, Role};

/// What a request touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target<'a> {
    /// A fabric-wide object or the fabric itself: blades, pools, identity
    /// pools, cluster, a partition being created.
    Fabric,
    /// An object inside this partition, or the partition itself.
    Partition(&'a str),
    /// A listing or stream across partitions, whose items the caller filters
    /// with [`visible`]: `ListPartitions`, `ListServers`/`ListVolumes` without
    /// a partition, `ListAudit`, `WatchEvents`.
    Partitions,
}

impl<'a> Target<'a> {
    /// The target of a request with an optional partition field (e.g.
    /// `ListServersRequest.partition`): empty means every partition.
    pub fn from_partition_field(partition: &'a str) -> Target<'a> {
        if partition.is_empty() {
            Target::Partitions
        } else {
            Target::Partition(partition)
        }
    }
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Go ahead (for [`Target::Partitions`]: then filter with [`visible`]).
    Allow,
    /// The object is in another partition than the caller's: answer
    /// `NotFound`, worded exactly as for an object that does not exist.
    DenyNotFound,
    /// Answer `PermissionDenied` with this reason, which says what to do.
    DenyPermission {
        /// Why, and who may do it instead.
        reason: String,
    },
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }

    /// Allow > permission denied > not found: the most a caller may learn.
    fn rank(&self) -> u8 {
        match self {
            Decision::DenyNotFound => 0,
            Decision::DenyPermission { .. } => 1,
            Decision::Allow => 2,
        }
    }
}

/// Decides whether `principal` may perform `action` on `target`.
///
/// Authentication (token, revocation, expiry) is [`crate::verify`]'s job and
/// comes first; a revoked principal is still refused here, in case a caller
/// skips it.
pub fn authorize(principal: &Principal, action: Action, target: Target<'_>) -> Decision {
    if principal.revoked {
        return Decision::DenyPermission {
            reason: format!(
                "principal '{}' is revoked; ask a fabric admin to rotate its token",
                principal.name
            ),
        };
    }
    let mut best: Option<Decision> = None;
    for role in &principal.roles {
        let decision = decide(role, action, target);
        if best.as_ref().is_none_or(|b| decision.rank() > b.rank()) {
            best = Some(decision);
        }
    }
    best.unwrap_or_else(|| match target {
        Target::Partition(_) => Decision::DenyNotFound,
        Target::Fabric | Target::Partitions => Decision::DenyPermission {
            reason: format!(
                "principal '{}' has no roles; ask a fabric admin to grant one",
                principal.name
            ),
        },
    })
}

/// Whether `principal` may see a listed item (a partition, server, volume,
/// audit record or event) of partition `partition_of_item`; `None` for
/// fabric-wide items. Agrees with [`authorize`]: an item is visible exactly
/// when reading it directly would be allowed.
pub fn visible(principal: &Principal, partition_of_item: Option<&str>) -> bool {
    if principal.revoked {
        return false;
    }
    principal.roles.iter().any(|role| match role {
        Role::FabricAdmin | Role::Operator => true,
        Role::PartitionAdmin(p) | Role::PartitionViewer(p) => partition_of_item == Some(p.as_str()),
    })
}

fn decide(role: &Role, action: Action, target: Target<'_>) -> Decision {
    let domain = action.domain();
    let access = action.access();
    let deny = |reason: String| Decision::DenyPermission { reason };
    let rpc = action.rpc_name();
    match role {
        Role::FabricAdmin => Decision::Allow,
        Role::Operator => match (access, domain) {
            (Access::Read, _) | (Access::Write, Domain::Hardware) => Decision::Allow,
            (Access::Write, Domain::Membership) => deny(format!(
                "{rpc}: only a fabric admin may change cluster membership (a member \
                 receives the whole replicated state); ask a fabric admin"
            )),
            (Access::Write, Domain::Tenancy) => deny(format!(
                "{rpc}: only a fabric admin may create or delete partitions; ask a fabric admin"
            )),
            (Access::Write, _) => deny(match target {
                Target::Partition(p) => format!(
                    "{rpc}: operators may read but not change partition '{p}'; ask a \
                     partition admin of '{p}' or a fabric admin"
                ),
                Target::Fabric | Target::Partitions => format!(
                    "{rpc}: operators may read but not change partitions' objects; ask \
                     a partition admin or a fabric admin"
                ),
            }),
        },
        Role::PartitionAdmin(own) | Role::PartitionViewer(own) => {
            let admin = matches!(role, Role::PartitionAdmin(_));
            match target {
                // Whatever the action: the same answer whether it exists or not.
                Target::Partition(p) if p != own => Decision::DenyNotFound,
                _ if matches!(
                    domain,
                    Domain::Cluster | Domain::Membership | Domain::Hardware
                ) =>
                {
                    deny(format!(
                        "{rpc} touches fabric-wide objects (cluster, blades, pools, \
                         identity pools), which only operators and fabric admins may use"
                    ))
                }
                Target::Fabric => deny(format!(
                    "{rpc} is fabric-wide; only fabric admins (and operators, to read) may use it"
                )),
                Target::Partitions if access == Access::Read => Decision::Allow,
                Target::Partitions => {
                    deny(format!("{rpc} needs a partition; name partition '{own}'"))
                }
                Target::Partition(_) => match (access, domain) {
                    (Access::Read, _) => Decision::Allow,
                    (Access::Write, Domain::Workload) if admin => Decision::Allow,
                    (Access::Write, Domain::Tenancy) => deny(format!(
                        "{rpc}: only a fabric admin may create or delete partitions; ask a \
                         fabric admin"
                    )),
                    (Access::Write, _) => deny(format!(
                        "{rpc}: partition viewers may only read partition '{own}'; ask a \
                         partition admin of '{own}'"
                    )),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::tests::seed;

    fn who(roles: Vec<Role>) -> Principal {
        Principal::new("alice", roles, &seed(1), 0, None).unwrap().0
    }

    #[test]
    fn the_most_permissive_role_wins() {
        let p = who(vec![
            Role::PartitionViewer("acme".into()),
            Role::PartitionAdmin("globex".into()),
        ]);
        assert_eq!(
            authorize(&p, Action::CreateServer, Target::Partition("globex")),
            Decision::Allow
        );
        assert!(matches!(
            authorize(&p, Action::CreateServer, Target::Partition("acme")),
            Decision::DenyPermission { .. }
        ));
        assert_eq!(
            authorize(&p, Action::CreateServer, Target::Partition("initech")),
            Decision::DenyNotFound
        );
        assert!(visible(&p, Some("acme")) && visible(&p, Some("globex")));
        assert!(!visible(&p, Some("initech")) && !visible(&p, None));
    }

    #[test]
    fn revoked_principals_are_refused_and_see_nothing() {
        let mut p = who(vec![Role::FabricAdmin]);
        p.revoke();
        let d = authorize(&p, Action::ListBlades, Target::Fabric);
        assert_eq!(
            d,
            Decision::DenyPermission {
                reason: "principal 'alice' is revoked; ask a fabric admin to rotate its token"
                    .into()
            }
        );
        assert!(!visible(&p, None));
    }

    #[test]
    fn a_principal_without_roles_gets_nothing() {
        let mut p = who(vec![Role::Operator]);
        p.roles.clear();
        assert_eq!(
            authorize(&p, Action::GetServer, Target::Partition("acme")),
            Decision::DenyNotFound
        );
        let d = authorize(&p, Action::ListPartitions, Target::Partitions);
        assert!(
            matches!(d, Decision::DenyPermission { reason } if reason.contains("has no roles"))
        );
        assert!(!visible(&p, None) && !visible(&p, Some("acme")));
    }

    #[test]
    fn denial_reasons_say_who_may_do_it() {
        let viewer = who(vec![Role::PartitionViewer("acme".into())]);
        let Decision::DenyPermission { reason } =
            authorize(&viewer, Action::DeleteVolume, Target::Partition("acme"))
        else {
            panic!()
        };
        assert_eq!(
            reason,
            "DeleteVolume: partition viewers may only read partition 'acme'; ask a \
             partition admin of 'acme'"
        );
        let op = who(vec![Role::Operator]);
        let Decision::DenyPermission { reason } = authorize(&op, Action::AddMember, Target::Fabric)
        else {
            panic!()
        };
        assert!(
            reason.contains("only a fabric admin may change cluster membership"),
            "{reason}"
        );
    }

    #[test]
    fn partition_field_maps_to_a_target() {
        assert_eq!(Target::from_partition_field(""), Target::Partitions);
        assert_eq!(
            Target::from_partition_field("acme"),
            Target::Partition("acme")
        );
    }
}
