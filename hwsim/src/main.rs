//! The `hwsim` binary: serves a simulated rack (no subcommand), or talks to
//! a running one through its control API (`fault`, `power`, `status`,
//! `ground-truth`, `violations`).

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use hwsim::control::ControlClient;
use hwsim::model::{Credentials, FaultAction, Health, ResetType, Timing};
use hwsim::{AgentOs, BladeOs, BladeStatus, FakeNvme, Rack, RackConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const PORTS_HELP: &str = "\
BMC ports: blade i (1-based) listens on the --bmc-listen port + i, so
`--blades 16 --bmc-listen 127.0.0.1:8400` serves blade-001 on 127.0.0.1:8401
… blade-016 on 127.0.0.1:8416 (port 0: ephemeral ports, see `hwsim status`).
Each BMC serves Redfish over plain HTTP: /redfish/v1/ (open), sessions at
/redfish/v1/SessionService/Sessions, the blade at /redfish/v1/Systems/1
(reset: /redfish/v1/Systems/1/Actions/ComputerSystem.Reset), chassis
/redfish/v1/Chassis/1, manager /redfish/v1/Managers/bmc.

Without a subcommand hwsim serves the rack until Ctrl-C; the subcommands
talk to a running rack through its control API (--control, default
127.0.0.1:8399), e.g. `hwsim fault kill blade-003`, `hwsim status`.";

/// Simulated rack: one Redfish BMC per blade over HTTP on loopback, fault
/// injection and a ground-truth log.
#[derive(Parser, Debug)]
#[command(name = "hwsim", version, after_help = PORTS_HELP, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Number of blades (blade-001 …).
    #[arg(long, default_value_t = 16)]
    blades: u32,
    /// Base BMC address: blade i listens on this port + i (0: ephemeral).
    #[arg(long, default_value = "127.0.0.1:8400")]
    bmc_listen: SocketAddr,
    /// Fabric manager address(es), HOST:PORT[,HOST:PORT…]: booted blades run
    /// the real blade agent against them. Without it blades boot an idle OS.
    #[arg(long)]
    manager: Option<String>,
    /// Heartbeat interval of the blades' agents, in milliseconds.
    #[arg(long, default_value_t = 200)]
    agent_heartbeat_ms: u64,
    /// BMC user name.
    #[arg(long, default_value = "admin")]
    user: String,
    /// BMC password.
    #[arg(
        long,
        env = "HWSIM_PASSWORD",
        default_value = "password",
        hide_env_values = true
    )]
    password: String,
    /// Time from power-on to a booted OS.
    #[arg(long, default_value_t = 300)]
    boot_delay_ms: u64,
    /// Time from GracefulShutdown to power off.
    #[arg(long, default_value_t = 100)]
    shutdown_delay_ms: u64,
    /// Time from a ForceOff of a powered blade to power off, on every
    /// blade: the Reset is answered at once, the power reads as before
    /// until then (0: at once). With --boot-delay-ms (the power-on time)
    /// and --conflict-after-off-s it models a real BMC's latency profile.
    #[arg(long, default_value_t = 0)]
    power_off_ms: u64,
    /// For this many seconds after a blade's power goes Off (by any cause,
    /// `fault kill` included), its BMC refuses ComputerSystem.Reset with
    /// 409 Conflict (reads are answered); on every blade (0: never).
    #[arg(long, default_value_t = 0)]
    conflict_after_off_s: u64,
    /// Control API address.
    #[arg(long, default_value = "127.0.0.1:8399")]
    control_listen: SocketAddr,
    /// Write the ground-truth log to this file (JSON lines).
    #[arg(long)]
    ground_truth: Option<PathBuf>,
    /// Concurrent Redfish sessions per BMC (more are refused with 503).
    #[arg(long, default_value_t = 16)]
    session_limit: usize,
    /// Idle Redfish sessions close after this many seconds.
    #[arg(long, default_value_t = 1800)]
    session_timeout_s: u64,
    /// Rack id (0-255): part of burned-in MACs, UUIDs and serials, so
    /// several racks can run side by side.
    #[arg(long, default_value_t = 0)]
    rack_id: u8,
    /// The storage target's nvmet configfs root: a blade booting over
    /// NVMe/TCP (UefiTarget nvme+tcp://…) boots only if its host NQN may
    /// reach the subsystem there; otherwise it stays On without an OS,
    /// Critical, with the reason in its Redfish log.
    #[arg(long)]
    nvmet_root: Option<PathBuf>,
    /// The nvme program the blades' agents attach volumes with
    /// (hwsim-fake-nvme); it obeys --nvmet-root.
    #[arg(long, requires = "nvmet_root")]
    fake_nvme: Option<PathBuf>,
    /// Run each blade's agent on the real network namespace
    /// PREFIX<blade name> (interfaces eth0…, e.g. made by the manager's
    /// Linux fabric) instead of a simulated host. Needs root.
    #[arg(long)]
    blade_netns_prefix: Option<String>,
    /// Where hwsim keeps per-blade state (the fake nvme's connections);
    /// default: a temporary directory, removed when hwsim exits.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// The fabric's agent key (agent.key in a manager's data directory):
    /// each blade's agent presents its own blade's token, derived from it,
    /// as a provisioning system would install it.
    #[arg(long, value_name = "FILE")]
    agent_key_file: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct ControlArg {
    /// Control API of the running rack.
    #[arg(
        long,
        env = "HWSIM_CONTROL",
        default_value = "127.0.0.1:8399",
        global = true
    )]
    control: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Turn a fault knob on a blade.
    Fault {
        #[command(subcommand)]
        fault: FaultCmd,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Reset a blade as its BMC would (On, ForceOff, GracefulShutdown,
    /// ForceRestart, PowerCycle).
    Power {
        reset_type: String,
        blade: String,
        #[command(flatten)]
        control: ControlArg,
    },
    /// List the blades with power state, health and faults.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Print the ground-truth log as JSON lines.
    GroundTruth {
        /// Only records with seq >= N.
        #[arg(long, default_value_t = 0)]
        since: u64,
        #[command(flatten)]
        control: ControlArg,
    },
    /// Check the ground truth's invariants; exits 1 when any is broken.
    Violations {
        #[command(flatten)]
        control: ControlArg,
    },
}

#[derive(Subcommand, Debug)]
enum FaultCmd {
    /// Power lost: Off now, OS gone, stays Off until `clear`; the BMC answers.
    Kill { blade: String },
    /// The BMC accepts connections but never answers.
    Hang { blade: String },
    /// Undo `hang`.
    Unhang { blade: String },
    /// Add latency to every BMC request (0 removes it).
    Slow {
        blade: String,
        #[arg(long)]
        ms: u64,
    },
    /// Answer every BMC request with an HTTP error for a while.
    Error {
        blade: String,
        /// 409 or 503 (any 400-599).
        #[arg(long)]
        status: u16,
        #[arg(long)]
        seconds: u64,
    },
    /// Reset answers at once; the power change happens after the delay (0 closes the loop).
    OpenLoop {
        blade: String,
        #[arg(long)]
        delay_ms: u64,
    },
    /// Cut the blade OS's link to the manager (the blade stays powered).
    CutLink { blade: String },
    /// Restore the link.
    RestoreLink { blade: String },
    /// Set Status.Health (OK, Warning, Critical).
    Health {
        blade: String,
        #[arg(long)]
        value: String,
    },
    /// Remove every fault of the blade.
    Clear { blade: String },
}

impl FaultCmd {
    fn split(self) -> anyhow::Result<(String, FaultAction)> {
        Ok(match self {
            FaultCmd::Kill { blade } => (blade, FaultAction::Kill),
            FaultCmd::Hang { blade } => (blade, FaultAction::Hang),
            FaultCmd::Unhang { blade } => (blade, FaultAction::Unhang),
            FaultCmd::Slow { blade, ms } => (blade, FaultAction::Slow { ms }),
            FaultCmd::Error {
                blade,
                status,
                seconds,
            } => (blade, FaultAction::Error { status, seconds }),
            FaultCmd::OpenLoop { blade, delay_ms } => (blade, FaultAction::OpenLoop { delay_ms }),
            FaultCmd::CutLink { blade } => (blade, FaultAction::CutLink),
            FaultCmd::RestoreLink { blade } => (blade, FaultAction::RestoreLink),
            FaultCmd::Health { blade, value } => {
                let health: Health = value.parse().map_err(|()| {
                    anyhow::anyhow!("health {value:?} is not one of OK, Warning, Critical")
                })?;
                (blade, FaultAction::SetHealth { health })
            }
            FaultCmd::Clear { blade } => (blade, FaultAction::Clear),
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        None => serve(cli.serve).await,
        Some(cmd) => run(cmd).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hwsim: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // With a manager to talk to, booted blades run the real blade agent.
    // Only the fake nvme keeps state. Without --state-dir it goes in a
    // temporary directory removed when hwsim exits (a named one per process
    // used to be left behind by every run).
    let mut _scratch: Option<tempfile::TempDir> = None;
    let nvme = match (&args.fake_nvme, &args.nvmet_root) {
        (Some(program), Some(configfs)) => {
            let state_dir = match &args.state_dir {
                Some(dir) => dir.join("nvme"),
                None => {
                    let scratch = tempfile::Builder::new()
                        .prefix("hwsim-")
                        .tempdir()
                        .context("cannot create a temporary state directory; pass --state-dir")?;
                    let dir = scratch.path().join("nvme");
                    _scratch = Some(scratch);
                    dir
                }
            };
            std::fs::create_dir_all(&state_dir).with_context(|| {
                format!(
                    "cannot create the state directory {}; pass a writable --state-dir",
                    state_dir.display()
                )
            })?;
            Some(FakeNvme {
                program: program.clone(),
                configfs: configfs.clone(),
                state_dir,
            })
        }
        _ => None,
    };
    let agent_key = args
        .agent_key_file
        .as_deref()
        .map(blade_agent::AgentKey::from_file)
        .transpose()
        .context("--agent-key-file: pass agent.key from a manager's data directory")?;
    if args.manager.is_some() && agent_key.is_none() {
        tracing::warn!(
            "--manager without --agent-key-file: the blades' agents present no agent token, and \
             a PAN manager refuses them; pass agent.key from the manager's data directory"
        );
    }
    let os: Option<Arc<dyn BladeOs>> = args.manager.as_ref().map(|_| {
        Arc::new(AgentOs {
            heartbeat: Duration::from_millis(args.agent_heartbeat_ms),
            managers: Vec::new(),
            nvme,
            netns_prefix: args.blade_netns_prefix.clone(),
            agent_key,
        }) as Arc<dyn BladeOs>
    });
    let mut config = RackConfig {
        blades: args.blades,
        rack_id: args.rack_id,
        bmc_listen: args.bmc_listen,
        control_listen: Some(args.control_listen),
        manager: args.manager,
        account: Credentials::new(args.user, args.password),
        timing: Timing {
            boot_delay: Duration::from_millis(args.boot_delay_ms),
            shutdown_delay: Duration::from_millis(args.shutdown_delay_ms),
            power_off_delay: Duration::from_millis(args.power_off_ms),
            conflict_after_off: Duration::from_secs(args.conflict_after_off_s),
        },
        session_limit: args.session_limit,
        session_timeout: Duration::from_secs(args.session_timeout_s),
        ground_truth_file: args.ground_truth,
        nvmet_root: args.nvmet_root,
        ..RackConfig::new(args.blades)
    };
    if let Some(os) = os {
        config.os = os;
    }
    let rack = Rack::start(config).await?;
    let info = rack.info();
    let control = info
        .control
        .map_or_else(|| "-".to_owned(), |a| format!("http://{a}"));
    println!(
        "hwsim ready: {} blades, BMCs http://{} … http://{} (blade i on base port + i), control {control}",
        info.blades, info.first_bmc, info.last_bmc
    );
    wait_for_signal().await?;
    rack.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot listen for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}

async fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Fault { fault, control } => {
            let (blade, action) = fault.split()?;
            let status = ControlClient::new(control.control)
                .fault(&blade, &action)
                .await?;
            print_table(&[status]);
        }
        Command::Power {
            reset_type,
            blade,
            control,
        } => {
            let reset: ResetType = reset_type.parse().map_err(|()| {
                anyhow::anyhow!(
                    "reset type {reset_type:?} is not one of On, ForceOff, GracefulShutdown, ForceRestart, PowerCycle"
                )
            })?;
            let status = ControlClient::new(control.control)
                .reset(&blade, reset)
                .await?;
            print_table(&[status]);
        }
        Command::Status { json, control } => {
            let blades = ControlClient::new(control.control).blades().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&blades)?);
            } else {
                print_table(&blades);
            }
        }
        Command::GroundTruth { since, control } => {
            for rec in ControlClient::new(control.control)
                .ground_truth(since)
                .await?
            {
                println!("{}", serde_json::to_string(&rec)?);
            }
        }
        Command::Violations { control } => {
            let v = ControlClient::new(control.control).violations().await?;
            for violation in &v {
                println!("{}", serde_json::to_string(violation)?);
            }
            if !v.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(blades: &[BladeStatus]) {
    println!(
        "{:<10} {:<21} {:<11} {:<8} {:<4} {:<4} FAULTS",
        "BLADE", "BMC", "POWER", "HEALTH", "OS", "LINK"
    );
    for b in blades {
        print_row(b);
        if let Some(reason) = &b.boot_failure {
            println!("  boot failed: {reason}");
        }
        if let Some(applied) = &b.applied {
            let macs: Vec<String> = applied
                .interfaces
                .iter()
                .map(|i| format!("{}={}", i.name, i.mac))
                .collect();
            println!(
                "  applied generation {} (term {}): {}",
                applied.generation,
                applied.term,
                macs.join(" ")
            );
            for v in &applied.volumes {
                println!(
                    "  volume {} {} {}",
                    v.name,
                    v.subsystem_nqn,
                    if v.device.is_empty() { "-" } else { &v.device }
                );
            }
        }
    }
}

fn print_row(b: &BladeStatus) {
    let faults = b.faults.summary();
    println!(
        "{:<10} {:<21} {:<11} {:<8} {:<4} {:<4} {}",
        b.name,
        b.bmc.to_string(),
        b.power.as_str(),
        b.health.as_str(),
        if b.os_running { "up" } else { "-" },
        if b.link_up { "up" } else { "cut" },
        if faults.is_empty() {
            "-".to_owned()
        } else {
            faults.join(", ")
        }
    );
}
