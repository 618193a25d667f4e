//! The replicated state machine: PAN's pure core.
//!
//! [`State::apply`] takes a command and returns its result and the events it
//! caused. It is deterministic and does no I/O: the same log gives the same
//! state on every replica, byte for byte (see [`State`]'s serde form). Time
//! comes from the command envelope, never from a clock. A refused command
//! changes nothing: every handler validates fully before it mutates.

mod audit;
mod command;
mod error;
mod failback;
mod failover;
pub mod identity;
mod lifecycle;
mod model;
mod names;
mod network;
mod principals;
mod storage;
mod view;

#[cfg(test)]
mod failover_tests;
#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod principal_tests;
#[cfg(test)]
mod storage_tests;
#[cfg(test)]
mod tests;

pub use command::{Command, CommandResult, Envelope, Outcome};
use command::{Executed, Made};
pub use error::StateError;
pub use failback::{FAILBACK_WINDOW_MINUTES, window_open};
pub use failover::{FAILOVER_HISTORY, FailoverView, FenceWork, Uncovered};
pub use lifecycle::{BmcTarget, NicWork, ServerWork};
pub use model::*;
pub use storage::{MAX_SNAPSHOTS, StorageWork, VolumeWork, volume_nqn};
pub use view::*;

use identity::{Mac, PoolUuid};
use pan_api::{
    BladeId, CredentialId, IdentityPoolId, ImageId, NetworkId, PartitionId, PoolId, ServerId,
    VolumeId,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::BuildHasher as _;

/// How many audit records the state keeps (oldest are dropped first).
pub const AUDIT_RETENTION: usize = 50_000;
/// Most vNICs one server may have.
pub const MAX_NICS: u32 = 16;
/// Largest volume record accepted (1 PiB).
pub const MAX_VOLUME_BYTES: u64 = 1 << 50;
/// Name of the identity pool every cluster starts with.
pub const DEFAULT_IDENTITY_POOL: &str = "default";

/// Everything the fabric manager replicates.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    next_id: u64,
    /// The next placement generation. Global, so the fencing tokens a blade
    /// sees only grow, whichever servers it hosts over time.
    next_generation: u64,
    partitions: BTreeMap<PartitionId, Partition>,
    pools: BTreeMap<PoolId, Pool>,
    identity_pools: BTreeMap<IdentityPoolId, IdentityPool>,
    blades: BTreeMap<BladeId, Blade>,
    servers: BTreeMap<ServerId, Box<Server>>,
    volumes: BTreeMap<VolumeId, Volume>,
    #[serde(default)]
    images: BTreeMap<ImageId, Image>,
    #[serde(default)]
    networks: BTreeMap<NetworkId, Network>,
    /// Why recent image or volume creates failed (their records are gone).
    #[serde(default)]
    create_failures: BTreeMap<u64, String>,
    /// Failover operations: in progress, and the newest finished ones.
    #[serde(default)]
    failovers: BTreeMap<u64, Failover>,
    /// Moves whenever a blade becomes available: a failover told "no spare"
    /// looks again only then.
    #[serde(default)]
    spare_epoch: u64,
    credentials: BTreeMap<CredentialId, Secret>,
    /// Who may call the API, by name (token hashes only, never tokens).
    #[serde(default)]
    principals: BTreeMap<String, partitions::Principal>,
    audit: VecDeque<audit::Audited>,
    /// Derived lookups, rebuilt after deserialization.
    #[serde(skip)]
    index: Index,
}

/// Lookups derived from the records; never serialized. B-trees, not hash
/// maps: no rehash pauses as the fabric grows (a hash map of 229k server
/// names stopped every member for 70–200 ms while it doubled), and a
/// deterministic order. The one exception, the server names, is sharded so
/// that it never doubles at once.
#[derive(Clone, Debug, Default)]
struct Index {
    partition_by_name: BTreeMap<String, PartitionId>,
    pool_by_name: BTreeMap<String, PoolId>,
    identity_pool_by_name: BTreeMap<String, IdentityPoolId>,
    blade_by_name: BTreeMap<String, BladeId>,
    /// Servers by (partition, hash of name): the lookup on every write's
    /// path and the largest index, in sharded hash tables (see `names`).
    /// Its keys are inline integers, so a lookup reads no name but the
    /// candidates'.
    server_names: names::NameIndex,
    /// Keys the name hashes; random per index, so names cannot be chosen to
    /// collide.
    name_hasher: std::hash::RandomState,
    volume_by_name: BTreeMap<(PartitionId, String), VolumeId>,
    macs: BTreeMap<Mac, ServerId>,
    uuids: BTreeMap<PoolUuid, ServerId>,
    partition_servers: BTreeMap<PartitionId, BTreeSet<ServerId>>,
    partition_volumes: BTreeMap<PartitionId, BTreeSet<VolumeId>>,
    pool_blades: BTreeMap<PoolId, BTreeSet<BladeId>>,
    identity_pool_servers: BTreeMap<IdentityPoolId, BTreeSet<ServerId>>,
    identity_pool_macs: BTreeMap<IdentityPoolId, u64>,
    /// The server each volume is attached to (boot or data).
    volume_users: BTreeMap<VolumeId, ServerId>,
    /// Servers starting or stopping: the controller's work list.
    transitioning: BTreeSet<ServerId>,
    image_by_name: BTreeMap<String, ImageId>,
    image_volumes: BTreeMap<ImageId, BTreeSet<VolumeId>>,
    network_by_name: BTreeMap<(PartitionId, String), NetworkId>,
    partition_networks: BTreeMap<PartitionId, BTreeSet<NetworkId>>,
    network_servers: BTreeMap<NetworkId, BTreeSet<ServerId>>,
    /// Network ids in use.
    vnis: BTreeMap<u32, NetworkId>,
    /// Images and volumes with storage work pending: the storage executor's
    /// work list.
    storage_images: BTreeSet<ImageId>,
    storage_volumes: BTreeSet<VolumeId>,
    /// Principal name by its token's key id, for authentication.
    principal_by_key: BTreeMap<partitions::KeyId, String>,
    /// The failover in progress for a server.
    failover_of_server: BTreeMap<ServerId, u64>,
    /// Sum of each partition's volume sizes (a pending resize counts at its
    /// target size), for the volume bytes quota.
    partition_volume_bytes: BTreeMap<PartitionId, u64>,
    /// Each partition's servers placed on a blade, for the blades quota.
    partition_placed: BTreeMap<PartitionId, BTreeSet<ServerId>>,
}

impl Index {
    fn add_server_name(&mut self, partition: PartitionId, name: &str, id: ServerId) {
        let hash = self.name_hasher.hash_one(name);
        self.server_names.add((partition, hash), id);
    }

    fn remove_server_name(&mut self, partition: PartitionId, name: &str, id: ServerId) {
        let hash = self.name_hasher.hash_one(name);
        self.server_names.remove((partition, hash), id);
    }
}

/// What a new server asks for, beyond its name and partition.
struct ServerSpec<'a> {
    nics: u32,
    identity_pool: Option<&'a str>,
    boot_volume: Option<&'a str>,
    requirements: &'a Qualification,
    networks: &'a [String],
    volumes: &'a [String],
    priority: u32,
    failover_pool: Option<&'a str>,
    preempt: bool,
    failback_window: Option<&'a str>,
}

/// The result of applying one command.
#[derive(Clone, Debug)]
pub struct Applied {
    pub result: CommandResult,
    pub events: Vec<Event>,
}

impl Default for State {
    fn default() -> Self {
        let default_pool = IdentityPool {
            id: IdentityPoolId(1),
            name: DEFAULT_IDENTITY_POOL.to_string(),
            mac_first: Mac(0x02_50_41_00_00_00),
            mac_last: Mac(0x02_50_41_ff_ff_ff),
            uuid_prefix: 0x5041_4e00_0000_0000,
            mac_cursor: 0,
            next_uuid_suffix: 1,
        };
        let mut state = State {
            next_id: 2,
            next_generation: 2,
            partitions: BTreeMap::new(),
            pools: BTreeMap::new(),
            identity_pools: BTreeMap::from([(default_pool.id, default_pool)]),
            blades: BTreeMap::new(),
            servers: BTreeMap::new(),
            volumes: BTreeMap::new(),
            images: BTreeMap::new(),
            networks: BTreeMap::new(),
            create_failures: BTreeMap::new(),
            failovers: BTreeMap::new(),
            spare_epoch: 0,
            credentials: BTreeMap::new(),
            principals: BTreeMap::new(),
            audit: VecDeque::new(),
            index: Index::default(),
        };
        state.reindex();
        state
    }
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        // The index is derived, so equal records mean equal states.
        self.next_id == other.next_id
            && self.next_generation == other.next_generation
            && self.partitions == other.partitions
            && self.pools == other.pools
            && self.identity_pools == other.identity_pools
            && self.blades == other.blades
            && self.servers == other.servers
            && self.volumes == other.volumes
            && self.images == other.images
            && self.networks == other.networks
            && self.create_failures == other.create_failures
            && self.failovers == other.failovers
            && self.spare_epoch == other.spare_epoch
            && self.credentials == other.credentials
            && self.principals == other.principals
            && self.audit == other.audit
    }
}

/// Records an event; `apply` stamps its log index and time.
fn push_event(events: &mut Vec<Event>, kind: &str, object: String, partition: Option<&str>) {
    events.push(Event {
        index: 0,
        at_ms: 0,
        kind: kind.to_string(),
        object,
        partition: partition.map(str::to_string),
    });
}

/// Checks a user-facing object name.
fn check_name(kind: &str, name: &str) -> Result<(), StateError> {
    let invalid = |reason: &str| StateError::InvalidName {
        kind: kind.to_string(),
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("it is empty; use 1 to 63 characters"));
    }
    if name.len() > 63 {
        return Err(invalid(&format!(
            "it is {} characters long; use at most 63",
            name.len()
        )));
    }
    if !name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(invalid("it must start with a letter or digit"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(invalid(&format!(
            "character {c:?} is not allowed; use letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(())
}

fn not_found(object: String, list_hint: &str) -> StateError {
    StateError::NotFound {
        object,
        list_hint: list_hint.to_string(),
    }
}

fn invalid(object: String, field: &str, reason: String) -> StateError {
    StateError::InvalidArgument {
        object,
        field: field.to_string(),
        reason,
    }
}

impl State {
    /// A copy of the records without the derived lookups, for a snapshot
    /// (which never stores them): about a third of the work of `clone`,
    /// done while applies wait. Lookups by name fail on the copy until
    /// [`State::reindex`]; serialize it, do not query it. Every field is
    /// named, so a new one cannot be forgotten here.
    pub fn snapshot_copy(&self) -> State {
        let State {
            next_id,
            next_generation,
            partitions,
            pools,
            identity_pools,
            blades,
            servers,
            volumes,
            images,
            networks,
            create_failures,
            failovers,
            spare_epoch,
            credentials,
            principals,
            audit,
            index: _,
        } = self;
        State {
            next_id: *next_id,
            next_generation: *next_generation,
            partitions: partitions.clone(),
            pools: pools.clone(),
            identity_pools: identity_pools.clone(),
            blades: blades.clone(),
            servers: servers.clone(),
            volumes: volumes.clone(),
            images: images.clone(),
            networks: networks.clone(),
            create_failures: create_failures.clone(),
            failovers: failovers.clone(),
            spare_epoch: *spare_epoch,
            credentials: credentials.clone(),
            principals: principals.clone(),
            audit: audit.clone(),
            index: Index::default(),
        }
    }

    /// Rebuilds the derived lookups; call after deserializing.
    pub fn reindex(&mut self) {
        let mut ix = Index::default();
        for p in self.partitions.values() {
            ix.partition_by_name.insert(p.name.clone(), p.id);
        }
        for p in self.pools.values() {
            ix.pool_by_name.insert(p.name.clone(), p.id);
        }
        for p in self.identity_pools.values() {
            ix.identity_pool_by_name.insert(p.name.clone(), p.id);
        }
        for b in self.blades.values() {
            ix.blade_by_name.insert(b.name.clone(), b.id);
            if let Some(pool) = b.pool {
                ix.pool_blades.entry(pool).or_default().insert(b.id);
            }
        }
        for s in self.servers.values() {
            ix.add_server_name(s.partition, &s.name, s.id);
            for mac in &s.identity.macs {
                ix.macs.insert(*mac, s.id);
            }
            ix.uuids.insert(s.identity.uuid, s.id);
            ix.partition_servers
                .entry(s.partition)
                .or_default()
                .insert(s.id);
            ix.identity_pool_servers
                .entry(s.identity_pool)
                .or_default()
                .insert(s.id);
            *ix.identity_pool_macs.entry(s.identity_pool).or_default() +=
                s.identity.macs.len() as u64;
            for v in s.all_volumes() {
                ix.volume_users.insert(v, s.id);
            }
            for n in s.nic_networks.iter().flatten() {
                ix.network_servers.entry(*n).or_default().insert(s.id);
            }
            if matches!(s.state, ServerState::Starting | ServerState::Stopping) {
                ix.transitioning.insert(s.id);
            }
            if s.blade.is_some() {
                ix.partition_placed
                    .entry(s.partition)
                    .or_default()
                    .insert(s.id);
            }
        }
        for v in self.volumes.values() {
            ix.volume_by_name
                .insert((v.partition, v.name.clone()), v.id);
            ix.partition_volumes
                .entry(v.partition)
                .or_default()
                .insert(v.id);
            if let Some(image) = v.image {
                ix.image_volumes.entry(image).or_default().insert(v.id);
            }
            if v.op.is_some() {
                ix.storage_volumes.insert(v.id);
            }
            let bytes = ix.partition_volume_bytes.entry(v.partition).or_default();
            *bytes = bytes.saturating_add(storage::volume_charge(v));
        }
        for i in self.images.values() {
            ix.image_by_name.insert(i.name.clone(), i.id);
            if i.op.is_some() {
                ix.storage_images.insert(i.id);
            }
        }
        for f in self.failovers.values() {
            if f.phase != FailoverPhase::Done {
                ix.failover_of_server.insert(f.server, f.id);
            }
        }
        for n in self.networks.values() {
            ix.network_by_name
                .insert((n.partition, n.name.clone()), n.id);
            ix.partition_networks
                .entry(n.partition)
                .or_default()
                .insert(n.id);
            ix.vnis.insert(n.vni, n.id);
        }
        for p in self.principals.values() {
            ix.principal_by_key.insert(p.token.key_id, p.name.clone());
        }
        self.index = ix;
    }

    /// Applies one command from log entry `index`. Never panics; a refused
    /// command leaves the state unchanged except for its audit record.
    pub fn apply(&mut self, index: u64, envelope: &Envelope) -> Applied {
        let (executed, events) = self.execute_and_audit(index, envelope);
        Applied {
            result: executed.map(|made| self.outcome(made)),
            events,
        }
    }

    /// [`State::apply`] for a member no caller waits on: the same change,
    /// events and audit record, but no view of the result is built (the
    /// views are most of a small command's cost on every other member).
    /// Returns whether the command was accepted, and its events.
    pub fn apply_unobserved(
        &mut self,
        index: u64,
        envelope: &Envelope,
    ) -> (Result<(), StateError>, Vec<Event>) {
        let (executed, events) = self.execute_and_audit(index, envelope);
        (executed.map(drop), events)
    }

    /// The view of what a command made, as its caller is shown it.
    fn outcome(&self, made: Made) -> Outcome {
        match made {
            Made::Partition(id) => Outcome::Partition(self.partition_view(id)),
            Made::Pool(id) => Outcome::Pool(self.pool_view(id)),
            Made::IdentityPool(id) => Outcome::IdentityPool(self.identity_pool_view(id)),
            Made::Blade(id) => Outcome::Blade(self.blade_view(id)),
            Made::Server(id) => Outcome::Server(self.server_view(id)),
            Made::Volume(id) => Outcome::Volume(self.volume_view(id)),
            Made::Image(id) => Outcome::Image(self.image_view(id)),
            Made::Network(id) => Outcome::Network(self.network_view(id)),
            Made::Principal(name) => Outcome::Principal(self.principal_view(&name)),
            Made::Deleted => Outcome::Deleted,
            Made::Done => Outcome::Done,
        }
    }

    /// The one path both applies share: executes the command, stamps its
    /// events and records it in the audit log.
    fn execute_and_audit(&mut self, index: u64, envelope: &Envelope) -> (Executed, Vec<Event>) {
        let mut events = Vec::new();
        let result = self.execute(
            &envelope.command,
            envelope.at_ms,
            &envelope.principal,
            &mut events,
        );
        for event in &mut events {
            event.index = index;
            event.at_ms = envelope.at_ms;
        }
        self.audit.push_back(audit::Audited::new(
            index,
            envelope.at_ms,
            envelope.principal.clone(),
            envelope.command.clone(),
            result.as_ref().err().map(ToString::to_string),
        ));
        while self.audit.len() > AUDIT_RETENTION {
            self.audit.pop_front();
        }
        (result, events)
    }

    fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn execute(
        &mut self,
        command: &Command,
        at_ms: u64,
        principal: &str,
        events: &mut Vec<Event>,
    ) -> Executed {
        let mut event = |kind: &str, object: String, partition: Option<&str>| {
            push_event(events, kind, object, partition);
        };
        match command {
            Command::CreatePartition {
                name,
                description,
                network_ids,
            } => {
                check_name("partition", name)?;
                check_text(
                    &format!("partition '{name}'"),
                    "description",
                    description,
                    256,
                )?;
                if self.index.partition_by_name.contains_key(name) {
                    return Err(StateError::AlreadyExists {
                        object: format!("partition '{name}'"),
                    });
                }
                let range = self.network_range_for(name, network_ids.as_deref())?;
                let id = PartitionId(self.alloc_id());
                self.partitions.insert(
                    id,
                    Partition {
                        id,
                        name: name.clone(),
                        description: description.clone(),
                        created_at_ms: at_ms,
                        network_ids: Some(range),
                        quota: partitions::Quota::default(),
                    },
                );
                self.index.partition_by_name.insert(name.clone(), id);
                event("partition.created", format!("partition/{name}"), Some(name));
                Ok(Made::Partition(id))
            }
            Command::DeletePartition { name } => {
                let id = self.partition_id(name)?;
                let servers = self
                    .index
                    .partition_servers
                    .get(&id)
                    .map_or(0, BTreeSet::len);
                let volumes = self
                    .index
                    .partition_volumes
                    .get(&id)
                    .map_or(0, BTreeSet::len);
                let networks = self
                    .index
                    .partition_networks
                    .get(&id)
                    .map_or(0, BTreeSet::len);
                if servers + volumes + networks > 0 {
                    return Err(StateError::InUse {
                        object: format!("partition '{name}'"),
                        users: format!(
                            "{servers} server(s), {volumes} volume(s) and {networks} network(s)"
                        ),
                        remedy: "delete them first".to_string(),
                    });
                }
                self.check_no_principal_roles_on(name)?;
                self.partitions.remove(&id);
                self.index.partition_by_name.remove(name);
                self.index.partition_servers.remove(&id);
                self.index.partition_volumes.remove(&id);
                self.index.partition_networks.remove(&id);
                self.index.partition_volume_bytes.remove(&id);
                self.index.partition_placed.remove(&id);
                event("partition.deleted", format!("partition/{name}"), Some(name));
                Ok(Made::Deleted)
            }
            Command::CreatePool {
                name,
                qualification,
            } => {
                check_name("pool", name)?;
                if self.index.pool_by_name.contains_key(name) {
                    return Err(StateError::AlreadyExists {
                        object: format!("pool '{name}'"),
                    });
                }
                check_text(
                    &format!("pool '{name}'"),
                    "model",
                    qualification.model.as_deref().unwrap_or(""),
                    128,
                )?;
                if qualification.model.as_deref() == Some("") {
                    return Err(invalid(
                        format!("pool '{name}'"),
                        "model",
                        "it is empty; leave it out to accept any model".to_string(),
                    ));
                }
                let id = PoolId(self.alloc_id());
                self.pools.insert(
                    id,
                    Pool {
                        id,
                        name: name.clone(),
                        qualification: qualification.clone(),
                    },
                );
                self.index.pool_by_name.insert(name.clone(), id);
                event("pool.created", format!("pool/{name}"), None);
                Ok(Made::Pool(id))
            }
            Command::DeletePool { name } => {
                let id = self.pool_id(name)?;
                if let Some(blades) = self.index.pool_blades.get(&id).filter(|b| !b.is_empty()) {
                    return Err(StateError::InUse {
                        object: format!("pool '{name}'"),
                        users: format!("{} blade(s) ({})", blades.len(), self.blade_names(blades)),
                        remedy: "remove those blades or move them to another pool first"
                            .to_string(),
                    });
                }
                if let Some(owner) = self.dedicated_to(id) {
                    return Err(StateError::InUse {
                        object: format!("pool '{name}'"),
                        users: format!(
                            "it is partition '{}''s dedicated pool",
                            self.partitions[&owner].name
                        ),
                        remedy: "clear that partition's dedicated pool first \
                                 (`panctl partition set-quota`)"
                            .to_string(),
                    });
                }
                self.pools.remove(&id);
                self.index.pool_by_name.remove(name);
                self.index.pool_blades.remove(&id);
                event("pool.deleted", format!("pool/{name}"), None);
                Ok(Made::Deleted)
            }
            Command::CreateIdentityPool {
                name,
                mac_first,
                mac_last,
                uuid_prefix,
            } => {
                check_name("identity pool", name)?;
                let object = format!("identity pool '{name}'");
                if self.index.identity_pool_by_name.contains_key(name) {
                    return Err(StateError::AlreadyExists { object });
                }
                let first =
                    Mac::parse(mac_first).map_err(|e| invalid(object.clone(), "first MAC", e))?;
                let last =
                    Mac::parse(mac_last).map_err(|e| invalid(object.clone(), "last MAC", e))?;
                if first > last {
                    return Err(invalid(
                        object,
                        "MAC range",
                        format!("{first} comes after {last}; give the lower address first"),
                    ));
                }
                for mac in [first, last] {
                    if !mac.is_locally_administered() || mac.is_multicast() {
                        return Err(invalid(
                            object,
                            "MAC range",
                            format!(
                                "{mac} is not a locally-administered unicast address \
                                 (first octet must have bit 0x02 set and bit 0x01 clear, e.g. 02:..)"
                            ),
                        ));
                    }
                }
                if (first.0 >> 40) != (last.0 >> 40) {
                    return Err(invalid(
                        object,
                        "MAC range",
                        "first and last must share the first octet".to_string(),
                    ));
                }
                let prefix = PoolUuid::parse_prefix(uuid_prefix)
                    .map_err(|e| invalid(object.clone(), "UUID prefix", e))?;
                if let Some(other) = self
                    .identity_pools
                    .values()
                    .find(|p| p.overlaps(first, last))
                {
                    return Err(StateError::MacRangeOverlap {
                        first: first.to_string(),
                        last: last.to_string(),
                        other: other.name.clone(),
                        other_first: other.mac_first.to_string(),
                        other_last: other.mac_last.to_string(),
                    });
                }
                if let Some(other) = self
                    .identity_pools
                    .values()
                    .find(|p| p.uuid_prefix == prefix)
                {
                    return Err(invalid(
                        object,
                        "UUID prefix",
                        format!(
                            "{} is already used by identity pool '{}'; choose another prefix",
                            PoolUuid::format_prefix(prefix),
                            other.name
                        ),
                    ));
                }
                let id = IdentityPoolId(self.alloc_id());
                self.identity_pools.insert(
                    id,
                    IdentityPool {
                        id,
                        name: name.clone(),
                        mac_first: first,
                        mac_last: last,
                        uuid_prefix: prefix,
                        mac_cursor: 0,
                        next_uuid_suffix: 1,
                    },
                );
                self.index.identity_pool_by_name.insert(name.clone(), id);
                event(
                    "identity_pool.created",
                    format!("identity-pool/{name}"),
                    None,
                );
                Ok(Made::IdentityPool(id))
            }
            Command::DeleteIdentityPool { name } => {
                let id = self.identity_pool_id(name)?;
                if let Some(servers) = self
                    .index
                    .identity_pool_servers
                    .get(&id)
                    .filter(|s| !s.is_empty())
                {
                    return Err(StateError::InUse {
                        object: format!("identity pool '{name}'"),
                        users: format!("{} server(s)", servers.len()),
                        remedy: "delete those servers first".to_string(),
                    });
                }
                self.identity_pools.remove(&id);
                self.index.identity_pool_by_name.remove(name);
                self.index.identity_pool_servers.remove(&id);
                self.index.identity_pool_macs.remove(&id);
                event(
                    "identity_pool.deleted",
                    format!("identity-pool/{name}"),
                    None,
                );
                Ok(Made::Deleted)
            }
            Command::AddBlade {
                name,
                bmc_url,
                bmc_user,
                bmc_password,
                facts,
                pool,
            } => {
                check_name("blade", name)?;
                let object = format!("blade '{name}'");
                if self.index.blade_by_name.contains_key(name) {
                    return Err(StateError::AlreadyExists { object });
                }
                check_bmc_url(&object, bmc_url)?;
                if bmc_user.is_empty() || bmc_user.chars().any(char::is_control) {
                    return Err(invalid(
                        object,
                        "BMC user",
                        "it is empty or holds control characters; pass --user".to_string(),
                    ));
                }
                if bmc_password.0.is_empty() {
                    return Err(invalid(
                        object,
                        "BMC password",
                        "it is empty; pass a file holding the password with --password-file"
                            .to_string(),
                    ));
                }
                if let Some(other) = self.blades.values().find(|b| same_bmc(&b.bmc.url, bmc_url)) {
                    return Err(invalid(
                        object,
                        "BMC address",
                        format!("{bmc_url} is already the BMC of blade '{}'", other.name),
                    ));
                }
                if let Some(f) = facts {
                    check_text(&object, "model", &f.model, 128)?;
                    check_text(&object, "UUID", &f.uuid, 64)?;
                }
                let pool_id = match pool {
                    Some(pool_name) => {
                        let pool_id = self.pool_id(pool_name)?;
                        let q = &self.pools[&pool_id].qualification;
                        let reason = match facts {
                            None => Some(
                                "its inventory is unknown; give its facts (model, cores, memory)"
                                    .to_string(),
                            ),
                            Some(f) => q.unmet_by(f),
                        };
                        if let Some(reason) = reason {
                            return Err(StateError::Unqualified {
                                blade: name.clone(),
                                pool: pool_name.clone(),
                                reason,
                            });
                        }
                        Some(pool_id)
                    }
                    None => None,
                };
                let credential = CredentialId(self.alloc_id());
                self.credentials.insert(credential, bmc_password.clone());
                let id = BladeId(self.alloc_id());
                self.blades.insert(
                    id,
                    Blade {
                        id,
                        name: name.clone(),
                        bmc: BmcEndpoint {
                            url: bmc_url.clone(),
                            user: bmc_user.clone(),
                            credential,
                        },
                        state: if facts.is_some() {
                            BladeState::Available
                        } else {
                            BladeState::Discovered
                        },
                        facts: facts.clone(),
                        pool: pool_id,
                        server: None,
                        power: PowerState::Unknown,
                        health: Health::Unknown,
                    },
                );
                self.index.blade_by_name.insert(name.clone(), id);
                if let Some(pool_id) = pool_id {
                    self.index
                        .pool_blades
                        .entry(pool_id)
                        .or_default()
                        .insert(id);
                }
                event("blade.added", format!("blade/{name}"), None);
                Ok(Made::Blade(id))
            }
            Command::RemoveBlade { name } => {
                let id = self.blade_id(name)?;
                let blade = &self.blades[&id];
                if let Some(server) = blade.server {
                    return Err(StateError::InUse {
                        object: format!("blade '{name}'"),
                        users: format!("server {}", self.server_path(server)),
                        remedy: "stop or move the server first".to_string(),
                    });
                }
                let (credential, pool) = (blade.bmc.credential, blade.pool);
                self.blades.remove(&id);
                self.credentials.remove(&credential);
                self.index.blade_by_name.remove(name);
                if let Some(set) = pool.and_then(|p| self.index.pool_blades.get_mut(&p)) {
                    set.remove(&id);
                }
                event("blade.removed", format!("blade/{name}"), None);
                Ok(Made::Deleted)
            }
            Command::CreateServer {
                name,
                partition,
                nics,
                identity_pool,
                boot_volume,
                requirements,
                networks,
                volumes,
                priority,
                failover_pool,
                preempt,
                failback_window,
            } => self.create_server(
                partition,
                name,
                ServerSpec {
                    nics: *nics,
                    identity_pool: identity_pool.as_deref(),
                    boot_volume: boot_volume.as_deref(),
                    requirements,
                    networks,
                    volumes,
                    priority: *priority,
                    failover_pool: failover_pool.as_deref(),
                    preempt: *preempt,
                    failback_window: failback_window.as_deref(),
                },
                at_ms,
                events,
            ),
            Command::DeleteServer { name, partition } => {
                self.delete_server(partition, name, events)
            }
            Command::AddImage {
                name,
                source_path,
                size_bytes,
            } => self.add_image(name, source_path.as_deref(), *size_bytes, at_ms, events),
            Command::DeleteImage { name } => self.delete_image(name, events),
            Command::ImageOpDone {
                name,
                generation,
                size_bytes,
                error,
            } => self.image_op_done(name, *generation, *size_bytes, error.as_deref(), events),
            Command::CreateVolume {
                name,
                partition,
                size_bytes,
                image,
            } => self.create_volume(partition, name, *size_bytes, image.as_deref(), events),
            Command::DeleteVolume { name, partition } => {
                self.delete_volume(partition, name, events)
            }
            Command::ResizeVolume {
                name,
                partition,
                size_bytes,
            } => self.resize_volume(partition, name, *size_bytes, events),
            Command::SnapshotVolume {
                name,
                partition,
                snapshot,
            } => self.snapshot_volume(partition, name, snapshot, events),
            Command::RestoreVolume {
                name,
                partition,
                snapshot,
            } => self.restore_volume(partition, name, snapshot, events),
            Command::DeleteSnapshot {
                name,
                partition,
                snapshot,
            } => self.delete_snapshot(partition, name, snapshot, events),
            Command::VolumeOpDone {
                name,
                partition,
                generation,
                size_bytes,
                error,
            } => self.volume_op_done(
                partition,
                name,
                *generation,
                *size_bytes,
                error.as_deref(),
                at_ms,
                events,
            ),
            Command::CreateNetwork {
                name,
                partition,
                network_id,
            } => self.create_network(partition, name, *network_id, at_ms, events),
            Command::DeleteNetwork { name, partition } => {
                self.delete_network(partition, name, events)
            }
            Command::ObserveBlades { observations } => self.observe_blades(observations, events),
            Command::BladePower {
                blade,
                action,
                force,
            } => self.blade_power(blade, *action, *force, events),
            Command::StartServer {
                name,
                partition,
                blade,
            } => self.start_server(partition, name, blade.as_deref(), events),
            Command::ServerRunning {
                name,
                partition,
                generation,
            } => self.server_running(partition, name, *generation, at_ms, events),
            Command::ServerStartFailed {
                name,
                partition,
                generation,
                reason,
            } => self.server_start_failed(partition, name, *generation, reason, events),
            Command::StopServer { name, partition } => self.stop_server(partition, name, events),
            Command::ServerStopped {
                name,
                partition,
                generation,
            } => self.server_stopped(partition, name, *generation, events),
            Command::CreatePrincipal { principal } => {
                self.create_principal(principal, false, at_ms, events)
            }
            Command::BootstrapPrincipal { principal } => {
                self.create_principal(principal, true, at_ms, events)
            }
            Command::RotatePrincipal {
                name,
                token,
                expires_at_ms,
            } => self.rotate_principal(name, token, *expires_at_ms, at_ms, events),
            Command::RevokePrincipal { name } => self.revoke_principal(name, at_ms, events),
            Command::DeletePrincipal { name } => self.delete_principal(name, at_ms, events),
            Command::BladeSuspect {
                blade,
                reason,
                silent_ms,
            } => self.blade_suspect(blade, reason, *silent_ms, at_ms, events),
            Command::BladeFenced { blade } => self.fence_done(blade, None, at_ms, events),
            Command::ConfirmFenced { blade } => {
                self.fence_done(blade, Some(principal), at_ms, events)
            }
            Command::FenceFailed { blade, reason } => self.fence_failed(blade, reason, events),
            Command::TakeOver => self.take_over(at_ms, events),
            Command::Failback { name, partition } => self.failback(partition, name, at_ms, events),
            Command::RepairBlade { blade } => self.repair_blade(blade, events),
            Command::SetMaintenance { blade } => self.set_maintenance(blade, events),
            Command::Denied { reason, .. } => Err(StateError::Denied {
                reason: reason.clone(),
            }),
            Command::SetQuota { partition, quota } => self.set_quota(partition, quota, events),
        }
    }

    fn create_server(
        &mut self,
        partition: &str,
        name: &str,
        spec: ServerSpec<'_>,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let partition_id = self.partition_id(partition)?;
        check_name("server", name)?;
        let object = format!("server '{name}' in partition '{partition}'");
        let requirements = spec.requirements;
        check_text(
            &object,
            "required model",
            requirements.model.as_deref().unwrap_or(""),
            128,
        )?;
        if requirements.model.as_deref() == Some("") {
            return Err(invalid(
                object,
                "required model",
                "it is empty; leave it out to accept any model".to_string(),
            ));
        }
        if self.server_named(partition_id, name).is_some() {
            return Err(StateError::AlreadyExists { object });
        }
        let networks = self.resolve_networks(partition_id, partition, spec.networks)?;
        let nics = match spec.nics {
            0 => u32::try_from(networks.len()).unwrap_or(u32::MAX).max(1),
            n => n,
        };
        if nics > MAX_NICS {
            return Err(invalid(
                object,
                "number of NICs",
                format!("{nics} is out of range; use 1 to {MAX_NICS}"),
            ));
        }
        if networks.len() > nics as usize {
            return Err(invalid(
                object,
                "number of NICs",
                format!(
                    "{nics} vNIC(s) cannot carry {} networks; each network takes one vNIC \
                     (leave --nics out to get one per network)",
                    networks.len()
                ),
            ));
        }
        let failover_pool = spec.failover_pool.map(|p| self.pool_id(p)).transpose()?;
        if let Some(window) = spec.failback_window {
            failback::parse_window(window)
                .map_err(|why| invalid(object.clone(), "failback window", why))?;
        }
        let pool_name = spec.identity_pool.unwrap_or(DEFAULT_IDENTITY_POOL);
        let pool_id = self.identity_pool_id(pool_name)?;
        let boot = spec
            .boot_volume
            .map(|v| self.volume_id(partition_id, partition, v))
            .transpose()?;
        let mut data = Vec::with_capacity(spec.volumes.len());
        for v in spec.volumes {
            data.push(self.volume_id(partition_id, partition, v)?);
        }
        let mut seen = BTreeSet::new();
        for vid in boot.iter().chain(&data) {
            let volume = &self.volumes[vid];
            if !seen.insert(*vid) {
                return Err(invalid(
                    object,
                    "volumes",
                    format!(
                        "volume '{}' is given twice; a volume is attached once",
                        volume.name
                    ),
                ));
            }
            if let Some(holder) = self.index.volume_users.get(vid) {
                return Err(StateError::InUse {
                    object: format!("volume '{}' in partition '{partition}'", volume.name),
                    users: format!("server {}", self.server_path(*holder)),
                    remedy: "give each server its own volumes; a volume is attached to one server"
                        .to_string(),
                });
            }
            if matches!(volume.op, Some(VolumeOp::Delete)) {
                return Err(StateError::InvalidTransition {
                    object: format!("volume '{}' in partition '{partition}'", volume.name),
                    state: "deleting".to_string(),
                    remedy: "pick another volume".to_string(),
                });
            }
        }
        self.check_quota(partition_id, &partitions::QuotaRequest::server())?;
        let id = ServerId(self.next_id);
        let identity = self.allocate_identity(pool_id, nics)?;
        self.alloc_id();
        for mac in &identity.macs {
            self.index.macs.insert(*mac, id);
        }
        self.index.uuids.insert(identity.uuid, id);
        *self.index.identity_pool_macs.entry(pool_id).or_default() += u64::from(nics);
        self.index
            .identity_pool_servers
            .entry(pool_id)
            .or_default()
            .insert(id);
        self.index
            .partition_servers
            .entry(partition_id)
            .or_default()
            .insert(id);
        self.index.add_server_name(partition_id, name, id);
        for vid in boot.iter().chain(&data) {
            self.index.volume_users.insert(*vid, id);
        }
        for n in &networks {
            self.index.network_servers.entry(*n).or_default().insert(id);
        }
        let mut nic_networks: Vec<Option<NetworkId>> = networks.into_iter().map(Some).collect();
        nic_networks.resize(nics as usize, None);
        self.servers.insert(
            id,
            Box::new(Server {
                id,
                name: name.to_string(),
                partition: partition_id,
                identity_pool: pool_id,
                identity,
                boot_volume: boot,
                requirements: requirements.clone(),
                state: ServerState::Defined,
                blade: None,
                generation: 1,
                created_at_ms: at_ms,
                last_error: None,
                nic_networks,
                volumes: data,
                priority: spec.priority,
                failover_pool,
                preempt: spec.preempt,
                failback_window: spec.failback_window.map(str::to_string),
                home_blade: None,
                move_to: None,
            }),
        );
        push_event(
            events,
            "server.created",
            format!("server/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Server(id))
    }

    fn delete_server(&mut self, partition: &str, name: &str, events: &mut Vec<Event>) -> Executed {
        let partition_id = self.partition_id(partition)?;
        let id = self.server_id(partition_id, partition, name)?;
        let server = &self.servers[&id];
        if let Some(f) = self.active_failover(id) {
            return Err(StateError::InvalidTransition {
                object: format!("server '{name}' in partition '{partition}'"),
                state: format!("failing over ({})", f.phase),
                remedy: "wait until its failover ends (`panctl failover history`)".to_string(),
            });
        }
        if let Some(blade) = server.blade {
            return Err(StateError::InUse {
                object: format!("server '{name}' in partition '{partition}'"),
                users: format!(
                    "blade '{}' (it is {})",
                    self.blades[&blade].name, server.state
                ),
                remedy: "stop the server first".to_string(),
            });
        }
        let server = self.servers.remove(&id).expect("looked up above");
        for mac in &server.identity.macs {
            self.index.macs.remove(mac);
        }
        self.index.uuids.remove(&server.identity.uuid);
        if let Some(n) = self.index.identity_pool_macs.get_mut(&server.identity_pool) {
            *n -= server.identity.macs.len() as u64;
        }
        if let Some(set) = self
            .index
            .identity_pool_servers
            .get_mut(&server.identity_pool)
        {
            set.remove(&id);
        }
        if let Some(set) = self.index.partition_servers.get_mut(&partition_id) {
            set.remove(&id);
        }
        self.index.remove_server_name(partition_id, name, id);
        for vid in server.all_volumes() {
            self.index.volume_users.remove(&vid);
        }
        for n in server.nic_networks.iter().flatten() {
            if let Some(set) = self.index.network_servers.get_mut(n) {
                set.remove(&id);
            }
        }
        push_event(
            events,
            "server.deleted",
            format!("server/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Deleted)
    }

    /// Takes `nics` free MACs and the next UUID from the pool. Validates
    /// before it mutates: on error the pool is unchanged.
    fn allocate_identity(
        &mut self,
        pool_id: IdentityPoolId,
        nics: u32,
    ) -> Result<Identity, StateError> {
        let pool = &self.identity_pools[&pool_id];
        let used = self
            .index
            .identity_pool_macs
            .get(&pool_id)
            .copied()
            .unwrap_or(0);
        let free = pool.mac_total() - used;
        let needed = u64::from(nics);
        if free < needed {
            return Err(StateError::IdentityPoolExhausted {
                pool: pool.name.clone(),
                first: pool.mac_first.to_string(),
                last: pool.mac_last.to_string(),
                free,
                needed,
            });
        }
        let uuid = PoolUuid {
            prefix: pool.uuid_prefix,
            suffix: pool.next_uuid_suffix,
        };
        if let Some(other) = self.index.uuids.get(&uuid) {
            return Err(StateError::DuplicateIdentity {
                identity: format!("UUID {uuid}"),
                holder: self.server_path(*other),
            });
        }
        // Next-fit over the range, wrapping: `free >= needed` guarantees the
        // scan finds enough before it comes back to the cursor.
        let total = pool.mac_total();
        let mut offset = pool.mac_cursor % total;
        let mut macs = Vec::with_capacity(nics as usize);
        let mut scanned = 0u64;
        while (macs.len() as u64) < needed && scanned < total {
            let mac = Mac(pool.mac_first.0 + offset);
            if !self.index.macs.contains_key(&mac) {
                macs.push(mac);
            }
            offset = (offset + 1) % total;
            scanned += 1;
        }
        if (macs.len() as u64) < needed {
            return Err(StateError::IdentityPoolExhausted {
                pool: pool.name.clone(),
                first: pool.mac_first.to_string(),
                last: pool.mac_last.to_string(),
                free: macs.len() as u64,
                needed,
            });
        }
        let pool = self
            .identity_pools
            .get_mut(&pool_id)
            .expect("checked above");
        pool.mac_cursor = offset;
        pool.next_uuid_suffix += 1;
        Ok(Identity { uuid, macs })
    }

    // ------------------------------------------------------------ lookups

    fn partition_id(&self, name: &str) -> Result<PartitionId, StateError> {
        self.index
            .partition_by_name
            .get(name)
            .copied()
            .ok_or_else(|| not_found(format!("partition '{name}'"), "partition list"))
    }

    fn pool_id(&self, name: &str) -> Result<PoolId, StateError> {
        self.index
            .pool_by_name
            .get(name)
            .copied()
            .ok_or_else(|| not_found(format!("pool '{name}'"), "pool list"))
    }

    fn identity_pool_id(&self, name: &str) -> Result<IdentityPoolId, StateError> {
        self.index
            .identity_pool_by_name
            .get(name)
            .copied()
            .ok_or_else(|| not_found(format!("identity pool '{name}'"), "identity-pool list"))
    }

    fn blade_id(&self, name: &str) -> Result<BladeId, StateError> {
        self.index
            .blade_by_name
            .get(name)
            .copied()
            .ok_or_else(|| not_found(format!("blade '{name}'"), "blade list"))
    }

    fn server_id(
        &self,
        partition_id: PartitionId,
        partition: &str,
        name: &str,
    ) -> Result<ServerId, StateError> {
        self.server_named(partition_id, name).ok_or_else(|| {
            not_found(
                format!("server '{name}' in partition '{partition}'"),
                &format!("server list --partition {partition}"),
            )
        })
    }

    /// The server called `name` in a partition: the candidates with the
    /// name's hash, checked against their records.
    fn server_named(&self, partition_id: PartitionId, name: &str) -> Option<ServerId> {
        let hash = self.index.name_hasher.hash_one(name);
        self.index
            .server_names
            .get(&(partition_id, hash))?
            .ids()
            .iter()
            .copied()
            .find(|id| self.servers.get(id).is_some_and(|s| s.name == name))
    }

    fn volume_id(
        &self,
        partition_id: PartitionId,
        partition: &str,
        name: &str,
    ) -> Result<VolumeId, StateError> {
        self.index
            .volume_by_name
            .get(&(partition_id, name.to_string()))
            .copied()
            .ok_or_else(|| {
                not_found(
                    format!("volume '{name}' in partition '{partition}'"),
                    &format!("volume list --partition {partition}"),
                )
            })
    }

    fn server_path(&self, id: ServerId) -> String {
        match self.servers.get(&id) {
            Some(s) => format!("{}/{}", self.partitions[&s.partition].name, s.name),
            None => id.to_string(),
        }
    }

    fn blade_names(&self, ids: &BTreeSet<BladeId>) -> String {
        ids.iter()
            .map(|id| self.blades[id].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    // ------------------------------------------------------------ views

    fn partition_view(&self, id: PartitionId) -> PartitionView {
        let p = &self.partitions[&id];
        let count = |n: Option<usize>| u32::try_from(n.unwrap_or(0)).unwrap_or(u32::MAX);
        PartitionView {
            id: id.0,
            name: p.name.clone(),
            description: p.description.clone(),
            created_at_ms: p.created_at_ms,
            servers: count(self.index.partition_servers.get(&id).map(BTreeSet::len)),
            volumes: count(self.index.partition_volumes.get(&id).map(BTreeSet::len)),
            network_ids: p.network_ids.map(|r| (r.first(), r.last())),
            networks: count(self.index.partition_networks.get(&id).map(BTreeSet::len)),
            quota: p.quota.clone(),
            usage: self.usage(id),
        }
    }

    fn pool_view(&self, id: PoolId) -> PoolView {
        let p = &self.pools[&id];
        PoolView {
            id: id.0,
            name: p.name.clone(),
            qualification: p.qualification.clone(),
            blades: self
                .index
                .pool_blades
                .get(&id)
                .map(|ids| ids.iter().map(|b| self.blades[b].name.clone()).collect())
                .unwrap_or_default(),
        }
    }

    fn identity_pool_view(&self, id: IdentityPoolId) -> IdentityPoolView {
        let p = &self.identity_pools[&id];
        IdentityPoolView {
            id: id.0,
            name: p.name.clone(),
            mac_first: p.mac_first.to_string(),
            mac_last: p.mac_last.to_string(),
            uuid_prefix: PoolUuid::format_prefix(p.uuid_prefix),
            macs_total: p.mac_total(),
            macs_used: self.index.identity_pool_macs.get(&id).copied().unwrap_or(0),
            uuids_used: self
                .index
                .identity_pool_servers
                .get(&id)
                .map_or(0, |s| s.len() as u64),
        }
    }

    fn blade_view(&self, id: BladeId) -> BladeView {
        let b = &self.blades[&id];
        BladeView {
            id: id.0,
            name: b.name.clone(),
            bmc_url: b.bmc.url.clone(),
            bmc_user: b.bmc.user.clone(),
            credential_ref: b.bmc.credential.to_string(),
            state: b.state.to_string(),
            facts: b.facts.as_ref().map(|f| BladeFactsView {
                model: f.model.clone(),
                cores: f.cores,
                memory_gib: f.memory_gib,
                macs: f.macs.iter().map(ToString::to_string).collect(),
                uuid: f.uuid.clone(),
            }),
            pool: b.pool.map(|p| self.pools[&p].name.clone()),
            server: b.server.map(|s| self.server_path(s)),
            power: b.power.to_string(),
            health: b.health.to_string(),
        }
    }

    fn server_view(&self, id: ServerId) -> ServerView {
        let s = &self.servers[&id];
        ServerView {
            id: id.0,
            name: s.name.clone(),
            partition: self.partitions[&s.partition].name.clone(),
            identity: IdentityView {
                uuid: s.identity.uuid.to_string(),
                macs: s.identity.macs.iter().map(ToString::to_string).collect(),
                host_nqn: s.identity.host_nqn(),
            },
            identity_pool: self.identity_pools[&s.identity_pool].name.clone(),
            boot_volume: s.boot_volume.map(|v| self.volumes[&v].name.clone()),
            requirements: s.requirements.clone(),
            state: s.state.to_string(),
            blade: s.blade.map(|b| self.blades[&b].name.clone()),
            generation: s.generation,
            created_at_ms: s.created_at_ms,
            last_error: s.last_error.clone(),
            nics: s
                .identity
                .macs
                .iter()
                .enumerate()
                .map(|(i, mac)| {
                    let network = s
                        .nic_networks
                        .get(i)
                        .copied()
                        .flatten()
                        .and_then(|n| self.networks.get(&n));
                    NicView {
                        mac: mac.to_string(),
                        network: network.map(|n| n.name.clone()),
                        network_id: network.map(|n| n.vni),
                    }
                })
                .collect(),
            volumes: s
                .volumes
                .iter()
                .map(|v| self.volumes[v].name.clone())
                .collect(),
            priority: s.priority,
            preempt: s.preempt,
            failback_window: s.failback_window.clone(),
            home_blade: s
                .home_blade
                .and_then(|b| self.blades.get(&b))
                .map(|b| b.name.clone()),
            failover_pool: s
                .failover_pool
                .and_then(|p| self.pools.get(&p))
                .map(|p| p.name.clone()),
        }
    }

    fn volume_view(&self, id: VolumeId) -> VolumeView {
        let v = &self.volumes[&id];
        VolumeView {
            id: id.0,
            name: v.name.clone(),
            partition: self.partitions[&v.partition].name.clone(),
            size_bytes: v.size_bytes,
            attached_to: self
                .index
                .volume_users
                .get(&id)
                .map(|s| self.server_path(*s)),
            image: v
                .image
                .and_then(|i| self.images.get(&i))
                .map(|i| i.name.clone()),
            state: v.op.as_ref().map_or("ready", VolumeOp::state).to_string(),
            nqn: volume_nqn(id),
            snapshots: v.snapshots.clone(),
            last_error: v.last_error.clone(),
        }
    }

    // ------------------------------------------------------------ queries

    /// Every partition, in id order.
    pub fn partitions(&self) -> Vec<PartitionView> {
        self.partitions
            .keys()
            .map(|id| self.partition_view(*id))
            .collect()
    }

    /// Every blade pool, in id order.
    pub fn pools(&self) -> Vec<PoolView> {
        self.pools.keys().map(|id| self.pool_view(*id)).collect()
    }

    /// Every identity pool, in id order.
    pub fn identity_pools(&self) -> Vec<IdentityPoolView> {
        self.identity_pools
            .keys()
            .map(|id| self.identity_pool_view(*id))
            .collect()
    }

    /// Blades in name order, optionally only those of one pool.
    pub fn blades(&self, pool: Option<&str>) -> Result<Vec<BladeView>, StateError> {
        let pool = pool.map(|p| self.pool_id(p)).transpose()?;
        // In name order: racks are read by slot, not by enrolment order.
        Ok(self
            .index
            .blade_by_name
            .values()
            .map(|id| &self.blades[id])
            .filter(|b| pool.is_none() || b.pool == pool)
            .map(|b| self.blade_view(b.id))
            .collect())
    }

    /// Whether a blade of this name is enrolled.
    pub fn blade_exists(&self, name: &str) -> bool {
        self.index.blade_by_name.contains_key(name)
    }

    /// One blade by name.
    pub fn blade(&self, name: &str) -> Result<BladeView, StateError> {
        Ok(self.blade_view(self.blade_id(name)?))
    }

    /// Servers, optionally only those of one partition.
    pub fn servers(&self, partition: Option<&str>) -> Result<Vec<ServerView>, StateError> {
        match partition {
            Some(p) => {
                let pid = self.partition_id(p)?;
                Ok(self
                    .index
                    .partition_servers
                    .get(&pid)
                    .map(|ids| ids.iter().map(|id| self.server_view(*id)).collect())
                    .unwrap_or_default())
            }
            None => Ok(self
                .servers
                .keys()
                .map(|id| self.server_view(*id))
                .collect()),
        }
    }

    /// One server by partition and name.
    pub fn server(&self, partition: &str, name: &str) -> Result<ServerView, StateError> {
        let pid = self.partition_id(partition)?;
        Ok(self.server_view(self.server_id(pid, partition, name)?))
    }

    /// Volumes, optionally only those of one partition.
    pub fn volumes(&self, partition: Option<&str>) -> Result<Vec<VolumeView>, StateError> {
        match partition {
            Some(p) => {
                let pid = self.partition_id(p)?;
                Ok(self
                    .index
                    .partition_volumes
                    .get(&pid)
                    .map(|ids| ids.iter().map(|id| self.volume_view(*id)).collect())
                    .unwrap_or_default())
            }
            None => Ok(self
                .volumes
                .keys()
                .map(|id| self.volume_view(*id))
                .collect()),
        }
    }

    /// The newest `limit` audit records, newest first.
    pub fn audit(&self, limit: usize) -> Vec<AuditRecord> {
        self.audit_where(limit, |_| true)
    }

    /// The newest `limit` audit records whose partition (`None`:
    /// fabric-wide) `keep` accepts, newest first.
    pub fn audit_where(
        &self,
        limit: usize,
        keep: impl Fn(Option<&str>) -> bool,
    ) -> Vec<AuditRecord> {
        self.audit
            .iter()
            .rev()
            .filter(|r| keep(r.partition()))
            .take(limit)
            .map(audit::Audited::record)
            .collect()
    }

    /// The stored password of a blade's BMC, for drivers only; never for views.
    pub fn bmc_password(&self, blade: &str) -> Result<&Secret, StateError> {
        let id = self.blade_id(blade)?;
        let cred = self.blades[&id].bmc.credential;
        self.credentials.get(&cred).ok_or_else(|| {
            not_found(
                format!("credential {cred} of blade '{blade}'"),
                "blade show",
            )
        })
    }

    /// Number of servers, for metrics.
    pub fn server_count(&self) -> usize {
        self.servers.len()
    }
}

fn check_bmc_url(object: &str, url: &str) -> Result<(), StateError> {
    let bad = |reason: String| Err(invalid(object.to_string(), "BMC address", reason));
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let host = rest.map_or(url, |r| r.split('/').next().unwrap_or(""));
    if host.contains('@') {
        // Checked first, and the URL never echoed: it may hold a password.
        return bad(
            "the URL carries credentials; give the user with --user and the password with \
             --password-file instead"
                .to_string(),
        );
    }
    let shown = command::redact_userinfo(url);
    let Some(rest) = rest else {
        return bad(format!(
            "{shown:?} is not an http:// or https:// URL with a host, e.g. https://10.0.0.21"
        ));
    };
    if host.is_empty() || rest.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad(format!(
            "{shown:?} is not an http:// or https:// URL with a host, e.g. https://10.0.0.21"
        ));
    }
    Ok(())
}

/// Two spellings of one BMC address compare equal.
fn same_bmc(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// Free text (descriptions, models) must be printable and short.
fn check_text(object: &str, field: &str, text: &str, max: usize) -> Result<(), StateError> {
    if text.chars().any(char::is_control) {
        return Err(invalid(
            object.to_string(),
            field,
            "it holds control characters; use printable text".to_string(),
        ));
    }
    if text.len() > max {
        return Err(invalid(
            object.to_string(),
            field,
            format!("it is {} bytes long; use at most {max}", text.len()),
        ));
    }
    Ok(())
}
