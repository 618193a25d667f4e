//! The hardware seam to blade BMCs: the [`Bmc`] trait, its Redfish
//! implementation ([`RedfishBmc`]) and an in-memory one for tests of
//! callers ([`FakeBmc`]).
//!
//! Callers (the controller's detectors and executors) hold an
//! `Arc<dyn Bmc>` per blade and never see HTTP. What they get back is
//! typed: [`SystemInventory`], [`PowerState`], [`HealthStatus`],
//! [`BootOverride`], [`ResetOutcome`], or a [`BmcError`] naming the BMC,
//! the operation, what failed and what the operator can do.
//!
//! Rules this module keeps:
//! - It never decides anything: no fencing logic, no state changes. A
//!   reset is confirmed by reading the power state back ([`wait_for_power`]),
//!   which is the caller's step.
//! - It never shows a password or session token, in errors, logs or
//!   `Debug`.
//! - It never panics on what a BMC sends; parsing lives in pure functions
//!   ([`redfish::parse`]) tested against real samples and a proptest.
//!
//! Files: `types.rs` (the values), `error.rs` ([`BmcError`]), `fake.rs`
//! ([`FakeBmc`]), `redfish/` (the client: `config.rs`, `transport.rs`,
//! `session.rs`, `parse.rs`, tests and the JSON samples under
//! `fixtures/redfish/`).

mod error;
mod fake;
pub mod redfish;
mod types;

pub use error::{BmcError, ErrorKind, Operation, ParseError};
pub use fake::FakeBmc;
pub use redfish::{Credentials, Endpoint, Limits, RedfishBmc, RetryPolicy, Tls};
pub use types::{
    BootEnabled, BootMode, BootOverride, BootTarget, Health, HealthStatus, LogEntry, PowerState,
    ResetOutcome, ResetType, ResourceState, SystemInventory, SystemStatus,
};

use std::time::Duration;

/// A blade's baseboard management controller, as the manager uses it.
///
/// Every method is one logical operation with its own retries and
/// timeouts; an `Err` means it did not (provably) happen, except where
/// [`ErrorKind::Transport`] or a timeout says the outcome is unknown.
#[async_trait::async_trait]
pub trait Bmc: Send + Sync {
    /// The BMC's base URL (scheme, host, port), for logs and errors.
    fn endpoint(&self) -> &str;

    /// What the BMC reports about its system: identity, CPUs, memory,
    /// MACs, power, health and boot override.
    async fn inventory(&self) -> Result<SystemInventory, BmcError>;

    /// Power and health from one read of the system: what a detector polls.
    async fn status(&self) -> Result<SystemStatus, BmcError>;

    /// The system's power state.
    async fn power_state(&self) -> Result<PowerState, BmcError> {
        Ok(self.status().await?.power)
    }

    /// The system's health.
    async fn health(&self) -> Result<HealthStatus, BmcError> {
        Ok(self.status().await?.health)
    }

    /// Asks for a reset (power on, force off, restart …). Success means
    /// the BMC accepted it; the power state changes later.
    async fn reset(&self, reset: ResetType) -> Result<ResetOutcome, BmcError>;

    /// The boot override as the BMC reports it now.
    async fn boot_override(&self) -> Result<BootOverride, BmcError>;

    /// Sets the boot override. Success means the BMC accepted it; read it
    /// back with [`Bmc::boot_override`] to confirm.
    async fn set_boot_override(&self, boot: &BootOverride) -> Result<(), BmcError>;

    /// The newest entries of the system's log (at most `max`, newest
    /// first): the first `LogService` of the `ComputerSystem` that has
    /// `Entries`. Empty when the system has no log. The start executor
    /// reads it when a blade turns Critical while booting, for the reason.
    async fn log_entries(&self, max: usize) -> Result<Vec<LogEntry>, BmcError>;

    /// Releases what the connection holds on the BMC (its session).
    async fn close(&self) -> Result<(), BmcError>;
}

/// Polls [`Bmc::power_state`] every `interval` until it reads `want`, and
/// returns the number of reads. Fails with the last error, or with a
/// timeout naming the last state read, once `timeout` has passed; read
/// errors before then are tolerated (a BMC busy with a power transition
/// often answers 503 for a while).
pub async fn wait_for_power(
    bmc: &dyn Bmc,
    want: &PowerState,
    timeout: Duration,
    interval: Duration,
) -> Result<u32, WaitError> {
    let start = tokio::time::Instant::now();
    let mut reads = 0;
    loop {
        reads += 1;
        let last = match bmc.power_state().await {
            Ok(state) if &state == want => return Ok(reads),
            Ok(state) => Ok(state),
            Err(e) => Err(e),
        };
        if start.elapsed().saturating_add(interval) > timeout {
            return Err(match last {
                Ok(state) => WaitError::Timeout {
                    bmc: bmc.endpoint().to_string(),
                    want: want.clone(),
                    last: state,
                    after: timeout,
                },
                Err(e) => WaitError::Bmc(e),
            });
        }
        tokio::time::sleep(interval).await;
    }
}

/// Why [`wait_for_power`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error(
        "BMC {bmc}: the power state was still {last} after {after:?} (waiting for {want}); \
         check the blade, its power supply and the BMC's event log"
    )]
    Timeout {
        bmc: String,
        want: PowerState,
        last: PowerState,
        after: Duration,
    },
    #[error(transparent)]
    Bmc(#[from] BmcError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> SystemInventory {
        SystemInventory {
            id: "1".into(),
            host_name: None,
            model: Some("m".into()),
            manufacturer: None,
            serial: None,
            uuid: None,
            cpu_sockets: None,
            cores: Some(8),
            memory_gib: Some(64.0),
            macs: vec![],
            power: Some(PowerState::Off),
            health: HealthStatus::default(),
            boot: None,
            reset_types: vec![],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_power_sees_a_delayed_change() {
        let bmc = FakeBmc::new("http://fake", inventory());
        bmc.set_power_delay(3);
        bmc.reset(ResetType::On).await.unwrap();
        let reads = wait_for_power(
            &bmc,
            &PowerState::On,
            Duration::from_secs(5),
            Duration::from_millis(100),
        )
        .await
        .unwrap();
        assert_eq!(reads, 4);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_power_times_out_naming_the_last_state() {
        let bmc = FakeBmc::new("http://fake", inventory());
        bmc.set_power_delay(u32::MAX);
        bmc.reset(ResetType::On).await.unwrap();
        let err = wait_for_power(
            &bmc,
            &PowerState::On,
            Duration::from_secs(1),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, WaitError::Timeout { last, .. } if *last == PowerState::Off),
            "{err}"
        );
    }
}
