//! Parsing nvme-cli's JSON output: pure functions on text.
//!
//! Tolerant by design: unknown fields are ignored, optional fields may be
//! missing, null or of another JSON type (a number where a string was
//! expected and the reverse), negative sizes (an nvme-cli 2.x overflow bug)
//! read as unknown. Only what the caller cannot do without is required
//! (`subnqn` of a discovery record, `device` of a connect, a device path
//! of a listed namespace). Garbage becomes [`Error::UnexpectedOutput`],
//! never a panic. This module must never run anything.

use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// `nvme discover -o json`: the discovery log page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryLog {
    /// The discovery controller used (`nvme1`), when nvme-cli reports it.
    pub device: Option<String>,
    /// Generation counter of the log page.
    pub genctr: Option<u64>,
    pub records: Vec<DiscoveryRecord>,
}

/// One discovery log entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiscoveryRecord {
    pub subnqn: String,
    /// `nvme subsystem`, `current discovery subsystem`, …
    pub subtype: Option<String>,
    pub trtype: Option<String>,
    pub adrfam: Option<String>,
    pub traddr: Option<String>,
    pub trsvcid: Option<String>,
    pub portid: Option<u64>,
    pub treq: Option<String>,
    pub eflags: Option<String>,
    pub sectype: Option<String>,
}

impl DiscoveryRecord {
    /// An I/O subsystem (not a referral or discovery subsystem).
    pub fn is_nvme_subsystem(&self) -> bool {
        self.subtype
            .as_deref()
            .is_none_or(|s| s == "nvme subsystem")
    }
}

/// One namespace block device from `nvme list -o json` (flat shape) or
/// `nvme list -v -o json` (nested under subsystems).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListedNamespace {
    /// `/dev/nvme0n1`.
    pub device_path: String,
    pub nsid: Option<u64>,
    /// Known in the nested shape only.
    pub subsystem_nqn: Option<String>,
    pub model_number: Option<String>,
    pub serial_number: Option<String>,
    pub firmware: Option<String>,
    pub used_bytes: Option<u64>,
    pub maximum_lba: Option<u64>,
    pub physical_size: Option<u64>,
    pub sector_size: Option<u64>,
}

fn unexpected(command: &str, detail: impl Into<String>) -> Error {
    Error::UnexpectedOutput {
        command: command.to_string(),
        detail: detail.into(),
    }
}

fn object<'a>(command: &str, value: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| unexpected(command, format!("{what} is not a JSON object")))
}

fn parse_json(command: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| unexpected(command, format!("not JSON ({e})")))
}

/// A string field; numbers are rendered as text; anything else is absent.
fn string(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A non-negative integer field; numeric strings count; anything else
/// (negative, fractional, other types) is absent.
fn number(map: &Map<String, Value>, key: &str) -> Option<u64> {
    match map.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn array<'a>(map: &'a Map<String, Value>, key: &str) -> &'a [Value] {
    map.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Parses `nvme discover -o json`.
pub fn parse_discovery(command: &str, text: &str) -> Result<DiscoveryLog> {
    let value = parse_json(command, text)?;
    let top = object(command, &value, "the discovery log")?;
    let records = match top.get("records") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(records)) => records.as_slice(),
        Some(_) => return Err(unexpected(command, "\"records\" is not a list")),
    };
    let mut out = DiscoveryLog {
        device: string(top, "device"),
        genctr: number(top, "genctr"),
        records: Vec::with_capacity(records.len()),
    };
    for (i, record) in records.iter().enumerate() {
        let r = object(command, record, &format!("record {i}"))?;
        let subnqn = string(r, "subnqn")
            .ok_or_else(|| unexpected(command, format!("record {i} has no subnqn")))?;
        out.records.push(DiscoveryRecord {
            subnqn,
            subtype: string(r, "subtype"),
            trtype: string(r, "trtype"),
            adrfam: string(r, "adrfam"),
            traddr: string(r, "traddr"),
            trsvcid: string(r, "trsvcid"),
            portid: number(r, "portid"),
            treq: string(r, "treq"),
            eflags: string(r, "eflags"),
            sectype: string(r, "sectype"),
        });
    }
    Ok(out)
}

/// Parses `nvme connect … -o json`: the new controller's name (`nvme0`).
pub fn parse_connect(command: &str, text: &str) -> Result<String> {
    let value = parse_json(command, text)?;
    let top = object(command, &value, "the connect output")?;
    match string(top, "device") {
        Some(d) if !d.is_empty() && !d.contains('/') => Ok(d),
        _ => Err(unexpected(command, "no controller name under \"device\"")),
    }
}

/// Parses `NQN:<nqn> disconnected <n> controller(s)`; `None` if the text
/// has another form (the exit code is what counts).
pub fn parse_disconnect(text: &str) -> Option<u32> {
    let (_, rest) = text.trim().rsplit_once(" disconnected ")?;
    rest.split_whitespace().next()?.parse().ok()
}

fn namespace(
    ns: &Map<String, Value>,
    subsystem_nqn: Option<&str>,
    controller: Option<&Map<String, Value>>,
) -> Option<ListedNamespace> {
    // Flat shape: DevicePath and a numeric NameSpace; nested: NameSpace is
    // the device name and NSID the id.
    let device_path = match string(ns, "DevicePath") {
        Some(p) if p.is_empty() => return None,
        Some(p) => p,
        None => {
            let name = match ns.get("NameSpace")? {
                Value::String(s) => s.clone(),
                _ => return None,
            };
            if name.is_empty() || name.contains('/') {
                return None;
            }
            format!("/dev/{name}")
        }
    };
    let from = |key: &str| string(ns, key).or_else(|| controller.and_then(|c| string(c, key)));
    Some(ListedNamespace {
        device_path,
        nsid: number(ns, "NSID").or_else(|| number(ns, "NameSpace")),
        subsystem_nqn: subsystem_nqn.map(str::to_string),
        model_number: from("ModelNumber"),
        serial_number: from("SerialNumber"),
        firmware: from("Firmware"),
        used_bytes: number(ns, "UsedBytes"),
        maximum_lba: number(ns, "MaximumLBA"),
        physical_size: number(ns, "PhysicalSize"),
        sector_size: number(ns, "SectorSize"),
    })
}

/// A subsystem of the nested shape: its namespaces, described with its
/// first controller's model, serial and firmware.
fn subsystem_namespaces(sub: &Map<String, Value>, out: &mut Vec<ListedNamespace>) {
    let nqn = string(sub, "SubsystemNQN");
    let controller = array(sub, "Controllers").iter().find_map(Value::as_object);
    for ns in array(sub, "Namespaces").iter().filter_map(Value::as_object) {
        out.extend(namespace(ns, nqn.as_deref(), controller));
    }
}

/// Parses `nvme list -o json` in any of the shapes nvme-cli prints:
/// `Devices` of namespaces (`DevicePath`), of subsystems (`SubsystemNQN`,
/// `Namespaces`), or of hosts (`HostNQN`, `Subsystems`). Entries without a
/// usable device path are skipped.
pub fn parse_list(command: &str, text: &str) -> Result<Vec<ListedNamespace>> {
    let value = parse_json(command, text)?;
    let top = object(command, &value, "the device list")?;
    let devices = match top.get("Devices") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(devices)) => devices.as_slice(),
        Some(_) => return Err(unexpected(command, "\"Devices\" is not a list")),
    };
    let mut out = Vec::new();
    for device in devices.iter().filter_map(Value::as_object) {
        if device.contains_key("Subsystems") {
            for sub in array(device, "Subsystems")
                .iter()
                .filter_map(Value::as_object)
            {
                subsystem_namespaces(sub, &mut out);
            }
        } else if device.contains_key("SubsystemNQN") || device.contains_key("Controllers") {
            subsystem_namespaces(device, &mut out);
        } else {
            out.extend(namespace(device, None, None));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/nvme-cli/", $name))
        };
    }

    #[test]
    fn discovery_from_nvme_cli() {
        let log = parse_discovery("nvme discover", fixture!("discover-tcp.json")).unwrap();
        assert_eq!(log.device.as_deref(), Some("nvme2"));
        assert_eq!(log.genctr, Some(4));
        assert_eq!(log.records.len(), 2);
        let r = &log.records[0];
        assert_eq!(r.subnqn, "storage1");
        assert_eq!(r.trtype.as_deref(), Some("tcp"));
        assert_eq!(r.adrfam.as_deref(), Some("ipv4"));
        assert_eq!(r.traddr.as_deref(), Some("127.0.0.1"));
        assert_eq!(r.trsvcid.as_deref(), Some("8009"));
        assert_eq!(r.portid, Some(1));
        assert_eq!(r.sectype.as_deref(), Some("none"));
        assert_eq!(r.eflags, None);
        assert!(r.is_nvme_subsystem());
    }

    #[test]
    fn discovery_with_eflags_and_a_discovery_record() {
        let log = parse_discovery("x", fixture!("discover-with-eflags.json")).unwrap();
        assert_eq!(log.device, None);
        let io: Vec<_> = log
            .records
            .iter()
            .filter(|r| r.is_nvme_subsystem())
            .collect();
        assert_eq!(io.len(), 1);
        assert_eq!(io[0].subnqn, "nqn.test-io");
        assert_eq!(log.records[0].eflags.as_deref(), Some("not specified"));
    }

    #[test]
    fn discovery_tolerates_odd_types_and_missing_fields() {
        let log = parse_discovery(
            "x",
            r#"{"records":[{"subnqn":"a","portid":"7","trsvcid":4420,"new":{}}]}"#,
        )
        .unwrap();
        assert_eq!(log.records[0].portid, Some(7));
        assert_eq!(log.records[0].trsvcid.as_deref(), Some("4420"));
        assert_eq!(log.genctr, None);
        assert!(parse_discovery("x", "{}").unwrap().records.is_empty());
    }

    #[test]
    fn discovery_garbage_is_typed() {
        for bad in [
            "",
            "Failed to write",
            "[]",
            r#"{"records":5}"#,
            r#"{"records":[1]}"#,
            r#"{"records":[{"traddr":"x"}]}"#,
        ] {
            assert!(
                matches!(
                    parse_discovery("nvme discover", bad),
                    Err(Error::UnexpectedOutput { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn connect_output() {
        assert_eq!(
            parse_connect("x", fixture!("connect.json")).unwrap(),
            "nvme0"
        );
        assert_eq!(
            parse_connect("x", r#"{"device":"nvme12"}"#).unwrap(),
            "nvme12"
        );
        for bad in [
            "",
            "{}",
            r#"{"device":""}"#,
            r#"{"device":"../x"}"#,
            r#"["nvme0"]"#,
        ] {
            assert!(parse_connect("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn disconnect_output() {
        assert_eq!(
            parse_disconnect("NQN:nqn.2023-01.io.spdk:raid01 disconnected 1 controller(s)\n"),
            Some(1)
        );
        assert_eq!(
            parse_disconnect("NQN:x disconnected 0 controller(s)"),
            Some(0)
        );
        assert_eq!(parse_disconnect("something else"), None);
    }

    #[test]
    fn list_2x_with_overflowed_sizes() {
        let list = parse_list("nvme list", fixture!("list-2.x.json")).unwrap();
        assert_eq!(list.len(), 1);
        let ns = &list[0];
        assert_eq!(ns.device_path, "/dev/nvme0n1");
        assert_eq!(ns.nsid, Some(1));
        assert_eq!(ns.model_number.as_deref(), Some("INTEL SSDPE2KX080T8"));
        assert_eq!(ns.firmware.as_deref(), Some("VDV10182"));
        assert_eq!(ns.used_bytes, None, "negative means unknown");
        assert_eq!(ns.maximum_lba, None);
        assert_eq!(ns.sector_size, Some(512));
    }

    #[test]
    fn list_1_16_with_extra_fields() {
        let list = parse_list("x", fixture!("list-1.16.json")).unwrap();
        assert_eq!(list[0].physical_size, Some(3_840_755_982_336));
        assert_eq!(list[0].serial_number.as_deref(), Some("22482U900075"));
    }

    #[test]
    fn list_verbose_nested_by_subsystem() {
        let list = parse_list("x", fixture!("list-verbose-subsystems.json")).unwrap();
        assert_eq!(list.len(), 1);
        let ns = &list[0];
        assert_eq!(ns.device_path, "/dev/nvme0n1");
        assert_eq!(ns.nsid, Some(1));
        assert_eq!(
            ns.subsystem_nqn.as_deref(),
            Some("nqn.2023-01.io.longhorn.spdk:raid01")
        );
        assert_eq!(ns.model_number.as_deref(), Some("SPDK bdev Controller"));
        assert_eq!(ns.physical_size, Some(4_194_304));
    }

    #[test]
    fn list_nested_by_host() {
        // The host-rooted shape of newer nvme-cli 2.x `list -v` (hand-made
        // sample: no published capture was found; see the fixtures README).
        let text = r#"{"Devices":[{"HostNQN":"nqn.2014-08.org.nvmexpress:uuid:1","HostID":"x",
            "Subsystems":[{"Subsystem":"nvme-subsys3","SubsystemNQN":"nqn.2026-11.io.pan:volume:v",
            "Controllers":[{"Controller":"nvme3","ModelNumber":"Linux","Transport":"tcp"}],
            "Namespaces":[{"NameSpace":"nvme3n1","Generic":"ng3n1","NSID":1,"PhysicalSize":1048576}]}]}]}"#;
        let list = parse_list("x", text).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].device_path, "/dev/nvme3n1");
        assert_eq!(
            list[0].subsystem_nqn.as_deref(),
            Some("nqn.2026-11.io.pan:volume:v")
        );
        assert_eq!(list[0].model_number.as_deref(), Some("Linux"));
    }

    #[test]
    fn list_skips_unusable_entries_and_types_garbage() {
        let list = parse_list(
            "x",
            r#"{"Devices":[1,{"NameSpace":1},{"NameSpace":"../../etc"},{"DevicePath":"/dev/nvme1n1"}]}"#,
        )
        .unwrap();
        assert_eq!(list.len(), 1);
        assert!(parse_list("x", r#"{"Devices":[]}"#).unwrap().is_empty());
        assert!(parse_list("x", "{}").unwrap().is_empty());
        for bad in ["", "No NVMe devices detected.", r#"{"Devices":{}}"#, "null"] {
            assert!(
                matches!(parse_list("x", bad), Err(Error::UnexpectedOutput { .. })),
                "{bad}"
            );
        }
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "\\PC{0,12}".prop_map(Value::String),
            prop_oneof![
                Just("subnqn"),
                Just("records"),
                Just("Devices"),
                Just("device"),
                Just("NameSpace"),
                Just("Subsystems"),
                Just("Namespaces"),
                Just("DevicePath")
            ]
            .prop_map(|s| Value::String(s.to_string())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let key = prop_oneof![
                Just("subnqn".to_string()),
                Just("records".to_string()),
                Just("Devices".to_string()),
                Just("device".to_string()),
                Just("NameSpace".to_string()),
                Just("NSID".to_string()),
                Just("Subsystems".to_string()),
                Just("SubsystemNQN".to_string()),
                Just("Namespaces".to_string()),
                Just("Controllers".to_string()),
                Just("DevicePath".to_string()),
                Just("portid".to_string()),
                "[a-z]{1,6}",
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn parsers_never_panic_on_text(s in "\\PC{0,200}") {
            let _ = parse_discovery("x", &s);
            let _ = parse_list("x", &s);
            let _ = parse_connect("x", &s);
            let _ = parse_disconnect(&s);
        }

        #[test]
        fn parsers_never_panic_on_json(v in arb_json()) {
            let s = v.to_string();
            let _ = parse_discovery("x", &s);
            if let Ok(list) = parse_list("x", &s) {
                for ns in list {
                    prop_assert!(!ns.device_path.is_empty());
                }
            }
            if let Ok(d) = parse_connect("x", &s) {
                prop_assert!(!d.contains('/'));
            }
        }
    }
}
