//! The runtime shell of one blade: its locked [`BmcState`], its running OS
//! instance, timers, and the ground-truth records of what it does.
//!
//! Every entry point follows one pattern: lock, `advance` the model to now,
//! do the step, append ground-truth records (still under the lock, so a
//! blade's records are in order), unlock, then carry out the effects
//! (start/stop the OS, arm timers) outside the lock — the OS hook may call
//! back into the blade.

use crate::control::BladeStatus;
use crate::error::Error;
use crate::ground_truth::rfc3339_millis;
use crate::ground_truth::{GroundTruth, GroundTruthEvent};
use crate::model::nvme_boot::{BOOT_FAILED, BootCheck, check_boot};
use crate::model::{
    BladeInfo, BmcState, BootSettings, Credentials, Effect, FaultAction, Health, PowerState,
    ResetType, Transition,
};
use crate::os::{
    AgentApplied, AppliedIdentity, BladeOs, BootContext, HostHandle, LinkState, RunningOs,
};
use crate::redfish::{self, RedfishRequest, RedfishResponse};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// What all blades of a rack share.
pub(crate) struct RackShared {
    pub(crate) account: Credentials,
    pub(crate) ground_truth: Arc<GroundTruth>,
    pub(crate) os: Arc<dyn BladeOs>,
    /// Set when the rack shuts down: releases hung requests.
    pub(crate) shutdown: watch::Sender<bool>,
    /// The rack's runtime, for timers armed from any thread.
    pub(crate) runtime: tokio::runtime::Handle,
    /// The storage target's nvmet configfs root NVMe/TCP boots are checked
    /// against (`None`: such boots fail).
    pub(crate) nvmet_root: Option<PathBuf>,
}

struct OsSlot {
    epoch: u64,
    os: Box<dyn RunningOs>,
}

/// One blade and its BMC.
pub(crate) struct BladeCell {
    pub(crate) info: BladeInfo,
    state: Mutex<BmcState>,
    os: Mutex<Option<OsSlot>>,
    /// What the running OS's agent last reported applied.
    applied: Mutex<Option<AgentApplied>>,
    link: LinkState,
    /// Bumped on every change of power, health, boot settings or faults.
    changed: watch::Sender<u64>,
    shared: Arc<RackShared>,
    /// Redfish requests this BMC has received (for load and polling checks).
    requests: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for BladeCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BladeCell")
            .field("blade", &self.info.name)
            .finish()
    }
}

/// Locks a mutex, surviving poisoning (the guarded values stay consistent:
/// every mutation is a single model call).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl BladeCell {
    pub(crate) fn new(info: BladeInfo, state: BmcState, shared: Arc<RackShared>) -> BladeCell {
        BladeCell {
            info,
            state: Mutex::new(state),
            os: Mutex::new(None),
            applied: Mutex::new(None),
            link: LinkState::new(),
            changed: watch::Sender::new(0),
            shared,
            requests: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Records a transition's facts while the blade is locked and returns
    /// the effects to run after unlocking.
    fn commit(&self, st: &BmcState, t: Transition) -> Vec<Effect> {
        let gt = &self.shared.ground_truth;
        let blade = &self.info.name;
        let now = Instant::now();
        for c in &t.changes {
            gt.record(
                GroundTruthEvent::Power {
                    blade: blade.clone(),
                    from: c.from,
                    to: c.to,
                    cause: c.cause,
                },
                c.at,
            );
        }
        if let Some((from, to)) = t.health {
            gt.record(
                GroundTruthEvent::Health {
                    blade: blade.clone(),
                    from,
                    to,
                },
                now,
            );
        }
        for e in &t.effects {
            if let Effect::StartOs { epoch, boot } = e {
                gt.record(
                    GroundTruthEvent::Boot {
                        blade: blade.clone(),
                        epoch: *epoch,
                        boot: boot.clone(),
                    },
                    t.changes.last().map_or(now, |c| c.at),
                );
            }
        }
        self.link.set_up(!st.model.faults().link_cut);
        if !t.changes.is_empty() || t.health.is_some() || t.settings_changed {
            self.changed.send_modify(|v| *v += 1);
        }
        t.effects
    }

    /// Runs `step` on the locked, advanced state; commits and carries out
    /// its transition.
    fn step<R>(
        self: &Arc<Self>,
        step: impl FnOnce(&mut BmcState, Instant) -> (R, Transition),
    ) -> R {
        let now = Instant::now();
        let (out, effects) = {
            let mut st = lock(&self.state);
            let mut t = st.model.advance(now);
            let (out, t2) = step(&mut st, now);
            t.extend(t2);
            let effects = self.commit(&st, t);
            (out, effects)
        };
        self.run(effects);
        out
    }

    /// Applies due timers.
    pub(crate) fn tick(self: &Arc<Self>) {
        self.step(|_, _| ((), Transition::default()));
    }

    fn run(self: &Arc<Self>, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Wake(at) => {
                    let cell = Arc::downgrade(self);
                    self.shared.runtime.spawn(async move {
                        tokio::time::sleep_until(at).await;
                        if let Some(cell) = cell.upgrade() {
                            cell.tick();
                        }
                    });
                }
                Effect::StopOs { epoch } => {
                    let old = {
                        let mut slot = lock(&self.os);
                        if slot.as_ref().is_some_and(|s| s.epoch <= epoch) {
                            slot.take()
                        } else {
                            None
                        }
                    };
                    if let Some(old) = old {
                        old.os.stop();
                    }
                    if !self.is_current_os(epoch) {
                        *lock(&self.applied) = None;
                    }
                }
                Effect::CheckBoot { epoch, boot } => self.check_boot(epoch, boot),
                Effect::StartOs { epoch, boot } => {
                    let ctx = BootContext {
                        blade: self.info.clone(),
                        boot,
                        link: self.link.clone(),
                        host: HostHandle {
                            cell: Arc::downgrade(self),
                            blade: self.info.name.clone(),
                            epoch,
                        },
                    };
                    let os = self.shared.os.boot(ctx);
                    // Install it only if the blade has not lost power since.
                    let stale = {
                        let st = lock(&self.state);
                        if st.model.is_current_os(epoch) {
                            let mut slot = lock(&self.os);
                            slot.replace(OsSlot { epoch, os }).map(|s| s.os)
                        } else {
                            Some(os)
                        }
                    };
                    if let Some(stale) = stale {
                        stale.stop();
                    }
                }
            }
        }
    }

    /// Judges epoch `epoch`'s NVMe/TCP boot against the storage target's
    /// tree (read now, outside the lock) and hands the verdict to the model;
    /// a refusal is recorded in the ground truth.
    fn check_boot(self: &Arc<Self>, epoch: u64, boot: BootSettings) {
        let check = match &self.shared.nvmet_root {
            None => check_boot(&boot, None),
            Some(root) => match san::nvmet::read_tree(root) {
                Ok(tree) => check_boot(&boot, Some(&tree)),
                Err(e) => Some(BootCheck::Refused {
                    reason: format!(
                        "{BOOT_FAILED}: cannot read the storage target's tree at {}: {e}",
                        root.display()
                    ),
                }),
            },
        };
        let created = rfc3339_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        );
        let refused = match &check {
            Some(BootCheck::Refused { reason }) => Some(reason.clone()),
            _ => None,
        };
        let gt = Arc::clone(&self.shared.ground_truth);
        let blade = self.info.name.clone();
        self.step(move |st, now| {
            let t = st.model.boot_checked(epoch, boot.clone(), check, created);
            if let Some(reason) = refused
                && t.settings_changed
            {
                tracing::warn!(%blade, epoch, %reason, "boot failed");
                gt.record(
                    GroundTruthEvent::BootFailed {
                        blade,
                        epoch,
                        boot,
                        reason,
                    },
                    now,
                );
            }
            ((), t)
        });
    }

    /// Serves one BMC request, applying the fault gate first.
    pub(crate) async fn serve(self: &Arc<Self>, req: RedfishRequest) -> RedfishResponse {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut changed = self.changed.subscribe();
        let mut shutdown = self.shared.shutdown.subscribe();
        let delay = loop {
            let gate = self.step(|st, now| (st.model.faults().gate(now), Transition::default()));
            if !gate.hang {
                break gate.delay;
            }
            tokio::select! {
                _ = changed.changed() => {}
                _ = shutdown.wait_for(|s| *s) => {
                    return RedfishResponse::error(&redfish::RedfishError::injected(503, 1));
                }
            }
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let info = &self.info;
        let account = &self.shared.account;
        self.step(|st, now| match st.model.faults().gate(now).error {
            Some(e) => (RedfishResponse::error(&e), Transition::default()),
            None => redfish::handle(st, info, account, &req, now),
        })
    }

    /// `ComputerSystem.Reset` from inside the process.
    pub(crate) fn reset(self: &Arc<Self>, reset: ResetType) {
        self.step(|st, now| ((), st.model.reset(reset, now)));
    }

    pub(crate) fn fault(self: &Arc<Self>, action: &FaultAction) -> Result<BladeStatus, Error> {
        action.validate().map_err(|reason| Error::InvalidFault {
            blade: self.info.name.clone(),
            reason,
        })?;
        self.step(|st, now| {
            self.shared.ground_truth.record(
                GroundTruthEvent::Fault {
                    blade: self.info.name.clone(),
                    fault: action.clone(),
                },
                now,
            );
            ((), st.model.apply_fault(action, now))
        });
        Ok(self.status())
    }

    pub(crate) fn is_current_os(&self, epoch: u64) -> bool {
        lock(&self.state).model.is_current_os(epoch)
    }

    /// Runs `f` for OS instance `epoch` if it is still current.
    fn os_call(
        self: &Arc<Self>,
        epoch: u64,
        f: impl FnOnce(&mut BmcState, Instant) -> Transition,
    ) -> Result<(), Error> {
        self.step(|st, now| {
            if st.model.is_current_os(epoch) {
                (Ok(()), f(st, now))
            } else {
                (
                    Err(Error::OsStopped {
                        blade: self.info.name.clone(),
                    }),
                    Transition::default(),
                )
            }
        })
    }

    pub(crate) fn os_apply_identity(
        self: &Arc<Self>,
        epoch: u64,
        id: AppliedIdentity,
    ) -> Result<(), Error> {
        let gt = Arc::clone(&self.shared.ground_truth);
        let blade = self.info.name.clone();
        self.os_call(epoch, move |_, now| {
            gt.record(
                GroundTruthEvent::Identity {
                    blade,
                    uuid: id.uuid,
                    macs: id.macs,
                    host_nqn: id.host_nqn,
                    generation: id.generation,
                    term: id.term,
                },
                now,
            );
            Transition::default()
        })
    }

    pub(crate) fn os_clear_identity(self: &Arc<Self>, epoch: u64) -> Result<(), Error> {
        let gt = Arc::clone(&self.shared.ground_truth);
        let blade = self.info.name.clone();
        self.os_call(epoch, move |_, now| {
            gt.record(GroundTruthEvent::IdentityCleared { blade }, now);
            Transition::default()
        })
    }

    pub(crate) fn os_report_applied(
        self: &Arc<Self>,
        epoch: u64,
        applied: Option<AgentApplied>,
    ) -> Result<(), Error> {
        self.os_call(epoch, |_, _| {
            *lock(&self.applied) = applied;
            Transition {
                settings_changed: true,
                ..Transition::default()
            }
        })
    }

    pub(crate) fn os_set_health(self: &Arc<Self>, epoch: u64, health: Health) -> Result<(), Error> {
        self.os_call(epoch, |st, _| st.model.set_health(health))
    }

    pub(crate) fn status(&self) -> BladeStatus {
        let now = Instant::now();
        let st = lock(&self.state);
        let m = &st.model;
        BladeStatus {
            name: self.info.name.clone(),
            index: self.info.index,
            bmc: self.info.bmc_addr,
            power: m.power(),
            health: m.health(),
            os_running: m.os_running(),
            os_epoch: m.epoch(),
            link_up: !m.faults().link_cut,
            uuid: self.info.uuid.clone(),
            serial: self.info.serial.clone(),
            macs: self.info.macs.clone(),
            boot: m.boot().clone(),
            sessions: st.sessions.len(),
            requests: self.requests.load(std::sync::atomic::Ordering::Relaxed),
            faults: m.faults().view(now),
            boot_failure: m.boot_failure().map(str::to_owned),
            booted_target: m.booted_target().map(str::to_owned),
            applied: lock(&self.applied).clone(),
        }
    }

    /// Stops the running OS (rack shutdown).
    pub(crate) fn stop_os(&self) {
        let old = lock(&self.os).take();
        if let Some(old) = old {
            old.os.stop();
        }
    }
}

/// A blade of a running rack, for in-process use (tests, embedding).
#[derive(Clone, Debug)]
pub struct BladeHandle {
    pub(crate) cell: Arc<BladeCell>,
}

impl BladeHandle {
    /// `blade-001`, …
    pub fn name(&self) -> &str {
        &self.cell.info.name
    }

    /// The blade's fixed facts.
    pub fn info(&self) -> &BladeInfo {
        &self.cell.info
    }

    /// Where its BMC listens.
    pub fn bmc_addr(&self) -> SocketAddr {
        self.cell.info.bmc_addr
    }

    /// `http://127.0.0.1:8401`: the BMC's base URL (append Redfish paths).
    pub fn bmc_url(&self) -> String {
        format!("http://{}", self.cell.info.bmc_addr)
    }

    /// Power, health, faults, … now (applies due timers first).
    pub fn status(&self) -> BladeStatus {
        self.cell.tick();
        self.cell.status()
    }

    pub fn power(&self) -> PowerState {
        self.status().power
    }

    pub fn health(&self) -> Health {
        self.status().health
    }

    /// The blade's link-to-manager flag (the one its OS sees).
    pub fn link(&self) -> LinkState {
        self.cell.link.clone()
    }

    /// Resets the blade as a Redfish client would (same state machine).
    pub fn reset(&self, reset: ResetType) {
        self.cell.reset(reset);
    }

    /// Turns a fault knob.
    pub fn fault(&self, action: FaultAction) -> Result<BladeStatus, Error> {
        self.cell.fault(&action)
    }

    /// Serves a Redfish request without HTTP (hang and slow faults apply).
    pub async fn redfish(&self, req: RedfishRequest) -> RedfishResponse {
        self.cell.serve(req).await
    }

    /// Waits (without polling) until `pred` holds for the blade's status,
    /// for at most `timeout`. `what` names the condition in the error.
    pub async fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&BladeStatus) -> bool,
    ) -> Result<BladeStatus, Error> {
        let deadline = Instant::now() + timeout;
        let mut changed = self.cell.changed.subscribe();
        loop {
            let status = self.status();
            if pred(&status) {
                return Ok(status);
            }
            if tokio::time::timeout_at(deadline, changed.changed())
                .await
                .is_err()
            {
                return Err(Error::WaitTimeout {
                    blade: self.name().to_owned(),
                    what: what.to_owned(),
                    timeout,
                });
            }
        }
    }

    /// Waits until the blade's power state is `power`.
    pub async fn wait_power(
        &self,
        power: PowerState,
        timeout: Duration,
    ) -> Result<BladeStatus, Error> {
        self.wait_until(&format!("power {power}"), timeout, |s| s.power == power)
            .await
    }
}
