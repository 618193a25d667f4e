//! `panctl image`: add (copy a disk image file or create an empty one),
//! list, delete golden images, the sources volumes are thinly cloned from.
//!
//! JSON: `{"id", "name", "size_bytes", "state": "..."|null, "volumes",
//! "last_error": "..."|null}` (add prints one, list an array); delete prints
//! `{"deleted": "image/NAME"}`.

use super::Ctx;
use super::volume::storage_wait;
use crate::cli::ImageCommand;
use crate::output::{self, Detail, Row, details, opt, or_dash};
use crate::units::format_size;
use pan_api::v1::{AddImageRequest, DeleteImageRequest, Image, ListImagesRequest};
use serde::Serialize;

/// A golden image as printed.
#[derive(Debug, Serialize)]
pub struct ImageView {
    pub id: u64,
    pub name: String,
    pub size_bytes: u64,
    /// creating, ready, deleting.
    pub state: Option<String>,
    /// How many volumes were cloned from it.
    pub volumes: u32,
    /// Why the last operation on it failed, if it did.
    pub last_error: Option<String>,
}

impl From<&Image> for ImageView {
    fn from(i: &Image) -> Self {
        ImageView {
            id: i.id,
            name: i.name.clone(),
            size_bytes: i.size_bytes,
            state: opt(&i.state),
            volumes: i.volumes,
            last_error: opt(&i.last_error),
        }
    }
}

impl Row for ImageView {
    const HEADERS: &'static [&'static str] = &["NAME", "SIZE", "STATE", "VOLUMES", "LAST-ERROR"];
    const EMPTY: &'static str = "no images";
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            format_size(self.size_bytes),
            or_dash(&self.state),
            self.volumes.to_string(),
            or_dash(&self.last_error),
        ]
    }
}

impl Detail for ImageView {
    fn detail(&self) -> String {
        details(&[
            ("name", self.name.clone()),
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
            ("volumes", self.volumes.to_string()),
        ])
    }
}

/// The `image add` request: a file to copy, or a size for an empty image.
fn add_request(
    name: String,
    file: Option<String>,
    size: Option<u64>,
    timeout: Option<u32>,
) -> AddImageRequest {
    AddImageRequest {
        name,
        source_path: file.unwrap_or_default(),
        size_bytes: size.unwrap_or(0),
        timeout_s: timeout.unwrap_or(0),
    }
}

/// Runs `panctl image ...`.
pub async fn run(cmd: ImageCommand, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = match cmd {
        ImageCommand::Add {
            name,
            file,
            size,
            timeout,
        } => {
            let image = ctx
                .manager
                .call_with_timeout(
                    add_request(name, file, size, timeout),
                    storage_wait(timeout),
                    |mut c, r| async move { c.add_image(r).await },
                )
                .await?;
            output::one(ctx.format, &ImageView::from(&image))?
        }
        ImageCommand::List => {
            let reply = ctx
                .manager
                .call(ListImagesRequest {}, |mut c, r| async move {
                    c.list_images(r).await
                })
                .await?;
            let views: Vec<_> = reply.images.iter().map(ImageView::from).collect();
            output::list(ctx.format, &views)?
        }
        ImageCommand::Delete { name, timeout } => {
            let request = DeleteImageRequest {
                name: name.clone(),
                timeout_s: timeout.unwrap_or(0),
            };
            ctx.manager
                .call_with_timeout(request, storage_wait(timeout), |mut c, r| async move {
                    c.delete_image(r).await
                })
                .await?;
            output::deleted(
                ctx.format,
                &format!("image/{name}"),
                &format!("deleted image {name}"),
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

    /// A ready image with clones, and one whose copy failed.
    pub(crate) fn sample() -> Vec<Image> {
        vec![
            Image {
                id: 1,
                name: "debian-12".into(),
                size_bytes: 2 << 30,
                state: "ready".into(),
                volumes: 3,
                last_error: String::new(),
            },
            Image {
                id: 2,
                name: "rocky-9".into(),
                size_bytes: 0,
                state: "creating".into(),
                volumes: 0,
                last_error: "cannot read /srv/images/rocky-9.qcow2: no such file".into(),
            },
        ]
    }

    #[test]
    fn image_json_shape() {
        let views: Vec<_> = sample().iter().map(ImageView::from).collect();
        let value: serde_json::Value =
            serde_json::from_str(&output::list(Format::Json, &views).unwrap()).unwrap();
        assert_eq!(
            value,
            json!([
                {
                    "id": 1,
                    "name": "debian-12",
                    "size_bytes": 2_147_483_648u64,
                    "state": "ready",
                    "volumes": 3,
                    "last_error": null
                },
                {
                    "id": 2,
                    "name": "rocky-9",
                    "size_bytes": 0,
                    "state": "creating",
                    "volumes": 0,
                    "last_error": "cannot read /srv/images/rocky-9.qcow2: no such file"
                }
            ])
        );
        assert_eq!(views[0].cells(), ["debian-12", "2 GiB", "ready", "3", "-"]);
        assert_eq!(
            output::list::<ImageView>(Format::Table, &[]).unwrap(),
            "no images"
        );
    }

    #[test]
    fn add_sends_a_file_or_a_size() {
        assert_eq!(
            add_request(
                "debian-12".into(),
                Some("/srv/images/debian-12.qcow2".into()),
                None,
                Some(900)
            ),
            AddImageRequest {
                name: "debian-12".into(),
                source_path: "/srv/images/debian-12.qcow2".into(),
                size_bytes: 0,
                timeout_s: 900,
            }
        );
        assert_eq!(
            add_request("blank".into(), None, Some(1 << 30), None),
            AddImageRequest {
                name: "blank".into(),
                source_path: String::new(),
                size_bytes: 1 << 30,
                timeout_s: 0,
            }
        );
    }
}
