//! The pure core of a simulated blade and its BMC: values in, values out.
//!
//! Nothing here does I/O, spawns tasks or reads a clock: every function that
//! depends on time takes `now` (a `tokio::time::Instant`, so the shell's
//! tests can pause time). The HTTP and runtime shell (`crate::rack`) locks a
//! [`BmcState`], calls into this module and carries out the returned
//! [`Transition`] (ground-truth records, starting and stopping the OS,
//! timers).
//!
//! - `power`: `PowerState`, `ResetType`, `PowerCause`.
//! - `boot`: boot override settings and their PATCH validation.
//! - `faults`: the fault knobs and what they do to a request.
//! - `blade`: `BladeModel`, the power/boot state machine.
//! - `sessions`: the BMC's bounded Redfish session table.
//! - `hardware`: a blade's fixed facts (name, serial, UUID, burned-in MACs).
//! - `nvme_boot`: whether an NVMe/TCP boot may reach its volume, judged on
//!   the storage target's export tree (a value the shell reads).

/// A Redfish enumeration: a fieldless enum with its wire strings, `ALL`,
/// `as_str`, `Display`, `FromStr` (exact match) and serde as the string.
macro_rules! redfish_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in the order Redfish lists them.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The Redfish string.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }

            /// The Redfish strings of every value.
            pub fn allowable_values() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = ();

            fn from_str(s: &str) -> Result<Self, ()> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or(())
            }
        }
    };
}

pub mod blade;
pub mod boot;
pub mod faults;
pub mod hardware;
pub mod nvme_boot;
pub mod power;
pub mod sessions;

pub use blade::{
    BOOT_FAILED_MESSAGE_ID, BladeModel, BmcState, Effect, Health, MAX_LOG_ENTRIES, PowerChange,
    SystemLogEntry, Timing, Transition,
};
pub use boot::{BootMode, BootOverrideEnabled, BootSettings, BootTarget};
pub use faults::{ErrorFault, FaultAction, Faults, FaultsView, Gate};
pub use hardware::{BladeInfo, HardwareProfile, MacAddr};
pub use nvme_boot::{BootCheck, check_boot};
pub use power::{PowerCause, PowerState, ResetType};
pub use sessions::{Credentials, Session, SessionTable};
