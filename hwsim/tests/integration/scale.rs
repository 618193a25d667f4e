//! One rack of 1,000 BMCs in one process: all listeners come up, a handful
//! answer over HTTP, one powers on, all bounded in time.

use crate::support::{PASSWORD, USER, client, get};
use hwsim::model::{PowerState, ResetType};
use hwsim::{Rack, RackConfig};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_bmcs_in_one_process() {
    let started = std::time::Instant::now();
    let work = async {
        let mut config = RackConfig::new(1000);
        config.timing.boot_delay = Duration::from_millis(20);
        let rack = Rack::start(config).await.expect("1,000 listeners");
        assert_eq!(rack.blades().len(), 1000);
        assert_eq!(rack.blades()[999].name(), "blade-1000");
        let mut ports: Vec<u16> = rack.blades().iter().map(|b| b.bmc_addr().port()).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 1000, "one listener per BMC");

        let c = client(Duration::from_secs(10));
        for i in [0usize, 1, 499, 998, 999] {
            let b = &rack.blades()[i];
            let (status, _, sys) = get(&c, &format!("{}/redfish/v1/Systems/1", b.bmc_url())).await;
            assert_eq!(status, 200, "{}", b.name());
            assert_eq!(sys["Name"], b.name());
            let (status, _, _) = get(&c, &format!("{}/redfish/v1/", b.bmc_url())).await;
            assert_eq!(status, 200);
        }
        let last = &rack.blades()[999];
        let resp = c
            .post(format!(
                "{}/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                last.bmc_url()
            ))
            .basic_auth(USER, Some(PASSWORD))
            .json(&serde_json::json!({"ResetType": ResetType::On.as_str()}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
        last.wait_power(PowerState::On, Duration::from_secs(10))
            .await
            .unwrap();
        rack.shutdown().await;
    };
    tokio::time::timeout(Duration::from_secs(60), work)
        .await
        .expect("1,000-BMC rack within 60 s");
    eprintln!(
        "1,000 BMCs: started, probed and stopped in {:?}",
        started.elapsed()
    );
}
