//! The manager's side of the blade-agent stream (`pan.v1.Agent`).
//!
//! - [`registry`]: [`AgentRegistry`], per manager process and in memory:
//!   which agents hold a stream here, their last heartbeat, facts, applied
//!   token and report (interfaces, attached volumes) and last failure; [`AgentRegistry::push_desired`] and
//!   [`AgentRegistry::wait_applied`] for the controller.
//! - [`service`]: the tonic service that feeds the registry.
//! - [`liveness`]: the pure heartbeat-age judgement for failure detection.
//! - [`error`]: the [`AgentError`] type.
//!
//! The protocol values (fencing tokens, desired identities, reports) and the
//! agent's staleness rule live in the `blade_agent` crate, so both ends
//! share one definition.
//!
//! **Must never:** write heartbeats (or anything else) to the raft log,
//! decide placement, or judge a blade failed. Heartbeats only update this
//! process's memory; the leader's controller reads them and decides.

pub mod error;
pub mod liveness;
pub mod registry;
pub mod service;

#[cfg(test)]
mod tests;

pub use error::AgentError;
pub use liveness::{Liveness, liveness};
pub use registry::{Admission, AgentFailure, AgentRegistry, AgentView, AppliedReport};
pub use service::{AgentService, server};
