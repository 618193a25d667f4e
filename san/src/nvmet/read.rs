//! Reading an nvmet configfs tree back into values ([`read_tree`]).
//!
//! Used to check what a target really serves and by the fake `nvme` to
//! decide who may connect, the way the kernel would: a host reaches a
//! subsystem only through a port the subsystem is linked to, and only if
//! the subsystem allows any host or lists that host. Entries that are not
//! valid NQNs or port ids are skipped. It must never write.

use super::Nqn;
use super::configfs::{file_name, list_dir, read_attr};
use crate::error::Result;
use std::path::{Path, PathBuf};

/// Everything a target serves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetTree {
    pub ports: Vec<PortView>,
    pub subsystems: Vec<SubsystemView>,
}

/// One `ports/ID/` directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortView {
    pub id: u16,
    pub trtype: String,
    pub adrfam: String,
    pub traddr: String,
    pub trsvcid: String,
    /// Subsystems linked to this port, sorted.
    pub subsystems: Vec<Nqn>,
}

/// One `subsystems/NQN/` directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubsystemView {
    pub nqn: Nqn,
    pub allow_any_host: bool,
    /// Sorted.
    pub allowed_hosts: Vec<Nqn>,
    /// By namespace id.
    pub namespaces: Vec<NamespaceView>,
}

/// One `namespaces/NSID/` directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamespaceView {
    pub nsid: u32,
    pub device_path: PathBuf,
    pub enabled: bool,
}

impl TargetTree {
    pub fn subsystem(&self, nqn: &str) -> Option<&SubsystemView> {
        self.subsystems.iter().find(|s| s.nqn.as_str() == nqn)
    }

    /// The port listening on `traddr`:`trsvcid` over TCP.
    pub fn port_at(&self, traddr: &str, trsvcid: &str) -> Option<&PortView> {
        self.ports
            .iter()
            .find(|p| p.trtype == "tcp" && p.traddr == traddr && p.trsvcid == trsvcid)
    }

    /// Whether `host` may connect to `subsystem` through `port`: linked to
    /// the port, an enabled namespace, and the host allowed.
    pub fn may_connect(&self, port: &PortView, subsystem: &str, host: &str) -> bool {
        port.subsystems.iter().any(|s| s.as_str() == subsystem)
            && self
                .subsystem(subsystem)
                .is_some_and(|s| s.namespaces.iter().any(|n| n.enabled) && s.admits(host))
    }
}

impl SubsystemView {
    /// Whether the access list lets `host` in.
    pub fn admits(&self, host: &str) -> bool {
        self.allow_any_host || self.allowed_hosts.iter().any(|h| h.as_str() == host)
    }
}

fn nqns_in(dir: &Path) -> Result<Vec<Nqn>> {
    let mut out = Vec::new();
    for entry in list_dir(dir)? {
        if let Ok(nqn) = Nqn::parse(file_name(&entry?)) {
            out.push(nqn);
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the tree under `root`; a missing root is an empty target.
pub fn read_tree(root: &Path) -> Result<TargetTree> {
    let mut tree = TargetTree::default();
    for port in list_dir(&root.join("ports"))? {
        let port = port?;
        let Ok(id) = file_name(&port).parse::<u16>() else {
            continue;
        };
        let attr =
            |name: &str| -> Result<String> { Ok(read_attr(&port.join(name))?.unwrap_or_default()) };
        tree.ports.push(PortView {
            id,
            trtype: attr("addr_trtype")?,
            adrfam: attr("addr_adrfam")?,
            traddr: attr("addr_traddr")?,
            trsvcid: attr("addr_trsvcid")?,
            subsystems: nqns_in(&port.join("subsystems"))?,
        });
    }
    tree.ports.sort_by_key(|p| p.id);
    for dir in list_dir(&root.join("subsystems"))? {
        let dir = dir?;
        let Ok(nqn) = Nqn::parse(file_name(&dir)) else {
            continue;
        };
        let mut namespaces = Vec::new();
        for ns in list_dir(&dir.join("namespaces"))? {
            let ns = ns?;
            let Ok(nsid) = file_name(&ns).parse::<u32>() else {
                continue;
            };
            namespaces.push(NamespaceView {
                nsid,
                device_path: PathBuf::from(read_attr(&ns.join("device_path"))?.unwrap_or_default()),
                enabled: read_attr(&ns.join("enable"))?.as_deref() == Some("1"),
            });
        }
        namespaces.sort_by_key(|n| n.nsid);
        tree.subsystems.push(SubsystemView {
            nqn,
            allow_any_host: read_attr(&dir.join("attr_allow_any_host"))?.as_deref() == Some("1"),
            allowed_hosts: nqns_in(&dir.join("allowed_hosts"))?,
            namespaces,
        });
    }
    tree.subsystems.sort_by(|a, b| a.nqn.cmp(&b.nqn));
    Ok(tree)
}
