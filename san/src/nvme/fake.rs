//! The `fake-nvme` program: a stand-in for nvme-cli that obeys an nvmet
//! configfs tree. Its whole logic lives here, so every crate that needs the
//! program (san's `fake-nvme` binary, hwsim's `hwsim-fake-nvme`) is a
//! one-line `main` calling [`main`].
//!
//! For tests and simulation only. It reads the tree a
//! `san::nvmet::ConfigfsTarget` wrote (root in `PAN_FAKE_NVME_CONFIGFS`) and
//! keeps its connections in `connections.json` under `PAN_FAKE_NVME_STATE`.
//! It answers like nvme-cli 2.x:
//!
//! - `connect -t tcp -a ADDR -s PORT -n SUBNQN -q HOSTNQN [-o json]`
//!   succeeds (`{"device":"nvmeN"}`) only if a TCP port listens at
//!   ADDR:PORT, SUBNQN is linked to it with an enabled namespace, and
//!   HOSTNQN is in its `allowed_hosts` (or `attr_allow_any_host` is 1);
//!   otherwise it prints nvme-cli's refusal to stderr and exits 1.
//! - `discover -t tcp -a ADDR -s PORT -q HOSTNQN [-o json]` lists the
//!   subsystems on that port the host may reach.
//! - `list [-o json]` shows the connected namespaces; `disconnect -n SUBNQN`
//!   drops that subsystem's controllers.
//!
//! Like the kernel, revoking a host does not tear down its existing
//! controller. It must never touch the configfs tree nor any real device.

use crate::nvmet::{TargetTree, read_tree};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const REFUSED: &str = "could not add new controller: failed to write to nvme-fabrics device";

#[derive(Serialize, Deserialize, Default)]
struct State {
    connections: Vec<Connection>,
}

#[derive(Serialize, Deserialize, Clone)]
struct Connection {
    controller: u32,
    subnqn: String,
    hostnqn: String,
    traddr: String,
    trsvcid: String,
    device_path: PathBuf,
}

struct Args {
    verb: String,
    opts: BTreeMap<String, String>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let verb = it.next().ok_or("usage: fake-nvme VERB [OPTIONS]")?;
    let mut opts = BTreeMap::new();
    while let Some(flag) = it.next() {
        let key = match flag.as_str() {
            "-t" | "--transport" => "t",
            "-a" | "--traddr" => "a",
            "-s" | "--trsvcid" => "s",
            "-n" | "--nqn" => "n",
            "-q" | "--hostnqn" => "q",
            "-o" | "--output-format" => "o",
            other => return Err(format!("unknown option {other}")),
        };
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        opts.insert(key.to_string(), value);
    }
    Ok(Args { verb, opts })
}

fn env_path(name: &str) -> Result<PathBuf, String> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .ok_or(format!("{name} is not set"))
}

fn load(state_dir: &Path) -> Result<State, String> {
    match std::fs::read_to_string(state_dir.join("connections.json")) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("bad state: {e}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(format!("cannot read state: {e}")),
    }
}

fn save(state_dir: &Path, state: &State) -> Result<(), String> {
    std::fs::create_dir_all(state_dir).map_err(|e| e.to_string())?;
    let text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    std::fs::write(state_dir.join("connections.json"), text).map_err(|e| e.to_string())
}

fn opt<'a>(args: &'a Args, key: &str, what: &str) -> Result<&'a str, String> {
    args.opts
        .get(key)
        .map(String::as_str)
        .ok_or(format!("required argument [--{what}] not specified"))
}

fn json(args: &Args) -> bool {
    args.opts.get("o").is_some_and(|o| o == "json")
}

/// Exit 1 with nvme-cli's text for a refused fabrics connect.
fn refused() -> Result<ExitCode, String> {
    eprintln!("{REFUSED}");
    Ok(ExitCode::from(1))
}

fn tree() -> Result<TargetTree, String> {
    read_tree(&env_path("PAN_FAKE_NVME_CONFIGFS")?).map_err(|e| e.to_string())
}

fn connect(args: &Args) -> Result<ExitCode, String> {
    let (a, s) = (opt(args, "a", "traddr")?, opt(args, "s", "trsvcid")?);
    let (subnqn, hostnqn) = (opt(args, "n", "nqn")?, opt(args, "q", "hostnqn")?);
    if opt(args, "t", "transport")? != "tcp" {
        return refused();
    }
    let tree = tree()?;
    let Some(port) = tree.port_at(a, s) else {
        return refused();
    };
    if !tree.may_connect(port, subnqn, hostnqn) {
        return refused();
    }
    let state_dir = env_path("PAN_FAKE_NVME_STATE")?;
    let mut state = load(&state_dir)?;
    if state
        .connections
        .iter()
        .any(|c| c.subnqn == subnqn && c.hostnqn == hostnqn && c.traddr == a && c.trsvcid == s)
    {
        eprintln!("could not add new controller: already connected");
        return Ok(ExitCode::from(1));
    }
    let controller = (0..)
        .find(|n| state.connections.iter().all(|c| c.controller != *n))
        .unwrap_or(0);
    let device_path = tree
        .subsystem(subnqn)
        .and_then(|sub| sub.namespaces.iter().find(|n| n.enabled))
        .map(|n| n.device_path.clone())
        .unwrap_or_default();
    state.connections.push(Connection {
        controller,
        subnqn: subnqn.to_string(),
        hostnqn: hostnqn.to_string(),
        traddr: a.to_string(),
        trsvcid: s.to_string(),
        device_path,
    });
    save(&state_dir, &state)?;
    if json(args) {
        println!(
            "{}",
            serde_json::json!({ "device": format!("nvme{controller}") })
        );
    } else {
        println!("connecting to device: nvme{controller}");
    }
    Ok(ExitCode::SUCCESS)
}

fn discover(args: &Args) -> Result<ExitCode, String> {
    let (a, s) = (opt(args, "a", "traddr")?, opt(args, "s", "trsvcid")?);
    let hostnqn = opt(args, "q", "hostnqn")?;
    let tree = tree()?;
    let Some(port) = tree.port_at(a, s) else {
        return refused();
    };
    let records: Vec<_> = port
        .subsystems
        .iter()
        .filter(|nqn| tree.may_connect(port, nqn.as_str(), hostnqn))
        .map(|nqn| {
            serde_json::json!({
                "trtype": port.trtype,
                "adrfam": port.adrfam,
                "subtype": "nvme subsystem",
                "treq": "not specified, sq flow control disable supported",
                "portid": port.id,
                "trsvcid": port.trsvcid,
                "subnqn": nqn.as_str(),
                "traddr": port.traddr,
                "eflags": "none",
                "sectype": "none",
            })
        })
        .collect();
    let log = serde_json::json!({ "genctr": records.len(), "records": records });
    if json(args) {
        println!(
            "{}",
            serde_json::to_string_pretty(&log).map_err(|e| e.to_string())?
        );
    } else {
        println!("Discovery Log Number of Records {}", records.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn list(args: &Args) -> Result<ExitCode, String> {
    let state = load(&env_path("PAN_FAKE_NVME_STATE")?)?;
    let devices: Vec<_> = state
        .connections
        .iter()
        .map(|c| {
            let size = std::fs::metadata(&c.device_path).map_or(0, |m| m.len());
            serde_json::json!({
                "NameSpace": 1,
                "DevicePath": format!("/dev/nvme{}n1", c.controller),
                "GenericPath": format!("/dev/ng{}n1", c.controller),
                "Firmware": "6.12.0",
                "ModelNumber": "Linux",
                "SerialNumber": format!("{:020}", c.controller),
                "UsedBytes": size,
                "MaximumLBA": size / 512,
                "PhysicalSize": size,
                "SectorSize": 512,
            })
        })
        .collect();
    if json(args) {
        let out = serde_json::json!({ "Devices": devices });
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
        );
    } else {
        for c in &state.connections {
            println!("/dev/nvme{}n1 {}", c.controller, c.subnqn);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn disconnect(args: &Args) -> Result<ExitCode, String> {
    let subnqn = opt(args, "n", "nqn")?;
    let state_dir = env_path("PAN_FAKE_NVME_STATE")?;
    let mut state = load(&state_dir)?;
    let before = state.connections.len();
    state.connections.retain(|c| c.subnqn != subnqn);
    let dropped = before - state.connections.len();
    save(&state_dir, &state)?;
    println!("NQN:{subnqn} disconnected {dropped} controller(s)");
    Ok(ExitCode::SUCCESS)
}

fn run() -> Result<ExitCode, String> {
    let args = parse_args()?;
    match args.verb.as_str() {
        "connect" => connect(&args),
        "discover" => discover(&args),
        "list" => list(&args),
        "disconnect" => disconnect(&args),
        other => Err(format!("'{other}' is not a supported command")),
    }
}

/// Runs the program with the process's arguments and environment; returns
/// the exit code nvme-cli would.
pub fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(1)
        }
    }
}
