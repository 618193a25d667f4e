//! [`AgentOs`]: the blade OS that runs the real blade-agent code.
//!
//! Each boot starts a `blade_agent::Agent` in-process with a
//! `RecordingHost` shaped like the blade (its hostname and burned-in
//! fabric MACs), or, with [`AgentOs::netns_prefix`], a `LinuxHost` working
//! in the blade's network namespace (`PREFIX<blade>`, interfaces `eth0…`).
//! With [`AgentOs::nvme`] the agent attaches volumes with that program
//! (the fake nvme-cli), each blade with its own connection state, emptied
//! at every boot (a power cycle drops NVMe connections). What the agent
//! applies is reported to the rack as ground truth, with the fencing token
//! it came with, and its last report (interfaces, attached volumes) shows
//! in the blade's status; the rack's link fault is mirrored onto the
//! agent's link switch. Powering the blade off drops the agent at once,
//! like losing power.

use crate::os::{
    AgentApplied, AppliedIdentity, AppliedInterface, AppliedVolume, BladeOs, BootContext,
    RunningOs, TaskOs,
};
use blade_agent::{
    Agent, AgentConfig, AgentKey, AgentStatus, Host, HostFacts, InterfaceFacts, LinuxHost, Mac,
    RecordingHost,
};
use san::nvme::{NvmeCli, NvmeHost};
use san::runner::ProcessRunner;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Runs the blade agent on every booted blade, pointed at the blade's
/// `--manager` address.
#[derive(Clone, Debug)]
pub struct AgentOs {
    /// Agent heartbeat interval.
    pub heartbeat: Duration,
    /// Extra manager addresses besides the blade's own (`--manager` lists).
    pub managers: Vec<String>,
    /// How the agents attach volumes; `None`: they cannot.
    pub nvme: Option<FakeNvme>,
    /// When set, each blade's agent changes the real network namespace
    /// `PREFIX<blade name>` (`LinuxHost`, interfaces `eth0`…) instead of an
    /// in-memory host.
    pub netns_prefix: Option<String>,
    /// The fabric's agent key: each blade's agent gets its own blade's
    /// token from it, as a provisioning system would install it. `None`:
    /// agents present no token (and managers refuse them).
    pub agent_key: Option<AgentKey>,
}

/// The fake nvme-cli the agents run (`hwsim-fake-nvme`), with the tree it
/// obeys and where each blade keeps its connections.
#[derive(Clone, Debug)]
pub struct FakeNvme {
    /// The program.
    pub program: PathBuf,
    /// The storage target's nvmet configfs root (`PAN_FAKE_NVME_CONFIGFS`).
    pub configfs: PathBuf,
    /// Blade `b` keeps its connections in `state_dir/b`
    /// (`PAN_FAKE_NVME_STATE`).
    pub state_dir: PathBuf,
}

impl FakeNvme {
    /// The NVMe host of `blade`, with an empty connection state (the blade
    /// just powered on).
    fn host_for(&self, blade: &str) -> Arc<dyn NvmeHost> {
        let state = self.state_dir.join(blade);
        // A power cycle drops every NVMe connection of the blade.
        let _ = std::fs::remove_file(state.join("connections.json"));
        let runner = ProcessRunner::default()
            .env(
                "PAN_FAKE_NVME_CONFIGFS",
                self.configfs.display().to_string(),
            )
            .env("PAN_FAKE_NVME_STATE", state.display().to_string());
        Arc::new(NvmeCli::with_runner(Arc::new(runner)).program(self.program.display().to_string()))
    }
}

impl Default for AgentOs {
    fn default() -> Self {
        AgentOs {
            heartbeat: Duration::from_millis(200),
            managers: Vec::new(),
            nvme: None,
            netns_prefix: None,
            agent_key: None,
        }
    }
}

/// The blade status view of an agent's last report.
fn applied_view(status: &AgentStatus) -> Option<AgentApplied> {
    let report = status.last_applied.as_ref()?;
    Some(AgentApplied {
        generation: report.token.generation,
        term: report.token.term,
        interfaces: report
            .interfaces
            .iter()
            .map(|i| AppliedInterface {
                name: i.name.clone(),
                mac: i.mac.to_string(),
            })
            .collect(),
        volumes: report
            .volumes
            .iter()
            .map(|v| AppliedVolume {
                name: v.name.clone(),
                subsystem_nqn: v.subsystem_nqn.clone(),
                device: v.device.clone(),
            })
            .collect(),
    })
}

impl BladeOs for AgentOs {
    fn boot(&self, ctx: BootContext) -> Box<dyn RunningOs> {
        let mut managers: Vec<String> = ctx
            .blade
            .manager
            .iter()
            .flat_map(|m| m.split(','))
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .collect();
        managers.extend(self.managers.iter().cloned());
        let facts = HostFacts {
            hostname: ctx.blade.name.clone(),
            interfaces: ctx
                .blade
                .macs
                .iter()
                .enumerate()
                .map(|(i, m)| InterfaceFacts {
                    name: format!("eth{i}"),
                    mac: Mac(m.0),
                })
                .collect(),
        };
        let mut config = AgentConfig::new(ctx.blade.name.clone(), managers);
        config.heartbeat = self.heartbeat;
        config.nvme = self.nvme.as_ref().map(|n| n.host_for(&ctx.blade.name));
        config.token = self
            .agent_key
            .as_ref()
            .map(|k| k.token_for(&ctx.blade.name));
        let host: Arc<dyn Host> = match &self.netns_prefix {
            Some(prefix) => Arc::new(
                LinuxHost::new(facts.interfaces.iter().map(|i| i.name.clone()).collect())
                    .in_netns(format!("{prefix}{}", ctx.blade.name)),
            ),
            None => Arc::new(RecordingHost::new(facts)),
        };
        let agent = match Agent::new(config, host) {
            Ok(agent) => agent,
            Err(e) => {
                // No manager configured (or a bad one): the blade runs but
                // nothing manages it, like a real blade without its agent.
                tracing::warn!(blade = %ctx.blade.name, error = %e, "blade OS booted without an agent");
                return Box::new(TaskOs::spawn(async {}));
            }
        };
        let link = agent.link();
        let mut status = agent.status();
        Box::new(TaskOs::spawn(async move {
            let handle = agent.spawn();
            // Mirror the rack's link fault onto the agent.
            let mut rack_link = ctx.link.subscribe();
            let mirror = async {
                loop {
                    if *rack_link.borrow_and_update() {
                        link.restore();
                    } else {
                        link.cut();
                    }
                    if rack_link.changed().await.is_err() {
                        return;
                    }
                }
            };
            // Report what the agent applies as ground truth.
            let report = async {
                let mut last = None;
                let mut last_view = None;
                loop {
                    let now: AgentStatus = status.borrow_and_update().clone();
                    let view = applied_view(&now);
                    if view != last_view {
                        last_view = view.clone();
                        if ctx.host.report_applied(view).is_err() {
                            return; // the blade lost power: this OS is gone.
                        }
                    }
                    if now.applied != last {
                        last = now.applied;
                        let result = match (&now.identity, now.applied) {
                            (Some(id), Some(token)) => ctx.host.apply_identity(AppliedIdentity {
                                uuid: id.uuid.clone(),
                                macs: id.macs.iter().map(ToString::to_string).collect(),
                                host_nqn: id.host_nqn.clone(),
                                generation: token.generation,
                                term: token.term,
                            }),
                            (None, Some(_)) => ctx.host.clear_identity(),
                            (_, None) => Ok(()),
                        };
                        if result.is_err() {
                            return; // the blade lost power: this OS is gone.
                        }
                    }
                    if status.changed().await.is_err() {
                        return;
                    }
                }
            };
            tokio::join!(mirror, report);
            drop(handle);
        }))
    }
}
