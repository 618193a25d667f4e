//! [`ConfigfsTarget`]: a [`StorageTarget`] that writes the nvmet configfs
//! tree with plain file-system calls.
//!
//! The same code drives the kernel's configfs and an ordinary directory:
//! directories are made with `mkdir` (configfs fills in attributes and
//! default groups; a plain directory gets only what is written), attributes
//! are written whole without a newline (as nvmetcli does) and read back
//! trimmed, links are symlinks with **absolute** targets (configfs resolves
//! a link target relative to the caller's working directory, not the link),
//! and removal unlinks links and attribute files where it can and then
//! `rmdir`s (configfs refuses to unlink attributes and drops them with their
//! directory; only the final `rmdir` decides success).
//!
//! Order matters to the kernel and to safety: `attr_allow_any_host = 0` is
//! written before a namespace is enabled or the subsystem is linked to a
//! port, `device_path` before `enable`, port addresses before the first
//! subsystem link. It must never follow a symlink while removing.

use super::{NAMESPACE_ID, Nqn, PortConfig, StorageTarget};
use crate::error::{Error, Result};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The production root of the nvmet configfs tree.
pub const KERNEL_ROOT: &str = "/sys/kernel/config/nvmet";

/// Exports volumes by writing an nvmet configfs tree under `root`.
#[derive(Clone, Debug)]
pub struct ConfigfsTarget {
    root: PathBuf,
    port: PortConfig,
}

impl ConfigfsTarget {
    /// A target writing under `root` (production: [`KERNEL_ROOT`]) and
    /// exporting on `port`.
    pub fn new(root: impl Into<PathBuf>, port: PortConfig) -> Result<Self> {
        port.check()?;
        Ok(ConfigfsTarget {
            root: root.into(),
            port,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn port(&self) -> &PortConfig {
        &self.port
    }

    fn subsystem_dir(&self, nqn: &Nqn) -> PathBuf {
        self.root.join("subsystems").join(nqn.as_str())
    }

    fn namespace_dir(&self, nqn: &Nqn) -> PathBuf {
        self.subsystem_dir(nqn)
            .join("namespaces")
            .join(NAMESPACE_ID.to_string())
    }

    fn host_dir(&self, host: &Nqn) -> PathBuf {
        self.root.join("hosts").join(host.as_str())
    }

    fn allowed_link(&self, nqn: &Nqn, host: &Nqn) -> PathBuf {
        self.subsystem_dir(nqn)
            .join("allowed_hosts")
            .join(host.as_str())
    }

    fn port_dir(&self) -> PathBuf {
        self.root.join("ports").join(self.port.id.to_string())
    }

    fn existing_subsystem(&self, nqn: &Nqn) -> Result<PathBuf> {
        let dir = self.subsystem_dir(nqn);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::ExportNotFound {
                nqn: nqn.to_string(),
            })
        }
    }

    /// Creates the port directory and sets its address, refusing to change
    /// a port that already serves subsystems.
    fn ensure_port(&self) -> Result<()> {
        let dir = self.port_dir();
        mkdir_all(&dir)?;
        let linked = dir.join("subsystems");
        let in_use = list_dir(&linked)?.next().is_some();
        for (attribute, want) in self.port.attributes() {
            let path = dir.join(attribute);
            let have = read_attr(&path)?.unwrap_or_default();
            if have == want {
                continue;
            }
            if in_use && !have.is_empty() {
                return Err(Error::PortConflict {
                    port: self.port.id,
                    attribute,
                    existing: have,
                    requested: want,
                });
            }
            write_attr(&path, &want)?;
        }
        mkdir_all(&linked)
    }
}

impl StorageTarget for ConfigfsTarget {
    fn export(&self, volume: &Nqn, device_path: &Path) -> Result<()> {
        let requested = device_path.to_string_lossy().into_owned();
        let ns = self.namespace_dir(volume);
        let device_attr = ns.join("device_path");
        if let Some(existing) = read_attr(&device_attr)?
            && !existing.is_empty()
            && existing != requested
        {
            return Err(Error::ExportConflict {
                nqn: volume.to_string(),
                existing,
                requested,
            });
        }
        self.ensure_port()?;
        let subsystem = self.subsystem_dir(volume);
        mkdir_all(&subsystem)?;
        // Closed before anything can be reached.
        write_attr(&subsystem.join("attr_allow_any_host"), "0")?;
        mkdir_all(&subsystem.join("allowed_hosts"))?;
        mkdir_all(&ns)?;
        let enable = ns.join("enable");
        if read_attr(&enable)?.as_deref() != Some("1") {
            write_attr(&device_attr, &requested)?;
            write_attr(&enable, "1")?;
        }
        let link = self.port_dir().join("subsystems").join(volume.as_str());
        ensure_symlink(&subsystem, &link)?;

        // Read back.
        let object = format!("volume export {volume}");
        let not_applied = |detail: String| Error::NotApplied {
            object: object.clone(),
            detail,
        };
        if read_attr(&subsystem.join("attr_allow_any_host"))?.as_deref() != Some("0") {
            return Err(not_applied("attr_allow_any_host is not 0".into()));
        }
        if read_attr(&device_attr)?.as_deref() != Some(requested.as_str()) {
            return Err(not_applied("device_path reads back differently".into()));
        }
        if read_attr(&enable)?.as_deref() != Some("1") {
            return Err(not_applied("namespace 1 is not enabled".into()));
        }
        Ok(())
    }

    fn grant(&self, volume: &Nqn, host: &Nqn) -> Result<()> {
        let subsystem = self.existing_subsystem(volume)?;
        let host_dir = self.host_dir(host);
        mkdir_all(&host_dir)?;
        mkdir_all(&subsystem.join("allowed_hosts"))?;
        ensure_symlink(&host_dir, &self.allowed_link(volume, host))?;
        if !self.allowed_hosts(volume)?.contains(host) {
            return Err(Error::NotApplied {
                object: format!("access of host {host} to {volume}"),
                detail: "the host is not in allowed_hosts after granting".into(),
            });
        }
        Ok(())
    }

    fn revoke(&self, volume: &Nqn, host: &Nqn) -> Result<()> {
        if !self.subsystem_dir(volume).is_dir() {
            // No export, no access: nothing to revoke.
            return Ok(());
        }
        let link = self.allowed_link(volume, host);
        match std::fs::remove_file(&link) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove host link", link, e)),
        }
        if self.allowed_hosts(volume)?.contains(host) {
            return Err(Error::NotApplied {
                object: format!("access of host {host} to {volume}"),
                detail: "the host is still in allowed_hosts after revoking".into(),
            });
        }
        Ok(())
    }

    fn unexport(&self, volume: &Nqn) -> Result<()> {
        let subsystem = self.subsystem_dir(volume);
        // Unlink from every port first, so no new connection can start.
        for port in list_dir(&self.root.join("ports"))? {
            let link = port?.join("subsystems").join(volume.as_str());
            remove_link_if_present(&link)?;
        }
        if !subsystem.is_dir() {
            return Ok(());
        }
        for link in list_dir(&subsystem.join("allowed_hosts"))? {
            remove_link_if_present(&link?)?;
        }
        for ns in list_dir(&subsystem.join("namespaces"))? {
            let ns = ns?;
            let enable = ns.join("enable");
            if read_attr(&enable)?.as_deref() == Some("1") {
                write_attr(&enable, "0")?;
            }
        }
        remove_config_dir(&subsystem)
    }

    fn allowed_hosts(&self, volume: &Nqn) -> Result<Vec<Nqn>> {
        let subsystem = self.existing_subsystem(volume)?;
        let mut hosts = Vec::new();
        for entry in list_dir(&subsystem.join("allowed_hosts"))? {
            let entry = entry?;
            let name = file_name(&entry);
            hosts.push(Nqn::parse(name).map_err(|_| Error::UnexpectedOutput {
                command: format!("read {}", entry.display()),
                detail: "an allowed_hosts entry is not an NQN".into(),
            })?);
        }
        hosts.sort();
        Ok(hosts)
    }

    fn exports(&self) -> Result<Vec<Nqn>> {
        let mut out = Vec::new();
        for entry in list_dir(&self.root.join("subsystems"))? {
            if let Ok(nqn) = Nqn::parse(file_name(&entry?)) {
                out.push(nqn);
            }
        }
        out.sort();
        Ok(out)
    }
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn mkdir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))
}

/// An attribute's value, trimmed; `None` when the file does not exist.
pub(super) fn read_attr(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn write_attr(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| Error::io("write", path, e))
}

/// The entries of `dir`, as paths; a missing directory has none.
pub(super) fn list_dir(dir: &Path) -> Result<impl Iterator<Item = Result<PathBuf>> + use<>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => Some(entries),
        Err(e) if e.kind() == ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    let dir = dir.to_path_buf();
    Ok(entries.into_iter().flatten().map(move |entry| {
        entry
            .map(|e| e.path())
            .map_err(|e| Error::io("list", dir.clone(), e))
    }))
}

/// Makes `link` point at `target` unless it already does.
fn ensure_symlink(target: &Path, link: &Path) -> Result<()> {
    match std::fs::read_link(link) {
        Ok(existing) if existing == target => return Ok(()),
        Ok(_) => remove_link_if_present(link)?,
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read link", link, e)),
    }
    match std::os::unix::fs::symlink(target, link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("link", link, e)),
    }
}

fn remove_link_if_present(link: &Path) -> Result<()> {
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::remove_file(link).map_err(|e| Error::io("remove link", link, e))
        }
        Ok(_) => Err(Error::io(
            "remove link",
            link,
            std::io::Error::other("it is not a symlink; leaving it alone"),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("inspect", link, e)),
    }
}

/// Removes a configfs directory: links and (on a plain file system)
/// attribute files go first, subdirectories depth first; failures below the
/// top are ignored because configfs drops attributes and default groups
/// only with their parent. The final `rmdir` decides.
fn remove_config_dir(dir: &Path) -> Result<()> {
    fn clear(dir: &Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => {
                    clear(&path);
                    let _ = std::fs::remove_dir(&path);
                }
                Ok(_) => {
                    let _ = std::fs::remove_file(&path);
                }
                Err(_) => {}
            }
        }
    }
    clear(dir);
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove directory", dir, e)),
    }
}
