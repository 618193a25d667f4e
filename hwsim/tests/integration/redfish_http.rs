//! Redfish over real HTTP: service root, sessions, systems with ETag,
//! reset, PATCH with If-Match, error bodies, hang, kill, port layout.

use crate::support::{self, PASSWORD, USER, client, get, poll, post};
use hwsim::model::{FaultAction, PowerState};
use hwsim::{Error, Rack, RackConfig};
use serde_json::{Value, json};
use std::time::Duration;

const SYSTEM: &str = "/redfish/v1/Systems/1";
const RESET: &str = "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset";
const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";

#[tokio::test]
async fn service_root_is_open_and_links_the_resources() {
    let rack = support::rack(2).await;
    let c = client(Duration::from_secs(5));
    let url = format!("{}/redfish/v1/", rack.blades()[0].bmc_url());
    let resp = c.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["odata-version"], "4.0");
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(resp.headers().contains_key("etag"));
    let root: Value = resp.json().await.unwrap();
    assert_eq!(root["@odata.id"], "/redfish/v1/");
    assert_eq!(root["Systems"]["@odata.id"], "/redfish/v1/Systems");
    assert_eq!(
        root["SessionService"]["@odata.id"],
        "/redfish/v1/SessionService"
    );
    assert_eq!(root["Links"]["Sessions"]["@odata.id"], SESSIONS);

    // Follow the links down to the NICs.
    let base = rack.blades()[0].bmc_url();
    let (_, _, systems) = get(&c, &format!("{base}/redfish/v1/Systems")).await;
    let system_uri = systems["Members"][0]["@odata.id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(system_uri, SYSTEM);
    let (_, _, sys) = get(&c, &format!("{base}{system_uri}")).await;
    let nics_uri = sys["EthernetInterfaces"]["@odata.id"].as_str().unwrap();
    let (_, _, nics) = get(&c, &format!("{base}{nics_uri}")).await;
    assert_eq!(nics["Members@odata.count"], 2);
    let (_, _, nic) = get(
        &c,
        &format!(
            "{base}{}",
            nics["Members"][0]["@odata.id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(nic["MACAddress"], "52:54:00:00:00:00");
    let (status, _, mgr) = get(&c, &format!("{base}/redfish/v1/Managers/bmc")).await;
    assert_eq!(status, 200);
    assert_eq!(mgr["Links"]["ManagerForServers"][0]["@odata.id"], SYSTEM);
    let (status, _, chassis) = get(&c, &format!("{base}/redfish/v1/Chassis/1")).await;
    assert_eq!(status, 200);
    assert_eq!(chassis["ChassisType"], "Blade");
}

#[tokio::test]
async fn sessions_create_use_and_delete() {
    let rack = support::rack(1).await;
    let c = client(Duration::from_secs(5));
    let base = rack.blades()[0].bmc_url();

    let resp = c
        .post(format!("{base}{SESSIONS}"))
        .json(&json!({"UserName": USER, "Password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let token = resp.headers()["x-auth-token"].to_str().unwrap().to_owned();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(SESSIONS));

    let resp = c
        .get(format!("{base}{SYSTEM}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let resp = c
        .delete(format!("{base}{location}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let resp = c
        .get(format!("{base}{SYSTEM}"))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401, "logged out");

    for resp in [
        c.post(format!("{base}{SESSIONS}"))
            .json(&json!({"UserName": USER, "Password": "wrong"}))
            .send()
            .await
            .unwrap(),
        c.get(format!("{base}{SYSTEM}")).send().await.unwrap(),
        c.get(format!("{base}{SYSTEM}"))
            .basic_auth(USER, Some("wrong"))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(resp.status(), 401);
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Basic realm=\"hwsim BMC\""
        );
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"]["@Message.ExtendedInfo"][0]["MessageId"].is_string());
    }
}

#[tokio::test]
async fn sessions_run_out_with_503() {
    let mut config = RackConfig::new(1);
    config.session_limit = 2;
    let rack = Rack::start(config).await.unwrap();
    let c = client(Duration::from_secs(5));
    let url = format!("{}{SESSIONS}", rack.blades()[0].bmc_url());
    let body = json!({"UserName": USER, "Password": PASSWORD});
    for _ in 0..2 {
        assert_eq!(c.post(&url).json(&body).send().await.unwrap().status(), 201);
    }
    let resp = c.post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Base.1.8.SessionLimitExceeded");
}

#[tokio::test]
async fn reset_on_boots_the_blade_and_force_off_cuts_it() {
    let rack = support::rack(3).await;
    let c = client(Duration::from_secs(5));
    let base = rack.blade("blade-003").unwrap().bmc_url();

    let (status, headers, sys) = get(&c, &format!("{base}{SYSTEM}")).await;
    assert_eq!(status, 200);
    assert_eq!(sys["PowerState"], "Off");
    let etag_off = headers["etag"].to_str().unwrap().to_owned();

    let (status, _) = post(&c, &format!("{base}{RESET}"), &json!({"ResetType": "On"})).await;
    assert!(status == 204 || status == 200, "{status}");
    let etag_on = poll("PowerState On", Duration::from_secs(5), || async {
        let (_, headers, sys) = get(&c, &format!("{base}{SYSTEM}")).await;
        (sys["PowerState"] == "On").then(|| headers["etag"].to_str().unwrap().to_owned())
    })
    .await;
    assert_ne!(etag_on, etag_off, "the ETag follows the resource");
    assert!(rack.blade("blade-003").unwrap().status().os_running);

    let (status, _) = post(
        &c,
        &format!("{base}{RESET}"),
        &json!({"ResetType": "ForceOff"}),
    )
    .await;
    assert_eq!(status, 204);
    let (_, _, sys) = get(&c, &format!("{base}{SYSTEM}")).await;
    assert_eq!(sys["PowerState"], "Off", "ForceOff is immediate");
}

#[tokio::test]
async fn patch_boot_override_with_if_match() {
    let rack = support::rack(1).await;
    let c = client(Duration::from_secs(5));
    let url = format!("{}{SYSTEM}", rack.blades()[0].bmc_url());
    let (_, headers, _) = get(&c, &url).await;
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let body = json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "UEFI"}});

    let resp = c
        .patch(&url)
        .basic_auth(USER, Some(PASSWORD))
        .header("If-Match", &etag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let new_etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let (_, _, sys) = get(&c, &url).await;
    assert_eq!(sys["Boot"]["BootSourceOverrideTarget"], "Pxe");
    assert_eq!(sys["Boot"]["BootSourceOverrideEnabled"], "Once");

    // The old ETag is stale now.
    let resp = c
        .patch(&url)
        .basic_auth(USER, Some(PASSWORD))
        .header("If-Match", &etag)
        .json(&json!({"Boot": {"BootSourceOverrideTarget": "Hdd"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 412);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "Base.1.8.PreconditionFailed");
    let (_, _, sys) = get(&c, &url).await;
    assert_eq!(sys["Boot"]["BootSourceOverrideTarget"], "Pxe", "unchanged");

    // A bad value is a 400 with the property named.
    let resp = c
        .patch(&url)
        .basic_auth(USER, Some(PASSWORD))
        .json(&json!({"Boot": {"BootSourceOverrideTarget": "Floppy"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    let info = &err["error"]["@Message.ExtendedInfo"][0];
    assert_eq!(info["MessageId"], "Base.1.8.PropertyValueNotInList");
    assert_eq!(
        info["RelatedProperties"][0],
        "#/Boot/BootSourceOverrideTarget"
    );

    // Malformed JSON is a Redfish 400 too.
    let resp = c
        .patch(&url)
        .basic_auth(USER, Some(PASSWORD))
        .header("Content-Type", "application/json")
        .body("{\"Boot\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "Base.1.8.MalformedJSON");
}

#[tokio::test]
async fn unknown_paths_and_bad_reset_types_get_redfish_errors() {
    let rack = support::rack(1).await;
    let c = client(Duration::from_secs(5));
    let base = rack.blades()[0].bmc_url();

    let (status, _, body) = get(&c, &format!("{base}/redfish/v1/Systems/42")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "Base.1.8.ResourceMissingAtURI");
    assert_eq!(
        body["error"]["@Message.ExtendedInfo"][0]["MessageArgs"][0],
        "/redfish/v1/Systems/42"
    );

    let (status, body) = post(
        &c,
        &format!("{base}{RESET}"),
        &json!({"ResetType": "Explode"}),
    )
    .await;
    assert_eq!(status, 400);
    let info = &body["error"]["@Message.ExtendedInfo"][0];
    assert_eq!(info["MessageId"], "Base.1.8.ActionParameterValueNotInList");
    assert_eq!(
        info["MessageArgs"],
        json!(["Explode", "ResetType", "ComputerSystem.Reset"])
    );
    assert_eq!(
        rack.blades()[0].power(),
        PowerState::Off,
        "nothing happened"
    );
}

#[tokio::test]
async fn a_hung_bmc_times_the_client_out_until_unhung() {
    let rack = support::rack(2).await;
    let blade = rack.blade("blade-001").unwrap();
    blade.fault(FaultAction::Hang).unwrap();
    let c = client(Duration::from_millis(300));
    let url = format!("{}/redfish/v1/", blade.bmc_url());
    let started = std::time::Instant::now();
    let err = c.get(&url).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The other BMC is unaffected.
    let other = format!("{}/redfish/v1/", rack.blade("blade-002").unwrap().bmc_url());
    assert_eq!(c.get(&other).send().await.unwrap().status(), 200);
    blade.fault(FaultAction::Unhang).unwrap();
    assert_eq!(c.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_killed_blade_reports_off_and_its_bmc_still_answers() {
    let rack = support::rack(1).await;
    let blade = &rack.blades()[0];
    let c = client(Duration::from_secs(5));
    let base = blade.bmc_url();
    post(&c, &format!("{base}{RESET}"), &json!({"ResetType": "On"})).await;
    blade
        .wait_power(PowerState::On, Duration::from_secs(5))
        .await
        .unwrap();

    blade.fault(FaultAction::Kill).unwrap();
    let (status, _, sys) = get(&c, &format!("{base}{SYSTEM}")).await;
    assert_eq!(status, 200);
    assert_eq!(sys["PowerState"], "Off");
    assert!(!blade.status().os_running);
    // Power-on is accepted but a dead blade stays off.
    let (status, _) = post(&c, &format!("{base}{RESET}"), &json!({"ResetType": "On"})).await;
    assert_eq!(status, 204);
    let (_, _, sys) = get(&c, &format!("{base}{SYSTEM}")).await;
    assert_eq!(sys["PowerState"], "Off");
}

#[tokio::test]
async fn bmcs_listen_on_base_port_plus_index() {
    // Find a free range of 4 ports: try bases until every bind succeeds.
    for _ in 0..20 {
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = probe.local_addr().unwrap();
        drop(probe);
        if base.port() > 65_000 {
            continue;
        }
        let mut config = RackConfig::new(4);
        config.bmc_listen = base;
        match Rack::start(config).await {
            Ok(rack) => {
                for (i, b) in rack.blades().iter().enumerate() {
                    assert_eq!(b.bmc_addr().port(), base.port() + 1 + i as u16);
                    assert_eq!(b.name(), format!("blade-{:03}", i + 1));
                }
                let c = client(Duration::from_secs(5));
                let url = format!("http://127.0.0.1:{}{SYSTEM}", base.port() + 4);
                let (status, _, sys) = get(&c, &url).await;
                assert_eq!(status, 200);
                assert_eq!(sys["Name"], "blade-004");
                return;
            }
            Err(Error::BindBmc { .. }) => continue,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    panic!("no free range of 4 ports found in 20 tries");
}
