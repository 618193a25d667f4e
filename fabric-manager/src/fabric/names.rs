//! Kernel names for fabric objects, derived from ids (pure).
//!
//! Interface names are limited to 15 bytes, so bridges are `pb<vni hex>`
//! (at most 8 bytes) and fabric-side ports `pv<blade id hex>`; both live in
//! the fabric's own namespace, so two fabrics never collide. Blade namespaces
//! are `<fabric namespace>-blade-<id>`. Names are a pure function of ids, so
//! a restarted manager finds what an earlier one created. This module must
//! never touch the kernel.

use super::{FabricError, Result, Vni};
use pan_api::ids::BladeId;

/// The blade-side interface name inside each blade namespace.
pub const BLADE_INTERFACE: &str = "eth0";

/// Linux's limit on interface names (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

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

/// The fabric-side end of a blade's link: `pv` and the blade id in hex.
pub fn fabric_port_name(blade: BladeId) -> Result<String> {
    let name = format!("pv{:x}", blade.0);
    if name.len() > IFNAME_MAX {
        return Err(FabricError::BladeIdTooLarge { blade, name });
    }
    Ok(name)
}

/// The infix between the fabric namespace and a blade id.
pub const BLADE_NS_INFIX: &str = "-blade-";

/// The network namespace of a blade.
pub fn blade_namespace(fabric_namespace: &str, blade: BladeId) -> String {
    format!("{fabric_namespace}{BLADE_NS_INFIX}{}", blade.0)
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
