//! [`AgentRegistry`]: what this manager process knows about the blade agents
//! that hold a stream to it, and the way to push them desired identities.
//!
//! Per blade it keeps: the open stream (if any), the last heartbeat (tokio
//! time), the facts and version from the last Hello, the last applied token,
//! the last applied report (interfaces and attached volumes, see
//! [`AgentRegistry::applied_report`]) and the last failure. It is in memory and per process: nothing here is
//! written to the raft log, and a restarted or newly elected manager starts
//! empty and learns it again from the agents' Hellos and heartbeats.
//!
//! Must never: write to raft, decide placement, or judge a blade failed
//! (that is the controller's job, with [`super::liveness`]).

use super::error::AgentError;
use super::liveness::{Liveness, liveness};
use blade_agent::{
    Applied, AttachedVolume, DesiredIdentity, Failure, FencingToken, Hello, HostFacts,
    InterfaceFacts, Report,
};
use pan_api::v1 as pb;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tonic::Status;

/// Desired states queued towards one agent before pushes count as stalled.
const OUTBOUND_QUEUE: usize = 16;
/// How long a push waits for room in a full queue.
const PUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The sending half of one agent's response stream.
pub(crate) type Outbound = mpsc::Sender<Result<pb::ManagerMessage, Status>>;

/// Whether this member takes agent streams.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Admission {
    /// Take them (the default; the leader, or a single member).
    #[default]
    Accept,
    /// Send agents to `leader` (`HOST:PORT`): the controller runs on the
    /// leader only, so agents must hold their stream there.
    Redirect { leader: String },
}

/// A failure an agent reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentFailure {
    pub failure: Failure,
    pub at: Instant,
    /// Registry-wide order of events, to tell it from an earlier attempt's.
    seq: u64,
}

/// What a blade's agent last reported applied: the token, the interfaces
/// afterwards and the volumes it attached. In memory only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedReport {
    pub token: FencingToken,
    /// Interface name and MAC, as the agent read them after applying.
    pub interfaces: Vec<InterfaceFacts>,
    /// Name, subsystem NQN and host device, boot volume first.
    pub volumes: Vec<AttachedVolume>,
    /// When this manager received it.
    pub at: Instant,
}

impl AppliedReport {
    fn new(applied: Applied, at: Instant) -> Self {
        AppliedReport {
            token: applied.token,
            interfaces: applied.interfaces,
            volumes: applied.volumes,
            at,
        }
    }
}

/// What the registry knows about one blade's agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentView {
    pub blade: String,
    pub connected: bool,
    /// The agent's address as this manager sees it.
    pub peer: Option<SocketAddr>,
    pub agent_version: String,
    pub facts: HostFacts,
    pub connected_since: Option<Instant>,
    pub disconnected_at: Option<Instant>,
    pub last_heartbeat: Option<Instant>,
    /// The token the agent last reported applied (Hello or report).
    pub applied: Option<FencingToken>,
    pub last_failure: Option<AgentFailure>,
    /// Streams this agent opened to this manager.
    pub sessions: u64,
}

/// Identifies one stream, so a replaced stream's late messages are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SessionId(u64);

/// What [`AgentRegistry::admit`] decided for a new stream.
pub(crate) enum Admitted {
    /// Registered: serve `outbound` as the response; `kicked` resolves when
    /// the registry ends the stream (replaced, redirected).
    Session {
        id: SessionId,
        outbound: mpsc::Receiver<Result<pb::ManagerMessage, Status>>,
        kicked: oneshot::Receiver<()>,
    },
    /// Not taken here: answer with a redirect to `leader` and end.
    Redirect { leader: String },
}

struct Session {
    id: SessionId,
    tx: Outbound,
    /// Dropped to end the stream's reader task.
    _kick: oneshot::Sender<()>,
}

struct Entry {
    session: Option<Session>,
    peer: Option<SocketAddr>,
    sessions: u64,
    agent_version: String,
    facts: HostFacts,
    connected_since: Option<Instant>,
    disconnected_at: Option<Instant>,
    last_heartbeat: Option<Instant>,
    applied: Option<FencingToken>,
    /// The last applied report; kept only while its token is `applied`.
    applied_report: Option<AppliedReport>,
    last_failure: Option<AgentFailure>,
    /// Event order of the last push, for [`outcome`].
    last_push_seq: Option<u64>,
}

impl Entry {
    fn new(hello: &Hello) -> Self {
        Entry {
            session: None,
            peer: None,
            sessions: 0,
            agent_version: hello.agent_version.clone(),
            facts: hello.facts.clone(),
            connected_since: None,
            disconnected_at: None,
            last_heartbeat: None,
            applied: None,
            applied_report: None,
            last_failure: None,
            last_push_seq: None,
        }
    }

    fn view(&self, blade: &str) -> AgentView {
        AgentView {
            blade: blade.to_string(),
            connected: self.session.is_some(),
            peer: self.peer,
            agent_version: self.agent_version.clone(),
            facts: self.facts.clone(),
            connected_since: self.connected_since,
            disconnected_at: self.disconnected_at,
            last_heartbeat: self.last_heartbeat,
            applied: self.applied,
            last_failure: self.last_failure.clone(),
            sessions: self.sessions,
        }
    }
}

#[derive(Default)]
struct State {
    blades: BTreeMap<String, Entry>,
    admission: Admission,
    next_session: u64,
    next_seq: u64,
}

impl State {
    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

struct Inner {
    state: Mutex<State>,
    /// Bumped on every change; waiters re-check on it.
    changes: watch::Sender<u64>,
}

/// The agents connected to this manager process. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct AgentRegistry {
    inner: Arc<Inner>,
}

impl Default for AgentRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for AgentRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRegistry")
            .field("blades", &self.lock().blades.len())
            .finish()
    }
}

impl AgentRegistry {
    pub fn new() -> Self {
        AgentRegistry {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                changes: watch::Sender::new(0),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation below completes under the lock without panicking
        // paths, so a poisoned lock still holds a consistent state.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.inner.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees a new value after every change (Hello,
    /// heartbeat, report, disconnect, push).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Sets whether this member takes agent streams. Redirecting also sends
    /// every connected agent to `leader` and ends its stream here.
    pub fn set_admission(&self, admission: Admission) {
        let mut state = self.lock();
        if state.admission == admission {
            return;
        }
        state.admission = admission.clone();
        if let Admission::Redirect { leader } = &admission {
            let now = Instant::now();
            for (blade, entry) in state.blades.iter_mut() {
                if let Some(session) = entry.session.take() {
                    tracing::info!(%blade, %leader, "redirecting agent to the leader");
                    // Queued before the sender drops, so the agent reads it
                    // before the end of the stream; a full queue just ends it.
                    let _ = session.tx.try_send(Ok(redirect(leader)));
                    entry.disconnected_at = Some(now);
                }
            }
        }
        drop(state);
        self.changed();
    }

    pub fn admission(&self) -> Admission {
        self.lock().admission.clone()
    }

    /// Registers the stream that opened with `hello`, replacing (and ending)
    /// an earlier stream of the same blade.
    pub(crate) fn admit(&self, hello: Hello, peer: Option<SocketAddr>) -> Admitted {
        let mut state = self.lock();
        if let Admission::Redirect { leader } = &state.admission {
            return Admitted::Redirect {
                leader: leader.clone(),
            };
        }
        state.next_session += 1;
        let id = SessionId(state.next_session);
        let (tx, outbound) = mpsc::channel(OUTBOUND_QUEUE);
        let (kick, kicked) = oneshot::channel();
        let now = Instant::now();
        let entry = state
            .blades
            .entry(hello.blade.clone())
            .or_insert_with(|| Entry::new(&hello));
        if entry.session.is_some() {
            tracing::warn!(blade = %hello.blade, ?peer, "agent opened a new stream; ending its previous one");
        }
        entry.session = Some(Session {
            id,
            tx,
            _kick: kick,
        });
        entry.peer = peer;
        entry.sessions += 1;
        entry.agent_version = hello.agent_version;
        entry.facts = hello.facts;
        entry.connected_since = Some(now);
        entry.last_heartbeat = Some(now);
        entry.applied = hello.applied;
        // A report of another token than the one the agent says it carries
        // no longer describes the blade.
        if entry.applied_report.as_ref().map(|r| r.token) != hello.applied {
            entry.applied_report = None;
        }
        tracing::info!(blade = %hello.blade, ?peer, applied = ?hello.applied, "agent connected");
        drop(state);
        self.changed();
        Admitted::Session {
            id,
            outbound,
            kicked,
        }
    }

    /// Runs `f` on the blade's entry if `session` is still its stream;
    /// false when it is not (replaced or ended).
    fn with_session(
        &self,
        blade: &str,
        session: SessionId,
        f: impl FnOnce(&mut Entry, u64),
    ) -> bool {
        let mut state = self.lock();
        let seq = state.seq();
        let Some(entry) = state.blades.get_mut(blade) else {
            return false;
        };
        if entry.session.as_ref().map(|s| s.id) != Some(session) {
            return false;
        }
        f(entry, seq);
        drop(state);
        self.changed();
        true
    }

    /// Records a heartbeat of `session`.
    pub(crate) fn heartbeat(&self, blade: &str, session: SessionId) -> bool {
        self.with_session(blade, session, |entry, _| {
            entry.last_heartbeat = Some(Instant::now());
        })
    }

    /// Records a report of `session`.
    pub(crate) fn report(&self, blade: &str, session: SessionId, report: Report) -> bool {
        self.with_session(blade, session, |entry, seq| match report {
            Report::Applied(applied) => {
                let token = applied.token;
                tracing::info!(%blade, %token, volumes = applied.volumes.len(), "agent applied");
                entry.applied = Some(token);
                entry.applied_report = Some(AppliedReport::new(applied, Instant::now()));
            }
            Report::Failed(failure) => {
                tracing::warn!(%blade, token = %failure.token, kind = %failure.kind, reason = %failure.reason, "agent did not apply");
                entry.last_failure = Some(AgentFailure {
                    failure,
                    at: Instant::now(),
                    seq,
                });
            }
        })
    }

    /// Marks `session` ended (if it is still the blade's stream).
    pub(crate) fn disconnect(&self, blade: &str, session: SessionId, why: &str) {
        self.with_session(blade, session, |entry, _| {
            tracing::info!(%blade, why, "agent disconnected");
            entry.session = None;
            entry.disconnected_at = Some(Instant::now());
        });
    }

    /// Sends `desired` to the blade's agent. `Ok` means it was queued on the
    /// stream, not that it was applied: [`AgentRegistry::wait_applied`] tells.
    pub async fn push_desired(
        &self,
        blade: &str,
        desired: DesiredIdentity,
    ) -> Result<(), AgentError> {
        let not_connected = || AgentError::NotConnected {
            blade: blade.to_string(),
        };
        let tx = {
            let mut state = self.lock();
            let seq = state.seq();
            let entry = state.blades.get_mut(blade).ok_or_else(not_connected)?;
            let tx = entry.session.as_ref().ok_or_else(not_connected)?.tx.clone();
            entry.last_push_seq = Some(seq);
            tx
        };
        let message = pb::ManagerMessage {
            body: Some(pb::manager_message::Body::Desired((&desired).into())),
        };
        match tokio::time::timeout(PUSH_TIMEOUT, tx.send(Ok(message))).await {
            Ok(Ok(())) => {
                tracing::info!(%blade, token = %desired.token, server = ?desired.identity.as_ref().map(|i| &i.server), "desired identity pushed");
                Ok(())
            }
            Ok(Err(_)) => Err(not_connected()),
            Err(_) => Err(AgentError::Stalled {
                blade: blade.to_string(),
            }),
        }
    }

    /// Waits until the blade's agent reports `generation` applied (its
    /// token), reports a failure for it, reports a newer generation applied,
    /// or `timeout` passes. A disconnect does not end the wait: the agent may
    /// reconnect and report the generation in its Hello.
    pub async fn wait_applied(
        &self,
        blade: &str,
        generation: u64,
        timeout: Duration,
    ) -> Result<FencingToken, AgentError> {
        let deadline = Instant::now() + timeout;
        let mut changes = self.subscribe();
        loop {
            let (result, connected, applied) = {
                let state = self.lock();
                match state.blades.get(blade) {
                    None => (None, false, None),
                    Some(e) => (
                        outcome(
                            blade,
                            generation,
                            e.applied,
                            e.last_failure.as_ref(),
                            e.last_push_seq,
                        ),
                        e.session.is_some(),
                        e.applied,
                    ),
                }
            };
            if let Some(result) = result {
                return result;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `self`; Err cannot happen. Time is up.
                Ok(Err(_)) | Err(_) => {
                    return Err(AgentError::Timeout {
                        blade: blade.to_string(),
                        generation,
                        timeout,
                        connected,
                        applied,
                    });
                }
            }
        }
    }

    /// The last heartbeat (or Hello) of the blade's agent.
    pub fn last_heartbeat(&self, blade: &str) -> Option<Instant> {
        self.lock().blades.get(blade).and_then(|e| e.last_heartbeat)
    }

    /// The blade's liveness at `now` for detection window `window`.
    pub fn liveness(&self, blade: &str, now: Instant, window: Duration) -> Liveness {
        liveness(self.last_heartbeat(blade), now, window)
    }

    /// Blades whose agent holds a stream to this manager now.
    pub fn connected_blades(&self) -> Vec<String> {
        self.lock()
            .blades
            .iter()
            .filter(|(_, e)| e.session.is_some())
            .map(|(b, _)| b.clone())
            .collect()
    }

    /// What the blade's agent last reported applied (token, interfaces,
    /// attached volumes), if it still describes the blade: `None` before
    /// any report, and after a Hello naming another token.
    pub fn applied_report(&self, blade: &str) -> Option<AppliedReport> {
        self.lock()
            .blades
            .get(blade)
            .and_then(|e| e.applied_report.clone())
    }

    /// What is known about one blade's agent.
    pub fn get(&self, blade: &str) -> Option<AgentView> {
        self.lock().blades.get(blade).map(|e| e.view(blade))
    }

    /// Every blade heard from since this manager started, by name.
    pub fn snapshot(&self) -> Vec<AgentView> {
        self.lock().blades.iter().map(|(b, e)| e.view(b)).collect()
    }
}

fn redirect(leader: &str) -> pb::ManagerMessage {
    pb::ManagerMessage {
        body: Some(pb::manager_message::Body::Redirect(pb::AgentRedirect {
            leader: leader.to_string(),
        })),
    }
}

/// Whether a wait for `generation` is over, from what the agent reported.
/// Pure; [`AgentRegistry::wait_applied`] calls it on every change.
///
/// - applied at `generation` → `Ok(token)`;
/// - applied past it → [`AgentError::Superseded`];
/// - a failure for `generation` reported after the last push →
///   [`AgentError::NotApplied`] (an older attempt's failure does not count);
/// - otherwise still pending (`None`).
fn outcome(
    blade: &str,
    generation: u64,
    applied: Option<FencingToken>,
    failure: Option<&AgentFailure>,
    last_push_seq: Option<u64>,
) -> Option<Result<FencingToken, AgentError>> {
    if let Some(applied) = applied {
        if applied.generation == generation {
            return Some(Ok(applied));
        }
        if applied.generation > generation {
            return Some(Err(AgentError::Superseded {
                blade: blade.to_string(),
                generation,
                applied,
            }));
        }
    }
    let failure = failure?;
    let fresh = last_push_seq.is_none_or(|push| failure.seq > push);
    if failure.failure.token.generation != generation || !fresh {
        return None;
    }
    Some(Err(AgentError::NotApplied {
        blade: blade.to_string(),
        generation,
        kind: failure.failure.kind,
        reason: failure.failure.reason.clone(),
        current: failure.failure.current,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use blade_agent::FailureKind;

    fn t(term: u64, generation: u64) -> FencingToken {
        FencingToken::new(term, generation)
    }

    fn failure(token: FencingToken, kind: FailureKind, seq: u64) -> AgentFailure {
        AgentFailure {
            failure: Failure {
                token,
                kind,
                reason: "r".into(),
                current: None,
            },
            at: Instant::now(),
            seq,
        }
    }

    #[test]
    fn applied_at_the_generation_completes_the_wait() {
        assert_eq!(
            outcome("b", 5, Some(t(2, 5)), None, Some(1)),
            Some(Ok(t(2, 5)))
        );
        assert_eq!(outcome("b", 5, Some(t(2, 4)), None, Some(1)), None);
        assert_eq!(outcome("b", 5, None, None, None), None);
    }

    #[test]
    fn a_newer_generation_supersedes_the_wait() {
        assert!(matches!(
            outcome("b", 5, Some(t(2, 6)), None, Some(1)),
            Some(Err(AgentError::Superseded { applied, .. })) if applied == t(2, 6)
        ));
    }

    #[test]
    fn only_a_failure_after_the_last_push_counts() {
        let f = failure(t(2, 5), FailureKind::Stale, 10);
        assert!(matches!(
            outcome("b", 5, Some(t(2, 4)), Some(&f), Some(9)),
            Some(Err(AgentError::NotApplied {
                kind: FailureKind::Stale,
                generation: 5,
                ..
            }))
        ));
        // Pushed again after that failure: wait for the new answer.
        assert_eq!(outcome("b", 5, Some(t(2, 4)), Some(&f), Some(11)), None);
        // A failure of another generation is not this wait's answer.
        assert_eq!(outcome("b", 6, Some(t(2, 4)), Some(&f), Some(9)), None);
    }
}
