//! The URIs every simulated BMC serves. Each BMC manages exactly one
//! blade: system `1`, chassis `1`, manager `bmc`, NICs `1` and `2`.

/// The version document (`{"v1": "/redfish/v1/"}`), unauthenticated.
pub const VERSIONS: &str = "/redfish";
/// ServiceRoot, unauthenticated.
pub const ROOT: &str = "/redfish/v1/";
pub const SYSTEMS: &str = "/redfish/v1/Systems";
/// The id of the blade's ComputerSystem.
pub const SYSTEM_ID: &str = "1";
pub const SYSTEM: &str = "/redfish/v1/Systems/1";
/// `POST {"ResetType": "On"}`.
pub const RESET: &str = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset";
/// The `Actions` key of the reset action.
pub const RESET_ACTION: &str = "#ComputerSystem.Reset";
pub const ETHERNET_INTERFACES: &str = "/redfish/v1/Systems/1/EthernetInterfaces";
/// The system's log services: one, `Log`.
pub const LOG_SERVICES: &str = "/redfish/v1/Systems/1/LogServices";
pub const LOG_SERVICE_ID: &str = "Log";
pub const LOG_SERVICE: &str = "/redfish/v1/Systems/1/LogServices/Log";
pub const LOG_ENTRIES: &str = "/redfish/v1/Systems/1/LogServices/Log/Entries";
pub const CHASSIS_COLLECTION: &str = "/redfish/v1/Chassis";
pub const CHASSIS_ID: &str = "1";
pub const CHASSIS: &str = "/redfish/v1/Chassis/1";
pub const MANAGERS: &str = "/redfish/v1/Managers";
pub const MANAGER_ID: &str = "bmc";
pub const MANAGER: &str = "/redfish/v1/Managers/bmc";
pub const SESSION_SERVICE: &str = "/redfish/v1/SessionService";
/// `POST {"UserName", "Password"}` logs in (unauthenticated).
pub const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

/// The URI of NIC `n` (1-based).
pub fn ethernet_interface(n: usize) -> String {
    format!("{ETHERNET_INTERFACES}/{n}")
}

/// The URI of log entry `id`.
pub fn log_entry(id: u64) -> String {
    format!("{LOG_ENTRIES}/{id}")
}

/// The URI of session `id`.
pub fn session(id: &str) -> String {
    format!("{SESSIONS}/{id}")
}
