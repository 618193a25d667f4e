//! Running `ip` behind a seam.
//!
//! The Linux fabric builds [`CommandSpec`] values and hands them to a
//! [`CommandRunner`]: [`ProcessRunner`] runs them as child processes (no
//! shell, stdin closed, a timeout, killed when abandoned); unit tests use a
//! scripted runner that checks exact argument vectors. This module must never
//! interpret a command's output or decide anything about the fabric.

use async_trait::async_trait;
use std::fmt;
use std::time::Duration;

/// How long one `ip` command may run unless the runner is told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A command line: program and arguments, no shell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
}

impl CommandSpec {
    pub fn new<I, S>(program: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CommandSpec {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }
}

impl fmt::Display for CommandSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.program)?;
        for arg in &self.args {
            write!(f, " {arg}")?;
        }
        Ok(())
    }
}

/// What a finished command left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    /// Trimmed.
    pub stderr: String,
}

impl CommandOutput {
    /// Exit code 0 with this stdout.
    pub fn ok(stdout: impl Into<String>) -> Self {
        CommandOutput {
            code: Some(0),
            stdout: stdout.into(),
            stderr: String::new(),
        }
    }

    /// A failure with this exit code and stderr.
    pub fn failed(code: i32, stderr: impl Into<String>) -> Self {
        CommandOutput {
            code: Some(code),
            stdout: String::new(),
            stderr: stderr.into(),
        }
    }

    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Why a command produced no output at all.
#[derive(Debug)]
pub enum RunError {
    NotInstalled,
    Spawn(std::io::Error),
    Timeout(Duration),
}

/// Runs commands; the seam that lets tests check command lines.
#[async_trait]
pub trait CommandRunner: Send + Sync {
    /// Runs `spec` to completion and returns its output whatever its exit
    /// code; `Err` only when it could not start or took too long.
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, RunError>;
}

/// Runs commands as child processes with a timeout; a child is killed when
/// the timeout passes or the caller stops waiting.
#[derive(Clone, Debug)]
pub struct ProcessRunner {
    pub timeout: Duration,
}

impl Default for ProcessRunner {
    fn default() -> Self {
        ProcessRunner {
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

#[async_trait]
impl CommandRunner for ProcessRunner {
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, RunError> {
        let child = tokio::process::Command::new(&spec.program)
            .args(&spec.args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(self.timeout, child).await {
            Err(_elapsed) => Err(RunError::Timeout(self.timeout)),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(RunError::NotInstalled),
            Ok(Err(e)) => Err(RunError::Spawn(e)),
            Ok(Ok(output)) => Ok(CommandOutput {
                code: output.status.code(),
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            }),
        }
    }
}
