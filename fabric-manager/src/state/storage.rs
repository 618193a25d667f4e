//! Golden images and SAN volumes: records, their pending storage work, and
//! the reports of the storage executor.
//!
//! A create, resize, snapshot, restore or delete is recorded as the volume's
//! `op` with a fresh generation; the leader's storage executor does the work
//! on the target and reports `VolumeOpDone` with that generation (a report
//! about any other generation changes nothing). A failed create removes the
//! record, so nothing is half-created; any other failure leaves the volume
//! as it was, with the reason in `last_error`. Still pure: no I/O here.

use super::push_event as push;
use super::{
    Event, Executed, Image, ImageOp, ImageSource, MAX_VOLUME_BYTES, Made, State, StateError,
    Volume, VolumeOp, VolumeSnapshot, check_name, check_text, invalid, not_found,
};
use pan_api::{ImageId, PartitionId, VolumeId};

/// How many failed-create reasons the state keeps.
pub const MAX_CREATE_FAILURES: usize = 1024;

/// Most restore points one volume keeps.
pub const MAX_SNAPSHOTS: usize = 64;

/// Storage work for the leader's executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageWork {
    Image {
        id: ImageId,
        name: String,
        generation: u64,
        op: ImageOp,
        source: ImageSource,
        size_bytes: u64,
    },
    Volume {
        id: VolumeId,
        partition: String,
        name: String,
        generation: u64,
        op: VolumeOp,
        /// Golden image to clone from (for `Create`).
        image: Option<ImageId>,
        size_bytes: u64,
    },
}

/// A volume as the server executor attaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeWork {
    pub id: VolumeId,
    pub name: String,
}

/// The bytes a volume counts against its partition's volume bytes quota:
/// its size, or the target of a pending resize if that is larger (so two
/// resizes in flight cannot together pass the limit).
pub(super) fn volume_charge(v: &Volume) -> u64 {
    match &v.op {
        Some(VolumeOp::Resize { size_bytes }) => v.size_bytes.max(*size_bytes),
        _ => v.size_bytes,
    }
}

fn check_size(object: &str, size_bytes: u64) -> Result<(), StateError> {
    if size_bytes == 0 || size_bytes > MAX_VOLUME_BYTES {
        return Err(invalid(
            object.to_string(),
            "size",
            format!("{size_bytes} bytes is out of range; use 512 bytes to 1 PiB"),
        ));
    }
    if !size_bytes.is_multiple_of(512) {
        return Err(invalid(
            object.to_string(),
            "size",
            format!("{size_bytes} bytes is not a multiple of 512; round it up"),
        ));
    }
    Ok(())
}

impl State {
    fn image_id(&self, name: &str) -> Result<ImageId, StateError> {
        self.index
            .image_by_name
            .get(name)
            .copied()
            .ok_or_else(|| not_found(format!("image '{name}'"), "image list"))
    }

    fn next_op_generation(&mut self) -> u64 {
        let g = self.next_generation;
        self.next_generation += 1;
        g
    }

    pub(super) fn add_image(
        &mut self,
        name: &str,
        source_path: Option<&str>,
        size_bytes: u64,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        check_name("image", name)?;
        let object = format!("image '{name}'");
        if self.index.image_by_name.contains_key(name) {
            return Err(StateError::AlreadyExists { object });
        }
        let source = match source_path {
            Some(path) => {
                check_text(&object, "source file", path, 4096)?;
                if !path.starts_with('/') {
                    return Err(invalid(
                        object,
                        "source file",
                        format!(
                            "{path:?} is not an absolute path; give the file's full path on the manager's host"
                        ),
                    ));
                }
                ImageSource::File {
                    path: path.to_string(),
                }
            }
            None => {
                check_size(&object, size_bytes)?;
                ImageSource::Empty
            }
        };
        let id = ImageId(self.alloc_id());
        let generation = self.next_op_generation();
        self.images.insert(
            id,
            Image {
                id,
                name: name.to_string(),
                size_bytes: if source == ImageSource::Empty {
                    size_bytes
                } else {
                    0
                },
                source,
                op: Some(ImageOp::Create),
                op_generation: generation,
                last_error: None,
                created_at_ms: at_ms,
            },
        );
        self.index.image_by_name.insert(name.to_string(), id);
        self.index.storage_images.insert(id);
        push(events, "image.creating", format!("image/{name}"), None);
        Ok(Made::Image(id))
    }

    pub(super) fn delete_image(&mut self, name: &str, events: &mut Vec<Event>) -> Executed {
        let id = self.image_id(name)?;
        if let Some(users) = self.index.image_volumes.get(&id).filter(|v| !v.is_empty()) {
            return Err(StateError::InUse {
                object: format!("image '{name}'"),
                users: format!(
                    "{} volume(s) cloned from it ({})",
                    users.len(),
                    users
                        .iter()
                        .take(5)
                        .map(|v| self.volume_path(*v))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                remedy: "delete those volumes first; a thin clone reads its image".to_string(),
            });
        }
        if let Some(op) = self.images[&id].op {
            return Err(StateError::InvalidTransition {
                object: format!("image '{name}'"),
                state: image_state(Some(op)).to_string(),
                remedy: "wait until that finishes".to_string(),
            });
        }
        let generation = self.next_op_generation();
        let image = self.images.get_mut(&id).expect("looked up");
        image.op = Some(ImageOp::Delete);
        image.op_generation = generation;
        self.index.storage_images.insert(id);
        push(events, "image.deleting", format!("image/{name}"), None);
        Ok(Made::Image(id))
    }

    pub(super) fn image_op_done(
        &mut self,
        name: &str,
        generation: u64,
        size_bytes: u64,
        error: Option<&str>,
        events: &mut Vec<Event>,
    ) -> Executed {
        let id = self.image_id(name)?;
        let image = &self.images[&id];
        let Some(op) = image.op.filter(|_| image.op_generation == generation) else {
            return Err(StateError::InvalidTransition {
                object: format!("image '{name}' generation {generation}"),
                state: "no longer pending".to_string(),
                remedy: "the report is stale and was ignored".to_string(),
            });
        };
        self.index.storage_images.remove(&id);
        let object = format!("image/{name}");
        match (op, error) {
            (ImageOp::Create, None) => {
                let image = self.images.get_mut(&id).expect("looked up");
                image.op = None;
                image.size_bytes = size_bytes;
                image.last_error = None;
                push(events, "image.ready", object, None);
                Ok(Made::Image(id))
            }
            (ImageOp::Delete, None) | (ImageOp::Create, Some(_)) => {
                if let Some(reason) = error {
                    self.remember_create_failure(id.0, reason);
                }
                self.images.remove(&id);
                self.index.image_by_name.remove(name);
                self.index.image_volumes.remove(&id);
                let kind = if op == ImageOp::Create {
                    "image.create_failed"
                } else {
                    "image.deleted"
                };
                push(events, kind, object, None);
                Ok(Made::Deleted)
            }
            (ImageOp::Delete, Some(reason)) => {
                let image = self.images.get_mut(&id).expect("looked up");
                image.op = None;
                image.last_error = Some(reason.to_string());
                push(events, "image.delete_failed", object, None);
                Ok(Made::Image(id))
            }
        }
    }

    pub(super) fn create_volume(
        &mut self,
        partition: &str,
        name: &str,
        size_bytes: u64,
        image: Option<&str>,
        events: &mut Vec<Event>,
    ) -> Executed {
        let partition_id = self.partition_id(partition)?;
        check_name("volume", name)?;
        let object = format!("volume '{name}' in partition '{partition}'");
        if self
            .index
            .volume_by_name
            .contains_key(&(partition_id, name.to_string()))
        {
            return Err(StateError::AlreadyExists { object });
        }
        let (image_id, size) = match image {
            Some(image_name) => {
                let image_id = self.image_id(image_name)?;
                let image = &self.images[&image_id];
                if image.op.is_some() {
                    return Err(StateError::InvalidTransition {
                        object: format!("image '{image_name}'"),
                        state: image_state(image.op).to_string(),
                        remedy: "wait until it is ready (`panctl image list`)".to_string(),
                    });
                }
                let size = if size_bytes == 0 {
                    image.size_bytes
                } else {
                    size_bytes
                };
                check_size(&object, size)?;
                if size < image.size_bytes {
                    return Err(invalid(
                        object,
                        "size",
                        format!(
                            "{size} bytes is smaller than image '{image_name}' ({} bytes); \
                             leave --size out or give at least the image's size",
                            image.size_bytes
                        ),
                    ));
                }
                (Some(image_id), size)
            }
            None => {
                check_size(&object, size_bytes)?;
                (None, size_bytes)
            }
        };
        self.check_quota(partition_id, &partitions::QuotaRequest::volume(size))?;
        let id = VolumeId(self.alloc_id());
        let generation = self.next_op_generation();
        self.volumes.insert(
            id,
            Volume {
                id,
                name: name.to_string(),
                partition: partition_id,
                size_bytes: size,
                image: image_id,
                snapshots: Vec::new(),
                op: Some(VolumeOp::Create),
                op_generation: generation,
                last_error: None,
            },
        );
        self.index
            .volume_by_name
            .insert((partition_id, name.to_string()), id);
        self.index
            .partition_volumes
            .entry(partition_id)
            .or_default()
            .insert(id);
        if let Some(image_id) = image_id {
            self.index
                .image_volumes
                .entry(image_id)
                .or_default()
                .insert(id);
        }
        self.index.storage_volumes.insert(id);
        self.recharge_volume_bytes(partition_id, 0, size);
        push(
            events,
            "volume.creating",
            format!("volume/{partition}/{name}"),
            Some(partition),
        );
        Ok(Made::Volume(id))
    }

    /// Looks a volume up for an operation: it must exist and have no work
    /// pending.
    fn idle_volume(
        &self,
        partition: &str,
        name: &str,
    ) -> Result<(PartitionId, VolumeId), StateError> {
        let partition_id = self.partition_id(partition)?;
        let id = self.volume_id(partition_id, partition, name)?;
        if let Some(op) = &self.volumes[&id].op {
            return Err(StateError::InvalidTransition {
                object: format!("volume '{name}' in partition '{partition}'"),
                state: op.state().to_string(),
                remedy: "wait until that finishes (`panctl volume show`)".to_string(),
            });
        }
        Ok((partition_id, id))
    }

    /// Refuses when the volume's server is placed on a blade: its bytes are
    /// in use by a host.
    fn check_not_in_use(&self, id: VolumeId, what: &str) -> Result<(), StateError> {
        if let Some(server) = self.index.volume_users.get(&id)
            && let Some(s) = self.servers.get(server)
            && s.blade.is_some()
        {
            return Err(StateError::InUse {
                object: self.volume_object(id),
                users: format!("server {} (it is {})", self.server_path(*server), s.state),
                remedy: format!("stop the server before you {what} the volume"),
            });
        }
        Ok(())
    }

    fn volume_object(&self, id: VolumeId) -> String {
        let v = &self.volumes[&id];
        format!(
            "volume '{}' in partition '{}'",
            v.name, self.partitions[&v.partition].name
        )
    }

    fn volume_path(&self, id: VolumeId) -> String {
        let v = &self.volumes[&id];
        format!("{}/{}", self.partitions[&v.partition].name, v.name)
    }

    fn begin_volume_op(&mut self, id: VolumeId, op: VolumeOp, events: &mut Vec<Event>) -> Executed {
        let generation = self.next_op_generation();
        let kind = format!("volume.{}", op.state());
        let path = self.volume_path(id);
        let partition_id = self.volumes[&id].partition;
        let partition = self.partitions[&partition_id].name.clone();
        let v = self.volumes.get_mut(&id).expect("looked up");
        let before = volume_charge(v);
        v.op = Some(op);
        v.op_generation = generation;
        let after = volume_charge(v);
        self.recharge_volume_bytes(partition_id, before, after);
        self.index.storage_volumes.insert(id);
        push(events, &kind, format!("volume/{path}"), Some(&partition));
        Ok(Made::Volume(id))
    }

    pub(super) fn delete_volume(
        &mut self,
        partition: &str,
        name: &str,
        events: &mut Vec<Event>,
    ) -> Executed {
        let (_, id) = self.idle_volume(partition, name)?;
        if let Some(server) = self.index.volume_users.get(&id) {
            let s = &self.servers[server];
            let role = if s.boot_volume == Some(id) {
                "boot volume"
            } else {
                "data volume"
            };
            return Err(StateError::InUse {
                object: format!("volume '{name}' in partition '{partition}'"),
                users: format!(
                    "server {} ({role}; the server is {})",
                    self.server_path(*server),
                    s.state
                ),
                remedy: "delete the server first; a volume is deleted only when nothing is attached to it"
                    .to_string(),
            });
        }
        self.begin_volume_op(id, VolumeOp::Delete, events)
    }

    pub(super) fn resize_volume(
        &mut self,
        partition: &str,
        name: &str,
        size_bytes: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let (partition_id, id) = self.idle_volume(partition, name)?;
        let object = format!("volume '{name}' in partition '{partition}'");
        check_size(&object, size_bytes)?;
        let current = self.volumes[&id].size_bytes;
        if size_bytes < current {
            return Err(invalid(
                object,
                "size",
                format!(
                    "{size_bytes} bytes is smaller than its {current} bytes; volumes only grow \
                     (shrinking would cut off data)"
                ),
            ));
        }
        self.check_not_in_use(id, "resize")?;
        let growth = size_bytes - volume_charge(&self.volumes[&id]).min(size_bytes);
        self.check_quota(
            partition_id,
            &partitions::QuotaRequest {
                volume_bytes: growth,
                ..partitions::QuotaRequest::default()
            },
        )?;
        self.begin_volume_op(id, VolumeOp::Resize { size_bytes }, events)
    }

    pub(super) fn snapshot_volume(
        &mut self,
        partition: &str,
        name: &str,
        snapshot: &str,
        events: &mut Vec<Event>,
    ) -> Executed {
        let (_, id) = self.idle_volume(partition, name)?;
        check_name("snapshot", snapshot)?;
        let v = &self.volumes[&id];
        if v.snapshots.iter().any(|s| s.name == snapshot) {
            return Err(StateError::AlreadyExists {
                object: format!(
                    "snapshot '{snapshot}' of volume '{name}' in partition '{partition}'"
                ),
            });
        }
        if v.snapshots.len() >= MAX_SNAPSHOTS {
            return Err(invalid(
                format!("volume '{name}' in partition '{partition}'"),
                "snapshot",
                format!(
                    "it already has {MAX_SNAPSHOTS} snapshots; delete one first (`panctl volume delete-snapshot`)"
                ),
            ));
        }
        self.check_not_in_use(id, "snapshot")?;
        self.begin_volume_op(
            id,
            VolumeOp::Snapshot {
                name: snapshot.to_string(),
            },
            events,
        )
    }

    fn existing_snapshot(
        &self,
        id: VolumeId,
        partition: &str,
        name: &str,
        snapshot: &str,
    ) -> Result<(), StateError> {
        if self.volumes[&id]
            .snapshots
            .iter()
            .any(|s| s.name == snapshot)
        {
            Ok(())
        } else {
            Err(not_found(
                format!("snapshot '{snapshot}' of volume '{name}' in partition '{partition}'"),
                &format!("volume show {name} --partition {partition}"),
            ))
        }
    }

    pub(super) fn restore_volume(
        &mut self,
        partition: &str,
        name: &str,
        snapshot: &str,
        events: &mut Vec<Event>,
    ) -> Executed {
        let (_, id) = self.idle_volume(partition, name)?;
        self.existing_snapshot(id, partition, name, snapshot)?;
        self.check_not_in_use(id, "restore")?;
        self.begin_volume_op(
            id,
            VolumeOp::Restore {
                name: snapshot.to_string(),
            },
            events,
        )
    }

    pub(super) fn delete_snapshot(
        &mut self,
        partition: &str,
        name: &str,
        snapshot: &str,
        events: &mut Vec<Event>,
    ) -> Executed {
        let (_, id) = self.idle_volume(partition, name)?;
        self.existing_snapshot(id, partition, name, snapshot)?;
        self.check_not_in_use(id, "delete a snapshot of")?;
        self.begin_volume_op(
            id,
            VolumeOp::DeleteSnapshot {
                name: snapshot.to_string(),
            },
            events,
        )
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn volume_op_done(
        &mut self,
        partition: &str,
        name: &str,
        generation: u64,
        size_bytes: u64,
        error: Option<&str>,
        at_ms: u64,
        events: &mut Vec<Event>,
    ) -> Executed {
        let partition_id = self.partition_id(partition)?;
        let id = self.volume_id(partition_id, partition, name)?;
        let v = &self.volumes[&id];
        let Some(op) = v.op.clone().filter(|_| v.op_generation == generation) else {
            return Err(StateError::InvalidTransition {
                object: format!(
                    "volume '{name}' in partition '{partition}' generation {generation}"
                ),
                state: "no longer pending".to_string(),
                remedy: "the report is stale and was ignored".to_string(),
            });
        };
        let charged = volume_charge(v);
        self.index.storage_volumes.remove(&id);
        let object = format!("volume/{partition}/{name}");
        let removed = matches!(
            (&op, error),
            (VolumeOp::Create, Some(_)) | (VolumeOp::Delete, None)
        );
        if removed {
            let v = self.volumes.remove(&id).expect("looked up");
            self.recharge_volume_bytes(partition_id, charged, 0);
            self.index
                .volume_by_name
                .remove(&(partition_id, name.to_string()));
            if let Some(set) = self.index.partition_volumes.get_mut(&partition_id) {
                set.remove(&id);
            }
            if let Some(set) = v.image.and_then(|i| self.index.image_volumes.get_mut(&i)) {
                set.remove(&id);
            }
            let kind = if op == VolumeOp::Create {
                "volume.create_failed"
            } else {
                "volume.deleted"
            };
            push(events, kind, object, Some(partition));
            if let Some(reason) = error {
                self.remember_create_failure(id.0, reason);
            }
            return Ok(Made::Deleted);
        }
        let v = self.volumes.get_mut(&id).expect("looked up");
        v.op = None;
        match error {
            Some(reason) => {
                v.last_error = Some(format!("{} failed: {reason}", op.state()));
                push(
                    events,
                    &format!("volume.{}_failed", op.state()),
                    object,
                    Some(partition),
                );
            }
            None => {
                v.last_error = None;
                match op.clone() {
                    VolumeOp::Create | VolumeOp::Resize { .. } => v.size_bytes = size_bytes,
                    VolumeOp::Snapshot { name: snap } => v.snapshots.push(VolumeSnapshot {
                        name: snap,
                        created_at_ms: at_ms,
                    }),
                    VolumeOp::DeleteSnapshot { name: snap } => {
                        v.snapshots.retain(|s| s.name != snap);
                    }
                    VolumeOp::Restore { .. } | VolumeOp::Delete => {}
                }
                let kind = match op {
                    VolumeOp::Create => "volume.ready",
                    VolumeOp::Resize { .. } => "volume.resized",
                    VolumeOp::Snapshot { .. } => "volume.snapshotted",
                    VolumeOp::Restore { .. } => "volume.restored",
                    VolumeOp::DeleteSnapshot { .. } => "volume.snapshot_deleted",
                    VolumeOp::Delete => "volume.deleted",
                };
                push(events, kind, object, Some(partition));
            }
        }
        let after = volume_charge(&self.volumes[&id]);
        self.recharge_volume_bytes(partition_id, charged, after);
        Ok(Made::Volume(id))
    }

    /// Moves a partition's volume bytes from `before` to `after` for one
    /// volume whose charge changed.
    fn recharge_volume_bytes(&mut self, partition: PartitionId, before: u64, after: u64) {
        let total = self
            .index
            .partition_volume_bytes
            .entry(partition)
            .or_default();
        *total = total.saturating_sub(before).saturating_add(after);
    }

    /// Keeps why a create failed, for the caller waiting on it (the record
    /// itself is gone). Bounded: the oldest reasons are dropped first.
    fn remember_create_failure(&mut self, id: u64, reason: &str) {
        self.create_failures.insert(id, reason.to_string());
        while self.create_failures.len() > MAX_CREATE_FAILURES {
            self.create_failures.pop_first();
        }
    }

    /// Why the create of image or volume `id` failed, if it did recently.
    pub fn create_failure(&self, id: u64) -> Option<&str> {
        self.create_failures.get(&id).map(String::as_str)
    }

    /// Every image and volume with storage work pending, for the executor.
    pub fn pending_storage_work(&self) -> Vec<StorageWork> {
        let images = self.index.storage_images.iter().filter_map(|id| {
            let i = self.images.get(id)?;
            Some(StorageWork::Image {
                id: *id,
                name: i.name.clone(),
                generation: i.op_generation,
                op: i.op?,
                source: i.source.clone(),
                size_bytes: i.size_bytes,
            })
        });
        let volumes = self.index.storage_volumes.iter().filter_map(|id| {
            let v = self.volumes.get(id)?;
            Some(StorageWork::Volume {
                id: *id,
                partition: self.partitions[&v.partition].name.clone(),
                name: v.name.clone(),
                generation: v.op_generation,
                op: v.op.clone()?,
                image: v.image,
                size_bytes: v.size_bytes,
            })
        });
        images.chain(volumes).collect()
    }

    /// An image's view by name.
    pub fn image(&self, name: &str) -> Result<super::ImageView, StateError> {
        Ok(self.image_view(self.image_id(name)?))
    }

    /// Every image, in name order.
    pub fn images(&self) -> Vec<super::ImageView> {
        self.index
            .image_by_name
            .values()
            .map(|id| self.image_view(*id))
            .collect()
    }

    /// One volume by partition and name.
    pub fn volume(&self, partition: &str, name: &str) -> Result<super::VolumeView, StateError> {
        let pid = self.partition_id(partition)?;
        Ok(self.volume_view(self.volume_id(pid, partition, name)?))
    }

    pub(super) fn image_view(&self, id: ImageId) -> super::ImageView {
        let i = &self.images[&id];
        super::ImageView {
            id: id.0,
            name: i.name.clone(),
            size_bytes: i.size_bytes,
            state: image_state(i.op).to_string(),
            volumes: u32::try_from(self.index.image_volumes.get(&id).map_or(0, |s| s.len()))
                .unwrap_or(u32::MAX),
            last_error: i.last_error.clone(),
        }
    }
}

fn image_state(op: Option<ImageOp>) -> &'static str {
    match op {
        None => "ready",
        Some(ImageOp::Create) => "creating",
        Some(ImageOp::Delete) => "deleting",
    }
}

/// The NVMe subsystem NQN a volume is exported as.
pub fn volume_nqn(id: VolumeId) -> String {
    format!("{}{}", san::nvmet::VOLUME_NQN_PREFIX, id.0)
}
