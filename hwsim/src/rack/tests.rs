//! Tests of the runtime shell under paused tokio time: boot delay, open-loop
//! power, error windows, slow and hung BMCs, the OS hook and its handle.
//! Requests go through `BladeHandle::redfish` (the same path the HTTP layer
//! takes, minus the socket).

use super::*;
use crate::ground_truth::GroundTruthEvent;
use crate::model::{BootTarget, Health, PowerState, ResetType};
use crate::os::{AppliedIdentity, BootContext, RunningOs};
use crate::redfish::{RedfishRequest, paths};
use ::http::Method;
use serde_json::json;
use std::sync::Mutex;
use tokio::sync::mpsc;

const BOOT: Duration = Duration::from_millis(300);

fn get(path: &str) -> RedfishRequest {
    RedfishRequest::new(Method::GET, path).basic(&Credentials::default())
}

fn reset(rt: &str) -> RedfishRequest {
    RedfishRequest::new(Method::POST, paths::RESET)
        .basic(&Credentials::default())
        .json(&json!({ "ResetType": rt }))
}

fn power_path(rack: &Rack, blade: &str) -> Vec<(PowerState, PowerState, String)> {
    rack.ground_truth()
        .records()
        .into_iter()
        .filter_map(|r| match r.event {
            GroundTruthEvent::Power {
                blade: b,
                from,
                to,
                cause,
            } if b == blade => Some((from, to, cause.to_string())),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn power_on_boots_after_the_boot_delay() {
    let rack = Rack::start(RackConfig::new(2)).await.unwrap();
    let b = rack.blade("blade-002").unwrap();
    assert_eq!(b.redfish(reset("On")).await.status, 204);
    assert_eq!(b.power(), PowerState::PoweringOn);
    tokio::time::sleep(BOOT - Duration::from_millis(1)).await;
    assert_eq!(b.power(), PowerState::PoweringOn);
    tokio::time::sleep(Duration::from_millis(1)).await;
    let s = b.status();
    assert_eq!(s.power, PowerState::On);
    assert!(s.os_running);
    let sys = b.redfish(get(paths::SYSTEM)).await.body.unwrap();
    assert_eq!(sys["PowerState"], "On");
    use PowerState::*;
    assert_eq!(
        power_path(&rack, "blade-002"),
        [
            (Off, PoweringOn, "On".into()),
            (PoweringOn, On, "boot".into())
        ]
    );
    let recs = rack.ground_truth().records();
    let on = recs
        .iter()
        .find(|r| matches!(&r.event, GroundTruthEvent::Power { to: On, .. }))
        .unwrap();
    assert_eq!(
        on.mono_us, 300_000,
        "monotonic stamps follow the paused clock"
    );
    assert!(
        recs.iter()
            .any(|r| matches!(&r.event, GroundTruthEvent::Boot { epoch: 1, .. }))
    );
    assert_eq!(
        rack.blade("blade-001").unwrap().power(),
        Off,
        "other blades untouched"
    );
}

#[tokio::test(start_paused = true)]
async fn timers_fire_without_anyone_asking() {
    let rack = Rack::start(RackConfig::new(1)).await.unwrap();
    let b = &rack.blades()[0];
    b.reset(ResetType::On);
    let s = b
        .wait_power(PowerState::On, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(s.os_running);
    b.reset(ResetType::GracefulShutdown);
    assert_eq!(b.power(), PowerState::PoweringOff);
    b.wait_power(PowerState::Off, Duration::from_secs(1))
        .await
        .unwrap();
    let err = b
        .wait_power(PowerState::On, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WaitTimeout { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn open_loop_reset_answers_before_the_power_changes() {
    let rack = Rack::start(RackConfig::new(1)).await.unwrap();
    let b = &rack.blades()[0];
    b.reset(ResetType::On);
    b.wait_power(PowerState::On, Duration::from_secs(1))
        .await
        .unwrap();
    b.fault(FaultAction::OpenLoop { delay_ms: 2000 }).unwrap();
    let t0 = Instant::now();
    assert_eq!(b.redfish(reset("ForceOff")).await.status, 204);
    assert_eq!(b.power(), PowerState::On, "open loop: not yet");
    tokio::time::sleep(Duration::from_millis(1999)).await;
    assert_eq!(b.power(), PowerState::On);
    b.wait_power(PowerState::Off, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn error_fault_answers_409_for_n_seconds() {
    let rack = Rack::start(RackConfig::new(1)).await.unwrap();
    let b = &rack.blades()[0];
    b.fault(FaultAction::Error {
        status: 409,
        seconds: 5,
    })
    .unwrap();
    let resp = b.redfish(get(paths::SYSTEM)).await;
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.body.unwrap()["error"]["code"],
        "Base.1.8.ResourceInUse"
    );
    // Even the reset is refused: the blade stays off.
    assert_eq!(b.redfish(reset("On")).await.status, 409);
    assert_eq!(b.power(), PowerState::Off);
    tokio::time::sleep(Duration::from_millis(4999)).await;
    assert_eq!(b.redfish(get(paths::SYSTEM)).await.status, 409);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(b.redfish(get(paths::SYSTEM)).await.status, 200);
    assert_eq!(b.status().faults.error, None);

    b.fault(FaultAction::Error {
        status: 503,
        seconds: 3,
    })
    .unwrap();
    let resp = b.redfish(get(paths::ROOT)).await;
    assert_eq!(resp.status, 503);
    assert_eq!(resp.header("Retry-After"), Some("3"));
}

#[tokio::test(start_paused = true)]
async fn slow_adds_latency_and_hang_holds_requests_until_unhung() {
    let rack = Rack::start(RackConfig::new(1)).await.unwrap();
    let b = rack.blades()[0].clone();
    b.fault(FaultAction::Slow { ms: 250 }).unwrap();
    let t0 = Instant::now();
    assert_eq!(b.redfish(get(paths::SYSTEM)).await.status, 200);
    assert_eq!(t0.elapsed(), Duration::from_millis(250));

    b.fault(FaultAction::Clear).unwrap();
    b.fault(FaultAction::Hang).unwrap();
    let held = tokio::spawn({
        let b = b.clone();
        async move { b.redfish(get(paths::SYSTEM)).await }
    });
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(!held.is_finished(), "a hung BMC never answers");
    b.fault(FaultAction::Unhang).unwrap();
    assert_eq!(held.await.unwrap().status, 200);
}

/// An OS that reports its boots and stops.
struct RecordingOs {
    boots: mpsc::UnboundedSender<BootContext>,
    stops: Arc<Mutex<Vec<u64>>>,
}

struct Running {
    epoch: u64,
    stops: Arc<Mutex<Vec<u64>>>,
}

impl RunningOs for Running {
    fn stop(self: Box<Self>) {
        self.stops.lock().unwrap().push(self.epoch);
    }
}

impl BladeOs for RecordingOs {
    fn boot(&self, ctx: BootContext) -> Box<dyn RunningOs> {
        let epoch = ctx.host.epoch();
        let _ = self.boots.send(ctx);
        Box::new(Running {
            epoch,
            stops: Arc::clone(&self.stops),
        })
    }
}

fn identity(generation: u64) -> AppliedIdentity {
    AppliedIdentity {
        uuid: "11111111-2222-4333-8444-555555555555".into(),
        macs: vec!["02:50:41:00:00:01".into()],
        host_nqn: "nqn.2014-08.org.nvmexpress:uuid:11111111-2222-4333-8444-555555555555".into(),
        generation,
        term: 3,
    }
}

#[tokio::test(start_paused = true)]
async fn the_os_hook_gets_the_boot_context_and_is_stopped_on_power_loss() {
    let (tx, mut boots) = mpsc::unbounded_channel();
    let stops = Arc::new(Mutex::new(Vec::new()));
    let mut config = RackConfig::new(2).with_os(RecordingOs {
        boots: tx,
        stops: Arc::clone(&stops),
    });
    config.manager = Some("127.0.0.1:7001".into());
    let rack = Rack::start(config).await.unwrap();
    let b = rack.blade("blade-001").unwrap();
    let patch = RedfishRequest::new(Method::PATCH, paths::SYSTEM)
        .basic(&Credentials::default())
        .json(&json!({"Boot": {
            "BootSourceOverrideTarget": "UefiHttp",
            "BootSourceOverrideEnabled": "Continuous",
            "UefiTargetBootSourceOverride": "/NVMe(0x1)"
        }}));
    assert_eq!(b.redfish(patch).await.status, 200);
    b.reset(ResetType::On);
    let ctx = boots.recv().await.unwrap();
    assert_eq!(ctx.blade.name, "blade-001");
    assert_eq!(ctx.blade.manager.as_deref(), Some("127.0.0.1:7001"));
    // (UefiHttp: a UefiTarget boot is an NVMe/TCP boot, judged against the
    // storage target; see the nvme_boot tests.)
    assert_eq!(ctx.boot.effective_target(), BootTarget::UefiHttp);
    assert_eq!(ctx.boot.uefi_target.as_deref(), Some("/NVMe(0x1)"));
    assert!(ctx.link.is_up());
    assert!(ctx.host.is_current());

    ctx.host.apply_identity(identity(1)).unwrap();
    ctx.host.set_health(Health::Warning).unwrap();
    assert_eq!(b.health(), Health::Warning);
    let sys = b.redfish(get(paths::SYSTEM)).await.body.unwrap();
    assert_eq!(sys["Status"]["Health"], "Warning");

    b.fault(FaultAction::CutLink).unwrap();
    assert!(!ctx.link.is_up(), "the OS sees the cut");
    assert_eq!(b.power(), PowerState::On, "the blade stays powered");
    b.fault(FaultAction::RestoreLink).unwrap();
    assert!(ctx.link.is_up());

    b.fault(FaultAction::Kill).unwrap();
    assert_eq!(*stops.lock().unwrap(), [1]);
    assert!(!ctx.host.is_current());
    let err = ctx.host.apply_identity(identity(2)).unwrap_err();
    assert!(matches!(err, Error::OsStopped { .. }), "{err}");
    assert!(ctx.host.set_health(Health::Critical).is_err());

    // A killed blade stays off; after `clear` it boots a new instance.
    b.reset(ResetType::On);
    assert_eq!(b.power(), PowerState::Off);
    b.fault(FaultAction::Clear).unwrap();
    b.reset(ResetType::ForceRestart);
    let ctx2 = boots.recv().await.unwrap();
    assert_eq!(ctx2.host.epoch(), 2);
    b.reset(ResetType::ForceRestart);
    assert_eq!(*stops.lock().unwrap(), [1, 2]);

    let kinds: Vec<String> = rack
        .ground_truth()
        .records()
        .iter()
        .map(|r| {
            serde_json::to_value(r).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for kind in ["power", "boot", "identity", "health", "fault"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    assert!(rack.ground_truth().violations().is_empty());
}

#[tokio::test(start_paused = true)]
async fn two_blades_with_one_identity_show_up_as_a_violation() {
    let (tx, mut boots) = mpsc::unbounded_channel();
    let config = RackConfig::new(2).with_os(RecordingOs {
        boots: tx,
        stops: Arc::default(),
    });
    let rack = Rack::start(config).await.unwrap();
    for b in rack.blades() {
        b.reset(ResetType::On);
    }
    let a = boots.recv().await.unwrap();
    let c = boots.recv().await.unwrap();
    a.host.apply_identity(identity(1)).unwrap();
    c.host.apply_identity(identity(2)).unwrap();
    let v = rack.ground_truth().violations();
    assert_eq!(v.len(), 1, "{v:?}");
}

#[tokio::test]
async fn start_rejects_bad_configs() {
    assert!(matches!(
        Rack::start(RackConfig::new(0)).await,
        Err(Error::NoBlades)
    ));
    let mut c = RackConfig::new(3);
    c.bmc_listen = "127.0.0.1:65534".parse().unwrap();
    assert!(matches!(
        Rack::start(c).await,
        Err(Error::PortRange {
            index: 2,
            port: 65536
        })
    ));
    let held = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut c = RackConfig::new(1);
    c.control_listen = Some(held.local_addr().unwrap());
    assert!(matches!(
        Rack::start(c).await,
        Err(Error::BindControl { .. })
    ));
}

#[test]
fn handles_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Rack>();
    send_sync::<BladeHandle>();
    send_sync::<crate::os::HostHandle>();
    send_sync::<crate::os::LinkState>();
    send_sync::<crate::ControlClient>();
    send_sync::<RackConfig>();
}

#[tokio::test]
async fn hardware_can_differ_per_blade() {
    let mut config = RackConfig::new(2);
    let small = HardwareProfile {
        core_count: 16,
        logical_processor_count: 32,
        memory_gib: 64,
        ..HardwareProfile::default()
    };
    config.hardware_overrides.insert(2, small);
    let rack = Rack::start(config).await.unwrap();
    let sys = |i: usize| {
        let b = rack.blades()[i].clone();
        async move { b.redfish(get(paths::SYSTEM)).await.body.unwrap() }
    };
    assert_eq!(sys(0).await["ProcessorSummary"]["CoreCount"], 64);
    assert_eq!(sys(1).await["ProcessorSummary"]["CoreCount"], 16);
    assert_eq!(sys(1).await["MemorySummary"]["TotalSystemMemoryGiB"], 64);
}
