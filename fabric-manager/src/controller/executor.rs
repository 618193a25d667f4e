//! Executors: the I/O that starts or stops one server, driven by the
//! server's recorded state (`starting` / `stopping`) and its generation.
//!
//! Start: grant the identity's host NQN on the server's volumes (read
//! back), attach the blade's ports to the server's networks (read back), set
//! the boot override to the boot volume's NVMe/TCP target (read back), power
//! on (unless already on), push the desired identity with its fencing token
//! (raft term, generation) and the volumes to attach once the blade's agent
//! is connected, wait for the agent to report it applied, then record
//! `ServerRunning`. A blade whose BMC turns Critical meanwhile failed to
//! boot; the reason comes from its log. Any failure powers the blade off,
//! detaches its ports, revokes the host's storage access and records
//! `ServerStartFailed` with the reason. Stop: graceful shutdown, forced after
//! a timeout, then the same detach and revoke, then `ServerStopped`. Every
//! step is safe to run again, so a new leader simply re-runs the executor of
//! a server it finds half-way.

use super::{CONTROLLER, Controller};
use crate::bmc::{self, Bmc as _, BootEnabled, BootMode, BootOverride, BootTarget, ResetType};
use crate::error::chain;
use crate::fabric::{BladeRef, Vni};
use crate::state::{Command, ServerState, ServerWork};
use blade_agent::{DesiredIdentity, FencingToken, Mac, ServerIdentity, VolumeAttachment};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// How often power state is read while waiting for a transition.
const POWER_POLL: Duration = Duration::from_millis(200);

/// How many of the newest BMC log entries are read.
const LOG_WINDOW: usize = 16;

/// How often the BMC's health is read while waiting for a blade to boot.
const BOOT_HEALTH_POLL: Duration = Duration::from_millis(500);

/// The agent of `blade` found by its burned-in MACs among `agents` (for an
/// agent that goes by another name), else `blade` itself. An agent named
/// for an enrolled blade (its token says which) is that blade's, whatever
/// MACs it reports: MACs are easy to fake. Connected agents come first, so
/// a stale entry never shadows a live one.
fn agent_by_macs(
    blade: &str,
    blade_macs: &[String],
    mut agents: Vec<crate::agent::AgentView>,
    enrolled: impl Fn(&str) -> bool,
) -> String {
    let burned_in: Vec<String> = blade_macs.iter().map(|m| m.to_lowercase()).collect();
    agents.retain(|a| !enrolled(&a.blade));
    agents.sort_by_key(|a| !a.connected);
    agents
        .into_iter()
        .find(|a| {
            a.facts
                .interfaces
                .iter()
                .any(|i| burned_in.contains(&i.mac.to_string().to_lowercase()))
        })
        .map_or_else(|| blade.to_string(), |a| a.blade)
}

/// The boot override that makes a blade boot the server's volume: a UEFI
/// target naming the volume's NVMe/TCP subsystem and the identity's host
/// NQN (what an NVMe-oF boot firmware table carries), or network boot when
/// the server has no boot volume.
pub fn boot_override_for(
    work: &ServerWork,
    storage: Option<SocketAddr>,
) -> Result<BootOverride, String> {
    let Some(boot) = work.boot_volume.as_ref().and(work.volumes.first()) else {
        return Ok(BootOverride {
            target: BootTarget::Pxe,
            enabled: BootEnabled::Once,
            mode: Some(BootMode::Uefi),
            uefi_target: None,
        });
    };
    let Some(address) = storage else {
        return Err(format!(
            "server {}/{} boots from volume '{}' but this manager has no storage target; \
             start the managers with --storage-root",
            work.partition, work.name, boot.name
        ));
    };
    let target = san::boot::BootTarget {
        target: address,
        subsystem: super::storage::volume_nqn(boot.id),
        host: san::nvmet::Nqn::parse(work.identity.host_nqn.as_str())
            .map_err(|e| format!("identity host NQN: {}", chain(&e)))?,
    };
    Ok(BootOverride {
        target: BootTarget::UefiTarget,
        enabled: BootEnabled::Once,
        mode: Some(BootMode::Uefi),
        uefi_target: Some(target.to_string()),
    })
}

/// The identity as the agent protocol carries it.
pub fn desired_identity(
    work: &ServerWork,
    term: u64,
    storage: Option<SocketAddr>,
) -> Result<DesiredIdentity, String> {
    let macs = work
        .identity
        .macs
        .iter()
        .map(|m| Mac::parse(m).map_err(|e| format!("identity MAC {m}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let volumes = match (storage, work.volumes.is_empty()) {
        (_, true) => Vec::new(),
        (None, false) => {
            return Err(format!(
                "server {}/{} has volumes but this manager has no storage target; \
                 start the managers with --storage-root",
                work.partition, work.name
            ));
        }
        (Some(address), false) => work
            .volumes
            .iter()
            .map(|v| VolumeAttachment {
                name: v.name.clone(),
                subsystem_nqn: super::storage::volume_nqn(v.id).as_str().to_string(),
                target: address,
            })
            .collect(),
    };
    Ok(DesiredIdentity::assign(
        FencingToken::new(term, work.generation),
        ServerIdentity {
            server: work.name.clone(),
            partition: work.partition.clone(),
            uuid: work.identity.uuid.clone(),
            macs,
            host_nqn: work.identity.host_nqn.clone(),
            boot_volume: work.boot_volume.clone(),
            volumes,
        },
    ))
}

fn blade_ref(work: &ServerWork) -> BladeRef {
    BladeRef {
        id: work.blade_id,
        name: work.blade.clone(),
    }
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
                    match self.power_off(&work.blade, Duration::ZERO, term).await {
                        Ok(()) => {
                            if let Err(e) = self.release_data_path(&work, term).await {
                                tracing::warn!(%what, blade = %work.blade, error = %e, "could not release the data path after the failed start");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%what, blade = %work.blade, error = %e, "could not power the blade off after the failed start");
                        }
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
                let stopped = async {
                    self.power_off(&work.blade, self.config.stop_timeout, term)
                        .await?;
                    self.release_data_path(&work, term).await
                };
                match stopped.await {
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

    pub(super) async fn record(&self, command: Command) {
        if let Err(e) = self.node.propose(CONTROLLER, command).await {
            // A stale report (the server moved on) is refused by design.
            tracing::info!(error = %e, "controller report not recorded");
        }
    }

    /// Fails unless this member still leads in `term`: every hardware
    /// action is checked, so a deposed leader's executor stops acting.
    pub(super) fn still_leading(&self, term: u64) -> Result<(), String> {
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
        let storage_address = self.storage.as_ref().map(|s| s.address);
        let boot = boot_override_for(work, storage_address)?;
        let desired = desired_identity(work, term, storage_address)?;

        self.still_leading(term)?;
        self.attach_data_path(work).await?;
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

        // Log entries from before this boot are not about it.
        let earlier: Vec<String> = bmc
            .log_entries(LOG_WINDOW)
            .await
            .map(|entries| entries.into_iter().map(|e| e.id).collect())
            .unwrap_or_default();
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
        let deadline = Instant::now() + self.config.boot_timeout;
        let mut next_health_check = Instant::now() + BOOT_HEALTH_POLL;
        let mut changes = self.agents.subscribe();
        let agent = loop {
            self.still_leading(term)?;
            let agent = self.agent_of(work);
            match self.agents.push_desired(&agent, desired.clone()).await {
                Ok(()) => break agent,
                Err(crate::agent::AgentError::NotConnected { .. }) => {
                    if Instant::now() >= next_health_check {
                        self.check_boot(&*bmc, work, &earlier).await?;
                        next_health_check = Instant::now() + BOOT_HEALTH_POLL;
                    }
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "blade {}'s agent did not connect within {:?} of power-on; check that the blade boots \
                             (its BMC console) and can reach the managers",
                            work.blade, self.config.boot_timeout
                        ));
                    }
                    let _ =
                        tokio::time::timeout_at(deadline.min(next_health_check), changes.changed())
                            .await;
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

    /// Grants the identity's host NQN on the server's volumes and attaches
    /// the blade's ports to the server's networks, each read back.
    async fn attach_data_path(&self, work: &ServerWork) -> Result<(), String> {
        if !work.volumes.is_empty() {
            let storage = self.storage.as_ref().ok_or_else(|| {
                format!(
                    "server {}/{} has volumes but this manager has no storage target; \
                     start the managers with --storage-root",
                    work.partition, work.name
                )
            })?;
            storage
                .grant(&work.volumes, &work.identity.host_nqn)
                .await?;
        }
        if let Some(fabric) = &self.fabric {
            let blade = blade_ref(work);
            // Start from a clean port set: nothing of an earlier server stays.
            fabric.detach(&blade).await.map_err(|e| chain(&e))?;
            for (port, nic) in work.nics.iter().enumerate() {
                let Some(vni) = nic.vni else { continue };
                let vni = Vni::new(vni).map_err(|e| chain(&e))?;
                let port = u8::try_from(port).map_err(|_| {
                    format!(
                        "server {}/{} has more vNICs than a blade has ports; give it fewer networks",
                        work.partition, work.name
                    )
                })?;
                fabric
                    .attach(&blade, port, vni)
                    .await
                    .map_err(|e| format!("could not attach vNIC {port} to {vni}: {}", chain(&e)))?;
            }
        } else if work.nics.iter().any(|n| n.vni.is_some()) {
            tracing::debug!(server = %work.name, "no fabric configured; networks are not attached");
        }
        Ok(())
    }

    /// Detaches the blade's ports and revokes the identity's storage
    /// access, each read back: run once the blade is powered off.
    async fn release_data_path(&self, work: &ServerWork, term: u64) -> Result<(), String> {
        self.still_leading(term)?;
        if let Some(fabric) = &self.fabric {
            fabric.detach(&blade_ref(work)).await.map_err(|e| {
                format!(
                    "could not detach blade {}'s ports: {}",
                    work.blade,
                    chain(&e)
                )
            })?;
        }
        if let Some(storage) = &self.storage
            && !work.volumes.is_empty()
        {
            storage
                .revoke(&work.volumes, &work.identity.host_nqn)
                .await?;
        }
        Ok(())
    }

    /// Fails when the blade's BMC reports it Critical while it should be
    /// booting, with a Critical log entry it did not have before power-on:
    /// the firmware could not boot (e.g. its boot volume refused the host).
    /// The reason is that entry's message.
    async fn check_boot(
        &self,
        bmc: &dyn bmc::Bmc,
        work: &ServerWork,
        earlier: &[String],
    ) -> Result<(), String> {
        let Ok(health) = bmc.health().await else {
            // An unreadable BMC is not a boot failure; the deadline decides.
            return Ok(());
        };
        if health.worst() != Some(bmc::Health::Critical) {
            return Ok(());
        }
        let Ok(entries) = bmc.log_entries(LOG_WINDOW).await else {
            return Ok(());
        };
        let Some(reason) = entries
            .into_iter()
            .find(|e| e.severity == Some(bmc::Health::Critical) && !earlier.contains(&e.id))
            .map(|e| e.message)
        else {
            // Critical from before this boot (health may lag); keep waiting.
            return Ok(());
        };
        Err(format!(
            "blade {} failed to boot server {}/{}: {reason}",
            work.blade, work.partition, work.name
        ))
    }

    /// The name the blade's agent goes by: the blade's own name, or the
    /// agent whose interfaces show one of the blade's burned-in MACs.
    pub(super) fn agent_of(&self, work: &ServerWork) -> String {
        if self.agents.get(&work.blade).is_some() {
            return work.blade.clone();
        }
        let agents = self.agents.snapshot();
        self.node.state_machine().read(|s| {
            agent_by_macs(&work.blade, &work.blade_macs, agents, |name| {
                s.blade_exists(name)
            })
        })
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
    use crate::state::{IdentityView, NicWork, VolumeWork};
    use pan_api::{BladeId, VolumeId};

    const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001";

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
                host_nqn: HOST.into(),
            },
            boot_volume: boot_volume.map(str::to_string),
            blade_id: BladeId(3),
            volumes: boot_volume
                .map(|v| VolumeWork {
                    id: VolumeId(9),
                    name: v.to_string(),
                })
                .into_iter()
                .collect(),
            nics: vec![
                NicWork {
                    mac: "02:50:41:00:00:00".into(),
                    vni: Some(1024),
                },
                NicWork {
                    mac: "02:50:41:00:00:01".into(),
                    vni: None,
                },
            ],
        }
    }

    fn target() -> SocketAddr {
        "127.0.0.1:4420".parse().unwrap()
    }

    #[test]
    fn a_boot_volume_becomes_an_nvme_tcp_uefi_target_once() {
        let b = boot_override_for(&work(Some("web-1-boot")), Some(target())).unwrap();
        assert_eq!(b.target, BootTarget::UefiTarget);
        assert_eq!(b.enabled, BootEnabled::Once);
        let text = b.uefi_target.expect("a UEFI target");
        let parsed = san::boot::BootTarget::parse(&text).expect("parses");
        assert_eq!(parsed.target, target());
        assert_eq!(parsed.subsystem.as_str(), "nqn.2026-11.io.pan:volume:9");
        assert_eq!(parsed.host.as_str(), HOST);
        let b = boot_override_for(&work(None), Some(target())).unwrap();
        assert_eq!(b.target, BootTarget::Pxe);
        assert_eq!(b.uefi_target, None);
    }

    #[test]
    fn a_boot_volume_without_a_storage_target_is_a_clear_error() {
        let e = boot_override_for(&work(Some("v")), None).unwrap_err();
        assert!(e.contains("--storage-root"), "{e}");
        let e = desired_identity(&work(Some("v")), 1, None).unwrap_err();
        assert!(e.contains("no storage target"), "{e}");
    }

    #[test]
    fn the_desired_identity_carries_the_fencing_token_and_volumes() {
        let d = desired_identity(&work(Some("v")), 7, Some(target())).expect("valid");
        assert_eq!(d.token, FencingToken::new(7, 42));
        let id = d.identity.expect("assigned");
        assert_eq!(id.macs.len(), 2);
        assert_eq!(id.macs[1], Mac::from_u64(0x02_50_41_00_00_01));
        assert_eq!(id.boot_volume.as_deref(), Some("v"));
        assert_eq!(
            id.volumes,
            vec![VolumeAttachment {
                name: "v".into(),
                subsystem_nqn: "nqn.2026-11.io.pan:volume:9".into(),
                target: target(),
            }]
        );
    }

    #[test]
    fn a_bad_mac_is_an_error_not_a_panic() {
        let mut w = work(None);
        w.identity.macs[0] = "zz".into();
        assert!(desired_identity(&w, 1, None).unwrap_err().contains("zz"));
    }

    #[test]
    fn only_agents_not_named_for_an_enrolled_blade_are_matched_by_macs() {
        use blade_agent::{Hello, HostFacts, InterfaceFacts, Mac};
        let agents = crate::agent::AgentRegistry::new();
        let mac = Mac([0x52, 0x54, 0, 0, 0, 7]);
        for name in ["blade-3", "host-7"] {
            // Both claim blade-7's burned-in MAC.
            let _ = agents.admit(
                Hello {
                    blade: name.into(),
                    agent_version: "test".into(),
                    facts: HostFacts {
                        hostname: name.into(),
                        interfaces: vec![InterfaceFacts {
                            name: "eth0".into(),
                            mac,
                        }],
                    },
                    applied: None,
                    heartbeat: Duration::from_millis(200),
                },
                None,
            );
        }
        let macs = [mac.to_string().to_uppercase()];
        let enrolled = |name: &str| ["blade-3", "blade-7"].contains(&name);
        assert_eq!(
            agent_by_macs("blade-7", &macs, agents.snapshot(), enrolled),
            "host-7",
            "blade-3's agent speaks for blade-3 only"
        );
        let all_enrolled = |name: &str| name != "nobody";
        assert_eq!(
            agent_by_macs("blade-7", &macs, agents.snapshot(), all_enrolled),
            "blade-7",
            "no agent for it: its own name"
        );
    }
}
