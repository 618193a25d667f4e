//! [`AgentOs`]: the blade OS that runs the real blade-agent code.
//!
//! Each boot starts a `blade_agent::Agent` in-process with a
//! `RecordingHost` shaped like the blade (its hostname and burned-in
//! fabric MACs). What the agent applies is reported to the rack as ground
//! truth, with the fencing token it came with; the rack's link fault is
//! mirrored onto the agent's link switch. Powering the blade off drops the
//! agent at once, like losing power.

use crate::os::{AppliedIdentity, BladeOs, BootContext, RunningOs, TaskOs};
use blade_agent::{Agent, AgentConfig, AgentStatus, HostFacts, InterfaceFacts, Mac, RecordingHost};
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
}

impl Default for AgentOs {
    fn default() -> Self {
        AgentOs {
            heartbeat: Duration::from_millis(200),
            managers: Vec::new(),
        }
    }
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
        let host = Arc::new(RecordingHost::new(facts));
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
                loop {
                    let now: AgentStatus = status.borrow_and_update().clone();
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
