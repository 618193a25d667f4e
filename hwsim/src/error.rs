//! The crate's error type.
//!
//! One enum for everything that can fail in hwsim itself: starting a rack,
//! the ground-truth file, the control API client, waits in tests. Redfish
//! protocol answers (404, 412, …) are not errors of the simulator; they are
//! values ([`crate::redfish::RedfishError`]) rendered to the BMC's client.
//!
//! Messages say what failed and on which object; causes hang off `#[source]`
//! and are never formatted into `Display`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can fail in hwsim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rack was configured with zero blades.
    #[error("a rack needs at least one blade; pass --blades N with N >= 1")]
    NoBlades,

    /// More blades than a rack can hold.
    #[error(
        "a rack holds at most {max} blades, not {blades}; start several racks with distinct --rack-id"
    )]
    TooManyBlades { blades: u32, max: u32 },

    /// Blade `index` would listen beyond port 65535.
    #[error(
        "the BMC of blade {index} would listen on port {port}, beyond 65535; \
         lower the --bmc-listen base port or the number of blades"
    )]
    PortRange { index: u32, port: u32 },

    /// A BMC listener could not be bound.
    #[error("cannot bind the BMC of {blade} on {addr}; is the port range free?")]
    BindBmc {
        blade: String,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// The control API listener could not be bound.
    #[error("cannot bind the control API on {addr}; pick another --control-listen")]
    BindControl {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// The ground-truth log file could not be created.
    #[error("cannot create the ground-truth log {path}")]
    GroundTruthFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// No blade has this name.
    #[error("no blade named {name}; `hwsim status` lists the blades")]
    UnknownBlade { name: String },

    /// A fault request was malformed (e.g. an error status outside 400..=599).
    #[error("invalid fault for {blade}: {reason}")]
    InvalidFault { blade: String, reason: String },

    /// The OS instance that made this call was stopped (the blade powered
    /// off or rebooted since it booted), so it no longer owns the blade.
    #[error("the OS instance on {blade} was stopped (power off or reboot since it booted)")]
    OsStopped { blade: String },

    /// Waiting for a blade condition ran out of time.
    #[error("{blade} did not reach {what} within {timeout:?}")]
    WaitTimeout {
        blade: String,
        what: String,
        timeout: Duration,
    },

    /// The control API could not be reached.
    #[error(
        "cannot reach the hwsim control API at {addr}; is `hwsim` running with --control-listen {addr}?"
    )]
    ControlConnect {
        addr: String,
        #[source]
        source: std::io::Error,
    },

    /// An HTTP exchange with the control API failed.
    #[error("control API request {method} {path} to {addr} failed")]
    ControlHttp {
        addr: String,
        method: String,
        path: String,
        #[source]
        source: hyper::Error,
    },

    /// The control API did not answer in time.
    #[error("control API request {method} {path} to {addr} got no answer within {timeout:?}")]
    ControlTimeout {
        addr: String,
        method: String,
        path: String,
        timeout: Duration,
    },

    /// The control API answered with an error.
    #[error("control API {method} {path} answered {status}: {message}")]
    ControlStatus {
        method: String,
        path: String,
        status: u16,
        message: String,
    },

    /// The control API's answer was not the expected JSON.
    #[error("cannot decode the control API answer to {method} {path}")]
    ControlDecode {
        method: String,
        path: String,
        #[source]
        source: serde_json::Error,
    },
}
