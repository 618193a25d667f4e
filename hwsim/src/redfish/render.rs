//! Rendering of Redfish resources: pure functions from a blade's facts and
//! state to the JSON a DMTF-conformant BMC would return, with `@odata.id`
//! links between ServiceRoot, Systems, Chassis, Managers, EthernetInterfaces
//! and Sessions. Shapes follow the DMTF mockups (see the fixtures in
//! `shared/fixtures/redfish/`).

use crate::model::{
    BladeInfo, BladeModel, BootMode, BootOverrideEnabled, BootTarget, Health, PowerState,
    ResetType, Session, SessionTable, SystemLogEntry,
};
use crate::redfish::paths;
use serde_json::{Value, json};

fn link(uri: &str) -> Value {
    json!({ "@odata.id": uri })
}

fn collection(odata_type: &str, name: &str, uri: &str, members: &[String]) -> Value {
    json!({
        "@odata.type": odata_type,
        "@odata.id": uri,
        "Name": name,
        "Members@odata.count": members.len(),
        "Members": members.iter().map(|m| link(m)).collect::<Vec<_>>(),
    })
}

fn status(state: &str, health: Health) -> Value {
    json!({ "State": state, "Health": health.as_str(), "HealthRollup": health.as_str() })
}

/// `GET /redfish`.
pub fn render_versions() -> Value {
    json!({ "v1": paths::ROOT })
}

/// `GET /redfish/v1/`.
pub fn render_service_root(info: &BladeInfo) -> Value {
    json!({
        "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
        "@odata.id": paths::ROOT,
        "Id": "RootService",
        "Name": "Root Service",
        "RedfishVersion": "1.11.0",
        "UUID": info.bmc_uuid,
        "Vendor": "PAN",
        "Product": "PAN hwsim BMC",
        "ProtocolFeaturesSupported": {
            "ExcerptQuery": false,
            "ExpandQuery": { "ExpandAll": false, "Levels": false, "Links": false, "NoLinks": false },
            "FilterQuery": false,
            "OnlyMemberQuery": false,
            "SelectQuery": false,
        },
        "Systems": link(paths::SYSTEMS),
        "Chassis": link(paths::CHASSIS_COLLECTION),
        "Managers": link(paths::MANAGERS),
        "SessionService": link(paths::SESSION_SERVICE),
        "Links": { "Sessions": link(paths::SESSIONS) },
    })
}

/// `GET /redfish/v1/Systems`.
pub fn render_systems() -> Value {
    collection(
        "#ComputerSystemCollection.ComputerSystemCollection",
        "Computer System Collection",
        paths::SYSTEMS,
        &[paths::SYSTEM.to_owned()],
    )
}

/// `GET /redfish/v1/Systems/1`: the ComputerSystem.
pub fn render_system(info: &BladeInfo, model: &BladeModel) -> Value {
    let hw = &info.hardware;
    let boot = model.boot();
    let mut boot_json = json!({
        "BootSourceOverrideTarget": boot.target.as_str(),
        "BootSourceOverrideTarget@Redfish.AllowableValues": BootTarget::allowable_values(),
        "BootSourceOverrideEnabled": boot.enabled.as_str(),
        "BootSourceOverrideEnabled@Redfish.AllowableValues": BootOverrideEnabled::allowable_values(),
        "BootSourceOverrideMode": boot.mode.as_str(),
        "BootSourceOverrideMode@Redfish.AllowableValues": BootMode::allowable_values(),
    });
    if let Some(path) = &boot.uefi_target {
        boot_json["UefiTargetBootSourceOverride"] = json!(path);
    }
    json!({
        "@odata.type": "#ComputerSystem.v1_20_1.ComputerSystem",
        "@odata.id": paths::SYSTEM,
        "@odata.context": "/redfish/v1/$metadata#ComputerSystem.ComputerSystem",
        "Id": paths::SYSTEM_ID,
        "Name": info.name,
        "HostName": info.name,
        "SystemType": "Physical",
        "Manufacturer": hw.manufacturer,
        "Model": hw.model,
        "SerialNumber": info.serial,
        "UUID": info.uuid,
        "BiosVersion": hw.bios_version,
        "PowerState": model.power().as_str(),
        "Status": status(model.status_state(), model.health()),
        "BootProgress": { "LastState": model.boot_progress() },
        "Boot": boot_json,
        "ProcessorSummary": {
            "Count": hw.processor_count,
            "CoreCount": hw.core_count,
            "LogicalProcessorCount": hw.logical_processor_count,
            "Model": hw.processor_model,
            "Status": status("Enabled", Health::Ok),
        },
        "MemorySummary": {
            "TotalSystemMemoryGiB": hw.memory_gib,
            "Status": status("Enabled", Health::Ok),
        },
        "EthernetInterfaces": link(paths::ETHERNET_INTERFACES),
        "LogServices": link(paths::LOG_SERVICES),
        "Links": {
            "Chassis": [link(paths::CHASSIS)],
            "ManagedBy": [link(paths::MANAGER)],
        },
        "Actions": {
            paths::RESET_ACTION: {
                "target": paths::RESET,
                "ResetType@Redfish.AllowableValues":
                    ResetType::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            }
        },
    })
}

/// `GET /redfish/v1/Systems/1/LogServices`.
pub fn render_log_services() -> Value {
    collection(
        "#LogServiceCollection.LogServiceCollection",
        "System Log Services",
        paths::LOG_SERVICES,
        &[paths::LOG_SERVICE.to_owned()],
    )
}

/// `GET /redfish/v1/Systems/1/LogServices/Log`.
pub fn render_log_service(model: &BladeModel) -> Value {
    json!({
        "@odata.type": "#LogService.v1_4_0.LogService",
        "@odata.id": paths::LOG_SERVICE,
        "Id": paths::LOG_SERVICE_ID,
        "Name": "System Log",
        "MaxNumberOfRecords": crate::model::MAX_LOG_ENTRIES,
        "OverWritePolicy": "WrapsWhenFull",
        "LogEntryType": "Event",
        "ServiceEnabled": true,
        "Status": status("Enabled", Health::Ok),
        "Entries": link(paths::LOG_ENTRIES),
        "Oem": { "PAN": { "Entries": model.log().len() } },
    })
}

/// One `LogEntry`.
pub fn render_log_entry(entry: &SystemLogEntry) -> Value {
    json!({
        "@odata.type": "#LogEntry.v1_15_0.LogEntry",
        "@odata.id": paths::log_entry(entry.id),
        "Id": entry.id.to_string(),
        "Name": format!("Log Entry {}", entry.id),
        "EntryType": "Event",
        "Severity": entry.severity.as_str(),
        "Created": entry.created,
        "Message": entry.message,
        "MessageId": entry.message_id,
        "Links": { "OriginOfCondition": link(paths::SYSTEM) },
    })
}

/// `GET /redfish/v1/Systems/1/LogServices/Log/Entries`: the entries in
/// full (as DMTF mockups and real BMCs expand them), oldest first.
pub fn render_log_entries(model: &BladeModel) -> Value {
    let members: Vec<Value> = model.log().iter().map(render_log_entry).collect();
    json!({
        "@odata.type": "#LogEntryCollection.LogEntryCollection",
        "@odata.id": paths::LOG_ENTRIES,
        "Name": "System Log Entries",
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

/// `GET /redfish/v1/Systems/1/EthernetInterfaces`.
pub fn render_ethernet_interfaces(info: &BladeInfo) -> Value {
    let members: Vec<String> = (1..=info.macs.len())
        .map(paths::ethernet_interface)
        .collect();
    collection(
        "#EthernetInterfaceCollection.EthernetInterfaceCollection",
        "Ethernet Interface Collection",
        paths::ETHERNET_INTERFACES,
        &members,
    )
}

/// `GET /redfish/v1/Systems/1/EthernetInterfaces/{n}` (1-based), or `None`
/// when the blade has no such NIC.
pub fn render_ethernet_interface(info: &BladeInfo, model: &BladeModel, n: usize) -> Option<Value> {
    let mac = info.macs.get(n.checked_sub(1)?)?.to_redfish();
    let up = model.power() != PowerState::Off;
    Some(json!({
        "@odata.type": "#EthernetInterface.v1_6_0.EthernetInterface",
        "@odata.id": paths::ethernet_interface(n),
        "Id": n.to_string(),
        "Name": format!("Ethernet Interface {n}"),
        "Description": format!("Fabric port {n}"),
        "Status": { "State": "Enabled", "Health": "OK" },
        "InterfaceEnabled": true,
        "LinkStatus": if up { "LinkUp" } else { "LinkDown" },
        "MACAddress": mac,
        "PermanentMACAddress": mac,
        "SpeedMbps": 25000,
        "FullDuplex": true,
    }))
}

/// `GET /redfish/v1/Chassis`.
pub fn render_chassis_collection() -> Value {
    collection(
        "#ChassisCollection.ChassisCollection",
        "Chassis Collection",
        paths::CHASSIS_COLLECTION,
        &[paths::CHASSIS.to_owned()],
    )
}

/// `GET /redfish/v1/Chassis/1`.
pub fn render_chassis(info: &BladeInfo, model: &BladeModel) -> Value {
    let hw = &info.hardware;
    json!({
        "@odata.type": "#Chassis.v1_14_0.Chassis",
        "@odata.id": paths::CHASSIS,
        "Id": paths::CHASSIS_ID,
        "Name": format!("{} chassis", info.name),
        "ChassisType": "Blade",
        "Manufacturer": hw.manufacturer,
        "Model": hw.model,
        "SerialNumber": info.serial,
        "PowerState": model.power().as_str(),
        "Status": { "State": "Enabled", "Health": model.health().as_str() },
        "Location": {
            "PartLocation": {
                "ServiceLabel": format!("Slot {}", info.index),
                "LocationType": "Slot",
                "LocationOrdinalValue": info.index,
            }
        },
        "Links": {
            "ComputerSystems": [link(paths::SYSTEM)],
            "ManagedBy": [link(paths::MANAGER)],
        },
    })
}

/// `GET /redfish/v1/Managers`.
pub fn render_managers() -> Value {
    collection(
        "#ManagerCollection.ManagerCollection",
        "Manager Collection",
        paths::MANAGERS,
        &[paths::MANAGER.to_owned()],
    )
}

/// `GET /redfish/v1/Managers/bmc`.
pub fn render_manager(info: &BladeInfo) -> Value {
    json!({
        "@odata.type": "#Manager.v1_10_0.Manager",
        "@odata.id": paths::MANAGER,
        "Id": paths::MANAGER_ID,
        "Name": "Manager",
        "ManagerType": "BMC",
        "Description": format!("Simulated BMC of {}", info.name),
        "Model": "PAN hwsim BMC",
        "FirmwareVersion": env!("CARGO_PKG_VERSION"),
        "UUID": info.bmc_uuid,
        "ServiceEntryPointUUID": info.bmc_uuid,
        "PowerState": "On",
        "Status": { "State": "Enabled", "Health": "OK" },
        "Links": {
            "ManagerForServers": [link(paths::SYSTEM)],
            "ManagerForChassis": [link(paths::CHASSIS)],
            "ManagerInChassis": link(paths::CHASSIS),
        },
    })
}

/// `GET /redfish/v1/SessionService`.
pub fn render_session_service(sessions: &SessionTable) -> Value {
    json!({
        "@odata.type": "#SessionService.v1_1_8.SessionService",
        "@odata.id": paths::SESSION_SERVICE,
        "Id": "SessionService",
        "Name": "Session Service",
        "Description": "Session Service",
        "Status": { "State": "Enabled", "Health": "OK" },
        "ServiceEnabled": true,
        "SessionTimeout": sessions.timeout.as_secs(),
        "Sessions": link(paths::SESSIONS),
    })
}

/// `GET /redfish/v1/SessionService/Sessions`.
pub fn render_sessions(sessions: &SessionTable) -> Value {
    let members: Vec<String> = sessions
        .list()
        .iter()
        .map(|s| paths::session(&s.id))
        .collect();
    collection(
        "#SessionCollection.SessionCollection",
        "Session Collection",
        paths::SESSIONS,
        &members,
    )
}

/// `GET /redfish/v1/SessionService/Sessions/{id}` (never shows the token).
pub fn render_session(session: &Session) -> Value {
    json!({
        "@odata.type": "#Session.v1_3_0.Session",
        "@odata.id": paths::session(&session.id),
        "Id": session.id,
        "Name": "User Session",
        "Description": "Manager User Session",
        "UserName": session.user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BladeInfo, Timing};
    use std::sync::Arc;

    fn info() -> BladeInfo {
        BladeInfo::new(
            0,
            3,
            Arc::default(),
            None,
            "127.0.0.1:8403".parse().unwrap(),
        )
    }

    #[test]
    fn system_has_the_fields_pan_reads() {
        let model = BladeModel::new(Timing::default());
        let s = render_system(&info(), &model);
        assert_eq!(s["@odata.id"], "/redfish/v1/Systems/1");
        assert_eq!(s["Id"], "1");
        assert_eq!(s["Name"], "blade-003");
        assert_eq!(s["PowerState"], "Off");
        assert_eq!(s["Status"]["Health"], "OK");
        assert_eq!(s["Status"]["State"], "StandbyOffline");
        assert_eq!(s["ProcessorSummary"]["Count"], 2);
        assert_eq!(s["ProcessorSummary"]["CoreCount"], 64);
        assert_eq!(s["ProcessorSummary"]["LogicalProcessorCount"], 128);
        assert!(s["ProcessorSummary"]["Model"].is_string());
        assert_eq!(s["MemorySummary"]["TotalSystemMemoryGiB"], 256);
        assert_eq!(s["UUID"], info().uuid);
        assert_eq!(s["Boot"]["BootSourceOverrideEnabled"], "Disabled");
        assert_eq!(s["Boot"]["BootSourceOverrideMode"], "UEFI");
        assert!(s["Boot"].get("UefiTargetBootSourceOverride").is_none());
        let allowed = s["Boot"]["BootSourceOverrideTarget@Redfish.AllowableValues"]
            .as_array()
            .unwrap();
        assert!(allowed.contains(&json!("Pxe")));
        let reset = &s["Actions"]["#ComputerSystem.Reset"];
        assert_eq!(
            reset["target"],
            "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
        );
        assert_eq!(
            reset["ResetType@Redfish.AllowableValues"],
            json!([
                "On",
                "ForceOff",
                "GracefulShutdown",
                "ForceRestart",
                "PowerCycle"
            ])
        );
        assert_eq!(
            s["Links"]["Chassis"][0]["@odata.id"],
            "/redfish/v1/Chassis/1"
        );
        assert_eq!(
            s["Links"]["ManagedBy"][0]["@odata.id"],
            "/redfish/v1/Managers/bmc"
        );
    }

    #[test]
    fn nics_carry_burned_in_macs() {
        let model = BladeModel::new(Timing::default());
        let i = info();
        let c = render_ethernet_interfaces(&i);
        assert_eq!(c["Members@odata.count"], 2);
        assert_eq!(
            c["Members"][1]["@odata.id"],
            "/redfish/v1/Systems/1/EthernetInterfaces/2"
        );
        let n = render_ethernet_interface(&i, &model, 2).unwrap();
        assert_eq!(n["MACAddress"], "52:54:00:00:00:05");
        assert_eq!(n["PermanentMACAddress"], n["MACAddress"]);
        assert!(render_ethernet_interface(&i, &model, 0).is_none());
        assert!(render_ethernet_interface(&i, &model, 3).is_none());
    }

    #[test]
    fn chassis_and_manager_link_back() {
        let model = BladeModel::new(Timing::default());
        let ch = render_chassis(&info(), &model);
        assert_eq!(
            ch["Links"]["ComputerSystems"][0]["@odata.id"],
            paths::SYSTEM
        );
        assert_eq!(ch["Links"]["ManagedBy"][0]["@odata.id"], paths::MANAGER);
        let m = render_manager(&info());
        assert_eq!(
            m["Links"]["ManagerForServers"][0]["@odata.id"],
            paths::SYSTEM
        );
        assert_eq!(m["Links"]["ManagerInChassis"]["@odata.id"], paths::CHASSIS);
        let root = render_service_root(&info());
        for key in ["Systems", "Chassis", "Managers", "SessionService"] {
            assert!(root[key]["@odata.id"].is_string(), "{key}");
        }
    }
}
