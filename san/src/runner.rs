//! Running external programs (`qemu-img`, `nvme`, `ip`) behind a seam.
//!
//! Callers build [`CommandSpec`] values and hand them to a [`CommandRunner`]:
//! [`ProcessRunner`] runs them as child processes (no shell, stdin closed, a
//! timeout, extra environment, killed when abandoned); [`ScriptedRunner`]
//! records them and answers from a script, so command lines and the mapping
//! of exit codes and stderr to a caller's errors are tested without the
//! programs. The seam is shared by the storage drivers of this crate, the
//! fabric manager's Linux fabric and the blade agent; it knows nothing of
//! their domains. It says only why a command produced no output at all
//! ([`RunError`]); each caller maps that, and a non-zero exit code, to its
//! own errors (this crate: [`crate::Error::from_run`] and
//! [`CommandOutput::check`]). This module must never interpret a program's
//! output: that belongs to its caller.

use async_trait::async_trait;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long one command may run unless the runner is told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A command line to run: program and arguments, no shell.
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
    /// Exit code 0 with the given stdout.
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

/// Why a command produced no output at all. Each message names the program.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The program is not on this machine.
    #[error("{program} is not installed (not found on PATH)")]
    NotInstalled { program: String },

    /// The program could not be started for another reason.
    #[error("could not start {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },

    /// The program ran longer than allowed and was killed.
    #[error("{program} did not finish within {after:?} and was killed")]
    Timeout { program: String, after: Duration },
}

/// Runs commands; the seam that lets tests check command lines.
#[async_trait]
pub trait CommandRunner: Send + Sync {
    /// Runs `spec` to completion and returns its output whatever its exit
    /// code. `Err` only when it could not be started
    /// ([`RunError::NotInstalled`], [`RunError::Spawn`]) or took too long
    /// ([`RunError::Timeout`]).
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, RunError>;
}

/// Runs commands as child processes with a timeout; a child is killed when
/// the timeout passes or the caller stops waiting.
#[derive(Clone, Debug)]
pub struct ProcessRunner {
    pub timeout: Duration,
    /// Extra environment for every child (e.g. where `fake-nvme` finds its
    /// configfs tree); the rest is inherited.
    pub env: Vec<(String, String)>,
}

impl Default for ProcessRunner {
    fn default() -> Self {
        ProcessRunner {
            timeout: DEFAULT_TIMEOUT,
            env: Vec::new(),
        }
    }
}

impl ProcessRunner {
    /// Sets `key=value` in every child's environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

#[async_trait]
impl CommandRunner for ProcessRunner {
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, RunError> {
        let child = tokio::process::Command::new(&spec.program)
            .args(&spec.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = match tokio::time::timeout(self.timeout, child).await {
            Err(_elapsed) => {
                return Err(RunError::Timeout {
                    program: spec.program.clone(),
                    after: self.timeout,
                });
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RunError::NotInstalled {
                    program: spec.program.clone(),
                });
            }
            Ok(Err(source)) => {
                return Err(RunError::Spawn {
                    program: spec.program.clone(),
                    source,
                });
            }
            Ok(Ok(output)) => output,
        };
        Ok(CommandOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// One scripted answer: an output, or "the program is not installed".
#[derive(Clone, Debug)]
pub enum Scripted {
    Output(CommandOutput),
    NotInstalled,
}

/// A fake runner: records every command and answers from a queue (exit 0
/// with empty output once the queue is empty).
#[derive(Clone, Debug, Default)]
pub struct ScriptedRunner {
    inner: Arc<Mutex<ScriptState>>,
}

#[derive(Debug, Default)]
struct ScriptState {
    answers: VecDeque<Scripted>,
    seen: Vec<CommandSpec>,
}

impl ScriptedRunner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues the answer to the next command.
    pub fn push(&self, answer: CommandOutput) -> &Self {
        self.lock().answers.push_back(Scripted::Output(answer));
        self
    }

    /// Queues "not installed" as the answer to the next command.
    pub fn push_not_installed(&self) -> &Self {
        self.lock().answers.push_back(Scripted::NotInstalled);
        self
    }

    /// Every command run so far, as command lines.
    pub fn commands(&self) -> Vec<String> {
        self.lock().seen.iter().map(ToString::to_string).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ScriptState> {
        // A panic while holding the lock cannot leave the queue half-updated.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl CommandRunner for ScriptedRunner {
    async fn run(&self, spec: &CommandSpec) -> Result<CommandOutput, RunError> {
        let mut state = self.lock();
        state.seen.push(spec.clone());
        match state.answers.pop_front() {
            None => Ok(CommandOutput::ok("")),
            Some(Scripted::Output(out)) => Ok(out),
            Some(Scripted::NotInstalled) => Err(RunError::NotInstalled {
                program: spec.program.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[tokio::test]
    async fn process_runner_captures_output_and_exit_code() {
        let runner = ProcessRunner::default();
        let out = runner
            .run(&CommandSpec::new(
                "sh",
                ["-c", "echo out; echo err >&2; exit 3"],
            ))
            .await
            .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err");
        let err = out.check(&CommandSpec::new("sh", ["-c", "x"])).unwrap_err();
        assert!(matches!(err, Error::CommandFailed { code: Some(3), .. }));
        let out = ProcessRunner::default()
            .env("PAN_TEST_VALUE", "42")
            .run(&CommandSpec::new("sh", ["-c", "echo $PAN_TEST_VALUE"]))
            .await
            .unwrap();
        assert_eq!(out.stdout, "42\n");
    }

    #[tokio::test]
    async fn missing_program_is_not_installed() {
        let spec = CommandSpec::new("pan-no-such-program", ["x"]);
        let err = ProcessRunner::default().run(&spec).await.unwrap_err();
        assert!(
            matches!(&err, RunError::NotInstalled { program } if program == "pan-no-such-program")
        );
        assert!(err.to_string().contains("pan-no-such-program"), "{err}");
        let err = Error::from_run(&spec, err);
        assert!(
            matches!(&err, Error::NotInstalled { program } if program == "pan-no-such-program")
        );
        assert!(err.to_string().contains("install it"));
    }

    #[tokio::test]
    async fn slow_program_times_out() {
        let runner = ProcessRunner {
            timeout: Duration::from_millis(100),
            ..ProcessRunner::default()
        };
        let spec = CommandSpec::new("sleep", ["30"]);
        let err = runner.run(&spec).await.unwrap_err();
        assert!(
            matches!(&err, RunError::Timeout { program, after }
                if program == "sleep" && *after == Duration::from_millis(100)),
            "{err:?}"
        );
        assert!(err.to_string().contains("sleep"), "{err}");
        let err = Error::from_run(&spec, err);
        assert!(
            matches!(&err, Error::Timeout { command, .. } if command == "sleep 30"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn scripted_runner_records_and_answers() {
        let runner = ScriptedRunner::new();
        runner
            .push(CommandOutput::failed(2, "boom"))
            .push_not_installed();
        let a = runner.run(&CommandSpec::new("p", ["1"])).await.unwrap();
        assert_eq!(a.code, Some(2));
        assert!(runner.run(&CommandSpec::new("p", ["2"])).await.is_err());
        assert!(
            runner
                .run(&CommandSpec::new("p", ["3"]))
                .await
                .unwrap()
                .success()
        );
        assert_eq!(runner.commands(), ["p 1", "p 2", "p 3"]);
    }
}
