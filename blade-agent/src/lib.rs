//! The blade agent: the process that runs on every blade after it boots.
//!
//! It holds a gRPC stream (`pan.v1.Agent/Session`) to a fabric manager
//! member: it sends Hello (blade name, agent version, facts, the fencing
//! token it holds), heartbeats (default every 200 ms) and a report for every
//! desired state; the manager sends the desired identity (server, UUID, one
//! MAC per vNIC, host NQN, the volumes to attach, boot volume first) or an
//! explicit release, each with a fencing token `(term, generation)`. The
//! agent puts the MACs on the blade through a [`Host`] ([`LinuxHost`] on a
//! real blade, optionally inside a network namespace; [`RecordingHost`] in
//! hwsim and tests), then attaches the volumes over NVMe/TCP with the san
//! crate's [`san::nvme::NvmeHost`] ([`AgentConfig::nvme`]) as the
//! identity's host NQN, and reports the interfaces and attached volumes
//! ([`Applied`]). When the stream drops it reconnects to any listed member with
//! bounded, jittered exponential backoff, and its new Hello resyncs the
//! manager.
//!
//! **What the agent must never do:**
//! - **decide placement.** It applies what the manager sends and nothing
//!   else; it never picks, keeps or gives up an identity on its own.
//! - **apply a desired state older than one it has accepted.** Tokens are
//!   ordered by generation, then term; see [`staleness`] for the rule and
//!   why. A refused state is reported as stale, with the token it lost to.
//!
//! Code map:
//! - [`protocol`]: tokens, MACs, identities, facts, reports; wire conversions.
//! - [`staleness`]: the pure rule that decides apply / refuse / acknowledge.
//! - [`backoff`]: the pure reconnect delay.
//! - [`host`]: the [`Host`] seam with [`LinuxHost`] and [`RecordingHost`].
//! - `agent`, `session`, `applier`: the connect loop, one stream, and the
//!   task that changes the host (public API: [`Agent`], [`AgentConfig`],
//!   [`AgentHandle`], [`LinkControl`], [`AgentStatus`]).
//! - [`error`]: [`AgentError`] and [`SessionError`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), blade_agent::AgentError> {
//! use blade_agent::{Agent, AgentConfig, RecordingHost, HostFacts};
//! use std::sync::Arc;
//! let host = Arc::new(RecordingHost::new(HostFacts::default()));
//! let config = AgentConfig::new("blade-1", vec!["127.0.0.1:7001".into()]);
//! let agent = Agent::new(config, host)?.spawn();
//! agent.link().cut(); // hwsim: the blade stays powered, its link is down
//! agent.link().restore();
//! drop(agent); // stops it
//! # Ok(()) }
//! ```

mod agent;
mod applier;
pub mod backoff;
pub mod credential;
pub mod error;
pub mod host;
pub mod protocol;
mod session;
pub mod staleness;

pub use agent::{Agent, AgentConfig, AgentHandle, AgentStatus, LinkControl};
pub use backoff::Backoff;
pub use credential::{AgentKey, AgentToken};
pub use error::{AgentError, SessionError};
pub use host::{Host, HostError, HostEvent, HostHook, LinuxHost, RecordingHost, VolumeError};
pub use protocol::{
    Applied, AttachedVolume, DesiredIdentity, Failure, FailureKind, FencingToken, Hello, HostFacts,
    InterfaceFacts, Mac, ProtocolError, Report, ServerIdentity, VolumeAttachment,
};
