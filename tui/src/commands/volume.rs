//! `panctl volume`: create, list, delete SAN volume records.
//!
//! JSON: `{"name", "partition", "id", "size_bytes", "attached_to":
//! "partition/server"|null}`; delete prints
//! `{"deleted": "volume/PARTITION/NAME"}`.

use super::Ctx;
use crate::cli::VolumeCommand;
use crate::output::{self, Detail, Row, details, opt, or_dash};
use crate::units::format_size;
use pan_api::v1::{CreateVolumeRequest, DeleteVolumeRequest, ListVolumesRequest, Volume};
use serde::Serialize;

/// A volume as printed.
#[derive(Debug, Serialize)]
pub struct VolumeView {
    pub name: String,
    pub partition: String,
    pub id: u64,
    pub size_bytes: u64,
    /// `partition/server` booting from it.
    pub attached_to: Option<String>,
}

impl From<&Volume> for VolumeView {
    fn from(v: &Volume) -> Self {
        VolumeView {
            name: v.name.clone(),
            partition: v.partition.clone(),
            id: v.id,
            size_bytes: v.size_bytes,
            attached_to: opt(&v.attached_to),
        }
    }
}

impl Row for VolumeView {
    const HEADERS: &'static [&'static str] = &["NAME", "PARTITION", "SIZE", "ATTACHED-TO"];
    const EMPTY: &'static str = "no volumes";
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.partition.clone(),
            format_size(self.size_bytes),
            or_dash(&self.attached_to),
        ]
    }
}

impl Detail for VolumeView {
    fn detail(&self) -> String {
        details(&[
            ("name", self.name.clone()),
            ("partition", self.partition.clone()),
            ("id", self.id.to_string()),
            (
                "size",
                format!(
                    "{} ({} bytes)",
                    format_size(self.size_bytes),
                    self.size_bytes
                ),
            ),
            ("attached to", or_dash(&self.attached_to)),
        ])
    }
}

/// Runs `panctl volume ...`.
pub async fn run(cmd: VolumeCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        VolumeCommand::Create {
            name,
            partition,
            size,
        } => {
            let request = CreateVolumeRequest {
                name,
                partition,
                size_bytes: size,
                ..Default::default()
            };
            let created = ctx
                .manager
                .call(request, |mut c, r| async move { c.create_volume(r).await })
                .await?;
            output::one(ctx.format, &VolumeView::from(&created))?
        }
        VolumeCommand::List { partition } => {
            let request = ListVolumesRequest {
                partition: partition.unwrap_or_default(),
            };
            let reply = ctx
                .manager
                .call(request, |mut c, r| async move { c.list_volumes(r).await })
                .await?;
            let views: Vec<_> = reply.volumes.iter().map(VolumeView::from).collect();
            output::list(ctx.format, &views)?
        }
        VolumeCommand::Delete { name, partition } => {
            let request = DeleteVolumeRequest {
                name: name.clone(),
                partition: partition.clone(),
                ..Default::default()
            };
            ctx.manager
                .call(request, |mut c, r| async move { c.delete_volume(r).await })
                .await?;
            output::deleted(
                ctx.format,
                &format!("volume/{partition}/{name}"),
                &format!("deleted volume {name} from partition {partition}"),
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
    fn volume_json_shape() {
        let volume = Volume {
            id: 4,
            name: "web-1-boot".into(),
            partition: "acme".into(),
            size_bytes: 10 << 30,
            attached_to: String::new(),
        };
        let view = VolumeView::from(&volume);
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({
                "name": "web-1-boot",
                "partition": "acme",
                "id": 4,
                "size_bytes": 10_737_418_240u64,
                "attached_to": null
            })
        );
        assert_eq!(view.cells(), ["web-1-boot", "acme", "10 GiB", "-"]);
    }
}
