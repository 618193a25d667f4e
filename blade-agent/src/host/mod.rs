//! The hardware seam of the agent: the [`Host`] trait, which puts an
//! identity's network side on the blade and takes it off, and its two
//! implementations.
//!
//! - [`LinuxHost`] drives a real blade with iproute2 (`ip link`), optionally
//!   inside a network namespace.
//! - [`RecordingHost`] keeps the blade in memory and records what was applied;
//!   hwsim and tests run the real agent on it.
//!
//! Volumes are not the host's business: the agent attaches them with the
//! san crate's [`san::nvme::NvmeHost`] (see `crate::applier`). For one
//! desired state the agent, in this order: disconnects the volumes it
//! attached and calls [`Host::release`] when the blade carries a different
//! identity (or an unknown state), then calls [`Host::apply_network`] and
//! attaches the new identity's volumes. Implementations must make every
//! method idempotent: the agent may repeat a call after a failure.

mod linux;
mod recording;

pub use linux::{
    CommandOutput, CommandRunner, CommandSpec, Ip, LinuxHost, ProcessRunner, RunError,
};
pub use recording::{HostEvent, HostHook, RecordingHost};

use crate::protocol::{HostFacts, Mac, ServerIdentity};
use async_trait::async_trait;
use std::time::Duration;

/// A blade as the agent changes it.
#[async_trait]
pub trait Host: Send + Sync {
    /// Facts reported to the manager in every Hello: hostname and the
    /// interfaces with their current MACs.
    async fn facts(&self) -> Result<HostFacts, HostError>;

    /// Puts the identity's MACs on the blade's fabric interfaces, one per
    /// vNIC in order.
    async fn apply_network(&self, identity: &ServerIdentity) -> Result<(), HostError>;

    /// Takes the current identity's network side off the blade: restores
    /// the interfaces' own MACs. A no-op on a blade carrying none. (The
    /// agent has disconnected the identity's volumes before.)
    async fn release(&self) -> Result<(), HostError>;
}

/// Why the host could not be read or changed. Each variant names the command
/// or object, and where an operator can act, what to do.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("interface {interface} does not exist on this blade (`{command}`); check --interface")]
    NoSuchInterface { interface: String, command: String },

    #[error("not permitted to run `{command}`; the agent needs CAP_NET_ADMIN (run it as root)")]
    PermissionDenied { command: String },

    #[error("the kernel refused MAC {mac} on interface {interface} (`{command}`): {stderr}")]
    AddressRejected {
        interface: String,
        mac: Mac,
        command: String,
        stderr: String,
    },

    #[error("`{command}` failed ({}): {stderr}", describe_exit(*.code))]
    CommandFailed {
        command: String,
        code: Option<i32>,
        stderr: String,
    },

    #[error("cannot run `{command}`; is iproute2 installed?")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error("`{command}` did not finish within {timeout:?}")]
    Timeout { command: String, timeout: Duration },

    #[error("cannot read the output of `{command}`: {detail}")]
    UnexpectedOutput { command: String, detail: String },

    #[error("cannot read the hostname from {path}")]
    Hostname {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "server {server} has {macs} vNIC MAC(s) but this agent manages {interfaces} interface(s); \
         start the agent with one --interface per vNIC"
    )]
    NotEnoughInterfaces {
        server: String,
        macs: usize,
        interfaces: usize,
    },

    #[error(
        "server {server} uses volume {volume}, but this agent has no NVMe host configured \
         (start blade-agent with --nvme PROGRAM, the nvme-cli to attach volumes with)"
    )]
    NoNvmeHost { server: String, volume: String },

    /// A volume could not be attached or detached (boxed: it is large).
    #[error(transparent)]
    Volume(Box<VolumeError>),

    /// A simulated host (or its hook) refused the change.
    #[error("the host refused: {reason}")]
    Refused { reason: String },
}

/// Why a volume could not be attached or detached: names the volume, its
/// subsystem and (for attach) the target and host NQN; the source is
/// nvme-cli's error.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(
        "cannot attach volume {volume} (subsystem {subsystem_nqn} at {target}) as host {host_nqn}"
    )]
    Attach {
        volume: String,
        subsystem_nqn: String,
        target: std::net::SocketAddr,
        host_nqn: String,
        #[source]
        source: san::Error,
    },

    #[error("cannot detach volume {volume} (subsystem {subsystem_nqn})")]
    Detach {
        volume: String,
        subsystem_nqn: String,
        #[source]
        source: san::Error,
    },
}

impl From<VolumeError> for HostError {
    fn from(e: VolumeError) -> Self {
        HostError::Volume(Box::new(e))
    }
}

fn describe_exit(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_string(),
    }
}
