//! The controller: the part of the manager that acts on hardware. It runs
//! on the raft leader only.
//!
//! When this member becomes leader it starts the BMC [`poller`], the
//! server reconciler (which runs an [`executor`] for every server recorded
//! as `starting` or `stopping`), the storage reconciler and the [`failover`]
//! tasks (failure detection, fencing, takeover); when it loses leadership
//! it stops them. It
//! also routes blade agents: the leader accepts their streams, followers
//! redirect them to the leader. Decisions stay in the state machine; the
//! controller reads state, does I/O and reports results as commands.

pub mod bmcs;
pub mod executor;
pub mod failover;
pub mod poller;
pub mod storage;

use crate::agent::{Admission, AgentRegistry};
use crate::fabric::Fabric;
use crate::node::Node;
use crate::state::ServerState;
use bmcs::BmcPool;
use openraft::ServerState as RaftRole;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

/// Principal recorded in the audit log for the controller's own commands.
pub const CONTROLLER: &str = "controller";

/// Timings of the controller.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// How often every BMC is read.
    pub poll_interval: Duration,
    /// From power-on to the agent reporting the identity applied.
    pub boot_timeout: Duration,
    /// How long a graceful shutdown may take before it is forced.
    pub stop_timeout: Duration,
    /// How long a forced power transition may take to read back.
    pub power_timeout: Duration,
    /// Pause before retrying a stop that failed.
    pub retry_pause: Duration,
    /// How long a running blade's agent may be silent before the blade is
    /// judged failed (cross-checked with its BMC); a new leader also waits
    /// this long before it judges any blade.
    pub detect_window: Duration,
    /// How long the failure detector's BMC read may take.
    pub bmc_check_timeout: Duration,
    /// How long a fence (power Off read back, ports detached, storage
    /// access revoked) may take before it is reported failed.
    pub fence_timeout: Duration,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        ControllerConfig {
            poll_interval: Duration::from_secs(5),
            boot_timeout: Duration::from_secs(120),
            stop_timeout: Duration::from_secs(30),
            power_timeout: Duration::from_secs(60),
            retry_pause: Duration::from_secs(2),
            detect_window: Duration::from_millis(1000),
            bmc_check_timeout: Duration::from_secs(1),
            fence_timeout: Duration::from_secs(10),
        }
    }
}

/// The controller of one manager process. Cheap to clone.
#[derive(Clone)]
pub struct Controller {
    node: Node,
    agents: AgentRegistry,
    bmcs: BmcPool,
    config: Arc<ControllerConfig>,
    /// The storage target; `None`: volumes cannot be created or attached.
    storage: Option<storage::Storage>,
    /// The internal network; `None`: servers' vNICs join no network.
    fabric: Option<Arc<dyn Fabric>>,
}

impl Controller {
    pub fn new(node: Node, agents: AgentRegistry, bmcs: BmcPool, config: ControllerConfig) -> Self {
        Controller {
            node,
            agents,
            bmcs,
            config: Arc::new(config),
            storage: None,
            fabric: None,
        }
    }

    /// Drives volumes on this storage target.
    pub fn with_storage(mut self, storage: storage::Storage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Attaches servers' vNICs to their networks on this fabric.
    pub fn with_fabric(mut self, fabric: Arc<dyn Fabric>) -> Self {
        self.fabric = Some(fabric);
        self
    }

    /// The BMC clients (the API uses them for enrolment and power actions).
    pub fn bmcs(&self) -> &BmcPool {
        &self.bmcs
    }

    /// Follows leadership until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut metrics = self.node.raft().metrics();
        let mut leading: Vec<JoinHandle<()>> = Vec::new();
        loop {
            let (is_leader, leader_addr, term) = {
                let m = metrics.borrow_and_update();
                let addr = m.current_leader.and_then(|l| {
                    m.membership_config
                        .membership()
                        .get_node(&l)
                        .map(|n| n.addr.clone())
                });
                (m.state == RaftRole::Leader, addr, m.current_term)
            };
            if is_leader {
                self.agents.set_admission(Admission::Accept);
                if leading.is_empty() {
                    tracing::info!(node = self.node.id(), "leader: starting the controller");
                    leading.push(tokio::spawn(poller::run(
                        self.node.clone(),
                        self.bmcs.clone(),
                        self.config.poll_interval,
                    )));
                    leading.push(tokio::spawn(self.clone().reconcile(term)));
                    leading.push(tokio::spawn(self.clone().reconcile_storage(term)));
                    // N+1 failover: detection, fencing, takeover.
                    leading.push(tokio::spawn(self.clone().detect(term, Instant::now())));
                    leading.push(tokio::spawn(self.clone().reconcile_fences(term)));
                    leading.push(tokio::spawn(self.clone().take_over(term)));
                    leading.push(tokio::spawn(self.clone().fail_back(term)));
                }
            } else {
                match leader_addr {
                    Some(leader) => self.agents.set_admission(Admission::Redirect { leader }),
                    None => self.agents.set_admission(Admission::Accept),
                }
                if !leading.is_empty() {
                    tracing::info!(
                        node = self.node.id(),
                        "no longer leader: stopping the controller"
                    );
                    for task in leading.drain(..) {
                        task.abort();
                    }
                }
            }
            tokio::select! {
                _ = &mut shutdown => break,
                changed = metrics.changed() => if changed.is_err() { break },
            }
        }
        for task in leading {
            task.abort();
        }
    }

    /// Runs the storage executor for every image and volume with work
    /// pending, one task per record and generation; like [`Self::reconcile`],
    /// the tasks die with this one when leadership is lost.
    async fn reconcile_storage(self, term: u64) {
        if self.storage.is_none() {
            return;
        }
        let mut changes = self.node.state_machine().watch_changes();
        let mut executors = tokio::task::JoinSet::new();
        // (kind, id, generation) -> executor
        let mut running: HashMap<(&'static str, u64, u64), AbortHandle> = HashMap::new();
        loop {
            let work = self.node.state_machine().read(|s| s.pending_storage_work());
            while executors.try_join_next().is_some() {}
            let mut wanted = std::collections::HashSet::new();
            for w in work {
                let key = match &w {
                    crate::state::StorageWork::Image { id, generation, .. } => {
                        ("image", id.0, *generation)
                    }
                    crate::state::StorageWork::Volume { id, generation, .. } => {
                        ("volume", id.0, *generation)
                    }
                };
                wanted.insert(key);
                if running.get(&key).is_some_and(|t| !t.is_finished()) {
                    continue;
                }
                if running.contains_key(&key) {
                    // Finished without its report landing (a failed
                    // proposal): run it again after a pause.
                    running.remove(&key);
                    continue;
                }
                let me = self.clone();
                running.insert(
                    key,
                    executors.spawn(async move { me.execute_storage(w, term).await }),
                );
            }
            running.retain(|key, task| {
                if wanted.contains(key) {
                    true
                } else {
                    task.abort();
                    false
                }
            });
            tokio::select! {
                // A burst of changes is one wake-up.
                _ = changes.changed() => {}
                _ = tokio::time::sleep(self.config.retry_pause) => {}
            }
        }
    }

    /// Runs one executor per server in transition; re-checks on every state
    /// event and at least every `retry_pause`. The executors live in a
    /// `JoinSet` owned by this task, so losing leadership (which aborts this
    /// task) aborts every one of them too: a deposed leader drives no blade.
    async fn reconcile(self, term: u64) {
        let mut changes = self.node.state_machine().watch_changes();
        let mut executors = tokio::task::JoinSet::new();
        // (partition, name) -> (generation, state, executor)
        let mut running: HashMap<(String, String), (u64, ServerState, AbortHandle)> =
            HashMap::new();
        // A finished executor whose work is still pending (it failed) is
        // retried after a pause; new work for the server (another
        // generation or state) starts at once.
        let mut retry_after: HashMap<(String, String), (u64, ServerState, Instant)> =
            HashMap::new();
        loop {
            let work = self.node.state_machine().read(|s| s.pending_server_work());
            let now = Instant::now();
            while executors.try_join_next().is_some() {}
            running.retain(|key, (generation, state, task)| {
                if task.is_finished() {
                    retry_after.insert(
                        key.clone(),
                        (*generation, *state, now + self.config.retry_pause),
                    );
                    false
                } else {
                    true
                }
            });
            for w in work {
                let key = (w.partition.clone(), w.name.clone());
                if let Some((generation, state, task)) = running.get(&key) {
                    if *generation == w.generation && *state == w.state {
                        continue;
                    }
                    task.abort();
                }
                if retry_after
                    .get(&key)
                    .is_some_and(|(g, st, t)| *g == w.generation && *st == w.state && *t > now)
                {
                    continue;
                }
                let (generation, state) = (w.generation, w.state);
                let me = self.clone();
                let handle = executors.spawn(async move { me.execute(w, term).await });
                running.insert(key, (generation, state, handle));
            }
            retry_after.retain(|_, (_, _, t)| *t > now);
            tokio::select! {
                // A burst of changes is one wake-up.
                _ = changes.changed() => {}
                _ = tokio::time::sleep(self.config.retry_pause) => {}
            }
        }
    }
}
