//! The seam between simulated hardware and the software a blade runs.
//!
//! When a blade finishes booting, the rack calls [`BladeOs::boot`] with a
//! [`BootContext`]: the blade's facts (name, burned-in MACs, UUID, the
//! manager address from `--manager`), the boot override the BMC was told to
//! use, the [`LinkState`] of the blade's link to the manager, and a
//! [`HostHandle`] through which the OS reports what it does to the world
//! (identity applied, health). The returned [`RunningOs`] is stopped
//! (dropped) when the blade loses power: ForceOff, kill, the end of a
//! graceful shutdown, a restart.
//!
//! [`IdleOs`] is the default: it runs nothing (the rack already records
//! every boot in the ground truth). The blade agent plugs in here.
//!
//! An OS must consult its `LinkState` before talking to the manager: while
//! the link is cut (fault `cut-link`) it must behave as if the network were
//! down, although the blade stays powered.

use crate::error::Error;
use crate::model::{BladeInfo, BootSettings, Health};
use crate::rack::blade::BladeCell;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::{Arc, Weak};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Software that runs on a blade once it has booted.
pub trait BladeOs: Send + Sync + 'static {
    /// Starts an OS instance. Called on the rack's tokio runtime, once per
    /// boot; must not block (spawn tasks instead, e.g. with [`TaskOs`]).
    fn boot(&self, ctx: BootContext) -> Box<dyn RunningOs>;
}

impl<F> BladeOs for F
where
    F: Fn(BootContext) -> Box<dyn RunningOs> + Send + Sync + 'static,
{
    fn boot(&self, ctx: BootContext) -> Box<dyn RunningOs> {
        self(ctx)
    }
}

/// A running OS instance. Stopping it (or dropping it) must end everything
/// it runs: the blade has lost power.
pub trait RunningOs: Send + 'static {
    /// Stops the instance; the default just drops it.
    fn stop(self: Box<Self>) {}
}

/// What an OS instance gets at boot.
#[derive(Clone, Debug)]
pub struct BootContext {
    /// The blade's facts, including `manager` (from `--manager`).
    pub blade: BladeInfo,
    /// The boot override in effect for this boot, as captured at power-on
    /// (`effective_target()` is what the firmware boots).
    pub boot: BootSettings,
    /// The blade's link to the manager; consult it before every exchange.
    pub link: LinkState,
    /// Reports to the simulated world (identity, health).
    pub host: HostHandle,
}

/// Default OS: runs nothing. The boot itself is recorded by the rack.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdleOs;

impl BladeOs for IdleOs {
    fn boot(&self, _ctx: BootContext) -> Box<dyn RunningOs> {
        Box::new(IdleOs)
    }
}

impl RunningOs for IdleOs {}

/// A [`RunningOs`] that is one tokio task, aborted when the blade loses
/// power.
#[derive(Debug)]
pub struct TaskOs(JoinHandle<()>);

impl TaskOs {
    /// Spawns `fut` as the OS instance.
    pub fn spawn(fut: impl Future<Output = ()> + Send + 'static) -> TaskOs {
        TaskOs(tokio::spawn(fut))
    }
}

impl Drop for TaskOs {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl RunningOs for TaskOs {}

/// Whether a blade's link to the manager is up. Cloned handles share one
/// flag; the rack's `cut-link` / `restore-link` faults flip it.
#[derive(Clone, Debug)]
pub struct LinkState(Arc<watch::Sender<bool>>);

impl Default for LinkState {
    fn default() -> Self {
        LinkState::new()
    }
}

impl LinkState {
    /// A link that is up.
    pub fn new() -> LinkState {
        LinkState(Arc::new(watch::Sender::new(true)))
    }

    pub fn is_up(&self) -> bool {
        *self.0.borrow()
    }

    /// Sets the flag (the fault knobs call this; tests may too).
    pub fn set_up(&self, up: bool) {
        self.0
            .send_if_modified(|cur| std::mem::replace(cur, up) != up);
    }

    /// A receiver that sees every change of the flag.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }

    /// Resolves once the link is up.
    pub async fn wait_up(&self) {
        let mut rx = self.subscribe();
        // The sender lives in `self`, so this cannot fail.
        let _ = rx.wait_for(|up| *up).await;
    }
}

/// An identity an OS instance applied on its blade (reported through
/// [`HostHandle::apply_identity`] and recorded in the ground truth).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedIdentity {
    pub uuid: String,
    /// One MAC per vNIC, `aa:bb:cc:dd:ee:ff`.
    pub macs: Vec<String>,
    pub host_nqn: String,
    /// The desired-state generation the manager sent.
    pub generation: u64,
    /// The raft term of the manager that sent it (fencing token).
    pub term: u64,
}

/// What a blade's agent last reported applied, as the control API shows
/// it: the token, the interfaces (name, MAC) and the attached volumes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentApplied {
    pub generation: u64,
    pub term: u64,
    pub interfaces: Vec<AppliedInterface>,
    pub volumes: Vec<AppliedVolume>,
}

/// One interface after applying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedInterface {
    pub name: String,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
}

/// One attached volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedVolume {
    pub name: String,
    pub subsystem_nqn: String,
    /// `/dev/nvme0n1`; empty when unknown.
    pub device: String,
}

/// The OS instance's handle on its blade. Every call checks that this
/// instance is still the one running (the blade has not lost power or
/// rebooted since it booted) and fails with [`Error::OsStopped`] otherwise.
#[derive(Clone, Debug)]
pub struct HostHandle {
    pub(crate) cell: Weak<BladeCell>,
    pub(crate) blade: String,
    pub(crate) epoch: u64,
}

impl HostHandle {
    /// The blade's name.
    pub fn blade(&self) -> &str {
        &self.blade
    }

    /// This instance's boot number on the blade.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn cell(&self) -> Result<Arc<BladeCell>, Error> {
        self.cell.upgrade().ok_or_else(|| Error::OsStopped {
            blade: self.blade.clone(),
        })
    }

    /// Whether this instance still runs on the blade.
    pub fn is_current(&self) -> bool {
        self.cell().is_ok_and(|c| c.is_current_os(self.epoch))
    }

    /// Records that this blade now presents `identity` (MACs set, NVMe host
    /// NQN configured). Replaces any identity it presented before.
    pub fn apply_identity(&self, identity: AppliedIdentity) -> Result<(), Error> {
        self.cell()?.os_apply_identity(self.epoch, identity)
    }

    /// Shows what the OS's agent last applied in the blade's status (not
    /// ground truth: the identity itself is recorded by
    /// [`HostHandle::apply_identity`]). Cleared when the blade loses power.
    pub fn report_applied(&self, applied: Option<AgentApplied>) -> Result<(), Error> {
        self.cell()?.os_report_applied(self.epoch, applied)
    }

    /// Records that this blade no longer presents any identity.
    pub fn clear_identity(&self) -> Result<(), Error> {
        self.cell()?.os_clear_identity(self.epoch)
    }

    /// Sets the blade's `Status.Health` as its BMC reports it (e.g.
    /// `Critical` when the boot volume cannot be reached).
    pub fn set_health(&self, health: Health) -> Result<(), Error> {
        self.cell()?.os_set_health(self.epoch, health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn link_state_is_shared_and_observable() {
        let link = LinkState::new();
        let other = link.clone();
        let mut rx = link.subscribe();
        assert!(other.is_up());
        link.set_up(false);
        assert!(!other.is_up());
        assert!(rx.has_changed().unwrap());
        rx.mark_unchanged();
        link.set_up(false);
        assert!(!rx.has_changed().unwrap(), "no-op sets do not notify");
        let waiter = tokio::spawn({
            let l = other.clone();
            async move { l.wait_up().await }
        });
        link.set_up(true);
        waiter.await.unwrap();
    }

    #[tokio::test]
    async fn task_os_aborts_its_task_when_stopped() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let os: Box<dyn RunningOs> = Box::new(TaskOs::spawn(async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        }));
        os.stop();
        assert!(rx.await.is_err(), "the task (and its sender) is gone");
    }
}
