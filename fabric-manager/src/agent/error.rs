//! [`AgentError`]: why a desired state could not be pushed to a blade's
//! agent, or was not applied.

use blade_agent::{FailureKind, FencingToken};
use std::time::Duration;

/// Why a push or a wait on a blade's agent did not succeed. Each variant
/// names the blade.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error(
        "the agent of blade {blade} is not connected to this manager; it cannot take a desired \
         state until it reconnects (check the blade's power and network)"
    )]
    NotConnected { blade: String },

    #[error("the agent stream of blade {blade} is not draining; the desired state was not sent")]
    Stalled { blade: String },

    /// The agent answered with a failure for the awaited generation.
    #[error("the agent of blade {blade} did not apply generation {generation} ({kind}): {reason}")]
    NotApplied {
        blade: String,
        generation: u64,
        kind: FailureKind,
        reason: String,
        /// For a stale refusal: the newest token the agent had accepted.
        current: Option<FencingToken>,
    },

    #[error(
        "blade {blade} applied {applied}, which supersedes the awaited generation {generation}"
    )]
    Superseded {
        blade: String,
        generation: u64,
        applied: FencingToken,
    },

    #[error(
        "blade {blade} did not report generation {generation} within {timeout:?} (its agent is {})",
        if *.connected { "connected" } else { "not connected" }
    )]
    Timeout {
        blade: String,
        generation: u64,
        timeout: Duration,
        connected: bool,
        /// What the agent last reported as applied.
        applied: Option<FencingToken>,
    },
}
