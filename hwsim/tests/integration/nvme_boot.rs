//! NVMe/TCP boot against a storage target tree written by
//! `san::nvmet::ConfigfsTarget`: a granted host boots, its agent (pushed a
//! desired identity by a stub manager) attaches the volume through
//! `hwsim-fake-nvme`; a host not granted does not boot, shows Critical, a
//! Redfish log entry saying why and a ground-truth record.

use crate::support::{client, get};
use blade_agent::{DesiredIdentity, FencingToken, Mac, ServerIdentity, VolumeAttachment};
use hwsim::model::{Health, PowerState, ResetType};
use hwsim::{AgentOs, FakeNvme, GroundTruthEvent, Rack, RackConfig};
use pan_api::v1 as pb;
use san::nvmet::{ConfigfsTarget, Nqn, PortConfig, StorageTarget};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

const GRANTED: &str = "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001";
const STRANGER: &str = "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000002";
const VOLUME: &str = "nqn.2026-11.io.pan:volume:1";
const WAIT: Duration = Duration::from_secs(20);

/// A manager that pushes one desired identity to every agent stream.
struct StubManager {
    desired: pb::DesiredIdentity,
}

#[tonic::async_trait]
impl pb::agent_server::Agent for StubManager {
    type SessionStream = ReceiverStream<Result<pb::ManagerMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<pb::AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(8);
        let desired = self.desired.clone();
        tokio::spawn(async move {
            let push = pb::ManagerMessage {
                body: Some(pb::manager_message::Body::Desired(desired)),
            };
            if tx.send(Ok(push)).await.is_err() {
                return;
            }
            // Keep the stream open while the agent talks.
            while let Ok(Some(_)) = inbound.message().await {}
            drop(tx);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

async fn start_manager(desired: &DesiredIdentity) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = pb::agent_server::AgentServer::new(StubManager {
        desired: desired.into(),
    });
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    addr
}

fn boot_text(host: &str) -> String {
    format!("nvme+tcp://127.0.0.1:4420/{VOLUME}?hostnqn={host}")
}

async fn set_boot(http: &reqwest::Client, rack: &Rack, blade: &str, host: &str) {
    let url = format!(
        "{}/redfish/v1/Systems/1",
        rack.blade(blade).unwrap().bmc_url()
    );
    let resp = http
        .patch(&url)
        .basic_auth(crate::support::USER, Some(crate::support::PASSWORD))
        .json(&serde_json::json!({"Boot": {
            "BootSourceOverrideTarget": "UefiTarget",
            "BootSourceOverrideEnabled": "Continuous",
            "UefiTargetBootSourceOverride": boot_text(host),
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "PATCH {url}");
}

#[tokio::test]
async fn only_a_granted_host_boots_and_its_agent_attaches_the_volume() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("nvmet");
    let device = dir.path().join("boot.img");
    std::fs::write(&device, vec![0u8; 4096]).unwrap();
    let target = ConfigfsTarget::new(&root, PortConfig::tcp(1, [127, 0, 0, 1].into())).unwrap();
    let volume = Nqn::parse(VOLUME).unwrap();
    target.export(&volume, &device).unwrap();
    target
        .grant(&volume, &Nqn::parse(GRANTED).unwrap())
        .unwrap();

    let desired = DesiredIdentity::assign(
        FencingToken::new(1, 1),
        ServerIdentity {
            server: "web-1".into(),
            partition: "acme".into(),
            uuid: "50414e00-0000-0000-0000-000000000001".into(),
            macs: vec![Mac([0x02, 0x50, 0x41, 0, 0, 1])],
            host_nqn: GRANTED.into(),
            boot_volume: Some("web-1-boot".into()),
            volumes: vec![VolumeAttachment {
                name: "web-1-boot".into(),
                subsystem_nqn: VOLUME.into(),
                target: "127.0.0.1:4420".parse().unwrap(),
            }],
        },
    );
    let manager = start_manager(&desired).await;

    let mut config = RackConfig::new(2);
    config.timing.boot_delay = Duration::from_millis(50);
    config.manager = Some(manager.to_string());
    config.nvmet_root = Some(root.clone());
    config.os = std::sync::Arc::new(AgentOs {
        heartbeat: Duration::from_millis(100),
        nvme: Some(FakeNvme {
            program: env!("CARGO_BIN_EXE_hwsim-fake-nvme").into(),
            configfs: root.clone(),
            state_dir: dir.path().join("state"),
        }),
        ..AgentOs::default()
    });
    let rack = Rack::start(config).await.unwrap();
    let http = client(Duration::from_secs(5));

    // blade-001 boots as the granted host; its agent attaches the volume.
    set_boot(&http, &rack, "blade-001", GRANTED).await;
    let b1 = rack.blade("blade-001").unwrap();
    b1.reset(ResetType::On);
    let status = b1
        .wait_until("the agent's volume report", WAIT, |s| {
            s.applied.as_ref().is_some_and(|a| !a.volumes.is_empty())
        })
        .await
        .unwrap();
    assert!(status.os_running);
    assert_eq!(status.health, Health::Ok);
    assert_eq!(status.boot_failure, None);
    assert_eq!(
        status.booted_target.as_deref(),
        Some(boot_text(GRANTED).as_str())
    );
    let applied = status.applied.unwrap();
    assert_eq!(applied.generation, 1);
    assert_eq!(applied.interfaces[0].mac, "02:50:41:00:00:01");
    assert_eq!(applied.volumes[0].name, "web-1-boot");
    assert_eq!(applied.volumes[0].subsystem_nqn, VOLUME);
    assert_eq!(applied.volumes[0].device, "/dev/nvme0n1");
    // The control API shows the same.
    let control = hwsim::ControlClient::new(rack.control_addr().unwrap().to_string());
    let shown = control.blade("blade-001").await.unwrap();
    assert_eq!(shown.applied.unwrap().volumes[0].device, "/dev/nvme0n1");

    // blade-002 asks to boot as a host the target does not allow.
    set_boot(&http, &rack, "blade-002", STRANGER).await;
    let b2 = rack.blade("blade-002").unwrap();
    b2.reset(ResetType::On);
    let status = b2
        .wait_until("the boot failure", WAIT, |s| s.boot_failure.is_some())
        .await
        .unwrap();
    let reason = format!(
        "NVMe-oF boot failed: host {STRANGER} is not allowed on subsystem {VOLUME} at 127.0.0.1:4420"
    );
    assert_eq!(status.boot_failure.as_deref(), Some(reason.as_str()));
    assert_eq!(status.power, PowerState::On);
    assert_eq!(status.health, Health::Critical);
    assert!(!status.os_running, "no OS, so no agent");
    assert_eq!(status.applied, None);
    let (code, _, system) = get(&http, &format!("{}/redfish/v1/Systems/1", b2.bmc_url())).await;
    assert_eq!(code, 200);
    assert_eq!(system["Status"]["Health"], "Critical");
    let (_, _, entries) = get(
        &http,
        &format!(
            "{}/redfish/v1/Systems/1/LogServices/Log/Entries",
            b2.bmc_url()
        ),
    )
    .await;
    assert_eq!(entries["Members"][0]["Severity"], "Critical");
    assert_eq!(entries["Members"][0]["Message"], reason.as_str());
    assert!(rack.ground_truth().records().iter().any(|r| matches!(
        &r.event,
        GroundTruthEvent::BootFailed { blade, reason: why, .. } if blade == "blade-002" && *why == reason
    )));

    // Granted now: the next boot succeeds and health is OK again.
    target
        .grant(&volume, &Nqn::parse(STRANGER).unwrap())
        .unwrap();
    b2.reset(ResetType::ForceRestart);
    let status = b2
        .wait_until("a good boot", WAIT, |s| {
            s.os_running && s.health == Health::Ok
        })
        .await
        .unwrap();
    assert_eq!(status.boot_failure, None);
    let (_, _, entries) = get(
        &http,
        &format!(
            "{}/redfish/v1/Systems/1/LogServices/Log/Entries",
            b2.bmc_url()
        ),
    )
    .await;
    assert_eq!(entries["Members@odata.count"], 1, "entries persist");
    rack.shutdown().await;
}
