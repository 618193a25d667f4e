//! `blade-agent`: runs on a blade, holds the stream to the fabric manager and
//! applies the identity it is given: its MACs to the named interface(s) with
//! `ip link` (inside `--netns` when given), its volumes with nvme-cli
//! (`--nvme`).
//!
//! It never decides placement and never applies a desired state older than
//! one it has accepted (see the library docs).

use blade_agent::{Agent, AgentConfig, LinuxHost};
use clap::Parser;
use san::nvme::NvmeCli;
use std::sync::Arc;
use std::time::Duration;

/// PAN blade agent: applies the server identity the fabric manager assigns.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// This blade's name, as the fabric knows it.
    #[arg(long, env = "PAN_BLADE")]
    blade: String,
    /// Fabric manager members, HOST:PORT, comma separated; any member will do.
    #[arg(long, env = "PAN_MANAGER", value_delimiter = ',', required = true)]
    manager: Vec<String>,
    /// Fabric interface(s) that carry the vNIC MACs, vNIC 0 first; comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    interface: Vec<String>,
    /// Heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 200)]
    heartbeat_ms: u64,
    /// The nvme-cli program that attaches the identity's volumes.
    #[arg(long, default_value = "nvme")]
    nvme: String,
    /// Work inside this network namespace (`ip -n NS …`): the interfaces
    /// named by --interface live there.
    #[arg(long)]
    netns: Option<String>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PAN_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = AgentConfig::new(args.blade, args.manager);
    config.heartbeat = Duration::from_millis(args.heartbeat_ms);
    config.nvme = Some(Arc::new(NvmeCli::new().program(args.nvme)));
    let mut host = LinuxHost::new(args.interface);
    if let Some(netns) = args.netns {
        host = host.in_netns(netns);
    }
    let host = Arc::new(host);
    let agent = match Agent::new(config, host) {
        Ok(agent) => agent,
        Err(err) => {
            eprintln!("blade-agent: error: {err}");
            std::process::exit(2);
        }
    };
    agent.run(shutdown_signal()).await;
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
