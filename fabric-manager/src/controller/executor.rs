//! Executors: the I/O that starts or stops one server, driven by the
//! server's recorded state (`starting` / `stopping`) and its generation.
//!
//! Start: boot override to the server's boot volume (read back), power on
//! (unless already on), push the desired identity with its fencing token
//! (raft term, generation) once the blade's agent is connected, wait for the
//! agent to report it applied, then record `ServerRunning`. Any failure
//! powers the blade off again and records `ServerStartFailed` with the
//! reason. Stop: graceful shutdown, forced after a timeout, then
//! `ServerStopped`. Every step is safe to run again, so a new leader simply
//! re-runs the executor of a server it finds half-way.

use super::{CONTROLLER, Controller};
use crate::bmc::{self, Bmc as _, BootEnabled, BootMode, BootOverride, BootTarget, ResetType};
use crate::error::chain;
use crate::state::{Command, ServerState, ServerWork};
use blade_agent::{DesiredIdentity, FencingToken, Mac, ServerIdentity};
use std::time::Duration;
use tokio::time::Instant;

/// How often power state is read while waiting for a transition.
const POWER_POLL: Duration = Duration::from_millis(200);

/// The boot override that makes a blade boot the server's volume: a UEFI
/// target naming the volume, or network boot when it has none.
pub fn boot_override_for(work: &ServerWork) -> BootOverride {
    match &work.boot_volume {
        Some(volume) => BootOverride {
            target: BootTarget::UefiTarget,
            enabled: BootEnabled::Once,
            mode: Some(BootMode::Uefi),
            uefi_target: Some(format!("pan-volume:{}/{}", work.partition, volume)),
        },
        None => BootOverride {
            target: BootTarget::Pxe,
            enabled: BootEnabled::Once,
            mode: Some(BootMode::Uefi),
            uefi_target: None,
        },
    }
}

/// The identity as the agent protocol carries it.
pub fn desired_identity(work: &ServerWork, term: u64) -> Result<DesiredIdentity, String> {
    let macs = work
        .identity
        .macs
        .iter()
        .map(|m| Mac::parse(m).map_err(|e| format!("identity MAC {m}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DesiredIdentity::assign(
        FencingToken::new(term, work.generation),
        ServerIdentity {
            server: work.name.clone(),
            partition: work.partition.clone(),
            uuid: work.identity.uuid.clone(),
            macs,
            host_nqn: work.identity.host_nqn.clone(),
            boot_volume: work.boot_volume.clone(),
            volumes: Vec::new(),
        },
    ))
}

impl Controller {
    /// Drives one server through its current transition.
    pub(super) async fn execute(&self, work: ServerWork, term: u64) {
        let what = format!(
            "server {}/{} generation {}",
            work.partition, work.name, work.generation
        );
        match work.state {
            ServerState::Starting => match self.start(&work, term).await {
                Ok(()) => {
                    self.record(Command::ServerRunning {
                        name: work.name.clone(),
                        partition: work.partition.clone(),
                        generation: work.generation,
                    })
                    .await;
                    tracing::info!(%what, blade = %work.blade, "server running");
                }
                Err(reason) => {
                    tracing::warn!(%what, blade = %work.blade, %reason, "server start failed; powering the blade off");
                    if let Err(e) = self.power_off(&work.blade, Duration::ZERO, term).await {
                        tracing::warn!(%what, blade = %work.blade, error = %e, "could not power the blade off after the failed start");
                    }
                    self.record(Command::ServerStartFailed {
                        name: work.name.clone(),
                        partition: work.partition.clone(),
                        generation: work.generation,
                        reason,
                    })
                    .await;
                }
            },
            ServerState::Stopping => {
                match self
                    .power_off(&work.blade, self.config.stop_timeout, term)
                    .await
                {
                    Ok(()) => {
                        self.record(Command::ServerStopped {
                            name: work.name.clone(),
                            partition: work.partition.clone(),
                            generation: work.generation,
                        })
                        .await;
                        tracing::info!(%what, blade = %work.blade, "server stopped");
                    }
                    // Stays `stopping`; the reconciler tries again after a pause.
                    Err(e) => {
                        tracing::warn!(%what, blade = %work.blade, error = %e, "server stop failed; will retry")
                    }
                }
            }
            ServerState::Defined | ServerState::Running | ServerState::Failed => {}
        }
    }

    async fn record(&self, command: Command) {
        if let Err(e) = self.node.propose(CONTROLLER, command).await {
            // A stale report (the server moved on) is refused by design.
            tracing::info!(error = %e, "controller report not recorded");
        }
    }

    /// Fails unless this member still leads in `term`: every hardware
    /// action is checked, so a deposed leader's executor stops acting.
    fn still_leading(&self, term: u64) -> Result<(), String> {
        let m = self.node.raft().metrics().borrow().clone();
        if m.state == openraft::ServerState::Leader && m.current_term == term {
            Ok(())
        } else {
            Err(format!(
                "this manager no longer leads term {term}; the current leader takes over"
            ))
        }
    }

    async fn start(&self, work: &ServerWork, term: u64) -> Result<(), String> {
        let target = self
            .node
            .state_machine()
            .read(|s| s.bmc_target(&work.blade))
            .map_err(|e| e.to_string())?;
        let bmc = self.bmcs.get(&target).map_err(|e| chain(&e))?;

        let boot = boot_override_for(work);
        self.still_leading(term)?;
        bmc.set_boot_override(&boot).await.map_err(|e| chain(&e))?;
        let read_back = bmc.boot_override().await.map_err(|e| chain(&e))?;
        if read_back.target != boot.target || read_back.uefi_target != boot.uefi_target {
            return Err(format!(
                "BMC {} did not keep the boot override (asked {} {:?}, reads {} {:?}); check the BMC's boot settings",
                bmc.endpoint(),
                boot.target,
                boot.uefi_target,
                read_back.target,
                read_back.uefi_target
            ));
        }

        if bmc.power_state().await.map_err(|e| chain(&e))? != bmc::PowerState::On {
            self.still_leading(term)?;
            bmc.reset(ResetType::On).await.map_err(|e| chain(&e))?;
            bmc::wait_for_power(
                &*bmc,
                &bmc::PowerState::On,
                self.config.power_timeout,
                POWER_POLL,
            )
            .await
            .map_err(|e| chain(&e))?;
        }

        // The token carries the term this member was elected in, not the
        // current one: a deposed leader cannot borrow its successor's term.
        let desired = desired_identity(work, term)?;
        let deadline = Instant::now() + self.config.boot_timeout;
        let mut changes = self.agents.subscribe();
        let agent = loop {
            self.still_leading(term)?;
            let agent = self.agent_of(work);
            match self.agents.push_desired(&agent, desired.clone()).await {
                Ok(()) => break agent,
                Err(crate::agent::AgentError::NotConnected { .. }) => {
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "blade {}'s agent did not connect within {:?} of power-on; check that the blade boots \
                             (its BMC console) and can reach the managers",
                            work.blade, self.config.boot_timeout
                        ));
                    }
                    let _ = tokio::time::timeout_at(deadline, changes.changed()).await;
                }
                Err(e) => return Err(chain(&e)),
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        self.agents
            .wait_applied(&agent, work.generation, remaining)
            .await
            .map_err(|e| chain(&e))?;
        Ok(())
    }

    /// The name the blade's agent goes by: the blade's own name, or the
    /// agent whose interfaces show one of the blade's burned-in MACs.
    fn agent_of(&self, work: &ServerWork) -> String {
        if self.agents.get(&work.blade).is_some() {
            return work.blade.clone();
        }
        let burned_in: Vec<String> = work.blade_macs.iter().map(|m| m.to_lowercase()).collect();
        let mut agents = self.agents.snapshot();
        // Connected agents first: a stale entry must not shadow a live one.
        agents.sort_by_key(|a| !a.connected);
        agents
            .into_iter()
            .find(|a| {
                a.facts
                    .interfaces
                    .iter()
                    .any(|i| burned_in.contains(&i.mac.to_string().to_lowercase()))
            })
            .map_or_else(|| work.blade.clone(), |a| a.blade)
    }

    /// Powers a blade off and reads it back as Off: gracefully first when
    /// `graceful` is non-zero, forced after that long.
    pub(super) async fn power_off(
        &self,
        blade: &str,
        graceful: Duration,
        term: u64,
    ) -> Result<(), String> {
        self.still_leading(term)?;
        let target = self
            .node
            .state_machine()
            .read(|s| s.bmc_target(blade))
            .map_err(|e| e.to_string())?;
        let bmc = self.bmcs.get(&target).map_err(|e| chain(&e))?;
        if bmc.power_state().await.map_err(|e| chain(&e))? == bmc::PowerState::Off {
            // It may still be on its way up (a power-on accepted just before
            // an aborted start): force it off anyway and read Off back.
            if let Err(e) = bmc.reset(ResetType::ForceOff).await {
                tracing::debug!(%blade, error = %e, "ForceOff of a blade that reads Off was refused");
            }
            bmc::wait_for_power(
                &*bmc,
                &bmc::PowerState::Off,
                self.config.power_timeout,
                POWER_POLL,
            )
            .await
            .map_err(|e| chain(&e))?;
            return Ok(());
        }
        if !graceful.is_zero() {
            bmc.reset(ResetType::GracefulShutdown)
                .await
                .map_err(|e| chain(&e))?;
            if bmc::wait_for_power(&*bmc, &bmc::PowerState::Off, graceful, POWER_POLL)
                .await
                .is_ok()
            {
                return Ok(());
            }
            tracing::info!(%blade, after = ?graceful, "graceful shutdown did not finish; forcing off");
        }
        bmc.reset(ResetType::ForceOff)
            .await
            .map_err(|e| chain(&e))?;
        bmc::wait_for_power(
            &*bmc,
            &bmc::PowerState::Off,
            self.config.power_timeout,
            POWER_POLL,
        )
        .await
        .map_err(|e| chain(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::IdentityView;

    fn work(boot_volume: Option<&str>) -> ServerWork {
        ServerWork {
            partition: "acme".into(),
            name: "web-1".into(),
            state: ServerState::Starting,
            generation: 42,
            blade: "blade-001".into(),
            blade_macs: vec!["52:54:00:00:00:01".into()],
            identity: IdentityView {
                uuid: "50414e00-0000-0000-0000-000000000001".into(),
                macs: vec!["02:50:41:00:00:00".into(), "02:50:41:00:00:01".into()],
                host_nqn: "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001"
                    .into(),
            },
            boot_volume: boot_volume.map(str::to_string),
        }
    }

    #[test]
    fn a_boot_volume_becomes_a_uefi_target_once() {
        let b = boot_override_for(&work(Some("web-1-boot")));
        assert_eq!(b.target, BootTarget::UefiTarget);
        assert_eq!(b.enabled, BootEnabled::Once);
        assert_eq!(b.uefi_target.as_deref(), Some("pan-volume:acme/web-1-boot"));
        let b = boot_override_for(&work(None));
        assert_eq!(b.target, BootTarget::Pxe);
        assert_eq!(b.uefi_target, None);
    }

    #[test]
    fn the_desired_identity_carries_the_fencing_token() {
        let d = desired_identity(&work(Some("v")), 7).expect("valid");
        assert_eq!(d.token, FencingToken::new(7, 42));
        let id = d.identity.expect("assigned");
        assert_eq!(id.macs.len(), 2);
        assert_eq!(id.macs[1], Mac::from_u64(0x02_50_41_00_00_01));
        assert_eq!(id.boot_volume.as_deref(), Some("v"));
    }

    #[test]
    fn a_bad_mac_is_an_error_not_a_panic() {
        let mut w = work(None);
        w.identity.macs[0] = "zz".into();
        assert!(desired_identity(&w, 1).unwrap_err().contains("zz"));
    }
}
