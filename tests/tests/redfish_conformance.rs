//! Redfish conformance: one suite of checks for the manager's Redfish client
//! (`fabric_manager::bmc::RedfishBmc`), run against
//! - the `sushy-tools` emulator (OpenStack's Redfish emulator, fake system
//!   driver, HTTP Basic auth from an htpasswd file): a Redfish peer nobody
//!   here wrote, installed into `<workspace>/.venv` by `scripts/test.sh`;
//! - hwsim's simulated BMC (`hwsim --blades 1`), which the rest of PAN's
//!   tests drive, so both must behave alike.
//!
//! The suite: list the systems, read the inventory and the power state,
//! `Reset On` and `ForceOff` each confirmed by polling the power state
//! (sushy applies a power change 1–11 s after the call, hence a 30 s
//! deadline), a boot override PATCH read back, and bad credentials giving
//! a typed authentication error. Each peer runs as a process on loopback
//! with its own temp dir, killed when the test ends.

use anyhow::{Context as _, Result, bail, ensure};
use fabric_manager::bmc::{
    Bmc, BootEnabled, BootMode, BootOverride, BootTarget, Credentials, Endpoint, ErrorKind, Limits,
    PowerState, RedfishBmc, ResetType, wait_for_power,
};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// sushy changes power 1–11 s after a reset; leave room for a slow machine.
const POWER_DEADLINE: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// What differs between peers, and what the suite may expect of each.
struct Peer {
    name: &'static str,
    url: String,
    user: &'static str,
    password: &'static str,
    /// The system UUID the peer was configured with, when known.
    uuid: Option<String>,
    /// A MAC the system must report, when known.
    mac: Option<&'static str>,
    /// sushy-tools' fake driver keeps `BootSourceOverrideEnabled` at
    /// `Continuous` whatever is PATCHed (its emulator.py: "we always set
    /// the boot device frequency to continuous"); other peers must store it.
    stores_boot_enabled: bool,
    /// The running peer; killed on drop.
    process: ChildGuard,
}

/// Kills and reaps the child when dropped, then removes its temp dir.
struct ChildGuard {
    child: Option<Child>,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl ChildGuard {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The checks, in order; the first failure ends the suite with context.
async fn suite(peer: &Peer) -> Result<()> {
    let limits = Limits::default();
    let bmc = RedfishBmc::new(
        Endpoint::new(&peer.url),
        Credentials::new(peer.user, peer.password),
        &limits,
    )?;

    // Systems: the peer lists at least one, and the client uses the first.
    let systems = bmc.systems().await.context("list the systems")?;
    ensure!(!systems.is_empty(), "no systems listed");

    let inventory = bmc.inventory().await.context("read the inventory")?;
    ensure!(
        !inventory.id.is_empty(),
        "the system has no Id: {inventory:?}"
    );
    ensure!(
        systems[0].ends_with(&inventory.id),
        "the inventory is not of the first system ({systems:?} vs {})",
        inventory.id
    );
    if let Some(uuid) = &peer.uuid {
        ensure!(
            inventory.uuid.as_deref() == Some(uuid.as_str()),
            "UUID {:?}, configured {uuid}",
            inventory.uuid
        );
    }
    if let Some(mac) = peer.mac {
        ensure!(
            inventory.macs.iter().any(|m| m.to_string() == mac),
            "MAC {mac} missing from {:?}",
            inventory.macs
        );
    }
    ensure!(inventory.power.is_some(), "no PowerState in {inventory:?}");

    // Power: read, then On and ForceOff, each confirmed by reading back.
    let first = bmc.power_state().await.context("read the power state")?;
    ensure!(
        matches!(first, PowerState::On | PowerState::Off),
        "unexpected power state {first}"
    );
    for (reset, want) in [
        (ResetType::On, PowerState::On),
        (ResetType::ForceOff, PowerState::Off),
    ] {
        let started = Instant::now();
        bmc.reset(reset.clone())
            .await
            .with_context(|| format!("reset {reset}"))?;
        let reads = wait_for_power(&bmc, &want, POWER_DEADLINE, POLL_INTERVAL)
            .await
            .with_context(|| format!("power {want} after reset {reset}"))?;
        eprintln!(
            "{}: reset {reset} read back {want} after {:?} ({reads} reads)",
            peer.name,
            started.elapsed()
        );
    }

    // Boot override: PATCH, read back; then another, to see it change.
    for (target, enabled) in [
        (BootTarget::Pxe, BootEnabled::Once),
        (BootTarget::Hdd, BootEnabled::Continuous),
    ] {
        let want = BootOverride {
            target: target.clone(),
            enabled: enabled.clone(),
            mode: Some(BootMode::Uefi),
            uefi_target: None,
        };
        bmc.set_boot_override(&want)
            .await
            .with_context(|| format!("set the boot override to {target}"))?;
        let got = bmc
            .boot_override()
            .await
            .context("read the boot override back")?;
        ensure!(
            got.target == target,
            "boot target {} read back, set {target}",
            got.target
        );
        ensure!(
            got.mode == Some(BootMode::Uefi),
            "boot mode {:?} read back",
            got.mode
        );
        if peer.stores_boot_enabled {
            ensure!(
                got.enabled == enabled,
                "boot enabled {} read back, set {enabled}",
                got.enabled
            );
        }
    }
    bmc.close().await.context("close the session")?;

    // Bad credentials: a typed authentication error, no password in it.
    let wrong = "not-the-Password-1";
    let intruder = RedfishBmc::new(
        Endpoint::new(&peer.url),
        Credentials::new(peer.user, wrong),
        &limits,
    )?;
    match intruder.power_state().await {
        Ok(state) => bail!("bad credentials read the power state ({state})"),
        Err(e) => {
            ensure!(
                matches!(e.kind, ErrorKind::Auth { status: 401, .. }),
                "bad credentials gave {e:?}, not an authentication error"
            );
            let text = format!("{e} {e:?}");
            ensure!(!text.contains(wrong), "the password shows in {text}");
            eprintln!("{}: bad credentials: {e}", peer.name);
        }
    }
    Ok(())
}

async fn run(peer: Peer) -> Result<()> {
    let result = suite(&peer).await;
    if let Err(e) = &result {
        eprintln!("{} log:\n{}", peer.name, peer.process.log());
        eprintln!("{}: {e:#}", peer.name);
    }
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sushy_tools_emulator_conforms() -> Result<()> {
    run(start_sushy().await?).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hwsim_bmc_conforms() -> Result<()> {
    run(start_hwsim().await?).await
}

/// `admin:password` with a bcrypt hash (the only digest sushy's htpasswd
/// support takes), cost 4 so the check on every request stays cheap.
const SUSHY_HTPASSWD: &str = "admin:$2b$04$JVXC1qPEM.M49.F85PcUh.bYeEPwokBri6eQdvIyXBtF6ZN6nynRG\n";
const SUSHY_UUID: &str = "9f6c4b0e-5d0a-4c55-8a57-3c1f0e2b7a11";
const SUSHY_MAC: &str = "52:54:00:12:34:56";

async fn start_sushy() -> Result<Peer> {
    let exe = workspace_root().join(".venv/bin/sushy-emulator");
    if !exe.exists() {
        bail!(
            "{} is missing: run ./scripts/test.sh once (it creates .venv and installs \
             sushy-tools into it), or by hand: python3 -m venv .venv && \
             .venv/bin/pip install sushy-tools",
            exe.display()
        );
    }
    let temp = tempfile::tempdir()?;
    let dir = temp.path().to_path_buf();
    let port = pan_tests::free_port();
    let htpasswd = dir.join("htpasswd");
    std::fs::write(&htpasswd, SUSHY_HTPASSWD)?;
    let config = dir.join("emulator.conf");
    std::fs::write(
        &config,
        format!(
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n\
             SUSHY_EMULATOR_LISTEN_PORT = {port}\n\
             SUSHY_EMULATOR_STATE_DIR = {state:?}\n\
             SUSHY_EMULATOR_AUTH_FILE = {auth:?}\n\
             SUSHY_EMULATOR_FAKE_DRIVER = True\n\
             SUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': '{SUSHY_UUID}', 'name': 'blade-001', \
             'power_state': 'Off', 'nics': [{{'mac': '{SUSHY_MAC}', 'ip': '192.0.2.10'}}]}}]\n",
            state = dir.join("state").display().to_string(),
            auth = htpasswd.display().to_string(),
        ),
    )?;
    let log = dir.join("sushy.log");
    let log_file = std::fs::File::create(&log)?;
    let child = Command::new(&exe)
        .arg("--config")
        .arg(&config)
        .arg("--fake")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("start {}", exe.display()))?;
    let process = ChildGuard {
        child: Some(child),
        log,
        _dir: temp,
    };
    let addr = format!("127.0.0.1:{port}");
    pan_tests::poll(Duration::from_secs(30), "sushy-emulator to listen", || {
        let addr = addr.clone();
        async move { std::net::TcpStream::connect(&addr).ok() }
    })
    .await
    .with_context(|| format!("sushy-emulator log:\n{}", process.log()))?;
    Ok(Peer {
        name: "sushy-tools",
        url: format!("http://{addr}"),
        user: "admin",
        password: "password",
        uuid: Some(SUSHY_UUID.to_string()),
        mac: Some(SUSHY_MAC),
        stores_boot_enabled: false,
        process,
    })
}

async fn start_hwsim() -> Result<Peer> {
    let temp = tempfile::tempdir()?;
    let dir = temp.path().to_path_buf();
    let log = dir.join("hwsim.log");
    let mut child = Command::new(pan_tests::binary("hwsim"))
        .args(["--blades", "1"])
        .args(["--bmc-listen", "127.0.0.1:0"])
        .args(["--control-listen", "127.0.0.1:0"])
        // In the directory this test removes, even though hwsim is killed.
        .args(["--state-dir", &dir.join("state").display().to_string()])
        .current_dir(&dir)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .context("start hwsim")?;
    let stdout = child.stdout.take().context("hwsim's stdout")?;
    let process = ChildGuard {
        child: Some(child),
        log,
        _dir: temp,
    };
    // "hwsim ready: 1 blades, BMCs http://127.0.0.1:P … http://127.0.0.1:P (…), control …"
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("hwsim ready:") {
                let _ = tx.send(line);
            }
        }
    });
    let ready = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
        .await?
        .with_context(|| {
            format!(
                "hwsim did not print its ready line; log:\n{}",
                process.log()
            )
        })?;
    let url = ready
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(|w| w.trim_end_matches(',').to_string())
        .with_context(|| format!("no BMC URL in hwsim's ready line {ready:?}"))?;
    Ok(Peer {
        name: "hwsim",
        url,
        user: "admin",
        password: "password",
        uuid: None,
        mac: None,
        stores_boot_enabled: true,
        process,
    })
}
