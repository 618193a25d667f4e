//! `panctl partition`: create, list, delete tenant partitions.
//!
//! JSON: `{"id", "name", "description": "..."|null, "created_at_ms",
//! "servers", "volumes", "network_id_first", "network_id_last",
//! "networks"}` (network ids 0 when the manager reports no range); delete
//! prints `{"deleted": "partition/NAME"}`.

use super::Ctx;
use crate::args::NetworkIdRange;
use crate::cli::PartitionCommand;
use crate::output::{self, Detail, Row, details, opt, or_dash};
use crate::units::format_time_ms;
use pan_api::v1::{
    CreatePartitionRequest, DeletePartitionRequest, ListPartitionsRequest, Partition,
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

impl Row for PartitionView {
    const HEADERS: &'static [&'static str] = &[
        "NAME",
        "SERVERS",
        "VOLUMES",
        "NETWORK-IDS",
        "NETWORKS",
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
            format_time_ms(self.created_at_ms),
            or_dash(&self.description),
        ]
    }
}

impl Detail for PartitionView {
    fn detail(&self) -> String {
        details(&[
            ("name", self.name.clone()),
            ("id", self.id.to_string()),
            ("description", or_dash(&self.description)),
            ("servers", self.servers.to_string()),
            ("volumes", self.volumes.to_string()),
            ("network ids", self.network_ids_cell()),
            ("networks", self.networks.to_string()),
            ("created", format_time_ms(self.created_at_ms)),
        ])
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

    /// A partition with networks and one made before network ranges.
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
                "networks": 4
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
                "2025-06-01T12:00:00Z",
                "-"
            ]
        );
    }

    #[test]
    fn a_partition_without_a_range_shows_a_dash() {
        let p = Partition {
            id: 1,
            name: "old".into(),
            description: "made before networks".into(),
            ..Default::default()
        };
        let view = PartitionView::from(&p);
        assert_eq!(view.cells()[3], "-");
        assert_eq!(
            view.detail(),
            "name         old\n\
             id           1\n\
             description  made before networks\n\
             servers      0\n\
             volumes      0\n\
             network ids  -\n\
             networks     0\n\
             created      -\n"
        );
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
