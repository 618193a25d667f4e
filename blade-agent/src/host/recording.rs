//! [`RecordingHost`]: an in-memory blade for hwsim and tests.
//!
//! It keeps the facts of a simulated blade (its interfaces' MACs change as
//! identities are applied and released, like a real one), records every
//! change as a [`HostEvent`], publishes the identity the blade carries on a
//! watch channel, and hands each event to an optional [`HostHook`] first: the
//! simulator's way to observe changes as they happen or to refuse one (an
//! injected fault).

use super::{Host, HostError};
use crate::protocol::{HostFacts, Mac, ServerIdentity};
use async_trait::async_trait;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// One change made to a [`RecordingHost`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// The identity's MACs went onto the interfaces.
    Network(ServerIdentity),
    /// The identity was taken off.
    Released,
}

/// Called with each event before it takes effect; an `Err` refuses it (the
/// blade is left unchanged and the agent reports the error).
pub type HostHook = Arc<dyn Fn(&HostEvent) -> Result<(), HostError> + Send + Sync>;

struct Inner {
    facts: HostFacts,
    /// The interfaces' own MACs, restored on release.
    own_macs: Vec<Mac>,
    events: Vec<HostEvent>,
    fail_next: Option<String>,
}

/// A simulated blade that records what the agent does to it.
pub struct RecordingHost {
    inner: Mutex<Inner>,
    carrying: watch::Sender<Option<ServerIdentity>>,
    hook: Option<HostHook>,
}

impl RecordingHost {
    /// A blade with these facts (its hostname and interfaces, vNIC 0 first).
    pub fn new(facts: HostFacts) -> Self {
        let own_macs = facts.interfaces.iter().map(|i| i.mac).collect();
        RecordingHost {
            inner: Mutex::new(Inner {
                facts,
                own_macs,
                events: Vec::new(),
                fail_next: None,
            }),
            carrying: watch::Sender::new(None),
            hook: None,
        }
    }

    /// Calls `hook` with every event before it takes effect.
    pub fn with_hook(mut self, hook: HostHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The blade's facts now (interfaces carry the applied identity's MACs).
    pub fn current_facts(&self) -> HostFacts {
        self.lock().facts.clone()
    }

    /// Every change so far, oldest first.
    pub fn events(&self) -> Vec<HostEvent> {
        self.lock().events.clone()
    }

    /// The identity whose MACs the blade carries now: set when its network
    /// is applied, cleared on release.
    pub fn carrying(&self) -> Option<ServerIdentity> {
        self.carrying.borrow().clone()
    }

    /// Watches [`RecordingHost::carrying`].
    pub fn subscribe(&self) -> watch::Receiver<Option<ServerIdentity>> {
        self.carrying.subscribe()
    }

    /// Fault knob: the next change fails with `reason`.
    pub fn fail_next(&self, reason: impl Into<String>) {
        self.lock().fail_next = Some(reason.into());
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave Inner half-changed: recover it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs the fault knob and the hook, then records `event` and applies
    /// `change` to the inner state.
    fn change(&self, event: HostEvent, change: impl FnOnce(&mut Inner)) -> Result<(), HostError> {
        if let Some(reason) = self.lock().fail_next.take() {
            return Err(HostError::Refused { reason });
        }
        if let Some(hook) = &self.hook {
            hook(&event)?;
        }
        let mut inner = self.lock();
        change(&mut inner);
        inner.events.push(event);
        Ok(())
    }
}

#[async_trait]
impl Host for RecordingHost {
    async fn facts(&self) -> Result<HostFacts, HostError> {
        Ok(self.lock().facts.clone())
    }

    async fn apply_network(&self, identity: &ServerIdentity) -> Result<(), HostError> {
        let interfaces = self.lock().facts.interfaces.len();
        if identity.macs.len() > interfaces {
            return Err(HostError::NotEnoughInterfaces {
                server: identity.server.clone(),
                macs: identity.macs.len(),
                interfaces,
            });
        }
        self.change(HostEvent::Network(identity.clone()), |inner| {
            let own = inner.own_macs.clone();
            for (i, interface) in inner.facts.interfaces.iter_mut().enumerate() {
                interface.mac = identity.macs.get(i).copied().unwrap_or(own[i]);
            }
        })?;
        self.carrying.send_replace(Some(identity.clone()));
        Ok(())
    }

    async fn release(&self) -> Result<(), HostError> {
        self.change(HostEvent::Released, |inner| {
            let own = inner.own_macs.clone();
            for (interface, mac) in inner.facts.interfaces.iter_mut().zip(own) {
                interface.mac = mac;
            }
        })?;
        self.carrying.send_replace(None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::InterfaceFacts;

    fn blade() -> RecordingHost {
        RecordingHost::new(HostFacts {
            hostname: "blade-1".into(),
            interfaces: vec![InterfaceFacts {
                name: "eth0".into(),
                mac: Mac([0x52, 0x54, 0, 0, 0, 1]),
            }],
        })
    }

    fn identity() -> ServerIdentity {
        ServerIdentity {
            server: "web-1".into(),
            partition: "acme".into(),
            uuid: "u".into(),
            macs: vec![Mac([0x02, 0x50, 0x41, 0, 0, 1])],
            host_nqn: "nqn".into(),
            boot_volume: None,
            volumes: Vec::new(),
        }
    }

    #[tokio::test]
    async fn records_changes_and_moves_macs() {
        let host = blade();
        host.apply_network(&identity()).await.unwrap();
        assert_eq!(host.carrying(), Some(identity()));
        assert_eq!(
            host.facts().await.unwrap().interfaces[0].mac,
            identity().macs[0]
        );
        host.release().await.unwrap();
        assert_eq!(host.carrying(), None);
        assert_eq!(
            host.facts().await.unwrap().interfaces[0].mac,
            Mac([0x52, 0x54, 0, 0, 0, 1])
        );
        assert_eq!(
            host.events(),
            [HostEvent::Network(identity()), HostEvent::Released]
        );
    }

    #[tokio::test]
    async fn a_hook_or_fault_refuses_without_changing_the_blade() {
        let host = blade().with_hook(Arc::new(|e: &HostEvent| match e {
            HostEvent::Network(id) if id.server == "refused" => Err(HostError::Refused {
                reason: "not on this blade".into(),
            }),
            _ => Ok(()),
        }));
        let refused = ServerIdentity {
            server: "refused".into(),
            ..identity()
        };
        assert!(host.apply_network(&refused).await.is_err());
        assert_eq!(host.carrying(), None);
        assert_eq!(
            host.facts().await.unwrap().interfaces[0].mac,
            Mac([0x52, 0x54, 0, 0, 0, 1])
        );
        host.apply_network(&identity()).await.unwrap();
        host.fail_next("injected");
        assert!(host.release().await.is_err());
        assert_eq!(host.carrying(), Some(identity()));
        assert_eq!(host.events(), [HostEvent::Network(identity())]);
    }
}
