//! Every operation the public API offers, one [`Action`] per `pan.v1.Fabric`
//! RPC, with the two facts authorization needs about it: which [`Domain`] of
//! objects it touches, and whether it only reads ([`Access`]).
//!
//! The table below is the single list; a test parses `api/proto/pan.proto`
//! and fails if an RPC has no action or an action no RPC. A new RPC must be
//! added here (and so classified) before the API can authorize it.
//!
//! Pure data; this module must never do I/O.

/// What kind of object an action touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Domain {
    /// Manager cluster status.
    Cluster,
    /// Adding and removing manager members: a member receives the whole
    /// replicated state (credentials included), so this is fabric-admin only.
    Membership,
    /// The partitions themselves (tenant boundaries).
    Tenancy,
    /// Fabric hardware and its pools: blades, pools, identity pools.
    Hardware,
    /// Objects inside a partition: servers and volumes.
    Workload,
    /// Audit records and events (filtered per item by [`crate::visible`]).
    Observe,
}

/// Whether an action only reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Access {
    /// Changes nothing.
    Read,
    /// Changes state or hardware.
    Write,
}

macro_rules! actions {
    ($($variant:ident => $domain:ident, $access:ident;)*) => {
        /// One operation of the public API: one variant per `pan.v1.Fabric` RPC,
        /// named like it.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Action {
            $(
                #[doc = concat!("The `", stringify!($variant), "` RPC.")]
                $variant,
            )*
        }

        impl Action {
            /// Every action, in the order of the proto's service definition.
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The RPC's name exactly as in `pan.proto`, e.g. `"CreateServer"`.
            pub fn rpc_name(&self) -> &'static str {
                match self {
                    $(Action::$variant => stringify!($variant),)*
                }
            }

            /// The kind of object the action touches.
            pub fn domain(&self) -> Domain {
                match self {
                    $(Action::$variant => Domain::$domain,)*
                }
            }

            /// Whether the action only reads.
            pub fn access(&self) -> Access {
                match self {
                    $(Action::$variant => Access::$access,)*
                }
            }
        }
    };
}

actions! {
    ClusterStatus      => Cluster,    Read;
    AddMember          => Membership, Write;
    RemoveMember       => Membership, Write;

    CreatePartition    => Tenancy,    Write;
    ListPartitions     => Tenancy,    Read;
    DeletePartition    => Tenancy,    Write;

    CreatePool         => Hardware,   Write;
    ListPools          => Hardware,   Read;
    DeletePool         => Hardware,   Write;

    CreateIdentityPool => Hardware,   Write;
    ListIdentityPools  => Hardware,   Read;
    DeleteIdentityPool => Hardware,   Write;

    AddBlade           => Hardware,   Write;
    ListBlades         => Hardware,   Read;
    GetBlade           => Hardware,   Read;
    RemoveBlade        => Hardware,   Write;
    DiscoverBlades     => Hardware,   Write;
    BladePower         => Hardware,   Write;

    CreateServer       => Workload,   Write;
    ListServers        => Workload,   Read;
    GetServer          => Workload,   Read;
    DeleteServer       => Workload,   Write;
    StartServer        => Workload,   Write;
    StopServer         => Workload,   Write;

    AddImage           => Hardware,   Write;
    // The image catalog: every principal may read it (tenants pick images).
    ListImages         => Observe,    Read;
    DeleteImage        => Hardware,   Write;

    CreateVolume       => Workload,   Write;
    ListVolumes        => Workload,   Read;
    GetVolume          => Workload,   Read;
    DeleteVolume       => Workload,   Write;
    ResizeVolume       => Workload,   Write;
    SnapshotVolume     => Workload,   Write;
    RestoreVolume      => Workload,   Write;
    DeleteSnapshot     => Workload,   Write;

    CreateNetwork      => Workload,   Write;
    ListNetworks       => Workload,   Read;
    DeleteNetwork      => Workload,   Write;

    ListAudit          => Observe,    Read;
    WatchEvents        => Observe,    Read;

    CreatePrincipal    => Membership, Write;
    ListPrincipals     => Membership, Read;
    RevokePrincipal    => Membership, Write;
    RotatePrincipal    => Membership, Write;
    DeletePrincipal    => Membership, Write;
    WhoAmI             => Observe,    Read;

    SetQuota           => Tenancy,    Write;

    ConfirmFenced      => Hardware,   Write;
    RepairBlade        => Hardware,   Write;
    DrainBlade         => Hardware,   Write;
    MoveServer         => Workload,   Write;
    ListFailovers      => Observe,    Read;
    Coverage           => Observe,    Read;
}

impl Action {
    /// The action whose RPC is called `name`, if any.
    pub fn from_rpc_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.rpc_name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn names_are_unique_and_round_trip() {
        let names: BTreeSet<_> = Action::ALL.iter().map(Action::rpc_name).collect();
        assert_eq!(names.len(), Action::ALL.len());
        for a in Action::ALL {
            assert_eq!(Action::from_rpc_name(a.rpc_name()), Some(*a));
        }
        assert_eq!(Action::CreateServer.rpc_name(), "CreateServer");
        assert_eq!(Action::from_rpc_name("createserver"), None);
    }

    #[test]
    fn reads_are_the_lists_gets_status_and_watches() {
        for a in Action::ALL {
            let name = a.rpc_name();
            let looks_read = ["List", "Get", "Watch"].iter().any(|p| name.starts_with(p))
                || name == "ClusterStatus"
                || name == "WhoAmI"
                || name == "Coverage";
            assert_eq!(a.access() == Access::Read, looks_read, "{name}");
        }
    }
}
