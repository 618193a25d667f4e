//! The storage executor: carries out the image and volume work the state
//! records (create, resize, snapshot, restore, delete) on the storage
//! target, keeps every ready volume exported, and grants or revokes a
//! server's host NQN on its volumes.
//!
//! Work is keyed by the generation of the record's pending operation; the
//! report (`ImageOpDone` / `VolumeOpDone`) carries it, so a report about
//! an older operation changes nothing. Every step is safe to repeat: a new
//! leader re-runs whatever it finds pending. A create that fails removes
//! what it wrote before it reports, so a failed create leaves no file, no
//! export and (once reported) no record.

use super::{CONTROLLER, Controller};
use crate::state::{Command, ImageOp, ImageSource, StorageWork, VolumeOp, VolumeWork};
use pan_api::{ImageId, VolumeId};
use san::nvmet::{Nqn, StorageTarget};
use san::volume::VolumeStore;
use san::{ImageName, Size, SnapshotName, VolumeName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The storage side of the data path: where volume bytes live and how they
/// are exported.
#[derive(Clone)]
pub struct Storage {
    pub volumes: VolumeStore,
    pub target: Arc<dyn StorageTarget>,
    /// The target's NVMe/TCP address, as hosts reach it.
    pub address: SocketAddr,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("volumes", &self.volumes)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The file name of a volume on the target: from its id, never from a
/// tenant's name.
pub fn volume_file(id: VolumeId) -> VolumeName {
    VolumeName::new(format!("vol-{}", id.0)).expect("vol-<digits> is a valid name")
}

/// The file name of a golden image on the target.
pub fn image_file(id: ImageId) -> ImageName {
    ImageName::new(format!("img-{}", id.0)).expect("img-<digits> is a valid name")
}

/// The subsystem NQN a volume is exported as.
pub fn volume_nqn(id: VolumeId) -> Nqn {
    Nqn::for_volume(id.0).expect("a volume id makes a valid NQN")
}

fn err(e: &san::Error) -> String {
    crate::error::chain(e)
}

impl Storage {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Storage) -> Result<T, san::Error> + Send + 'static,
    ) -> Result<T, String> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| format!("storage task failed: {e}"))?
            .map_err(|e| err(&e))
    }

    /// Exports a volume (idempotent): the file must exist.
    async fn export(&self, id: VolumeId) -> Result<(), String> {
        self.blocking(move |s| {
            let path = s.volumes.volume_path(&volume_file(id));
            s.target.export(&volume_nqn(id), &path)
        })
        .await
    }

    /// Lets `host` connect to each volume, re-exporting any export that went
    /// missing, and reads the access lists back.
    pub async fn grant(&self, volumes: &[VolumeWork], host: &str) -> Result<(), String> {
        let host = Nqn::parse(host).map_err(|e| err(&e))?;
        for v in volumes {
            let (id, h) = (v.id, host.clone());
            self.export(id)
                .await
                .map_err(|e| format!("could not export volume '{}': {e}", v.name))?;
            let allowed = self
                .blocking(move |s| {
                    s.target.grant(&volume_nqn(id), &h)?;
                    s.target.allowed_hosts(&volume_nqn(id))
                })
                .await
                .map_err(|e| format!("could not grant access to volume '{}': {e}", v.name))?;
            if !allowed.contains(&host) {
                return Err(format!(
                    "volume '{}' does not list host {} after the grant; check the storage target",
                    v.name,
                    host.as_str()
                ));
            }
        }
        Ok(())
    }

    /// Stops `host` from connecting to each volume, and reads it back.
    pub async fn revoke(&self, volumes: &[VolumeWork], host: &str) -> Result<(), String> {
        let host = Nqn::parse(host).map_err(|e| err(&e))?;
        for v in volumes {
            let (id, h) = (v.id, host.clone());
            let allowed = self
                .blocking(move |s| {
                    let nqn = volume_nqn(id);
                    if !s.target.exports()?.contains(&nqn) {
                        return Ok(Vec::new());
                    }
                    s.target.revoke(&nqn, &h)?;
                    s.target.allowed_hosts(&nqn)
                })
                .await
                .map_err(|e| format!("could not revoke access to volume '{}': {e}", v.name))?;
            if allowed.contains(&host) {
                return Err(format!(
                    "volume '{}' still lists host {} after the revoke; check the storage target",
                    v.name,
                    host.as_str()
                ));
            }
        }
        Ok(())
    }

    /// Does one volume's pending operation; returns its size afterwards.
    async fn volume_op(
        &self,
        id: VolumeId,
        op: &VolumeOp,
        image: Option<ImageId>,
        size_bytes: u64,
    ) -> Result<u64, String> {
        let file = volume_file(id);
        match op {
            VolumeOp::Create => {
                // Whatever is there is a leftover of an earlier attempt at
                // this very create (the state says it is still creating).
                self.unexport_and_remove(id).await?;
                let size = Size::from_bytes(size_bytes).map_err(|e| err(&e))?;
                let created = match image {
                    Some(image) => {
                        self.volumes
                            .clone_image(&file, &image_file(image), Some(size))
                            .await
                    }
                    None => self.volumes.create(&file, size).await,
                };
                if let Err(e) = created {
                    return Err(err(&e));
                }
                let done = async {
                    self.export(id).await?;
                    self.size_of(&file).await
                }
                .await;
                if done.is_err() {
                    // Nothing half-created: take back the file and export.
                    if let Err(e) = self.unexport_and_remove(id).await {
                        tracing::warn!(volume = %id, error = %e, "could not clean up after a failed create");
                    }
                }
                done
            }
            VolumeOp::Resize { size_bytes } => {
                let size = Size::from_bytes(*size_bytes).map_err(|e| err(&e))?;
                self.volumes
                    .resize(&file, size)
                    .await
                    .map_err(|e| err(&e))?;
                self.size_of(&file).await
            }
            VolumeOp::Snapshot { name } => {
                let snap = SnapshotName::new(name.as_str()).map_err(|e| err(&e))?;
                match self.volumes.snapshot(&file, &snap).await {
                    // Taken by an earlier attempt of this operation.
                    Ok(()) | Err(san::Error::SnapshotExists { .. }) => {}
                    Err(e) => return Err(err(&e)),
                }
                self.size_of(&file).await
            }
            VolumeOp::Restore { name } => {
                let snap = SnapshotName::new(name.as_str()).map_err(|e| err(&e))?;
                self.volumes
                    .restore(&file, &snap)
                    .await
                    .map_err(|e| err(&e))?;
                self.size_of(&file).await
            }
            VolumeOp::DeleteSnapshot { name } => {
                let snap = SnapshotName::new(name.as_str()).map_err(|e| err(&e))?;
                match self.volumes.delete_snapshot(&file, &snap).await {
                    Ok(()) | Err(san::Error::SnapshotNotFound { .. }) => {}
                    Err(e) => return Err(err(&e)),
                }
                self.size_of(&file).await
            }
            VolumeOp::Delete => {
                self.unexport_and_remove(id).await?;
                Ok(0)
            }
        }
    }

    async fn size_of(&self, file: &VolumeName) -> Result<u64, String> {
        Ok(self
            .volumes
            .info(file)
            .await
            .map_err(|e| err(&e))?
            .virtual_size)
    }

    async fn unexport_and_remove(&self, id: VolumeId) -> Result<(), String> {
        self.blocking(move |s| {
            s.target.unexport(&volume_nqn(id))?;
            s.volumes.remove(&volume_file(id))
        })
        .await
    }

    async fn image_op(
        &self,
        id: ImageId,
        op: ImageOp,
        source: &ImageSource,
        size_bytes: u64,
    ) -> Result<u64, String> {
        let file = image_file(id);
        match op {
            ImageOp::Create => {
                self.volumes.delete_image(&file).map_err(|e| err(&e))?;
                let made = match source {
                    ImageSource::File { path } => {
                        let path = Path::new(path);
                        if !path.is_file() {
                            return Err(format!(
                                "{} is not a file on the leading manager's host; copy the image there \
                                 (or give a path every manager can read)",
                                path.display()
                            ));
                        }
                        self.volumes.register_image(&file, path).await
                    }
                    ImageSource::Empty => {
                        let size = Size::from_bytes(size_bytes).map_err(|e| err(&e))?;
                        self.volumes.create_image(&file, size).await
                    }
                };
                made.map_err(|e| err(&e))?;
                match self.volumes.image_info(&file).await {
                    Ok(info) => Ok(info.virtual_size),
                    Err(e) => {
                        let _ = self.volumes.delete_image(&file);
                        Err(err(&e))
                    }
                }
            }
            ImageOp::Delete => {
                self.volumes.delete_image(&file).map_err(|e| err(&e))?;
                Ok(0)
            }
        }
    }
}

impl Controller {
    /// Does one item of storage work and records the result.
    pub(super) async fn execute_storage(&self, work: StorageWork, term: u64) {
        let Some(storage) = self.storage.clone() else {
            return;
        };
        let command = match work {
            StorageWork::Image {
                id,
                name,
                generation,
                op,
                source,
                size_bytes,
            } => {
                if let Err(e) = self.still_leading(term) {
                    tracing::info!(image = %name, reason = %e, "not doing image work");
                    return;
                }
                let result = storage.image_op(id, op, &source, size_bytes).await;
                if let Err(e) = &result {
                    tracing::warn!(image = %name, error = %e, "image work failed");
                }
                Command::ImageOpDone {
                    name,
                    generation,
                    size_bytes: *result.as_ref().unwrap_or(&0),
                    error: result.err(),
                }
            }
            StorageWork::Volume {
                id,
                partition,
                name,
                generation,
                op,
                image,
                size_bytes,
            } => {
                if let Err(e) = self.still_leading(term) {
                    tracing::info!(volume = %name, reason = %e, "not doing volume work");
                    return;
                }
                let result = storage.volume_op(id, &op, image, size_bytes).await;
                if let Err(e) = &result {
                    tracing::warn!(%partition, volume = %name, op = op.state(), error = %e, "volume work failed");
                }
                Command::VolumeOpDone {
                    name,
                    partition,
                    generation,
                    size_bytes: *result.as_ref().unwrap_or(&0),
                    error: result.err(),
                }
            }
        };
        if let Err(e) = self.node.propose(CONTROLLER, command).await {
            tracing::info!(error = %e, "storage report not recorded");
        }
    }
}
