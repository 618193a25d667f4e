//! The control API over HTTP: status, fault knobs (cut-link, kill, error
//! windows), reset, ground truth, and its error answers.

use crate::support::{self, client, get};
use hwsim::model::{FaultAction, Health, PowerState, ResetType};
use hwsim::{ControlClient, Error, GroundTruthEvent};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn status_faults_and_ground_truth_through_the_control_api() {
    let rack = support::rack(3).await;
    let ctl = ControlClient::new(rack.control_addr().unwrap().to_string());

    let info = ctl.info().await.unwrap();
    assert_eq!(info.blades, 3);
    let blades = ctl.blades().await.unwrap();
    assert_eq!(
        blades.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(),
        ["blade-001", "blade-002", "blade-003"]
    );
    assert!(
        blades
            .iter()
            .all(|b| b.power == PowerState::Off && b.health == Health::Ok)
    );
    assert_eq!(blades[1].bmc, rack.blades()[1].bmc_addr());
    assert_eq!(blades[1].macs.len(), 2);

    // Power on through the control API, then cut the link.
    ctl.reset("blade-002", ResetType::On).await.unwrap();
    let blade = rack.blade("blade-002").unwrap();
    blade
        .wait_power(PowerState::On, Duration::from_secs(5))
        .await
        .unwrap();
    let link = blade.link();
    assert!(link.is_up());
    let s = ctl.fault("blade-002", &FaultAction::CutLink).await.unwrap();
    assert!(!s.link_up);
    assert!(s.faults.link_cut);
    assert!(!link.is_up(), "the OS's flag is cut");
    assert_eq!(s.power, PowerState::On, "still powered");
    let s = ctl
        .fault("blade-002", &FaultAction::RestoreLink)
        .await
        .unwrap();
    assert!(s.link_up && link.is_up());

    // An error window shows in the status and on the BMC.
    let s = ctl
        .fault(
            "blade-001",
            &FaultAction::Error {
                status: 503,
                seconds: 30,
            },
        )
        .await
        .unwrap();
    assert_eq!(s.faults.error.as_ref().map(|e| e.status), Some(503));
    let c = client(Duration::from_secs(5));
    let (status, headers, body) = get(
        &c,
        &format!("{}/redfish/v1/Systems/1", rack.blades()[0].bmc_url()),
    )
    .await;
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        body["error"]["code"],
        "Base.1.8.ServiceTemporarilyUnavailable"
    );
    let s = ctl.fault("blade-001", &FaultAction::Clear).await.unwrap();
    assert_eq!(s.faults, Default::default());

    // Kill and read it back.
    let s = ctl.fault("blade-002", &FaultAction::Kill).await.unwrap();
    assert_eq!(s.power, PowerState::Off);
    assert!(s.faults.killed && !s.os_running);

    let records = ctl.ground_truth(0).await.unwrap();
    let causes: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            GroundTruthEvent::Power { blade, cause, .. } if blade == "blade-002" => {
                Some(cause.to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(causes, ["On", "boot", "kill"]);
    let later = ctl.ground_truth(records.len() as u64 - 1).await.unwrap();
    assert_eq!(later.len(), 1);
    assert!(ctl.violations().await.unwrap().is_empty());
}

#[tokio::test]
async fn control_api_errors_are_json_with_a_hint() {
    let rack = support::rack(1).await;
    let addr = rack.control_addr().unwrap().to_string();
    let ctl = ControlClient::new(addr.clone());

    match ctl.fault("blade-999", &FaultAction::Hang).await {
        Err(Error::ControlStatus {
            status: 404,
            message,
            ..
        }) => assert!(message.contains("blade-999"), "{message}"),
        other => panic!("expected 404, got {other:?}"),
    }
    match ctl
        .fault(
            "blade-001",
            &FaultAction::Error {
                status: 200,
                seconds: 1,
            },
        )
        .await
    {
        Err(Error::ControlStatus { status: 400, .. }) => {}
        other => panic!("expected 400, got {other:?}"),
    }
    let c = client(Duration::from_secs(5));
    for body in ["{", r#"{"action": "melt"}"#, r#"{"action": "slow"}"#] {
        let resp = c
            .post(format!("http://{addr}/blades/blade-001/fault"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert!(v["error"].is_string());
    }
    let resp = c
        .post(format!("http://{addr}/blades/blade-001/reset"))
        .json(&json!({"ResetType": "Sideways"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = c
        .get(format!("http://{addr}/ground-truth?since=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = c.get(format!("http://{addr}/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // Nobody listening: a connect error that names the address.
    rack.shutdown().await;
    let err = ControlClient::new(addr.clone())
        .with_timeout(Duration::from_secs(5))
        .blades()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ControlConnect { .. } | Error::ControlHttp { .. }
        ),
        "{err}"
    );
}
