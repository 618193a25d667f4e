//! The control API: a small HTTP JSON API (default `127.0.0.1:8399`) to
//! inspect the rack and turn fault knobs at runtime, and its client (used by
//! the `hwsim fault …` / `hwsim status` subcommands and by tests).
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /` | | [`RackInfo`] |
//! | `GET /blades` | | `[BladeStatus]` |
//! | `GET /blades/{name}` | | [`BladeStatus`] |
//! | `POST /blades/{name}/fault` | [`FaultAction`](crate::model::FaultAction), e.g. `{"action":"slow","ms":200}` | [`BladeStatus`] |
//! | `POST /blades/{name}/reset` | `{"ResetType":"On"}` | [`BladeStatus`] |
//! | `GET /ground-truth?since=N` | | `[GroundTruthRecord]` with `seq >= N` |
//! | `GET /violations` | | `[Violation]` over the whole ground truth |
//!
//! Errors are `{"error": "…"}` with 400 (bad request body) or 404 (no such
//! blade or path).

pub mod client;
pub mod server;

use crate::model::{BootSettings, FaultsView, Health, MacAddr, PowerState};
use crate::os::AgentApplied;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

pub use client::ControlClient;

/// One blade as the control API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BladeStatus {
    pub name: String,
    /// 1-based slot.
    pub index: u32,
    /// Where its BMC listens.
    pub bmc: SocketAddr,
    pub power: PowerState,
    pub health: Health,
    /// Whether an OS instance runs (booted, not yet powered off).
    pub os_running: bool,
    /// Number of power-ons so far (the current OS instance's epoch).
    pub os_epoch: u64,
    /// The OS's link to the manager (false after `cut-link`).
    pub link_up: bool,
    pub uuid: String,
    pub serial: String,
    /// Burned-in MACs.
    pub macs: Vec<MacAddr>,
    /// The boot override configured on the BMC.
    pub boot: BootSettings,
    /// Open Redfish sessions on its BMC.
    pub sessions: usize,
    /// Redfish requests its BMC has received.
    #[serde(default)]
    pub requests: u64,
    pub faults: FaultsView,
    /// Why the last boot failed (On without an OS, Critical), until the
    /// next successful boot; e.g. "NVMe-oF boot failed: host … is not
    /// allowed on subsystem … at 127.0.0.1:4420".
    #[serde(default)]
    pub boot_failure: Option<String>,
    /// The NVMe/TCP boot target (`nvme+tcp://…`) the running OS booted from.
    #[serde(default)]
    pub booted_target: Option<String>,
    /// What the blade's agent last reported applied: token, interfaces
    /// (name, MAC) and attached volumes (name, subsystem NQN, device).
    #[serde(default)]
    pub applied: Option<AgentApplied>,
}

/// The rack as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RackInfo {
    pub blades: u32,
    pub rack_id: u8,
    /// The `--bmc-listen` base: blade `i` (1-based) listens on port
    /// `base + i`, or on an ephemeral port when the base port is 0.
    pub bmc_base: SocketAddr,
    /// Blade 1's and the last blade's BMC addresses.
    pub first_bmc: SocketAddr,
    pub last_bmc: SocketAddr,
    pub manager: Option<String>,
    pub control: Option<SocketAddr>,
    pub ground_truth_records: usize,
}
