//! The fabric module's one error type.
//!
//! Every variant names the object it concerns (fabric namespace, network,
//! blade or blade port) and, for commands, the command line, exit code and stderr; the
//! message ends with what an operator should do next. Errors only describe:
//! they must never carry a decision about who may join a network.

use super::{BladeRef, Vni};
use pan_api::ids::BladeId;
use std::fmt;
use std::time::Duration;

pub type Result<T, E = FabricError> = std::result::Result<T, E>;

/// The fabric object an error concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    /// The fabric namespace itself (bridges and fabric-side ports live here).
    Fabric { namespace: String },
    /// A partition network and its bridge.
    Network { vni: Vni, bridge: String },
    /// A blade as a whole (all its ports) and its namespace.
    Blade { blade: BladeRef, namespace: String },
    /// One port of a blade and the blade's namespace (the fabric-side port's
    /// name follows from the blade id and port, see `names.rs`).
    Port {
        blade: BladeRef,
        port: u8,
        namespace: String,
    },
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Fabric { namespace } => write!(f, "fabric namespace {namespace}"),
            Object::Network { vni, bridge } => write!(f, "network {vni} (bridge {bridge})"),
            Object::Blade { blade, namespace } => write!(f, "{blade} (namespace {namespace})"),
            Object::Port {
                blade,
                port,
                namespace,
            } => write!(
                f,
                "{blade} port {port} (namespace {namespace}, fabric port pv{:x}p{port:x})",
                blade.id.0
            ),
        }
    }
}

fn exit(code: &Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FabricError {
    #[error(
        "network id {value} is outside 1..=16777215 (a 24-bit VXLAN VNI); pick one from the partition's range"
    )]
    InvalidVni { value: u32 },

    #[error("fabric namespace name {name:?} is not usable: {reason}; configure another name")]
    InvalidNamespace { name: String, reason: &'static str },

    #[error(
        "{blade}: its id is too large for a 15-character interface name ({name:?}); blade ids must be below 2^44"
    )]
    BladeIdTooLarge { blade: BladeId, name: String },

    #[error(
        "{blade}: name {name:?} cannot name its network namespace: {reason}; blade names are 1-63 characters of letters, digits, '-', '_' and '.', starting with a letter or digit"
    )]
    InvalidBladeName {
        blade: BladeId,
        name: String,
        reason: String,
    },

    #[error(
        "{blade}: port {port} is out of range; a blade has at most 16 ports (0..=15), one per vNIC"
    )]
    PortOutOfRange { blade: BladeRef, port: u8 },

    #[error("`{program}` is not installed on this host, needed for {object}; install iproute2")]
    NotInstalled { object: Object, program: String },

    #[error("could not start `{command}` for {object}")]
    Spawn {
        object: Object,
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "`{command}` for {object} did not finish within {after:?} and was killed; check the host (dmesg, load) and retry"
    )]
    Timeout {
        object: Object,
        command: String,
        after: Duration,
    },

    #[error("`{command}` for {object} failed ({}): {stderr}; check that the manager runs with CAP_NET_ADMIN and the kernel has bridge and veth support", exit(.code))]
    CommandFailed {
        object: Object,
        command: String,
        code: Option<i32>,
        stderr: String,
    },

    #[error(
        "`{command}` for {object} printed output that cannot be read ({detail}); report it with `ip -V`"
    )]
    UnexpectedOutput {
        object: Object,
        command: String,
        detail: String,
    },

    #[error(
        "{object}: after the change the kernel reports {found}, expected {expected}; another tool may be changing the fabric: inspect it with `ip -n <namespace> -d link`"
    )]
    ReadBack {
        object: Object,
        expected: String,
        found: String,
    },

    #[error(
        "{vni} does not exist in fabric namespace {namespace}; create it with ensure_network first"
    )]
    NetworkNotFound { vni: Vni, namespace: String },

    #[error("{vni} still has ports attached ({ports:?}); detach those blades first")]
    NetworkInUse { vni: Vni, ports: Vec<String> },

    #[error(
        "{blade} has no fabric port {port} in {namespace}; create it with ensure_port (or attach) first"
    )]
    PortNotFound {
        blade: BladeRef,
        port: u8,
        namespace: String,
    },

    #[error(
        "{object}: {interface} already exists in namespace {namespace} but is not the peer of the fabric port; delete it (`ip -n {namespace} link del {interface}`) and retry"
    )]
    InterfaceInTheWay {
        object: Object,
        namespace: String,
        interface: String,
    },

    #[error(
        "{object}: the port is enslaved to {master:?}, which is not a PAN network bridge; detach the blade to reclaim it"
    )]
    ForeignMaster { object: Object, master: String },
}
