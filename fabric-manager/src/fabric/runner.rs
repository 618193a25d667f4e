//! Running `ip` behind a seam: the shared [`san::runner`] types.
//!
//! The Linux fabric builds [`CommandSpec`] values and hands them to a
//! [`CommandRunner`]: [`ProcessRunner`] runs them as child processes (no
//! shell, stdin closed, a timeout, killed when abandoned); unit tests use a
//! scripted runner that checks exact argument vectors. The fabric maps a
//! [`RunError`] to its own [`super::FabricError`] (`linux.rs`). Nothing here
//! may interpret a command's output or decide anything about the fabric.

use std::time::Duration;

pub use san::runner::{CommandOutput, CommandRunner, CommandSpec, ProcessRunner, RunError};

/// How long one `ip` command may run unless the fabric is given another
/// runner.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The runner for `ip`: child processes with [`DEFAULT_TIMEOUT`].
pub fn process_runner() -> ProcessRunner {
    ProcessRunner {
        timeout: DEFAULT_TIMEOUT,
        ..ProcessRunner::default()
    }
}
