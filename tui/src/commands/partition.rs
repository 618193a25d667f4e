//! `panctl partition`: create, list, show, set quotas on and delete tenant
//! partitions.
//!
//! JSON: `{"id", "name", "description": "..."|null, "created_at_ms",
//! "servers", "volumes", "network_id_first", "network_id_last",
//! "networks", "quota": {"max_servers", "max_volumes", "max_volume_bytes",
//! "max_networks", "max_blades", "dedicated_pool"}, "usage": {"servers", "volumes",
//! "volume_bytes", "networks", "blades"}|null}` (network ids 0 when the
//! manager reports no range; a `null` limit is unlimited; `usage` is null
//! when the manager does not report it); delete prints `{"deleted":
//! "partition/NAME"}`.

use super::Ctx;
use crate::args::NetworkIdRange;
use crate::cli::{PartitionCommand, SetQuotaArgs};
use crate::error::CliError;
use crate::output::{self, Detail, Row, details, opt, or_dash};
use crate::units::{format_size, format_time_ms};
use pan_api::v1::{
    CreatePartitionRequest, DeletePartitionRequest, ListPartitionsRequest, Partition, Quota,
    QuotaUsage, SetQuotaRequest,
};
use serde::Serialize;

/// A partition as printed.
#[derive(Debug, Serialize)]
pub struct PartitionView {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub created_at_ms: u64,
    pub servers: u32,
    pub volumes: u32,
    /// The inclusive range of network ids (VXLAN VNIs) its networks take.
    pub network_id_first: u32,
    pub network_id_last: u32,
    /// How many networks it has.
    pub networks: u32,
    /// Its limits; `None` is unlimited.
    pub quota: QuotaView,
    /// What it uses, when the manager reports it.
    pub usage: Option<UsageView>,
}

/// A partition's limits as printed: `None` is unlimited.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct QuotaView {
    pub max_servers: Option<u64>,
    pub max_volumes: Option<u64>,
    pub max_volume_bytes: Option<u64>,
    pub max_networks: Option<u64>,
    pub max_blades: Option<u64>,
    /// The pool whose blades only this partition's servers use.
    pub dedicated_pool: Option<String>,
}

impl From<Option<&Quota>> for QuotaView {
    fn from(q: Option<&Quota>) -> Self {
        let Some(q) = q else {
            return QuotaView::default();
        };
        QuotaView {
            max_servers: q.max_servers,
            max_volumes: q.max_volumes,
            max_volume_bytes: q.max_volume_bytes,
            max_networks: q.max_networks,
            max_blades: q.max_blades,
            dedicated_pool: q.dedicated_pool.clone(),
        }
    }
}

/// What a partition uses, as printed.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct UsageView {
    pub servers: u64,
    pub volumes: u64,
    pub volume_bytes: u64,
    pub networks: u64,
    pub blades: u64,
}

impl From<&QuotaUsage> for UsageView {
    fn from(u: &QuotaUsage) -> Self {
        UsageView {
            servers: u.servers,
            volumes: u.volumes,
            volume_bytes: u.volume_bytes,
            networks: u.networks,
            blades: u.blades,
        }
    }
}

/// One quota line: what is limited, how much is used, the limit, and how a
/// number is shown.
struct Limit {
    what: &'static str,
    used: Option<u64>,
    max: Option<u64>,
    show: fn(u64) -> String,
}

impl Limit {
    /// `2/10`, `40GiB/100GiB` (`?/10` when usage is unknown).
    fn compact(&self) -> String {
        let used = self.used.map_or_else(|| "?".to_string(), self.show);
        let text = match self.max {
            Some(max) => format!("{used}/{}", (self.show)(max)),
            None => used,
        };
        text.replace(' ', "")
    }

    /// `2 of 10`, `2 (unlimited)`, `- of 10` when usage is unknown.
    fn long(&self) -> String {
        let used = self.used.map_or_else(|| "-".to_string(), self.show);
        match self.max {
            Some(max) => format!("{used} of {}", (self.show)(max)),
            None => format!("{used} (unlimited)"),
        }
    }
}

impl From<&Partition> for PartitionView {
    fn from(p: &Partition) -> Self {
        PartitionView {
            id: p.id,
            name: p.name.clone(),
            description: opt(&p.description),
            created_at_ms: p.created_at_ms,
            servers: p.servers,
            volumes: p.volumes,
            network_id_first: p.network_id_first,
            network_id_last: p.network_id_last,
            networks: p.networks,
            quota: QuotaView::from(p.quota.as_ref()),
            usage: p.usage.as_ref().map(UsageView::from),
        }
    }
}

impl PartitionView {
    /// `FIRST-LAST`, or `-` when the manager reports no range.
    fn network_ids_cell(&self) -> String {
        if self.network_id_first == 0 && self.network_id_last == 0 {
            "-".to_string()
        } else {
            format!("{}-{}", self.network_id_first, self.network_id_last)
        }
    }
}

impl PartitionView {
    /// Every quota line, in a fixed order. Counts the manager reports on the
    /// partition itself stand in when it reports no usage.
    fn limits(&self) -> [Limit; 5] {
        let u = self.usage.as_ref();
        let count = |n: u64| n.to_string();
        let size = format_size;
        [
            Limit {
                what: "servers",
                used: Some(u.map_or(u64::from(self.servers), |u| u.servers)),
                max: self.quota.max_servers,
                show: count,
            },
            Limit {
                what: "volumes",
                used: Some(u.map_or(u64::from(self.volumes), |u| u.volumes)),
                max: self.quota.max_volumes,
                show: count,
            },
            Limit {
                what: "volume bytes",
                used: u.map(|u| u.volume_bytes),
                max: self.quota.max_volume_bytes,
                show: size,
            },
            Limit {
                what: "networks",
                used: Some(u.map_or(u64::from(self.networks), |u| u.networks)),
                max: self.quota.max_networks,
                show: count,
            },
            Limit {
                what: "blades",
                used: u.map(|u| u.blades),
                max: self.quota.max_blades,
                show: count,
            },
        ]
    }

    /// The limited resources as `servers 2/10, volume-bytes 40GiB/100GiB`,
    /// or `unlimited`.
    fn quota_cell(&self) -> String {
        let mut limited: Vec<String> = self
            .limits()
            .iter()
            .filter(|l| l.max.is_some())
            .map(|l| format!("{} {}", l.what.replace(' ', "-"), l.compact()))
            .collect();
        if let Some(pool) = &self.quota.dedicated_pool {
            limited.push(format!("pool {pool}"));
        }
        if limited.is_empty() {
            "unlimited".to_string()
        } else {
            limited.join(", ")
        }
    }
}

impl Row for PartitionView {
    const HEADERS: &'static [&'static str] = &[
        "NAME",
        "SERVERS",
        "VOLUMES",
        "NETWORK-IDS",
        "NETWORKS",
        "QUOTA (USED/MAX)",
        "CREATED",
        "DESCRIPTION",
    ];
    const EMPTY: &'static str = "no partitions";
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.servers.to_string(),
            self.volumes.to_string(),
            self.network_ids_cell(),
            self.networks.to_string(),
            self.quota_cell(),
            format_time_ms(self.created_at_ms),
            or_dash(&self.description),
        ]
    }
}

impl Detail for PartitionView {
    fn detail(&self) -> String {
        let mut fields = vec![
            ("name", self.name.clone()),
            ("id", self.id.to_string()),
            ("description", or_dash(&self.description)),
            ("network ids", self.network_ids_cell()),
            ("created", format_time_ms(self.created_at_ms)),
        ];
        fields.extend(self.limits().iter().map(|l| (l.what, l.long())));
        fields.push((
            "blade pool",
            self.quota
                .dedicated_pool
                .as_ref()
                .map_or_else(|| "shared".to_string(), |p| format!("{p} (dedicated)")),
        ));
        details(&fields)
    }
}

/// The `partition set-quota` request: the whole new quota.
fn set_quota_request(args: SetQuotaArgs) -> SetQuotaRequest {
    let quota = if args.unlimited {
        Quota::default()
    } else {
        Quota {
            max_servers: args.max_servers,
            max_volumes: args.max_volumes,
            max_volume_bytes: args.max_volume_bytes,
            max_networks: args.max_networks,
            max_blades: args.max_blades,
            dedicated_pool: args.dedicated_pool,
        }
    };
    SetQuotaRequest {
        partition: args.name,
        quota: Some(quota),
    }
}

/// The `partition create` request: absent flags are empty strings.
fn create_request(
    name: String,
    description: Option<String>,
    network_ids: Option<NetworkIdRange>,
) -> CreatePartitionRequest {
    CreatePartitionRequest {
        name,
        description: description.unwrap_or_default(),
        network_ids: network_ids.map(|r| r.to_string()).unwrap_or_default(),
    }
}

/// Runs `panctl partition ...`.
pub async fn run(cmd: PartitionCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        PartitionCommand::Create {
            name,
            description,
            network_ids,
        } => {
            let request = create_request(name, description, network_ids);
            let created = ctx
                .manager
                .call(
                    request,
                    |mut c, r| async move { c.create_partition(r).await },
                )
                .await?;
            output::one(ctx.format, &PartitionView::from(&created))?
        }
        PartitionCommand::List => {
            let reply = ctx
                .manager
                .call(ListPartitionsRequest {}, |mut c, r| async move {
                    c.list_partitions(r).await
                })
                .await?;
            let views: Vec<_> = reply.partitions.iter().map(PartitionView::from).collect();
            output::list(ctx.format, &views)?
        }
        PartitionCommand::Show { name } => {
            let reply = ctx
                .manager
                .call(ListPartitionsRequest {}, |mut c, r| async move {
                    c.list_partitions(r).await
                })
                .await?;
            let Some(found) = reply.partitions.iter().find(|p| p.name == name) else {
                return Err(CliError::Api {
                    addr: ctx.manager.current_addr().to_string(),
                    status: tonic::Status::not_found(format!(
                        "partition \"{name}\" does not exist or is not visible to you; list them with `panctl partition list`"
                    )),
                }
                .into());
            };
            output::one(ctx.format, &PartitionView::from(found))?
        }
        PartitionCommand::SetQuota(args) => {
            let changed = ctx
                .manager
                .call(set_quota_request(args), |mut c, r| async move {
                    c.set_quota(r).await
                })
                .await?;
            output::one(ctx.format, &PartitionView::from(&changed))?
        }
        PartitionCommand::Delete { name } => {
            ctx.manager
                .call(
                    DeletePartitionRequest { name: name.clone() },
                    |mut c, r| async move { c.delete_partition(r).await },
                )
                .await?;
            output::deleted(
                ctx.format,
                &format!("partition/{name}"),
                &format!("deleted partition {name}"),
            )?
        }
    };
    ctx.print(&text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A partition with networks and a quota, and one made before network
    /// ranges and quotas.
    pub(crate) fn sample() -> Vec<Partition> {
        vec![
            Partition {
                id: 3,
                name: "acme".into(),
                description: "web shop".into(),
                created_at_ms: 1_748_779_200_000,
                servers: 2,
                volumes: 3,
                network_id_first: 10_000,
                network_id_last: 11_023,
                networks: 2,
                quota: Some(Quota {
                    max_servers: Some(10),
                    max_volume_bytes: Some(100 << 30),
                    max_blades: Some(4),
                    dedicated_pool: Some("acme-blades".into()),
                    ..Default::default()
                }),
                usage: Some(QuotaUsage {
                    servers: 2,
                    volumes: 3,
                    volume_bytes: 40 << 30,
                    networks: 2,
                    blades: 1,
                }),
            },
            Partition {
                id: 4,
                name: "globex".into(),
                created_at_ms: 1_748_779_260_000,
                ..Default::default()
            },
        ]
    }

    #[test]
    fn partition_json_shape() {
        let p = Partition {
            id: 3,
            name: "acme".into(),
            description: String::new(),
            created_at_ms: 1_748_779_200_000,
            servers: 2,
            volumes: 1,
            network_id_first: 10_000,
            network_id_last: 10_999,
            networks: 4,
            quota: Some(Quota {
                max_servers: Some(10),
                ..Default::default()
            }),
            usage: Some(QuotaUsage {
                servers: 2,
                volumes: 1,
                volume_bytes: 1 << 30,
                networks: 4,
                blades: 0,
            }),
        };
        assert_eq!(
            serde_json::to_value(PartitionView::from(&p)).unwrap(),
            json!({
                "id": 3,
                "name": "acme",
                "description": null,
                "created_at_ms": 1_748_779_200_000u64,
                "servers": 2,
                "volumes": 1,
                "network_id_first": 10_000,
                "network_id_last": 10_999,
                "networks": 4,
                "quota": {
                    "max_servers": 10,
                    "max_volumes": null,
                    "max_volume_bytes": null,
                    "max_networks": null,
                    "max_blades": null,
                    "dedicated_pool": null
                },
                "usage": {
                    "servers": 2,
                    "volumes": 1,
                    "volume_bytes": 1u64 << 30,
                    "networks": 4,
                    "blades": 0
                }
            })
        );
        assert_eq!(
            PartitionView::from(&p).cells(),
            [
                "acme",
                "2",
                "1",
                "10000-10999",
                "4",
                "servers 2/10",
                "2025-06-01T12:00:00Z",
                "-"
            ]
        );
    }

    #[test]
    fn a_partition_without_a_range_or_quota_shows_dashes_and_unlimited() {
        let p = Partition {
            id: 1,
            name: "old".into(),
            description: "made before networks".into(),
            ..Default::default()
        };
        let view = PartitionView::from(&p);
        assert_eq!(view.cells()[3], "-");
        assert_eq!(view.cells()[5], "unlimited");
        let value = serde_json::to_value(&view).unwrap();
        assert_eq!(value["usage"], serde_json::Value::Null);
        assert_eq!(value["quota"]["max_blades"], serde_json::Value::Null);
        assert_eq!(
            view.detail(),
            "name          old\n\
             id            1\n\
             description   made before networks\n\
             network ids   -\n\
             created       -\n\
             servers       0 (unlimited)\n\
             volumes       0 (unlimited)\n\
             volume bytes  - (unlimited)\n\
             networks      0 (unlimited)\n\
             blades        - (unlimited)\n\
             blade pool    shared\n"
        );
    }

    #[test]
    fn limits_without_usage_show_a_question_mark() {
        let p = Partition {
            name: "x".into(),
            servers: 1,
            quota: Some(Quota {
                max_servers: Some(5),
                max_blades: Some(2),
                max_volume_bytes: Some(1 << 40),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            PartitionView::from(&p).quota_cell(),
            "servers 1/5, volume-bytes ?/1TiB, blades ?/2"
        );
    }

    #[test]
    fn set_quota_sends_the_whole_quota() {
        let args = SetQuotaArgs {
            name: "acme".into(),
            max_servers: Some(10),
            max_volumes: None,
            max_volume_bytes: Some(100 << 30),
            max_networks: Some(0),
            max_blades: None,
            dedicated_pool: Some("gold".into()),
            unlimited: false,
        };
        assert_eq!(
            set_quota_request(args),
            SetQuotaRequest {
                partition: "acme".into(),
                quota: Some(Quota {
                    max_servers: Some(10),
                    max_volumes: None,
                    max_volume_bytes: Some(100 << 30),
                    max_networks: Some(0),
                    max_blades: None,
                    dedicated_pool: Some("gold".into()),
                }),
            }
        );
        let args = SetQuotaArgs {
            name: "acme".into(),
            max_servers: None,
            max_volumes: None,
            max_volume_bytes: None,
            max_networks: None,
            max_blades: None,
            dedicated_pool: None,
            unlimited: true,
        };
        assert_eq!(set_quota_request(args).quota, Some(Quota::default()));
    }

    #[test]
    fn create_sends_the_range_as_first_dash_last() {
        let request = create_request(
            "acme".into(),
            None,
            Some(NetworkIdRange {
                first: 10_000,
                last: 10_999,
            }),
        );
        assert_eq!(
            request,
            CreatePartitionRequest {
                name: "acme".into(),
                description: String::new(),
                network_ids: "10000-10999".into(),
            }
        );
        let request = create_request("acme".into(), Some("web shop".into()), None);
        assert_eq!(request.network_ids, "");
        assert_eq!(request.description, "web shop");
    }
}
