//! Power vocabulary: Redfish `PowerState`, `ResetType`, and the cause of a
//! power change as the ground-truth log records it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Redfish `PowerState` of a ComputerSystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PowerState {
    On,
    Off,
    /// Power applied, firmware running, OS not yet booted.
    PoweringOn,
    /// Graceful shutdown in progress; the OS still runs.
    PoweringOff,
}

impl PowerState {
    /// The Redfish string.
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::On => "On",
            PowerState::Off => "Off",
            PowerState::PoweringOn => "PoweringOn",
            PowerState::PoweringOff => "PoweringOff",
        }
    }

    /// Whether the blade has power (anything but `Off`).
    pub fn is_powered(self) -> bool {
        self != PowerState::Off
    }
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `ResetType` values the simulated BMC accepts on
/// `ComputerSystem.Reset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResetType {
    /// Power on; the OS boots after the boot delay. No-op when powered.
    On,
    /// Cut power now. No-op when off.
    ForceOff,
    /// Ask the OS to shut down; power goes off after the shutdown delay.
    GracefulShutdown,
    /// Cut power and power on again (powers on an off blade).
    ForceRestart,
    /// Same as `ForceRestart` for the simulator.
    PowerCycle,
}

impl ResetType {
    /// Every accepted value, in the order `ResetType@Redfish.AllowableValues`
    /// lists them.
    pub const ALL: [ResetType; 5] = [
        ResetType::On,
        ResetType::ForceOff,
        ResetType::GracefulShutdown,
        ResetType::ForceRestart,
        ResetType::PowerCycle,
    ];

    /// The Redfish string.
    pub fn as_str(self) -> &'static str {
        match self {
            ResetType::On => "On",
            ResetType::ForceOff => "ForceOff",
            ResetType::GracefulShutdown => "GracefulShutdown",
            ResetType::ForceRestart => "ForceRestart",
            ResetType::PowerCycle => "PowerCycle",
        }
    }
}

impl fmt::Display for ResetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResetType {
    type Err = ();

    /// Exact, case-sensitive match like a real BMC.
    fn from_str(s: &str) -> Result<Self, ()> {
        ResetType::ALL
            .into_iter()
            .find(|rt| rt.as_str() == s)
            .ok_or(())
    }
}

/// Why the power state changed, as recorded in the ground truth:
/// the reset type that asked for it, `kill` (fault injection) or `boot`
/// (the OS finished booting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum PowerCause {
    Reset(ResetType),
    Kill,
    Boot,
}

impl fmt::Display for PowerCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PowerCause::Reset(rt) => f.write_str(rt.as_str()),
            PowerCause::Kill => f.write_str("kill"),
            PowerCause::Boot => f.write_str("boot"),
        }
    }
}

impl From<PowerCause> for String {
    fn from(c: PowerCause) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for PowerCause {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "kill" => Ok(PowerCause::Kill),
            "boot" => Ok(PowerCause::Boot),
            other => other
                .parse()
                .map(PowerCause::Reset)
                .map_err(|()| format!("unknown power cause {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_types_round_trip_and_are_case_sensitive() {
        for rt in ResetType::ALL {
            assert_eq!(rt.as_str().parse::<ResetType>(), Ok(rt));
        }
        assert!("on".parse::<ResetType>().is_err());
        assert!("Nmi".parse::<ResetType>().is_err());
    }

    #[test]
    fn power_cause_serializes_as_a_plain_string() {
        let json = serde_json::to_string(&PowerCause::Reset(ResetType::ForceOff)).unwrap();
        assert_eq!(json, "\"ForceOff\"");
        let back: PowerCause = serde_json::from_str("\"kill\"").unwrap();
        assert_eq!(back, PowerCause::Kill);
        assert!(serde_json::from_str::<PowerCause>("\"melt\"").is_err());
    }
}
