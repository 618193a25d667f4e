//! Commands: the only way the replicated state changes.

use super::StateError;
use super::model::{BladeFacts, Qualification, Secret};
use super::view::{BladeView, IdentityPoolView, PartitionView, PoolView, ServerView, VolumeView};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A command with who asked and when. The proposing manager stamps `at_ms`,
/// so every replica applies the same time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub principal: String,
    pub at_ms: u64,
    pub command: Command,
}

/// Every change the fabric manager can make to its replicated state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    CreatePartition {
        name: String,
        description: String,
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
    },
    DeleteServer {
        name: String,
        partition: String,
    },
    CreateVolume {
        name: String,
        partition: String,
        size_bytes: u64,
    },
    DeleteVolume {
        name: String,
        partition: String,
    },
}

/// Audit form of a command: what it did, secrets redacted.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::CreatePartition { name, .. } => write!(f, "partition create {name}"),
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
                "blade add {name} bmc={bmc_url} user={bmc_user} password=<redacted> pool={}",
                pool.as_deref().unwrap_or("-")
            ),
            Command::RemoveBlade { name } => write!(f, "blade remove {name}"),
            Command::CreateServer {
                name,
                partition,
                nics,
                ..
            } => write!(f, "server create {partition}/{name} nics={nics}"),
            Command::DeleteServer { name, partition } => {
                write!(f, "server delete {partition}/{name}")
            }
            Command::CreateVolume {
                name,
                partition,
                size_bytes,
            } => write!(
                f,
                "volume create {partition}/{name} size_bytes={size_bytes}"
            ),
            Command::DeleteVolume { name, partition } => {
                write!(f, "volume delete {partition}/{name}")
            }
        }
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
    Deleted,
}

/// The result of one command in a log entry.
pub type CommandResult = Result<Outcome, StateError>;
