//! The values that cross the [`Bmc`](super::Bmc) seam: power and health
//! states, reset types, boot overrides and a blade's inventory.
//!
//! The enums mirror Redfish's enumerations (DMTF `Resource`, `ComputerSystem`
//! schemas) and spell their values as Redfish does. BMCs send values this
//! code does not know, and some send the known ones in the wrong case: a
//! value is matched case-insensitively and anything unknown is kept verbatim
//! in `Other(String)`, so parsing an enum never fails.

use crate::state::identity::Mac;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Declares a Redfish string enumeration with an `Other(String)` catch-all,
/// case-insensitive parsing, `Display` and serde as the Redfish string.
macro_rules! redfish_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of PAN does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as Redfish spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(s) => s,
                }
            }

            /// Parses a Redfish value, ignoring ASCII case; never fails.
            pub fn from_wire(s: &str) -> Self {
                $(
                    if s.eq_ignore_ascii_case($wire) {
                        return Self::$variant;
                    }
                )+
                Self::Other(s.to_string())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self::from_wire(&s))
            }
        }
    };
}

redfish_enum! {
    /// `ComputerSystem.PowerState`.
    PowerState {
        On = "On",
        Off = "Off",
        PoweringOn = "PoweringOn",
        PoweringOff = "PoweringOff",
        Paused = "Paused",
    }
}

redfish_enum! {
    /// `Resource.Health`.
    Health {
        Ok = "OK",
        Warning = "Warning",
        Critical = "Critical",
    }
}

redfish_enum! {
    /// `Resource.State`: whether the resource is enabled, present, in test …
    ResourceState {
        Enabled = "Enabled",
        Disabled = "Disabled",
        StandbyOffline = "StandbyOffline",
        StandbySpare = "StandbySpare",
        InTest = "InTest",
        Starting = "Starting",
        Absent = "Absent",
        UnavailableOffline = "UnavailableOffline",
        Deferring = "Deferring",
        Quiesced = "Quiesced",
        Updating = "Updating",
        Qualified = "Qualified",
        Degraded = "Degraded",
    }
}

redfish_enum! {
    /// `Resource.ResetType`: what `ComputerSystem.Reset` should do.
    ResetType {
        On = "On",
        ForceOff = "ForceOff",
        GracefulShutdown = "GracefulShutdown",
        GracefulRestart = "GracefulRestart",
        ForceRestart = "ForceRestart",
        Nmi = "Nmi",
        ForceOn = "ForceOn",
        PushPowerButton = "PushPowerButton",
        PowerCycle = "PowerCycle",
        FullPowerCycle = "FullPowerCycle",
        Suspend = "Suspend",
        Pause = "Pause",
        Resume = "Resume",
    }
}

impl ResetType {
    /// True when doing it twice has the effect of doing it once, so a
    /// request whose answer was lost may be sent again (On, ForceOn,
    /// ForceOff, GracefulShutdown). Restarts, power cycles, NMIs and the
    /// power button are not.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self,
            Self::On | Self::ForceOn | Self::ForceOff | Self::GracefulShutdown
        )
    }
}

redfish_enum! {
    /// `ComputerSystem.BootSource`: the device a boot override points at.
    BootTarget {
        None = "None",
        Pxe = "Pxe",
        Floppy = "Floppy",
        Cd = "Cd",
        Usb = "Usb",
        Hdd = "Hdd",
        BiosSetup = "BiosSetup",
        Utilities = "Utilities",
        Diags = "Diags",
        UefiShell = "UefiShell",
        UefiTarget = "UefiTarget",
        SdCard = "SDCard",
        UefiHttp = "UefiHttp",
        RemoteDrive = "RemoteDrive",
        UefiBootNext = "UefiBootNext",
        Recovery = "Recovery",
    }
}

redfish_enum! {
    /// `ComputerSystem.BootSourceOverrideEnabled`: for how many boots.
    BootEnabled {
        Disabled = "Disabled",
        Once = "Once",
        Continuous = "Continuous",
    }
}

redfish_enum! {
    /// `ComputerSystem.BootSourceOverrideMode`.
    BootMode {
        Legacy = "Legacy",
        Uefi = "UEFI",
    }
}

/// A resource's `Status` object: its state, its own health and the health
/// rolled up over its subordinate resources. Every part is optional because
/// BMCs leave parts out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStatus {
    pub state: Option<ResourceState>,
    pub health: Option<Health>,
    pub rollup: Option<Health>,
}

impl HealthStatus {
    /// The worse of `health` and `rollup`, if either is known. `Other`
    /// values rank between Warning and Critical: unknown is not healthy.
    pub fn worst(&self) -> Option<Health> {
        fn rank(h: &Health) -> u8 {
            match h {
                Health::Ok => 0,
                Health::Warning => 1,
                Health::Other(_) => 2,
                Health::Critical => 3,
            }
        }
        match (&self.health, &self.rollup) {
            (Some(a), Some(b)) => Some(if rank(b) > rank(a) { b } else { a }.clone()),
            (Some(a), None) | (None, Some(a)) => Some(a.clone()),
            (None, None) => None,
        }
    }
}

/// A boot source override: boot from `target` on the next boot (`Once`),
/// on every boot (`Continuous`) or not at all (`Disabled`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootOverride {
    pub target: BootTarget,
    pub enabled: BootEnabled,
    /// UEFI or Legacy; `None` leaves the BMC's mode as it is (some BMCs
    /// refuse to change it, and some do not report it).
    pub mode: Option<BootMode>,
    /// The UEFI device path when `target` is `UefiTarget`.
    pub uefi_target: Option<String>,
}

/// What one read of the system says about power and health: the values a
/// detector polls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    pub power: PowerState,
    pub health: HealthStatus,
}

/// What a BMC reports about its blade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemInventory {
    /// The Redfish `Id` of the system (e.g. `1`, or a serial number).
    pub id: String,
    /// `HostName`, else the system's `Name`: what the system calls itself.
    pub host_name: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    /// The system UUID as the BMC spells it.
    pub uuid: Option<String>,
    /// CPU sockets (`ProcessorSummary.Count`).
    pub cpu_sockets: Option<u32>,
    /// Physical cores: `ProcessorSummary.CoreCount`, or the sum of the
    /// CPUs' `TotalCores` on BMCs too old to report the summary.
    pub cores: Option<u32>,
    /// `MemorySummary.TotalSystemMemoryGiB` (may be fractional).
    pub memory_gib: Option<f64>,
    /// Burned-in MACs (`PermanentMACAddress`, else `MACAddress`) of the
    /// system's Ethernet interfaces, in the BMC's order.
    pub macs: Vec<Mac>,
    pub power: Option<PowerState>,
    pub health: HealthStatus,
    pub boot: Option<BootOverride>,
    /// Reset types the BMC advertises (empty when it does not say).
    pub reset_types: Vec<ResetType>,
}

/// What became of an accepted reset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResetOutcome {
    /// The BMC answered 200 or 204: the request is done (the power state
    /// may still take a while to change).
    Completed,
    /// The BMC answered 202 and runs the reset as a task, at this URI when
    /// it said. PAN does not poll the task: callers confirm the effect by
    /// reading the power state back, as fencing must anyway.
    Accepted { task: Option<String> },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_any_case_and_keep_unknown_values() {
        assert_eq!(PowerState::from_wire("on"), PowerState::On);
        assert_eq!(PowerState::from_wire("OFF"), PowerState::Off);
        assert_eq!(PowerState::from_wire("poweringon"), PowerState::PoweringOn);
        assert_eq!(
            PowerState::from_wire("Hibernating"),
            PowerState::Other("Hibernating".to_string())
        );
        assert_eq!(Health::from_wire("ok"), Health::Ok);
        assert_eq!(BootMode::from_wire("uefi"), BootMode::Uefi);
        assert_eq!(BootTarget::from_wire("sdcard"), BootTarget::SdCard);
        assert_eq!(BootTarget::SdCard.to_string(), "SDCard");
        let json = serde_json::to_string(&ResetType::ForceOff).unwrap();
        assert_eq!(json, "\"ForceOff\"");
        let back: ResetType = serde_json::from_str("\"forceoff\"").unwrap();
        assert_eq!(back, ResetType::ForceOff);
    }

    #[test]
    fn worst_health_prefers_the_worse_value() {
        let s = HealthStatus {
            state: None,
            health: Some(Health::Ok),
            rollup: Some(Health::Critical),
        };
        assert_eq!(s.worst(), Some(Health::Critical));
        let s = HealthStatus {
            health: Some(Health::Warning),
            ..HealthStatus::default()
        };
        assert_eq!(s.worst(), Some(Health::Warning));
        assert_eq!(HealthStatus::default().worst(), None);
    }

    #[test]
    fn only_repeatable_resets_are_idempotent() {
        assert!(ResetType::ForceOff.is_idempotent());
        assert!(ResetType::On.is_idempotent());
        assert!(!ResetType::ForceRestart.is_idempotent());
        assert!(!ResetType::PushPowerButton.is_idempotent());
        assert!(!ResetType::Other("X".into()).is_idempotent());
    }
}

/// One entry of the system's log (Redfish `LogEntry` in a `LogService` of
/// the `ComputerSystem`): what the BMC or firmware recorded, e.g. why a boot
/// failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// `Id`, unique within its log.
    pub id: String,
    /// `Created`, as the BMC wrote it (ISO 8601 date-time), if it did.
    pub created: Option<String>,
    /// `Severity`: OK, Warning or Critical (unknown values kept).
    pub severity: Option<Health>,
    /// `Message`, cleaned for display (control characters removed).
    pub message: String,
    /// `MessageId` (a registry message such as `Base.1.8.GeneralError`).
    pub message_id: Option<String>,
}
