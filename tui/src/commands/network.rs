//! `panctl network`: create, list, delete partition networks (isolated L2
//! segments, one VXLAN network id each).
//!
//! JSON: `{"id", "name", "partition", "network_id", "servers":
//! ["partition/server", ...]}` (create prints one, list an array); delete
//! prints `{"deleted": "network/PARTITION/NAME"}`.

use super::Ctx;
use crate::cli::NetworkCommand;
use crate::output::{self, Detail, Row, details};
use pan_api::v1::{CreateNetworkRequest, DeleteNetworkRequest, ListNetworksRequest, Network};
use serde::Serialize;

/// A network as printed.
#[derive(Debug, Serialize)]
pub struct NetworkView {
    pub id: u64,
    pub name: String,
    pub partition: String,
    /// VXLAN network id.
    pub network_id: u32,
    /// `partition/server` of every server with a vNIC on it.
    pub servers: Vec<String>,
}

impl From<&Network> for NetworkView {
    fn from(n: &Network) -> Self {
        NetworkView {
            id: n.id,
            name: n.name.clone(),
            partition: n.partition.clone(),
            network_id: n.network_id,
            servers: n.servers.clone(),
        }
    }
}

impl NetworkView {
    fn servers_cell(&self, separator: &str) -> String {
        if self.servers.is_empty() {
            "-".to_string()
        } else {
            self.servers.join(separator)
        }
    }
}

impl Row for NetworkView {
    const HEADERS: &'static [&'static str] = &["PARTITION", "NAME", "NETWORK-ID", "SERVERS"];
    const EMPTY: &'static str = "no networks";
    fn cells(&self) -> Vec<String> {
        vec![
            self.partition.clone(),
            self.name.clone(),
            self.network_id.to_string(),
            self.servers_cell(","),
        ]
    }
}

impl Detail for NetworkView {
    fn detail(&self) -> String {
        details(&[
            ("name", self.name.clone()),
            ("partition", self.partition.clone()),
            ("id", self.id.to_string()),
            ("network id", self.network_id.to_string()),
            ("servers", self.servers_cell(", ")),
        ])
    }
}

/// Runs `panctl network ...`.
pub async fn run(cmd: NetworkCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        NetworkCommand::Create {
            name,
            partition,
            network_id,
        } => {
            let request = CreateNetworkRequest {
                name,
                partition,
                network_id: network_id.unwrap_or(0),
            };
            let created = ctx
                .manager
                .call(request, |mut c, r| async move { c.create_network(r).await })
                .await?;
            output::one(ctx.format, &NetworkView::from(&created))?
        }
        NetworkCommand::List { partition } => {
            let request = ListNetworksRequest {
                partition: partition.unwrap_or_default(),
            };
            let reply = ctx
                .manager
                .call(request, |mut c, r| async move { c.list_networks(r).await })
                .await?;
            let views: Vec<_> = reply.networks.iter().map(NetworkView::from).collect();
            output::list(ctx.format, &views)?
        }
        NetworkCommand::Delete { name, partition } => {
            let request = DeleteNetworkRequest {
                name: name.clone(),
                partition: partition.clone(),
            };
            ctx.manager
                .call(request, |mut c, r| async move { c.delete_network(r).await })
                .await?;
            output::deleted(
                ctx.format,
                &format!("network/{partition}/{name}"),
                &format!("deleted network {name} from partition {partition}"),
            )?
        }
    };
    ctx.print(&text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cli::Format;
    use serde_json::json;

    /// A network with two servers and an unused one.
    pub(crate) fn sample() -> Vec<Network> {
        vec![
            Network {
                id: 1,
                name: "front".into(),
                partition: "acme".into(),
                network_id: 10_000,
                servers: vec!["acme/web-1".into(), "acme/web-2".into()],
            },
            Network {
                id: 2,
                name: "storage".into(),
                partition: "acme".into(),
                network_id: 10_001,
                servers: vec![],
            },
        ]
    }

    #[test]
    fn network_json_shape() {
        let views: Vec<_> = sample().iter().map(NetworkView::from).collect();
        let value: serde_json::Value =
            serde_json::from_str(&output::list(Format::Json, &views).unwrap()).unwrap();
        assert_eq!(
            value,
            json!([
                {
                    "id": 1,
                    "name": "front",
                    "partition": "acme",
                    "network_id": 10_000,
                    "servers": ["acme/web-1", "acme/web-2"]
                },
                {
                    "id": 2,
                    "name": "storage",
                    "partition": "acme",
                    "network_id": 10_001,
                    "servers": []
                }
            ])
        );
        assert_eq!(
            output::list(Format::Table, &views).unwrap(),
            "PARTITION  NAME     NETWORK-ID  SERVERS\n\
             acme       front    10000       acme/web-1,acme/web-2\n\
             acme       storage  10001       -\n"
        );
        assert_eq!(
            views[1].detail(),
            "name        storage\n\
             partition   acme\n\
             id          2\n\
             network id  10001\n\
             servers     -\n"
        );
    }
}
