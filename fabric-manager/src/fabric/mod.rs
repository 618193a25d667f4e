//! The fabric: the internal network that joins blades, carved into partition
//! networks (isolated L2 segments, one per VXLAN network id).
//!
//! [`Fabric`] is the hardware seam. A blade is named by a [`BladeRef`] (its
//! manager id and its name) and has up to [`MAX_PORTS`] ports: vNIC `i` of
//! the server it hosts is carried by port `i`. [`LinuxFabric`] programs a
//! Linux fabric network namespace (one bridge per network, one veth pair per
//! blade port whose blade end, `eth<i>`, lives in the blade's own namespace
//! `<fabric namespace>-blade-<blade name>`); [`SimFabric`] keeps the same
//! facts in memory and answers reachability as a pure function, for tests at
//! scale. Both pass the same conformance checks (`tests.rs`).
//!
//! Code map: `error.rs` (the module's one error enum), `runner.rs` (running
//! `ip` behind a trait, with timeouts), `names.rs` (kernel and namespace names
//! from blade ids, port numbers and blade names, pure),
//! `parse.rs` (reading `ip -j` JSON, pure), `linux.rs`, `sim.rs`.
//!
//! This module must never decide who may join a network: the replicated
//! state does, and the controller calls [`Fabric::attach`] with its decision.
//! Every change is read back from the kernel before it is reported done, and
//! every operation is idempotent, so an executor may repeat it.

mod error;
mod linux;
mod names;
mod parse;
mod runner;
mod sim;

#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;

pub use error::{FabricError, Object, Result};
pub use linux::{LinuxFabric, LinuxFabricConfig};
pub use names::{BLADE_NS_INFIX, MAX_PORTS, blade_interface, bridge_name, fabric_port_name};
pub use runner::{CommandOutput, CommandRunner, CommandSpec, ProcessRunner, RunError};
pub use sim::SimFabric;

use crate::state::identity::Mac;
use async_trait::async_trait;
use pan_api::ids::BladeId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A network id: the VXLAN VNI of a partition network, `1..=16_777_215`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Vni(u32);

impl Vni {
    /// The largest VNI (24 bits).
    pub const MAX: u32 = 0x00ff_ffff;

    /// A VNI, or [`FabricError::InvalidVni`] outside `1..=16_777_215`.
    pub fn new(value: u32) -> Result<Vni> {
        if (1..=Self::MAX).contains(&value) {
            Ok(Vni(value))
        } else {
            Err(FabricError::InvalidVni { value })
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for Vni {
    type Error = FabricError;
    fn try_from(value: u32) -> Result<Vni> {
        Vni::new(value)
    }
}

impl From<Vni> for u32 {
    fn from(vni: Vni) -> u32 {
        vni.0
    }
}

impl fmt::Display for Vni {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "vni {}", self.0)
    }
}

/// A blade as the fabric knows it: the manager's id (which names the kernel
/// interfaces in the fabric namespace) and the blade's name (which names its
/// network namespace). Names are 1–63 characters of `[A-Za-z0-9._-]`,
/// starting with a letter or digit; the fabric checks them again and refuses
/// others with [`FabricError::InvalidBladeName`]. A blade keeps its name: a
/// port created under one name is not found under another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BladeRef {
    pub id: BladeId,
    pub name: String,
}

impl BladeRef {
    pub fn new(id: BladeId, name: impl Into<String>) -> Self {
        BladeRef {
            id,
            name: name.into(),
        }
    }
}

impl fmt::Display for BladeRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.id, self.name)
    }
}

/// Where one port of a blade lives, as created by [`Fabric::ensure_port`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortInfo {
    pub blade: BladeId,
    /// The port number, `0..MAX_PORTS`: vNIC `port` of the hosted server.
    pub port: u8,
    /// The blade's network namespace (for [`SimFabric`], a label).
    pub blade_namespace: String,
    /// The blade-side interface (`eth<port>`): where the agent applies the
    /// identity's MAC for this vNIC.
    pub interface: String,
    /// The namespace holding the bridges and fabric-side port ends.
    pub fabric_namespace: String,
    /// The fabric-side end of the port's link (a veth in [`LinuxFabric`]).
    pub fabric_port: String,
    /// The blade-side interface's current MAC, read back.
    pub mac: Mac,
}

/// A blade port's state, read back from the fabric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortState {
    /// The network the port is attached to; `None` when detached.
    pub network: Option<Vni>,
    /// The fabric-side port is administratively up (forwards frames).
    /// Attached ports are up, detached ports are down.
    pub up: bool,
}

impl PortState {
    /// Detached and down: what a fence requires.
    pub const DETACHED: PortState = PortState {
        network: None,
        up: false,
    };
}

/// The hardware seam to the fabric. Every operation is idempotent and reads
/// its effect back before returning `Ok`. Ports are numbered `0..MAX_PORTS`;
/// a larger number is [`FabricError::PortOutOfRange`].
#[async_trait]
pub trait Fabric: Send + Sync {
    /// Creates the network's isolated segment if it does not exist.
    async fn ensure_network(&self, vni: Vni) -> Result<()>;

    /// Removes the network's segment; `Ok` if it does not exist;
    /// [`FabricError::NetworkInUse`] while ports are attached to it.
    async fn remove_network(&self, vni: Vni) -> Result<()>;

    /// Creates port `port` of the blade if it does not exist (and the
    /// blade's namespace if that is missing). A new port is detached and
    /// down; its blade-side interface is up.
    async fn ensure_port(&self, blade: &BladeRef, port: u8) -> Result<PortInfo>;

    /// Attaches the blade's port to the network and brings it up, creating
    /// the network and the port if they do not exist. A port attached to
    /// another network moves (the caller decided it may).
    async fn attach(&self, blade: &BladeRef, port: u8, vni: Vni) -> Result<()>;

    /// Detaches every port of the blade from any network and sets it down,
    /// read back. `Ok` when the blade has no port: nothing of it can reach a
    /// network. Fencing relies on this.
    async fn detach(&self, blade: &BladeRef) -> Result<()>;

    /// The port's state, read from the fabric;
    /// [`FabricError::PortNotFound`] when it does not exist.
    async fn port_state(&self, blade: &BladeRef, port: u8) -> Result<PortState>;

    /// Every port of the blade that exists, with its state, in port order
    /// (empty when it has none).
    async fn ports(&self, blade: &BladeRef) -> Result<Vec<(u8, PortState)>>;

    /// Sets the MAC of the port's blade-side interface (the identity's MAC
    /// for that vNIC).
    async fn set_blade_mac(&self, blade: &BladeRef, port: u8, mac: Mac) -> Result<()>;

    /// Deletes everything this fabric created: the fabric namespace and
    /// every `<fabric namespace>-blade-*` namespace.
    async fn teardown(&self) -> Result<()>;
}
