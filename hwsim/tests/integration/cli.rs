//! The `hwsim` binary as a process: subcommands against a running rack,
//! and `hwsim` serving a rack of its own.

use crate::support::{self, client, get, poll};
use hwsim::model::PowerState;
use hwsim::{BladeStatus, ControlClient};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const HWSIM: &str = env!("CARGO_BIN_EXE_hwsim");

/// Runs `hwsim args…` to completion (bounded); exit success, stdout, stderr.
async fn hwsim(args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(HWSIM)
            .args(args)
            .env_remove("HWSIM_CONTROL")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("hwsim finished in time")
    .expect("hwsim runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn fault_and_status_subcommands_drive_a_running_rack() {
    let rack = support::rack(3).await;
    let control = rack.control_addr().unwrap().to_string();

    let (ok, stdout, stderr) = hwsim(&["fault", "kill", "blade-003", "--control", &control]).await;
    assert!(ok, "stderr: {stderr}");
    assert!(
        stdout.contains("blade-003") && stdout.contains("killed"),
        "{stdout}"
    );
    let s = rack.blade("blade-003").unwrap().status();
    assert!(s.faults.killed);
    assert_eq!(s.power, PowerState::Off);

    let (ok, _, stderr) = hwsim(&[
        "fault",
        "slow",
        "blade-001",
        "--ms",
        "40",
        "--control",
        &control,
    ])
    .await;
    assert!(ok, "stderr: {stderr}");
    let (ok, _, stderr) = hwsim(&["power", "On", "blade-002", "--control", &control]).await;
    assert!(ok, "stderr: {stderr}");

    let (ok, stdout, stderr) = hwsim(&["status", "--json", "--control", &control]).await;
    assert!(ok, "stderr: {stderr}");
    let blades: Vec<BladeStatus> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(blades.len(), 3);
    assert_eq!(blades[0].faults.slow_ms, Some(40));
    assert_ne!(blades[1].power, PowerState::Off);

    let (ok, stdout, _) = hwsim(&["status", "--control", &control]).await;
    assert!(ok);
    assert!(
        stdout.lines().next().unwrap().starts_with("BLADE"),
        "{stdout}"
    );
    assert!(stdout.contains("slow 40ms"), "{stdout}");

    let (ok, stdout, _) = hwsim(&["ground-truth", "--control", &control]).await;
    assert!(ok);
    assert!(
        stdout.lines().any(|l| l.contains("\"action\":\"kill\"")),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.contains("\"cause\":\"On\"")),
        "{stdout}"
    );

    // Errors: one line on stderr, non-zero exit.
    let (ok, _, stderr) = hwsim(&[
        "fault",
        "error",
        "blade-001",
        "--status",
        "200",
        "--seconds",
        "1",
        "--control",
        &control,
    ])
    .await;
    assert!(!ok);
    assert!(
        stderr.contains("400-599") || stderr.contains("400..=599"),
        "{stderr}"
    );
    let (ok, _, stderr) = hwsim(&["fault", "hang", "blade-077", "--control", &control]).await;
    assert!(!ok);
    assert!(stderr.contains("blade-077"), "{stderr}");
}

#[tokio::test]
async fn help_documents_the_port_layout() {
    let (ok, stdout, _) = hwsim(&["--help"]).await;
    assert!(ok);
    assert!(
        stdout.contains("blade i (1-based) listens on the --bmc-listen port + i"),
        "{stdout}"
    );
    assert!(stdout.contains("/redfish/v1/Systems/1"));
}

#[tokio::test]
async fn hwsim_serves_a_rack_as_a_process() {
    let mut child = Command::new(HWSIM)
        .args([
            "--blades",
            "3",
            "--bmc-listen",
            "127.0.0.1:0",
            "--control-listen",
            "127.0.0.1:0",
            "--boot-delay-ms",
            "20",
            "--manager",
            "127.0.0.1:7001",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("hwsim starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("ready line in time")
        .unwrap()
        .expect("a ready line");
    assert!(ready.starts_with("hwsim ready: 3 blades"), "{ready}");
    let control = ready
        .split("control http://")
        .nth(1)
        .expect("control address in the ready line")
        .trim()
        .to_owned();

    let ctl = ControlClient::new(control.clone());
    let info = ctl.info().await.unwrap();
    assert_eq!(info.manager.as_deref(), Some("127.0.0.1:7001"));
    let c = client(Duration::from_secs(5));
    let (status, _, root) = get(&c, &format!("http://{}/redfish/v1/", info.first_bmc)).await;
    assert_eq!(status, 200);
    assert_eq!(root["@odata.id"], "/redfish/v1/");

    let (ok, _, stderr) = hwsim(&["power", "On", "blade-001", "--control", &control]).await;
    assert!(ok, "{stderr}");
    poll("blade-001 On", Duration::from_secs(10), || async {
        let b = ctl.blade("blade-001").await.ok()?;
        (b.power == PowerState::On).then_some(())
    })
    .await;

    child.start_kill().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}
