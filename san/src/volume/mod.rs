//! Volumes on a storage target: qcow2 files made and changed with `qemu-img`.
//!
//! A [`VolumeStore`] owns one directory:
//!
//! ```text
//! ROOT/images/IMAGE.qcow2     registered golden images (read-only bases)
//! ROOT/volumes/VOLUME.qcow2   volumes: empty, or thin clones of an image
//! ROOT/volumes/.VOLUME.qcow2.creating   a create in progress
//! ```
//!
//! A create writes a hidden temporary file and links it to its name only
//! when `qemu-img` succeeded (never replacing an existing volume); every
//! error path removes the temporary file, so a failed create leaves nothing
//! behind. Snapshots are qcow2 internal snapshots: named restore points.
//!
//! This module must never decide who may use a volume (the manager's state
//! does), never shrink a volume, and never touch a file outside its root.
//! Restoring a snapshot of a volume a host is using corrupts the host's
//! view: callers restore only volumes that are not attached.

mod info;

pub use info::{ImageInfo, SnapshotInfo, parse_info};

use crate::error::{self, Error, Result};
use crate::names::{ImageName, Size, SnapshotName, VolumeName};
use crate::runner::{CommandRunner, CommandSpec, ProcessRunner};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The image format of every volume and golden image.
const FORMAT: &str = "qcow2";

/// Volumes (and golden images) under one directory, changed with qemu-img.
#[derive(Clone)]
pub struct VolumeStore {
    root: PathBuf,
    qemu_img: String,
    runner: Arc<dyn CommandRunner>,
}

impl std::fmt::Debug for VolumeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeStore")
            .field("root", &self.root)
            .field("qemu_img", &self.qemu_img)
            .finish_non_exhaustive()
    }
}

impl VolumeStore {
    /// A store under `root` running the real `qemu-img` as a child process.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self::with_runner(root, Arc::new(ProcessRunner::default()))
    }

    /// A store whose commands go through `runner` (a fake in unit tests).
    /// A relative `root` is made absolute (against the current directory):
    /// qemu-img resolves a clone's relative backing file against the
    /// clone's own directory, and the nvmet tree's device paths are read by
    /// other processes.
    pub fn with_runner(root: impl Into<PathBuf>, runner: Arc<dyn CommandRunner>) -> Self {
        let root = root.into();
        VolumeStore {
            root: std::path::absolute(&root).unwrap_or(root),
            qemu_img: "qemu-img".to_string(),
            runner,
        }
    }

    /// Runs `program` instead of `qemu-img` from `PATH`.
    pub fn qemu_img_program(mut self, program: impl Into<String>) -> Self {
        self.qemu_img = program.into();
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates `images/` and `volumes/` under the root if they are missing.
    pub fn init(&self) -> Result<()> {
        for dir in [self.images_dir(), self.volumes_dir()] {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", dir, e))?;
        }
        Ok(())
    }

    fn images_dir(&self) -> PathBuf {
        self.root.join("images")
    }

    fn volumes_dir(&self) -> PathBuf {
        self.root.join("volumes")
    }

    /// Where a golden image's file is (whether or not it exists).
    pub fn image_path(&self, image: &ImageName) -> PathBuf {
        self.images_dir().join(format!("{image}.{FORMAT}"))
    }

    /// Where a volume's file is (whether or not it exists): what an export
    /// serves.
    pub fn volume_path(&self, volume: &VolumeName) -> PathBuf {
        self.volumes_dir().join(format!("{volume}.{FORMAT}"))
    }

    fn creating_path(&self, dir: PathBuf, name: &str) -> PathBuf {
        // Names never start with '.', so this cannot be another object.
        dir.join(format!(".{name}.{FORMAT}.creating"))
    }

    // ---- command lines (pure, unit-tested) --------------------------------

    fn spec<I, S>(&self, args: I) -> CommandSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CommandSpec::new(self.qemu_img.clone(), args)
    }

    fn path_arg(path: &Path) -> String {
        path.to_string_lossy().into_owned()
    }

    // ---- golden images ----------------------------------------------------

    /// Registers `source` (any format qemu-img reads) as golden image
    /// `image`, converted to qcow2. Refuses an existing name.
    pub async fn register_image(&self, image: &ImageName, source: &Path) -> Result<()> {
        let path = self.image_path(image);
        if path.exists() {
            return Err(Error::ImageExists {
                image: image.to_string(),
                path,
            });
        }
        let tmp = self.creating_path(self.images_dir(), image.as_str());
        let spec = self.spec([
            "convert".to_string(),
            "-O".to_string(),
            FORMAT.to_string(),
            Self::path_arg(source),
            Self::path_arg(&tmp),
        ]);
        self.create_atomically(&spec, &tmp, &path, || Error::ImageExists {
            image: image.to_string(),
            path: path.clone(),
        })
        .await
    }

    /// Creates an empty golden image (for simulation and tests).
    pub async fn create_image(&self, image: &ImageName, size: Size) -> Result<()> {
        let path = self.image_path(image);
        if path.exists() {
            return Err(Error::ImageExists {
                image: image.to_string(),
                path,
            });
        }
        let tmp = self.creating_path(self.images_dir(), image.as_str());
        let spec = self.spec([
            "create".to_string(),
            "-f".to_string(),
            FORMAT.to_string(),
            Self::path_arg(&tmp),
            size.to_string(),
        ]);
        self.create_atomically(&spec, &tmp, &path, || Error::ImageExists {
            image: image.to_string(),
            path: path.clone(),
        })
        .await
    }

    /// What qemu-img says about a golden image (its virtual size).
    pub async fn image_info(&self, image: &ImageName) -> Result<ImageInfo> {
        let path = self.image_path(image);
        if !path.is_file() {
            return Err(Error::ImageNotFound {
                image: image.to_string(),
                path,
            });
        }
        self.info_of(&path).await
    }

    /// Removes a golden image's file; `Ok` when it is already gone. The
    /// caller makes sure no volume is a clone of it (their reads would fail).
    pub fn delete_image(&self, image: &ImageName) -> Result<()> {
        remove_if_present(&self.image_path(image))
    }

    /// Removes a volume's file; `Ok` when it is already gone (safe to
    /// repeat, as an executor may).
    pub fn remove(&self, volume: &VolumeName) -> Result<()> {
        remove_if_present(&self.volume_path(volume))
    }

    /// The registered golden images, by name.
    pub fn images(&self) -> Result<Vec<ImageName>> {
        list_names(&self.images_dir(), |n| ImageName::new(n).ok())
    }

    // ---- volumes ----------------------------------------------------------

    /// Creates an empty volume of `size` bytes.
    pub async fn create(&self, volume: &VolumeName, size: Size) -> Result<PathBuf> {
        let path = self.existing_free(volume)?;
        let tmp = self.creating_path(self.volumes_dir(), volume.as_str());
        let spec = self.spec([
            "create".to_string(),
            "-f".to_string(),
            FORMAT.to_string(),
            Self::path_arg(&tmp),
            size.to_string(),
        ]);
        self.create_atomically(&spec, &tmp, &path, || self.volume_exists(volume))
            .await?;
        Ok(path)
    }

    /// Creates a thin clone of golden image `image`: blocks the volume never
    /// wrote are read from the image. `size` defaults to the image's size.
    pub async fn clone_image(
        &self,
        volume: &VolumeName,
        image: &ImageName,
        size: Option<Size>,
    ) -> Result<PathBuf> {
        let backing = self.image_path(image);
        if !backing.is_file() {
            return Err(Error::ImageNotFound {
                image: image.to_string(),
                path: backing,
            });
        }
        let path = self.existing_free(volume)?;
        let tmp = self.creating_path(self.volumes_dir(), volume.as_str());
        let mut args = vec![
            "create".to_string(),
            "-f".to_string(),
            FORMAT.to_string(),
            "-b".to_string(),
            Self::path_arg(&backing),
            "-F".to_string(),
            FORMAT.to_string(),
            Self::path_arg(&tmp),
        ];
        if let Some(size) = size {
            args.push(size.to_string());
        }
        let spec = self.spec(args);
        self.create_atomically(&spec, &tmp, &path, || self.volume_exists(volume))
            .await?;
        Ok(path)
    }

    fn volume_exists(&self, volume: &VolumeName) -> Error {
        Error::VolumeExists {
            volume: volume.to_string(),
            path: self.volume_path(volume),
        }
    }

    fn existing_free(&self, volume: &VolumeName) -> Result<PathBuf> {
        let path = self.volume_path(volume);
        if path.exists() {
            return Err(self.volume_exists(volume));
        }
        Ok(path)
    }

    /// Runs `spec`, which writes `tmp`, then links `tmp` to `path` without
    /// replacing anything. `tmp` is gone afterwards whatever happened.
    async fn create_atomically(
        &self,
        spec: &CommandSpec,
        tmp: &Path,
        path: &Path,
        exists: impl FnOnce() -> Error,
    ) -> Result<()> {
        self.init()?;
        // A leftover from a crash: ours to remove (names never start with '.').
        remove_if_present(tmp)?;
        let result = async {
            error::run(&*self.runner, spec).await?.check(spec)?;
            match std::fs::hard_link(tmp, path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists()),
                Err(e) => Err(Error::io("link", path, e)),
            }
        }
        .await;
        let cleanup = remove_if_present(tmp);
        result?;
        cleanup
    }

    /// The volumes in this store, by name.
    pub fn volumes(&self) -> Result<Vec<VolumeName>> {
        list_names(&self.volumes_dir(), |n| VolumeName::new(n).ok())
    }

    fn existing(&self, volume: &VolumeName) -> Result<PathBuf> {
        let path = self.volume_path(volume);
        if !path.is_file() {
            return Err(Error::VolumeNotFound {
                volume: volume.to_string(),
                path,
            });
        }
        Ok(path)
    }

    /// What qemu-img says about the volume (sizes, backing image, snapshots).
    pub async fn info(&self, volume: &VolumeName) -> Result<ImageInfo> {
        let path = self.existing(volume)?;
        self.info_of(&path).await
    }

    async fn info_of(&self, path: &Path) -> Result<ImageInfo> {
        // -U: read even while a server holds the image open.
        let spec = self.spec([
            "info".to_string(),
            "-U".to_string(),
            "--output=json".to_string(),
            Self::path_arg(path),
        ]);
        let out = error::run(&*self.runner, &spec).await?.check(&spec)?;
        parse_info(&spec.to_string(), &out.stdout)
    }

    /// Grows the volume to `size` bytes; refuses to shrink it.
    pub async fn resize(&self, volume: &VolumeName, size: Size) -> Result<()> {
        let path = self.existing(volume)?;
        let current = self.info_of(&path).await?.virtual_size;
        if size.bytes() < current {
            return Err(Error::ShrinkRefused {
                volume: volume.to_string(),
                current,
                requested: size.bytes(),
            });
        }
        if size.bytes() == current {
            return Ok(());
        }
        let spec = self.spec([
            "resize".to_string(),
            "-f".to_string(),
            FORMAT.to_string(),
            Self::path_arg(&path),
            size.to_string(),
        ]);
        error::run(&*self.runner, &spec).await?.check(&spec)?;
        Ok(())
    }

    /// The volume's snapshots (restore points), oldest first.
    pub async fn snapshots(&self, volume: &VolumeName) -> Result<Vec<SnapshotInfo>> {
        Ok(self.info(volume).await?.snapshots)
    }

    async fn has_snapshot(&self, path: &Path, snapshot: &SnapshotName) -> Result<bool> {
        Ok(self
            .info_of(path)
            .await?
            .snapshots
            .iter()
            .any(|s| s.name == snapshot.as_str()))
    }

    /// Records the volume's current contents as restore point `snapshot`.
    pub async fn snapshot(&self, volume: &VolumeName, snapshot: &SnapshotName) -> Result<()> {
        let path = self.existing(volume)?;
        if self.has_snapshot(&path, snapshot).await? {
            return Err(Error::SnapshotExists {
                volume: volume.to_string(),
                snapshot: snapshot.to_string(),
            });
        }
        self.snapshot_op("-c", &path, snapshot).await
    }

    /// Puts the volume back to restore point `snapshot` (later writes are
    /// lost; the snapshot stays).
    pub async fn restore(&self, volume: &VolumeName, snapshot: &SnapshotName) -> Result<()> {
        self.existing_snapshot_op("-a", volume, snapshot).await
    }

    /// Deletes restore point `snapshot`.
    pub async fn delete_snapshot(
        &self,
        volume: &VolumeName,
        snapshot: &SnapshotName,
    ) -> Result<()> {
        self.existing_snapshot_op("-d", volume, snapshot).await
    }

    async fn existing_snapshot_op(
        &self,
        flag: &str,
        volume: &VolumeName,
        snapshot: &SnapshotName,
    ) -> Result<()> {
        let path = self.existing(volume)?;
        if !self.has_snapshot(&path, snapshot).await? {
            return Err(Error::SnapshotNotFound {
                volume: volume.to_string(),
                snapshot: snapshot.to_string(),
            });
        }
        self.snapshot_op(flag, &path, snapshot).await
    }

    async fn snapshot_op(&self, flag: &str, path: &Path, snapshot: &SnapshotName) -> Result<()> {
        let spec = self.spec([
            "snapshot".to_string(),
            flag.to_string(),
            snapshot.to_string(),
            Self::path_arg(path),
        ]);
        error::run(&*self.runner, &spec).await?.check(&spec)?;
        Ok(())
    }

    /// Deletes the volume's file (and with it its snapshots).
    pub fn delete(&self, volume: &VolumeName) -> Result<()> {
        let path = self.existing(volume)?;
        std::fs::remove_file(&path).map_err(|e| Error::io("delete", path, e))
    }
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

/// Names of `*.qcow2` files in `dir` that `parse` accepts, sorted; a
/// missing directory is empty.
fn list_names<T: Ord>(dir: &Path, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let file_name = entry.file_name();
        let Some(stem) = file_name.to_str().and_then(|n| n.strip_suffix(".qcow2")) else {
            continue;
        };
        if let Some(name) = parse(stem) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests;
