//! N+1 failover, as recorded intent: a blade judged failed starts a
//! failover of its server (`BladeSuspect`), the fence is confirmed and
//! recorded (`BladeFenced`, or by an operator with `ConfirmFenced`) before
//! anything else happens, the highest-priority failover awaiting a spare is
//! given one (`TakeOver`), and the ordinary start path boots the identity
//! there (`ServerRunning` ends the failover). Every step is a command, so a
//! new leader resumes from the last recorded step; every step's time is
//! kept for the phase durations.
//!
//! Invariant: a server is placed on a new blade only after the failover's
//! fence is recorded, so at no instant may two blades carry one identity.
//! Still pure: detection and fencing I/O live in the controller.

use super::push_event as push;
use super::{
    Blade, BladeState, Event, Executed, Failover, FailoverPhase, Made, ServerState, State,
    StateError,
};
use pan_api::{BladeId, ServerId};

/// How many finished failovers the state keeps for `failover history`.
pub const FAILOVER_HISTORY: usize = 1000;

/// A failover as the API shows it, names resolved.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailoverView {
    pub id: u64,
    pub server: String,
    pub partition: String,
    pub from_blade: String,
    pub to_blade: Option<String>,
    pub phase: String,
    pub reason: String,
    pub error: Option<String>,
    pub confirmed_by: Option<String>,
    pub started_at_ms: u64,
    pub detect_ms: u64,
    pub fence_ms: u64,
    pub select_ms: u64,
    pub boot_ms: u64,
    pub total_ms: u64,
}

/// A running server without a qualifying spare right now.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Uncovered {
    pub server: String,
    pub partition: String,
    pub reason: String,
}

/// What the controller must fence: one blade per failover in `Fencing`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceWork {
    pub failover: u64,
    pub blade: String,
    pub blade_id: BladeId,
    /// The server's work record (volumes to revoke, host NQN).
    pub server: super::ServerWork,
}

/// Free text from drivers and operators, made printable and at most 1 KiB.
pub(super) fn bounded(text: &str) -> String {
    let mut t: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if t.len() > 1024 {
        let mut cut = 1024;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
        t.push('…');
    }
    t
}

impl State {
    /// A failover event about `server`: its object and partition.
    fn push_server_event(&self, events: &mut Vec<Event>, kind: &str, server: ServerId) {
        let s = &self.servers[&server];
        let partition = &self.partitions[&s.partition].name;
        push(
            events,
            kind,
            format!("server/{partition}/{}", s.name),
            Some(partition),
        );
    }

    /// The failover in progress for a server, if any.
    pub(super) fn active_failover(&self, server: ServerId) -> Option<&Failover> {
        let id = self.index.failover_of_server.get(&server)?;
        self.failovers.get(id)
    }

    fn failover_of_blade(&self, blade: BladeId) -> Option<u64> {
        self.index.failover_of_server.values().copied().find(|id| {
            self.failovers.get(id).is_some_and(|f| {
                f.from_blade == blade
                    && matches!(f.phase, FailoverPhase::Fencing | FailoverPhase::FenceFailed)
            })
        })
    }

    pub(super) fn blade_suspect(
        &mut self,
        name: &str,
        reason: &str,
        silent_ms: u64,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let bid = self.blade_id(name)?;
        let blade = &self.blades[&bid];
        if !matches!(blade.state, BladeState::Allocated | BladeState::Available) {
            return Err(StateError::InvalidTransition {
                object: format!("blade '{name}'"),
                state: blade.state.to_string(),
                remedy: "it is already out of service; nothing to judge".to_string(),
            });
        }
        let reason = bounded(reason);
        let server = blade.server.filter(|sid| {
            matches!(
                self.servers[sid].state,
                ServerState::Running | ServerState::Starting
            )
        });
        let Some(sid) = server else {
            // Nothing runs there: just take it out of service.
            self.blades.get_mut(&bid).expect("looked up").state = BladeState::Failed;
            push(events, "blade.failed", format!("blade/{name}"), None);
            return Ok(Made::Blade(bid));
        };
        let id = self.alloc_id();
        self.failovers.insert(
            id,
            Failover {
                id,
                server: sid,
                from_blade: bid,
                to_blade: None,
                phase: FailoverPhase::Fencing,
                reason: reason.clone(),
                error: None,
                confirmed_by: None,
                silent_ms,
                detected_at_ms: at_ms,
                fenced_at_ms: None,
                selected_at_ms: None,
                running_at_ms: None,
                tried_epoch: None,
                preempted_for: None,
                waiting_for: None,
            },
        );
        self.index.failover_of_server.insert(sid, id);
        self.index.transitioning.remove(&sid);
        let server = self.servers.get_mut(&sid).expect("placed here");
        server.state = ServerState::Failed;
        server.last_error = Some(format!("blade '{name}' failed: {reason}"));
        self.blades.get_mut(&bid).expect("looked up").state = BladeState::Failed;
        self.push_server_event(events, "failover.detected", sid);
        Ok(Made::Blade(bid))
    }

    pub(super) fn fence_done(
        &mut self,
        name: &str,
        confirmed_by: Option<&str>,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let bid = self.blade_id(name)?;
        let Some(id) = self.failover_of_blade(bid) else {
            let blade = &self.blades[&bid];
            // An operator may fence an empty failed blade too.
            if confirmed_by.is_some() && blade.server.is_none() && blade.state == BladeState::Failed
            {
                self.blades.get_mut(&bid).expect("looked up").state = BladeState::Fenced;
                push(events, "blade.fenced", format!("blade/{name}"), None);
                return Ok(Made::Blade(bid));
            }
            return Err(StateError::InvalidTransition {
                object: format!("blade '{name}'"),
                state: blade.state.to_string(),
                remedy: "no failover waits for this blade's fence".to_string(),
            });
        };
        let sid = self.failovers[&id].server;
        // Off the old blade: the identity is free to move.
        if let Some(set) = self
            .index
            .partition_placed
            .get_mut(&self.servers[&sid].partition)
        {
            set.remove(&sid);
        }
        self.servers.get_mut(&sid).expect("failover's server").blade = None;
        let preempted = self.failovers[&id].preempted_for.is_some();
        let blade = self.blades.get_mut(&bid).expect("looked up");
        blade.server = None;
        if preempted {
            // A healthy blade freed for a higher-priority server: a spare.
            blade.state = BladeState::Available;
            self.spare_epoch += 1;
        } else {
            blade.state = BladeState::Fenced;
        }
        let f = self.failovers.get_mut(&id).expect("found above");
        f.phase = FailoverPhase::AwaitingSpare;
        f.fenced_at_ms = Some(at_ms);
        f.confirmed_by = confirmed_by.map(str::to_string);
        f.error = None;
        self.push_server_event(events, "failover.fenced", sid);
        Ok(Made::Blade(bid))
    }

    pub(super) fn fence_failed(
        &mut self,
        name: &str,
        reason: &str,
        events: &mut Vec<Event>,
    ) -> Executed {
        let bid = self.blade_id(name)?;
        let id = self
            .failover_of_blade(bid)
            .filter(|id| self.failovers[id].phase == FailoverPhase::Fencing)
            .ok_or_else(|| StateError::InvalidTransition {
                object: format!("blade '{name}'"),
                state: self.blades[&bid].state.to_string(),
                remedy: "no failover is fencing this blade".to_string(),
            })?;
        let f = self.failovers.get_mut(&id).expect("found above");
        f.phase = FailoverPhase::FenceFailed;
        f.error = Some(bounded(reason));
        let sid = f.server;
        self.push_server_event(events, "alert.fence_failed", sid);
        Ok(Made::Blade(bid))
    }

    /// The failover that should get a spare next: the highest priority,
    /// then the oldest, among those not yet told "no spare" at this epoch.
    /// A failover still fencing holds back lower-priority ones: when several
    /// blades fail together, the most important server is served first even
    /// if its fence takes longer.
    fn next_takeover(&self) -> Option<u64> {
        let active = || {
            self.index
                .failover_of_server
                .values()
                .filter_map(|id| self.failovers.get(id))
        };
        let fencing_priority = active()
            .filter(|f| f.phase == FailoverPhase::Fencing)
            .map(|f| self.servers[&f.server].priority)
            .max();
        active()
            .filter(|f| {
                f.phase == FailoverPhase::AwaitingSpare && f.tried_epoch != Some(self.spare_epoch)
            })
            .filter(|f| fencing_priority.is_none_or(|p| self.servers[&f.server].priority >= p))
            .filter(|f| {
                f.waiting_for.is_none_or(|w| {
                    self.failovers.get(&w).is_none_or(|v| {
                        !matches!(v.phase, FailoverPhase::Fencing | FailoverPhase::FenceFailed)
                    })
                })
            })
            .max_by_key(|f| (self.servers[&f.server].priority, std::cmp::Reverse(f.id)))
            .map(|f| f.id)
    }

    /// Whether a `TakeOver` would do something now.
    pub fn takeover_pending(&self) -> bool {
        self.next_takeover().is_some()
    }

    /// Why `blade` cannot take `server`'s failover, or `None`.
    fn unfit_spare(&self, blade: &Blade, server: ServerId) -> Option<String> {
        let s = &self.servers[&server];
        if let Some(pool) = s.failover_pool
            && blade.pool != Some(pool)
        {
            return Some(format!(
                "not in failover pool '{}'",
                self.pools.get(&pool).map_or("?", |p| p.name.as_str())
            ));
        }
        self.unfit(blade, server)
    }

    /// The best spare for `server` (same order as the placement planner),
    /// or why there is none.
    pub(super) fn choose_spare(&self, server: ServerId) -> Result<BladeId, String> {
        self.best_fit(|blade| self.unfit_spare(blade, server))
    }

    pub(super) fn take_over(&mut self, at_ms: u64, events: &mut Vec<Event>) -> Executed {
        let Some(id) = self.next_takeover() else {
            return Err(StateError::InvalidTransition {
                object: "failover".to_string(),
                state: "idle".to_string(),
                remedy: "no failover awaits a spare".to_string(),
            });
        };
        let sid = self.failovers[&id].server;
        let path = self.server_path(sid);
        let spare = self.choose_spare(sid);
        let victim = match &spare {
            Err(_) if self.servers[&sid].preempt => self.choose_victim(sid),
            _ => None,
        };
        match (spare, victim) {
            (Err(_), Some((victim, vblade))) => {
                let vid = self.alloc_id();
                let me = format!(
                    "preempted for {path} (priority {} over {})",
                    self.servers[&sid].priority, self.servers[&victim].priority
                );
                self.failovers.insert(
                    vid,
                    Failover {
                        id: vid,
                        server: victim,
                        from_blade: vblade,
                        to_blade: None,
                        phase: FailoverPhase::Fencing,
                        reason: me.clone(),
                        error: None,
                        confirmed_by: None,
                        silent_ms: 0,
                        detected_at_ms: at_ms,
                        fenced_at_ms: None,
                        selected_at_ms: None,
                        running_at_ms: None,
                        tried_epoch: None,
                        preempted_for: Some(sid),
                        waiting_for: None,
                    },
                );
                self.index.failover_of_server.insert(victim, vid);
                self.index.transitioning.remove(&victim);
                let v = self.servers.get_mut(&victim).expect("chosen");
                v.state = ServerState::Failed;
                v.last_error = Some(me);
                self.blades.get_mut(&vblade).expect("chosen").state = BladeState::Failed;
                let note = format!(
                    "no free spare; preempting {} on blade '{}'",
                    self.server_path(victim),
                    self.blades[&vblade].name
                );
                let f = self.failovers.get_mut(&id).expect("found above");
                f.waiting_for = Some(vid);
                f.error = Some(note);
                self.push_server_event(events, "failover.preempting", sid);
                Ok(Made::Done)
            }
            (Err(why), None) => {
                let f = self.failovers.get_mut(&id).expect("found above");
                f.tried_epoch = Some(self.spare_epoch);
                f.error = Some(format!("no qualifying spare: {why}"));
                self.push_server_event(events, "alert.no_spare", sid);
                Ok(Made::Done)
            }
            (Ok(bid), _) => {
                // The quota counts blades in use; a failover moves one, so
                // it neither grows nor is refused by it.
                self.place(sid, bid);
                let from = self.failovers[&id].from_blade;
                let server = self.servers.get_mut(&sid).expect("failover's server");
                // Home stays the first blade it failed from.
                if server.home_blade.is_none() && self.failovers[&id].preempted_for.is_none() {
                    server.home_blade = Some(from);
                }
                let f = self.failovers.get_mut(&id).expect("found above");
                f.phase = FailoverPhase::Booting;
                f.to_blade = Some(bid);
                f.selected_at_ms = Some(at_ms);
                f.error = None;
                self.push_server_event(events, "failover.placed", sid);
                Ok(Made::Server(sid))
            }
        }
    }

    /// A running, lower-priority server whose blade would qualify as a
    /// spare for `server`: the lowest priority first, then the best fit.
    fn choose_victim(&self, server: ServerId) -> Option<(ServerId, BladeId)> {
        let me = &self.servers[&server];
        self.placed_servers()
            .filter(|v| {
                v.id != server
                    && v.state == ServerState::Running
                    && v.priority < me.priority
                    && self.active_failover(v.id).is_none()
            })
            .filter_map(|v| {
                let blade = self.blades.get(&v.blade?)?;
                if let Some(pool) = me.failover_pool
                    && blade.pool != Some(pool)
                {
                    return None;
                }
                if blade.health == super::Health::Critical {
                    return None;
                }
                // A dedicated pool's blade is never freed for another
                // partition, nor an owner's server put on a shared one.
                if self.dedication_conflict(blade, me.partition).is_some() {
                    return None;
                }
                let facts = blade.facts.as_ref()?;
                if me.requirements.unmet_by(facts).is_some() {
                    return None;
                }
                Some((v.priority, facts.cores, facts.memory_gib, v.id, blade.id))
            })
            .min()
            .map(|(_, _, _, v, b)| (v, b))
    }

    /// The start path's hook: the failover of `server` ends when it runs.
    pub(super) fn failover_running(&mut self, server: ServerId, at_ms: u64) {
        let Some(&id) = self.index.failover_of_server.get(&server) else {
            return;
        };
        let Some(f) = self.failovers.get_mut(&id) else {
            return;
        };
        if f.phase != FailoverPhase::Booting {
            return;
        }
        f.phase = FailoverPhase::Done;
        f.running_at_ms = Some(at_ms);
        self.index.failover_of_server.remove(&server);
        self.trim_failovers();
    }

    /// The start path's hook: the spare did not boot. The failover waits
    /// for another spare; the spare is taken out of service (a blade that
    /// cannot boot a healthy identity needs a look).
    pub(super) fn failover_start_failed(&mut self, server: ServerId, blade: BladeId, why: &str) {
        let Some(&id) = self.index.failover_of_server.get(&server) else {
            return;
        };
        let Some(f) = self.failovers.get_mut(&id) else {
            return;
        };
        if f.phase != FailoverPhase::Booting {
            return;
        }
        f.phase = FailoverPhase::AwaitingSpare;
        f.to_blade = None;
        f.selected_at_ms = None;
        f.error = Some(format!("the spare did not boot: {}", bounded(why)));
        if let Some(b) = self.blades.get_mut(&blade)
            && b.server.is_none()
        {
            b.state = BladeState::Failed;
        }
    }

    fn trim_failovers(&mut self) {
        while self.failovers.len() > FAILOVER_HISTORY {
            let oldest_done = self
                .failovers
                .values()
                .find(|f| f.phase == FailoverPhase::Done)
                .map(|f| f.id);
            match oldest_done {
                Some(id) => {
                    self.failovers.remove(&id);
                }
                None => break,
            }
        }
    }

    pub(super) fn repair_blade(&mut self, name: &str, events: &mut Vec<Event>) -> Executed {
        let bid = self.blade_id(name)?;
        let blade = &self.blades[&bid];
        if self.failover_of_blade(bid).is_some() {
            return Err(StateError::InvalidTransition {
                object: format!("blade '{name}'"),
                state: blade.state.to_string(),
                remedy: "its failover is not fenced yet; let the fence finish or confirm it \
                         (`panctl blade confirm-fenced`) first"
                    .to_string(),
            });
        }
        if !matches!(
            blade.state,
            BladeState::Failed | BladeState::Fenced | BladeState::Maintenance
        ) || blade.server.is_some()
        {
            return Err(StateError::InvalidTransition {
                object: format!("blade '{name}'"),
                state: blade.state.to_string(),
                remedy: "only a failed, fenced or maintenance blade without a server is repaired"
                    .to_string(),
            });
        }
        let blade = self.blades.get_mut(&bid).expect("looked up");
        blade.state = if blade.facts.is_some() {
            BladeState::Available
        } else {
            BladeState::Discovered
        };
        self.spare_epoch += 1;
        push(events, "blade.repaired", format!("blade/{name}"), None);
        Ok(Made::Blade(bid))
    }

    pub(super) fn set_maintenance(&mut self, name: &str, events: &mut Vec<Event>) -> Executed {
        let bid = self.blade_id(name)?;
        let blade = &self.blades[&bid];
        if let Some(sid) = blade.server {
            return Err(StateError::InUse {
                object: format!("blade '{name}'"),
                users: format!("server {}", self.server_path(sid)),
                remedy: "drain it (`panctl blade drain`) to move the server first".to_string(),
            });
        }
        if !matches!(blade.state, BladeState::Available | BladeState::Discovered) {
            return Err(StateError::InvalidTransition {
                object: format!("blade '{name}'"),
                state: blade.state.to_string(),
                remedy: "only an idle blade in service goes to maintenance".to_string(),
            });
        }
        self.blades.get_mut(&bid).expect("looked up").state = BladeState::Maintenance;
        push(events, "blade.maintenance", format!("blade/{name}"), None);
        Ok(Made::Blade(bid))
    }

    /// Failovers waiting for their fence, for the controller.
    pub fn pending_fences(&self) -> Vec<FenceWork> {
        self.index
            .failover_of_server
            .values()
            .filter_map(|id| self.failovers.get(id))
            .filter(|f| f.phase == FailoverPhase::Fencing)
            .filter_map(|f| {
                let blade = self.blades.get(&f.from_blade)?;
                Some(FenceWork {
                    failover: f.id,
                    blade: blade.name.clone(),
                    blade_id: blade.id,
                    server: self.server_work(f.server)?,
                })
            })
            .collect()
    }

    /// Failovers, newest first.
    pub fn failover_history(&self, limit: usize) -> Vec<FailoverView> {
        self.failovers
            .values()
            .rev()
            .take(limit)
            .map(|f| self.failover_view(f))
            .collect()
    }

    fn failover_view(&self, f: &Failover) -> FailoverView {
        let server = self.servers.get(&f.server);
        let blade_name = |b: BladeId| {
            self.blades
                .get(&b)
                .map_or_else(|| b.to_string(), |b| b.name.clone())
        };
        let since = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        let detected = Some(f.detected_at_ms);
        FailoverView {
            id: f.id,
            server: server.map_or_else(|| f.server.to_string(), |s| s.name.clone()),
            partition: server
                .and_then(|s| self.partitions.get(&s.partition))
                .map_or_else(String::new, |p| p.name.clone()),
            from_blade: blade_name(f.from_blade),
            to_blade: f.to_blade.map(blade_name),
            phase: f.phase.to_string(),
            reason: f.reason.clone(),
            error: f.error.clone(),
            confirmed_by: f.confirmed_by.clone(),
            started_at_ms: f.detected_at_ms.saturating_sub(f.silent_ms),
            detect_ms: f.silent_ms,
            fence_ms: since(detected, f.fenced_at_ms),
            select_ms: since(f.fenced_at_ms, f.selected_at_ms),
            boot_ms: since(f.selected_at_ms, f.running_at_ms),
            total_ms: match f.running_at_ms {
                Some(r) => f.silent_ms + r.saturating_sub(f.detected_at_ms),
                None => 0,
            },
        }
    }

    /// Running servers without a qualifying spare right now.
    pub fn coverage(&self) -> (u32, Vec<Uncovered>) {
        let mut running = 0u32;
        let mut uncovered = Vec::new();
        for s in self.servers.values() {
            if s.state != ServerState::Running {
                continue;
            }
            running += 1;
            if let Err(why) = self.choose_spare(s.id) {
                uncovered.push(Uncovered {
                    server: s.name.clone(),
                    partition: self.partitions[&s.partition].name.clone(),
                    reason: why,
                });
            }
        }
        (running, uncovered)
    }

    /// The placement planner, never choosing `except` (a planned move).
    pub fn choose_blade_except(
        &self,
        server: ServerId,
        except: BladeId,
    ) -> Result<BladeId, String> {
        self.best_fit(|blade| {
            if blade.id == except {
                Some("it is the server's current blade".to_string())
            } else {
                self.unfit(blade, server)
            }
        })
    }

    /// A blade's name by id.
    pub fn blade_name(&self, id: BladeId) -> String {
        self.blades
            .get(&id)
            .map_or_else(|| id.to_string(), |b| b.name.clone())
    }

    /// A server's id by partition and name, for the API.
    pub fn server_id_of(&self, partition: &str, name: &str) -> Result<ServerId, StateError> {
        let pid = self.partition_id(partition)?;
        self.server_id(pid, partition, name)
    }
}
