//! The running agent: configuration, the connect loop (any manager, bounded
//! jittered backoff, redirects), the link switch hwsim uses to cut a blade's
//! network, and the status it publishes.
//!
//! One agent is one task: the connect loop and the [`crate::applier`] run
//! inside [`Agent::run`], so stopping the future (or dropping the
//! [`AgentHandle`]) stops everything the agent does, at once.

use crate::applier;
use crate::backoff::Backoff;
use crate::credential::AgentToken;
use crate::error::{AgentError, SessionError, error_chain};
use crate::host::Host;
use crate::protocol::{Applied, Failure, FencingToken, ServerIdentity};
use crate::session::{self, SessionEnd};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use san::nvme::NvmeHost;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How many desired states may wait for the applier before more are refused.
pub(crate) const DESIRED_QUEUE: usize = 16;

/// What an agent needs to know. Build with [`AgentConfig::new`] and adjust
/// the public fields.
#[derive(Clone)]
pub struct AgentConfig {
    /// This blade's name, as the fabric knows it.
    pub blade: String,
    /// Manager members to connect to (`HOST:PORT`); any member will do, the
    /// agent tries them in order and follows redirects.
    pub managers: Vec<String>,
    /// Interval between heartbeats (default 200 ms).
    pub heartbeat: Duration,
    /// Delays between reconnect attempts.
    pub backoff: Backoff,
    /// Limit for opening a connection and for the manager's answer to Hello.
    pub connect_timeout: Duration,
    /// Reported in Hello (default: this crate's version).
    pub agent_version: String,
    /// Seed for the backoff jitter; `None` draws one from the OS.
    pub jitter_seed: Option<u64>,
    /// The NVMe-oF initiator that attaches an identity's volumes (nvme-cli
    /// through [`san::nvme::NvmeCli`]); `None`: identities with volumes are
    /// refused with a host failure.
    pub nvme: Option<Arc<dyn NvmeHost>>,
    /// This blade's agent token (see [`crate::credential`]); a manager
    /// refuses a stream without the token of the blade it names.
    pub token: Option<AgentToken>,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("blade", &self.blade)
            .field("managers", &self.managers)
            .field("heartbeat", &self.heartbeat)
            .field("backoff", &self.backoff)
            .field("connect_timeout", &self.connect_timeout)
            .field("agent_version", &self.agent_version)
            .field("jitter_seed", &self.jitter_seed)
            .field("nvme", &self.nvme.as_ref().map(|_| "configured"))
            .field("token", &self.token)
            .finish()
    }
}

impl AgentConfig {
    pub fn new(blade: impl Into<String>, managers: Vec<String>) -> Self {
        AgentConfig {
            blade: blade.into(),
            managers,
            heartbeat: Duration::from_millis(200),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(2),
            agent_version: env!("CARGO_PKG_VERSION").to_string(),
            jitter_seed: None,
            nvme: None,
            token: None,
        }
    }

    fn validate(&self) -> Result<(), AgentError> {
        let invalid = |reason: String| Err(AgentError::Config { reason });
        if self.blade.trim().is_empty() {
            return invalid("the blade name is empty".into());
        }
        if self.managers.is_empty() {
            return invalid("no manager address given (--manager HOST:PORT)".into());
        }
        for addr in &self.managers {
            if let Err(e) = session::endpoint(addr, self) {
                return invalid(error_chain(&e));
            }
        }
        if self.heartbeat.is_zero() {
            return invalid("the heartbeat interval must be above zero".into());
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return invalid(format!(
                "backoff {:?}..{:?} must start above zero and not exceed its maximum",
                self.backoff.initial, self.backoff.max
            ));
        }
        if self.connect_timeout.is_zero() {
            return invalid("the connect timeout must be above zero".into());
        }
        Ok(())
    }
}

/// What the agent is doing, published on a watch channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentStatus {
    /// The manager this agent holds a stream to, if any.
    pub manager: Option<String>,
    /// Streams opened since start (each began with a Hello the manager took).
    pub sessions: u64,
    pub heartbeats_sent: u64,
    /// Token of the desired state the blade carries, if known.
    pub applied: Option<FencingToken>,
    /// The identity applied with it (`None`: none, or released).
    pub identity: Option<ServerIdentity>,
    /// The report of that applied state: interfaces (name, MAC) and the
    /// attached volumes (name, subsystem NQN, device).
    pub last_applied: Option<Applied>,
    /// The failure of the last desired state, if it failed (cleared by the
    /// next one applied).
    pub last_failure: Option<Failure>,
    /// True while the link is cut ([`LinkControl::cut`]).
    pub link_cut: bool,
    /// Why the last stream ended or the last attempt failed.
    pub last_error: Option<String>,
}

/// The switch that cuts the agent's link while the blade stays powered.
/// While cut the agent neither sends nor receives: its stream is dropped
/// and it does not reconnect until [`LinkControl::restore`].
#[derive(Clone, Debug)]
pub struct LinkControl(Arc<watch::Sender<bool>>);

impl LinkControl {
    fn new() -> Self {
        LinkControl(Arc::new(watch::Sender::new(false)))
    }

    pub fn cut(&self) {
        self.0.send_replace(true);
    }

    pub fn restore(&self) {
        self.0.send_replace(false);
    }

    pub fn is_cut(&self) -> bool {
        *self.0.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.0.subscribe()
    }
}

/// A blade agent. [`Agent::run`] it (the binary) or [`Agent::spawn`] it
/// (hwsim, tests).
pub struct Agent {
    config: AgentConfig,
    host: Arc<dyn Host>,
    link: LinkControl,
    status: Arc<watch::Sender<AgentStatus>>,
}

impl Agent {
    /// An agent for `config.blade` that changes `host`.
    pub fn new(config: AgentConfig, host: Arc<dyn Host>) -> Result<Agent, AgentError> {
        config.validate()?;
        Ok(Agent {
            config,
            host,
            link: LinkControl::new(),
            status: Arc::new(watch::Sender::new(AgentStatus::default())),
        })
    }

    /// The link switch.
    pub fn link(&self) -> LinkControl {
        self.link.clone()
    }

    /// Watches the agent's status.
    pub fn status(&self) -> watch::Receiver<AgentStatus> {
        self.status.subscribe()
    }

    /// Runs until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (desired_tx, desired_rx) = mpsc::channel(DESIRED_QUEUE);
        let (report_tx, report_rx) = mpsc::unbounded_channel();
        let applier = applier::run(
            self.host.clone(),
            self.config.nvme.clone(),
            desired_rx,
            report_tx,
            self.status.clone(),
        );
        tokio::select! {
            _ = shutdown => {}
            _ = applier => {}
            _ = self.connect_loop(desired_tx, report_rx) => {}
        }
        self.status.send_modify(|s| s.manager = None);
        tracing::info!(blade = %self.config.blade, "agent stopped");
    }

    /// Runs on a new task; dropping the handle stops the agent.
    pub fn spawn(self) -> AgentHandle {
        let link = self.link();
        let status = self.status();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async {
            let _ = stopped.await;
        }));
        AgentHandle {
            stop: Some(stop),
            task,
            link,
            status,
        }
    }

    /// Connects, serves a stream until it ends, backs off, and again; never
    /// returns.
    async fn connect_loop(
        &self,
        desired: mpsc::Sender<crate::protocol::DesiredIdentity>,
        mut reports: mpsc::UnboundedReceiver<crate::protocol::Report>,
    ) {
        let mut rng = match self.config.jitter_seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_rng(&mut rand::rng()),
        };
        let mut link = self.link.subscribe();
        let managers = &self.config.managers;
        let mut next = 0usize;
        let mut attempt = 0u32;
        let mut redirect: Option<String> = None;
        loop {
            if *link.borrow_and_update() {
                self.status.send_modify(|s| s.link_cut = true);
                tracing::info!(blade = %self.config.blade, "link cut: not connecting until it is restored");
                // The sender lives in `self.link`; it cannot close.
                let _ = link.wait_for(|cut| !*cut).await;
                self.status.send_modify(|s| s.link_cut = false);
                tracing::info!(blade = %self.config.blade, "link restored");
            }
            let addr = redirect
                .take()
                .unwrap_or_else(|| managers[next % managers.len()].clone());
            let end = tokio::select! {
                end = session::run(self, &addr, &desired, &mut reports) => end,
                _ = wait_cut(&mut link) => SessionEnd::Cut,
            };
            self.status.send_modify(|s| s.manager = None);
            let error = match end {
                SessionEnd::Cut => {
                    attempt = 0;
                    continue;
                }
                SessionEnd::Redirected { leader } => {
                    let error = SessionError::Redirected {
                        addr: addr.clone(),
                        leader: leader.clone(),
                    };
                    redirect = Some(leader);
                    error
                }
                SessionEnd::Failed { error, established } => {
                    if established {
                        attempt = 0;
                    }
                    next = next.wrapping_add(1);
                    error
                }
            };
            let message = error_chain(&error);
            tracing::warn!(blade = %self.config.blade, manager = %addr, error = %message, "agent stream ended; reconnecting");
            self.status.send_modify(|s| s.last_error = Some(message));
            let delay = self.config.backoff.delay(attempt, rng.random::<f64>());
            attempt = attempt.saturating_add(1);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = wait_cut(&mut link) => {}
            }
        }
    }

    pub(crate) fn config(&self) -> &AgentConfig {
        &self.config
    }

    pub(crate) fn host(&self) -> &dyn Host {
        self.host.as_ref()
    }

    pub(crate) fn status_sender(&self) -> &watch::Sender<AgentStatus> {
        &self.status
    }
}

/// Resolves when the link is cut (at once if it is).
async fn wait_cut(link: &mut watch::Receiver<bool>) {
    // The sender lives as long as the agent: an error cannot happen here.
    let _ = link.wait_for(|cut| *cut).await;
}

/// A spawned agent. Dropping it stops the agent at once.
pub struct AgentHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    link: LinkControl,
    status: watch::Receiver<AgentStatus>,
}

impl AgentHandle {
    /// The link switch.
    pub fn link(&self) -> LinkControl {
        self.link.clone()
    }

    /// Watches the agent's status.
    pub fn status(&self) -> watch::Receiver<AgentStatus> {
        self.status.clone()
    }

    /// Stops the agent and waits until it has.
    pub async fn stop(mut self) {
        self.stop.take();
        let _ = (&mut self.task).await;
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
