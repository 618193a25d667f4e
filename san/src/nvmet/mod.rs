//! Exports: volumes served over NVMe/TCP by the Linux NVMe target (nvmet).
//!
//! [`StorageTarget`] is the seam the manager programs: export a volume as
//! a subsystem, grant and revoke hosts, read the access list back.
//! [`ConfigfsTarget`] writes the kernel's configfs layout
//! (`/sys/kernel/config/nvmet`, or any directory in tests and simulation):
//!
//! ```text
//! hosts/HOSTNQN/
//! ports/ID/addr_{trtype,adrfam,traddr,trsvcid}
//! ports/ID/subsystems/NQN -> ROOT/subsystems/NQN
//! subsystems/NQN/attr_allow_any_host            0
//! subsystems/NQN/namespaces/1/device_path       the volume's file or device
//! subsystems/NQN/namespaces/1/enable            1
//! subsystems/NQN/allowed_hosts/HOSTNQN -> ROOT/hosts/HOSTNQN
//! ```
//!
//! [`read_tree`] reads such a tree back (the fake `nvme` uses it to decide
//! who may connect). This module must never set `attr_allow_any_host` to 1
//! and never decide on its own who is granted: it applies the caller's list.

mod configfs;
mod nqn;
mod read;

pub use configfs::{ConfigfsTarget, KERNEL_ROOT};
pub use nqn::{MAX_NQN_BYTES, Nqn, VOLUME_NQN_PREFIX};
pub use read::{NamespaceView, PortView, SubsystemView, TargetTree, read_tree};

use crate::error::{Error, Result};
use std::net::IpAddr;
use std::path::Path;

/// The NVMe/TCP port IANA assigned for I/O controllers.
pub const NVME_TCP_PORT: u16 = 4420;

/// The one namespace id each volume's subsystem has.
pub const NAMESPACE_ID: u32 = 1;

/// The nvmet port volumes are exported on (always NVMe/TCP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// The configfs port id (`ports/ID`), also the discovery log's `portid`.
    pub id: u16,
    /// The address the target listens on.
    pub traddr: IpAddr,
    /// The TCP port (`trsvcid`), normally [`NVME_TCP_PORT`].
    pub trsvcid: u16,
}

impl PortConfig {
    /// Port `id` on `traddr`, TCP port 4420.
    pub fn tcp(id: u16, traddr: IpAddr) -> Self {
        PortConfig {
            id,
            traddr,
            trsvcid: NVME_TCP_PORT,
        }
    }

    /// `ipv4` or `ipv6`, as nvmet's `addr_adrfam` spells it.
    pub fn adrfam(&self) -> &'static str {
        match self.traddr {
            IpAddr::V4(_) => "ipv4",
            IpAddr::V6(_) => "ipv6",
        }
    }

    /// The attributes written under `ports/ID/`, in writing order.
    pub fn attributes(&self) -> [(&'static str, String); 4] {
        [
            ("addr_trtype", "tcp".to_string()),
            ("addr_adrfam", self.adrfam().to_string()),
            ("addr_traddr", self.traddr.to_string()),
            ("addr_trsvcid", self.trsvcid.to_string()),
        ]
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.trsvcid == 0 {
            return Err(Error::InvalidPort {
                field: "trsvcid",
                value: "0".to_string(),
                reason: "TCP port 0 cannot be listened on",
            });
        }
        Ok(())
    }
}

/// A storage target that exports volumes to hosts it is told to allow.
///
/// Every operation is safe to repeat: exporting what is exported with the
/// same device, granting a granted host, revoking an absent one and
/// unexporting what is gone all succeed and change nothing. Changes are
/// read back before an operation reports success.
pub trait StorageTarget: Send + Sync {
    /// Serves `device_path` as namespace 1 of subsystem `volume`, with no
    /// host allowed yet, on the target's port.
    fn export(&self, volume: &Nqn, device_path: &Path) -> Result<()>;

    /// Lets `host` connect to `volume`. The export must exist.
    fn grant(&self, volume: &Nqn, host: &Nqn) -> Result<()>;

    /// Stops `host` from making new connections to `volume`. Existing
    /// controllers of that host are not torn down by nvmet: fencing must
    /// also stop the host itself.
    fn revoke(&self, volume: &Nqn, host: &Nqn) -> Result<()>;

    /// Removes the export (and with it its access list).
    fn unexport(&self, volume: &Nqn) -> Result<()>;

    /// The hosts allowed to connect to `volume`, sorted.
    fn allowed_hosts(&self, volume: &Nqn) -> Result<Vec<Nqn>>;

    /// Every exported subsystem, sorted.
    fn exports(&self) -> Result<Vec<Nqn>>;
}

#[cfg(test)]
mod tests;
