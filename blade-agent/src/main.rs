//! `blade-agent`: runs on a blade, holds the stream to the fabric manager and
//! applies the identity it is given: its MACs to the named interface(s) with
//! `ip link` (inside `--netns` when given), its volumes with nvme-cli
//! (`--nvme`).
//!
//! It never decides placement and never applies a desired state older than
//! one it has accepted (see the library docs).
//!
//! It speaks for its blade with that blade's agent token (`--token-file`);
//! `blade-agent token --agent-key-file K --blade NAME` mints one for the
//! provisioning system, which holds the fabric's agent key.

use blade_agent::{Agent, AgentConfig, AgentKey, AgentToken, LinuxHost};
use clap::{Parser, Subcommand};
use san::nvme::NvmeCli;
use std::sync::Arc;
use std::time::Duration;

/// PAN blade agent: applies the server identity the fabric manager assigns.
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// This blade's name, as the fabric knows it.
    #[arg(long, env = "PAN_BLADE", required = true)]
    blade: Option<String>,
    /// Fabric manager members, HOST:PORT, comma separated; any member will do.
    #[arg(long, env = "PAN_MANAGER", value_delimiter = ',', required = true)]
    manager: Vec<String>,
    /// Fabric interface(s) that carry the vNIC MACs, vNIC 0 first; comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    interface: Vec<String>,
    /// This blade's agent token (a file holding `pana_…`); managers refuse
    /// an agent without the token of the blade it names.
    #[arg(long, env = "PAN_AGENT_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
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

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Prints the agent token of one blade (for the provisioning system).
    Token {
        /// The fabric's agent key (agent.key in a manager's data directory).
        #[arg(long, value_name = "FILE")]
        agent_key_file: std::path::PathBuf,
        /// The blade's name, as the fabric knows it.
        #[arg(long)]
        blade: String,
    },
}

fn fail(message: &str) -> ! {
    eprintln!("blade-agent: error: {message}");
    std::process::exit(2);
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
    if let Some(Cmd::Token {
        agent_key_file,
        blade,
    }) = args.command
    {
        match AgentKey::from_file(&agent_key_file) {
            Ok(key) => println!("{}", key.token_for(&blade).expose()),
            Err(e) => fail(&e.to_string()),
        }
        return;
    }
    let Some(blade) = args.blade else {
        fail("--blade is required");
    };
    let mut config = AgentConfig::new(blade, args.manager);
    if let Some(path) = &args.token_file {
        match AgentToken::from_file(path) {
            Ok(token) => config.token = Some(token),
            Err(e) => fail(&e.to_string()),
        }
    }
    config.heartbeat = Duration::from_millis(args.heartbeat_ms);
    config.nvme = Some(Arc::new(NvmeCli::new().program(args.nvme)));
    let mut host = LinuxHost::new(args.interface);
    if let Some(netns) = args.netns {
        host = host.in_netns(netns);
    }
    let host = Arc::new(host);
    let agent = match Agent::new(config, host) {
        Ok(agent) => agent,
        Err(err) => fail(&err.to_string()),
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
