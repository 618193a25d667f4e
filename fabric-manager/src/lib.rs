//! PAN's fabric manager: a replicated (openraft) control plane for a
//! Processing Area Network.
//!
//! Code map:
//! - [`state`]: the pure, deterministic state machine (no I/O).
//! - [`raft_types`]: the openraft type configuration.
//! - [`store`]: the durable redb store for log, vote, committed index and snapshots.
//! - [`codec`]: the binary encoding of log entries and internal RPCs.
//! - [`network`]: member-to-member raft transport over gRPC.
//! - [`cluster_key`]: the secret every member-to-member call carries.
//! - [`node`]: a running member: raft, the batching write path, forwarding
//!   to the leader, linearizable reads, membership changes.
//! - [`service`]: the public `Fabric` gRPC API and the internal `Raft` service.
//! - [`controller`]: leader-only: BMC poller, server start/stop executors, agent routing.
//! - [`agent`]: the blade-agent stream and registry (heartbeats, desired identity).
//! - [`bmc`]: the `Bmc` hardware seam and its Redfish client.
//! - [`fabric`]: the internal-network seam: `Fabric` trait, Linux bridges in network
//!   namespaces (`LinuxFabric`) and an in-memory `SimFabric` (not yet wired in).
//! - [`error`]: the crate's error types and their gRPC status codes.
//!
//! The state machine never touches hardware; I/O lives in the store, the
//! network and the servers around it.

pub mod agent;
pub mod bmc;
pub mod cluster_key;
pub mod codec;
pub mod controller;
pub mod error;
pub mod fabric;
pub mod network;
pub mod node;
pub mod raft_types;
pub mod secret_file;
pub mod service;
pub mod state;
pub mod store;

pub use error::{Error, WriteError};
pub use node::{Node, NodeConfig};
