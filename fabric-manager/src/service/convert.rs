//! Conversions between the state machine's views and the wire types.
//! One place, so the API and the state never drift apart silently.

use crate::state::{self, AuditRecord, Event};
use pan_api::v1 as pb;

/// Empty strings on the wire mean "not given".
pub fn opt(s: &str) -> Option<&str> {
    if s.is_empty() { None } else { Some(s) }
}

pub fn qualification_from(q: Option<pb::Qualification>) -> state::Qualification {
    let q = q.unwrap_or_default();
    state::Qualification {
        model: opt(&q.model).map(str::to_string),
        min_cores: q.min_cores,
        min_memory_gib: q.min_memory_gib,
    }
}

fn qualification_to(q: state::Qualification) -> pb::Qualification {
    pb::Qualification {
        model: q.model.unwrap_or_default(),
        min_cores: q.min_cores,
        min_memory_gib: q.min_memory_gib,
    }
}

impl From<state::PartitionView> for pb::Partition {
    fn from(v: state::PartitionView) -> Self {
        pb::Partition {
            id: v.id,
            name: v.name,
            description: v.description,
            created_at_ms: v.created_at_ms,
            servers: v.servers,
            volumes: v.volumes,
            network_id_first: v.network_ids.map_or(0, |r| r.0),
            network_id_last: v.network_ids.map_or(0, |r| r.1),
            networks: v.networks,
            quota: Some(pb::Quota {
                max_servers: v.quota.max_servers,
                max_volumes: v.quota.max_volumes,
                max_volume_bytes: v.quota.max_volume_bytes,
                max_networks: v.quota.max_networks,
                max_blades: v.quota.max_blades,
                dedicated_pool: v.quota.dedicated_pool.clone(),
            }),
            usage: Some(pb::QuotaUsage {
                servers: v.usage.servers,
                volumes: v.usage.volumes,
                volume_bytes: v.usage.volume_bytes,
                networks: v.usage.networks,
                blades: v.usage.blades,
            }),
        }
    }
}

impl From<state::PoolView> for pb::Pool {
    fn from(v: state::PoolView) -> Self {
        pb::Pool {
            id: v.id,
            name: v.name,
            qualification: Some(qualification_to(v.qualification)),
            blades: v.blades,
        }
    }
}

impl From<state::IdentityPoolView> for pb::IdentityPool {
    fn from(v: state::IdentityPoolView) -> Self {
        pb::IdentityPool {
            id: v.id,
            name: v.name,
            mac_first: v.mac_first,
            mac_last: v.mac_last,
            uuid_prefix: v.uuid_prefix,
            macs_total: v.macs_total,
            macs_used: v.macs_used,
            uuids_used: v.uuids_used,
        }
    }
}

impl From<state::BladeView> for pb::Blade {
    fn from(v: state::BladeView) -> Self {
        let has_facts = v.facts.is_some();
        pb::Blade {
            id: v.id,
            name: v.name,
            bmc_url: v.bmc_url,
            bmc_user: v.bmc_user,
            credential_ref: v.credential_ref,
            state: v.state,
            facts: v.facts.map(|f| pb::BladeFacts {
                model: f.model,
                cores: f.cores,
                memory_gib: f.memory_gib,
                macs: f.macs,
                uuid: f.uuid,
            }),
            has_facts,
            pool: v.pool.unwrap_or_default(),
            server: v.server.unwrap_or_default(),
            power: v.power,
            health: v.health,
        }
    }
}

impl From<state::ServerView> for pb::Server {
    fn from(v: state::ServerView) -> Self {
        pb::Server {
            id: v.id,
            name: v.name,
            partition: v.partition,
            identity: Some(pb::Identity {
                uuid: v.identity.uuid,
                macs: v.identity.macs,
                host_nqn: v.identity.host_nqn,
            }),
            identity_pool: v.identity_pool,
            boot_volume: v.boot_volume.unwrap_or_default(),
            requirements: Some(qualification_to(v.requirements)),
            state: v.state,
            blade: v.blade.unwrap_or_default(),
            generation: v.generation,
            created_at_ms: v.created_at_ms,
            last_error: v.last_error.unwrap_or_default(),
            nics: v
                .nics
                .into_iter()
                .map(|n| pb::Nic {
                    mac: n.mac,
                    network: n.network.unwrap_or_default(),
                    network_id: n.network_id.unwrap_or(0),
                })
                .collect(),
            volumes: v.volumes,
            agent: None,
            priority: v.priority,
            failover_pool: v.failover_pool.unwrap_or_default(),
            preempt: v.preempt,
            failback_window: v.failback_window.unwrap_or_default(),
            home_blade: v.home_blade.unwrap_or_default(),
        }
    }
}

impl From<state::VolumeView> for pb::Volume {
    fn from(v: state::VolumeView) -> Self {
        pb::Volume {
            id: v.id,
            name: v.name,
            partition: v.partition,
            size_bytes: v.size_bytes,
            attached_to: v.attached_to.unwrap_or_default(),
            image: v.image.unwrap_or_default(),
            state: v.state,
            nqn: v.nqn,
            snapshots: v
                .snapshots
                .into_iter()
                .map(|s| pb::VolumeSnapshot {
                    name: s.name,
                    created_at_ms: s.created_at_ms,
                })
                .collect(),
            last_error: v.last_error.unwrap_or_default(),
        }
    }
}

impl From<state::ImageView> for pb::Image {
    fn from(v: state::ImageView) -> Self {
        pb::Image {
            id: v.id,
            name: v.name,
            size_bytes: v.size_bytes,
            state: v.state,
            volumes: v.volumes,
            last_error: v.last_error.unwrap_or_default(),
        }
    }
}

impl From<state::NetworkView> for pb::Network {
    fn from(v: state::NetworkView) -> Self {
        pb::Network {
            id: v.id,
            name: v.name,
            partition: v.partition,
            network_id: v.network_id,
            servers: v.servers,
        }
    }
}

impl From<AuditRecord> for pb::AuditRecord {
    fn from(r: AuditRecord) -> Self {
        pb::AuditRecord {
            index: r.index,
            at_ms: r.at_ms,
            principal: r.principal,
            command: r.command,
            outcome: if r.error.is_some() { "error" } else { "ok" }.to_string(),
            error: r.error.unwrap_or_default(),
        }
    }
}

impl From<Event> for pb::Event {
    fn from(e: Event) -> Self {
        pb::Event {
            index: e.index,
            at_ms: e.at_ms,
            kind: e.kind,
            object: e.object,
            partition: e.partition.unwrap_or_default(),
        }
    }
}

impl From<state::FailoverView> for pb::Failover {
    fn from(v: state::FailoverView) -> Self {
        pb::Failover {
            id: v.id,
            server: v.server,
            partition: v.partition,
            from_blade: v.from_blade,
            to_blade: v.to_blade.unwrap_or_default(),
            phase: v.phase,
            reason: v.reason,
            error: v.error.unwrap_or_default(),
            confirmed_by: v.confirmed_by.unwrap_or_default(),
            started_at_ms: v.started_at_ms,
            detect_ms: v.detect_ms,
            fence_ms: v.fence_ms,
            select_ms: v.select_ms,
            boot_ms: v.boot_ms,
            total_ms: v.total_ms,
        }
    }
}
