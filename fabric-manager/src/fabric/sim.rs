//! The simulated fabric: the same facts as the Linux fabric, in memory.
//!
//! It records which blade port is attached to which network and answers
//! reachability as a pure function of that record: two ports reach each
//! other iff both are attached (and therefore up) to the same network. It is
//! for tests and simulation at scale (thousands of blades, no kernel). Like
//! every fabric it must never decide who may join a network.

use super::error::{FabricError, Result};
use super::{Fabric, PortInfo, PortState, Vni};
use crate::state::identity::Mac;
use async_trait::async_trait;
use pan_api::ids::BladeId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The namespace label a simulated fabric reports.
const SIM_NAMESPACE: &str = "sim-fabric";

#[derive(Clone, Debug)]
struct SimPort {
    state: PortState,
    mac: Mac,
}

#[derive(Debug, Default)]
struct SimState {
    networks: BTreeSet<Vni>,
    ports: BTreeMap<BladeId, SimPort>,
}

/// An in-memory [`Fabric`].
#[derive(Debug, Default)]
pub struct SimFabric {
    state: Mutex<SimState>,
}

impl SimFabric {
    pub fn new() -> Self {
        SimFabric::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut SimState) -> T) -> T {
        // A panic while holding the lock cannot leave the maps half-updated
        // (every mutation is a single insert/remove), so poison is ignored.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut state)
    }

    /// Whether blade `a`'s port can exchange frames with blade `b`'s: both
    /// attached and up on the same network.
    pub fn reachable(&self, a: BladeId, b: BladeId) -> bool {
        self.with(|s| {
            let network = |blade: BladeId| {
                s.ports
                    .get(&blade)
                    .filter(|p| p.state.up)
                    .and_then(|p| p.state.network)
            };
            matches!((network(a), network(b)), (Some(x), Some(y)) if x == y)
        })
    }

    /// The blades attached to a network, in id order.
    pub fn members(&self, vni: Vni) -> Vec<BladeId> {
        self.with(|s| {
            s.ports
                .iter()
                .filter(|(_, p)| p.state.network == Some(vni))
                .map(|(blade, _)| *blade)
                .collect()
        })
    }

    /// The networks that exist, in order.
    pub fn networks(&self) -> Vec<Vni> {
        self.with(|s| s.networks.iter().copied().collect())
    }

    /// The MAC of a blade's interface, if it has a port.
    pub fn blade_mac(&self, blade: BladeId) -> Option<Mac> {
        self.with(|s| s.ports.get(&blade).map(|p| p.mac))
    }
}

/// A burned-in-style MAC for a simulated port: locally administered,
/// `02:fa:` and the low 32 bits of the blade id.
fn sim_mac(blade: BladeId) -> Mac {
    Mac(0x02fa_0000_0000 | (blade.0 & 0xffff_ffff))
}

fn port_info(blade: BladeId, mac: Mac) -> PortInfo {
    PortInfo {
        blade,
        blade_namespace: format!("{SIM_NAMESPACE}-blade-{}", blade.0),
        interface: super::BLADE_INTERFACE.to_owned(),
        fabric_namespace: SIM_NAMESPACE.to_owned(),
        fabric_port: format!("pv{:x}", blade.0),
        mac,
    }
}

fn not_found(blade: BladeId) -> FabricError {
    FabricError::PortNotFound {
        blade,
        namespace: SIM_NAMESPACE.to_owned(),
    }
}

#[async_trait]
impl Fabric for SimFabric {
    async fn ensure_network(&self, vni: Vni) -> Result<()> {
        self.with(|s| s.networks.insert(vni));
        Ok(())
    }

    async fn remove_network(&self, vni: Vni) -> Result<()> {
        self.with(|s| {
            let ports: Vec<String> = s
                .ports
                .iter()
                .filter(|(_, p)| p.state.network == Some(vni))
                .map(|(blade, _)| format!("pv{:x}", blade.0))
                .collect();
            if !ports.is_empty() {
                return Err(FabricError::NetworkInUse { vni, ports });
            }
            s.networks.remove(&vni);
            Ok(())
        })
    }

    async fn ensure_blade_port(&self, blade: BladeId) -> Result<PortInfo> {
        super::names::fabric_port_name(blade)?;
        let mac = self.with(|s| {
            s.ports
                .entry(blade)
                .or_insert_with(|| SimPort {
                    state: PortState::DETACHED,
                    mac: sim_mac(blade),
                })
                .mac
        });
        Ok(port_info(blade, mac))
    }

    async fn attach(&self, blade: BladeId, vni: Vni) -> Result<()> {
        self.with(|s| {
            if !s.networks.contains(&vni) {
                return Err(FabricError::NetworkNotFound {
                    vni,
                    namespace: SIM_NAMESPACE.to_owned(),
                });
            }
            let port = s.ports.get_mut(&blade).ok_or_else(|| not_found(blade))?;
            port.state = PortState {
                network: Some(vni),
                up: true,
            };
            Ok(())
        })
    }

    async fn detach(&self, blade: BladeId) -> Result<()> {
        self.with(|s| {
            if let Some(port) = s.ports.get_mut(&blade) {
                port.state = PortState::DETACHED;
            }
        });
        Ok(())
    }

    async fn port_state(&self, blade: BladeId) -> Result<PortState> {
        self.with(|s| s.ports.get(&blade).map(|p| p.state))
            .ok_or_else(|| not_found(blade))
    }

    async fn set_blade_mac(&self, blade: BladeId, mac: Mac) -> Result<()> {
        self.with(|s| {
            let port = s.ports.get_mut(&blade).ok_or_else(|| not_found(blade))?;
            port.mac = mac;
            Ok(())
        })
    }

    async fn teardown(&self) -> Result<()> {
        self.with(|s| *s = SimState::default());
        Ok(())
    }
}
