//! Partition networks and their network ids (VXLAN VNIs).
//!
//! Every partition owns a range of network ids that no other partition's
//! range overlaps (given at creation, or the next free block of
//! [`DEFAULT_BLOCK`] ids); a network takes the lowest free id of its
//! partition's range, or a given one inside it. A network id therefore never
//! names segments of two partitions, which is what keeps tenants apart on
//! the fabric. Pure: the fabric driver creates the segments when servers
//! using them start.

use super::push_event as push;
use super::{Event, Executed, Made, Network, State, StateError, check_name, invalid};
use pan_api::{NetworkId, PartitionId};
use partitions::{NetworkIdRange, network_id};

/// Size of the network id block a partition gets when none is given.
pub const DEFAULT_BLOCK: u32 = 1024;

impl State {
    /// The range for a new partition: the parsed `FIRST-LAST`, checked
    /// against every other partition, or the lowest free default block.
    pub(super) fn network_range_for(
        &self,
        partition: &str,
        requested: Option<&str>,
    ) -> Result<NetworkIdRange, StateError> {
        let object = format!("partition '{partition}'");
        let taken = self
            .partitions
            .values()
            .filter_map(|p| p.network_ids.map(|r| (p.name.as_str(), r)));
        match requested {
            Some(text) => {
                let parse = |s: &str| s.trim().parse::<u32>().ok();
                let (first, last) = text
                    .split_once('-')
                    .and_then(|(a, b)| Some((parse(a)?, parse(b)?)))
                    .ok_or_else(|| {
                        invalid(
                            object.clone(),
                            "network ids",
                            format!("{text:?} is not FIRST-LAST, e.g. 1000-1999"),
                        )
                    })?;
                let range = NetworkIdRange::new(first, last)
                    .map_err(|e| invalid(object.clone(), "network ids", e.to_string()))?;
                network_id::check_no_overlap(partition, range, taken)
                    .map_err(|e| invalid(object, "network ids", e.to_string()))?;
                Ok(range)
            }
            None => {
                let taken: Vec<NetworkIdRange> = taken.map(|(_, r)| r).collect();
                // Blocks start at 1024, 2048, ...: ids below 1024 stay free
                // for ranges an operator gives by hand.
                let mut first = DEFAULT_BLOCK;
                loop {
                    let last = first + DEFAULT_BLOCK - 1;
                    if last > network_id::NETWORK_ID_MAX {
                        return Err(invalid(
                            object,
                            "network ids",
                            "no free block of network ids is left; give a range with --network-ids"
                                .to_string(),
                        ));
                    }
                    let range = NetworkIdRange::new(first, last).expect("within bounds");
                    match taken
                        .iter()
                        .filter(|t| t.overlaps(&range))
                        .map(|t| t.last())
                        .max()
                    {
                        None => return Ok(range),
                        Some(end) => {
                            first = (end / DEFAULT_BLOCK + 1) * DEFAULT_BLOCK;
                        }
                    }
                }
            }
        }
    }

    fn network_id(
        &self,
        partition_id: PartitionId,
        partition: &str,
        name: &str,
    ) -> Result<NetworkId, StateError> {
        self.index
            .network_by_name
            .get(&(partition_id, name.to_string()))
            .copied()
            .ok_or_else(|| {
                super::not_found(
                    format!("network '{name}' in partition '{partition}'"),
                    &format!("network list --partition {partition}"),
                )
            })
    }

    /// Resolves a server's network names inside its own partition: a
    /// partition's servers can only ever name its own networks.
    pub(super) fn resolve_networks(
        &self,
        partition_id: PartitionId,
        partition: &str,
        names: &[String],
    ) -> Result<Vec<NetworkId>, StateError> {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let id = self.network_id(partition_id, partition, name)?;
            if ids.contains(&id) {
                return Err(invalid(
                    format!("network '{name}' in partition '{partition}'"),
                    "networks",
                    "it is given twice; a server has one vNIC per network".to_string(),
                ));
            }
            ids.push(id);
        }
        Ok(ids)
    }

    pub(super) fn create_network(
        &mut self,
        partition: &str,
        name: &str,
        requested: Option<u32>,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let partition_id = self.partition_id(partition)?;
        check_name("network", name)?;
        let object = format!("network '{name}' in partition '{partition}'");
        if self
            .index
            .network_by_name
            .contains_key(&(partition_id, name.to_string()))
        {
            return Err(StateError::AlreadyExists { object });
        }
        let Some(range) = self.partitions[&partition_id].network_ids else {
            return Err(invalid(
                object,
                "network id",
                format!(
                    "partition '{partition}' has no network id range (it predates networks); \
                     recreate the partition"
                ),
            ));
        };
        let vni = match requested {
            Some(id) => {
                if !range.contains(id) {
                    return Err(invalid(
                        object,
                        "network id",
                        format!(
                            "{id} is outside partition '{partition}''s range {}-{}; pick one inside it or leave it out",
                            range.first(),
                            range.last()
                        ),
                    ));
                }
                if let Some(other) = self.index.vnis.get(&id) {
                    return Err(invalid(
                        object,
                        "network id",
                        format!(
                            "{id} is already used by network '{}'; pick another or leave it out",
                            self.networks[other].name
                        ),
                    ));
                }
                id
            }
            None => {
                let used = self.index.vnis.keys().copied().collect();
                network_id::allocate(partition, range, &used).map_err(|e| {
                    StateError::Exhausted {
                        detail: e.to_string(),
                    }
                })?
            }
        };
        self.check_quota(partition_id, &partitions::QuotaRequest::network())?;
        let id = NetworkId(self.alloc_id());
        self.networks.insert(
            id,
            Network {
                id,
                name: name.to_string(),
                partition: partition_id,
                vni,
                created_at_ms: at_ms,
            },
        );
        self.index
            .network_by_name
            .insert((partition_id, name.to_string()), id);
        self.index
            .partition_networks
            .entry(partition_id)
            .or_default()
            .insert(id);
        self.index.vnis.insert(vni, id);
        push(
            events,
            "network.created",
            format!("network/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Network(id))
    }

    pub(super) fn delete_network(
        &mut self,
        partition: &str,
        name: &str,
        events: &mut Vec<Event>,
    ) -> Executed {
        let partition_id = self.partition_id(partition)?;
        let id = self.network_id(partition_id, partition, name)?;
        if let Some(users) = self
            .index
            .network_servers
            .get(&id)
            .filter(|s| !s.is_empty())
        {
            return Err(StateError::InUse {
                object: format!("network '{name}' in partition '{partition}'"),
                users: format!(
                    "{} server(s) ({})",
                    users.len(),
                    users
                        .iter()
                        .take(5)
                        .map(|s| self.server_path(*s))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                remedy: "delete those servers first".to_string(),
            });
        }
        let network = self.networks.remove(&id).expect("looked up");
        self.index
            .network_by_name
            .remove(&(partition_id, name.to_string()));
        if let Some(set) = self.index.partition_networks.get_mut(&partition_id) {
            set.remove(&id);
        }
        self.index.vnis.remove(&network.vni);
        self.index.network_servers.remove(&id);
        push(
            events,
            "network.deleted",
            format!("network/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Deleted)
    }

    pub(super) fn network_view(&self, id: NetworkId) -> super::NetworkView {
        let n = &self.networks[&id];
        super::NetworkView {
            id: id.0,
            name: n.name.clone(),
            partition: self.partitions[&n.partition].name.clone(),
            network_id: n.vni,
            servers: self
                .index
                .network_servers
                .get(&id)
                .map(|s| s.iter().map(|id| self.server_path(*id)).collect())
                .unwrap_or_default(),
        }
    }

    /// Networks, optionally only those of one partition, in id order.
    pub fn networks(&self, partition: Option<&str>) -> Result<Vec<super::NetworkView>, StateError> {
        match partition {
            Some(p) => {
                let pid = self.partition_id(p)?;
                Ok(self
                    .index
                    .partition_networks
                    .get(&pid)
                    .map(|ids| ids.iter().map(|id| self.network_view(*id)).collect())
                    .unwrap_or_default())
            }
            None => Ok(self
                .networks
                .keys()
                .map(|id| self.network_view(*id))
                .collect()),
        }
    }
}
