//! The openraft type configuration of the fabric manager.
//!
//! One log entry carries a batch of command envelopes (group commit: the
//! proposer packs concurrent writes into one entry) and yields one result
//! per envelope, in order.

use crate::state::{CommandResult, Envelope};
use std::io::Cursor;
use std::sync::Arc;

/// A log entry's application data: commands applied in order. Shared, so
/// that cached and replicated copies of an entry do not copy the commands.
pub type Request = Arc<Vec<Envelope>>;
/// A log entry's results: one per command of the [`Request`] on the member
/// that proposed the entry, where its callers wait; empty on the others,
/// which do not build results no one reads.
pub type Response = Vec<CommandResult>;

openraft::declare_raft_types!(
    /// PAN's raft types.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The raft handle type.
pub type Raft = openraft::Raft<TypeConfig>;
/// Node id of a manager.
pub type NodeId = u64;
