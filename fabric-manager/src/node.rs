//! A running fabric-manager member: the raft instance, the durable store and
//! the write path around them.
//!
//! Writes go through a proposer that packs concurrent commands into one log
//! entry (group commit) and keeps a bounded number of entries in flight. A
//! member that is not the leader forwards the batch to the leader over the
//! internal `Raft.Propose` RPC, so clients may talk to any member. Reads are
//! linearizable: the leader confirms its leadership, a follower asks the
//! leader for a read index and waits until it has applied that far.

use crate::cluster_key::{ClusterKey, KeyRules};
use crate::error::{Error, WriteError};
use crate::network::{Network, Peers, decode, encode};
use crate::raft_types::{NodeId, Raft};
use crate::state::{Command, CommandResult, Envelope, Outcome};
use crate::store::{self, StateMachineStore};
use openraft::error::{CheckIsLeaderError, ClientWriteError, ForwardToLeader, RaftError};
use openraft::{BasicNode, ChangeMembers, Config, SnapshotPolicy};
use pan_api::v1::{ClusterStatusReply, Member, RaftPayload};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Most commands packed into one log entry.
pub const MAX_BATCH: usize = 1024;
/// Most log entries a member has in flight at once.
pub const MAX_IN_FLIGHT: usize = 2;
/// How long a write waits for a leader before it gives up.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// How a member is set up.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub id: NodeId,
    /// The address other members and clients reach this member at.
    pub addr: String,
    pub data_dir: PathBuf,
    pub heartbeat: Duration,
    pub election_timeout_min: Duration,
    pub election_timeout_max: Duration,
    /// Build a snapshot after this many log entries.
    pub snapshot_after_logs: u64,
    /// Log entries kept behind a snapshot (followers that lag further catch up by snapshot).
    pub logs_kept_after_snapshot: u64,
    /// TLS for member-to-member traffic (raft, forwarding, join); `None`: plain HTTP/2.
    pub peer_tls: Option<tonic::transport::ClientTlsConfig>,
    /// A copy of the cluster key, for a member that joins (see
    /// [`crate::cluster_key`]); kept in the data directory from then on.
    pub cluster_key_file: Option<PathBuf>,
    /// This member joins an existing cluster: it must be given the key
    /// rather than make one.
    pub joining: bool,
}

impl NodeConfig {
    /// Defaults suited to a rack-local cluster.
    pub fn new(id: NodeId, addr: String, data_dir: PathBuf) -> Self {
        NodeConfig {
            id,
            addr,
            data_dir,
            heartbeat: Duration::from_millis(100),
            election_timeout_min: Duration::from_millis(400),
            election_timeout_max: Duration::from_millis(800),
            snapshot_after_logs: 10_000,
            logs_kept_after_snapshot: 1_000,
            peer_tls: None,
            cluster_key_file: None,
            joining: false,
        }
    }

    fn raft_config(&self) -> Result<Config, Error> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let config = Config {
            cluster_name: "pan".to_string(),
            heartbeat_interval: ms(self.heartbeat),
            election_timeout_min: ms(self.election_timeout_min),
            election_timeout_max: ms(self.election_timeout_max),
            install_snapshot_timeout: 10_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_after_logs),
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot,
            ..Config::default()
        };
        config.validate().map_err(|e| Error::InvalidRequest {
            reason: format!("raft timing settings: {e}"),
        })
    }
}

/// Why a forwarded request failed on the member it was forwarded to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ForwardError {
    /// That member is not the leader (any more); nothing was submitted.
    NotLeader { leader: Option<NodeId> },
    /// Submitted there, but whether it committed is unknown.
    OutcomeUnknown { message: String },
    /// It failed there; the message says why.
    Failed { message: String },
}

/// The reply of a forwarded batch.
pub type ProposeReply = Result<Vec<CommandResult>, ForwardError>;
/// The reply of a read-index request.
pub type ReadIndexReply = Result<Option<u64>, ForwardError>;

struct Proposal {
    envelope: Envelope,
    reply: oneshot::Sender<Result<CommandResult, WriteError>>,
}

/// One running member. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    id: NodeId,
    addr: String,
    raft: Raft,
    sm: StateMachineStore,
    peers: Peers,
    proposals: mpsc::Sender<Proposal>,
    cluster_key: ClusterKey,
}

impl Node {
    /// Opens the store in `config.data_dir` and starts raft. The member does
    /// not serve until its gRPC server runs; call [`Node::bootstrap`] or
    /// [`Node::join`] after that.
    pub async fn start(config: NodeConfig) -> Result<Node, Error> {
        check_node_id(&config)?;
        let (mut log_store, sm) = store::open(&config.data_dir, config.id)?;
        // A member with raft history belongs to a cluster already: its key
        // is settled (a wrong one given to a joiner that never got in may
        // still be replaced).
        let has_history = {
            use openraft::storage::RaftLogStorage as _;
            let unreadable = |e: openraft::StorageError<NodeId>| WriteError::Raft {
                node: config.id,
                detail: format!("reading the log state: {e}"),
            };
            let state = log_store.get_log_state().await.map_err(unreadable)?;
            let vote = log_store.read_vote().await.map_err(unreadable)?;
            state.last_log_id.is_some() || state.last_purged_log_id.is_some() || vote.is_some()
        };
        let cluster_key = ClusterKey::load(
            &config.data_dir,
            config.cluster_key_file.as_deref(),
            KeyRules {
                may_create: !config.joining,
                may_replace: !has_history,
            },
        )?;
        if cluster_key.created && has_history {
            tracing::warn!(
                data_dir = %config.data_dir.display(),
                "made a new cluster key for a data directory that already holds cluster state \
                 (it had no cluster.key); if this member belongs to a cluster of several, \
                 stop it and start it with --cluster-key-file holding another member's cluster.key"
            );
        }
        let cluster_key = cluster_key.key;
        cluster_key.write_agent_key(&config.data_dir)?;
        let peers = Peers::new(config.peer_tls.clone(), &cluster_key);
        let network = Network {
            peers: peers.clone(),
        };
        let raft = Raft::new(
            config.id,
            Arc::new(config.raft_config()?),
            network,
            log_store,
            sm.clone(),
        )
        .await
        .map_err(|e| WriteError::Raft {
            node: config.id,
            detail: e.to_string(),
        })?;
        let (tx, rx) = mpsc::channel(16 * MAX_BATCH);
        let inner = Arc::new(Inner {
            id: config.id,
            addr: config.addr,
            raft,
            sm,
            peers,
            proposals: tx,
            cluster_key,
        });
        tokio::spawn(run_proposer(inner.clone(), rx));
        Ok(Node { inner })
    }

    /// The key member-to-member calls must carry.
    pub fn cluster_key(&self) -> &ClusterKey {
        &self.inner.cluster_key
    }

    /// This member's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// The raft handle (for the internal RPC service).
    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// The state machine (for reads and event subscriptions).
    pub fn state_machine(&self) -> &StateMachineStore {
        &self.inner.sm
    }

    /// Makes this member a single-node cluster if it has never been part of one.
    pub async fn bootstrap(&self) -> Result<(), Error> {
        let initialized = self
            .inner
            .raft
            .is_initialized()
            .await
            .map_err(|e| self.raft_err(e))?;
        if initialized {
            tracing::info!(
                node = self.inner.id,
                "recovered cluster state from the data directory"
            );
            return Ok(());
        }
        let members = BTreeMap::from([(self.inner.id, BasicNode::new(self.inner.addr.clone()))]);
        match self.inner.raft.initialize(members).await {
            Ok(()) => {
                tracing::info!(
                    node = self.inner.id,
                    "initialized a new single-member cluster"
                );
                Ok(())
            }
            Err(RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => Ok(()),
            Err(e) => Err(self.raft_err(e).into()),
        }
    }

    /// Asks the cluster reachable at `via` to add this member as a voter,
    /// retrying until it succeeds. Idempotent: a member already in the
    /// cluster with this address is left as it is. Gives up only when the
    /// cluster refuses this member's key or address: retrying cannot help.
    pub async fn join(&self, via: String) -> Result<(), Error> {
        let mut backoff = Duration::from_millis(100);
        loop {
            let result = async {
                let mut client =
                    self.inner
                        .peers
                        .client(&via)
                        .map_err(|e| Error::InvalidRequest {
                            reason: format!("--join {e}"),
                        })?;
                match client
                    .join(pan_api::v1::AddMemberRequest {
                        id: self.inner.id,
                        addr: self.inner.addr.clone(),
                    })
                    .await
                {
                    Ok(_) => Ok(Ok(())),
                    Err(s)
                        if matches!(
                            s.code(),
                            tonic::Code::Unauthenticated
                                | tonic::Code::InvalidArgument
                                | tonic::Code::AlreadyExists
                        ) =>
                    {
                        Err(Error::JoinRefused {
                            via: via.clone(),
                            reason: s.message().to_string(),
                        })
                    }
                    Err(s) => Ok(Err(s.message().to_string())),
                }
            }
            .await?;
            match result {
                Ok(()) => {
                    tracing::info!(node = self.inner.id, via = %via, "joined the cluster as a voter");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(node = self.inner.id, via = %via, error = %e, "join failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Proposes one command and waits for its result.
    pub async fn propose(&self, principal: &str, command: Command) -> Result<Outcome, Error> {
        let envelope = Envelope {
            principal: principal.into(),
            at_ms: now_ms(),
            command: Arc::new(command),
        };
        let (tx, rx) = oneshot::channel();
        self.inner
            .proposals
            .send(Proposal {
                envelope,
                reply: tx,
            })
            .await
            .map_err(|_| WriteError::ShuttingDown {
                node: self.inner.id,
            })?;
        let result = rx.await.map_err(|_| WriteError::ShuttingDown {
            node: self.inner.id,
        })??;
        Ok(result?)
    }

    /// Leader side of a forwarded batch: writes it through the local raft
    /// without forwarding again.
    pub async fn propose_forwarded(&self, batch: crate::raft_types::Request) -> ProposeReply {
        match write_local(&self.inner, batch).await {
            Local::Done(results) => Ok(results),
            Local::NotLeader(leader) => Err(ForwardError::NotLeader { leader }),
            Local::Err(WriteError::OutcomeUnknown { detail, .. }) => {
                Err(ForwardError::OutcomeUnknown { message: detail })
            }
            Local::Err(WriteError::ShuttingDown { .. }) => {
                Err(ForwardError::NotLeader { leader: None })
            }
            Local::Err(e) => Err(ForwardError::Failed {
                message: e.to_string(),
            }),
        }
    }

    /// Waits until a read on this member sees every write committed before
    /// the call.
    pub async fn linearize(&self) -> Result<(), Error> {
        let deadline = Instant::now() + WRITE_DEADLINE;
        loop {
            let leader = match self.inner.raft.ensure_linearizable().await {
                Ok(_) => return Ok(()),
                Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => f,
                Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => {
                    ForwardToLeader::empty()
                }
                Err(RaftError::Fatal(e)) => return Err(self.raft_err(e).into()),
            };
            if let Some((leader_id, addr)) = self.leader_target(&leader) {
                let reply: Result<ReadIndexReply, WriteError> = self
                    .call_leader(leader_id, &addr, Forwarded::ReadIndex)
                    .await;
                match reply {
                    Ok(Ok(index)) => {
                        self.inner
                            .raft
                            .wait(Some(WRITE_DEADLINE))
                            .applied_index_at_least(index, "linearizable read")
                            .await
                            .map_err(|e| WriteError::Raft {
                                node: self.inner.id,
                                detail: format!("waiting to apply up to the read index: {e}"),
                            })?;
                        return Ok(());
                    }
                    Ok(Err(
                        ForwardError::Failed { message } | ForwardError::OutcomeUnknown { message },
                    )) => {
                        return Err(WriteError::Raft {
                            node: leader_id,
                            detail: message,
                        }
                        .into());
                    }
                    Ok(Err(ForwardError::NotLeader { .. })) | Err(_) => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(WriteError::NoLeader.into());
            }
            self.wait_for_leader_change().await;
        }
    }

    /// Leader side of a read-index request.
    pub async fn read_index(&self) -> ReadIndexReply {
        match self.inner.raft.ensure_linearizable().await {
            Ok(log_id) => Ok(log_id.map(|l| l.index)),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(ForwardError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(e) => Err(ForwardError::Failed {
                message: e.to_string(),
            }),
        }
    }

    /// This member's last applied log index.
    pub fn applied_index(&self) -> ReadIndexReply {
        Ok(self
            .inner
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map(|l| l.index))
    }

    /// Waits until every other member has applied what this one has, so a
    /// change (a revoked token) is in effect whichever member a client asks.
    /// Bounded by [`WRITE_DEADLINE`]; members that cannot be reached in time
    /// are named in the log (they apply it as soon as they catch up).
    pub async fn wait_applied_everywhere(&self) -> Result<(), Error> {
        let (target, members) = {
            let m = self.inner.raft.metrics().borrow().clone();
            let target = m.last_applied.map_or(0, |l| l.index);
            let members: Vec<(NodeId, String)> = m
                .membership_config
                .membership()
                .nodes()
                .filter(|(id, _)| **id != self.inner.id)
                .map(|(id, n)| (*id, n.addr.clone()))
                .collect();
            (target, members)
        };
        let deadline = Instant::now() + WRITE_DEADLINE;
        let waits = members.into_iter().map(|(id, addr)| {
            let inner = self.inner.clone();
            async move {
                let mut pause = Duration::from_millis(10);
                loop {
                    let reply: Result<ReadIndexReply, WriteError> =
                        call_leader(&inner, id, &addr, Forwarded::AppliedIndex).await;
                    if let Ok(Ok(Some(applied))) = reply
                        && applied >= target
                    {
                        return;
                    }
                    if Instant::now() + pause >= deadline {
                        tracing::warn!(member = id, %addr, index = target, "member did not confirm it applied the change in time; it will once it catches up");
                        return;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
            }
        });
        futures::future::join_all(waits).await;
        Ok(())
    }

    /// Adds a member as a voter (on the leader, or forwarded to it).
    pub async fn add_member(&self, id: NodeId, addr: String) -> Result<(), Error> {
        if id == 0 {
            return Err(Error::InvalidRequest {
                reason: "member id 0 is reserved; use 1 or higher".to_string(),
            });
        }
        check_member_addr(&addr)?;
        let deadline = Instant::now() + WRITE_DEADLINE;
        loop {
            let leader = match self.current_leader() {
                Some(l) if l == self.inner.id => {
                    match self.add_member_as_leader(id, addr.clone()).await? {
                        None => return Ok(()),
                        Some(f) => f,
                    }
                }
                other => ForwardToLeader {
                    leader_id: other,
                    leader_node: other.and_then(|l| self.member_addr(l)).map(BasicNode::new),
                },
            };
            if let Some((leader_id, leader_addr)) = self.leader_target(&leader) {
                let mut client =
                    self.inner
                        .peers
                        .client(&leader_addr)
                        .map_err(|e| Error::InvalidRequest {
                            reason: e.to_string(),
                        })?;
                match client
                    .join(pan_api::v1::AddMemberRequest {
                        id,
                        addr: addr.clone(),
                    })
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(s) if s.code() == tonic::Code::Unavailable => {
                        tracing::debug!(leader = leader_id, error = %s.message(), "join forward failed; retrying");
                    }
                    Err(s) => return Err(Error::Leader(s)),
                }
            }
            if Instant::now() >= deadline {
                return Err(WriteError::NoLeader.into());
            }
            self.wait_for_leader_change().await;
        }
    }

    /// `Ok(None)` when done, `Ok(Some(leader))` when leadership moved.
    async fn add_member_as_leader(
        &self,
        id: NodeId,
        addr: String,
    ) -> Result<Option<ForwardToLeader<NodeId, BasicNode>>, Error> {
        let membership = self.inner.raft.metrics().borrow().membership_config.clone();
        if let Some((other, _)) = membership
            .membership()
            .nodes()
            .find(|(other, node)| **other != id && node.addr == addr)
        {
            return Err(Error::MemberConflict {
                reason: format!(
                    "{addr} is already the address of member {other}; one process must not \
                     count twice towards the quorum"
                ),
            });
        }
        let existing = membership
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone());
        let is_voter = membership.membership().voter_ids().any(|v| v == id);
        match existing {
            Some(a) if a != addr => {
                return Err(Error::MemberConflict {
                    reason: format!(
                        "member {id} is already in the cluster at {a}; remove it first \
                         (`panctl cluster remove-member {id}`) to give it a new address"
                    ),
                });
            }
            Some(_) if is_voter => return Ok(None),
            _ => {}
        }
        let node = BasicNode::new(addr);
        match self.inner.raft.add_learner(id, node, true).await {
            Ok(_) => {}
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => return Ok(Some(f)),
            Err(e) => {
                return Err(Error::Membership {
                    reason: e.to_string(),
                });
            }
        }
        match self
            .inner
            .raft
            .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
            .await
        {
            Ok(_) => {
                tracing::info!(member = id, "member promoted to voter");
                Ok(None)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Ok(Some(f)),
            Err(e) => Err(Error::Membership {
                reason: e.to_string(),
            }),
        }
    }

    /// Removes a member from the cluster (on the leader, or forwarded to it).
    pub async fn remove_member(&self, id: NodeId) -> Result<(), Error> {
        let deadline = Instant::now() + WRITE_DEADLINE;
        loop {
            let membership = self.inner.raft.metrics().borrow().membership_config.clone();
            let voters: BTreeSet<NodeId> = membership.membership().voter_ids().collect();
            if membership.membership().get_node(&id).is_none() {
                return Err(Error::Membership {
                    reason: format!(
                        "node {id} is not a member; see `panctl cluster status` for the members"
                    ),
                });
            }
            if voters.len() == 1 && voters.contains(&id) {
                return Err(Error::Membership {
                    reason: format!("node {id} is the last voter; a cluster needs at least one"),
                });
            }
            let change = if voters.contains(&id) {
                ChangeMembers::RemoveVoters(BTreeSet::from([id]))
            } else {
                ChangeMembers::RemoveNodes(BTreeSet::from([id]))
            };
            let leader = match self.inner.raft.change_membership(change, false).await {
                Ok(_) => {
                    tracing::info!(member = id, "member removed");
                    return Ok(());
                }
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => f,
                Err(e) => {
                    return Err(Error::Membership {
                        reason: e.to_string(),
                    });
                }
            };
            if let Some((leader_id, addr)) = self.leader_target(&leader) {
                let reply: Result<Result<(), ForwardError>, WriteError> = self
                    .call_leader(leader_id, &addr, Forwarded::RemoveMember(id))
                    .await;
                match reply {
                    Ok(Ok(())) => return Ok(()),
                    Ok(Err(
                        ForwardError::Failed { message } | ForwardError::OutcomeUnknown { message },
                    )) => {
                        return Err(Error::Membership { reason: message });
                    }
                    Ok(Err(ForwardError::NotLeader { .. })) | Err(_) => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(WriteError::NoLeader.into());
            }
            self.wait_for_leader_change().await;
        }
    }

    /// Leader side of a forwarded member removal.
    pub async fn remove_member_forwarded(&self, id: NodeId) -> Result<(), ForwardError> {
        if self.current_leader() != Some(self.inner.id) {
            return Err(ForwardError::NotLeader {
                leader: self.current_leader(),
            });
        }
        Box::pin(self.remove_member(id))
            .await
            .map_err(|e| ForwardError::Failed {
                message: e.to_string(),
            })
    }

    /// This member's view of the cluster.
    pub fn cluster_status(&self) -> ClusterStatusReply {
        let m = self.inner.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let members = membership
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                addr: node.addr.clone(),
                role: if voters.contains(id) {
                    "voter".to_string()
                } else {
                    "learner".to_string()
                },
            })
            .collect();
        ClusterStatusReply {
            leader: m.current_leader.unwrap_or(0),
            term: m.current_term,
            members,
            answered_by: self.inner.id,
            last_log_index: m.last_log_index.unwrap_or(0),
            last_applied: m.last_applied.map_or(0, |l| l.index),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            snapshots_installed: self.inner.sm.snapshots_installed(),
            state_digest: self.inner.sm.digest(),
        }
    }

    /// Stops raft; pending writes fail with `ShuttingDown`.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not shut down cleanly");
        }
    }

    fn current_leader(&self) -> Option<NodeId> {
        self.inner.raft.metrics().borrow().current_leader
    }

    fn member_addr(&self, id: NodeId) -> Option<String> {
        self.inner
            .raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone())
    }

    /// The leader to forward to, if it is known and is not this member.
    fn leader_target(&self, f: &ForwardToLeader<NodeId, BasicNode>) -> Option<(NodeId, String)> {
        let id = f.leader_id?;
        if id == self.inner.id {
            return None;
        }
        let addr = f
            .leader_node
            .as_ref()
            .map(|n| n.addr.clone())
            .or_else(|| self.member_addr(id))?;
        Some((id, addr))
    }

    async fn wait_for_leader_change(&self) {
        let mut rx = self.inner.raft.metrics();
        let before = rx.borrow().current_leader;
        // Bounded wait: the leader may be known but unreachable, in which
        // case nothing changes and we retry after the timeout.
        let _ = tokio::time::timeout(
            Duration::from_millis(50),
            rx.wait_for(|m| m.current_leader != before),
        )
        .await;
    }

    async fn call_leader<T: serde::de::DeserializeOwned>(
        &self,
        leader: NodeId,
        addr: &str,
        request: Forwarded,
    ) -> Result<T, WriteError> {
        call_leader(&self.inner, leader, addr, request).await
    }

    fn raft_err(&self, e: impl std::fmt::Display) -> WriteError {
        WriteError::Raft {
            node: self.inner.id,
            detail: e.to_string(),
        }
    }
}

/// Requests one member forwards to the leader over `Raft.Propose`/`ReadIndex`.
#[derive(Debug, Serialize, Deserialize)]
pub enum Forwarded {
    Propose(crate::raft_types::Request),
    ReadIndex,
    RemoveMember(NodeId),
    /// Asks any member (not only the leader) for its last applied index.
    AppliedIndex,
}

async fn call_leader<T: serde::de::DeserializeOwned>(
    inner: &Inner,
    leader: NodeId,
    addr: &str,
    request: Forwarded,
) -> Result<T, WriteError> {
    let unreachable = |detail: String| WriteError::LeaderUnreachable {
        leader,
        addr: addr.to_string(),
        detail,
    };
    let mut client = inner
        .peers
        .client(addr)
        .map_err(|e| unreachable(e.to_string()))?;
    let data = encode(&request).map_err(|e| WriteError::Raft {
        node: inner.id,
        detail: format!("encoding a forwarded request: {e}"),
    })?;
    let mut payload = tonic::Request::new(RaftPayload { data });
    // Bounded: a leader cut off from its quorum must not hold the caller.
    payload.set_timeout(WRITE_DEADLINE + Duration::from_secs(1));
    let reply = match request {
        Forwarded::ReadIndex | Forwarded::AppliedIndex => client.read_index(payload).await,
        Forwarded::Propose(_) | Forwarded::RemoveMember(_) => client.propose(payload).await,
    };
    let reply = reply.map_err(|status| {
        if is_connect_failure(&status) {
            unreachable(status.message().to_string())
        } else if status.code() == tonic::Code::Unauthenticated {
            // Refused before it was read: nothing was applied.
            WriteError::Raft {
                node: leader,
                detail: format!(
                    "the leader refused this member's cluster key ({}); give this member \
                     the cluster's key (cluster.key) and restart it",
                    status.message()
                ),
            }
        } else {
            WriteError::OutcomeUnknown {
                leader,
                detail: status.message().to_string(),
            }
        }
    })?;
    decode(&reply.into_inner().data).map_err(|e| WriteError::OutcomeUnknown {
        leader,
        detail: format!("undecodable reply: {e}"),
    })
}

/// True when the request never left this member (nothing was applied).
fn is_connect_failure(status: &tonic::Status) -> bool {
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::AddrNotAvailable
            )
        {
            return true;
        }
        let text = err.to_string();
        if text.contains("tcp connect error") || text.contains("error trying to connect") {
            return true;
        }
        source = err.source();
    }
    status.message().contains("tcp connect error")
}

/// Packs queued proposals into log entries and commits them, keeping at
/// most [`MAX_IN_FLIGHT`] entries in flight.
async fn run_proposer(inner: Arc<Inner>, mut rx: mpsc::Receiver<Proposal>) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        // Collect what queued up while the previous entries were in flight.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let inner = inner.clone();
        tokio::spawn(async move {
            let (envelopes, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|p| (p.envelope, p.reply)).unzip();
            match submit(&inner, envelopes).await {
                Ok(results) if results.len() == replies.len() => {
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(Ok(result));
                    }
                }
                Ok(results) => {
                    let err = WriteError::Raft {
                        node: inner.id,
                        detail: format!(
                            "the state machine returned {} results for {} commands",
                            results.len(),
                            replies.len()
                        ),
                    };
                    for reply in replies {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
                Err(err) => {
                    for reply in replies {
                        let _ = reply.send(Err(err.clone()));
                    }
                }
            }
            drop(permit);
        });
    }
}

/// Commits one batch: locally when leader, else forwarded to the leader.
/// Retries only while it is certain nothing was applied.
async fn submit(inner: &Inner, batch: Vec<Envelope>) -> Result<Vec<CommandResult>, WriteError> {
    let deadline = Instant::now() + WRITE_DEADLINE;
    let envelopes = Arc::new(crate::raft_types::Batch::new(batch));
    loop {
        let leader = match write_local(inner, envelopes.clone()).await {
            Local::Done(results) => return Ok(results),
            Local::Err(e) => return Err(e),
            Local::NotLeader(leader) => leader,
        };
        let target = leader.filter(|l| *l != inner.id).and_then(|l| {
            let addr = inner
                .raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .get_node(&l)
                .map(|n| n.addr.clone())?;
            Some((l, addr))
        });
        let mut last_error = WriteError::NoLeader;
        if let Some((leader_id, addr)) = target {
            let reply: Result<ProposeReply, WriteError> = call_leader(
                inner,
                leader_id,
                &addr,
                Forwarded::Propose(envelopes.clone()),
            )
            .await;
            match reply {
                Ok(Ok(results)) => return Ok(results),
                // Refused before submission there: nothing was applied.
                Ok(Err(ForwardError::NotLeader { .. })) => {}
                Ok(Err(ForwardError::OutcomeUnknown { message })) => {
                    return Err(WriteError::OutcomeUnknown {
                        leader: leader_id,
                        detail: message,
                    });
                }
                Ok(Err(ForwardError::Failed { message })) => {
                    return Err(WriteError::Raft {
                        node: leader_id,
                        detail: message,
                    });
                }
                Err(e @ WriteError::LeaderUnreachable { .. }) => last_error = e,
                Err(e) => return Err(e),
            }
        }
        if Instant::now() >= deadline {
            return Err(last_error);
        }
        let mut rx = inner.raft.metrics();
        let before = rx.borrow().current_leader;
        let _ = tokio::time::timeout(
            Duration::from_millis(50),
            rx.wait_for(|m| m.current_leader != before),
        )
        .await;
    }
}

/// What a write through the local raft came to.
enum Local {
    Done(Vec<CommandResult>),
    /// This member does not lead (the known leader, if any); nothing was
    /// submitted, so the batch may go elsewhere.
    NotLeader(Option<NodeId>),
    Err(WriteError),
}

/// Submits a batch to the local raft if this member leads. Once submitted,
/// every failure is "outcome unknown": openraft answers `ForwardToLeader`
/// also for an appended entry that a new leader truncated — and a later
/// leader may still commit it — so only a refusal before submission is
/// safe to retry.
async fn write_local(inner: &Inner, batch: crate::raft_types::Request) -> Local {
    let (leads, leader) = {
        let m = inner.raft.metrics();
        let m = m.borrow();
        (m.state == openraft::ServerState::Leader, m.current_leader)
    };
    if !leads {
        return Local::NotLeader(leader);
    }
    let unknown = |detail: String| {
        Local::Err(WriteError::OutcomeUnknown {
            leader: inner.id,
            detail,
        })
    };
    let Ok(rx) = inner.raft.client_write_ff(batch).await else {
        // Not handed to raft at all.
        return Local::Err(WriteError::ShuttingDown { node: inner.id });
    };
    match tokio::time::timeout(WRITE_DEADLINE, rx).await {
        Ok(Ok(Ok(resp))) => Local::Done(resp.data),
        Ok(Ok(Err(ClientWriteError::ForwardToLeader(_)))) => {
            unknown("leadership moved while the write was in flight".to_string())
        }
        Ok(Ok(Err(ClientWriteError::ChangeMembershipError(e)))) => Local::Err(WriteError::Raft {
            node: inner.id,
            detail: e.to_string(),
        }),
        Ok(Err(_)) => unknown("raft stopped with the write in flight".to_string()),
        Err(_) => unknown(format!(
            "not committed within {WRITE_DEADLINE:?}; a quorum of members may be unreachable"
        )),
    }
}

/// Milliseconds since the Unix epoch: the time this member stamps into
/// what it proposes and checks tokens' expiry against.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A member address must be exactly `HOST:PORT` (no scheme, no path).
fn check_member_addr(addr: &str) -> Result<(), Error> {
    let bad = || Error::InvalidRequest {
        reason: format!(
            "member address {addr:?} is not HOST:PORT (e.g. 10.0.0.5:7001, without http://)"
        ),
    };
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'));
    if !host_ok || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(())
}

/// A data directory belongs to one node id for life: starting it under
/// another id would corrupt the cluster's view of its members.
fn check_node_id(config: &NodeConfig) -> Result<(), Error> {
    let invalid = |reason: String| Error::InvalidRequest { reason };
    if config.id == 0 {
        return Err(invalid(
            "node id 0 is reserved; use 1 or higher".to_string(),
        ));
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        invalid(format!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        ))
    })?;
    // The log and snapshots hold BMC credentials: owner-only access.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| {
                invalid(format!(
                    "cannot restrict data directory {} to its owner: {e}",
                    config.data_dir.display()
                ))
            })?;
    }
    let path = config.data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored: NodeId = text.trim().parse().map_err(|_| {
                invalid(format!(
                    "{} does not hold a node id; restore it or use an empty data directory",
                    path.display()
                ))
            })?;
            if stored != config.id {
                return Err(invalid(format!(
                    "data directory {} belongs to node {stored}, not node {}; \
                     start with --node-id {stored} or use another --data-dir",
                    config.data_dir.display(),
                    config.id
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Written whole or not at all: a crash must not leave an empty file.
            let write = || -> std::io::Result<()> {
                use std::io::Write as _;
                let tmp = config.data_dir.join("node-id.tmp");
                let mut file = std::fs::File::create(&tmp)?;
                writeln!(file, "{}", config.id)?;
                file.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                std::fs::File::open(&config.data_dir)?.sync_all()
            };
            write().map_err(|e| invalid(format!("cannot write {}: {e}", path.display())))
        }
        Err(e) => Err(invalid(format!("cannot read {}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::check_member_addr;

    #[test]
    fn member_addresses_are_host_and_port_only() {
        for good in ["127.0.0.1:7001", "pan-m2.example:7001", "[::1]:7001"] {
            assert!(check_member_addr(good).is_ok(), "{good}");
        }
        for bad in [
            "http://x:1",
            "x",
            "x:",
            ":7001",
            "x:0",
            "x:70000",
            "x:1/y",
            "a b:1",
        ] {
            let err = check_member_addr(bad).expect_err(bad).to_string();
            assert!(err.contains("HOST:PORT"), "{bad}: {err}");
        }
    }
}
