//! `panctl partition`: create, list, delete tenant partitions.
//!
//! JSON: `{"id", "name", "description": "..."|null, "created_at_ms",
//! "servers", "volumes"}`; delete prints `{"deleted": "partition/NAME"}`.

use super::Ctx;
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
        }
    }
}

impl Row for PartitionView {
    const HEADERS: &'static [&'static str] =
        &["NAME", "SERVERS", "VOLUMES", "CREATED", "DESCRIPTION"];
    const EMPTY: &'static str = "no partitions";
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.servers.to_string(),
            self.volumes.to_string(),
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
            ("created", format_time_ms(self.created_at_ms)),
        ])
    }
}

/// Runs `panctl partition ...`.
pub async fn run(cmd: PartitionCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        PartitionCommand::Create { name, description } => {
            let request = CreatePartitionRequest {
                name,
                description: description.unwrap_or_default(),
                ..Default::default()
            };
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
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partition_json_shape() {
        let p = Partition {
            id: 3,
            name: "acme".into(),
            description: String::new(),
            created_at_ms: 1_748_779_200_000,
            servers: 2,
            volumes: 1,
        };
        assert_eq!(
            serde_json::to_value(PartitionView::from(&p)).unwrap(),
            json!({
                "id": 3,
                "name": "acme",
                "description": null,
                "created_at_ms": 1_748_779_200_000u64,
                "servers": 2,
                "volumes": 1
            })
        );
        assert_eq!(
            PartitionView::from(&p).cells(),
            ["acme", "2", "1", "2025-06-01T12:00:00Z", "-"]
        );
    }
}
