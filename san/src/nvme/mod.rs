//! The host side: attaching volumes with nvme-cli.
//!
//! [`NvmeHost`] is the seam the blade agent uses; [`NvmeCli`] implements it
//! by running `nvme` (through a [`CommandRunner`]) with JSON output and
//! parsing it ([`parse`]). Exit codes and stderr map to typed errors: a
//! refused connect (host not allowed, subsystem not exported on that port,
//! nothing listening) is [`Error::ConnectRefused`], a duplicate one
//! [`Error::AlreadyConnected`], a missing `nvme` [`Error::NotInstalled`].
//! [`fake`] is the logic of the `fake-nvme` test program that obeys an
//! nvmet configfs tree.
//!
//! This module must never decide which volumes a host attaches (the
//! manager's desired identity does) and never retry a connect on its own.

pub mod fake;
pub mod parse;

pub use parse::{DiscoveryLog, DiscoveryRecord, ListedNamespace};

use crate::error::{self, Error, Result};
use crate::nvmet::Nqn;
use crate::runner::{CommandOutput, CommandRunner, CommandSpec, ProcessRunner};
use async_trait::async_trait;
use std::net::SocketAddr;
use std::sync::Arc;

/// The well-known NQN of discovery controllers.
pub const DISCOVERY_NQN: &str = "nqn.2014-08.org.nvmexpress.discovery";

/// A host's NVMe-oF initiator.
#[async_trait]
pub trait NvmeHost: Send + Sync {
    /// Asks the discovery controller at `target` which subsystems `host`
    /// may reach there.
    async fn discover(&self, target: SocketAddr, host: &Nqn) -> Result<DiscoveryLog>;

    /// Connects `host` to `subsystem` at `target` over TCP; returns the new
    /// controller's name (`nvme0`; its namespaces are `/dev/nvme0nN`).
    async fn connect(&self, target: SocketAddr, subsystem: &Nqn, host: &Nqn) -> Result<String>;

    /// Disconnects every controller of `subsystem`; returns how many there
    /// were when nvme-cli says so (0 is not an error).
    async fn disconnect(&self, subsystem: &Nqn) -> Result<Option<u32>>;

    /// The NVMe namespaces (block devices) this host sees.
    async fn list(&self) -> Result<Vec<ListedNamespace>>;
}

/// [`NvmeHost`] over the `nvme` program (nvme-cli 2.x; 1.x output parses).
#[derive(Clone)]
pub struct NvmeCli {
    program: String,
    runner: Arc<dyn CommandRunner>,
}

impl std::fmt::Debug for NvmeCli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmeCli")
            .field("program", &self.program)
            .finish_non_exhaustive()
    }
}

impl Default for NvmeCli {
    fn default() -> Self {
        Self::new()
    }
}

impl NvmeCli {
    /// Runs `nvme` from `PATH` as a child process.
    pub fn new() -> Self {
        Self::with_runner(Arc::new(ProcessRunner::default()))
    }

    /// Runs commands through `runner`.
    pub fn with_runner(runner: Arc<dyn CommandRunner>) -> Self {
        NvmeCli {
            program: "nvme".to_string(),
            runner,
        }
    }

    /// Runs `program` instead of `nvme` (e.g. the `fake-nvme` test binary).
    pub fn program(mut self, program: impl Into<String>) -> Self {
        self.program = program.into();
        self
    }

    fn spec(&self, args: Vec<String>) -> CommandSpec {
        CommandSpec {
            program: self.program.clone(),
            args,
        }
    }

    fn fabric_args(verb: &str, target: SocketAddr) -> Vec<String> {
        vec![
            verb.to_string(),
            "-t".to_string(),
            "tcp".to_string(),
            "-a".to_string(),
            target.ip().to_string(),
            "-s".to_string(),
            target.port().to_string(),
        ]
    }

    /// `nvme discover -t tcp -a ADDR -s PORT -q HOSTNQN -o json`.
    pub fn discover_spec(&self, target: SocketAddr, host: &Nqn) -> CommandSpec {
        let mut args = Self::fabric_args("discover", target);
        args.extend(["-q".into(), host.to_string(), "-o".into(), "json".into()]);
        self.spec(args)
    }

    /// `nvme connect -t tcp -a ADDR -s PORT -n SUBNQN -q HOSTNQN -o json`.
    pub fn connect_spec(&self, target: SocketAddr, subsystem: &Nqn, host: &Nqn) -> CommandSpec {
        let mut args = Self::fabric_args("connect", target);
        args.extend([
            "-n".into(),
            subsystem.to_string(),
            "-q".into(),
            host.to_string(),
            "-o".into(),
            "json".into(),
        ]);
        self.spec(args)
    }

    /// `nvme disconnect -n SUBNQN`.
    pub fn disconnect_spec(&self, subsystem: &Nqn) -> CommandSpec {
        self.spec(vec![
            "disconnect".into(),
            "-n".into(),
            subsystem.to_string(),
        ])
    }

    /// `nvme list -o json`.
    pub fn list_spec(&self) -> CommandSpec {
        self.spec(vec!["list".into(), "-o".into(), "json".into()])
    }
}

/// Maps a failed fabrics command (connect or discover) to its error.
fn fabrics_error(spec: &CommandSpec, out: CommandOutput, subsystem: &str, host: &Nqn) -> Error {
    let stderr = out.stderr.to_ascii_lowercase();
    if stderr.contains("already connected") {
        Error::AlreadyConnected {
            subsystem_nqn: subsystem.to_string(),
            host_nqn: host.to_string(),
        }
    } else if stderr.contains("/dev/nvme-fabrics")
        || stderr.contains("nvme-fabrics device")
        || stderr.contains("could not add new controller")
        || stderr.contains("failed to add controller")
    {
        Error::ConnectRefused {
            subsystem_nqn: subsystem.to_string(),
            host_nqn: host.to_string(),
            stderr: out.stderr,
        }
    } else {
        Error::CommandFailed {
            command: spec.to_string(),
            code: out.code,
            stderr: out.stderr,
        }
    }
}

#[async_trait]
impl NvmeHost for NvmeCli {
    async fn discover(&self, target: SocketAddr, host: &Nqn) -> Result<DiscoveryLog> {
        let spec = self.discover_spec(target, host);
        let out = error::run(&*self.runner, &spec).await?;
        if !out.success() {
            return Err(fabrics_error(&spec, out, DISCOVERY_NQN, host));
        }
        parse::parse_discovery(&spec.to_string(), &out.stdout)
    }

    async fn connect(&self, target: SocketAddr, subsystem: &Nqn, host: &Nqn) -> Result<String> {
        let spec = self.connect_spec(target, subsystem, host);
        let out = error::run(&*self.runner, &spec).await?;
        if !out.success() {
            return Err(fabrics_error(&spec, out, subsystem.as_str(), host));
        }
        parse::parse_connect(&spec.to_string(), &out.stdout)
    }

    async fn disconnect(&self, subsystem: &Nqn) -> Result<Option<u32>> {
        let spec = self.disconnect_spec(subsystem);
        let out = error::run(&*self.runner, &spec).await?.check(&spec)?;
        Ok(parse::parse_disconnect(&out.stdout))
    }

    async fn list(&self) -> Result<Vec<ListedNamespace>> {
        let spec = self.list_spec();
        let out = error::run(&*self.runner, &spec).await?.check(&spec)?;
        parse::parse_list(&spec.to_string(), &out.stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::ScriptedRunner;

    const HOST: &str = "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-4000-8000-00000000000a";
    const SUB: &str = "nqn.2026-11.io.pan:volume:v1";

    fn setup() -> (ScriptedRunner, NvmeCli) {
        let runner = ScriptedRunner::new();
        let cli = NvmeCli::with_runner(Arc::new(runner.clone()));
        (runner, cli)
    }

    fn nqn(s: &str) -> Nqn {
        Nqn::parse(s).unwrap()
    }

    fn target() -> SocketAddr {
        "192.0.2.10:4420".parse().unwrap()
    }

    #[tokio::test]
    async fn command_lines() {
        let (runner, cli) = setup();
        runner
            .push(CommandOutput::ok(r#"{"genctr":1,"records":[]}"#))
            .push(CommandOutput::ok(r#"{"device":"nvme0"}"#))
            .push(CommandOutput::ok("NQN:x disconnected 1 controller(s)"))
            .push(CommandOutput::ok(r#"{"Devices":[]}"#));
        cli.discover(target(), &nqn(HOST)).await.unwrap();
        assert_eq!(
            cli.connect(target(), &nqn(SUB), &nqn(HOST)).await.unwrap(),
            "nvme0"
        );
        assert_eq!(cli.disconnect(&nqn(SUB)).await.unwrap(), Some(1));
        assert!(cli.list().await.unwrap().is_empty());
        assert_eq!(
            runner.commands(),
            [
                format!("nvme discover -t tcp -a 192.0.2.10 -s 4420 -q {HOST} -o json"),
                format!("nvme connect -t tcp -a 192.0.2.10 -s 4420 -n {SUB} -q {HOST} -o json"),
                format!("nvme disconnect -n {SUB}"),
                "nvme list -o json".to_string(),
            ]
        );
    }

    #[tokio::test]
    async fn refused_connect_is_typed_for_both_nvme_cli_generations() {
        for stderr in [
            "Failed to write to /dev/nvme-fabrics: Input/output error",
            "could not add new controller: failed to write to nvme-fabrics device",
        ] {
            let (runner, cli) = setup();
            runner.push(CommandOutput::failed(1, stderr));
            let err = cli
                .connect(target(), &nqn(SUB), &nqn(HOST))
                .await
                .unwrap_err();
            match &err {
                Error::ConnectRefused {
                    subsystem_nqn,
                    host_nqn,
                    stderr: e,
                } => {
                    assert_eq!(subsystem_nqn, SUB);
                    assert_eq!(host_nqn, HOST);
                    assert_eq!(e, stderr);
                }
                other => panic!("{other:?}"),
            }
            assert!(err.to_string().contains("granted access"));
        }
    }

    #[tokio::test]
    async fn other_failures_keep_command_code_and_stderr() {
        let (runner, cli) = setup();
        runner
            .push(CommandOutput::failed(
                1,
                "could not add new controller: already connected",
            ))
            .push(CommandOutput::failed(22, "Invalid argument"))
            .push(CommandOutput::failed(
                1,
                "Failed to write to /dev/nvme-fabrics: Connection refused",
            ))
            .push(CommandOutput::failed(1, "no permission"));
        let err = cli
            .connect(target(), &nqn(SUB), &nqn(HOST))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyConnected { .. }), "{err:?}");
        let err = cli
            .connect(target(), &nqn(SUB), &nqn(HOST))
            .await
            .unwrap_err();
        match err {
            Error::CommandFailed {
                command,
                code,
                stderr,
            } => {
                assert!(command.starts_with("nvme connect"));
                assert_eq!(code, Some(22));
                assert_eq!(stderr, "Invalid argument");
            }
            other => panic!("{other:?}"),
        }
        let err = cli.discover(target(), &nqn(HOST)).await.unwrap_err();
        assert!(
            matches!(&err, Error::ConnectRefused { subsystem_nqn, .. } if subsystem_nqn == DISCOVERY_NQN),
            "{err:?}"
        );
        let err = cli.list().await.unwrap_err();
        assert!(matches!(err, Error::CommandFailed { code: Some(1), .. }));
    }

    #[tokio::test]
    async fn missing_nvme_is_not_installed() {
        let (runner, cli) = setup();
        runner.push_not_installed();
        let err = cli.list().await.unwrap_err();
        assert!(matches!(&err, Error::NotInstalled { program } if program == "nvme"));
    }

    #[tokio::test]
    async fn garbage_output_is_typed() {
        let (runner, cli) = setup();
        runner.push(CommandOutput::ok("nvme0"));
        let err = cli
            .connect(target(), &nqn(SUB), &nqn(HOST))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::UnexpectedOutput { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn ipv6_targets_are_passed_bare() {
        let (runner, cli) = setup();
        cli.discover("[fd00::1]:4420".parse().unwrap(), &nqn(HOST))
            .await
            .ok();
        assert!(runner.commands()[0].contains("-a fd00::1 -s 4420"));
    }
}
