//! Read views: records with references resolved to names, ready for the API.
//! Views never carry secrets.

use serde::{Deserialize, Serialize};

use super::model::Qualification;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionView {
    pub id: u64,
    pub name: String,
    pub description: String,
    pub created_at_ms: u64,
    pub servers: u32,
    pub volumes: u32,
    /// Inclusive network id range, if it has one.
    pub network_ids: Option<(u32, u32)>,
    pub networks: u32,
    /// Its limits (each `None` is unlimited).
    pub quota: partitions::Quota,
    /// What it uses now, counted as the quotas count it.
    pub usage: partitions::Usage,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolView {
    pub id: u64,
    pub name: String,
    pub qualification: Qualification,
    pub blades: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityPoolView {
    pub id: u64,
    pub name: String,
    pub mac_first: String,
    pub mac_last: String,
    pub uuid_prefix: String,
    pub macs_total: u64,
    pub macs_used: u64,
    pub uuids_used: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BladeFactsView {
    pub model: String,
    pub cores: u32,
    pub memory_gib: u64,
    pub macs: Vec<String>,
    pub uuid: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BladeView {
    pub id: u64,
    pub name: String,
    pub bmc_url: String,
    pub bmc_user: String,
    pub credential_ref: String,
    pub state: String,
    pub facts: Option<BladeFactsView>,
    pub pool: Option<String>,
    /// `partition/server` running here.
    pub server: Option<String>,
    pub power: String,
    pub health: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityView {
    pub uuid: String,
    pub macs: Vec<String>,
    pub host_nqn: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    pub id: u64,
    pub name: String,
    pub partition: String,
    pub identity: IdentityView,
    pub identity_pool: String,
    pub boot_volume: Option<String>,
    pub requirements: Qualification,
    pub state: String,
    pub blade: Option<String>,
    pub generation: u64,
    pub created_at_ms: u64,
    pub last_error: Option<String>,
    pub nics: Vec<NicView>,
    /// Data volumes.
    pub volumes: Vec<String>,
    pub priority: u32,
    pub failover_pool: Option<String>,
    pub preempt: bool,
    pub failback_window: Option<String>,
    /// The blade it failed over from, while it runs elsewhere.
    pub home_blade: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeView {
    pub id: u64,
    pub name: String,
    pub partition: String,
    pub size_bytes: u64,
    /// `partition/server` using it (boot or data volume).
    pub attached_to: Option<String>,
    pub image: Option<String>,
    /// ready, creating, resizing, snapshotting, restoring, deleting, ...
    pub state: String,
    /// The NVMe subsystem NQN it is exported as.
    pub nqn: String,
    pub snapshots: Vec<super::VolumeSnapshot>,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicView {
    pub mac: String,
    pub network: Option<String>,
    pub network_id: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkView {
    pub id: u64,
    pub name: String,
    pub partition: String,
    pub network_id: u32,
    /// `partition/server` of every server with a vNIC on it.
    pub servers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageView {
    pub id: u64,
    pub name: String,
    pub size_bytes: u64,
    /// creating, ready, deleting.
    pub state: String,
    pub volumes: u32,
    pub last_error: Option<String>,
}

/// A principal without its token hash: what the API shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalView {
    pub name: String,
    /// Text form: `fabric-admin`, `operator`, `partition-admin:P`, ...
    pub roles: Vec<String>,
    pub revoked: bool,
    pub created_at_ms: u64,
    pub expires_at_ms: Option<u64>,
    /// The public key id of its current token (hex); never the hash.
    pub token_key_id: String,
}
