//! Kernel names for fabric objects, derived from ids and blade names (pure).
//!
//! Interface names are limited to 15 bytes, so bridges are `pb<vni hex>`
//! (at most 8 bytes) and fabric-side ports `pv<blade id hex>p<port hex>`
//! (`pv7p0`; at most 15 bytes for blade ids below 2^44); both live in the
//! fabric's own namespace, so two fabrics never collide. Port `i` of a blade
//! is `eth<i>` inside the blade's namespace, `<fabric namespace>-blade-<blade
//! name>` (the rack simulator runs each blade's agent in a namespace named
//! after the blade, and knows names, not manager ids). Names are a pure
//! function of ids and blade names, so a restarted manager finds what an
//! earlier one created. This module must never touch the kernel.

use super::{BladeRef, FabricError, Result, Vni};
use pan_api::ids::BladeId;

/// How many ports a blade may have: ports `0..MAX_PORTS`.
pub const MAX_PORTS: u8 = 16;

/// Linux's limit on interface names (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

/// Linux's limit on a file name under `/run/netns` (NAME_MAX).
const NETNS_NAME_MAX: usize = 255;

/// The longest blade name (the state machine's rule).
const BLADE_NAME_MAX: usize = 63;

/// The blade-side interface of port `port` inside the blade namespace:
/// `eth<port>`.
pub fn blade_interface(port: u8) -> String {
    format!("eth{port}")
}

/// The bridge of a network: `pb` and the VNI in hex (`pb64` for VNI 100).
pub fn bridge_name(vni: Vni) -> String {
    format!("pb{:x}", vni.get())
}

/// The network whose bridge this is, if it is one of ours.
pub fn vni_of_bridge(name: &str) -> Option<Vni> {
    let hex = name.strip_prefix("pb")?;
    if hex.is_empty() || hex.len() > 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // Only the canonical spelling (lower case, no leading zero) is ours.
    let vni = Vni::new(u32::from_str_radix(hex, 16).ok()?).ok()?;
    (bridge_name(vni) == name).then_some(vni)
}

/// Checks a port number against [`MAX_PORTS`].
pub fn check_port(blade: &BladeRef, port: u8) -> Result<()> {
    if port < MAX_PORTS {
        Ok(())
    } else {
        Err(FabricError::PortOutOfRange {
            blade: blade.clone(),
            port,
        })
    }
}

/// The fabric-side end of a blade port's link: `pv`, the blade id in hex,
/// `p` and the port number in hex (`pv7p0`).
pub fn fabric_port_name(blade: BladeId, port: u8) -> Result<String> {
    let name = format!("pv{:x}p{port:x}", blade.0);
    if name.len() > IFNAME_MAX {
        return Err(FabricError::BladeIdTooLarge { blade, name });
    }
    Ok(name)
}

/// The blade and port a fabric-side port name denotes, if it is one of ours
/// (canonical spelling only, port below [`MAX_PORTS`]).
pub fn port_of_fabric_name(name: &str) -> Option<(BladeId, u8)> {
    let rest = name.strip_prefix("pv")?;
    let (id, port) = rest.split_once('p')?;
    let hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex(id) || !hex(port) || id.len() > 11 || port.len() > 1 {
        return None;
    }
    let blade = BladeId(u64::from_str_radix(id, 16).ok()?);
    let port = u8::from_str_radix(port, 16).ok()?;
    (fabric_port_name(blade, port).ok()? == name).then_some((blade, port))
}

/// The infix between the fabric namespace and a blade name.
pub const BLADE_NS_INFIX: &str = "-blade-";

/// Checks a blade name: 1–63 characters of `[A-Za-z0-9._-]`, starting with a
/// letter or digit (the state machine's rule, checked again here because the
/// name becomes part of a file name under `/run/netns`).
pub fn check_blade_name(blade: &BladeRef) -> Result<()> {
    let name = blade.name.as_str();
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > BLADE_NAME_MAX {
        Some("it is longer than 63 characters")
    } else if !name.as_bytes()[0].is_ascii_alphanumeric() {
        Some("it must start with a letter or digit")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        Some("only letters, digits, '-', '_' and '.' are allowed")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(FabricError::InvalidBladeName {
            blade: blade.id,
            name: name.to_owned(),
            reason: reason.to_owned(),
        }),
        None => Ok(()),
    }
}

/// The network namespace of a blade: `<fabric namespace>-blade-<name>`, or
/// an error when the blade name is invalid or the result is longer than 255
/// bytes.
pub fn blade_namespace(fabric_namespace: &str, blade: &BladeRef) -> Result<String> {
    check_blade_name(blade)?;
    let ns = format!("{fabric_namespace}{BLADE_NS_INFIX}{}", blade.name);
    if ns.len() > NETNS_NAME_MAX {
        return Err(FabricError::InvalidBladeName {
            blade: blade.id,
            name: blade.name.clone(),
            reason: format!(
                "its namespace {ns:?} is {} bytes, more than the kernel's {NETNS_NAME_MAX}; use a shorter fabric namespace or blade name",
                ns.len()
            ),
        });
    }
    Ok(ns)
}

/// Checks a configured fabric namespace name: it becomes a file under
/// `/run/netns` and the prefix of every blade namespace.
pub fn check_namespace(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > 200 {
        Some("it is longer than 200 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        || name.starts_with('.')
    {
        Some("only letters, digits, '-', '_' and '.' (not first) are allowed")
    } else if name.contains(BLADE_NS_INFIX) {
        Some("it contains \"-blade-\", which is reserved for blade namespaces")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(FabricError::InvalidNamespace {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}
