//! [`FakeBmc`]: an in-memory [`Bmc`] for unit tests of callers (detectors,
//! executors). Deterministic: a reset takes effect after a set number of
//! power reads rather than after wall-clock time, and failures are queued
//! explicitly. For protocol-level tests use hwsim's Redfish BMC instead.

use super::Bmc;
use super::error::{BmcError, ErrorKind, Operation};
use super::types::{
    BootEnabled, BootOverride, BootTarget, HealthStatus, LogEntry, PowerState, ResetOutcome,
    ResetType, SystemInventory, SystemStatus,
};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// An in-memory BMC.
#[derive(Debug)]
pub struct FakeBmc {
    endpoint: String,
    state: Mutex<FakeState>,
}

#[derive(Debug)]
struct FakeState {
    inventory: SystemInventory,
    power: PowerState,
    /// A reset in progress: the state it leads to and the power reads left
    /// before it shows.
    pending: Option<(PowerState, u32)>,
    power_delay: u32,
    health: HealthStatus,
    boot: BootOverride,
    failures: VecDeque<ErrorKind>,
    resets: Vec<ResetType>,
    /// The system log, oldest first.
    log: Vec<LogEntry>,
}

impl FakeBmc {
    /// A BMC reporting `inventory`; its power, health and boot override
    /// start as the inventory says (Off, unknown, none when it says nothing).
    pub fn new(endpoint: impl Into<String>, inventory: SystemInventory) -> FakeBmc {
        let state = FakeState {
            power: inventory.power.clone().unwrap_or(PowerState::Off),
            pending: None,
            power_delay: 0,
            health: inventory.health.clone(),
            boot: inventory.boot.clone().unwrap_or(BootOverride {
                target: BootTarget::None,
                enabled: BootEnabled::Disabled,
                mode: None,
                uefi_target: None,
            }),
            failures: VecDeque::new(),
            resets: Vec::new(),
            log: Vec::new(),
            inventory,
        };
        FakeBmc {
            endpoint: endpoint.into(),
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A reset shows in the power state after this many power reads.
    pub fn set_power_delay(&self, reads: u32) {
        self.state().power_delay = reads;
    }

    /// Changes the power state at once (as a person at the blade would).
    pub fn set_power(&self, power: PowerState) {
        let mut s = self.state();
        s.power = power;
        s.pending = None;
    }

    pub fn set_health(&self, health: HealthStatus) {
        self.state().health = health;
    }

    /// Replaces the system log (entries oldest first).
    pub fn set_log_entries(&self, entries: Vec<LogEntry>) {
        self.state().log = entries;
    }

    /// Appends an entry to the system log (it becomes the newest).
    pub fn push_log_entry(&self, entry: LogEntry) {
        self.state().log.push(entry);
    }

    /// The next call fails with `kind` (queued; one failure per call).
    pub fn fail_next(&self, kind: ErrorKind) {
        self.state().failures.push_back(kind);
    }

    /// The resets accepted so far, oldest first.
    pub fn resets(&self) -> Vec<ResetType> {
        self.state().resets.clone()
    }

    fn check(&self, s: &mut FakeState, operation: Operation) -> Result<(), BmcError> {
        match s.failures.pop_front() {
            Some(kind) => Err(BmcError {
                bmc: self.endpoint.clone(),
                operation,
                kind,
                attempts: 1,
            }),
            None => Ok(()),
        }
    }

    /// One power read: advances a pending reset.
    fn read_power(s: &mut FakeState) -> PowerState {
        if let Some((target, left)) = s.pending.take() {
            if left == 0 {
                s.power = target;
            } else {
                s.pending = Some((target, left - 1));
            }
        }
        s.power.clone()
    }
}

#[async_trait::async_trait]
impl Bmc for FakeBmc {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn inventory(&self) -> Result<SystemInventory, BmcError> {
        let mut s = self.state();
        self.check(&mut s, Operation::ReadInventory)?;
        let power = Self::read_power(&mut s);
        Ok(SystemInventory {
            power: Some(power),
            health: s.health.clone(),
            boot: Some(s.boot.clone()),
            ..s.inventory.clone()
        })
    }

    async fn status(&self) -> Result<SystemStatus, BmcError> {
        let mut s = self.state();
        self.check(&mut s, Operation::ReadSystem)?;
        Ok(SystemStatus {
            power: Self::read_power(&mut s),
            health: s.health.clone(),
        })
    }

    async fn reset(&self, reset: ResetType) -> Result<ResetOutcome, BmcError> {
        let mut s = self.state();
        let op = Operation::Reset(reset.clone());
        self.check(&mut s, op.clone())?;
        let target = match reset {
            ResetType::On
            | ResetType::ForceOn
            | ResetType::ForceRestart
            | ResetType::GracefulRestart
            | ResetType::PowerCycle => PowerState::On,
            ResetType::ForceOff | ResetType::GracefulShutdown => PowerState::Off,
            other => {
                return Err(BmcError {
                    bmc: self.endpoint.clone(),
                    operation: op,
                    kind: ErrorKind::NotAllowed {
                        value: other.to_string(),
                        allowed: vec!["On".into(), "ForceOff".into(), "ForceRestart".into()],
                    },
                    attempts: 1,
                });
            }
        };
        s.resets.push(reset);
        if s.power_delay == 0 {
            s.power = target;
            s.pending = None;
        } else {
            s.pending = Some((target, s.power_delay));
        }
        Ok(ResetOutcome::Completed)
    }

    async fn boot_override(&self) -> Result<BootOverride, BmcError> {
        let mut s = self.state();
        self.check(&mut s, Operation::ReadSystem)?;
        Ok(s.boot.clone())
    }

    async fn set_boot_override(&self, boot: &BootOverride) -> Result<(), BmcError> {
        let mut s = self.state();
        self.check(&mut s, Operation::SetBootOverride)?;
        s.boot = boot.clone();
        Ok(())
    }

    async fn log_entries(&self, max: usize) -> Result<Vec<LogEntry>, BmcError> {
        let mut s = self.state();
        self.check(&mut s, Operation::ReadLog)?;
        Ok(s.log.iter().rev().take(max).cloned().collect())
    }

    async fn close(&self) -> Result<(), BmcError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake() -> FakeBmc {
        FakeBmc::new(
            "http://fake",
            SystemInventory {
                id: "1".into(),
                host_name: None,
                model: None,
                manufacturer: None,
                serial: None,
                uuid: None,
                cpu_sockets: None,
                cores: None,
                memory_gib: None,
                macs: vec![],
                power: None,
                health: HealthStatus::default(),
                boot: None,
                reset_types: vec![],
            },
        )
    }

    #[tokio::test]
    async fn queued_failures_come_first_then_calls_succeed() {
        let bmc = fake();
        bmc.fail_next(ErrorKind::ConnectionRefused);
        let err = bmc.power_state().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::ConnectionRefused);
        assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
    }

    #[tokio::test]
    async fn reset_and_boot_override_are_remembered() {
        let bmc = fake();
        bmc.reset(ResetType::On).await.unwrap();
        assert_eq!(bmc.power_state().await.unwrap(), PowerState::On);
        let boot = BootOverride {
            target: BootTarget::Pxe,
            enabled: BootEnabled::Once,
            mode: None,
            uefi_target: None,
        };
        bmc.set_boot_override(&boot).await.unwrap();
        assert_eq!(bmc.boot_override().await.unwrap(), boot);
        assert_eq!(bmc.resets(), vec![ResetType::On]);
        assert!(bmc.reset(ResetType::Nmi).await.is_err());
    }

    #[tokio::test]
    async fn log_entries_come_newest_first() {
        let bmc = fake();
        assert!(bmc.log_entries(10).await.unwrap().is_empty());
        let entry = |id: &str| LogEntry {
            id: id.into(),
            created: None,
            severity: Some(crate::bmc::Health::Critical),
            message: format!("entry {id}"),
            message_id: None,
        };
        bmc.set_log_entries(vec![entry("1"), entry("2")]);
        bmc.push_log_entry(entry("3"));
        let ids: Vec<String> = bmc
            .log_entries(2)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, ["3", "2"]);
        bmc.fail_next(ErrorKind::ConnectionRefused);
        let err = bmc.log_entries(2).await.unwrap_err();
        assert_eq!(err.operation, Operation::ReadLog);
    }
}
