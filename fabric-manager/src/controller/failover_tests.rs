//! Tests of the failover controller's pieces: the pure judgement
//! (exhaustively over the BMC readings), detection against a real
//! `AgentRegistry` and a `FakeBmc` in paused time, the fence against a
//! `FakeBmc` (or a hung one), a `SimFabric` and a storage target in a
//! temporary directory, and the takeover pass.

use super::*;
use crate::agent::AgentRegistry;
use crate::agent::registry::Admitted;
use crate::bmc::{
    BmcError, BootOverride, FakeBmc, Health, HealthStatus, LogEntry, PowerState, ResetOutcome,
    SystemInventory,
};
use crate::fabric::{SimFabric, Vni};
use crate::state::{IdentityView, NicWork, ServerState, VolumeWork};
use blade_agent::{Hello, HostFacts};
use pan_api::{BladeId, VolumeId};
use std::sync::atomic::{AtomicUsize, Ordering};

const WINDOW: Duration = Duration::from_millis(1000);
const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn status(power: PowerState, health: Option<Health>) -> BmcReading {
    BmcReading::Status(SystemStatus {
        power,
        health: HealthStatus {
            health,
            ..HealthStatus::default()
        },
    })
}

fn seen(at: Instant, connected: bool) -> Option<AgentSeen> {
    Some(AgentSeen {
        last_heartbeat: Some(at),
        connected,
    })
}

// ---------------------------------------------------------------- judgement

#[test]
fn the_tick_is_a_tenth_of_the_window_within_50_to_100_ms() {
    assert_eq!(detect_tick(ms(1000)), ms(100));
    assert_eq!(detect_tick(ms(700)), ms(70));
    assert_eq!(detect_tick(ms(100)), ms(50));
    assert_eq!(detect_tick(ms(60_000)), ms(100));
}

#[test]
fn a_silent_agent_is_judged_after_the_window_and_not_before() {
    let leader = Instant::now();
    let hb = leader + ms(5000);
    let off = status(PowerState::Off, Some(Health::Ok));
    for after in [0, 1, 500, 999, 1000] {
        assert_eq!(
            judge(hb + ms(after), leader, WINDOW, seen(hb, true), &off),
            None,
            "{after} ms after the last heartbeat"
        );
    }
    let s = judge(hb + ms(1020), leader, WINDOW, seen(hb, true), &off).expect("suspect");
    assert_eq!(s.silent_ms, 1020);
    assert_eq!(s.reason, "agent silent 1.02 s; BMC reports power Off");
}

#[test]
fn a_closed_stream_on_a_blade_reading_off_is_judged_before_the_window() {
    let leader = Instant::now();
    let hb = leader + ms(5000);
    let off = status(PowerState::Off, None);
    let on = status(PowerState::On, None);
    // Closed and Off: judged at once, with how long it has been silent.
    let s = judge_early(hb + ms(150), leader, WINDOW, seen(hb, false), &off).expect("suspect");
    assert_eq!(s.silent_ms, 150);
    assert!(
        s.reason.contains("stream closed") && s.reason.contains("power Off"),
        "{}",
        s.reason
    );
    // Still connected, or powered On (a manager restart, a cut link), or the
    // BMC does not answer: the window decides.
    assert_eq!(
        judge_early(hb + ms(150), leader, WINDOW, seen(hb, true), &off),
        None
    );
    assert_eq!(
        judge_early(hb + ms(150), leader, WINDOW, seen(hb, false), &on),
        None
    );
    let mute = BmcReading::NoAnswer("no answer".into());
    assert_eq!(
        judge_early(hb + ms(150), leader, WINDOW, seen(hb, false), &mute),
        None
    );
    // Never in a new leader's first window.
    assert_eq!(
        judge_early(leader + ms(500), leader, WINDOW, seen(leader, false), &off),
        None
    );
}

#[test]
fn mass_silence_holds_back_judging_powered_blades() {
    // One or two silent agents are ordinary failures.
    assert!(!mass_silence(1, 2));
    assert!(!mass_silence(2, 2));
    assert!(!mass_silence(2, 10));
    // Three or more, and at least half of the rack: the manager's network.
    assert!(mass_silence(3, 6));
    assert!(mass_silence(5, 8));
    assert!(!mass_silence(3, 7));
    assert!(mass_silence(10, 10));
}

#[test]
fn a_new_leader_waits_one_full_window_before_judging() {
    let leader = Instant::now() + ms(10_000);
    let off = status(PowerState::Off, None);
    // Last heard long before this leadership (an earlier term of this
    // process), or never: nothing is judged within the first window.
    for agent in [seen(leader - ms(8000), false), None] {
        for at in [0, 1, 999, 1000] {
            assert_eq!(
                silence(leader + ms(at), leader, WINDOW, agent),
                Silence::TooSoon {
                    until: leader + WINDOW
                }
            );
            assert_eq!(judge(leader + ms(at), leader, WINDOW, agent, &off), None);
        }
        let s = judge(leader + ms(1100), leader, WINDOW, agent, &off).expect("suspect");
        assert_eq!(s.silent_ms, 1100, "counted from the start of leadership");
        assert_eq!(
            s.reason,
            "agent silent 1.10 s (not heard since this manager became leader); BMC reports power Off"
        );
    }
    // Heard after the leadership began: alive.
    let agent = seen(leader + ms(600), true);
    assert_eq!(
        silence(leader + ms(1100), leader, WINDOW, agent),
        Silence::Heard
    );
}

#[test]
fn every_bmc_reading_gives_a_reason() {
    let silent = Silent {
        age: ms(1000),
        heard_here: true,
        connected: true,
    };
    let cases = [
        (
            status(PowerState::Off, Some(Health::Ok)),
            "agent silent 1.00 s; BMC reports power Off",
        ),
        (
            status(PowerState::Off, Some(Health::Critical)),
            "agent silent 1.00 s; BMC reports power Off, health Critical",
        ),
        (
            status(PowerState::On, Some(Health::Ok)),
            "agent silent 1.00 s while the BMC reports power On (link cut?)",
        ),
        (
            status(PowerState::On, None),
            "agent silent 1.00 s while the BMC reports power On (link cut?)",
        ),
        (
            status(PowerState::On, Some(Health::Warning)),
            "agent silent 1.00 s while the BMC reports power On (link cut?)",
        ),
        (
            status(PowerState::On, Some(Health::Critical)),
            "agent silent 1.00 s; BMC reports health Critical with power On",
        ),
        (
            status(PowerState::PoweringOff, None),
            "agent silent 1.00 s; BMC reports power PoweringOff",
        ),
        (
            status(PowerState::Other("Hibernating".into()), None),
            "agent silent 1.00 s; BMC reports power Hibernating",
        ),
        (
            BmcReading::NoAnswer("connection refused".into()),
            "agent silent 1.00 s; BMC does not answer: connection refused",
        ),
    ];
    for (reading, want) in cases {
        assert_eq!(suspect_reason(&silent, &reading), want, "{reading:?}");
    }
    let closed = Silent {
        connected: false,
        ..silent
    };
    assert_eq!(
        suspect_reason(&closed, &status(PowerState::Off, None)),
        "agent silent 1.00 s (its stream is closed); BMC reports power Off"
    );
}

#[test]
fn a_heartbeat_stamped_after_now_is_heard() {
    let leader = Instant::now();
    let now = leader + ms(3000);
    assert_eq!(
        silence(now, leader, WINDOW, seen(now + ms(5), true)),
        Silence::Heard
    );
}

// ------------------------------------------------ detection with real pieces

fn fake_bmc(power: PowerState) -> FakeBmc {
    FakeBmc::new(
        "http://bmc-7.test",
        SystemInventory {
            id: "1".into(),
            host_name: None,
            model: None,
            manufacturer: None,
            serial: None,
            uuid: None,
            cpu_sockets: None,
            cores: None,
            memory_gib: None,
            macs: vec![],
            power: Some(power),
            health: HealthStatus::default(),
            boot: None,
            reset_types: vec![],
        },
    )
}

/// A BMC that accepts connections and never answers.
struct HungBmc;

#[async_trait::async_trait]
impl Bmc for HungBmc {
    fn endpoint(&self) -> &str {
        "http://hung-bmc.test"
    }
    async fn inventory(&self) -> Result<SystemInventory, BmcError> {
        std::future::pending().await
    }
    async fn status(&self) -> Result<SystemStatus, BmcError> {
        std::future::pending().await
    }
    async fn reset(&self, _: ResetType) -> Result<ResetOutcome, BmcError> {
        std::future::pending().await
    }
    async fn boot_override(&self) -> Result<BootOverride, BmcError> {
        std::future::pending().await
    }
    async fn set_boot_override(&self, _: &BootOverride) -> Result<(), BmcError> {
        std::future::pending().await
    }
    async fn log_entries(&self, _: usize) -> Result<Vec<LogEntry>, BmcError> {
        std::future::pending().await
    }
    async fn close(&self) -> Result<(), BmcError> {
        Ok(())
    }
}

fn hello(blade: &str) -> Hello {
    Hello {
        blade: blade.into(),
        agent_version: "test".into(),
        facts: HostFacts {
            hostname: blade.into(),
            interfaces: vec![],
        },
        applied: None,
        heartbeat: ms(200),
    }
}

/// One detection judgement as the controller makes it: the registry's
/// view of the agent, then the BMC read (bounded), then the verdict.
async fn detect_once(
    agents: &AgentRegistry,
    blade: &str,
    bmc: &dyn Bmc,
    leader_since: Instant,
) -> Option<Suspicion> {
    let reading = read_bmc(bmc, Duration::from_secs(1)).await;
    let agent = agents.get(blade).as_ref().map(AgentSeen::from);
    judge(Instant::now(), leader_since, WINDOW, agent, &reading)
}

#[tokio::test(start_paused = true)]
async fn a_silent_agent_with_power_off_is_suspected_after_the_window() {
    let agents = AgentRegistry::new();
    let leader_since = Instant::now();
    let Admitted::Session { id, .. } = agents.admit(hello("blade-7"), None) else {
        panic!("the registry accepts streams by default");
    };
    let bmc = fake_bmc(PowerState::On);
    // Heartbeats every 200 ms for 2 s: never suspected.
    for _ in 0..10 {
        tokio::time::advance(ms(200)).await;
        assert!(agents.heartbeat("blade-7", id));
        assert_eq!(
            detect_once(&agents, "blade-7", &bmc, leader_since).await,
            None
        );
    }
    // The blade dies: power Off, no more heartbeats.
    bmc.set_power(PowerState::Off);
    tokio::time::advance(ms(1000)).await;
    assert_eq!(
        detect_once(&agents, "blade-7", &bmc, leader_since).await,
        None,
        "exactly one window of silence is not yet failure"
    );
    tokio::time::advance(ms(20)).await;
    let s = detect_once(&agents, "blade-7", &bmc, leader_since)
        .await
        .expect("suspected");
    assert_eq!(s.reason, "agent silent 1.02 s; BMC reports power Off");
    assert_eq!(s.silent_ms, 1020);
}

#[tokio::test(start_paused = true)]
async fn a_disconnected_agent_with_power_on_is_a_cut_link() {
    let agents = AgentRegistry::new();
    let leader_since = Instant::now();
    let Admitted::Session { id, .. } = agents.admit(hello("blade-7"), None) else {
        panic!("admitted");
    };
    agents.disconnect("blade-7", id, "test");
    let bmc = fake_bmc(PowerState::On);
    tokio::time::advance(ms(1500)).await;
    let s = detect_once(&agents, "blade-7", &bmc, leader_since)
        .await
        .expect("suspected");
    assert_eq!(
        s.reason,
        "agent silent 1.50 s (its stream is closed) while the BMC reports power On (link cut?)"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_bmc_does_not_hold_the_cross_check_up() {
    let start = Instant::now();
    let reading = read_bmc(&HungBmc, Duration::from_secs(1)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    let BmcReading::NoAnswer(why) = reading else {
        panic!("a hung BMC gave a reading");
    };
    assert_eq!(why, "BMC http://hung-bmc.test gave no answer within 1.0 s");
    let bmc = fake_bmc(PowerState::On);
    bmc.fail_next(crate::bmc::ErrorKind::ConnectionRefused);
    let BmcReading::NoAnswer(why) = read_bmc(&bmc, Duration::from_secs(1)).await else {
        panic!("a refused connection gave a reading");
    };
    assert!(why.contains("bmc-7.test"), "{why}");
}

// -------------------------------------------------------------------- fence

fn fence_work(volumes: bool) -> FenceWork {
    FenceWork {
        failover: 11,
        blade: "blade-7".into(),
        blade_id: BladeId(7),
        server: ServerWork {
            partition: "acme".into(),
            name: "web-1".into(),
            state: ServerState::Failed,
            generation: 42,
            blade: "blade-7".into(),
            blade_macs: vec![],
            identity: IdentityView {
                uuid: "50414e00-0000-0000-0000-000000000001".into(),
                macs: vec!["02:50:41:00:00:00".into()],
                host_nqn: HOST.into(),
            },
            boot_volume: volumes.then(|| "web-1-boot".to_string()),
            blade_id: BladeId(7),
            volumes: if volumes {
                vec![VolumeWork {
                    id: VolumeId(9),
                    name: "web-1-boot".into(),
                }]
            } else {
                vec![]
            },
            nics: vec![NicWork {
                mac: "02:50:41:00:00:00".into(),
                vni: Some(1024),
            }],
        },
    }
}

fn leading() -> Result<(), String> {
    Ok(())
}

fn storage_in(dir: &std::path::Path) -> Storage {
    use san::nvmet::{ConfigfsTarget, PortConfig};
    let volumes = san::volume::VolumeStore::new(dir.join("san"));
    volumes.init().expect("storage root");
    let port = PortConfig::tcp(1, std::net::Ipv4Addr::LOCALHOST.into());
    Storage {
        volumes,
        target: Arc::new(ConfigfsTarget::new(dir.join("nvmet"), port).expect("target")),
        address: "127.0.0.1:4420".parse().expect("address"),
    }
}

#[tokio::test]
async fn a_fence_powers_off_detaches_and_revokes_before_reporting_fenced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = storage_in(dir.path());
    let work = fence_work(true);
    storage
        .grant(&work.server.volumes, HOST)
        .await
        .expect("granted");
    let fabric = SimFabric::new();
    let blade = BladeRef {
        id: work.blade_id,
        name: work.blade.clone(),
    };
    let vni = Vni::new(1024).expect("vni");
    fabric.attach(&blade, 0, vni).await.expect("attached");
    fabric.attach(&blade, 1, vni).await.expect("attached");
    let bmc = fake_bmc(PowerState::On);
    bmc.set_power_delay(3);

    let io = FenceIo {
        bmc: &bmc,
        fabric: Some(&fabric),
        storage: Some(&storage),
        leading: &leading,
    };
    let result = fence_blade(&io, &work, Duration::from_secs(10)).await;
    assert_eq!(result, Ok(()));

    assert_eq!(bmc.resets(), vec![ResetType::ForceOff]);
    assert_eq!(bmc.power_state().await.expect("read"), PowerState::Off);
    let ports = fabric.ports(&blade).await.expect("ports");
    assert_eq!(ports.len(), 2);
    assert!(
        ports.iter().all(|(_, s)| *s == PortState::DETACHED),
        "{ports:?}"
    );
    assert!(fabric.members(vni).is_empty());
    let allowed = storage
        .target
        .allowed_hosts(&super::super::storage::volume_nqn(VolumeId(9)))
        .expect("read back");
    assert!(allowed.is_empty(), "{allowed:?}");

    assert_eq!(
        fence_report(&work, result, Duration::from_secs(10)),
        Some(Command::BladeFenced {
            blade: "blade-7".into()
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_hung_bmc_fails_the_fence_at_the_timeout_and_takes_nothing_over() {
    let work = fence_work(false);
    let fabric = SimFabric::new();
    let blade = BladeRef {
        id: work.blade_id,
        name: work.blade.clone(),
    };
    let vni = Vni::new(1024).expect("vni");
    fabric.attach(&blade, 0, vni).await.expect("attached");
    let io = FenceIo {
        bmc: &HungBmc,
        fabric: Some(&fabric),
        storage: None,
        leading: &leading,
    };
    let start = Instant::now();
    let result = fence_blade(&io, &work, Duration::from_secs(10)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    let Err(FenceError::Unconfirmed(why)) = &result else {
        panic!("a hung BMC confirmed a fence: {result:?}");
    };
    assert_eq!(
        why,
        "BMC http://hung-bmc.test did not answer the power state read before the fence timeout"
    );
    // Without power read back Off, the ports stay as they were: nothing
    // after the power step runs.
    assert_eq!(fabric.members(vni), vec![(BladeId(7), 0)]);

    let report = fence_report(&work, result, Duration::from_secs(10)).expect("recorded");
    let Command::FenceFailed { blade, reason } = report else {
        panic!("not FenceFailed: {report:?}");
    };
    assert_eq!(blade, "blade-7");
    assert!(
        reason.starts_with("could not fence blade blade-7 within 10 s: BMC http://hung-bmc.test"),
        "{reason}"
    );
    assert!(
        reason.contains("`panctl blade confirm-fenced blade-7`"),
        "{reason}"
    );
    assert!(reason.contains("acme/web-1 is not taken over"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn power_that_never_reads_off_fails_the_fence_with_the_last_reading() {
    let work = fence_work(false);
    let bmc = fake_bmc(PowerState::On);
    bmc.set_power_delay(u32::MAX);
    let io = FenceIo {
        bmc: &bmc,
        fabric: None,
        storage: None,
        leading: &leading,
    };
    let start = Instant::now();
    let result = fence_blade(&io, &work, Duration::from_secs(10)).await;
    assert!(start.elapsed() <= Duration::from_secs(10));
    assert_eq!(
        result,
        Err(FenceError::Unconfirmed(
            "power Off was not read back from BMC http://bmc-7.test: the power reads On"
                .to_string()
        ))
    );
    // ForceOff was sent again while the power did not read Off.
    let resets = bmc.resets();
    assert!(resets.len() >= 4, "{resets:?}");
    assert!(resets.iter().all(|r| *r == ResetType::ForceOff));
}

#[tokio::test(start_paused = true)]
async fn a_refused_force_off_is_fine_when_the_power_reads_off() {
    let work = fence_work(false);
    let bmc = fake_bmc(PowerState::Off);
    bmc.fail_next(crate::bmc::ErrorKind::ConnectionRefused);
    let io = FenceIo {
        bmc: &bmc,
        fabric: None,
        storage: None,
        leading: &leading,
    };
    assert_eq!(
        fence_blade(&io, &work, Duration::from_secs(10)).await,
        Ok(())
    );
}

#[tokio::test(start_paused = true)]
async fn a_deposed_leader_does_not_fence_or_report() {
    let work = fence_work(false);
    let bmc = fake_bmc(PowerState::On);
    let deposed = || Err("this manager no longer leads term 3".to_string());
    let io = FenceIo {
        bmc: &bmc,
        fabric: None,
        storage: None,
        leading: &deposed,
    };
    let result = fence_blade(&io, &work, Duration::from_secs(10)).await;
    assert!(
        matches!(result, Err(FenceError::NotLeader(_))),
        "{result:?}"
    );
    assert!(bmc.resets().is_empty(), "a deposed leader touched the BMC");
    assert_eq!(fence_report(&work, result, Duration::from_secs(10)), None);
}

// ----------------------------------------------------------------- takeover

#[tokio::test]
async fn takeover_proposes_until_nothing_is_pending() {
    let awaiting = AtomicUsize::new(3);
    let proposed = AtomicUsize::new(0);
    let n = takeover_pass(
        || awaiting.load(Ordering::SeqCst) > 0,
        leading,
        || async {
            proposed.fetch_add(1, Ordering::SeqCst);
            awaiting.fetch_sub(1, Ordering::SeqCst);
            Ok::<(), String>(())
        },
    )
    .await;
    assert_eq!(n, 3);
    assert_eq!(proposed.load(Ordering::SeqCst), 3);
    // Nothing pending: no proposal at all.
    let n = takeover_pass(
        || false,
        leading,
        || async { Err::<(), _>("must not be called".to_string()) },
    )
    .await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn takeover_stops_at_a_failed_proposal_or_lost_leadership() {
    let calls = AtomicUsize::new(0);
    let n = takeover_pass(
        || true,
        leading,
        || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>("no leader".to_string())
        },
    )
    .await;
    assert_eq!((n, calls.load(Ordering::SeqCst)), (0, 1));
    let n = takeover_pass(
        || true,
        || Err("deposed".to_string()),
        || async { Ok::<(), String>(()) },
    )
    .await;
    assert_eq!(n, 0);
    // A state that always says pending (a bug) cannot loop forever.
    let n = takeover_pass(|| true, leading, || async { Ok::<(), String>(()) }).await;
    assert_eq!(n, MAX_TAKEOVERS_PER_PASS);
}
