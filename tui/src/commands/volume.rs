//! `panctl volume`: create (empty or cloned from a golden image), list,
//! show, resize, snapshot, restore, delete-snapshot and delete SAN volumes.
//!
//! JSON: `{"name", "partition", "id", "size_bytes", "image": "..."|null,
//! "state": "..."|null, "attached_to": "partition/server"|null, "nqn":
//! "..."|null, "snapshots": [{"name", "created_at_ms"}], "last_error":
//! "..."|null}` (create, show, resize, snapshot, restore and
//! delete-snapshot print one, list an array); delete prints
//! `{"deleted": "volume/PARTITION/NAME"}`.
//!
//! Every call that changes a volume waits until the storage target is done,
//! so `panctl` waits as long as the manager may (see [`storage_wait`]).

use super::Ctx;
use super::server::SLACK;
use crate::cli::{VolumeCommand, VolumeSnapshotArgs};
use crate::output::{self, Detail, Row, Table, details, opt, or_dash};
use crate::units::{format_size, format_time_ms};
use pan_api::v1::{
    CreateVolumeRequest, DeleteSnapshotRequest, DeleteVolumeRequest, GetVolumeRequest,
    ListVolumesRequest, ResizeVolumeRequest, RestoreVolumeRequest, SnapshotVolumeRequest, Volume,
    VolumeSnapshot,
};
use serde::Serialize;
use std::time::Duration;

/// How long `panctl` lets the manager wait for the storage target when no
/// `--timeout` is given (volume and image operations), before [`SLACK`].
pub const DEFAULT_STORAGE_WAIT_SECS: u64 = 600;

/// How long to wait for the manager's answer to a storage operation that
/// waits `timeout` seconds (default: the manager's, at most
/// [`DEFAULT_STORAGE_WAIT_SECS`]): that wait plus [`SLACK`].
pub fn storage_wait(timeout: Option<u32>) -> Duration {
    let wait = timeout.map_or(DEFAULT_STORAGE_WAIT_SECS, u64::from);
    Duration::from_secs(wait) + SLACK
}

/// A volume as printed.
#[derive(Debug, Serialize)]
pub struct VolumeView {
    pub name: String,
    pub partition: String,
    pub id: u64,
    pub size_bytes: u64,
    /// The golden image it was cloned from; `null` for an empty volume.
    pub image: Option<String>,
    /// creating, ready, resizing, snapshotting, restoring, deleting.
    pub state: Option<String>,
    /// `partition/server` using it (boot or data volume).
    pub attached_to: Option<String>,
    /// The NVMe subsystem NQN it is exported as.
    pub nqn: Option<String>,
    pub snapshots: Vec<SnapshotView>,
    /// Why the last operation on it failed, if it did.
    pub last_error: Option<String>,
}

/// A restore point of a volume.
#[derive(Debug, Serialize)]
pub struct SnapshotView {
    pub name: String,
    pub created_at_ms: u64,
}

impl From<&VolumeSnapshot> for SnapshotView {
    fn from(s: &VolumeSnapshot) -> Self {
        SnapshotView {
            name: s.name.clone(),
            created_at_ms: s.created_at_ms,
        }
    }
}

impl From<&Volume> for VolumeView {
    fn from(v: &Volume) -> Self {
        VolumeView {
            name: v.name.clone(),
            partition: v.partition.clone(),
            id: v.id,
            size_bytes: v.size_bytes,
            image: opt(&v.image),
            state: opt(&v.state),
            attached_to: opt(&v.attached_to),
            nqn: opt(&v.nqn),
            snapshots: v.snapshots.iter().map(SnapshotView::from).collect(),
            last_error: opt(&v.last_error),
        }
    }
}

impl Row for VolumeView {
    const HEADERS: &'static [&'static str] =
        &["PARTITION", "NAME", "SIZE", "IMAGE", "STATE", "ATTACHED-TO"];
    const EMPTY: &'static str = "no volumes";
    fn cells(&self) -> Vec<String> {
        vec![
            self.partition.clone(),
            self.name.clone(),
            format_size(self.size_bytes),
            or_dash(&self.image),
            or_dash(&self.state),
            or_dash(&self.attached_to),
        ]
    }
}

impl Detail for VolumeView {
    fn detail(&self) -> String {
        let mut text = details(&[
            ("name", self.name.clone()),
            ("partition", self.partition.clone()),
            ("id", self.id.to_string()),
            ("state", or_dash(&self.state)),
            ("last error", or_dash(&self.last_error)),
            (
                "size",
                format!(
                    "{} ({} bytes)",
                    format_size(self.size_bytes),
                    self.size_bytes
                ),
            ),
            ("image", or_dash(&self.image)),
            ("attached to", or_dash(&self.attached_to)),
            ("nqn", or_dash(&self.nqn)),
            ("snapshots", self.snapshots.len().to_string()),
        ]);
        if !self.snapshots.is_empty() {
            let mut table = Table::new(&["SNAPSHOT", "CREATED"]);
            for snapshot in &self.snapshots {
                table.push(vec![
                    snapshot.name.clone(),
                    format_time_ms(snapshot.created_at_ms),
                ]);
            }
            text.push('\n');
            text.push_str(&table.render());
        }
        text
    }
}

/// The `volume create` request: `size` 0 with an image means the image's size.
fn create_request(
    name: String,
    partition: String,
    size: Option<u64>,
    image: Option<String>,
    timeout: Option<u32>,
) -> CreateVolumeRequest {
    CreateVolumeRequest {
        name,
        partition,
        size_bytes: size.unwrap_or(0),
        image: image.unwrap_or_default(),
        timeout_s: timeout.unwrap_or(0),
    }
}

/// Sends one of the calls that change a volume and answer with it, waiting
/// as long as the storage target may take.
async fn change<M, F, Fut>(
    ctx: &mut Ctx,
    request: M,
    timeout: Option<u32>,
    rpc: F,
) -> anyhow::Result<String>
where
    M: Clone,
    F: Fn(crate::client::Fabric, M) -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<Volume>, tonic::Status>>,
{
    let volume = ctx
        .manager
        .call_with_timeout(request, storage_wait(timeout), rpc)
        .await?;
    output::one(ctx.format, &VolumeView::from(&volume))
}

/// Runs `panctl volume ...`.
pub async fn run(cmd: VolumeCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        VolumeCommand::Create {
            name,
            partition,
            size,
            image,
            timeout,
        } => {
            let request = create_request(name, partition, size, image, timeout);
            change(ctx, request, timeout, |mut c, r| async move {
                c.create_volume(r).await
            })
            .await?
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
        VolumeCommand::Show { name, partition } => {
            let volume = ctx
                .manager
                .call(
                    GetVolumeRequest { name, partition },
                    |mut c, r| async move { c.get_volume(r).await },
                )
                .await?;
            output::one(ctx.format, &VolumeView::from(&volume))?
        }
        VolumeCommand::Resize {
            name,
            partition,
            size,
            timeout,
        } => {
            let request = ResizeVolumeRequest {
                name,
                partition,
                size_bytes: size,
                timeout_s: timeout.unwrap_or(0),
            };
            change(ctx, request, timeout, |mut c, r| async move {
                c.resize_volume(r).await
            })
            .await?
        }
        VolumeCommand::Snapshot(args) => {
            let timeout = args.timeout;
            let request = snapshot_request(args);
            change(ctx, request, timeout, |mut c, r| async move {
                c.snapshot_volume(r).await
            })
            .await?
        }
        VolumeCommand::Restore(args) => {
            let timeout = args.timeout;
            let s = snapshot_request(args);
            let request = RestoreVolumeRequest {
                name: s.name,
                partition: s.partition,
                snapshot: s.snapshot,
                timeout_s: s.timeout_s,
            };
            change(ctx, request, timeout, |mut c, r| async move {
                c.restore_volume(r).await
            })
            .await?
        }
        VolumeCommand::DeleteSnapshot(args) => {
            let timeout = args.timeout;
            let s = snapshot_request(args);
            let request = DeleteSnapshotRequest {
                name: s.name,
                partition: s.partition,
                snapshot: s.snapshot,
                timeout_s: s.timeout_s,
            };
            change(ctx, request, timeout, |mut c, r| async move {
                c.delete_snapshot(r).await
            })
            .await?
        }
        VolumeCommand::Delete {
            name,
            partition,
            timeout,
        } => {
            let request = DeleteVolumeRequest {
                name: name.clone(),
                partition: partition.clone(),
                timeout_s: timeout.unwrap_or(0),
            };
            ctx.manager
                .call_with_timeout(request, storage_wait(timeout), |mut c, r| async move {
                    c.delete_volume(r).await
                })
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

/// The `volume snapshot` request (restore and delete-snapshot send the same
/// fields).
fn snapshot_request(args: VolumeSnapshotArgs) -> SnapshotVolumeRequest {
    SnapshotVolumeRequest {
        name: args.name,
        partition: args.partition,
        snapshot: args.snapshot,
        timeout_s: args.timeout.unwrap_or(0),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cli::Format;
    use serde_json::json;

    /// Two volumes: a ready clone with two snapshots, in use, and an empty
    /// one whose last resize failed.
    pub(crate) fn sample() -> Vec<Volume> {
        vec![
            Volume {
                id: 4,
                name: "web-1-boot".into(),
                partition: "acme".into(),
                size_bytes: 20 << 30,
                attached_to: "acme/web-1".into(),
                image: "debian-12".into(),
                state: "ready".into(),
                nqn: "nqn.2024-01.net.pan:volume:acme:web-1-boot".into(),
                snapshots: vec![
                    VolumeSnapshot {
                        name: "before-upgrade".into(),
                        created_at_ms: 1_748_779_200_000,
                    },
                    VolumeSnapshot {
                        name: "after-upgrade".into(),
                        created_at_ms: 1_748_782_800_000,
                    },
                ],
                last_error: String::new(),
            },
            Volume {
                id: 5,
                name: "scratch".into(),
                partition: "globex".into(),
                size_bytes: 512 << 20,
                attached_to: String::new(),
                image: String::new(),
                state: "ready".into(),
                nqn: "nqn.2024-01.net.pan:volume:globex:scratch".into(),
                snapshots: vec![],
                last_error: "resize to 1 TiB failed: no space left on the storage target".into(),
            },
        ]
    }

    #[test]
    fn volume_json_shape() {
        let view = VolumeView::from(&sample()[0]);
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({
                "name": "web-1-boot",
                "partition": "acme",
                "id": 4,
                "size_bytes": 21_474_836_480u64,
                "image": "debian-12",
                "state": "ready",
                "attached_to": "acme/web-1",
                "nqn": "nqn.2024-01.net.pan:volume:acme:web-1-boot",
                "snapshots": [
                    {"name": "before-upgrade", "created_at_ms": 1_748_779_200_000u64},
                    {"name": "after-upgrade", "created_at_ms": 1_748_782_800_000u64}
                ],
                "last_error": null
            })
        );
        assert_eq!(
            view.cells(),
            [
                "acme",
                "web-1-boot",
                "20 GiB",
                "debian-12",
                "ready",
                "acme/web-1"
            ]
        );
    }

    #[test]
    fn absent_strings_are_null_in_json_and_dashes_in_tables() {
        let volume = Volume {
            id: 1,
            name: "v".into(),
            partition: "p".into(),
            size_bytes: 1 << 30,
            ..Default::default()
        };
        let view = VolumeView::from(&volume);
        let value = serde_json::to_value(&view).unwrap();
        for field in ["image", "state", "attached_to", "nqn", "last_error"] {
            assert_eq!(value[field], json!(null), "{field}");
        }
        assert_eq!(value["snapshots"], json!([]));
        assert_eq!(view.cells(), ["p", "v", "1 GiB", "-", "-", "-"]);
        assert!(!view.detail().contains("SNAPSHOT"), "{}", view.detail());
    }

    #[test]
    fn volume_list_json_is_an_array() {
        let views: Vec<_> = sample().iter().map(VolumeView::from).collect();
        let value: serde_json::Value =
            serde_json::from_str(&output::list(Format::Json, &views).unwrap()).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 2);
        assert_eq!(value[1]["image"], json!(null));
        assert_eq!(
            value[1]["last_error"],
            "resize to 1 TiB failed: no space left on the storage target"
        );
    }

    #[test]
    fn create_sends_the_image_size_and_timeout() {
        assert_eq!(
            create_request("v".into(), "p".into(), Some(10 << 30), None, None),
            CreateVolumeRequest {
                name: "v".into(),
                partition: "p".into(),
                size_bytes: 10 << 30,
                image: String::new(),
                timeout_s: 0,
            }
        );
        // An image without --size: size 0 means the image's size.
        let request = create_request(
            "v".into(),
            "p".into(),
            None,
            Some("debian-12".into()),
            Some(90),
        );
        assert_eq!(
            (
                request.size_bytes,
                request.image.as_str(),
                request.timeout_s
            ),
            (0, "debian-12", 90)
        );
    }

    #[test]
    fn snapshot_requests_carry_the_snapshot_name() {
        let request = snapshot_request(VolumeSnapshotArgs {
            name: "web-1-boot".into(),
            snapshot: "before-upgrade".into(),
            partition: "acme".into(),
            timeout: Some(30),
        });
        assert_eq!(
            request,
            SnapshotVolumeRequest {
                name: "web-1-boot".into(),
                partition: "acme".into(),
                snapshot: "before-upgrade".into(),
                timeout_s: 30,
            }
        );
    }

    #[test]
    fn storage_calls_wait_longer_than_the_manager() {
        assert_eq!(storage_wait(None), Duration::from_secs(630));
        assert_eq!(storage_wait(Some(60)), Duration::from_secs(90));
        assert_eq!(
            storage_wait(Some(u32::MAX)),
            Duration::from_secs(u64::from(u32::MAX) + 30)
        );
    }
}
