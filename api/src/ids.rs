//! Typed ids. Objects are addressed by these across crates, never by bare
//! integers or strings; user-facing names are separate and scoped (servers
//! and volumes are unique within their partition, everything else fabric-wide).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A fabric-manager cluster member.
pub type NodeId = u64;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The prefix used when the id is shown to people.
            pub const PREFIX: &'static str = $prefix;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}-{}", $prefix, self.0)
            }
        }
    };
}

typed_id!(
    /// A tenant partition.
    PartitionId,
    "part"
);
typed_id!(
    /// A pool of blades with qualification rules.
    PoolId,
    "pool"
);
typed_id!(
    /// A pool of identities (UUIDs, MACs, host NQNs).
    IdentityPoolId,
    "idpool"
);
typed_id!(
    /// A physical blade.
    BladeId,
    "blade"
);
typed_id!(
    /// A logical server (a portable identity plus requirements).
    ServerId,
    "srv"
);
typed_id!(
    /// A SAN volume.
    VolumeId,
    "vol"
);
typed_id!(
    /// A golden image volumes are cloned from.
    ImageId,
    "img"
);
typed_id!(
    /// A partition network (one VXLAN network id).
    NetworkId,
    "net"
);
typed_id!(
    /// A stored secret, such as a BMC password.
    CredentialId,
    "cred"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_display_with_their_prefix() {
        assert_eq!(ServerId(7).to_string(), "srv-7");
        assert_eq!(CredentialId(1).to_string(), "cred-1");
    }
}
