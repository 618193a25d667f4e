//! Blade observations, power requests and the server lifecycle
//! (`defined → starting → running → stopping → defined`, `starting → failed`),
//! with the placement planner that picks a blade for a server.
//!
//! Still pure: the controller does the BMC and agent I/O and reports back
//! through the `Server*` commands, each tagged with the generation it
//! concerns so a late report about an older placement changes nothing.

use super::push_event as push;
use super::{
    Blade, BladeObservation, BladeState, Event, Executed, Made, PowerAction, PowerState,
    ServerState, State, StateError,
};
use pan_api::{BladeId, ServerId};

/// What the controller needs to start or stop one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerWork {
    pub partition: String,
    pub name: String,
    pub state: ServerState,
    pub generation: u64,
    pub blade: String,
    /// The blade's burned-in MACs (how its agent is recognised when the
    /// agent calls the blade by another name).
    pub blade_macs: Vec<String>,
    pub identity: super::IdentityView,
    pub boot_volume: Option<String>,
    /// The blade's id (fabric port names derive from it).
    pub blade_id: BladeId,
    /// Volumes to attach, boot volume first.
    pub volumes: Vec<super::VolumeWork>,
    /// One per vNIC, in order.
    pub nics: Vec<NicWork>,
}

/// One vNIC of a server being started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NicWork {
    pub mac: String,
    /// The VXLAN network id of its network; `None` for no network.
    pub vni: Option<u32>,
}

/// What the poller needs to read one blade's BMC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcTarget {
    pub blade: String,
    pub url: String,
    pub user: String,
    pub password: super::Secret,
    pub power: PowerState,
    pub health: super::Health,
}

impl State {
    pub(super) fn observe_blades(
        &mut self,
        observations: &[BladeObservation],
        events: &mut Vec<Event>,
    ) -> Executed {
        // Validate all first: a batch applies whole or not at all.
        let ids = observations
            .iter()
            .map(|o| self.blade_id(&o.blade))
            .collect::<Result<Vec<_>, _>>()?;
        for (id, o) in ids.into_iter().zip(observations) {
            let blade = self.blades.get_mut(&id).expect("validated above");
            if blade.power != o.power || blade.health != o.health {
                blade.power = o.power;
                blade.health = o.health;
                push(events, "blade.observed", format!("blade/{}", o.blade), None);
            }
        }
        Ok(Made::Done)
    }

    pub(super) fn blade_power(
        &mut self,
        name: &str,
        action: PowerAction,
        force: bool,
        events: &mut Vec<Event>,
    ) -> Executed {
        let id = self.blade_id(name)?;
        let blade = &self.blades[&id];
        if let Some(server) = blade.server
            && action != PowerAction::On
            && !force
        {
            return Err(StateError::InUse {
                object: format!("blade '{name}'"),
                users: format!("server {}", self.server_path(server)),
                remedy: "stop the server first (`panctl server stop`), or pass --force".to_string(),
            });
        }
        if blade.state == BladeState::Retired {
            return Err(StateError::InvalidTransition {
                object: format!("blade '{name}'"),
                state: blade.state.to_string(),
                remedy: "a retired blade is not powered; add it again to use it".to_string(),
            });
        }
        push(
            events,
            &format!("blade.power_{action}"),
            format!("blade/{name}"),
            None,
        );
        Ok(Made::Blade(id))
    }

    /// The placement planner: the best-fitting available blade that meets
    /// the server's requirements (fewest cores, then least memory, then
    /// name), or why there is none.
    pub fn choose_blade(&self, server: ServerId) -> Result<BladeId, StateError> {
        let Some(s) = self.servers.get(&server) else {
            return Err(StateError::NotFound {
                object: format!("server {server}"),
                list_hint: "server list".to_string(),
            });
        };
        self.best_fit(|blade| self.unfit(blade, server))
            .map_err(|detail| StateError::NoQualifyingBlade {
                server: format!(
                    "server '{}' in partition '{}'",
                    s.name, self.partitions[&s.partition].name
                ),
                detail,
            })
    }

    /// The best-fitting blade `unfit` has no objection to (fewest cores,
    /// then least memory, then name), or the objections, summarised. The
    /// one search behind placement, spares and planned moves.
    pub(super) fn best_fit(
        &self,
        unfit: impl Fn(&Blade) -> Option<String>,
    ) -> Result<BladeId, String> {
        let mut best: Option<(&Blade, (u32, u64, &str))> = None;
        let mut reasons = Vec::new();
        for blade in self.blades.values() {
            match (unfit(blade), blade.facts.as_ref()) {
                (Some(reason), _) => reasons.push(format!("{}: {reason}", blade.name)),
                (None, None) => reasons.push(format!("{}: its inventory is unknown", blade.name)),
                (None, Some(facts)) => {
                    let key = (facts.cores, facts.memory_gib, blade.name.as_str());
                    if best.is_none_or(|(_, k)| key < k) {
                        best = Some((blade, key));
                    }
                }
            }
        }
        best.map(|(b, _)| b.id).ok_or_else(|| {
            if reasons.is_empty() {
                return "the fabric has no blades".to_string();
            }
            let shown = reasons[..reasons.len().min(5)].join("; ");
            match reasons.len().saturating_sub(5) {
                0 => shown,
                more => format!("{shown}; and {more} more"),
            }
        })
    }

    /// Why `blade` cannot run `server` now, or `None` when it can.
    pub(super) fn unfit(&self, blade: &Blade, server: ServerId) -> Option<String> {
        if blade.state != BladeState::Available || blade.server.is_some() {
            return Some(format!("it is {}", blade.state));
        }
        if blade.health == super::Health::Critical {
            return Some("its BMC reports health critical".to_string());
        }
        let Some(facts) = &blade.facts else {
            return Some("its inventory is unknown".to_string());
        };
        let s = &self.servers[&server];
        if let Some(reason) = self.dedication_conflict(blade, s.partition) {
            return Some(reason);
        }
        s.requirements.unmet_by(facts)
    }

    pub(super) fn start_server(
        &mut self,
        partition: &str,
        name: &str,
        blade: Option<&str>,
        events: &mut Vec<Event>,
    ) -> Executed {
        let pid = self.partition_id(partition)?;
        let sid = self.server_id(pid, partition, name)?;
        let object = format!("server '{name}' in partition '{partition}'");
        let server = &self.servers[&sid];
        if let Some(f) = self.active_failover(sid) {
            return Err(StateError::InvalidTransition {
                object,
                state: format!("failing over ({})", f.phase),
                remedy: "the failover places it; wait until it ends (`panctl failover history`)"
                    .to_string(),
            });
        }
        match server.state {
            ServerState::Defined | ServerState::Failed => {}
            ServerState::Running | ServerState::Starting => {
                return Err(StateError::InvalidTransition {
                    object,
                    state: server.state.to_string(),
                    remedy: "it is already placed; stop it first to move it".to_string(),
                });
            }
            ServerState::Stopping => {
                return Err(StateError::InvalidTransition {
                    object,
                    state: server.state.to_string(),
                    remedy: "wait until it has stopped, then start it".to_string(),
                });
            }
        }
        for vid in server.all_volumes() {
            let v = &self.volumes[&vid];
            if let Some(op) = &v.op {
                return Err(StateError::InvalidTransition {
                    object: format!("volume '{}' in partition '{partition}'", v.name),
                    state: op.state().to_string(),
                    remedy: format!(
                        "wait until it is ready (`panctl volume show {} --partition {partition}`), then start the server",
                        v.name
                    ),
                });
            }
        }
        if self.servers[&sid].blade.is_none() {
            self.check_quota(pid, &partitions::QuotaRequest::blade())?;
        }
        let bid = match blade {
            Some(b) => {
                let bid = self.blade_id(b)?;
                if let Some(reason) = self.unfit(&self.blades[&bid], sid) {
                    return Err(StateError::NoQualifyingBlade {
                        server: object,
                        detail: format!("{b}: {reason}"),
                    });
                }
                bid
            }
            None => self.choose_blade(sid)?,
        };
        self.place(sid, bid);
        push(
            events,
            "server.starting",
            format!("server/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Server(sid))
    }

    /// Places `sid` on `bid` with a new generation: `starting`, the blade
    /// allocated. The caller checked the blade fits.
    pub(super) fn place(&mut self, sid: ServerId, bid: BladeId) {
        let generation = self.next_generation.max(self.servers[&sid].generation + 1);
        self.next_generation = generation + 1;
        let server = self.servers.get_mut(&sid).expect("caller looked it up");
        server.state = ServerState::Starting;
        server.blade = Some(bid);
        server.generation = generation;
        server.last_error = None;
        let pid = server.partition;
        self.index.transitioning.insert(sid);
        self.index
            .partition_placed
            .entry(pid)
            .or_default()
            .insert(sid);
        let blade = self.blades.get_mut(&bid).expect("caller chose it");
        blade.state = BladeState::Allocated;
        blade.server = Some(sid);
    }

    /// Looks up a server and checks a report is about its current placement.
    fn current(
        &self,
        partition: &str,
        name: &str,
        generation: u64,
        expect: ServerState,
    ) -> Result<ServerId, StateError> {
        let pid = self.partition_id(partition)?;
        let sid = self.server_id(pid, partition, name)?;
        let s = &self.servers[&sid];
        if s.generation != generation || s.state != expect {
            return Err(StateError::InvalidTransition {
                object: format!(
                    "server '{name}' in partition '{partition}' (generation {})",
                    s.generation
                ),
                state: s.state.to_string(),
                remedy: format!(
                    "this report about generation {generation} while {expect} is stale; nothing changed"
                ),
            });
        }
        Ok(sid)
    }

    pub(super) fn server_running(
        &mut self,
        partition: &str,
        name: &str,
        generation: u64,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let sid = self.current(partition, name, generation, ServerState::Starting)?;
        let server = self.servers.get_mut(&sid).expect("current");
        server.state = ServerState::Running;
        if server.blade == server.home_blade {
            server.home_blade = None; // back home
        }
        self.index.transitioning.remove(&sid);
        self.failover_running(sid, at_ms);
        push(
            events,
            "server.running",
            format!("server/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Server(sid))
    }

    /// Frees the server's blade and puts the server in `state`.
    fn release(&mut self, sid: ServerId, state: ServerState, error: Option<String>) {
        self.index.transitioning.remove(&sid);
        let server = self.servers.get_mut(&sid).expect("caller looked it up");
        server.state = state;
        server.last_error = error;
        if let Some(set) = self.index.partition_placed.get_mut(&server.partition) {
            set.remove(&sid);
        }
        if let Some(bid) = server.blade.take()
            && let Some(blade) = self.blades.get_mut(&bid)
        {
            blade.server = None;
            if blade.state == BladeState::Allocated {
                blade.state = BladeState::Available;
                self.spare_epoch += 1;
            }
        }
    }

    pub(super) fn server_start_failed(
        &mut self,
        partition: &str,
        name: &str,
        generation: u64,
        reason: &str,
        events: &mut Vec<Event>,
    ) -> Executed {
        let sid = self.current(partition, name, generation, ServerState::Starting)?;
        // Free text from drivers: printable and bounded.
        let reason = super::failover::bounded(reason);
        let blade = self.servers[&sid].blade;
        self.release(sid, ServerState::Failed, Some(reason.clone()));
        if let Some(blade) = blade {
            self.failover_start_failed(sid, blade, &reason);
        }
        push(
            events,
            "server.start_failed",
            format!("server/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Server(sid))
    }

    pub(super) fn stop_server(
        &mut self,
        partition: &str,
        name: &str,
        events: &mut Vec<Event>,
    ) -> Executed {
        let pid = self.partition_id(partition)?;
        let sid = self.server_id(pid, partition, name)?;
        let s = &self.servers[&sid];
        if let Some(f) = self.active_failover(sid) {
            return Err(StateError::InvalidTransition {
                object: format!("server '{name}' in partition '{partition}'"),
                state: format!("failing over ({})", f.phase),
                remedy: "wait until its failover ends (`panctl failover history`), then stop it"
                    .to_string(),
            });
        }
        match s.state {
            ServerState::Running | ServerState::Starting => {}
            ServerState::Stopping => return Ok(Made::Server(sid)),
            ServerState::Defined | ServerState::Failed => {
                return Err(StateError::InvalidTransition {
                    object: format!("server '{name}' in partition '{partition}'"),
                    state: s.state.to_string(),
                    remedy: "it is not running; nothing to stop".to_string(),
                });
            }
        }
        self.servers.get_mut(&sid).expect("looked up").state = ServerState::Stopping;
        self.index.transitioning.insert(sid);
        push(
            events,
            "server.stopping",
            format!("server/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Server(sid))
    }

    pub(super) fn server_stopped(
        &mut self,
        partition: &str,
        name: &str,
        generation: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let sid = self.current(partition, name, generation, ServerState::Stopping)?;
        self.release(sid, ServerState::Defined, None);
        // A planned move (failback): placed on its target at once, so an
        // interrupted move is finished by whichever leader comes next.
        if let Some(to) = self.servers.get_mut(&sid).and_then(|s| s.move_to.take())
            && self.unfit(&self.blades[&to], sid).is_none()
        {
            self.place(sid, to);
            push(
                events,
                "server.moving",
                format!("server/{partition}/{name}"),
                Some(partition),
            );
            return Ok(Made::Server(sid));
        }
        push(
            events,
            "server.stopped",
            format!("server/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Server(sid))
    }

    /// Servers the controller must drive (starting or stopping).
    pub fn pending_server_work(&self) -> Vec<ServerWork> {
        self.index
            .transitioning
            .iter()
            .filter_map(|id| self.server_work(*id))
            .collect()
    }

    /// The work record of one placed server.
    pub fn server_work(&self, id: ServerId) -> Option<ServerWork> {
        let s = self.servers.get(&id)?;
        let blade = s.blade.and_then(|b| self.blades.get(&b))?;
        let view = self.server_view(id);
        Some(ServerWork {
            partition: view.partition,
            name: view.name,
            state: s.state,
            generation: s.generation,
            blade: blade.name.clone(),
            blade_macs: blade
                .facts
                .as_ref()
                .map(|f| f.macs.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            identity: view.identity,
            boot_volume: view.boot_volume,
            blade_id: blade.id,
            volumes: s
                .all_volumes()
                .map(|v| super::VolumeWork {
                    id: v,
                    name: self.volumes[&v].name.clone(),
                })
                .collect(),
            nics: view
                .nics
                .into_iter()
                .map(|n| NicWork {
                    mac: n.mac,
                    vni: n.network_id,
                })
                .collect(),
        })
    }

    /// The work records of every running server (what failure detection
    /// watches), without building any view of the rest.
    pub fn running_server_work(&self) -> Vec<ServerWork> {
        self.placed_servers()
            .filter(|s| s.state == ServerState::Running)
            .filter_map(|s| self.server_work(s.id))
            .collect()
    }

    /// The servers placed on a blade, in blade order. Walks the blades, not
    /// the servers: a fabric has a few thousand blades but may define far
    /// more servers than it runs, and the controller asks this often.
    pub(super) fn placed_servers(&self) -> impl Iterator<Item = &super::model::Server> {
        self.blades
            .values()
            .filter_map(|b| b.server)
            .filter_map(|id| self.servers.get(&id).map(AsRef::as_ref))
    }

    /// The desired identity of the server placed on `blade`, if any.
    pub fn placed_on(&self, blade: &str) -> Option<ServerWork> {
        let id = self.index.blade_by_name.get(blade)?;
        self.server_work(self.blades[id].server?)
    }

    /// Every blade's BMC, for the poller.
    pub fn bmc_targets(&self) -> Vec<BmcTarget> {
        self.blades
            .values()
            .filter(|b| b.state != BladeState::Retired)
            .filter_map(|b| {
                Some(BmcTarget {
                    blade: b.name.clone(),
                    url: b.bmc.url.clone(),
                    user: b.bmc.user.clone(),
                    password: self.credentials.get(&b.bmc.credential)?.clone(),
                    power: b.power,
                    health: b.health,
                })
            })
            .collect()
    }

    /// One blade's BMC, for drivers.
    pub fn bmc_target(&self, blade: &str) -> Result<BmcTarget, StateError> {
        let id = self.blade_id(blade)?;
        let b = &self.blades[&id];
        Ok(BmcTarget {
            blade: b.name.clone(),
            url: b.bmc.url.clone(),
            user: b.bmc.user.clone(),
            password: self.bmc_password(blade)?.clone(),
            power: b.power,
            health: b.health,
        })
    }
}
