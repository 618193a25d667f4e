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

const BLADE7: BladeId = BladeId(7);

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
    assert_eq!(fabric_port_name(BladeId(7)).unwrap(), "pv7");
    assert_eq!(fabric_port_name(BladeId((1 << 52) - 1)).unwrap().len(), 15);
    assert!(matches!(
        fabric_port_name(BladeId(1 << 52)),
        Err(FabricError::BladeIdTooLarge { .. })
    ));
    assert_eq!(
        names::blade_namespace("pan-fabric-a", BladeId(3)),
        "pan-fabric-a-blade-3"
    );
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
    assert_eq!(l.name, "pv7");
    assert_eq!(l.master.as_deref(), Some("pb64"));
    assert!(l.admin_up && l.lower_up);
    assert_eq!(l.operstate.as_deref(), Some("UP"));
    assert_eq!(l.kind.as_deref(), Some("veth"));
    assert_eq!(l.address.as_deref(), Some("4e:b7:dc:14:6b:b8"));
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
        ["pv7"]
    );

    let eth0 = &parse::links(BLADE_ETH0).unwrap()[0];
    assert_eq!(eth0.name, "eth0");
    assert!(Mac::parse(eth0.address.as_deref().unwrap()).is_ok());
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
async fn ensure_blade_port_creates_netns_and_veth_and_brings_eth0_up() {
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", ok(r#"[{"name":"pan-fabric-t"}]"#)),
        ("ip netns add pan-fabric-t-blade-7", ok("")),
        ("ip -n pan-fabric-t -j -d link show dev pv7", absent()),
        (
            "ip -n pan-fabric-t link add pv7 type veth peer name eth0 netns pan-fabric-t-blade-7",
            ok(""),
        ),
        (
            "ip -n pan-fabric-t-blade-7 -j -d link show dev eth0",
            ok(&link("eth0", "veth", None, false)),
        ),
        ("ip -n pan-fabric-t-blade-7 link set dev eth0 up", ok("")),
        (
            "ip -n pan-fabric-t-blade-7 -j -d link show dev eth0",
            ok(BLADE_ETH0),
        ),
    ]);
    let info = fabric(&runner).ensure_blade_port(BLADE7).await.unwrap();
    runner.assert_done();
    assert_eq!(
        info,
        PortInfo {
            blade: BLADE7,
            blade_namespace: "pan-fabric-t-blade-7".into(),
            interface: "eth0".into(),
            fabric_namespace: "pan-fabric-t".into(),
            fabric_port: "pv7".into(),
            mac: Mac::parse(&eth0_address()).unwrap(),
        }
    );
}

#[tokio::test]
async fn attach_enslaves_and_raises_then_reads_back() {
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_DETACHED),
        ),
        ("ip -n pan-fabric-t link set dev pv7 master pb64", ok("")),
        ("ip -n pan-fabric-t link set dev pv7 up", ok("")),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_ATTACHED),
        ),
    ]);
    fabric(&runner).attach(BLADE7, vni(100)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn attach_twice_changes_nothing_the_second_time() {
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_ATTACHED),
        ),
    ]);
    fabric(&runner).attach(BLADE7, vni(100)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn attach_to_another_network_moves_the_port() {
    let runner = ScriptedRunner::new(vec![
        (
            "ip -n pan-fabric-t -j -d link show dev pbc8",
            ok(&link("pbc8", "bridge", None, true)),
        ),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_ATTACHED),
        ),
        ("ip -n pan-fabric-t link set dev pv7 master pbc8", ok("")),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(&link("pv7", "veth", Some("pbc8"), true)),
        ),
    ]);
    fabric(&runner).attach(BLADE7, vni(200)).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn attach_reports_missing_network_and_missing_port() {
    let runner = ScriptedRunner::new(vec![(
        "ip -n pan-fabric-t -j -d link show dev pb64",
        absent(),
    )]);
    let err = fabric(&runner).attach(BLADE7, vni(100)).await.unwrap_err();
    assert!(matches!(err, FabricError::NetworkNotFound { .. }), "{err}");
    runner.assert_done();

    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        ("ip -n pan-fabric-t -j -d link show dev pv7", absent()),
    ]);
    let err = fabric(&runner).attach(BLADE7, vni(100)).await.unwrap_err();
    assert!(matches!(err, FabricError::PortNotFound { .. }), "{err}");
    runner.assert_done();
}

#[tokio::test]
async fn attach_that_does_not_take_effect_is_a_read_back_error() {
    let runner = ScriptedRunner::new(vec![
        ("ip -n pan-fabric-t -j -d link show dev pb64", ok(BRIDGE)),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_DETACHED),
        ),
        ("ip -n pan-fabric-t link set dev pv7 master pb64", ok("")),
        ("ip -n pan-fabric-t link set dev pv7 up", ok("")),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_DETACHED),
        ),
    ]);
    let err = fabric(&runner).attach(BLADE7, vni(100)).await.unwrap_err();
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
async fn detach_sets_down_then_nomaster_then_reads_back() {
    let runner = ScriptedRunner::new(vec![
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_ATTACHED),
        ),
        ("ip -n pan-fabric-t link set dev pv7 down", ok("")),
        ("ip -n pan-fabric-t link set dev pv7 nomaster", ok("")),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_DETACHED),
        ),
    ]);
    fabric(&runner).detach(BLADE7).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn detach_is_idempotent_and_ok_without_a_port() {
    let runner = ScriptedRunner::new(vec![(
        "ip -n pan-fabric-t -j -d link show dev pv7",
        ok(PORT_DETACHED),
    )]);
    fabric(&runner).detach(BLADE7).await.unwrap();
    runner.assert_done();

    let runner = ScriptedRunner::new(vec![(
        "ip -n pan-fabric-t -j -d link show dev pv7",
        CommandOutput::failed(
            1,
            "Cannot open network namespace \"pan-fabric-t\": No such file or directory",
        ),
    )]);
    fabric(&runner).detach(BLADE7).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn port_state_maps_master_to_network() {
    let runner = ScriptedRunner::new(vec![
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_ATTACHED),
        ),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(PORT_DETACHED),
        ),
        (
            "ip -n pan-fabric-t -j -d link show dev pv7",
            ok(&link("pv7", "veth", Some("docker0"), true)),
        ),
    ]);
    let f = fabric(&runner);
    assert_eq!(
        f.port_state(BLADE7).await.unwrap(),
        PortState {
            network: Some(vni(100)),
            up: true
        }
    );
    assert_eq!(f.port_state(BLADE7).await.unwrap(), PortState::DETACHED);
    let err = f.port_state(BLADE7).await.unwrap_err();
    assert!(matches!(err, FabricError::ForeignMaster { .. }), "{err}");
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
    assert_eq!(ports, &["pv7"]);
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
            "ip -n pan-fabric-t-blade-7 -j -d link show dev eth0",
            ok(BLADE_ETH0),
        ),
        (
            "ip -n pan-fabric-t-blade-7 link set dev eth0 address 02:50:41:00:00:07",
            ok(""),
        ),
        (
            "ip -n pan-fabric-t-blade-7 -j -d link show dev eth0",
            ok(&link("eth0", "veth", None, true)),
        ),
        (
            "ip -n pan-fabric-t-blade-7 -j -d link show dev eth0",
            ok(&link("eth0", "veth", None, true)),
        ),
    ]);
    let f = fabric(&runner);
    f.set_blade_mac(BLADE7, mac).await.unwrap();
    f.set_blade_mac(BLADE7, mac).await.unwrap();
    runner.assert_done();
}

#[tokio::test]
async fn teardown_deletes_only_its_namespaces_blades_first() {
    let list = r#"[{"name":"pan-fabric-t"},{"name":"other"},{"name":"pan-fabric-t-blade-7"},{"name":"pan-fabric-tt-blade-1"}]"#;
    let runner = ScriptedRunner::new(vec![
        ("ip -j netns list", ok(list)),
        ("ip netns del pan-fabric-t-blade-7", ok("")),
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
        "ip -n pan-fabric-t -j -d link show dev pv7",
        CommandOutput::failed(2, "RTNETLINK answers: Operation not permitted"),
    )]);
    let err = fabric(&runner).detach(BLADE7).await.unwrap_err();
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
        &Object::Blade {
            blade: BLADE7,
            namespace: "pan-fabric-t-blade-7".into(),
            port: "pv7".into()
        }
    );
    assert_eq!(command, "ip -n pan-fabric-t -j -d link show dev pv7");
    assert_eq!(*code, Some(2));
    assert_eq!(stderr, "RTNETLINK answers: Operation not permitted");
    let text = err.to_string();
    assert!(
        text.contains("blade-7") && text.contains("exit code 2") && text.contains("CAP_NET_ADMIN"),
        "{text}"
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
    let err = f.port_state(BLADE7).await.unwrap_err();
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

#[tokio::test]
async fn sim_reachability_is_same_network_only() {
    let f = SimFabric::new();
    let (b1, b2, b3) = (BladeId(1), BladeId(2), BladeId(3));
    for v in [100, 200] {
        f.ensure_network(vni(v)).await.unwrap();
    }
    for b in [b1, b2, b3] {
        f.ensure_blade_port(b).await.unwrap();
    }
    assert!(!f.reachable(b1, b2), "detached ports reach nothing");
    f.attach(b1, vni(100)).await.unwrap();
    f.attach(b2, vni(100)).await.unwrap();
    f.attach(b3, vni(200)).await.unwrap();
    assert!(f.reachable(b1, b2) && f.reachable(b2, b1));
    assert!(!f.reachable(b1, b3) && !f.reachable(b2, b3));
    assert!(!f.reachable(b1, BladeId(99)));
    assert_eq!(f.members(vni(100)), [b1, b2]);

    f.detach(b2).await.unwrap();
    f.attach(b2, vni(200)).await.unwrap();
    assert!(f.reachable(b2, b3) && !f.reachable(b1, b2));
}

#[tokio::test]
async fn sim_keeps_ports_and_macs() {
    let f = SimFabric::new();
    let info = f.ensure_blade_port(BLADE7).await.unwrap();
    assert_eq!(f.ensure_blade_port(BLADE7).await.unwrap(), info);
    assert!(info.mac.is_locally_administered() && !info.mac.is_multicast());
    let mac = Mac::parse("02:50:41:00:00:07").unwrap();
    f.set_blade_mac(BLADE7, mac).await.unwrap();
    assert_eq!(f.blade_mac(BLADE7), Some(mac));
    assert!(matches!(
        f.set_blade_mac(BladeId(8), mac).await,
        Err(FabricError::PortNotFound { .. })
    ));
    f.teardown().await.unwrap();
    assert!(f.networks().is_empty() && f.blade_mac(BLADE7).is_none());
}

proptest::proptest! {
    /// After any sequence of attach/detach, reachability equals "same
    /// network" computed from port_state.
    #[test]
    fn sim_reachability_matches_port_states(ops in proptest::collection::vec((0u64..6, 0u32..3), 0..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let f = SimFabric::new();
            for v in [1, 2] { f.ensure_network(vni(v)).await.unwrap(); }
            for b in 0..6 { f.ensure_blade_port(BladeId(b)).await.unwrap(); }
            for (blade, net) in ops {
                if net == 0 { f.detach(BladeId(blade)).await.unwrap(); }
                else { f.attach(BladeId(blade), vni(net)).await.unwrap(); }
            }
            for a in 0..6 {
                for b in 0..6 {
                    let (sa, sb) = (f.port_state(BladeId(a)).await.unwrap(), f.port_state(BladeId(b)).await.unwrap());
                    let expected = sa.network.is_some() && sa.network == sb.network;
                    assert_eq!(f.reachable(BladeId(a), BladeId(b)), expected);
                }
            }
        });
    }
}

// ---------------------------------------------------------------- conformance

/// What every [`Fabric`] must do, on blades `base+1`, `base+2` and networks
/// `base_vni`, `base_vni+1`. Leaves the fabric torn down.
pub(super) async fn conformance(f: &dyn Fabric, base: u64, base_vni: u32) {
    let (a, b) = (BladeId(base + 1), BladeId(base + 2));
    let (n1, n2) = (vni(base_vni), vni(base_vni + 1));

    // Ports start detached and down; creating twice is the same port.
    let info = f.ensure_blade_port(a).await.unwrap();
    assert_eq!(f.ensure_blade_port(a).await.unwrap(), info);
    f.ensure_blade_port(b).await.unwrap();
    assert_eq!(f.port_state(a).await.unwrap(), PortState::DETACHED);
    assert!(matches!(
        f.port_state(BladeId(base + 9)).await,
        Err(FabricError::PortNotFound { .. })
    ));

    // Networks must exist before attaching.
    assert!(matches!(
        f.attach(a, n1).await,
        Err(FabricError::NetworkNotFound { .. })
    ));
    f.ensure_network(n1).await.unwrap();
    f.ensure_network(n1).await.unwrap();
    f.ensure_network(n2).await.unwrap();

    // Attach is idempotent; attaching elsewhere moves.
    let on = |n| PortState {
        network: Some(n),
        up: true,
    };
    f.attach(a, n1).await.unwrap();
    f.attach(a, n1).await.unwrap();
    assert_eq!(f.port_state(a).await.unwrap(), on(n1));
    f.attach(a, n2).await.unwrap();
    assert_eq!(f.port_state(a).await.unwrap(), on(n2));

    // A network in use cannot be removed; an empty one can, twice.
    assert!(matches!(
        f.remove_network(n2).await,
        Err(FabricError::NetworkInUse { .. })
    ));
    f.remove_network(n1).await.unwrap();
    f.remove_network(n1).await.unwrap();

    // Detach is idempotent, also for blades without a port.
    f.detach(a).await.unwrap();
    f.detach(a).await.unwrap();
    f.detach(BladeId(base + 9)).await.unwrap();
    assert_eq!(f.port_state(a).await.unwrap(), PortState::DETACHED);
    f.remove_network(n2).await.unwrap();

    // The identity MAC is applied and idempotent.
    let mac = Mac::parse("02:50:41:00:00:2a").unwrap();
    f.set_blade_mac(b, mac).await.unwrap();
    f.set_blade_mac(b, mac).await.unwrap();
    assert_eq!(f.ensure_blade_port(b).await.unwrap().mac, mac);

    f.teardown().await.unwrap();
    f.teardown().await.unwrap();
    assert!(matches!(
        f.port_state(a).await,
        Err(FabricError::PortNotFound { .. })
    ));
}

#[tokio::test]
async fn sim_fabric_passes_conformance() {
    conformance(&SimFabric::new(), 0, 100).await;
}
