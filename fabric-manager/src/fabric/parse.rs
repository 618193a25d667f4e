//! Reading `ip -j` output (pure functions on strings).
//!
//! Tolerant of what iproute2 versions add: only the fields PAN reads are
//! modelled, missing optional ones become `None`/empty. This module must
//! never run commands or decide what a reading means for the fabric.

use serde::Deserialize;

/// One link from `ip -j [-d] link show`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    /// The `UP` flag: administratively up.
    pub admin_up: bool,
    /// The `LOWER_UP` flag: carrier.
    pub lower_up: bool,
    /// `operstate`, e.g. `UP`, `DOWN`, `LOWERLAYERDOWN`.
    pub operstate: Option<String>,
    /// The bridge this link is enslaved to.
    pub master: Option<String>,
    /// The MAC address, as printed.
    pub address: Option<String>,
    /// `linkinfo.info_kind` (only with `-d`), e.g. `bridge`, `veth`.
    pub kind: Option<String>,
}

#[derive(Deserialize)]
struct RawLink {
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    operstate: Option<String>,
    master: Option<String>,
    address: Option<String>,
    linkinfo: Option<RawLinkInfo>,
}

#[derive(Deserialize)]
struct RawLinkInfo {
    info_kind: Option<String>,
}

#[derive(Deserialize)]
struct RawNetns {
    name: String,
}

/// Parses `ip -j [-d] link show ...`; empty output is no links.
pub fn links(stdout: &str) -> Result<Vec<Link>, String> {
    if stdout.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<RawLink> =
        serde_json::from_str(stdout).map_err(|e| format!("not a JSON list of links: {e}"))?;
    Ok(raw
        .into_iter()
        .map(|l| Link {
            admin_up: l.flags.iter().any(|f| f == "UP"),
            lower_up: l.flags.iter().any(|f| f == "LOWER_UP"),
            name: l.ifname,
            operstate: l.operstate,
            master: l.master,
            address: l.address,
            kind: l.linkinfo.and_then(|i| i.info_kind),
        })
        .collect())
}

/// Parses `ip -j netns list`; empty output is no namespaces.
pub fn netns_names(stdout: &str) -> Result<Vec<String>, String> {
    if stdout.trim().is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<RawNetns> =
        serde_json::from_str(stdout).map_err(|e| format!("not a JSON list of namespaces: {e}"))?;
    Ok(raw.into_iter().map(|n| n.name).collect())
}

/// True when `ip` failed because the device or namespace is absent.
pub fn is_absent(stderr: &str) -> bool {
    stderr.contains("does not exist") || stderr.contains("Cannot open network namespace")
}
