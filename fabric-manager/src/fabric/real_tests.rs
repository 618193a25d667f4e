//! Tests of [`LinuxFabric`] against the real kernel (root only).
//!
//! Three blades in their own network namespaces on two partition networks,
//! and a blade with two ports on two networks; reachability is probed with TCP inside the namespaces (no `ping` here):
//! the test binary re-runs itself under `ip netns exec` as a listener or a
//! client ([`probe_helper`]). Every probe is bounded in time, positive
//! checks poll with a deadline (no sleeps), names carry the pid, and a Drop
//! guard tears everything down even when an assertion fails. Without root the
//! tests say why they are skipped and pass. Tests only: they must never touch
//! namespaces they did not create.

use super::tests::conformance;
use super::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Set in a child's environment to make [`probe_helper`] act.
const PROBE_ENV: &str = "PAN_FABRIC_PROBE";
const PROBE_PORT: u16 = 7777;
/// One connection attempt; also how long a negative probe waits.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(700);
/// How long a positive check keeps polling.
const REACH_DEADLINE: Duration = Duration::from_secs(10);
/// A listener exits on its own after this, should its parent vanish.
const LISTENER_LIFETIME: Duration = Duration::from_secs(120);
const GREETING: &[u8; 4] = b"pan\n";

/// Why these tests cannot run here, if they cannot.
fn skip_reason() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_owned);
    match euid.as_deref() {
        Some("0") => None,
        other => Some(format!(
            "not root (effective uid {}): creating network namespaces, bridges and veth pairs needs CAP_NET_ADMIN; CI runs this test as root",
            other.unwrap_or("unknown")
        )),
    }
}

/// Not a test of its own: the body of the probe processes. Does nothing
/// unless `PAN_FABRIC_PROBE` is set (`listen <addr>` or `connect <addr>`).
#[test]
fn probe_helper() {
    let Ok(spec) = std::env::var(PROBE_ENV) else {
        return;
    };
    let mut words = spec.split_whitespace();
    let (mode, addr) = (words.next(), words.next().and_then(|a| a.parse().ok()));
    let code = match (mode, addr) {
        (Some("listen"), Some(addr)) => listen(addr),
        (Some("connect"), Some(addr)) => connect(addr),
        _ => {
            println!("PROBE-FAIL bad spec {spec:?}");
            2
        }
    };
    std::process::exit(code);
}

fn listen(addr: SocketAddr) -> i32 {
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => {
            println!("PROBE-FAIL bind {addr}: {e}");
            return 1;
        }
    };
    println!("PROBE-READY");
    let _ = std::io::stdout().flush();
    // A bound on the listener's life, not synchronization.
    std::thread::spawn(|| {
        std::thread::sleep(LISTENER_LIFETIME);
        std::process::exit(0);
    });
    for mut stream in listener.incoming().flatten() {
        let _ = stream.write_all(GREETING);
    }
    0
}

fn connect(addr: SocketAddr) -> i32 {
    let result = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).and_then(|mut s| {
        s.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf)?;
        Ok(buf)
    });
    match result {
        Ok(buf) if &buf == GREETING => {
            println!("PROBE-OK");
            0
        }
        Ok(buf) => {
            println!("PROBE-FAIL wrong greeting {buf:?}");
            1
        }
        Err(e) => {
            println!("PROBE-FAIL {e}");
            1
        }
    }
}

/// `ip netns exec <ns> <this test binary> probe_helper` with `spec`.
fn probe_command(ns: &str, spec: &str) -> Command {
    // This process's own image, not its path: in a shared tree another
    // build may replace the test binary on disk while this test runs.
    let exe = format!("/proc/{}/exe", std::process::id());
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .arg(exe)
        .args([
            "fabric::real_tests::probe_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PROBE_ENV, spec)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Starts a listener in `ns` and waits (bounded) until it is bound.
async fn start_listener(ns: &str, addr: SocketAddr) -> Child {
    let mut child = probe_command(ns, &format!("listen {addr}"))
        .spawn()
        .expect("spawn listener");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("PROBE-READY") {
                return Ok(());
            }
            if line.contains("PROBE-FAIL") {
                return Err(line);
            }
        }
        Err("listener exited".to_owned())
    })
    .await;
    match ready {
        Ok(Ok(())) => child,
        Ok(Err(why)) => panic!("listener in {ns} on {addr}: {why}"),
        Err(_) => panic!("listener in {ns} on {addr} not ready within 10s"),
    }
}

/// One bounded TCP probe from namespace `from` to `to`: `Ok` when it got
/// the greeting, otherwise what the probe said.
async fn probe_once(from: &str, to: SocketAddr) -> Result<(), String> {
    let child = probe_command(from, &format!("connect {to}"))
        .stderr(Stdio::piped())
        .output();
    match tokio::time::timeout(CONNECT_TIMEOUT * 4 + Duration::from_secs(2), child).await {
        Ok(Ok(out)) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            if stdout.contains("PROBE-OK") {
                return Ok(());
            }
            let said = stdout
                .lines()
                .find(|l| l.contains("PROBE-FAIL"))
                .map(str::to_owned);
            Err(said.unwrap_or_else(|| {
                format!(
                    "probe exited with {} and no verdict; stderr: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )
            }))
        }
        Ok(Err(e)) => panic!("spawn probe in {from}: {e}"),
        Err(_) => Err("probe process did not finish in time".to_owned()),
    }
}

/// Polls until `from` reaches `to`, or fails after [`REACH_DEADLINE`].
async fn assert_reaches(from: &Blade, to: &Blade) {
    let deadline = Instant::now() + REACH_DEADLINE;
    loop {
        let Err(why) = probe_once(&from.ns, to.addr).await else {
            return;
        };
        assert!(
            Instant::now() < deadline,
            "{} cannot reach {} ({}) within {REACH_DEADLINE:?}; last probe: {why}",
            from.name,
            to.name,
            to.addr
        );
    }
}

/// Asserts `from` does not reach `to` (one probe, bounded by the connect timeout).
async fn assert_isolated(from: &Blade, to: &Blade) {
    assert!(
        probe_once(&from.ns, to.addr).await.is_err(),
        "{} reaches {} ({}) but they are on different networks",
        from.name,
        to.name,
        to.addr
    );
}

/// Tears the fabric down when dropped, also after a failed assertion.
struct TeardownGuard(Arc<LinuxFabric>);

impl Drop for TeardownGuard {
    fn drop(&mut self) {
        let fabric = self.0.clone();
        // A thread with its own runtime: Drop may run inside the test's runtime.
        let result = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?
                .block_on(fabric.teardown())
                .map_err(|e| e.to_string())
        })
        .join();
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("fabric teardown failed: {e}"),
            Err(_) => eprintln!("fabric teardown panicked"),
        }
    }
}

fn new_fabric(tag: &str) -> (Arc<LinuxFabric>, TeardownGuard) {
    let name = format!("pan-fabric-{}-{tag}", std::process::id());
    let fabric = Arc::new(LinuxFabric::new(LinuxFabricConfig::new(name)).expect("valid name"));
    let guard = TeardownGuard(fabric.clone());
    (fabric, guard)
}

/// One address of a blade, as the probes see it.
struct Blade {
    blade: BladeRef,
    /// The blade and, for a second port, the interface (for messages).
    name: String,
    ns: String,
    addr: SocketAddr,
}

/// Creates port `port` of `blade`, gives its interface `addr`/24 and brings
/// `lo` up.
async fn blade_port(fabric: &LinuxFabric, blade: &BladeRef, port: u8, addr: &str) -> Blade {
    let info = fabric.ensure_port(blade, port).await.unwrap();
    assert_eq!(info.blade_namespace, fabric.blade_namespace(blade).unwrap());
    assert_eq!(info.port, port);
    ip(&[
        "-n",
        &info.blade_namespace,
        "addr",
        "add",
        &format!("{addr}/24"),
        "dev",
        &info.interface,
    ])
    .await;
    ip(&[
        "-n",
        &info.blade_namespace,
        "link",
        "set",
        "dev",
        "lo",
        "up",
    ])
    .await;
    Blade {
        blade: blade.clone(),
        name: format!("{} {}", blade.name, info.interface),
        ns: info.blade_namespace,
        addr: SocketAddr::new(addr.parse().unwrap(), PROBE_PORT),
    }
}

/// Asserts nothing of the fabric is left in `ip netns list`.
async fn assert_nothing_left(fabric: &LinuxFabric) {
    let left = Command::new("ip")
        .args(["-j", "netns", "list"])
        .output()
        .await
        .unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(!left.contains(fabric.namespace()), "left behind: {left}");
}

async fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .await
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blades_reach_only_their_network_and_follow_a_move() {
    if let Some(why) = skip_reason() {
        eprintln!(
            "SKIPPED fabric::real_tests::blades_reach_only_their_network_and_follow_a_move: {why}"
        );
        return;
    }
    let (fabric, _guard) = new_fabric("reach");
    let (net_a, net_b) = (Vni::new(100).unwrap(), Vni::new(200).unwrap());
    fabric.ensure_network(net_a).await.unwrap();
    fabric.ensure_network(net_b).await.unwrap();

    let mut blades = Vec::new();
    for i in 1u64..=3 {
        let blade = BladeRef::new(BladeId(i), format!("blade{i}"));
        blades.push(blade_port(&fabric, &blade, 0, &format!("10.77.0.{i}")).await);
    }
    let [b1, b2, b3] = &blades[..] else {
        unreachable!("three blades")
    };

    // The identity MAC is applied on the blade side and read back.
    let mac = Mac::parse("02:50:41:00:00:02").unwrap();
    fabric.set_blade_mac(&b2.blade, 0, mac).await.unwrap();
    assert_eq!(fabric.ensure_port(&b2.blade, 0).await.unwrap().mac, mac);

    // Listeners stay up for the whole test; dropped (killed) before the guard.
    let mut listeners = Vec::new();
    for b in &blades {
        listeners.push(start_listener(&b.ns, b.addr).await);
    }

    // Detached ports reach nothing.
    assert_isolated(b1, b2).await;

    // Partition A: blade1 + blade2 on 100; partition B: blade3 on 200.
    fabric.attach(&b1.blade, 0, net_a).await.unwrap();
    fabric.attach(&b2.blade, 0, net_a).await.unwrap();
    fabric.attach(&b3.blade, 0, net_b).await.unwrap();
    fabric.attach(&b3.blade, 0, net_b).await.unwrap();
    assert_reaches(b1, b2).await;
    assert_reaches(b2, b1).await;
    for (from, to) in [(b1, b3), (b3, b1), (b2, b3), (b3, b2)] {
        assert_isolated(from, to).await;
    }
    assert_eq!(
        fabric.port_state(&b2.blade, 0).await.unwrap(),
        PortState {
            network: Some(net_a),
            up: true
        }
    );

    // Removing a network in use is refused.
    assert!(matches!(
        fabric.remove_network(net_a).await,
        Err(FabricError::NetworkInUse { .. })
    ));

    // Move blade2 to network 200: detach (as a fence would), then attach.
    fabric.detach(&b2.blade).await.unwrap();
    fabric.detach(&b2.blade).await.unwrap();
    assert_eq!(
        fabric.port_state(&b2.blade, 0).await.unwrap(),
        PortState::DETACHED
    );
    assert_isolated(b1, b2).await;
    fabric.attach(&b2.blade, 0, net_b).await.unwrap();
    assert_reaches(b2, b3).await;
    assert_reaches(b3, b2).await;
    for (from, to) in [(b1, b2), (b2, b1), (b1, b3), (b3, b1)] {
        assert_isolated(from, to).await;
    }

    drop(listeners);
    fabric.teardown().await.unwrap();
    assert_nothing_left(&fabric).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blade_on_two_networks_reaches_a_peer_on_each_and_detach_cuts_both() {
    if let Some(why) = skip_reason() {
        eprintln!(
            "SKIPPED fabric::real_tests::a_blade_on_two_networks_reaches_a_peer_on_each_and_detach_cuts_both: {why}"
        );
        return;
    }
    let (fabric, _guard) = new_fabric("two");
    let (net_a, net_b) = (Vni::new(100).unwrap(), Vni::new(200).unwrap());
    let multi = BladeRef::new(BladeId(1), "multi");
    let (peer_a, peer_b) = (
        BladeRef::new(BladeId(2), "peer-a"),
        BladeRef::new(BladeId(3), "peer-b"),
    );
    // Port i of the blade is vNIC i: eth0 on network A's subnet, eth1 on B's.
    let m0 = blade_port(&fabric, &multi, 0, "10.78.1.1").await;
    let m1 = blade_port(&fabric, &multi, 1, "10.78.2.1").await;
    let pa = blade_port(&fabric, &peer_a, 0, "10.78.1.2").await;
    let pb = blade_port(&fabric, &peer_b, 0, "10.78.2.3").await;
    assert_eq!(m0.ns, m1.ns, "both ports live in the blade's one namespace");
    // Peer B also answers on network A's subnet, so reaching it from A
    // would be a real leak, not just a missing route.
    ip(&["-n", &pb.ns, "addr", "add", "10.78.1.3/24", "dev", "eth0"]).await;
    let pb_a = Blade {
        blade: peer_b.clone(),
        name: "peer-b eth0 (second address)".to_owned(),
        ns: pb.ns.clone(),
        addr: SocketAddr::new("10.78.1.3".parse().unwrap(), PROBE_PORT),
    };

    let mut listeners = Vec::new();
    for b in [&m0, &m1, &pa, &pb, &pb_a] {
        listeners.push(start_listener(&b.ns, b.addr).await);
    }

    fabric.attach(&multi, 0, net_a).await.unwrap();
    fabric.attach(&multi, 1, net_b).await.unwrap();
    fabric.attach(&peer_a, 0, net_a).await.unwrap();
    fabric.attach(&peer_b, 0, net_b).await.unwrap();
    let on = |n| PortState {
        network: Some(n),
        up: true,
    };
    assert_eq!(
        fabric.ports(&multi).await.unwrap(),
        [(0, on(net_a)), (1, on(net_b))]
    );
    assert_reaches(&m0, &pa).await;
    assert_reaches(&pa, &m0).await;
    assert_reaches(&m1, &pb).await;
    assert_reaches(&pb, &m1).await;
    // The networks stay apart although the blade is on both.
    assert_isolated(&pa, &pb_a).await;
    assert_isolated(&m0, &pb_a).await;

    // One detach cuts both ports (what a fence does).
    fabric.detach(&multi).await.unwrap();
    assert_eq!(
        fabric.ports(&multi).await.unwrap(),
        [(0, PortState::DETACHED), (1, PortState::DETACHED)]
    );
    for (from, to) in [(&m0, &pa), (&pa, &m0), (&m1, &pb), (&pb, &m1)] {
        assert_isolated(from, to).await;
    }

    // Re-attaching one port brings back only that network.
    fabric.attach(&multi, 1, net_b).await.unwrap();
    assert_reaches(&m1, &pb).await;
    assert_isolated(&m0, &pa).await;

    drop(listeners);
    fabric.teardown().await.unwrap();
    assert_nothing_left(&fabric).await;
}

#[tokio::test]
async fn linux_fabric_passes_conformance() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIPPED fabric::real_tests::linux_fabric_passes_conformance: {why}");
        return;
    }
    let (fabric, _guard) = new_fabric("conf");
    conformance(fabric.as_ref(), 10, 300).await;
}
