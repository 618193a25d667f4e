//! The applier: takes desired states one at a time, judges each with the
//! staleness rule, changes the host, and produces the report.
//!
//! Applying an identity is: put its MACs on the blade through the [`Host`],
//! then attach each of its volumes (boot volume first) with the agent's
//! [`NvmeHost`] as the identity's host NQN; a volume already connected
//! counts as attached. Taking an identity off (a release, or before a
//! different identity) disconnects every volume this agent attached, then
//! gives the interfaces their own MACs back. Any failure is a
//! [`FailureKind::Host`] report naming what failed, and the host counts as
//! unknown until the next change succeeds.
//!
//! It runs beside the stream (not inside it) so heartbeats keep flowing
//! while a slow change (an NVMe connect) is in progress. It outlives
//! streams: a desired state received before the link dropped is still
//! applied, and the next Hello carries the resulting token.

use crate::agent::AgentStatus;
use crate::error::error_chain;
use crate::host::{Host, HostError, VolumeError};
use crate::protocol::{
    Applied, AttachedVolume, DesiredIdentity, Failure, FailureKind, FencingToken, InterfaceFacts,
    Report, ServerIdentity, VolumeAttachment,
};
use crate::staleness::{Verdict, judge};
use san::nvme::NvmeHost;
use san::nvmet::{NAMESPACE_ID, Nqn};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// What the host carries, as far as the agent knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Carried {
    /// Nothing applied since the agent started; the host is taken as clean.
    #[default]
    Fresh,
    /// `token` applied: `identity`, or no identity after a release; with
    /// the interfaces and volumes it left.
    Applied {
        token: FencingToken,
        /// Boxed: the variant would be much larger than the others.
        identity: Option<Box<ServerIdentity>>,
        interfaces: Vec<InterfaceFacts>,
        volumes: Vec<AttachedVolume>,
    },
    /// An attempt failed part-way: the next change releases first.
    Unknown,
}

/// The seams the applier changes the blade through.
#[derive(Clone, Copy)]
pub(crate) struct Devices<'a> {
    pub(crate) host: &'a dyn Host,
    /// `None`: this agent cannot attach volumes.
    pub(crate) nvme: Option<&'a dyn NvmeHost>,
}

/// The applier's memory: the staleness floor, what the host carries and
/// the volumes this agent connected.
#[derive(Debug, Default)]
pub(crate) struct ApplierState {
    /// The newest token accepted for application (applied or attempted).
    accepted: Option<FencingToken>,
    carried: Carried,
    /// Volumes this agent connected and has not disconnected yet, also
    /// those of a failed attempt (so the next change takes them off).
    connected: Vec<AttachedVolume>,
}

impl ApplierState {
    /// The token of the desired state the host carries, if known.
    pub(crate) fn applied(&self) -> Option<FencingToken> {
        match &self.carried {
            Carried::Applied { token, .. } => Some(*token),
            Carried::Fresh | Carried::Unknown => None,
        }
    }

    fn identity(&self) -> Option<ServerIdentity> {
        match &self.carried {
            Carried::Applied { identity, .. } => identity.as_deref().cloned(),
            Carried::Fresh | Carried::Unknown => None,
        }
    }

    /// The report of the state the host carries, if known.
    pub(crate) fn applied_report(&self) -> Option<Applied> {
        match &self.carried {
            Carried::Applied {
                token,
                interfaces,
                volumes,
                ..
            } => Some(Applied {
                token: *token,
                interfaces: interfaces.clone(),
                volumes: volumes.clone(),
            }),
            Carried::Fresh | Carried::Unknown => None,
        }
    }

    /// Judges and applies one desired state; returns the report to send.
    pub(crate) async fn handle(
        &mut self,
        devices: Devices<'_>,
        desired: DesiredIdentity,
    ) -> Report {
        let token = desired.token;
        match judge(self.accepted, self.applied(), token) {
            Verdict::Refuse { current } => {
                tracing::warn!(%token, %current, "refused a stale desired state");
                Report::Failed(Failure {
                    token,
                    kind: FailureKind::Stale,
                    reason: format!(
                        "refused {token}: this agent already accepted {current}, which is newer"
                    ),
                    current: Some(current),
                })
            }
            Verdict::AlreadyApplied => match self.applied_report() {
                Some(applied) => Report::Applied(applied),
                // `judge` answers AlreadyApplied only for the applied token.
                None => Report::Applied(Applied::token_only(token)),
            },
            Verdict::Apply => {
                self.accepted = Some(token);
                if let Carried::Applied {
                    identity,
                    interfaces,
                    volumes,
                    ..
                } = &self.carried
                    && identity.as_deref() == desired.identity.as_ref()
                {
                    // Same identity under a newer token: nothing to change.
                    let applied = Applied {
                        token,
                        interfaces: interfaces.clone(),
                        volumes: volumes.clone(),
                    };
                    self.carried = Carried::Applied {
                        token,
                        identity: desired.identity.map(Box::new),
                        interfaces: applied.interfaces.clone(),
                        volumes: applied.volumes.clone(),
                    };
                    return Report::Applied(applied);
                }
                match self.change(devices, desired.identity.as_ref()).await {
                    Ok((interfaces, volumes)) => {
                        tracing::info!(%token, server = ?desired.identity.as_ref().map(|i| &i.server), volumes = volumes.len(), "applied");
                        let applied = Applied {
                            token,
                            interfaces: interfaces.clone(),
                            volumes: volumes.clone(),
                        };
                        self.carried = Carried::Applied {
                            token,
                            identity: desired.identity.map(Box::new),
                            interfaces,
                            volumes,
                        };
                        Report::Applied(applied)
                    }
                    Err(err) => {
                        let reason = error_chain(&err);
                        tracing::warn!(%token, %reason, "applying failed");
                        self.carried = Carried::Unknown;
                        Report::Failed(Failure {
                            token,
                            kind: FailureKind::Host,
                            reason,
                            current: None,
                        })
                    }
                }
            }
        }
    }

    /// Takes the host from what it carries to `new`: release first unless
    /// the host is known to carry nothing, then network and volumes.
    /// Returns the interfaces and the attached volumes afterwards.
    async fn change(
        &mut self,
        devices: Devices<'_>,
        new: Option<&ServerIdentity>,
    ) -> Result<(Vec<InterfaceFacts>, Vec<AttachedVolume>), HostError> {
        // Refuse before touching anything what this agent cannot do.
        if let Some(identity) = new
            && devices.nvme.is_none()
            && let Some(volume) = identity.volumes.first()
        {
            return Err(HostError::NoNvmeHost {
                server: identity.server.clone(),
                volume: volume.name.clone(),
            });
        }
        let release_first = match &self.carried {
            Carried::Fresh | Carried::Applied { identity: None, .. } => new.is_none(),
            Carried::Applied {
                identity: Some(_), ..
            }
            | Carried::Unknown => true,
        };
        if release_first {
            self.detach_all(devices.nvme).await?;
            devices.host.release().await?;
        }
        let mut volumes = Vec::new();
        if let Some(identity) = new {
            devices.host.apply_network(identity).await?;
            if let Some(nvme) = devices.nvme {
                for volume in &identity.volumes {
                    let attached = attach(nvme, identity, volume).await?;
                    if !self
                        .connected
                        .iter()
                        .any(|c| c.subsystem_nqn == attached.subsystem_nqn)
                    {
                        self.connected.push(attached.clone());
                    }
                    volumes.push(attached);
                }
            }
        }
        // Read back what the blade shows now.
        let interfaces = devices.host.facts().await?.interfaces;
        Ok((interfaces, volumes))
    }

    /// Disconnects every volume this agent connected.
    async fn detach_all(&mut self, nvme: Option<&dyn NvmeHost>) -> Result<(), HostError> {
        let Some(nvme) = nvme else {
            return Ok(());
        };
        while let Some(volume) = self.connected.last() {
            let detach_error = |source| {
                HostError::from(VolumeError::Detach {
                    volume: volume.name.clone(),
                    subsystem_nqn: volume.subsystem_nqn.clone(),
                    source,
                })
            };
            let subsystem = Nqn::parse(volume.subsystem_nqn.as_str()).map_err(detach_error)?;
            nvme.disconnect(&subsystem).await.map_err(detach_error)?;
            tracing::info!(volume = %volume.name, subsystem = %volume.subsystem_nqn, "volume detached");
            self.connected.pop();
        }
        Ok(())
    }
}

/// Connects `volume` as `identity`'s host NQN; a volume already connected
/// counts as attached (its device is looked up, if nvme-cli says it).
async fn attach(
    nvme: &dyn NvmeHost,
    identity: &ServerIdentity,
    volume: &VolumeAttachment,
) -> Result<AttachedVolume, HostError> {
    let attach_error = |source| {
        HostError::from(VolumeError::Attach {
            volume: volume.name.clone(),
            subsystem_nqn: volume.subsystem_nqn.clone(),
            target: volume.target,
            host_nqn: identity.host_nqn.clone(),
            source,
        })
    };
    let subsystem = Nqn::parse(volume.subsystem_nqn.as_str()).map_err(attach_error)?;
    let host = Nqn::parse(identity.host_nqn.as_str()).map_err(attach_error)?;
    let device = match nvme.connect(volume.target, &subsystem, &host).await {
        Ok(controller) => format!("/dev/{controller}n{NAMESPACE_ID}"),
        Err(san::Error::AlreadyConnected { .. }) => nvme
            .list()
            .await
            .ok()
            .and_then(|namespaces| {
                namespaces
                    .into_iter()
                    .find(|n| n.subsystem_nqn.as_deref() == Some(subsystem.as_str()))
            })
            .map(|n| n.device_path)
            .unwrap_or_default(),
        Err(source) => return Err(attach_error(source)),
    };
    tracing::info!(volume = %volume.name, subsystem = %subsystem, %device, "volume attached");
    Ok(AttachedVolume {
        name: volume.name.clone(),
        subsystem_nqn: volume.subsystem_nqn.clone(),
        device,
    })
}

/// Applies desired states from `desired` until it closes, sending a report
/// for each and keeping the applied part of `status` current.
pub(crate) async fn run(
    host: Arc<dyn Host>,
    nvme: Option<Arc<dyn NvmeHost>>,
    mut desired: mpsc::Receiver<DesiredIdentity>,
    reports: mpsc::UnboundedSender<Report>,
    status: Arc<watch::Sender<AgentStatus>>,
) {
    let mut state = ApplierState::default();
    while let Some(next) = desired.recv().await {
        let devices = Devices {
            host: host.as_ref(),
            nvme: nvme.as_deref(),
        };
        let report = state.handle(devices, next).await;
        let (applied, identity, report_now) =
            (state.applied(), state.identity(), state.applied_report());
        let failure = match &report {
            Report::Failed(f) => Some(f.clone()),
            Report::Applied(_) => None,
        };
        status.send_modify(|s| {
            s.applied = applied;
            s.identity = identity;
            s.last_applied = report_now;
            s.last_failure = failure;
        });
        // No receiver only while the agent is stopping.
        let _ = reports.send(report);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{HostEvent, RecordingHost};
    use crate::protocol::{HostFacts, InterfaceFacts, Mac};
    use san::nvme::NvmeCli;
    use san::runner::{CommandOutput, ScriptedRunner};

    const HOST_NQN: &str = "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001";
    const BOOT_NQN: &str = "nqn.2026-11.io.pan:volume:1";
    const DATA_NQN: &str = "nqn.2026-11.io.pan:volume:2";

    fn host() -> RecordingHost {
        RecordingHost::new(HostFacts {
            hostname: "b1".into(),
            interfaces: vec![InterfaceFacts {
                name: "eth0".into(),
                mac: Mac([0x52, 0x54, 0, 0, 0, 1]),
            }],
        })
    }

    fn id(server: &str) -> ServerIdentity {
        ServerIdentity {
            server: server.into(),
            partition: "acme".into(),
            uuid: "u".into(),
            macs: vec![Mac([0x02, 0x50, 0x41, 0, 0, 1])],
            host_nqn: HOST_NQN.into(),
            boot_volume: None,
            volumes: Vec::new(),
        }
    }

    fn with_volumes(server: &str) -> ServerIdentity {
        let volume = |name: &str, nqn: &str| VolumeAttachment {
            name: name.into(),
            subsystem_nqn: nqn.into(),
            target: "127.0.0.1:4420".parse().unwrap(),
        };
        ServerIdentity {
            boot_volume: Some("boot".into()),
            volumes: vec![volume("boot", BOOT_NQN), volume("data", DATA_NQN)],
            ..id(server)
        }
    }

    fn t(term: u64, generation: u64) -> FencingToken {
        FencingToken::new(term, generation)
    }

    fn dev(host: &RecordingHost) -> Devices<'_> {
        Devices { host, nvme: None }
    }

    fn applied(report: &Report) -> &Applied {
        match report {
            Report::Applied(a) => a,
            Report::Failed(f) => panic!("not applied: {f:?}"),
        }
    }

    fn failed(report: &Report) -> &Failure {
        match report {
            Report::Failed(f) => f,
            Report::Applied(a) => panic!("applied: {a:?}"),
        }
    }

    fn connect_line(nqn: &str) -> String {
        format!("nvme connect -t tcp -a 127.0.0.1 -s 4420 -n {nqn} -q {HOST_NQN} -o json")
    }

    #[tokio::test]
    async fn applies_moves_and_releases() {
        let h = host();
        let mut s = ApplierState::default();
        let r = s
            .handle(dev(&h), DesiredIdentity::assign(t(1, 1), id("a")))
            .await;
        assert_eq!(applied(&r).token, t(1, 1));
        assert_eq!(
            applied(&r).interfaces[0].mac,
            id("a").macs[0],
            "the report carries the interfaces after applying"
        );
        let r = s
            .handle(dev(&h), DesiredIdentity::assign(t(1, 2), id("b")))
            .await;
        assert_eq!(applied(&r).token, t(1, 2));
        let r = s.handle(dev(&h), DesiredIdentity::release(t(1, 3))).await;
        assert_eq!(applied(&r).token, t(1, 3));
        assert_eq!(applied(&r).interfaces[0].mac, Mac([0x52, 0x54, 0, 0, 0, 1]));
        assert_eq!(
            h.events(),
            [
                HostEvent::Network(id("a")),
                HostEvent::Released,
                HostEvent::Network(id("b")),
                HostEvent::Released,
            ]
        );
        assert_eq!(s.applied(), Some(t(1, 3)));
    }

    #[tokio::test]
    async fn stale_and_repeated_states_do_not_touch_the_host() {
        let h = host();
        let mut s = ApplierState::default();
        let first = s
            .handle(dev(&h), DesiredIdentity::assign(t(2, 5), id("a")))
            .await;
        let before = h.events();
        // The same token again: acknowledged with the same report.
        assert_eq!(
            s.handle(dev(&h), DesiredIdentity::assign(t(2, 5), id("a")))
                .await,
            first
        );
        // A newer leader re-pushing the same generation: adopted, no change.
        let r = s
            .handle(dev(&h), DesiredIdentity::assign(t(3, 5), id("a")))
            .await;
        assert_eq!(applied(&r).token, t(3, 5));
        assert_eq!(applied(&r).interfaces, applied(&first).interfaces);
        // Older: refused, with the current token.
        for stale in [t(2, 5), t(9, 4)] {
            let r = s
                .handle(dev(&h), DesiredIdentity::assign(stale, id("x")))
                .await;
            assert_eq!(failed(&r).kind, FailureKind::Stale);
            assert_eq!(failed(&r).current, Some(t(3, 5)));
        }
        assert_eq!(h.events(), before);
        assert_eq!(s.applied(), Some(t(3, 5)));
    }

    #[tokio::test]
    async fn a_failed_attempt_raises_the_floor_and_forgets_the_applied_token() {
        let h = host();
        let mut s = ApplierState::default();
        s.handle(dev(&h), DesiredIdentity::assign(t(1, 1), id("a")))
            .await;
        h.fail_next("injected");
        let r = s
            .handle(dev(&h), DesiredIdentity::assign(t(1, 2), id("b")))
            .await;
        assert_eq!(failed(&r).kind, FailureKind::Host);
        assert_eq!(
            s.applied(),
            None,
            "the host state is unknown after a failure"
        );
        // Generation 1 is below the accepted 2: refused.
        let r = s
            .handle(dev(&h), DesiredIdentity::assign(t(1, 1), id("a")))
            .await;
        assert_eq!(failed(&r).kind, FailureKind::Stale);
        // A retry of 2 releases first (unknown state), then applies.
        let r = s
            .handle(dev(&h), DesiredIdentity::assign(t(1, 2), id("b")))
            .await;
        assert_eq!(applied(&r).token, t(1, 2));
        assert_eq!(h.carrying(), Some(id("b")));
    }

    #[tokio::test]
    async fn volumes_are_attached_after_the_network_and_detached_on_change() {
        let h = host();
        let runner = ScriptedRunner::new();
        runner
            .push(CommandOutput::ok(r#"{"device":"nvme0"}"#))
            .push(CommandOutput::ok(r#"{"device":"nvme1"}"#));
        let nvme = NvmeCli::with_runner(Arc::new(runner.clone()));
        let devices = Devices {
            host: &h,
            nvme: Some(&nvme),
        };
        let mut s = ApplierState::default();
        let r = s
            .handle(devices, DesiredIdentity::assign(t(1, 1), with_volumes("a")))
            .await;
        let volumes: Vec<_> = applied(&r)
            .volumes
            .iter()
            .map(|v| (v.name.as_str(), v.subsystem_nqn.as_str(), v.device.as_str()))
            .collect();
        assert_eq!(
            volumes,
            [
                ("boot", BOOT_NQN, "/dev/nvme0n1"),
                ("data", DATA_NQN, "/dev/nvme1n1")
            ]
        );
        assert_eq!(
            runner.commands(),
            [connect_line(BOOT_NQN), connect_line(DATA_NQN)]
        );
        // A new identity: the previous one's volumes go first, newest first.
        runner
            .push(CommandOutput::ok("NQN:x disconnected 1 controller(s)"))
            .push(CommandOutput::ok("NQN:x disconnected 1 controller(s)"));
        let r = s
            .handle(devices, DesiredIdentity::assign(t(1, 2), id("b")))
            .await;
        assert!(applied(&r).volumes.is_empty());
        assert_eq!(
            runner.commands()[2..],
            [
                format!("nvme disconnect -n {DATA_NQN}"),
                format!("nvme disconnect -n {BOOT_NQN}")
            ]
        );
        // Release: nothing left to disconnect.
        let r = s.handle(devices, DesiredIdentity::release(t(1, 3))).await;
        assert_eq!(applied(&r).token, t(1, 3));
        assert_eq!(runner.commands().len(), 4);
    }

    #[tokio::test]
    async fn an_already_connected_volume_counts_as_attached() {
        let h = host();
        let runner = ScriptedRunner::new();
        runner
            .push(CommandOutput::failed(
                1,
                "could not add new controller: already connected",
            ))
            .push(CommandOutput::ok(format!(
                r#"{{"Devices":[{{"Subsystems":[{{"SubsystemNQN":"{BOOT_NQN}","Namespaces":[{{"NameSpace":"nvme2n1","NSID":1}}]}}]}}]}}"#
            )))
            .push(CommandOutput::ok(r#"{"device":"nvme3"}"#));
        let nvme = NvmeCli::with_runner(Arc::new(runner.clone()));
        let devices = Devices {
            host: &h,
            nvme: Some(&nvme),
        };
        let mut s = ApplierState::default();
        let r = s
            .handle(devices, DesiredIdentity::assign(t(1, 1), with_volumes("a")))
            .await;
        let a = applied(&r);
        assert_eq!(a.volumes[0].device, "/dev/nvme2n1");
        assert_eq!(a.volumes[1].device, "/dev/nvme3n1");
        // The device of the connected one is looked up with `nvme list`.
        assert_eq!(runner.commands()[1], "nvme list -o json");
    }

    #[tokio::test]
    async fn a_refused_volume_fails_naming_volume_subsystem_and_nvme_error() {
        let h = host();
        let runner = ScriptedRunner::new();
        runner
            .push(CommandOutput::ok(r#"{"device":"nvme0"}"#))
            .push(CommandOutput::failed(
                1,
                "could not add new controller: failed to write to nvme-fabrics device",
            ));
        let nvme = NvmeCli::with_runner(Arc::new(runner.clone()));
        let devices = Devices {
            host: &h,
            nvme: Some(&nvme),
        };
        let mut s = ApplierState::default();
        let r = s
            .handle(devices, DesiredIdentity::assign(t(1, 1), with_volumes("a")))
            .await;
        let f = failed(&r);
        assert_eq!(f.kind, FailureKind::Host);
        for part in [
            "volume data",
            DATA_NQN,
            HOST_NQN,
            "failed to write to nvme-fabrics device",
        ] {
            assert!(f.reason.contains(part), "{part:?} not in {:?}", f.reason);
        }
        assert_eq!(s.applied(), None);
        // The next change takes off the volume that did attach.
        let r = s.handle(devices, DesiredIdentity::release(t(1, 2))).await;
        assert_eq!(applied(&r).token, t(1, 2));
        assert_eq!(
            runner.commands().last().map(String::as_str),
            Some(format!("nvme disconnect -n {BOOT_NQN}").as_str())
        );
    }

    #[tokio::test]
    async fn volumes_without_an_nvme_host_are_refused_before_any_change() {
        let h = host();
        let mut s = ApplierState::default();
        let r = s
            .handle(dev(&h), DesiredIdentity::assign(t(1, 1), with_volumes("a")))
            .await;
        let f = failed(&r);
        assert_eq!(f.kind, FailureKind::Host);
        assert!(
            f.reason.contains("this agent has no NVMe host configured"),
            "{}",
            f.reason
        );
        assert!(f.reason.contains("volume boot"), "{}", f.reason);
        assert!(h.events().is_empty());
    }
}
