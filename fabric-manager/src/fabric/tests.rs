//! Unit tests of the fabric module: exact `ip` command lines (scripted
//! runner), parsing of `ip -j` output captured on a real host
//! (`fixtures/`), SimFabric semantics, and a conformance suite that every
//! [`Fabric`] must pass (run here on SimFabric, on LinuxFabric as root in
//! `real_tests.rs`). Tests only: nothing here may run real commands.

use super::names::{self, vni_of_bridge};
use super::parse;
use super::*;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

const PORT_ATTACHED: &str = include_str!("fixtures/port-attached.json");
const PORT_DETACHED: &str = include_str!("fixtures/port-detached.json");
const BRIDGE: &str = include_str!("fixtures/bridge.json");
const BRIDGE_PORTS: &str = include_str!("fixtures/bridge-ports.json");
const BLADE_ETH0: &str = include_str!("fixtures/blade-eth0.json");
const NETNS_LIST: &str = include_str!("fixtures/netns-list.json");
const FABRIC_LINKS: &str = include_str!("fixtures/fabric-links.json");

const NOT_FOUND: &str = "Device \"x\" does not exist.";

fn vni(v: u32) -> Vni {
    Vni::new(v).expect("valid vni")
}

// ---------------------------------------------------------------- runner

/// Answers commands from a script, checking each command line exactly.
#[derive(Default)]
struct ScriptedRunner {
    script: Mutex<VecDeque<(String, CommandOutput)>>,
    seen: Mutex<Vec<String>>,
}

impl ScriptedRunner {
    fn new(script: Vec<(&str, CommandOutput)>) -> Arc<Self> {
        Arc::new(ScriptedRunner {
            script: Mutex::new(script.into_iter().map(|(c, o)| (c.to_owned(), o)).collect()),
            seen: Mutex::default(),
        })
    }

    fn assert_done(&self) {
        let left = self.script.lock().unwrap();
        assert!(
            left.is_empty(),
            "expected commands never ran: {:?}\nran: {:#?}",
            left.iter().map(|(c, _)| c).collect::<Vec<_>>(),
            self.seen.lock().unwrap()
        );
    }
}

#[async_trait::async_trait]
impl CommandRunner for ScriptedRunner {
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, RunError> {
        let line = spec.to_string();
        self.seen.lock().unwrap().push(line.clone());
        let (expected, output) = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected command {line:?}: script is empty"));
        assert_eq!(line, expected, "command line differs from the script");
        Ok(output)
    }
}

fn fabric(runner: &Arc<ScriptedRunner>) -> LinuxFabric {
    LinuxFabric::with_runner(LinuxFabricConfig::new("pan-fabric-t"), runner.clone())
        .expect("valid config")
}

fn ok(s: &str) -> CommandOutput {
    CommandOutput::ok(s)
}

fn absent() -> CommandOutput {
    CommandOutput::failed(1, NOT_FOUND)
}

/// A link JSON with the given name, kind, master and UP flag.
fn link(name: &str, kind: &str, master: Option<&str>, up: bool) -> String {
    let flags = if up {
        r#"["BROADCAST","MULTICAST","UP","LOWER_UP"]"#
    } else {
        r#"["BROADCAST","MULTICAST"]"#
    };
    let master = master.map_or(String::new(), |m| format!(r#""master":"{m}","#));
    format!(
        r#"[{{"ifindex":3,"ifname":"{name}","flags":{flags},{master}"operstate":"UP","address":"02:50:41:00:00:07","linkinfo":{{"info_kind":"{kind}"}}}}]"#
    )
}

/// Blade 7, named `b7`: namespace `pan-fabric-t-blade-b7`, ports `pv7p<i>`.
fn b7() -> BladeRef {
    BladeRef::new(BladeId(7), "b7")
}

/// Both namespaces of blade 7 exist.
fn netns_both() -> CommandOutput {
    ok(r#"[{"name":"pan-fabric-t-blade-b7"},{"name":"pan-fabric-t"}]"#)
}

/// The address in the captured blade-side sample.
fn eth0_address() -> String {
    parse::links(BLADE_ETH0).unwrap()[0]
        .address
        .clone()
        .unwrap()
}

// ---------------------------------------------------------------- names

#[test]
fn names_fit_the_interface_limit() {
    assert_eq!(bridge_name(vni(100)), "pb64");
    assert_eq!(bridge_name(vni(Vni::MAX)), "pbffffff");
    assert_eq!(fabric_port_name(BladeId(7), 0).unwrap(), "pv7p0");
    assert_eq!(fabric_port_name(BladeId(0x11), 15).unwrap(), "pv11pf");
    assert_eq!(
        fabric_port_name(BladeId((1 << 44) - 1), 15).unwrap().len(),
        15
    );
    assert!(matches!(
        fabric_port_name(BladeId(1 << 44), 0),
        Err(FabricError::BladeIdTooLarge { .. })
    ));
    assert_eq!(blade_interface(0), "eth0");
    assert_eq!(blade_interface(15), "eth15");
    assert_eq!(
        names::blade_namespace("pan-fabric-a", &BladeRef::new(BladeId(3), "rack1-b03")).unwrap(),
        "pan-fabric-a-blade-rack1-b03"
    );
}

#[test]
fn fabric_port_names_round_trip_and_foreign_names_are_not_ours() {
    for (id, port) in [(0, 0), (7, 0), (7, 1), (0x11, 15), ((1 << 44) - 1, 9)] {
        let name = fabric_port_name(BladeId(id), port).unwrap();
        assert_eq!(
            names::port_of_fabric_name(&name),
            Some((BladeId(id), port)),
            "{name}"
        );
    }
    for foreign in [
        "pv7", "pv07p0", "pv7p00", "pv7p10", "pvp0", "pv7p", "pvAp0", "pv7q0", "pb64", "eth0",
        "pv7p0x", "lo",
    ] {
        assert_eq!(names::port_of_fabric_name(foreign), None, "{foreign}");
    }
}

#[test]
fn blade_names_and_port_numbers_are_checked() {
    let ok_names = ["b", "7", "rack1-b07", "a.b_c-d", &"x".repeat(63)];
    for name in ok_names {
        let blade = BladeRef::new(BladeId(1), name);
        assert!(
            names::blade_namespace("pan-fabric-a", &blade).is_ok(),
            "{name:?}"
        );
    }
    for bad in [
        "",
        "-b",
        ".b",
        "_b",
        "a/b",
        "a b",
        "a\nb",
        "ü",
        &"x".repeat(64),
    ] {
        let blade = BladeRef::new(BladeId(1), bad);
        let err = names::blade_namespace("pan-fabric-a", &blade).unwrap_err();
        let FabricError::InvalidBladeName {
            blade: id, name, ..
        } = &err
        else {
            panic!("{bad:?}: {err}");
        };
        assert_eq!((id, name.as_str()), (&BladeId(1), bad));
        assert!(err.to_string().contains("blade-1"), "{err}");
    }
    // A long fabric namespace and a long blade name overflow NAME_MAX.
    let long = BladeRef::new(BladeId(1), "y".repeat(63));
    let err = names::blade_namespace(&"f".repeat(200), &long).unwrap_err();
    assert!(err.to_string().contains("255"), "{err}");
    assert!(names::blade_namespace(&"f".repeat(185), &long).is_ok());

    assert!(names::check_port(&b7(), 15).is_ok());
    let err = names::check_port(&b7(), 16).unwrap_err();
    assert!(
        matches!(err, FabricError::PortOutOfRange { port: 16, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"b7\""), "{err}");
}

#[test]
fn bridge_names_round_trip_and_foreign_names_are_not_ours() {
    for v in [1, 100, 200, 0xabcdef, Vni::MAX] {
        assert_eq!(vni_of_bridge(&bridge_name(vni(v))), Some(vni(v)));
    }
    for foreign in [
        "pb",
        "pb0",
        "pb064",
        "pbABC",
        "pb1000000",
        "br0",
        "pbxyz",
        "docker0",
    ] {
        assert_eq!(vni_of_bridge(foreign), None, "{foreign}");
    }
}

#[test]
fn vni_range_is_24_bits_without_zero() {
    assert!(matches!(
        Vni::new(0),
        Err(FabricError::InvalidVni { value: 0 })
    ));
    assert!(Vni::new(16_777_216).is_err());
    assert_eq!(Vni::new(16_777_215).unwrap().get(), 16_777_215);
    assert_eq!(serde_json::to_string(&vni(100)).unwrap(), "100");
    assert!(serde_json::from_str::<Vni>("0").is_err());
}

#[test]
fn namespace_names_are_checked() {
    for bad in [
        "",
        "a/b",
        ".x",
        "a b",
        "pan-fabric-blade-x-blade-1",
        &"x".repeat(201),
    ] {
        assert!(
            matches!(
                LinuxFabric::new(LinuxFabricConfig::new(bad)),
                Err(FabricError::InvalidNamespace { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(LinuxFabric::new(LinuxFabricConfig::new("pan-fabric-rack1_a.b")).is_ok());
}

// ---------------------------------------------------------------- parsing

#[test]
fn parses_captured_attached_port() {
    let links = parse::links(PORT_ATTACHED).unwrap();
    assert_eq!(links.len(), 1);
    let l = &links[0];
    assert_eq!(l.name, "pv7p0");
    assert_eq!(l.master.as_deref(), Some("pb64"));
    assert!(l.admin_up && l.lower_up);
    assert_eq!(l.operstate.as_deref(), Some("UP"));
    assert_eq!(l.kind.as_deref(), Some("veth"));
    assert_eq!(l.address.as_deref(), Some("c6:d0:fd:08:05:c0"));
}

#[test]
fn parses_captured_detached_port_bridge_and_blade_side() {
    let detached = &parse::links(PORT_DETACHED).unwrap()[0];
    assert_eq!(
        (detached.master.as_deref(), detached.admin_up),
        (None, false)
    );
    assert_eq!(detached.operstate.as_deref(), Some("DOWN"));

    let bridge = &parse::links(BRIDGE).unwrap()[0];
    assert_eq!(bridge.kind.as_deref(), Some("bridge"));
    assert!(bridge.admin_up);
    assert_eq!(bridge.master, None);

    let ports = parse::links(BRIDGE_PORTS).unwrap();
    assert_eq!(
        ports.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["pv7p0", "pv11p0"]
    );

    let eth0 = &parse::links(BLADE_ETH0).unwrap()[0];
    assert_eq!(eth0.name, "eth0");
    assert!(Mac::parse(eth0.address.as_deref().unwrap()).is_ok());
}

#[test]
fn parses_a_captured_fabric_listing_into_ports_by_blade() {
    let links = parse::links(FABRIC_LINKS).unwrap();
    let ours: Vec<(BladeId, u8, Option<&str>, bool)> = links
        .iter()
        .filter_map(|l| {
            names::port_of_fabric_name(&l.name)
                .map(|(b, p)| (b, p, l.master.as_deref(), l.admin_up))
        })
        .collect();
    assert_eq!(
        ours,
        [
            (BladeId(7), 0, Some("pb64"), true),
            (BladeId(7), 1, None, false),
            (BladeId(0x11), 0, Some("pb64"), true),
        ]
    );
}

#[test]
fn parses_netns_lists_and_empty_output() {
    assert_eq!(
        parse::netns_names(NETNS_LIST).unwrap(),
        ["pan-cap-b", "pan-cap-f"]
    );
    assert!(parse::netns_names("").unwrap().is_empty());
    assert!(parse::netns_names("[]").unwrap().is_empty());
    assert!(parse::links("\n").unwrap().is_empty());
    assert!(parse::links("[]").unwrap().is_empty());
    // Extra fields and ids are tolerated; garbage is an error, not a panic.
    assert_eq!(
        parse::netns_names(r#"[{"name":"a","id":0}]"#).unwrap(),
        ["a"]
    );
    assert!(parse::links("Device not found").is_err());
    assert!(parse::links(r#"[{"flags":[]}]"#).is_err());
}

#[test]
fn absent_devices_and_namespaces_are_recognised() {
    assert!(parse::is_absent("Device \"pv7\" does not exist."));
    assert!(parse::is_absent(
        "Cannot open network namespace \"x\": No such file or directory"
    ));
    assert!(!parse::is_absent(
        "RTNETLINK answers: Operation not permitted"
    ));
}

// ---------------------------------------------------------------- command lines

/// A `-j link show` listing of several links made by [`link`].
fn listing(links: &[String]) -> String {
    let inner: Vec<&str> = links
        .iter()
        .map(|l| l.trim().trim_start_matches('[').trim_end_matches(']'))
        .collect();
    format!("[{}]", inner.join(","))
}

#[tokio::test]
async fn ensure_network_creates_namespace_and_bridge_then_reads_back() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", ok("")),
        ("ip netns add pan-fabric-t", ok("")),
        ("ip -n pan-fabric-t -j -d link show dev pb64", absent()),
        (
            "ip -n pan-fabric-t link add pb64 type bridge forward_delay 0 stp_state 0",
            ok(""),
        ),
        (
            "ip -n pan-fabric-t -j -d link show dev pb64",
            ok(&link("pb64", "bridge", None, false)),
        ),
        ("ip -n pan-fabric-t link set dev pb64 up", ok("")),
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
    ]);
    fabric(&runner).ensure_network(vni(100)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn ensure_network_is_a_read_when_the_bridge_exists() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", ok(r#"[{"name":"pan-fabric-t"}]"#)),
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
    ]);
    fabric(&runner).ensure_network(vni(100)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn ensure_network_refuses_a_foreign_link_with_the_bridge_name() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", ok(r#"[{"name":"pan-fabric-t"}]"#)),
        (
            "ip -n pan-fabric-t -j -d link show dev pb64",
            ok(&link("pb64", "dummy", None, true)),
        ),
    ]);
    let err = fabric(&runner).ensure_network(vni(100)).await.unwrap_err();
    assert!(matches!(err, FabricError::ReadBack { .. }), "{err}");
    runner.assert_done();
}

#[tokio::test]
async fn ensure_port_creates_netns_and_veth_and_brings_the_blade_side_up() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", ok(r#"[{"name":"pan-fabric-t"}]"#)),
        ("ip netns add pan-fabric-t-blade-b7", ok("")),
        ("ip -n pan-fabric-t -j -d link show dev pv7p0", absent()),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            absent(),
        ),
        (
            "ip -n pan-fabric-t link add pv7p0 type veth peer name eth0 netns pan-fabric-t-blade-b7",
            ok(""),
        ),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(PORT_DETACHED),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(&link("eth0", "veth", None, false)),
        ),
        ("ip -n pan-fabric-t-blade-b7 link set dev eth0 up", ok("")),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(BLADE_ETH0),
        ),
    ]);
    let info = fabric(&runner).ensure_port(&b7(), 0).await.unwrap();
    runner.assert_done();
    assert_eq!(
        info,
        PortInfo {
            blade: BladeId(7),
            port: 0,
            blade_namespace: "pan-fabric-t-blade-b7".into(),
            interface: "eth0".into(),
            fabric_namespace: "pan-fabric-t".into(),
            fabric_port: "pv7p0".into(),
            mac: Mac::parse(&eth0_address()).unwrap(),
        }
    );
}

#[tokio::test]
async fn ensure_port_is_a_read_for_an_existing_port_and_numbers_its_names() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", netns_both()),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p3",
            ok(&link("pv7p3", "veth", None, false)),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth3",
            ok(&link("eth3", "veth", None, true)),
        ),
    ]);
    let info = fabric(&runner).ensure_port(&b7(), 3).await.unwrap();
    runner.assert_done();
    assert_eq!(
        (
            info.port,
            info.interface.as_str(),
            info.fabric_port.as_str()
        ),
        (3, "eth3", "pv7p3")
    );
    assert_eq!(info.mac, Mac::parse("02:50:41:00:00:07").unwrap());
}

#[tokio::test]
async fn ensure_port_refuses_an_interface_in_the_way() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", netns_both()),
        ("ip -n pan-fabric-t -j -d link show dev pv7p0", absent()),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(&link("eth0", "dummy", None, true)),
        ),
    ]);
    let err = fabric(&runner).ensure_port(&b7(), 0).await.unwrap_err();
    assert!(
        matches!(&err, FabricError::InterfaceInTheWay { interface, .. } if interface == "eth0"),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("ip -n pan-fabric-t-blade-b7 link del eth0"),
        "{text}"
    );
    runner.assert_done();
}

#[tokio::test]
async fn bad_ports_and_blade_names_are_refused_before_any_command() {
    let runner = ScriptedRunner::new(vec![]);
    let f = fabric(&runner);
    let err = f.ensure_port(&b7(), 16).await.unwrap_err();
    assert!(
        matches!(err, FabricError::PortOutOfRange { port: 16, .. }),
        "{err}"
    );
    let err = f.attach(&b7(), 200, vni(100)).await.unwrap_err();
    assert!(matches!(err, FabricError::PortOutOfRange { .. }), "{err}");
    let bad = BladeRef::new(BladeId(7), "../etc");
    for err in [
        f.ensure_port(&bad, 0).await.unwrap_err(),
        f.detach(&bad).await.unwrap_err(),
        f.ports(&bad).await.unwrap_err(),
    ] {
        assert!(matches!(err, FabricError::InvalidBladeName { .. }), "{err}");
    }
    runner.assert_done();
}

#[tokio::test]
async fn attach_enslaves_and_raises_then_reads_back() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", netns_both()),
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(PORT_DETACHED),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(BLADE_ETH0),
        ),
        ("ip -n pan-fabric-t link set dev pv7p0 master pb64", ok("")),
        ("ip -n pan-fabric-t link set dev pv7p0 up", ok("")),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(PORT_ATTACHED),
        ),
    ]);
    fabric(&runner).attach(&b7(), 0, vni(100)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn attach_twice_changes_nothing_the_second_time() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", netns_both()),
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(PORT_ATTACHED),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(BLADE_ETH0),
        ),
    ]);
    fabric(&runner).attach(&b7(), 0, vni(100)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn attach_to_another_network_moves_the_port() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", netns_both()),
        (
            "ip -n pan-fabric-t -j -d link show dev pbc8",
            ok(&link("pbc8", "bridge", None, true)),
        ),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(PORT_ATTACHED),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(BLADE_ETH0),
        ),
        ("ip -n pan-fabric-t link set dev pv7p0 master pbc8", ok("")),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(&link("pv7p0", "veth", Some("pbc8"), true)),
        ),
    ]);
    fabric(&runner).attach(&b7(), 0, vni(200)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn attach_creates_a_missing_network_and_port() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", ok("[]")),
        ("ip netns add pan-fabric-t", ok("")),
        ("ip netns add pan-fabric-t-blade-b7", ok("")),
        ("ip -n pan-fabric-t -j -d link show dev pb64", absent()),
        (
            "ip -n pan-fabric-t link add pb64 type bridge forward_delay 0 stp_state 0",
            ok(""),
        ),
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        ("ip -n pan-fabric-t -j -d link show dev pv7p1", absent()),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth1",
            absent(),
        ),
        (
            "ip -n pan-fabric-t link add pv7p1 type veth peer name eth1 netns pan-fabric-t-blade-b7",
            ok(""),
        ),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p1",
            ok(&link("pv7p1", "veth", None, false)),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth1",
            ok(&link("eth1", "veth", None, false)),
        ),
        ("ip -n pan-fabric-t-blade-b7 link set dev eth1 up", ok("")),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth1",
            ok(&link("eth1", "veth", None, true)),
        ),
        ("ip -n pan-fabric-t link set dev pv7p1 master pb64", ok("")),
        ("ip -n pan-fabric-t link set dev pv7p1 up", ok("")),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p1",
            ok(&link("pv7p1", "veth", Some("pb64"), true)),
        ),
    ]);
    fabric(&runner).attach(&b7(), 1, vni(100)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn attach_that_does_not_take_effect_is_a_read_back_error() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", netns_both()),
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(PORT_DETACHED),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(BLADE_ETH0),
        ),
        ("ip -n pan-fabric-t link set dev pv7p0 master pb64", ok("")),
        ("ip -n pan-fabric-t link set dev pv7p0 up", ok("")),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(PORT_DETACHED),
        ),
    ]);
    let err = fabric(&runner)
        .attach(&b7(), 0, vni(100))
        .await
        .unwrap_err();
    let FabricError::ReadBack {
        expected, found, ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(
        (expected.as_str(), found.as_str()),
        ("master pb64, up", "master none, down")
    );
    runner.assert_done();
}

#[tokio::test]
async fn detach_sets_every_port_down_then_nomaster_then_reads_back() {
    let before = listing(&[
        link("pb64", "bridge", None, true),
        link("pv7p0", "veth", Some("pb64"), true),
        link("pv7p1", "veth", Some("pbc8"), true),
        link("pv7p2", "veth", None, false),
        link("pv11p0", "veth", Some("pb64"), true),
    ]);
    let after = listing(&[
        link("pb64", "bridge", None, true),
        link("pv7p0", "veth", None, false),
        link("pv7p1", "veth", None, false),
        link("pv7p2", "veth", None, false),
        link("pv11p0", "veth", Some("pb64"), true),
    ]);
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j link show", ok(&before)),
        ("ip -n pan-fabric-t link set dev pv7p0 down", ok("")),
        ("ip -n pan-fabric-t link set dev pv7p0 nomaster", ok("")),
        ("ip -n pan-fabric-t link set dev pv7p1 down", ok("")),
        ("ip -n pan-fabric-t link set dev pv7p1 nomaster", ok("")),
        ("ip -n pan-fabric-t -j link show", ok(&after)),
    ]);
    fabric(&runner).detach(&b7()).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn detach_acts_on_the_captured_listing_only_for_its_blade() {
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j link show", ok(FABRIC_LINKS)),
        ("ip -n pan-fabric-t link set dev pv7p0 down", ok("")),
        ("ip -n pan-fabric-t link set dev pv7p0 nomaster", ok("")),
        (
            "ip -n pan-fabric-t -j link show",
            ok(&listing(&[
                link("pv7p0", "veth", None, false),
                link("pv7p1", "veth", None, false),
                link("pv11p0", "veth", Some("pb64"), true),
            ])),
        ),
    ]);
    fabric(&runner).detach(&b7()).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn detach_is_idempotent_and_ok_without_ports() {
    let detached = listing(&[
        link("pv7p0", "veth", None, false),
        link("pv11p0", "veth", Some("pb64"), true),
    ]);
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j link show", ok(&detached)),
        ("ip -n pan-fabric-t -j link show", ok(FABRIC_LINKS)),
        (
            "ip -n pan-fabric-t -j link show",
            CommandOutput::failed(
                1,
                "Cannot open network namespace \"pan-fabric-t\": No such file or directory",
            ),
        ),
    ]);
    let f = fabric(&runner);
    f.detach(&b7()).await.unwrap();
    f.detach(&BladeRef::new(BladeId(9), "b9")).await.unwrap();
    f.detach(&b7()).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn detach_that_does_not_take_effect_names_the_live_port() {
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j link show", ok(FABRIC_LINKS)),
        ("ip -n pan-fabric-t link set dev pv7p0 down", ok("")),
        ("ip -n pan-fabric-t link set dev pv7p0 nomaster", ok("")),
        ("ip -n pan-fabric-t -j link show", ok(FABRIC_LINKS)),
    ]);
    let err = fabric(&runner).detach(&b7()).await.unwrap_err();
    let FabricError::ReadBack { object, found, .. } = &err else {
        panic!("{err}");
    };
    assert!(matches!(object, Object::Blade { .. }), "{err}");
    assert_eq!(found, "pv7p0: master pb64, up");
    runner.assert_done();
}

#[tokio::test]
async fn ports_lists_a_blades_ports_in_port_order() {
    let unordered = listing(&[
        link("pv7p2", "veth", None, false),
        link("pv7p0", "veth", Some("pb64"), true),
        link("pv17p0", "veth", Some("pb64"), true),
    ]);
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j link show", ok(FABRIC_LINKS)),
        ("ip -n pan-fabric-t -j link show", ok(&unordered)),
        (
            "ip -n pan-fabric-t -j link show",
            ok(&listing(&[link("pv7p0", "veth", Some("docker0"), true)])),
        ),
        (
            "ip -n pan-fabric-t -j link show",
            CommandOutput::failed(
                1,
                "Cannot open network namespace \"pan-fabric-t\": No such file or directory",
            ),
        ),
    ]);
    let f = fabric(&runner);
    let on100 = PortState {
        network: Some(vni(100)),
        up: true,
    };
    assert_eq!(
        f.ports(&b7()).await.unwrap(),
        [(0, on100), (1, PortState::DETACHED)]
    );
    assert_eq!(
        f.ports(&b7()).await.unwrap(),
        [(0, on100), (2, PortState::DETACHED)]
    );
    let err = f.ports(&b7()).await.unwrap_err();
    assert!(matches!(err, FabricError::ForeignMaster { .. }), "{err}");
    assert!(f.ports(&b7()).await.unwrap().is_empty());
    runner.assert_done();
}

#[tokio::test]
async fn port_state_maps_master_to_network() {
    let runner = ScriptedRunner::new(vec![
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(PORT_ATTACHED),
        ),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(PORT_DETACHED),
        ),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7p0",
            ok(&link("pv7p0", "veth", Some("docker0"), true)),
        ),
        ("ip -n pan-fabric-t -j -d link show dev pv7p1", absent()),
    ]);
    let f = fabric(&runner);
    assert_eq!(
        f.port_state(&b7(), 0).await.unwrap(),
        PortState {
            network: Some(vni(100)),
            up: true
        }
    );
    assert_eq!(f.port_state(&b7(), 0).await.unwrap(), PortState::DETACHED);
    let err = f.port_state(&b7(), 0).await.unwrap_err();
    assert!(matches!(err, FabricError::ForeignMaster { .. }), "{err}");
    let err = f.port_state(&b7(), 1).await.unwrap_err();
    assert!(
        matches!(err, FabricError::PortNotFound { port: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("\"b7\""), "{err}");
    runner.assert_done();
}

#[tokio::test]
async fn remove_network_refuses_while_ports_are_attached() {
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        (
            "ip -n pan-fabric-t -j link show master pb64",
            ok(BRIDGE_PORTS),
        ),
    ]);
    let err = fabric(&runner).remove_network(vni(100)).await.unwrap_err();
    let FabricError::NetworkInUse { ports, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(ports, &["pv7p0", "pv11p0"]);
    runner.assert_done();
}

#[tokio::test]
async fn remove_network_deletes_an_empty_bridge_and_is_idempotent() {
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        ("ip -n pan-fabric-t -j link show master pb64", ok("[]")),
        ("ip -n pan-fabric-t link del dev pb64", ok("")),
        ("ip -n pan-fabric-t -j -d link show dev pb64", absent()),
        ("ip -n pan-fabric-t -j -d link show dev pb64", absent()),
    ]);
    let f = fabric(&runner);
    f.remove_network(vni(100)).await.unwrap();
    f.remove_network(vni(100)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn set_blade_mac_sets_and_reads_back_only_when_different() {
    let mac = Mac::parse("02:50:41:00:00:07").unwrap();
    let runner = ScriptedRunner::new(vec![
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(BLADE_ETH0),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 link set dev eth0 address 02:50:41:00:00:07",
            ok(""),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(&link("eth0", "veth", None, true)),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth0",
            ok(&link("eth0", "veth", None, true)),
        ),
        (
            "ip -n pan-fabric-t-blade-b7 -j -d link show dev eth2",
            absent(),
        ),
    ]);
    let f = fabric(&runner);
    f.set_blade_mac(&b7(), 0, mac).await.unwrap();
    f.set_blade_mac(&b7(), 0, mac).await.unwrap();
    let err = f.set_blade_mac(&b7(), 2, mac).await.unwrap_err();
    assert!(
        matches!(err, FabricError::PortNotFound { port: 2, .. }),
        "{err}"
    );
    runner.assert_done();
}

#[tokio::test]
async fn teardown_deletes_only_its_namespaces_blades_first() {
    let list = r#"[{"name":"pan-fabric-t"},{"name":"other"},{"name":"pan-fabric-t-blade-b7"},{"name":"pan-fabric-tt-blade-1"}]"#;
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", ok(list)),
        ("ip netns del pan-fabric-t-blade-b7", ok("")),
        ("ip netns del pan-fabric-t", ok("")),
        (
            "ip -j netns list",
            ok(r#"[{"name":"other"},{"name":"pan-fabric-tt-blade-1"}]"#),
        ),
    ]);
    fabric(&runner).teardown().await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn command_failures_carry_object_command_code_and_stderr() {
    let runner = ScriptedRunner::new(vec![(
        "ip -n pan-fabric-t -j -d link show dev pv7p0",
        CommandOutput::failed(2, "RTNETLINK answers: Operation not permitted"),
    )]);
    let err = fabric(&runner).port_state(&b7(), 0).await.unwrap_err();
    let FabricError::CommandFailed {
        object,
        command,
        code,
        stderr,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(
        object,
        &Object::Port {
            blade: b7(),
            port: 0,
            namespace: "pan-fabric-t-blade-b7".into(),
        }
    );
    assert_eq!(command, "ip -n pan-fabric-t -j -d link show dev pv7p0");
    assert_eq!(*code, Some(2));
    assert_eq!(stderr, "RTNETLINK answers: Operation not permitted");
    let text = err.to_string();
    assert!(
        text.contains("blade-7 \"b7\" port 0 (namespace pan-fabric-t-blade-b7, fabric port pv7p0)")
            && text.contains("exit code 2")
            && text.contains("CAP_NET_ADMIN"),
        "{text}"
    );

    let runner = ScriptedRunner::new(vec![(
        "ip -n pan-fabric-t -j link show",
        CommandOutput::failed(2, "RTNETLINK answers: Operation not permitted"),
    )]);
    let err = fabric(&runner).detach(&b7()).await.unwrap_err();
    let FabricError::CommandFailed { object, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        object,
        &Object::Blade {
            blade: b7(),
            namespace: "pan-fabric-t-blade-b7".into()
        }
    );
}

#[tokio::test]
async fn runner_failures_become_typed_errors() {
    struct Failing;
    #[async_trait::async_trait]
    impl CommandRunner for Failing {
        async fn run(&self, _: &CommandSpec) -> Result<CommandOutput, RunError> {
            Err(RunError::Timeout {
                program: "ip".into(),
                after: std::time::Duration::from_secs(10),
            })
        }
    }
    let f = LinuxFabric::with_runner(LinuxFabricConfig::new("pan-fabric-t"), Arc::new(Failing))
        .unwrap();
    let err = f.port_state(&b7(), 0).await.unwrap_err();
    assert!(matches!(err, FabricError::Timeout { .. }), "{err}");

    let mut config = LinuxFabricConfig::new("pan-fabric-t");
    config.ip = "/nonexistent/pan-ip".into();
    let err = LinuxFabric::new(config)
        .unwrap()
        .teardown()
        .await
        .unwrap_err();
    assert!(matches!(err, FabricError::NotInstalled { .. }), "{err}");
}

// ---------------------------------------------------------------- SimFabric

fn blade(id: u64) -> BladeRef {
    BladeRef::new(BladeId(id), format!("b{id}"))
}

#[tokio::test]
async fn sim_reachability_is_same_network_only_on_any_port() {
    let f = SimFabric::new();
    let (b1, b2, b3) = (blade(1), blade(2), blade(3));
    for b in [&b1, &b2, &b3] {
        f.ensure_port(b, 0).await.unwrap();
    }
    let id = |b: &BladeRef| b.id;
    assert!(
        !f.reachable(id(&b1), id(&b2)),
        "detached ports reach nothing"
    );
    f.attach(&b1, 0, vni(100)).await.unwrap();
    f.attach(&b2, 0, vni(100)).await.unwrap();
    f.attach(&b3, 0, vni(200)).await.unwrap();
    assert_eq!(
        f.networks(),
        [vni(100), vni(200)],
        "attach creates networks"
    );
    assert!(f.reachable(id(&b1), id(&b2)) && f.reachable(id(&b2), id(&b1)));
    assert!(!f.reachable(id(&b1), id(&b3)) && !f.reachable(id(&b2), id(&b3)));
    assert!(!f.reachable(id(&b1), BladeId(99)));
    assert_eq!(f.members(vni(100)), [(BladeId(1), 0), (BladeId(2), 0)]);

    // A second port of blade 1 on network 200 reaches blade 3 too.
    f.attach(&b1, 1, vni(200)).await.unwrap();
    assert!(f.reachable(id(&b1), id(&b3)) && f.reachable(id(&b3), id(&b1)));
    assert!(f.port_reachable(BladeId(1), 1, BladeId(3), 0));
    assert!(!f.port_reachable(BladeId(1), 0, BladeId(3), 0));
    assert!(!f.reachable(id(&b2), id(&b3)));

    // Detach cuts every port of the blade.
    f.detach(&b1).await.unwrap();
    assert!(!f.reachable(id(&b1), id(&b2)) && !f.reachable(id(&b1), id(&b3)));
    assert_eq!(
        f.ports(&b1).await.unwrap(),
        [(0, PortState::DETACHED), (1, PortState::DETACHED)]
    );
    f.attach(&b2, 0, vni(200)).await.unwrap();
    assert!(f.reachable(id(&b2), id(&b3)) && !f.reachable(id(&b1), id(&b2)));
}

#[tokio::test]
async fn sim_keeps_ports_and_macs() {
    let f = SimFabric::new();
    let info = f.ensure_port(&b7(), 0).await.unwrap();
    assert_eq!(f.ensure_port(&b7(), 0).await.unwrap(), info);
    assert_eq!(info.blade_namespace, "sim-fabric-blade-b7");
    assert!(info.mac.is_locally_administered() && !info.mac.is_multicast());
    let other = f.ensure_port(&b7(), 1).await.unwrap();
    assert_ne!(other.mac, info.mac, "ports get distinct MACs");
    let mac = Mac::parse("02:50:41:00:00:07").unwrap();
    f.set_blade_mac(&b7(), 1, mac).await.unwrap();
    assert_eq!(f.blade_mac(BladeId(7), 1), Some(mac));
    assert_eq!(f.blade_mac(BladeId(7), 0), Some(info.mac));
    assert!(matches!(
        f.set_blade_mac(&blade(8), 0, mac).await,
        Err(FabricError::PortNotFound { .. })
    ));
    f.teardown().await.unwrap();
    assert!(f.networks().is_empty() && f.blade_mac(BladeId(7), 0).is_none());
}

proptest::proptest! {
    /// After any sequence of attach/detach, blade reachability equals "some
    /// port of each on the same network" computed from `ports`.
    #[test]
    fn sim_reachability_matches_port_states(ops in proptest::collection::vec((0u64..6, 0u8..3, 0u32..3), 0..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let f = SimFabric::new();
            for b in 0..6 { f.ensure_port(&blade(b), 0).await.unwrap(); }
            for (b, port, net) in ops {
                if net == 0 { f.detach(&blade(b)).await.unwrap(); }
                else { f.attach(&blade(b), port, vni(net)).await.unwrap(); }
            }
            let mut nets = Vec::new();
            for b in 0..6 {
                let ports = f.ports(&blade(b)).await.unwrap();
                assert!(ports.windows(2).all(|w| w[0].0 < w[1].0), "sorted: {ports:?}");
                nets.push(ports.iter().filter(|(_, s)| s.up).filter_map(|(_, s)| s.network).collect::<Vec<_>>());
            }
            for a in 0..6 {
                for b in 0..6 {
                    let expected = nets[a].iter().any(|n| nets[b].contains(n));
                    assert_eq!(f.reachable(BladeId(a as u64), BladeId(b as u64)), expected);
                }
            }
        });
    }
}

// ---------------------------------------------------------------- conformance

/// What every [`Fabric`] must do, on blades `base+1`, `base+2` (named
/// `conf-a<base>`, `conf-b<base>`) and networks `base_vni`, `base_vni+1`.
/// Leaves the fabric torn down.
pub(super) async fn conformance(f: &dyn Fabric, base: u64, base_vni: u32) {
    let a = BladeRef::new(BladeId(base + 1), format!("conf-a{base}"));
    let b = BladeRef::new(BladeId(base + 2), format!("conf-b{base}"));
    let ghost = BladeRef::new(BladeId(base + 9), format!("conf-ghost{base}"));
    let (n1, n2) = (vni(base_vni), vni(base_vni + 1));
    let on = |n| PortState {
        network: Some(n),
        up: true,
    };

    // Ports start detached and down; creating twice is the same port.
    let info = f.ensure_port(&a, 0).await.unwrap();
    assert_eq!((info.port, info.interface.as_str()), (0, "eth0"));
    assert_eq!(f.ensure_port(&a, 0).await.unwrap(), info);
    let info1 = f.ensure_port(&a, 1).await.unwrap();
    assert_eq!((info1.port, info1.interface.as_str()), (1, "eth1"));
    assert_eq!(info1.blade_namespace, info.blade_namespace);
    assert!(
        info.blade_namespace
            .ends_with(&format!("-blade-{}", a.name))
    );
    assert_ne!(info1.fabric_port, info.fabric_port);
    f.ensure_port(&b, 0).await.unwrap();
    assert_eq!(f.port_state(&a, 0).await.unwrap(), PortState::DETACHED);
    assert_eq!(
        f.ports(&a).await.unwrap(),
        [(0, PortState::DETACHED), (1, PortState::DETACHED)]
    );
    assert!(f.ports(&ghost).await.unwrap().is_empty());
    for (blade, port) in [(&a, 2), (&ghost, 0)] {
        assert!(matches!(
            f.port_state(blade, port).await,
            Err(FabricError::PortNotFound { .. })
        ));
    }

    // Port numbers and blade names are checked.
    assert!(matches!(
        f.ensure_port(&a, MAX_PORTS).await,
        Err(FabricError::PortOutOfRange { .. })
    ));
    assert!(matches!(
        f.attach(&a, MAX_PORTS, n1).await,
        Err(FabricError::PortOutOfRange { .. })
    ));
    let bad = BladeRef::new(BladeId(base + 3), "bad name");
    assert!(matches!(
        f.ensure_port(&bad, 0).await,
        Err(FabricError::InvalidBladeName { .. })
    ));

    // Attach creates the network and the port as needed, is idempotent,
    // and moves a port attached elsewhere.
    f.attach(&a, 0, n1).await.unwrap();
    f.attach(&a, 0, n1).await.unwrap();
    assert_eq!(f.port_state(&a, 0).await.unwrap(), on(n1));
    f.ensure_network(n1).await.unwrap();
    f.attach(&a, 2, n2).await.unwrap();
    assert_eq!(
        f.ports(&a).await.unwrap(),
        [(0, on(n1)), (1, PortState::DETACHED), (2, on(n2))]
    );
    f.attach(&a, 0, n2).await.unwrap();
    assert_eq!(f.port_state(&a, 0).await.unwrap(), on(n2));

    // A network in use cannot be removed; an empty one can, twice.
    assert!(matches!(
        f.remove_network(n2).await,
        Err(FabricError::NetworkInUse { .. })
    ));
    f.remove_network(n1).await.unwrap();
    f.remove_network(n1).await.unwrap();

    // Detach takes down every port of the blade and only that blade; it is
    // idempotent, also for blades without ports.
    f.attach(&b, 0, n2).await.unwrap();
    f.detach(&a).await.unwrap();
    f.detach(&a).await.unwrap();
    f.detach(&ghost).await.unwrap();
    assert_eq!(
        f.ports(&a).await.unwrap(),
        [
            (0, PortState::DETACHED),
            (1, PortState::DETACHED),
            (2, PortState::DETACHED)
        ]
    );
    assert_eq!(f.port_state(&b, 0).await.unwrap(), on(n2));
    f.detach(&b).await.unwrap();
    f.remove_network(n2).await.unwrap();

    // The identity MAC is applied per port and idempotent.
    let mac = Mac::parse("02:50:41:00:00:2a").unwrap();
    f.set_blade_mac(&b, 0, mac).await.unwrap();
    f.set_blade_mac(&b, 0, mac).await.unwrap();
    assert_eq!(f.ensure_port(&b, 0).await.unwrap().mac, mac);
    assert!(matches!(
        f.set_blade_mac(&b, 1, mac).await,
        Err(FabricError::PortNotFound { .. })
    ));

    f.teardown().await.unwrap();
    f.teardown().await.unwrap();
    assert!(matches!(
        f.port_state(&a, 0).await,
        Err(FabricError::PortNotFound { .. })
    ));
    assert!(f.ports(&a).await.unwrap().is_empty());
}

#[tokio::test]
async fn sim_fabric_passes_conformance() {
    conformance(&SimFabric::new(), 0, 100).await;
}
