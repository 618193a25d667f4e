//! Commands: the only way the replicated state changes.

use super::StateError;
use super::model::{BladeFacts, BladeObservation, PowerAction, Qualification, Secret};
use super::view::{
    BladeView, IdentityPoolView, ImageView, NetworkView, PartitionView, PoolView, PrincipalView,
    ServerView, VolumeView,
};
use pan_api::{
    BladeId, IdentityPoolId, ImageId, NetworkId, PartitionId, PoolId, ServerId, VolumeId,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A command with who asked and when. The proposing manager stamps `at_ms`,
/// so every replica applies the same time.
///
/// The principal and command are shared: the audit record of the command
/// keeps them (serialized, each is its plain value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub principal: Arc<str>,
    pub at_ms: u64,
    pub command: Arc<Command>,
}

/// Every change the fabric manager can make to its replicated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    CreatePartition {
        name: String,
        description: String,
        /// "FIRST-LAST"; `None`: the next free block of network ids.
        network_ids: Option<String>,
    },
    DeletePartition {
        name: String,
    },
    CreatePool {
        name: String,
        qualification: Qualification,
    },
    DeletePool {
        name: String,
    },
    CreateIdentityPool {
        name: String,
        mac_first: String,
        mac_last: String,
        uuid_prefix: String,
    },
    DeleteIdentityPool {
        name: String,
    },
    AddBlade {
        name: String,
        bmc_url: String,
        bmc_user: String,
        bmc_password: Secret,
        facts: Option<BladeFacts>,
        pool: Option<String>,
    },
    RemoveBlade {
        name: String,
    },
    CreateServer {
        name: String,
        partition: String,
        nics: u32,
        identity_pool: Option<String>,
        boot_volume: Option<String>,
        requirements: Qualification,
        /// One vNIC per network, in order (vNIC i on `networks[i]`).
        networks: Vec<String>,
        /// Data volumes.
        volumes: Vec<String>,
        /// Failover priority (higher first).
        priority: u32,
        /// Pool spares come from.
        failover_pool: Option<String>,
        /// May preempt a lower-priority server when no spare is free.
        preempt: bool,
        /// Failback maintenance window (cron, UTC); `None`: no failback.
        failback_window: Option<String>,
    },
    DeleteServer {
        name: String,
        partition: String,
    },
    /// Registers a golden image; the storage executor puts it on the target.
    AddImage {
        name: String,
        /// A file on the manager's host; `None`: an empty image.
        source_path: Option<String>,
        size_bytes: u64,
    },
    DeleteImage {
        name: String,
    },
    /// The storage executor finished (or failed) an image's pending work.
    ImageOpDone {
        name: String,
        generation: u64,
        size_bytes: u64,
        error: Option<String>,
    },
    CreateVolume {
        name: String,
        partition: String,
        /// 0 with an image: the image's size.
        size_bytes: u64,
        image: Option<String>,
    },
    DeleteVolume {
        name: String,
        partition: String,
    },
    ResizeVolume {
        name: String,
        partition: String,
        size_bytes: u64,
    },
    SnapshotVolume {
        name: String,
        partition: String,
        snapshot: String,
    },
    RestoreVolume {
        name: String,
        partition: String,
        snapshot: String,
    },
    DeleteSnapshot {
        name: String,
        partition: String,
        snapshot: String,
    },
    /// The storage executor finished (or failed) a volume's pending work.
    VolumeOpDone {
        name: String,
        partition: String,
        generation: u64,
        /// The volume's size on the target after the work.
        size_bytes: u64,
        error: Option<String>,
    },
    CreateNetwork {
        name: String,
        partition: String,
        /// `None`: the lowest free id of the partition's range.
        network_id: Option<u32>,
    },
    DeleteNetwork {
        name: String,
        partition: String,
    },
    /// BMC readings that changed since the last ones recorded.
    ObserveBlades {
        observations: Vec<BladeObservation>,
    },
    /// An operator's power action on a blade (executed by the API handler
    /// after this command is accepted).
    BladePower {
        blade: String,
        action: PowerAction,
        force: bool,
    },
    /// Place a server on a blade (given, or chosen by the placement planner).
    StartServer {
        name: String,
        partition: String,
        blade: Option<String>,
    },
    /// The agent on the server's blade reported this generation applied.
    ServerRunning {
        name: String,
        partition: String,
        generation: u64,
    },
    /// Starting this generation failed; the blade was powered off.
    ServerStartFailed {
        name: String,
        partition: String,
        generation: u64,
        reason: String,
    },
    StopServer {
        name: String,
        partition: String,
    },
    /// The server's blade is powered off; the blade is free again.
    ServerStopped {
        name: String,
        partition: String,
        generation: u64,
    },
    /// A new principal. The API handler builds the record from fresh
    /// randomness and hands the token to the caller; the command carries
    /// only the token's salted hash.
    CreatePrincipal {
        principal: partitions::Principal,
    },
    /// The first start's fabric-admin: accepted only while no principal
    /// exists, so repeating it is harmless.
    BootstrapPrincipal {
        principal: partitions::Principal,
    },
    /// A new token for a principal: replaces the hash and the expiry and
    /// lifts a revocation.
    RotatePrincipal {
        name: String,
        token: partitions::TokenHash,
        expires_at_ms: Option<u64>,
    },
    RevokePrincipal {
        name: String,
    },
    DeletePrincipal {
        name: String,
    },
    /// The controller judged a blade failed (its agent silent for the
    /// detection window, cross-checked with its BMC): a failover of its
    /// server starts with the fence.
    BladeSuspect {
        blade: String,
        reason: String,
        /// How long the agent had been silent.
        silent_ms: u64,
    },
    /// The controller confirmed the fence (power Off, ports detached,
    /// storage access revoked, each read back).
    BladeFenced {
        blade: String,
    },
    /// The fence could not be confirmed: alert, and no takeover.
    FenceFailed {
        blade: String,
        reason: String,
    },
    /// An operator states the blade is fenced (powered off by hand).
    ConfirmFenced {
        blade: String,
    },
    /// Gives the highest-priority failover awaiting a spare one, if any
    /// qualifies (else records that none does).
    TakeOver,
    /// Returns a failed, fenced or maintenance blade to service (the API
    /// checked its health first).
    RepairBlade {
        blade: String,
    },
    /// The controller starts a due failback: stop, then place on the home
    /// blade.
    Failback {
        name: String,
        partition: String,
    },
    /// Takes an idle blade out of service.
    SetMaintenance {
        blade: String,
    },
    /// A request the API refused before it reached the state (the caller
    /// may not do it): recorded so the audit log shows who tried what. The
    /// state machine always refuses it, so it changes nothing.
    Denied {
        action: String,
        partition: Option<String>,
        reason: String,
    },
    /// A partition's limits.
    SetQuota {
        partition: String,
        quota: partitions::Quota,
    },
}

/// Audit form of a command: what it did, secrets redacted.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::CreatePartition {
                name, network_ids, ..
            } => write!(
                f,
                "partition create {name} network_ids={}",
                network_ids.as_deref().unwrap_or("auto")
            ),
            Command::DeletePartition { name } => write!(f, "partition delete {name}"),
            Command::CreatePool {
                name,
                qualification: q,
            } => write!(
                f,
                "pool create {name} model={} min_cores={} min_memory_gib={}",
                q.model.as_deref().unwrap_or("*"),
                q.min_cores,
                q.min_memory_gib
            ),
            Command::DeletePool { name } => write!(f, "pool delete {name}"),
            Command::CreateIdentityPool {
                name,
                mac_first,
                mac_last,
                uuid_prefix,
            } => write!(
                f,
                "identity-pool create {name} macs={mac_first}-{mac_last} uuid_prefix={uuid_prefix}"
            ),
            Command::DeleteIdentityPool { name } => write!(f, "identity-pool delete {name}"),
            Command::AddBlade {
                name,
                bmc_url,
                bmc_user,
                pool,
                ..
            } => write!(
                f,
                "blade add {name} bmc={} user={bmc_user} password=<redacted> pool={}",
                redact_userinfo(bmc_url),
                pool.as_deref().unwrap_or("-")
            ),
            Command::RemoveBlade { name } => write!(f, "blade remove {name}"),
            Command::CreateServer {
                name,
                partition,
                nics,
                boot_volume,
                networks,
                volumes,
                ..
            } => {
                write!(f, "server create {partition}/{name} nics={nics}")?;
                if let Some(v) = boot_volume {
                    write!(f, " boot_volume={v}")?;
                }
                if !networks.is_empty() {
                    write!(f, " networks={}", networks.join(","))?;
                }
                if !volumes.is_empty() {
                    write!(f, " volumes={}", volumes.join(","))?;
                }
                Ok(())
            }
            Command::DeleteServer { name, partition } => {
                write!(f, "server delete {partition}/{name}")
            }
            Command::AddImage {
                name,
                source_path,
                size_bytes,
            } => match source_path {
                Some(path) => write!(f, "image add {name} file={path:?}"),
                None => write!(f, "image add {name} size_bytes={size_bytes}"),
            },
            Command::DeleteImage { name } => write!(f, "image delete {name}"),
            Command::ImageOpDone {
                name,
                generation,
                error,
                ..
            } => write!(
                f,
                "image done {name} generation={generation} {}",
                outcome_text(error)
            ),
            Command::CreateVolume {
                name,
                partition,
                size_bytes,
                image,
            } => {
                write!(
                    f,
                    "volume create {partition}/{name} size_bytes={size_bytes}"
                )?;
                if let Some(image) = image {
                    write!(f, " image={image}")?;
                }
                Ok(())
            }
            Command::DeleteVolume { name, partition } => {
                write!(f, "volume delete {partition}/{name}")
            }
            Command::ResizeVolume {
                name,
                partition,
                size_bytes,
            } => write!(
                f,
                "volume resize {partition}/{name} size_bytes={size_bytes}"
            ),
            Command::SnapshotVolume {
                name,
                partition,
                snapshot,
            } => write!(f, "volume snapshot {partition}/{name} {snapshot}"),
            Command::RestoreVolume {
                name,
                partition,
                snapshot,
            } => write!(f, "volume restore {partition}/{name} {snapshot}"),
            Command::DeleteSnapshot {
                name,
                partition,
                snapshot,
            } => write!(f, "volume delete-snapshot {partition}/{name} {snapshot}"),
            Command::VolumeOpDone {
                name,
                partition,
                generation,
                error,
                ..
            } => write!(
                f,
                "volume done {partition}/{name} generation={generation} {}",
                outcome_text(error)
            ),
            Command::CreateNetwork {
                name,
                partition,
                network_id,
            } => match network_id {
                Some(id) => write!(f, "network create {partition}/{name} network_id={id}"),
                None => write!(f, "network create {partition}/{name}"),
            },
            Command::DeleteNetwork { name, partition } => {
                write!(f, "network delete {partition}/{name}")
            }
            Command::ObserveBlades { observations } => {
                write!(f, "observe")?;
                for o in observations {
                    write!(f, " {}:{}/{}", o.blade, o.power, o.health)?;
                }
                Ok(())
            }
            Command::BladePower {
                blade,
                action,
                force,
            } => write!(
                f,
                "blade power {action} {blade}{}",
                if *force { " --force" } else { "" }
            ),
            Command::StartServer {
                name,
                partition,
                blade,
            } => write!(
                f,
                "server start {partition}/{name} blade={}",
                blade.as_deref().unwrap_or("auto")
            ),
            Command::ServerRunning {
                name,
                partition,
                generation,
            } => write!(
                f,
                "server running {partition}/{name} generation={generation}"
            ),
            Command::ServerStartFailed {
                name,
                partition,
                generation,
                reason,
            } => write!(
                f,
                "server start-failed {partition}/{name} generation={generation} reason={reason:?}"
            ),
            Command::StopServer { name, partition } => write!(f, "server stop {partition}/{name}"),
            Command::ServerStopped {
                name,
                partition,
                generation,
            } => write!(
                f,
                "server stopped {partition}/{name} generation={generation}"
            ),
            // Never the token's salt or digest: only the public key id.
            Command::CreatePrincipal { principal: p } => {
                write!(f, "principal create {}", principal_text(p))
            }
            Command::BootstrapPrincipal { principal: p } => {
                write!(f, "principal bootstrap {}", principal_text(p))
            }
            Command::RotatePrincipal {
                name,
                token,
                expires_at_ms,
            } => write!(
                f,
                "principal rotate {name} expires_at_ms={} key_id={}",
                expiry_text(*expires_at_ms),
                token.key_id
            ),
            Command::RevokePrincipal { name } => write!(f, "principal revoke {name}"),
            Command::DeletePrincipal { name } => write!(f, "principal delete {name}"),
            Command::BladeSuspect {
                blade,
                reason,
                silent_ms,
            } => write!(
                f,
                "blade suspect {blade} silent_ms={silent_ms} reason={reason:?}"
            ),
            Command::BladeFenced { blade } => write!(f, "blade fenced {blade}"),
            Command::FenceFailed { blade, reason } => {
                write!(f, "blade fence-failed {blade} reason={reason:?}")
            }
            Command::ConfirmFenced { blade } => write!(f, "blade confirm-fenced {blade}"),
            Command::TakeOver => write!(f, "failover take-over"),
            Command::Failback { name, partition } => {
                write!(f, "server failback {partition}/{name}")
            }
            Command::RepairBlade { blade } => write!(f, "blade repair {blade}"),
            Command::SetMaintenance { blade } => write!(f, "blade maintenance {blade}"),
            Command::Denied {
                action, partition, ..
            } => match partition {
                Some(p) => write!(f, "denied {action} partition={p}"),
                None => write!(f, "denied {action}"),
            },
            Command::SetQuota { partition, quota } => {
                let limit = |l: Option<u64>| l.map_or("-".to_string(), |n| n.to_string());
                write!(
                    f,
                    "partition set-quota {partition} max_servers={} max_volumes={} \
                     max_volume_bytes={} max_networks={} max_blades={} dedicated_pool={}",
                    limit(quota.max_servers),
                    limit(quota.max_volumes),
                    limit(quota.max_volume_bytes),
                    limit(quota.max_networks),
                    limit(quota.max_blades),
                    quota.dedicated_pool.as_deref().unwrap_or("-")
                )
            }
        }
    }
}

impl Command {
    /// Whether the command carries a secret (a BMC password), which only
    /// its redacted text may outlive.
    pub fn holds_secret(&self) -> bool {
        matches!(self, Command::AddBlade { .. })
    }

    /// The partition this command concerns (a partition's own create and
    /// delete included); `None` for fabric-wide commands.
    pub fn partition(&self) -> Option<&str> {
        match self {
            Command::CreatePartition { name, .. } | Command::DeletePartition { name } => Some(name),
            Command::SetQuota { partition, .. } => Some(partition),
            Command::Denied { partition, .. } => partition.as_deref(),
            Command::CreateServer { partition, .. }
            | Command::DeleteServer { partition, .. }
            | Command::CreateVolume { partition, .. }
            | Command::DeleteVolume { partition, .. }
            | Command::ResizeVolume { partition, .. }
            | Command::SnapshotVolume { partition, .. }
            | Command::RestoreVolume { partition, .. }
            | Command::DeleteSnapshot { partition, .. }
            | Command::VolumeOpDone { partition, .. }
            | Command::CreateNetwork { partition, .. }
            | Command::DeleteNetwork { partition, .. }
            | Command::StartServer { partition, .. }
            | Command::ServerRunning { partition, .. }
            | Command::ServerStartFailed { partition, .. }
            | Command::StopServer { partition, .. }
            | Command::ServerStopped { partition, .. }
            | Command::Failback { partition, .. } => Some(partition),
            _ => None,
        }
    }
}

/// A principal for audit text: name, roles, expiry and public key id.
fn principal_text(p: &partitions::Principal) -> String {
    let roles: Vec<String> = p.roles.iter().map(ToString::to_string).collect();
    format!(
        "{} roles={} expires_at_ms={} key_id={}",
        p.name,
        roles.join(","),
        expiry_text(p.expires_at_ms),
        p.token.key_id
    )
}

fn expiry_text(expires_at_ms: Option<u64>) -> String {
    expires_at_ms.map_or("never".to_string(), |at| at.to_string())
}

fn outcome_text(error: &Option<String>) -> String {
    match error {
        None => "ok".to_string(),
        Some(e) => format!("failed={e:?}"),
    }
}

/// A URL with any `user:password@` part replaced, for audit text: a
/// password typed into a URL must not reach the audit log.
pub fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}"),
        None => authority.to_string(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{path}"),
        None => format!("{authority}{path}"),
    }
}

/// What an accepted command produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Partition(PartitionView),
    Pool(PoolView),
    IdentityPool(IdentityPoolView),
    Blade(BladeView),
    Server(ServerView),
    Volume(VolumeView),
    Image(ImageView),
    Network(NetworkView),
    Principal(PrincipalView),
    Deleted,
    /// Accepted; nothing to return.
    Done,
}

/// The result of one command in a log entry.
pub type CommandResult = Result<Outcome, StateError>;

/// The object a command made or changed, by id: what its caller is shown.
/// Commands return this; [`super::State::apply`] turns it into an
/// [`Outcome`] view only for a caller that waits for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Made {
    Partition(PartitionId),
    Pool(PoolId),
    IdentityPool(IdentityPoolId),
    Blade(BladeId),
    Server(ServerId),
    Volume(VolumeId),
    Image(ImageId),
    Network(NetworkId),
    Principal(String),
    Deleted,
    Done,
}

/// What executing one command came to, before any view is built.
pub(crate) type Executed = Result<Made, StateError>;
