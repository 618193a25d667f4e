//! The applier: takes desired states one at a time, judges each with the
//! staleness rule, changes the host, and produces the report.
//!
//! It runs beside the stream (not inside it) so heartbeats keep flowing
//! while a slow change (an NVMe connect, later) is in progress. It outlives
//! streams: a desired state received before the link dropped is still
//! applied, and the next Hello carries the resulting token.

use crate::agent::AgentStatus;
use crate::error::error_chain;
use crate::host::{Host, HostError};
use crate::protocol::{
    DesiredIdentity, Failure, FailureKind, FencingToken, Report, ServerIdentity,
};
use crate::staleness::{Verdict, judge};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// What the host carries, as far as the agent knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Carried {
    /// Nothing applied since the agent started; the host is taken as clean.
    #[default]
    Fresh,
    /// `token` applied: `identity`, or no identity after a release.
    Applied {
        token: FencingToken,
        identity: Option<ServerIdentity>,
    },
    /// An attempt failed part-way: the next change releases first.
    Unknown,
}

/// The applier's memory: the staleness floor and what the host carries.
#[derive(Debug, Default)]
pub(crate) struct ApplierState {
    /// The newest token accepted for application (applied or attempted).
    accepted: Option<FencingToken>,
    carried: Carried,
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
            Carried::Applied { identity, .. } => identity.clone(),
            Carried::Fresh | Carried::Unknown => None,
        }
    }

    /// Judges and applies one desired state; returns the report to send.
    pub(crate) async fn handle(&mut self, host: &dyn Host, desired: DesiredIdentity) -> Report {
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
            Verdict::AlreadyApplied => Report::Applied(token),
            Verdict::Apply => {
                self.accepted = Some(token);
                if let Carried::Applied { identity, .. } = &self.carried
                    && *identity == desired.identity
                {
                    // Same identity under a newer token: nothing to change.
                    self.carried = Carried::Applied {
                        token,
                        identity: desired.identity,
                    };
                    return Report::Applied(token);
                }
                match change(host, &self.carried, desired.identity.as_ref()).await {
                    Ok(()) => {
                        tracing::info!(%token, server = ?desired.identity.as_ref().map(|i| &i.server), "applied");
                        self.carried = Carried::Applied {
                            token,
                            identity: desired.identity,
                        };
                        Report::Applied(token)
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
}

/// Takes the host from `carried` to `new`: release first unless the host is
/// known to carry nothing, then network and volumes.
async fn change(
    host: &dyn Host,
    carried: &Carried,
    new: Option<&ServerIdentity>,
) -> Result<(), HostError> {
    let release_first = match carried {
        Carried::Fresh | Carried::Applied { identity: None, .. } => new.is_none(),
        Carried::Applied {
            identity: Some(_), ..
        }
        | Carried::Unknown => true,
    };
    if release_first {
        host.release().await?;
    }
    if let Some(identity) = new {
        host.apply_network(identity).await?;
        host.attach_volumes(identity).await?;
    }
    Ok(())
}

/// Applies desired states from `desired` until it closes, sending a report
/// for each and keeping `status.applied` / `status.identity` current.
pub(crate) async fn run(
    host: Arc<dyn Host>,
    mut desired: mpsc::Receiver<DesiredIdentity>,
    reports: mpsc::UnboundedSender<Report>,
    status: Arc<watch::Sender<AgentStatus>>,
) {
    let mut state = ApplierState::default();
    while let Some(next) = desired.recv().await {
        let report = state.handle(host.as_ref(), next).await;
        let (applied, identity) = (state.applied(), state.identity());
        status.send_modify(|s| {
            s.applied = applied;
            s.identity = identity;
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
            host_nqn: "nqn".into(),
            boot_volume: None,
            volumes: Vec::new(),
        }
    }

    fn t(term: u64, generation: u64) -> FencingToken {
        FencingToken::new(term, generation)
    }

    #[tokio::test]
    async fn applies_moves_and_releases() {
        let h = host();
        let mut s = ApplierState::default();
        let r = s
            .handle(&h, DesiredIdentity::assign(t(1, 1), id("a")))
            .await;
        assert_eq!(r, Report::Applied(t(1, 1)));
        let r = s
            .handle(&h, DesiredIdentity::assign(t(1, 2), id("b")))
            .await;
        assert_eq!(r, Report::Applied(t(1, 2)));
        let r = s.handle(&h, DesiredIdentity::release(t(1, 3))).await;
        assert_eq!(r, Report::Applied(t(1, 3)));
        assert_eq!(
            h.events(),
            [
                HostEvent::Network(id("a")),
                HostEvent::Volumes(id("a")),
                HostEvent::Released,
                HostEvent::Network(id("b")),
                HostEvent::Volumes(id("b")),
                HostEvent::Released,
            ]
        );
        assert_eq!(s.applied(), Some(t(1, 3)));
    }

    #[tokio::test]
    async fn stale_and_repeated_states_do_not_touch_the_host() {
        let h = host();
        let mut s = ApplierState::default();
        s.handle(&h, DesiredIdentity::assign(t(2, 5), id("a")))
            .await;
        let before = h.events();
        // The same token again: acknowledged.
        assert_eq!(
            s.handle(&h, DesiredIdentity::assign(t(2, 5), id("a")))
                .await,
            Report::Applied(t(2, 5))
        );
        // A newer leader re-pushing the same generation: adopted, no change.
        assert_eq!(
            s.handle(&h, DesiredIdentity::assign(t(3, 5), id("a")))
                .await,
            Report::Applied(t(3, 5))
        );
        // Older: refused, with the current token.
        for stale in [t(2, 5), t(9, 4)] {
            match s.handle(&h, DesiredIdentity::assign(stale, id("x"))).await {
                Report::Failed(f) => {
                    assert_eq!(f.kind, FailureKind::Stale);
                    assert_eq!(f.current, Some(t(3, 5)));
                }
                other => panic!("{stale} was not refused: {other:?}"),
            }
        }
        assert_eq!(h.events(), before);
        assert_eq!(s.applied(), Some(t(3, 5)));
    }

    #[tokio::test]
    async fn a_failed_attempt_raises_the_floor_and_forgets_the_applied_token() {
        let h = host();
        let mut s = ApplierState::default();
        s.handle(&h, DesiredIdentity::assign(t(1, 1), id("a")))
            .await;
        h.fail_next("injected");
        match s
            .handle(&h, DesiredIdentity::assign(t(1, 2), id("b")))
            .await
        {
            Report::Failed(f) => assert_eq!(f.kind, FailureKind::Host),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.applied(),
            None,
            "the host state is unknown after a failure"
        );
        // Generation 1 is below the accepted 2: refused.
        assert!(matches!(
            s.handle(&h, DesiredIdentity::assign(t(1, 1), id("a")))
                .await,
            Report::Failed(Failure {
                kind: FailureKind::Stale,
                ..
            })
        ));
        // A retry of 2 releases first (unknown state), then applies.
        assert_eq!(
            s.handle(&h, DesiredIdentity::assign(t(1, 2), id("b")))
                .await,
            Report::Applied(t(1, 2))
        );
        assert_eq!(h.carrying(), Some(id("b")));
    }
}
