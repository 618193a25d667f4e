//! The agent's error types: [`AgentError`] (cannot start) and
//! [`SessionError`] (why one stream to a manager ended; the agent logs it,
//! shows it in [`crate::AgentStatus::last_error`] and reconnects).

use crate::host::HostError;
use std::time::Duration;

/// Why an agent cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid agent configuration: {reason}")]
    Config { reason: String },
}

/// Why one stream to a manager ended or could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("cannot gather the blade's facts for Hello")]
    Facts {
        #[source]
        source: HostError,
    },

    #[error("{addr} is not a valid manager address (expected HOST:PORT)")]
    BadAddress {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },

    #[error("cannot connect to manager {addr}")]
    Connect {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },

    #[error("manager {addr} did not answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },

    #[error("manager {addr} refused the agent stream")]
    Refused {
        addr: String,
        #[source]
        status: tonic::Status,
    },

    #[error("manager {addr} closed the agent stream")]
    Closed { addr: String },

    #[error("the agent stream to manager {addr} broke")]
    Broken {
        addr: String,
        #[source]
        status: tonic::Status,
    },

    #[error("manager {addr} is not reading the agent stream (outbound queue full)")]
    Stalled { addr: String },

    #[error("manager {addr} redirected this agent to {leader}")]
    Redirected { addr: String, leader: String },
}

/// An error and its sources, joined with ": ", for logs and reports.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}
