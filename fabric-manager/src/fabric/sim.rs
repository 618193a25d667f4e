//! The simulated fabric: the same facts as the Linux fabric, in memory.
//!
//! It records which blade port is attached to which network and answers
//! reachability as a pure function of that record: two ports reach each
//! other iff both are attached (and therefore up) to the same network, and
//! two blades reach each other iff some port of one reaches some port of the
//! other ([`SimFabric::reachable`]; per port: [`SimFabric::port_reachable`]).
//! Blade names are checked like the Linux fabric checks them, and ports are
//! keyed by blade id and port number. It is for tests and simulation at scale
//! (thousands of blades, no kernel). Like every fabric it must never decide
//! who may join a network.

use super::error::{FabricError, Result};
use super::names;
use super::{BladeRef, Fabric, PortInfo, PortState, Vni};
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
    ports: BTreeMap<(BladeId, u8), SimPort>,
}

impl SimState {
    /// The network a port forwards to: attached and up.
    fn live_network(&self, blade: BladeId, port: u8) -> Option<Vni> {
        self.ports
            .get(&(blade, port))
            .filter(|p| p.state.up)
            .and_then(|p| p.state.network)
    }

    fn blade_ports(&self, blade: BladeId) -> impl Iterator<Item = (u8, &SimPort)> + '_ {
        self.ports
            .range((blade, 0)..=(blade, u8::MAX))
            .map(|((_, port), p)| (*port, p))
    }

    /// Creates the port if missing; its MAC.
    fn ensure_port(&mut self, blade: BladeId, port: u8) -> Mac {
        self.ports
            .entry((blade, port))
            .or_insert_with(|| SimPort {
                state: PortState::DETACHED,
                mac: sim_mac(blade, port),
            })
            .mac
    }
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

    /// Whether blade `a` can exchange frames with blade `b`: some port of
    /// `a` and some port of `b` are attached and up on the same network.
    pub fn reachable(&self, a: BladeId, b: BladeId) -> bool {
        self.with(|s| {
            s.blade_ports(a).any(|(pa, _)| {
                let Some(net) = s.live_network(a, pa) else {
                    return false;
                };
                s.blade_ports(b)
                    .any(|(pb, _)| s.live_network(b, pb) == Some(net))
            })
        })
    }

    /// Whether port `pa` of blade `a` can exchange frames with port `pb` of
    /// blade `b`: both attached and up on the same network.
    pub fn port_reachable(&self, a: BladeId, pa: u8, b: BladeId, pb: u8) -> bool {
        self.with(|s| {
            matches!(
                (s.live_network(a, pa), s.live_network(b, pb)),
                (Some(x), Some(y)) if x == y
            )
        })
    }

    /// The blade ports attached to a network, in (blade id, port) order.
    pub fn members(&self, vni: Vni) -> Vec<(BladeId, u8)> {
        self.with(|s| {
            s.ports
                .iter()
                .filter(|(_, p)| p.state.network == Some(vni))
                .map(|(key, _)| *key)
                .collect()
        })
    }

    /// The networks that exist, in order.
    pub fn networks(&self) -> Vec<Vni> {
        self.with(|s| s.networks.iter().copied().collect())
    }

    /// The MAC of a blade port's interface, if the port exists.
    pub fn blade_mac(&self, blade: BladeId, port: u8) -> Option<Mac> {
        self.with(|s| s.ports.get(&(blade, port)).map(|p| p.mac))
    }
}

/// A burned-in-style MAC for a simulated port: locally administered,
/// `02:fa:`, the port number and the low 24 bits of the blade id.
fn sim_mac(blade: BladeId, port: u8) -> Mac {
    Mac(0x02fa_0000_0000 | (u64::from(port) << 24) | (blade.0 & 0xff_ffff))
}

/// Checks the blade and port as the Linux fabric does; the port's names.
fn check(blade: &BladeRef, port: u8) -> Result<(String, String)> {
    names::check_port(blade, port)?;
    let namespace = names::blade_namespace(SIM_NAMESPACE, blade)?;
    let fabric_port = names::fabric_port_name(blade.id, port)?;
    Ok((namespace, fabric_port))
}

fn not_found(blade: &BladeRef, port: u8) -> FabricError {
    FabricError::PortNotFound {
        blade: blade.clone(),
        port,
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
                .map(|((blade, port), _)| format!("pv{:x}p{port:x}", blade.0))
                .collect();
            if !ports.is_empty() {
                return Err(FabricError::NetworkInUse { vni, ports });
            }
            s.networks.remove(&vni);
            Ok(())
        })
    }

    async fn ensure_port(&self, blade: &BladeRef, port: u8) -> Result<PortInfo> {
        let (blade_namespace, fabric_port) = check(blade, port)?;
        let mac = self.with(|s| s.ensure_port(blade.id, port));
        Ok(PortInfo {
            blade: blade.id,
            port,
            blade_namespace,
            interface: names::blade_interface(port),
            fabric_namespace: SIM_NAMESPACE.to_owned(),
            fabric_port,
            mac,
        })
    }

    async fn attach(&self, blade: &BladeRef, port: u8, vni: Vni) -> Result<()> {
        check(blade, port)?;
        self.with(|s| {
            s.networks.insert(vni);
            s.ensure_port(blade.id, port);
            if let Some(p) = s.ports.get_mut(&(blade.id, port)) {
                p.state = PortState {
                    network: Some(vni),
                    up: true,
                };
            }
        });
        Ok(())
    }

    async fn detach(&self, blade: &BladeRef) -> Result<()> {
        names::blade_namespace(SIM_NAMESPACE, blade)?;
        self.with(|s| {
            for (_, p) in s.ports.range_mut((blade.id, 0)..=(blade.id, u8::MAX)) {
                p.state = PortState::DETACHED;
            }
        });
        Ok(())
    }

    async fn port_state(&self, blade: &BladeRef, port: u8) -> Result<PortState> {
        check(blade, port)?;
        self.with(|s| s.ports.get(&(blade.id, port)).map(|p| p.state))
            .ok_or_else(|| not_found(blade, port))
    }

    async fn ports(&self, blade: &BladeRef) -> Result<Vec<(u8, PortState)>> {
        names::blade_namespace(SIM_NAMESPACE, blade)?;
        Ok(self.with(|s| s.blade_ports(blade.id).map(|(n, p)| (n, p.state)).collect()))
    }

    async fn set_blade_mac(&self, blade: &BladeRef, port: u8, mac: Mac) -> Result<()> {
        check(blade, port)?;
        self.with(|s| {
            let p = s
                .ports
                .get_mut(&(blade.id, port))
                .ok_or_else(|| not_found(blade, port))?;
            p.mac = mac;
            Ok(())
        })
    }

    async fn teardown(&self) -> Result<()> {
        self.with(|s| *s = SimState::default());
        Ok(())
    }
}
