//! The parsers against real-shaped samples (`../fixtures/redfish/`, see its
//! README for their origin) and a proptest: arbitrary bytes, truncated
//! JSON, random values in place of properties, huge numbers and unknown
//! enum values must give a value or a typed error, never a panic.

use super::parse::*;
use crate::bmc::ParseError;
use crate::bmc::types::{
    BootEnabled, BootMode, BootTarget, Health, PowerState, ResetType, ResourceState,
};
use proptest::prelude::*;
use serde_json::Value;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../fixtures/redfish/", $name)).as_slice()
    };
}

const ROOT: &[u8] = fixture!("root.json");
const BARE_ROOT: &[u8] = fixture!("bare_minimum_root.json");
const SYSTEM: &[u8] = fixture!("system.json");
const SYSTEM_V1_20: &[u8] = fixture!("systemv1_20.json");
const SYSTEM_MANAGERS: &[u8] = fixture!("system_managedby_missing_manager_present.json");
const SUSHY_ROOT: &[u8] = fixture!("sushy_tools_root.json");
const SUSHY_SYSTEM: &[u8] = fixture!("sushy_tools_system.json");

const ALL: &[&[u8]] = &[
    ROOT,
    BARE_ROOT,
    SYSTEM,
    SYSTEM_V1_20,
    SYSTEM_MANAGERS,
    SUSHY_ROOT,
    SUSHY_SYSTEM,
    fixture!("system_collection.json"),
    fixture!("ethernet_interfaces.json"),
    fixture!("ethernet_interfaces_collection.json"),
    fixture!("processor.json"),
    fixture!("session_service.json"),
    fixture!("session.json"),
    fixture!("task.json"),
    fixture!("error.json"),
    fixture!("error_single_ext_info.json"),
    fixture!("credentials_required_error.json"),
    fixture!("sushy_tools_unauthorized.json"),
    fixture!("log_services_collection.json"),
    fixture!("log_service.json"),
    fixture!("log_entries.json"),
];

#[test]
fn service_roots_name_their_links() {
    let root = parse_service_root(ROOT).unwrap();
    assert_eq!(root.systems.unwrap().odata_id, "/redfish/v1/Systems");
    assert_eq!(
        root.session_service.unwrap().odata_id,
        "/redfish/v1/SessionService"
    );
    assert_eq!(
        root.links.unwrap().sessions.unwrap().odata_id,
        "/redfish/v1/SessionService/Sessions"
    );
    assert_eq!(root.redfish_version.as_deref(), Some("1.0.2"));

    let bare = parse_service_root(BARE_ROOT).unwrap();
    assert!(bare.systems.is_none() && bare.session_service.is_none() && bare.links.is_none());

    let sushy = parse_service_root(SUSHY_ROOT).unwrap();
    assert_eq!(sushy.systems.unwrap().odata_id, "/redfish/v1/Systems");
    assert!(
        sushy.session_service.is_none(),
        "sushy-tools has no sessions"
    );
}

#[test]
fn systems_give_what_pan_needs() {
    for body in [SYSTEM, SYSTEM_V1_20, SYSTEM_MANAGERS] {
        let s = parse_system(body).unwrap();
        assert_eq!(s.id.as_deref(), Some("437XR1138R2"));
        assert_eq!(
            s.uuid.as_deref(),
            Some("38947555-7742-3448-3784-823347823834")
        );
        assert_eq!(s.model.as_deref(), Some("3500"));
        assert_eq!(s.manufacturer.as_deref(), Some("Contoso"));
        assert_eq!(s.serial_number.as_deref(), Some("437XR1138R2"));
        assert_eq!(s.power_state, Some(PowerState::On));
        let health = s.status.unwrap().to_health();
        assert_eq!(health.state, Some(ResourceState::Enabled));
        assert_eq!(health.health, Some(Health::Ok));
        assert_eq!(health.rollup, Some(Health::Ok));
        assert_eq!(s.processor_summary.as_ref().unwrap().count, Some(2));
        assert_eq!(
            s.memory_summary.unwrap().total_system_memory_gib,
            Some(96.0)
        );
        let boot = s.boot.unwrap();
        assert_eq!(boot.boot_source_override_target, Some(BootTarget::Pxe));
        assert_eq!(boot.boot_source_override_enabled, Some(BootEnabled::Once));
        assert_eq!(boot.boot_source_override_mode, Some(BootMode::Uefi));
        assert_eq!(
            boot.uefi_target_boot_source_override.as_deref(),
            Some("/0x31/0x33/0x01/0x01")
        );
        assert!(boot.allowed_targets.contains(&BootTarget::SdCard));
        let reset = s.actions.unwrap().reset.unwrap();
        assert_eq!(
            reset.target.as_deref(),
            Some("/redfish/v1/Systems/437XR1138R2/Actions/ComputerSystem.Reset")
        );
        assert_eq!(reset.allowed.len(), 8);
        assert!(reset.allowed.contains(&ResetType::PushPowerButton));
        assert_eq!(
            s.ethernet_interfaces.unwrap().odata_id,
            "/redfish/v1/Systems/437XR1138R2/EthernetInterfaces"
        );
        assert!(s.processors.is_some());
    }
    // Only the newer schema has the core count in the summary.
    assert_eq!(
        parse_system(SYSTEM)
            .unwrap()
            .processor_summary
            .unwrap()
            .core_count,
        None
    );
    let v120 = parse_system(SYSTEM_V1_20)
        .unwrap()
        .processor_summary
        .unwrap();
    assert_eq!(
        (v120.core_count, v120.logical_processor_count),
        (Some(8), Some(16))
    );
}

#[test]
fn the_sushy_tools_system_parses_with_its_quirks() {
    let s = parse_system(SUSHY_SYSTEM).unwrap();
    assert_eq!(s.power_state, Some(PowerState::Off));
    assert_eq!(
        s.uuid.as_deref(),
        Some("27946b59-9e44-4fa7-8e91-f3527a1ef094")
    );
    // "HealthRollUp", sic.
    assert_eq!(s.status.unwrap().to_health().rollup, Some(Health::Ok));
    assert_eq!(s.processor_summary.unwrap().count, None);
    assert_eq!(
        s.boot.unwrap().boot_source_override_enabled,
        Some(BootEnabled::Continuous)
    );
}

#[test]
fn collections_interfaces_processors_sessions_tasks() {
    let c = parse_collection(fixture!("system_collection.json")).unwrap();
    assert_eq!(c.members.len(), 1);
    assert_eq!(c.members[0].odata_id, "/redfish/v1/Systems/437XR1138R2");
    assert_eq!(c.count, Some(1));
    let c = parse_collection(fixture!("ethernet_interfaces_collection.json")).unwrap();
    assert_eq!(c.members.len(), 1);

    let nic = parse_ethernet_interface(fixture!("ethernet_interfaces.json")).unwrap();
    assert_eq!(nic.burned_in_mac(), Some("12:44:6A:3B:04:11"));

    let cpu = parse_processor(fixture!("processor.json")).unwrap();
    assert!(cpu.is_cpu());
    assert_eq!(cpu.total_cores, Some(8));

    let service = parse_session_service(fixture!("session_service.json")).unwrap();
    assert_eq!(service.service_enabled, Some(true));
    assert_eq!(
        service.sessions.unwrap().odata_id,
        "/redfish/v1/SessionService/Sessions"
    );
    let session = parse_session(fixture!("session.json")).unwrap();
    assert_eq!(
        session.odata_id.as_deref(),
        Some("/redfish/v1/SessionService/Sessions/1234567890ABCDEF")
    );

    let task = parse_task(fixture!("task.json")).unwrap();
    assert_eq!(task.task_state.as_deref(), Some("Completed"));
    assert_eq!(task.task_status, Some(Health::Ok));
    assert_eq!(task.percent_complete, Some(100));
}

#[test]
fn error_bodies_give_the_specific_message() {
    let e = parse_error_body(fixture!("error.json")).unwrap();
    assert_eq!(e.code.as_deref(), Some("Base.1.0.GeneralError"));
    assert_eq!(
        e.message.as_deref(),
        Some("The value Red for the property IndicatorLED is not in the list of acceptable values")
    );
    assert_eq!(
        e.message_id.as_deref(),
        Some("Base.1.0.PropertyValueNotInList")
    );
    assert!(e.resolution.unwrap().starts_with("Remove the property"));

    // ExtendedInfo as a single object rather than a list.
    let e = parse_error_body(fixture!("error_single_ext_info.json")).unwrap();
    assert_eq!(e.message_id.as_deref(), Some("Base.1.5.GeneralError"));
    assert!(
        e.message
            .unwrap()
            .starts_with("A general error has occurred. See Resolution")
    );

    let e = parse_error_body(fixture!("credentials_required_error.json")).unwrap();
    assert!(
        e.message
            .unwrap()
            .contains("requires the parameter UserName")
    );

    // No Message in ExtendedInfo: error.message it is.
    let e = parse_error_body(fixture!("sushy_tools_unauthorized.json")).unwrap();
    assert_eq!(e.message.as_deref(), Some("Authorization required"));

    assert_eq!(parse_error_body(SYSTEM), None);
    assert_eq!(parse_error_body(b"<html></html>"), None);
}

#[test]
fn tolerant_of_nulls_wrong_types_and_odd_spellings() {
    let s = parse_system(
        br##"{"PowerState": null, "Status": {"Health": "critical", "HealthRollup": 3},
             "ProcessorSummary": {"Count": "2", "CoreCount": -4},
             "MemorySummary": {"TotalSystemMemoryGiB": "15.5"},
             "Boot": {"BootSourceOverrideTarget": "UefiHttp2",
                      "BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", 7, null, "Hdd"]},
             "Actions": {"#ComputerSystem.Reset": {"ResetType@Redfish.AllowableValues": "On"}},
             "EthernetInterfaces": "/redfish/v1/Systems/1/EthernetInterfaces",
             "UUID": 42}"##,
    )
    .unwrap();
    assert_eq!(s.power_state, None);
    let h = s.status.unwrap().to_health();
    assert_eq!((h.health, h.rollup), (Some(Health::Critical), None));
    let ps = s.processor_summary.unwrap();
    assert_eq!((ps.count, ps.core_count), (Some(2), None));
    assert_eq!(
        s.memory_summary.unwrap().total_system_memory_gib,
        Some(15.5)
    );
    let boot = s.boot.unwrap();
    assert_eq!(
        boot.boot_source_override_target,
        Some(BootTarget::Other("UefiHttp2".into()))
    );
    assert_eq!(boot.allowed_targets, vec![BootTarget::Pxe, BootTarget::Hdd]);
    let reset = s.actions.unwrap().reset.unwrap();
    assert!(reset.target.is_none() && reset.allowed.is_empty());
    assert!(s.ethernet_interfaces.is_none());
    assert!(s.uuid.is_none());
}

#[test]
fn non_objects_and_non_json_are_typed_errors() {
    assert!(matches!(
        parse_system(b"[]"),
        Err(ParseError::NotAnObject { found: "array", .. })
    ));
    assert!(matches!(
        parse_system(b"null"),
        Err(ParseError::NotAnObject { found: "null", .. })
    ));
    assert!(matches!(parse_system(b""), Err(ParseError::NotJson { .. })));
    let err = parse_system(b"{\n\"PowerState\": On}").unwrap_err();
    assert!(
        matches!(&err, ParseError::NotJson { line: 2, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("the computer system is not JSON"),
        "{err}"
    );
    // Nesting deeper than serde_json's limit is an error, not a stack overflow.
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(
        parse_system(deep.as_bytes()),
        Err(ParseError::NotJson { .. })
    ));
    // Numbers beyond f64 are rejected by the JSON parser.
    assert!(parse_system(br#"{"ProcessorSummary": {"Count": 1e400}}"#).is_err());
}

#[test]
fn html_detection_and_titles() {
    assert!(looks_like_html(b"  \r\n<!DOCTYPE html>"));
    assert!(!looks_like_html(b"{\"a\": 1}"));
    assert!(!looks_like_html(b""));
    assert_eq!(
        html_title(b"<html><head><Title >Login \xc3\xa9\n page</title>").as_deref(),
        Some("Login é page")
    );
    assert_eq!(html_title(b"<title>unclosed"), None);
    assert_eq!(html_title("<tİtle>İİ</title>".as_bytes()), None);
}

/// Every parser on the same input; none may panic.
#[test]
fn system_logs_follow_the_dmtf_shape() {
    let services = parse_collection(fixture!("log_services_collection.json")).unwrap();
    assert_eq!(
        services.members[0].odata_id,
        "/redfish/v1/Systems/437XR1138R2/LogServices/Log1"
    );
    let service = parse_log_service(fixture!("log_service.json")).unwrap();
    assert_eq!(service.id.as_deref(), Some("Log1"));
    assert_eq!(
        service.entries.unwrap().odata_id,
        "/redfish/v1/Systems/437XR1138R2/LogServices/Log1/Entries"
    );
    let entries = parse_log_entries(fixture!("log_entries.json")).unwrap();
    let entries: Vec<_> = entries
        .members
        .iter()
        .map(|m| m.to_entry().expect("every sample entry has an Id"))
        .collect();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].id, "1");
    assert_eq!(entries[0].severity, Some(Health::Critical));
    assert_eq!(entries[0].created.as_deref(), Some("2012-03-07T14:44:00Z"));
    assert_eq!(entries[0].message, "Temperature threshold exceeded");
    assert_eq!(
        entries[0].message_id.as_deref(),
        Some("Event.1.0.TempAssert")
    );
    assert_eq!(entries[2].created, None, "null Created");
    assert_eq!(entries[2].message_id, None);
    // A system names its log services.
    let system = parse_system(SYSTEM).unwrap();
    assert_eq!(
        system.log_services.unwrap().odata_id,
        "/redfish/v1/Systems/437XR1138R2/LogServices"
    );
    // An entry without an Id is not an entry; a bare link must be read.
    let link = parse_log_entry(br#"{"@odata.id": "/x/Entries/9"}"#).unwrap();
    assert!(link.is_link_only() && link.to_entry().is_none());
}

fn parse_everything(body: &[u8]) {
    let _ = parse_service_root(body);
    let _ = parse_session_service(body);
    let _ = parse_collection(body);
    let _ = parse_system(body);
    let _ = parse_ethernet_interface(body);
    let _ = parse_processor(body);
    let _ = parse_session(body);
    let _ = parse_task(body);
    let _ = parse_log_service(body);
    let _ = parse_log_entries(body).map(|c| {
        c.members.iter().for_each(|m| {
            let _ = m.to_entry();
        })
    });
    let _ = parse_log_entry(body).map(|m| m.to_entry());
    let _ = parse_error_body(body);
    let _ = html_title(body);
    let _ = looks_like_html(body);
}

fn arb_json() -> impl Strategy<Value = Value> {
    let words = prop_oneof![
        Just("On"),
        Just("off"),
        Just("POWERINGOFF"),
        Just("OK"),
        Just("UEFI"),
        Just("Pxe"),
        Just("Once"),
        Just("/redfish/v1/Systems/1"),
        Just("http://elsewhere/x"),
        Just(""),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        ".{0,24}".prop_map(Value::from),
        words.prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z@.#]{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Paths into the system sample where a random value is put.
const SYSTEM_PATHS: &[&[&str]] = &[
    &["PowerState"],
    &["Id"],
    &["UUID"],
    &["Status"],
    &["Status", "Health"],
    &["ProcessorSummary"],
    &["ProcessorSummary", "Count"],
    &["MemorySummary", "TotalSystemMemoryGiB"],
    &["Boot"],
    &["Boot", "BootSourceOverrideTarget"],
    &["Boot", "BootSourceOverrideTarget@Redfish.AllowableValues"],
    &["Actions"],
    &["Actions", "#ComputerSystem.Reset", "target"],
    &[
        "Actions",
        "#ComputerSystem.Reset",
        "ResetType@Redfish.AllowableValues",
    ],
    &["EthernetInterfaces"],
    &["EthernetInterfaces", "@odata.id"],
    &["Oem"],
];

fn set_path(root: &mut Value, path: &[&str], value: Value) {
    let mut cur = root;
    for (i, key) in path.iter().enumerate() {
        if i + 1 == path.len() {
            if let Value::Object(map) = cur {
                map.insert((*key).to_string(), value);
            }
            return;
        }
        match cur.get_mut(*key) {
            Some(next) => cur = next,
            None => return,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&body);
    }

    #[test]
    fn truncated_samples_are_not_json(which in 0..ALL.len(), cut in any::<prop::sample::Index>()) {
        let sample = ALL[which];
        let len = cut.index(sample.len());
        let body = &sample[..len];
        parse_everything(body);
        if let Err(e) = parse_system(body) {
            prop_assert!(matches!(e, ParseError::NotJson { .. }), "{e:?}");
        }
    }

    #[test]
    fn random_values_in_place_of_properties(
        path in prop::sample::select(SYSTEM_PATHS),
        value in arb_json(),
    ) {
        let mut system: Value = serde_json::from_slice(SYSTEM).unwrap();
        set_path(&mut system, path, value);
        let body = serde_json::to_vec(&system).unwrap();
        parse_everything(&body);
        let s = parse_system(&body).unwrap();
        // Properties other than the one replaced survive.
        prop_assert_eq!(s.model.as_deref(), Some("3500"));
        if path[0] != "PowerState" {
            prop_assert_eq!(s.power_state, Some(PowerState::On));
        }
        if path[0] != "Boot" {
            prop_assert_eq!(
                s.boot.and_then(|b| b.boot_source_override_target),
                Some(BootTarget::Pxe)
            );
        }
    }

    #[test]
    fn number_spellings_give_a_value_or_nothing(
        text in prop_oneof![
            Just("18446744073709551615".to_string()),
            Just("18446744073709551616".to_string()),
            Just("4294967296".to_string()),
            Just("-1".to_string()),
            Just("-0".to_string()),
            Just("1e308".to_string()),
            Just("1e400".to_string()),
            Just("0.5".to_string()),
            Just("2.0".to_string()),
            "-?[0-9]{1,40}(\\.[0-9]{1,5})?([eE][-+]?[0-9]{1,3})?",
        ],
    ) {
        let body = format!(
            r#"{{"ProcessorSummary": {{"Count": {text}, "CoreCount": {text}}},
                 "MemorySummary": {{"TotalSystemMemoryGiB": {text}}}}}"#
        );
        match parse_system(body.as_bytes()) {
            Ok(s) => {
                let ps = s.processor_summary.unwrap_or_default();
                if let Some(c) = ps.count {
                    let exact: f64 = text.parse().unwrap();
                    prop_assert_eq!(f64::from(c), exact);
                }
                if let Some(g) = s.memory_summary.and_then(|m| m.total_system_memory_gib) {
                    prop_assert!(g.is_finite() && g >= 0.0);
                }
            }
            Err(e) => prop_assert!(matches!(e, ParseError::NotJson { .. }), "{:?}", e),
        }
    }

    #[test]
    fn enum_values_are_kept_or_recognised(value in ".{0,16}") {
        let body = serde_json::json!({"PowerState": value, "Status": {"Health": value}});
        let s = parse_system(body.to_string().as_bytes()).unwrap();
        let power = s.power_state.unwrap();
        prop_assert_eq!(&power, &PowerState::from_wire(&value));
        match power {
            PowerState::Other(kept) => prop_assert_eq!(kept, value.clone()),
            known => prop_assert!(known.as_str().eq_ignore_ascii_case(&value)),
        }
        let health = s.status.unwrap().health.unwrap();
        prop_assert_eq!(health, Health::from_wire(&value));
    }
}
