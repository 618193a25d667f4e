//! The leader's failover controller: the I/O around the failover state
//! machine (`state/failover.rs`), in three leader-only tasks.
//!
//! - **Detection** ([`Controller::detect`]): every [`detect_tick`] it looks
//!   at the agent of every blade whose server is `running`. An agent not
//!   heard for the detection window (no heartbeat, or its stream closed) is
//!   cross-checked with the blade's BMC (power and health, read with a short
//!   bound, concurrently for all blades), and the blade is proposed failed
//!   (`BladeSuspect`) once, with a reason saying what the BMC reported. A
//!   manager that has just become leader judges no blade for one window:
//!   agents reconnect to a new leader. Heartbeats are never written to the
//!   log; only the judgement is.
//! - **Fencing** ([`Controller::reconcile_fences`]): for every failover in
//!   phase `Fencing` (a new leader finds them there too), ForceOff with the
//!   power read back Off, the blade's fabric ports detached and read back,
//!   the identity's storage access revoked and read back, all within the
//!   fence timeout; then `BladeFenced`. If the fence cannot be confirmed,
//!   `FenceFailed` (an alert) and no takeover: an operator powers the blade
//!   off by hand and runs `panctl blade confirm-fenced`.
//! - **Takeover** ([`Controller::take_over`]): while the state says a
//!   failover awaits a spare, propose `TakeOver` (one failover per command,
//!   highest priority first). The ordinary start executor then boots the
//!   identity on the spare and `ServerRunning` ends the failover.
//!
//! The judgement ([`silence`], [`suspect_reason`], [`judge`]) is pure; the
//! BMC read ([`read_bmc`]), the fence ([`fence_blade`]) and a takeover pass
//! ([`takeover_pass`]) take their I/O as arguments, so tests drive them with
//! a `FakeBmc`, a `SimFabric` and a storage target in a temporary directory.

use super::storage::Storage;
use super::{CONTROLLER, Controller};
use crate::agent::{AgentView, Liveness, liveness};
use crate::bmc::{self, Bmc, ResetType, SystemStatus};
use crate::error::chain;
use crate::fabric::{BladeRef, Fabric, PortState};
use crate::state::{Command, FenceWork, ServerWork};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;

/// How often power is read back while a fence waits for Off, and the
/// pause between attempts of the other fence steps.
const FENCE_POLL: Duration = Duration::from_millis(200);

/// How often a ForceOff is sent again while the power does not read Off.
const FENCE_RESET_EVERY: Duration = Duration::from_secs(2);

/// Takeovers proposed in one pass at most (each handles one failover; the
/// state records "no spare" per spare epoch, so a pass ends anyway).
const MAX_TAKEOVERS_PER_PASS: usize = 256;

/// How often detection looks at the agents: a tenth of the window, within
/// 50–100 ms.
pub fn detect_tick(window: Duration) -> Duration {
    (window / 10).clamp(Duration::from_millis(50), Duration::from_millis(100))
}

// ---------------------------------------------------------------------------
// The judgement (pure)

/// What detection needs to know about a blade's agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentSeen {
    /// The last heartbeat (or Hello) this manager received.
    pub last_heartbeat: Option<Instant>,
    /// Whether the agent holds a stream to this manager now.
    pub connected: bool,
}

impl From<&AgentView> for AgentSeen {
    fn from(a: &AgentView) -> Self {
        AgentSeen {
            last_heartbeat: a.last_heartbeat,
            connected: a.connected,
        }
    }
}

/// How long an agent has been silent, and what that silence looked like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Silent {
    pub age: Duration,
    /// False when this manager has not heard the agent since it became
    /// leader (the age counts from the start of leadership).
    pub heard_here: bool,
    pub connected: bool,
}

/// Whether a blade's agent is silent, judged at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Silence {
    /// Heard within the window.
    Heard,
    /// This manager has led for less than one window: no judgement yet.
    TooSoon { until: Instant },
    /// Not heard for longer than the window.
    Silent(Silent),
}

/// Judges an agent's silence at `now` for detection window `window`, by a
/// manager leading since `leader_since`. Nothing is judged until one full
/// window after `leader_since`; a heartbeat from before `leader_since` (an
/// earlier leadership of this process) counts as heard at `leader_since`.
/// An age of exactly `window` is still heard.
pub fn silence(
    now: Instant,
    leader_since: Instant,
    window: Duration,
    agent: Option<AgentSeen>,
) -> Silence {
    let judge_from = leader_since + window;
    if now <= judge_from {
        return Silence::TooSoon { until: judge_from };
    }
    let heard = agent
        .and_then(|a| a.last_heartbeat)
        .filter(|at| *at >= leader_since);
    let since = heard.unwrap_or(leader_since);
    match liveness(Some(since), now, window) {
        Liveness::Silent { age } => Silence::Silent(Silent {
            age,
            heard_here: heard.is_some(),
            connected: agent.is_some_and(|a| a.connected),
        }),
        Liveness::Alive { .. } | Liveness::NeverHeard => Silence::Heard,
    }
}

/// What the BMC cross-check read.
#[derive(Clone, Debug, PartialEq)]
pub enum BmcReading {
    Status(SystemStatus),
    /// The BMC did not answer (or answered with an error) within the bound.
    NoAnswer(String),
}

/// The reason text of a suspicion: how long the agent was silent and what
/// the BMC reports. Every case is a suspicion: a blade powered on whose
/// agent is silent has lost its link, and cannot be trusted to run its
/// identity.
pub fn suspect_reason(silent: &Silent, bmc: &BmcReading) -> String {
    let mut text = format!("agent silent {:.2} s", silent.age.as_secs_f64());
    if !silent.heard_here {
        text.push_str(" (not heard since this manager became leader)");
    } else if !silent.connected {
        text.push_str(" (its stream is closed)");
    }
    match bmc {
        BmcReading::NoAnswer(why) => {
            text.push_str("; BMC does not answer: ");
            text.push_str(why);
        }
        BmcReading::Status(status) => {
            let critical = status.health.worst() == Some(bmc::Health::Critical);
            match (&status.power, critical) {
                (bmc::PowerState::On, false) => {
                    text.push_str(" while the BMC reports power On (link cut?)");
                }
                (bmc::PowerState::On, true) => {
                    text.push_str("; BMC reports health Critical with power On");
                }
                (power, critical) => {
                    text.push_str("; BMC reports power ");
                    text.push_str(power.as_str());
                    if critical {
                        text.push_str(", health Critical");
                    }
                }
            }
        }
    }
    text
}

/// A blade judged failed: what `BladeSuspect` carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suspicion {
    pub reason: String,
    pub silent_ms: u64,
}

/// The whole judgement: `Some` when the agent is silent at `now` (see
/// [`silence`]), with the reason from the BMC reading.
pub fn judge(
    now: Instant,
    leader_since: Instant,
    window: Duration,
    agent: Option<AgentSeen>,
    bmc: &BmcReading,
) -> Option<Suspicion> {
    match silence(now, leader_since, window, agent) {
        Silence::Silent(s) => Some(Suspicion {
            reason: suspect_reason(&s, bmc),
            silent_ms: u64::try_from(s.age.as_millis()).unwrap_or(u64::MAX),
        }),
        Silence::Heard | Silence::TooSoon { .. } => None,
    }
}

/// The early judgement, before the window is over: an agent whose stream
/// is closed on a blade its BMC reads as powered Off has certainly gone
/// (a blade that lost power closes nothing, but its BMC says so; a manager
/// restart closes streams but leaves the power On). Still only after a new
/// leader's waiting window.
pub fn judge_early(
    now: Instant,
    leader_since: Instant,
    window: Duration,
    agent: Option<AgentSeen>,
    bmc: &BmcReading,
) -> Option<Suspicion> {
    if now <= leader_since + window {
        return None;
    }
    let agent = agent?;
    if agent.connected {
        return None;
    }
    let BmcReading::Status(status) = bmc else {
        return None;
    };
    if status.power != bmc::PowerState::Off {
        return None;
    }
    let since = agent
        .last_heartbeat
        .filter(|at| *at >= leader_since)
        .unwrap_or(leader_since);
    let age = now.saturating_duration_since(since);
    Some(Suspicion {
        reason: format!(
            "agent stream closed, silent {:.2} s; BMC reports power Off",
            age.as_secs_f64()
        ),
        silent_ms: u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
    })
}

/// The brake on mass detection: when at least [`MASS_SILENCE_MIN`] agents
/// and at least half of those of running servers are silent at once, the
/// likelier story is that this manager lost its network to the agents, not
/// that half the rack died. Then only blades whose BMC reads power Off are
/// judged; powered blades wait (and an operator is told).
pub fn mass_silence(silent: usize, running: usize) -> bool {
    silent >= MASS_SILENCE_MIN && silent * 2 >= running
}

/// The fewest silent agents that can trip [`mass_silence`].
pub const MASS_SILENCE_MIN: usize = 3;

/// Reads power and health once, bounded by `timeout` (a hung BMC must not
/// hold detection up).
pub async fn read_bmc(bmc: &dyn Bmc, timeout: Duration) -> BmcReading {
    match tokio::time::timeout(timeout, bmc.status()).await {
        Ok(Ok(status)) => BmcReading::Status(status),
        Ok(Err(e)) => BmcReading::NoAnswer(chain(&e)),
        Err(_) => BmcReading::NoAnswer(format!(
            "BMC {} gave no answer within {:.1} s",
            bmc.endpoint(),
            timeout.as_secs_f64()
        )),
    }
}

// ---------------------------------------------------------------------------
// The fence

/// Why a fence did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FenceError {
    /// This manager no longer leads: stop, record nothing.
    NotLeader(String),
    /// The fence could not be confirmed (the text says which step and why).
    Unconfirmed(String),
}

/// What a fence acts on.
pub struct FenceIo<'a> {
    pub bmc: &'a dyn Bmc,
    pub fabric: Option<&'a dyn Fabric>,
    pub storage: Option<&'a Storage>,
    /// Checked before every hardware action (a deposed leader stops).
    pub leading: &'a (dyn Fn() -> Result<(), String> + Send + Sync),
}

/// Fences `work`'s blade within `timeout`: ForceOff with the power read
/// back Off, then every fabric port of the blade detached and read back,
/// then the identity's host NQN revoked on its volumes and read back. Each
/// step is retried until it is confirmed or the time is up; every step is
/// safe to repeat (a new leader re-runs the whole fence).
pub async fn fence_blade(
    io: &FenceIo<'_>,
    work: &FenceWork,
    timeout: Duration,
) -> Result<(), FenceError> {
    let deadline = Instant::now() + timeout;
    force_off(io, deadline).await?;
    if let Some(fabric) = io.fabric {
        let blade = BladeRef {
            id: work.blade_id,
            name: work.blade.clone(),
        };
        until_confirmed("the fabric ports' detach", deadline, io.leading, || {
            detach_confirmed(fabric, &blade)
        })
        .await?;
    }
    let server = &work.server;
    if !server.volumes.is_empty() {
        match io.storage {
            Some(storage) => {
                until_confirmed("the storage access revoke", deadline, io.leading, || {
                    storage.revoke(&server.volumes, &server.identity.host_nqn)
                })
                .await?;
            }
            None => tracing::debug!(
                blade = %work.blade,
                "no storage target here; no storage access to revoke"
            ),
        }
    }
    Ok(())
}

/// ForceOff (sent again every [`FENCE_RESET_EVERY`] while the power does
/// not read Off; a refused ForceOff is fine if the power reads Off) until
/// the power reads Off.
async fn force_off(io: &FenceIo<'_>, deadline: Instant) -> Result<(), FenceError> {
    let bmc = io.bmc;
    let hung = |op: &str, last: &Option<String>| {
        let mut text = format!(
            "BMC {} did not answer the {op} before the fence timeout",
            bmc.endpoint()
        );
        if let Some(last) = last {
            text.push_str(&format!(" (before that: {last})"));
        }
        FenceError::Unconfirmed(text)
    };
    let mut last: Option<String> = None;
    let mut next_reset = Instant::now();
    loop {
        (io.leading)().map_err(FenceError::NotLeader)?;
        // Read first: a blade already Off (it lost power) needs no ForceOff,
        // which its BMC might refuse for a while after a power loss.
        match tokio::time::timeout_at(deadline, bmc.power_state()).await {
            Err(_) => return Err(hung("power state read", &last)),
            Ok(Ok(bmc::PowerState::Off)) => return Ok(()),
            Ok(Ok(power)) => last = Some(format!("the power reads {power}")),
            Ok(Err(e)) => last = Some(format!("the power read failed: {}", chain(&e))),
        }
        if Instant::now() >= next_reset {
            match tokio::time::timeout_at(deadline, bmc.reset(ResetType::ForceOff)).await {
                Err(_) => return Err(hung("ForceOff", &last)),
                Ok(Err(e)) => last = Some(format!("ForceOff refused: {}", chain(&e))),
                Ok(Ok(_)) => {}
            }
            next_reset = Instant::now() + FENCE_RESET_EVERY;
        }
        match tokio::time::timeout_at(deadline, bmc.power_state()).await {
            Err(_) => return Err(hung("power state read", &last)),
            Ok(Ok(bmc::PowerState::Off)) => return Ok(()),
            Ok(Ok(power)) => last = Some(format!("the power reads {power}")),
            Ok(Err(e)) => last = Some(format!("the power read failed: {}", chain(&e))),
        }
        if Instant::now() + FENCE_POLL >= deadline {
            return Err(FenceError::Unconfirmed(format!(
                "power Off was not read back from BMC {}: {}",
                bmc.endpoint(),
                last.unwrap_or_else(|| "no reading".to_string())
            )));
        }
        tokio::time::sleep(FENCE_POLL).await;
    }
}

/// Detaches the blade's ports and reads every one back detached and down.
async fn detach_confirmed(fabric: &dyn Fabric, blade: &BladeRef) -> Result<(), String> {
    fabric
        .detach(blade)
        .await
        .map_err(|e| format!("detach failed: {}", chain(&e)))?;
    let ports = fabric
        .ports(blade)
        .await
        .map_err(|e| format!("reading the ports back failed: {}", chain(&e)))?;
    match ports
        .iter()
        .find(|(_, state)| *state != PortState::DETACHED)
    {
        None => Ok(()),
        Some((port, state)) => Err(format!(
            "port {port} still reads {} after the detach",
            match state.network {
                Some(vni) => format!("attached to {vni}"),
                None => "up".to_string(),
            }
        )),
    }
}

/// Runs `attempt` until it succeeds, pausing [`FENCE_POLL`] between tries,
/// checking leadership before each; fails with the last error once
/// `deadline` passes.
async fn until_confirmed<F, Fut>(
    what: &str,
    deadline: Instant,
    leading: &(dyn Fn() -> Result<(), String> + Send + Sync),
    mut attempt: F,
) -> Result<(), FenceError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut last: Option<String> = None;
    loop {
        leading().map_err(FenceError::NotLeader)?;
        match tokio::time::timeout_at(deadline, attempt()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last = Some(e),
            Err(_) => {
                return Err(FenceError::Unconfirmed(format!(
                    "{what} did not finish before the fence timeout{}",
                    last.map(|l| format!(" (before that: {l})"))
                        .unwrap_or_default()
                )));
            }
        }
        if Instant::now() + FENCE_POLL >= deadline {
            return Err(FenceError::Unconfirmed(format!(
                "{what} was not confirmed: {}",
                last.unwrap_or_default()
            )));
        }
        tokio::time::sleep(FENCE_POLL).await;
    }
}

/// The command that records a fence's result, or `None` when nothing must
/// be recorded (this manager was deposed mid-fence: its successor resumes).
pub fn fence_report(
    work: &FenceWork,
    result: Result<(), FenceError>,
    timeout: Duration,
) -> Option<Command> {
    match result {
        Ok(()) => Some(Command::BladeFenced {
            blade: work.blade.clone(),
        }),
        Err(FenceError::NotLeader(_)) => None,
        Err(FenceError::Unconfirmed(why)) => Some(Command::FenceFailed {
            blade: work.blade.clone(),
            reason: format!(
                "could not fence blade {} within {:.0} s: {why}; server {}/{} is not taken over \
                 until the fence is confirmed: make sure the blade is off (at the chassis if \
                 need be), then run `panctl blade confirm-fenced {}`",
                work.blade,
                timeout.as_secs_f64(),
                work.server.partition,
                work.server.name,
                work.blade
            ),
        }),
    }
}

// ---------------------------------------------------------------------------
// Takeover

/// Proposes takeovers while `pending` says one would do something, at most
/// [`MAX_TAKEOVERS_PER_PASS`]; stops at the first failed proposal or lost
/// leadership. Returns how many were recorded.
pub async fn takeover_pass<E, Fut>(
    pending: impl Fn() -> bool,
    leading: impl Fn() -> Result<(), String>,
    mut propose: impl FnMut() -> Fut,
) -> usize
where
    E: std::fmt::Display,
    Fut: Future<Output = Result<(), E>>,
{
    let mut recorded = 0;
    while recorded < MAX_TAKEOVERS_PER_PASS && pending() {
        if leading().is_err() {
            break;
        }
        match propose().await {
            Ok(()) => recorded += 1,
            Err(e) => {
                tracing::info!(error = %e, "takeover not recorded; retrying later");
                break;
            }
        }
    }
    recorded
}

// ---------------------------------------------------------------------------
// The leader-only tasks

/// What became of one detection check.
enum Checked {
    /// Heard again, or not leading: nothing recorded.
    NotSuspect,
    /// `BladeSuspect` was recorded (or refused: the blade is already out
    /// of service); never again for this placement.
    Proposed,
    /// The proposal failed; may be tried again later.
    ProposalFailed,
}

impl Controller {
    /// The BMC client of a blade, as the seam's trait object.
    fn bmc_of(&self, blade: &str) -> Result<Arc<dyn Bmc>, String> {
        let target = self
            .node
            .state_machine()
            .read(|s| s.bmc_target(blade))
            .map_err(|e| e.to_string())?;
        let client = self.bmcs.get(&target).map_err(|e| chain(&e))?;
        Ok(client)
    }

    /// Servers running now, with their blades.
    fn running_servers(&self) -> Vec<ServerWork> {
        self.node.state_machine().read(|s| s.running_server_work())
    }

    /// Of the running servers, how many have agents silent for longer than
    /// `threshold` (judged like detection, from `leader_since`).
    fn quiet_agents(&self, leader_since: Instant, threshold: Duration) -> (usize, usize) {
        let now = Instant::now();
        let running = self.running_servers();
        let quiet = running
            .iter()
            .filter(|w| {
                let seen = self
                    .agents
                    .get(&self.agent_of(w))
                    .as_ref()
                    .map(AgentSeen::from);
                matches!(
                    silence(now, leader_since, threshold, seen),
                    Silence::Silent(_)
                )
            })
            .count();
        (quiet, running.len())
    }

    /// Detection: judges the agents of blades with running servers every
    /// [`detect_tick`]; cross-checks silent ones with their BMCs
    /// concurrently and records each failed blade once.
    pub(super) async fn detect(self, term: u64, leader_since: Instant) {
        let window = self.config.detect_window;
        let mut changes = self.node.state_machine().watch_changes();
        let mut ticker = tokio::time::interval(detect_tick(window));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watched = self.running_servers();
        let mut checks: JoinSet<((String, u64), Checked)> = JoinSet::new();
        let mut checking: HashMap<String, AbortHandle> = HashMap::new();
        // (blade, generation) -> retry after (None: never again).
        let mut suspected: HashMap<(String, u64), Option<Instant>> = HashMap::new();
        // (blade, generation) whose closed stream was looked at early.
        let mut early_checked: std::collections::HashSet<(String, u64)> =
            std::collections::HashSet::new();
        // State changes only mark the list stale; it is rebuilt at most once
        // a tick, so a busy log does not make detection rebuild it per entry.
        let mut stale = false;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                // A burst of applied entries is one wake-up.
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    stale = true;
                    continue;
                }
            }
            if stale {
                stale = false;
                watched = self.running_servers();
                suspected.retain(|(blade, generation), _| {
                    watched
                        .iter()
                        .any(|w| w.blade == *blade && w.generation == *generation)
                });
                early_checked.retain(|(blade, generation)| {
                    watched
                        .iter()
                        .any(|w| w.blade == *blade && w.generation == *generation)
                });
            }
            let now = Instant::now();
            while let Some(done) = checks.try_join_next() {
                let (key, checked) = match done {
                    Ok(done) => done,
                    Err(e) => {
                        tracing::warn!(error = %e, "a failure check ended abnormally");
                        checking.retain(|_, task| task.id() != e.id());
                        continue;
                    }
                };
                checking.remove(&key.0);
                match checked {
                    Checked::NotSuspect => {}
                    Checked::Proposed => {
                        suspected.insert(key, None);
                    }
                    Checked::ProposalFailed => {
                        suspected.insert(key, Some(now + self.config.retry_pause));
                    }
                }
            }
            for work in &watched {
                if checking.contains_key(&work.blade) {
                    continue;
                }
                let key = (work.blade.clone(), work.generation);
                if suspected
                    .get(&key)
                    .is_some_and(|retry| retry.is_none_or(|at| at > now))
                {
                    continue;
                }
                let agent = self.agent_of(work);
                let seen = self.agents.get(&agent).as_ref().map(AgentSeen::from);
                let silent = matches!(silence(now, leader_since, window, seen), Silence::Silent(_));
                // A closed stream is worth one early look at the BMC.
                let early = !silent
                    && now > leader_since + window
                    && seen.is_some_and(|a| !a.connected)
                    && early_checked.insert(key.clone());
                if !silent && !early {
                    continue;
                }
                let me = self.clone();
                let work = work.clone();
                let handle = checks.spawn(async move {
                    let checked = me.check_suspect(&work, &agent, term, leader_since).await;
                    ((work.blade, work.generation), checked)
                });
                checking.insert(key.0, handle);
            }
        }
    }

    /// Cross-checks one silent blade with its BMC and, if its agent is
    /// still silent afterwards, records it failed.
    async fn check_suspect(
        &self,
        work: &ServerWork,
        agent: &str,
        term: u64,
        leader_since: Instant,
    ) -> Checked {
        let reading = match self.bmc_of(&work.blade) {
            Ok(bmc) => read_bmc(&*bmc, self.config.bmc_check_timeout).await,
            Err(e) => BmcReading::NoAnswer(e),
        };
        // A heartbeat may have landed while the BMC was read: judge again.
        let seen = self.agents.get(agent).as_ref().map(AgentSeen::from);
        let now = Instant::now();
        let window = self.config.detect_window;
        let Some(suspicion) = judge(now, leader_since, window, seen, &reading)
            .or_else(|| judge_early(now, leader_since, window, seen, &reading))
        else {
            return Checked::NotSuspect;
        };
        let powered_off = matches!(
            &reading,
            BmcReading::Status(s) if s.power == bmc::PowerState::Off
        );
        if !powered_off {
            // Agents going quiet together are counted before each one's own
            // window is over: silent for half a window is enough to count.
            let (silent, running) = self.quiet_agents(leader_since, window / 2);
            if mass_silence(silent, running) {
                tracing::error!(
                    blade = %work.blade,
                    silent,
                    running,
                    "{silent} of {} agents are silent at once: not judging powered blades \
                     (this manager may have lost its network to the agents); check the \
                     manager's network, or fence by hand and `panctl blade confirm-fenced`",
                    running
                );
                return Checked::NotSuspect;
            }
        }
        if self.still_leading(term).is_err() {
            return Checked::NotSuspect;
        }
        tracing::warn!(
            blade = %work.blade,
            server = %format!("{}/{}", work.partition, work.name),
            reason = %suspicion.reason,
            "blade judged failed; starting its failover"
        );
        let command = Command::BladeSuspect {
            blade: work.blade.clone(),
            reason: suspicion.reason,
            silent_ms: suspicion.silent_ms,
        };
        match self.node.propose(CONTROLLER, command).await {
            Ok(_) => Checked::Proposed,
            Err(crate::Error::Refused(e)) => {
                tracing::info!(blade = %work.blade, error = %e, "blade suspicion refused");
                Checked::Proposed
            }
            Err(e) => {
                tracing::warn!(blade = %work.blade, error = %e, "blade suspicion not recorded; will retry");
                Checked::ProposalFailed
            }
        }
    }

    /// Runs one fence executor per failover in phase `Fencing`; re-checks
    /// on every state change and at least every `retry_pause`. The executors
    /// die with this task (and so with leadership).
    pub(super) async fn reconcile_fences(self, term: u64) {
        let mut changes = self.node.state_machine().watch_changes();
        let mut executors = JoinSet::new();
        // failover id -> executor
        let mut running: HashMap<u64, AbortHandle> = HashMap::new();
        let mut retry_after: HashMap<u64, Instant> = HashMap::new();
        loop {
            let work = self.node.state_machine().read(|s| s.pending_fences());
            let now = Instant::now();
            while executors.try_join_next().is_some() {}
            running.retain(|id, task| {
                if task.is_finished() {
                    // Finished but still pending: its report did not land.
                    retry_after.insert(*id, now + self.config.retry_pause);
                    false
                } else {
                    true
                }
            });
            running.retain(|id, task| {
                if work.iter().any(|w| w.failover == *id) {
                    true
                } else {
                    task.abort();
                    false
                }
            });
            for w in work {
                if running.contains_key(&w.failover)
                    || retry_after.get(&w.failover).is_some_and(|t| *t > now)
                {
                    continue;
                }
                let me = self.clone();
                let id = w.failover;
                running.insert(
                    id,
                    executors.spawn(async move { me.fence_and_record(w, term).await }),
                );
            }
            retry_after.retain(|_, t| *t > now);
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(self.config.retry_pause) => {}
            }
        }
    }

    async fn fence_and_record(&self, work: FenceWork, term: u64) {
        let timeout = self.config.fence_timeout;
        tracing::info!(blade = %work.blade, server = %work.server.name, "fencing blade");
        let result = match self.bmc_of(&work.blade) {
            Ok(bmc) => {
                let leading = move || self.still_leading(term);
                let io = FenceIo {
                    bmc: &*bmc,
                    fabric: self.fabric.as_deref(),
                    storage: self.storage.as_ref(),
                    leading: &leading,
                };
                fence_blade(&io, &work, timeout).await
            }
            Err(e) => Err(FenceError::Unconfirmed(format!(
                "its BMC cannot be reached: {e}"
            ))),
        };
        match &result {
            Ok(()) => tracing::info!(blade = %work.blade, "blade fenced"),
            Err(FenceError::NotLeader(why)) => {
                tracing::info!(blade = %work.blade, %why, "fence stopped");
            }
            Err(FenceError::Unconfirmed(why)) => {
                tracing::error!(blade = %work.blade, %why, "fence not confirmed; no takeover");
            }
        }
        let Some(command) = fence_report(&work, result, timeout) else {
            return;
        };
        if self.still_leading(term).is_err() {
            return;
        }
        self.record(command).await;
    }

    /// Starts the failbacks that are due: servers running away from their
    /// repaired home blade, inside their maintenance window. The state
    /// checks the window again at the proposal's time.
    pub(super) async fn fail_back(self, term: u64) {
        let mut changes = self.node.state_machine().watch_changes();
        loop {
            let now_ms = crate::node::now_ms();
            let due = self.node.state_machine().read(|s| s.failback_due(now_ms));
            for (partition, name) in due {
                if self.still_leading(term).is_err() {
                    return;
                }
                tracing::info!(%partition, server = %name, "failback due; moving the server home");
                self.record(Command::Failback { name, partition }).await;
            }
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                // Windows open on the minute.
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
            }
        }
    }

    /// Proposes `TakeOver` while a failover awaits a spare; re-checks on
    /// every state change and at least every `retry_pause`.
    pub(super) async fn take_over(self, term: u64) {
        let leader_since = Instant::now();
        let mut changes = self.node.state_machine().watch_changes();
        let window = self.config.detect_window;
        // When other running blades look sick too (a double failure being
        // detected), spares wait up to one window so every failover of the
        // burst competes for them by priority, not by detection order.
        let mut hold: Option<Instant> = None;
        loop {
            let pending = self.node.state_machine().read(|s| s.takeover_pending());
            if pending && self.quiet_agents(leader_since, window / 2).0 > 0 {
                let now = Instant::now();
                let until = *hold.get_or_insert(now + window);
                if now < until {
                    tokio::time::sleep((until - now).min(Duration::from_millis(50))).await;
                    continue;
                }
            }
            hold = None;
            takeover_pass(
                || self.node.state_machine().read(|s| s.takeover_pending()),
                || self.still_leading(term),
                || async {
                    self.node
                        .propose(CONTROLLER, Command::TakeOver)
                        .await
                        .map(|_| ())
                },
            )
            .await;
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(self.config.retry_pause) => {}
            }
        }
    }
}

#[cfg(test)]
#[path = "failover_tests.rs"]
mod tests;
