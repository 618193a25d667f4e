//! A simulated rack that speaks the production protocols.
//!
//! Every blade has a Redfish BMC served over HTTP on loopback, a power and
//! boot state machine, fault knobs, and a pluggable OS that runs once the
//! blade has booted. A ground-truth log records what really happened, for
//! invariant checks.
//!
//! # Ports and names
//!
//! `hwsim --blades 16 --bmc-listen 127.0.0.1:8400` serves **one BMC per
//! blade, blade `i` (1-based) on port `base + i`**: `blade-001` on
//! `127.0.0.1:8401` … `blade-016` on `127.0.0.1:8416`. A base port of 0
//! gives every BMC an ephemeral port. The control API listens on
//! `--control-listen` (default `127.0.0.1:8399`).
//!
//! # Redfish (per BMC)
//!
//! | path | methods |
//! |---|---|
//! | `/redfish`, `/redfish/v1/` | GET, no authentication |
//! | `/redfish/v1/SessionService` | GET |
//! | `/redfish/v1/SessionService/Sessions` | GET; POST `{"UserName","Password"}` (no authentication) → 201, `X-Auth-Token`, `Location` |
//! | `/redfish/v1/SessionService/Sessions/{id}` | GET, DELETE (log out) |
//! | `/redfish/v1/Systems`, `/redfish/v1/Systems/1` | GET; PATCH `Boot` on the system (honours `If-Match`) |
//! | `/redfish/v1/Systems/1/Actions/ComputerSystem.Reset` | POST `{"ResetType": "On" \| "ForceOff" \| "GracefulShutdown" \| "ForceRestart" \| "PowerCycle"}` → 204 |
//! | `/redfish/v1/Systems/1/EthernetInterfaces[/1 \| /2]` | GET (burned-in MACs) |
//! | `/redfish/v1/Systems/1/LogServices[/Log[/Entries[/{id}]]]` | GET (the system log: why an NVMe/TCP boot failed) |
//! | `/redfish/v1/Chassis[/1]`, `/redfish/v1/Managers[/bmc]` | GET |
//!
//! Authentication: `X-Auth-Token` or HTTP Basic (default `admin`/`password`).
//! Every GET answer carries an `ETag`; errors carry a DMTF error body with
//! `@Message.ExtendedInfo`. See [`redfish`] for the details.
//!
//! # Using it in-process
//!
//! ```no_run
//! # async fn demo() -> Result<(), hwsim::Error> {
//! use hwsim::{Rack, RackConfig, model::{FaultAction, PowerState, ResetType}};
//! use std::time::Duration;
//!
//! let rack = Rack::start(RackConfig::new(4)).await?; // ephemeral ports
//! let blade = rack.blade("blade-002").unwrap();
//! let url = blade.bmc_url(); // http://127.0.0.1:NNNNN + /redfish/v1/…
//! blade.reset(ResetType::On);
//! blade.wait_power(PowerState::On, Duration::from_secs(5)).await?;
//! rack.fault("blade-002", FaultAction::Kill)?;
//! assert!(rack.ground_truth().violations().is_empty());
//! # Ok(()) }
//! ```
//!
//! # Crate map
//!
//! - [`model`]: the pure core (power/boot state machine, sessions, faults).
//! - [`redfish`]: the Redfish protocol without sockets (routing, auth,
//!   rendering, errors, ETags).
//! - [`os`]: the [`BladeOs`] seam for software running on a blade.
//! - [`ground_truth`]: the log of what happened and its invariant checks.
//! - [`rack`]: the runtime shell (listeners, timers, OS instances).
//! - [`control`]: the control API (server and client).
//!
//! # NVMe/TCP boot
//!
//! With `--nvmet-root DIR` (an nvmet configfs tree, as
//! `san::nvmet::ConfigfsTarget` writes it), a blade whose boot override is
//! `UefiTarget` with an `nvme+tcp://…?hostnqn=…` text boots only if that
//! host may connect to that subsystem there; otherwise it stays On without
//! an OS, Critical, with the reason in its system log (see
//! [`model::nvme_boot`]). `--fake-nvme PATH` lets the blades' agents attach
//! volumes with that program (`hwsim-fake-nvme`), each blade with its own
//! connection state.
//!
//! The simulator must never take shortcuts the production protocol would
//! not allow: the manager talks to it only through Redfish and the agent.

pub mod agent_os;
pub mod control;
pub mod error;
pub mod ground_truth;
pub mod model;
pub mod os;
pub mod rack;
pub mod redfish;

pub use agent_os::{AgentOs, FakeNvme};
pub use control::{BladeStatus, ControlClient, RackInfo};
pub use error::Error;
pub use ground_truth::{
    GroundTruth, GroundTruthEvent, GroundTruthRecord, Violation, find_violations,
};
pub use os::{
    AgentApplied, AppliedIdentity, AppliedInterface, AppliedVolume, BladeOs, BootContext,
    HostHandle, IdleOs, LinkState, RunningOs, TaskOs,
};
pub use rack::{BladeHandle, Rack, RackConfig};
