//! The records the replicated state holds.

use super::identity::{Mac, PoolUuid};
use pan_api::{
    BladeId, CredentialId, IdentityPoolId, ImageId, NetworkId, PartitionId, PoolId, ServerId,
    VolumeId,
};
use partitions::NetworkIdRange;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A tenant boundary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub id: PartitionId,
    pub name: String,
    pub description: String,
    pub created_at_ms: u64,
    /// The network ids (VXLAN VNIs) its networks take.
    #[serde(default)]
    pub network_ids: Option<NetworkIdRange>,
    /// Its limits; unlimited by default.
    #[serde(default)]
    pub quota: partitions::Quota,
}

/// What a blade must offer to belong to a pool or to run a server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qualification {
    /// `None`: any model.
    pub model: Option<String>,
    pub min_cores: u32,
    pub min_memory_gib: u64,
}

impl Qualification {
    /// Why `facts` do not meet this qualification, or `None` when they do.
    pub fn unmet_by(&self, facts: &BladeFacts) -> Option<String> {
        if let Some(model) = &self.model
            && &facts.model != model
        {
            return Some(format!(
                "model is {:?}, pool wants {:?}",
                facts.model, model
            ));
        }
        if facts.cores < self.min_cores {
            return Some(format!(
                "{} cores, at least {} needed",
                facts.cores, self.min_cores
            ));
        }
        if facts.memory_gib < self.min_memory_gib {
            return Some(format!(
                "{} GiB memory, at least {} GiB needed",
                facts.memory_gib, self.min_memory_gib
            ));
        }
        None
    }
}

/// A set of blades with qualification rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub id: PoolId,
    pub name: String,
    pub qualification: Qualification,
}

/// A pool of portable identities.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityPool {
    pub id: IdentityPoolId,
    pub name: String,
    pub mac_first: Mac,
    pub mac_last: Mac,
    pub uuid_prefix: u64,
    /// Where the next MAC search starts (next-fit, wrapping).
    pub mac_cursor: u64,
    /// The next UUID suffix to hand out; suffixes are never reused.
    pub next_uuid_suffix: u64,
}

impl IdentityPool {
    /// How many MACs the range holds.
    pub fn mac_total(&self) -> u64 {
        self.mac_last.0 - self.mac_first.0 + 1
    }

    /// True when the two pools' MAC ranges share an address.
    pub fn overlaps(&self, first: Mac, last: Mac) -> bool {
        first <= self.mac_last && self.mac_first <= last
    }
}

/// Lifecycle of a physical blade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BladeState {
    Discovered,
    Available,
    Allocated,
    Failed,
    Fenced,
    Maintenance,
    Retired,
}

impl fmt::Display for BladeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BladeState::Discovered => "discovered",
            BladeState::Available => "available",
            BladeState::Allocated => "allocated",
            BladeState::Failed => "failed",
            BladeState::Fenced => "fenced",
            BladeState::Maintenance => "maintenance",
            BladeState::Retired => "retired",
        })
    }
}

/// A blade's power as its BMC last reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerState {
    On,
    Off,
    PoweringOn,
    PoweringOff,
    #[default]
    Unknown,
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerState::On => "on",
            PowerState::Off => "off",
            PowerState::PoweringOn => "powering_on",
            PowerState::PoweringOff => "powering_off",
            PowerState::Unknown => "unknown",
        })
    }
}

/// A blade's health as its BMC last reported it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    Warning,
    Critical,
    #[default]
    Unknown,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Ok => "ok",
            Health::Warning => "warning",
            Health::Critical => "critical",
            Health::Unknown => "unknown",
        })
    }
}

/// One blade's BMC reading, as the poller reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BladeObservation {
    pub blade: String,
    pub power: PowerState,
    pub health: Health,
}

/// Power actions an operator may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    On,
    Off,
    Cycle,
}

impl fmt::Display for PowerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Cycle => "cycle",
        })
    }
}

/// Inventory facts of a blade, as read from its BMC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BladeFacts {
    pub model: String,
    pub cores: u32,
    pub memory_gib: u64,
    /// Burned-in MACs of the fabric ports.
    pub macs: Vec<Mac>,
    pub uuid: String,
}

/// How to reach a blade's BMC. The password lives in the credential store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BmcEndpoint {
    pub url: String,
    pub user: String,
    pub credential: CredentialId,
}

/// One physical diskless compute node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blade {
    pub id: BladeId,
    pub name: String,
    pub bmc: BmcEndpoint,
    pub state: BladeState,
    pub facts: Option<BladeFacts>,
    pub pool: Option<PoolId>,
    pub server: Option<ServerId>,
    /// Last observed power (written only when it changes).
    #[serde(default)]
    pub power: PowerState,
    /// Last observed health (written only when it changes).
    #[serde(default)]
    pub health: Health,
}

/// The portable identity of a server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub uuid: PoolUuid,
    pub macs: Vec<Mac>,
}

impl Identity {
    /// The NVMe host NQN of this identity.
    pub fn host_nqn(&self) -> String {
        self.uuid.host_nqn()
    }
}

/// Lifecycle of a logical server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    Defined,
    Starting,
    Running,
    Stopping,
    Failed,
}

impl fmt::Display for ServerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerState::Defined => "defined",
            ServerState::Starting => "starting",
            ServerState::Running => "running",
            ServerState::Stopping => "stopping",
            ServerState::Failed => "failed",
        })
    }
}

/// A logical server: a portable identity plus requirements.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    pub id: ServerId,
    pub name: String,
    pub partition: PartitionId,
    pub identity_pool: IdentityPoolId,
    pub identity: Identity,
    pub boot_volume: Option<VolumeId>,
    pub requirements: Qualification,
    pub state: ServerState,
    pub blade: Option<BladeId>,
    /// Bumped on every change of desired placement; agents refuse older ones.
    pub generation: u64,
    pub created_at_ms: u64,
    /// Why the last start or stop failed, if it did.
    #[serde(default)]
    pub last_error: Option<String>,
    /// The network of each vNIC (same order as `identity.macs`).
    #[serde(default)]
    pub nic_networks: Vec<Option<NetworkId>>,
    /// Data volumes, attached after the boot volume.
    #[serde(default)]
    pub volumes: Vec<VolumeId>,
    /// Failover policy: higher priority servers get spares first.
    #[serde(default)]
    pub priority: u32,
    /// The pool spares come from; `None`: any qualifying available blade.
    #[serde(default)]
    pub failover_pool: Option<PoolId>,
    /// With no free spare, a failover of this server may preempt a
    /// lower-priority server.
    #[serde(default)]
    pub preempt: bool,
    /// Failback policy: the cron schedule (UTC) of the maintenance window in
    /// which the server goes back to its home blade; `None`: it stays.
    #[serde(default)]
    pub failback_window: Option<String>,
    /// The blade it failed over from, while it runs elsewhere.
    #[serde(default)]
    pub home_blade: Option<BladeId>,
    /// Where a planned move (failback) places it once stopped.
    #[serde(default)]
    pub move_to: Option<BladeId>,
}

impl Server {
    /// Boot volume first, then the data volumes.
    pub fn all_volumes(&self) -> impl Iterator<Item = VolumeId> + '_ {
        self.boot_volume
            .into_iter()
            .chain(self.volumes.iter().copied())
    }
}

/// Where a failover stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverPhase {
    /// The old blade is being fenced (powered off, cut off the fabric and
    /// the storage, each read back).
    Fencing,
    /// The fence could not be confirmed: no takeover until an operator
    /// confirms it (`panctl blade confirm-fenced`).
    FenceFailed,
    /// Fenced; waiting for a qualifying spare.
    AwaitingSpare,
    /// Placed on a spare; booting there.
    Booting,
    /// Running on the spare.
    Done,
}

impl fmt::Display for FailoverPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailoverPhase::Fencing => "fencing",
            FailoverPhase::FenceFailed => "fence_failed",
            FailoverPhase::AwaitingSpare => "awaiting_spare",
            FailoverPhase::Booting => "booting",
            FailoverPhase::Done => "done",
        })
    }
}

/// One failover operation: every step is recorded here, in the log, so a
/// new leader resumes it from the last recorded step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failover {
    pub id: u64,
    pub server: ServerId,
    pub from_blade: BladeId,
    pub to_blade: Option<BladeId>,
    pub phase: FailoverPhase,
    /// Why the blade was judged failed.
    pub reason: String,
    /// Why the last step failed, if one did.
    pub error: Option<String>,
    /// The operator who confirmed a manual fence.
    pub confirmed_by: Option<String>,
    /// How long the blade had been silent when it was judged failed.
    pub silent_ms: u64,
    pub detected_at_ms: u64,
    pub fenced_at_ms: Option<u64>,
    pub selected_at_ms: Option<u64>,
    pub running_at_ms: Option<u64>,
    /// The spare epoch of the last search that found no spare: the next
    /// search waits until a blade becomes available (the epoch moves).
    pub tried_epoch: Option<u64>,
    /// This failover stops a server to free its blade for `for_server`
    /// (preemption): once fenced, the blade is a spare, not out of service.
    #[serde(default)]
    pub preempted_for: Option<ServerId>,
    /// The preemption this failover waits for, if it started one.
    #[serde(default)]
    pub waiting_for: Option<u64>,
}

/// A partition network: an isolated L2 segment with one VXLAN network id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: NetworkId,
    pub name: String,
    pub partition: PartitionId,
    pub vni: u32,
    pub created_at_ms: u64,
}

/// Storage work a volume waits for; the leader's storage executor does it
/// and reports back with `VolumeOpDone`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VolumeOp {
    Create,
    Resize { size_bytes: u64 },
    Snapshot { name: String },
    Restore { name: String },
    DeleteSnapshot { name: String },
    Delete,
}

impl VolumeOp {
    /// The state a volume shows while this runs.
    pub fn state(&self) -> &'static str {
        match self {
            VolumeOp::Create => "creating",
            VolumeOp::Resize { .. } => "resizing",
            VolumeOp::Snapshot { .. } => "snapshotting",
            VolumeOp::Restore { .. } => "restoring",
            VolumeOp::DeleteSnapshot { .. } => "deleting_snapshot",
            VolumeOp::Delete => "deleting",
        }
    }
}

/// A named restore point of a volume.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSnapshot {
    pub name: String,
    pub created_at_ms: u64,
}

/// A SAN volume record (the bytes live on the storage target).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: VolumeId,
    pub name: String,
    pub partition: PartitionId,
    pub size_bytes: u64,
    /// The golden image it is a thin clone of.
    #[serde(default)]
    pub image: Option<ImageId>,
    #[serde(default)]
    pub snapshots: Vec<VolumeSnapshot>,
    /// Work in progress on the target; `None` when the volume is ready.
    #[serde(default)]
    pub op: Option<VolumeOp>,
    /// Generation of `op`; the executor's report must carry it.
    #[serde(default)]
    pub op_generation: u64,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// Where a golden image's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageSource {
    /// A file on the manager's host, copied onto the target.
    File { path: String },
    /// An empty image of the record's size.
    Empty,
}

/// Storage work an image waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageOp {
    Create,
    Delete,
}

/// A golden image: the read-only base of thin-cloned volumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: ImageId,
    pub name: String,
    /// Virtual size; known once the image is on the target (for a file).
    pub size_bytes: u64,
    pub source: ImageSource,
    pub op: Option<ImageOp>,
    pub op_generation: u64,
    pub last_error: Option<String>,
    pub created_at_ms: u64,
}

/// A secret value such as a BMC password. Its `Debug` never shows the value,
/// and no API view carries it. A command holding one must be listed in
/// `Command::holds_secret`, so that the audit log keeps only its redacted text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One accepted command, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Raft log index of the entry that carried the command.
    pub index: u64,
    pub at_ms: u64,
    pub principal: String,
    /// The command with secrets redacted.
    pub command: String,
    /// `None` on success, else why it was refused.
    pub error: Option<String>,
    /// The partition the command concerned; `None` for fabric-wide ones.
    /// Tenants see the records of their partitions only.
    #[serde(default)]
    pub partition: Option<String>,
}

/// A state change, sent to event-stream subscribers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub index: u64,
    pub at_ms: u64,
    /// e.g. `server.created`.
    pub kind: String,
    /// e.g. `server/acme/web-1`.
    pub object: String,
    /// Partition name of the object; `None` for fabric-wide objects.
    pub partition: Option<String>,
}
