//! The crate's one error type, [`Error`].
//!
//! Every variant names the object it concerns (volume, snapshot, image, NQN,
//! path or command line) and, for commands, the exit code and stderr.
//! Messages say what failed and what the operator can do next; they never
//! embed the text of a `#[source]` error (the chain carries it).

use crate::runner::{CommandOutput, CommandRunner, CommandSpec, RunError};
use std::path::PathBuf;
use std::time::Duration;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a storage driver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A volume, snapshot or image name broke the naming rule.
    #[error(
        "invalid {kind} name {name:?}: {reason}; use 1-63 characters from \
         [A-Za-z0-9._-] starting with a letter or digit"
    )]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: &'static str,
    },

    /// A size was zero, too large, unaligned or unreadable.
    #[error(
        "invalid size {input:?}: {reason}; give bytes (or a K/M/G/T/P suffix), \
         a multiple of 512, at most 1 PiB"
    )]
    InvalidSize { input: String, reason: &'static str },

    /// An NVMe Qualified Name broke the NVMe base specification's rules.
    #[error("invalid NQN {nqn:?}: {reason}")]
    InvalidNqn { nqn: String, reason: &'static str },

    /// A blade boot target (the text in a BMC's UEFI boot override) was
    /// malformed.
    #[error(
        "invalid NVMe-oF boot target {text:?}: {reason}; expected \
         nvme+tcp://ADDR:PORT/SUBSYSTEM-NQN?hostnqn=HOST-NQN"
    )]
    InvalidBootTarget { text: String, reason: &'static str },

    /// A port setting (address, service id) was malformed.
    #[error("invalid port setting {field} = {value:?}: {reason}")]
    InvalidPort {
        field: &'static str,
        value: String,
        reason: &'static str,
    },

    /// The golden image a clone names is not registered.
    #[error(
        "golden image {image:?} is not registered (no file at {path}); \
         register it first or pick another image"
    )]
    ImageNotFound { image: String, path: PathBuf },

    /// An image with this name is already registered.
    #[error("golden image {image:?} already exists at {path}; choose another name")]
    ImageExists { image: String, path: PathBuf },

    /// No volume file of this name.
    #[error("volume {volume:?} does not exist (no file at {path})")]
    VolumeNotFound { volume: String, path: PathBuf },

    /// A volume file of this name already exists; it was left untouched.
    #[error(
        "volume {volume:?} already exists at {path}; delete it first or choose \
         another name"
    )]
    VolumeExists { volume: String, path: PathBuf },

    /// The volume has no snapshot of this name.
    #[error("volume {volume:?} has no snapshot {snapshot:?}; list its snapshots")]
    SnapshotNotFound { volume: String, snapshot: String },

    /// The volume already has a snapshot of this name (qemu-img would
    /// silently create a second one).
    #[error(
        "volume {volume:?} already has a snapshot {snapshot:?}; choose another \
         name or delete the old restore point"
    )]
    SnapshotExists { volume: String, snapshot: String },

    /// A resize asked for less than the volume has; data would be lost.
    #[error(
        "refusing to shrink volume {volume:?} from {current} to {requested} \
         bytes: shrinking destroys data; create a new volume instead"
    )]
    ShrinkRefused {
        volume: String,
        current: u64,
        requested: u64,
    },

    /// The program is not on this machine.
    #[error("{program} is not installed (not found on PATH); install it on this host")]
    NotInstalled { program: String },

    /// The program could not be started for another reason.
    #[error("could not start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },

    /// The program ran longer than allowed and was killed.
    #[error("`{command}` did not finish within {after:?} and was killed; check the host")]
    Timeout { command: String, after: Duration },

    /// The program exited unsuccessfully.
    #[error("`{command}` failed (exit code {code:?}): {stderr}")]
    CommandFailed {
        command: String,
        code: Option<i32>,
        stderr: String,
    },

    /// The program's output could not be understood.
    #[error("could not understand the output of `{command}`: {detail}")]
    UnexpectedOutput { command: String, detail: String },

    /// The target refused this host: it is not on the subsystem's access
    /// list, the subsystem is not exported on that port, or nothing listens.
    #[error(
        "host {host_nqn} could not connect to {subsystem_nqn}: {stderr}; check \
         that the volume is exported on that port and the host is granted access"
    )]
    ConnectRefused {
        subsystem_nqn: String,
        host_nqn: String,
        stderr: String,
    },

    /// This host already has a controller for that subsystem.
    #[error(
        "host {host_nqn} is already connected to {subsystem_nqn}; disconnect \
         first or use the existing device"
    )]
    AlreadyConnected {
        subsystem_nqn: String,
        host_nqn: String,
    },

    /// No export (nvmet subsystem) for this NQN.
    #[error("volume export {nqn} does not exist; export the volume first")]
    ExportNotFound { nqn: String },

    /// The subsystem exists and serves another device.
    #[error(
        "volume export {nqn} already serves {existing}, not {requested}; \
         unexport it first"
    )]
    ExportConflict {
        nqn: String,
        existing: String,
        requested: String,
    },

    /// The port exists with other settings and has subsystems on it, so the
    /// kernel would refuse the change.
    #[error(
        "nvmet port {port} has {attribute} = {existing:?}, not {requested:?}, \
         and serves subsystems; use another port id or fix the configuration"
    )]
    PortConflict {
        port: u16,
        attribute: &'static str,
        existing: String,
        requested: String,
    },

    /// A change was written but reading it back shows it did not happen.
    #[error(
        "{object}: the change did not take effect ({detail}); check that the \
         nvmet module is loaded and configfs is writable"
    )]
    NotApplied { object: String, detail: String },

    /// A file system operation failed.
    #[error("could not {op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The error for `spec` that did not run to completion: the runner's
    /// [`RunError`] as [`Error::NotInstalled`], [`Error::Spawn`] or
    /// [`Error::Timeout`], naming the whole command line.
    pub fn from_run(spec: &CommandSpec, err: RunError) -> Self {
        match err {
            RunError::NotInstalled { program } => Error::NotInstalled { program },
            RunError::Spawn { source, .. } => Error::Spawn {
                command: spec.to_string(),
                source,
            },
            RunError::Timeout { after, .. } => Error::Timeout {
                command: spec.to_string(),
                after,
            },
        }
    }
}

impl CommandOutput {
    /// `Ok(self)` on exit code 0, else [`Error::CommandFailed`].
    pub fn check(self, spec: &CommandSpec) -> Result<Self> {
        if self.success() {
            Ok(self)
        } else {
            Err(Error::CommandFailed {
                command: spec.to_string(),
                code: self.code,
                stderr: self.stderr,
            })
        }
    }
}

/// Runs `spec` through `runner`; its output whatever its exit code, or the
/// runner's failure as this crate's [`Error`] ([`Error::from_run`]).
pub(crate) async fn run(runner: &dyn CommandRunner, spec: &CommandSpec) -> Result<CommandOutput> {
    runner
        .run(spec)
        .await
        .map_err(|err| Error::from_run(spec, err))
}
