//! The fabric manager library's error type.

use crate::raft_types::NodeId;
use crate::state::StateError;

/// Why a write (or a leader-only read) did not complete. Cloneable, because
/// one failure answers every command of a batch.
///
/// `NoLeader`, `LeaderUnreachable` and `ShuttingDown` guarantee the commands
/// were not applied, so a client may retry them elsewhere; `OutcomeUnknown`
/// does not.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WriteError {
    #[error(
        "no leader is known right now (election in progress or quorum lost); retry in a moment, \
         and check `panctl cluster status` if it persists"
    )]
    NoLeader,

    #[error("cannot reach the leader (node {leader} at {addr}): {detail}; retry in a moment")]
    LeaderUnreachable {
        leader: NodeId,
        addr: String,
        detail: String,
    },

    #[error(
        "the request reached the leader (node {leader}) but its outcome is unknown ({detail}); \
         list the object before retrying"
    )]
    OutcomeUnknown { leader: NodeId, detail: String },

    #[error("raft failed on node {node}: {detail}")]
    Raft { node: NodeId, detail: String },

    #[error("fabric manager node {node} is shutting down; retry against another member")]
    ShuttingDown { node: NodeId },
}

/// What went wrong in the fabric manager, with the object it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state machine refused the command; nothing changed.
    #[error(transparent)]
    Refused(#[from] StateError),

    #[error("the durable store failed")]
    Store(#[from] crate::store::StoreError),

    /// A write could not be committed; see [`WriteError`].
    #[error(transparent)]
    Write(#[from] WriteError),

    #[error("membership change refused: {reason}")]
    Membership { reason: String },

    /// A membership change that can never succeed as asked: the id or the
    /// address already belongs to another member.
    #[error("membership change refused: {reason}")]
    MemberConflict { reason: String },

    /// The cluster refused to let this member join; retrying cannot help.
    #[error("the member at {via} refused to let this one join: {reason}")]
    JoinRefused { via: String, reason: String },

    /// The leader's answer to a request this member forwarded, as it was.
    #[error("{}", .0.message())]
    Leader(tonic::Status),

    #[error("invalid request: {reason}")]
    InvalidRequest { reason: String },

    /// The TLS certificate or key given to serve with is not usable.
    #[error("{reason}")]
    Tls { reason: String },

    /// This member has no usable cluster key.
    #[error(transparent)]
    ClusterKey(#[from] crate::cluster_key::KeyError),
}

impl From<Error> for tonic::Status {
    fn from(err: Error) -> Self {
        use crate::state::StateError as S;
        let message = err.to_string();
        match err {
            Error::Refused(e) => match e {
                S::InvalidName { .. } | S::InvalidArgument { .. } | S::MacRangeOverlap { .. } => {
                    tonic::Status::invalid_argument(message)
                }
                S::AlreadyExists { .. } => tonic::Status::already_exists(message),
                S::NotFound { .. } => tonic::Status::not_found(message),
                S::Exhausted { .. } => tonic::Status::resource_exhausted(message),
                S::Denied { .. } => tonic::Status::permission_denied(message),
                S::InUse { .. }
                | S::IdentityPoolExhausted { .. }
                | S::DuplicateIdentity { .. }
                | S::Unqualified { .. }
                | S::NoQualifyingBlade { .. }
                | S::InvalidTransition { .. } => tonic::Status::failed_precondition(message),
            },
            Error::InvalidRequest { .. } => tonic::Status::invalid_argument(message),
            Error::ClusterKey(_) | Error::Tls { .. } => tonic::Status::failed_precondition(message),
            Error::Membership { .. } => tonic::Status::failed_precondition(message),
            Error::MemberConflict { .. } => tonic::Status::already_exists(message),
            Error::JoinRefused { .. } => tonic::Status::failed_precondition(message),
            Error::Leader(status) => status,
            Error::Write(e) => match e {
                WriteError::NoLeader
                | WriteError::LeaderUnreachable { .. }
                | WriteError::ShuttingDown { .. } => tonic::Status::unavailable(message),
                WriteError::OutcomeUnknown { .. } => tonic::Status::unknown(message),
                WriteError::Raft { .. } => tonic::Status::internal(message),
            },
            Error::Store(ref e) => tonic::Status::internal(format!("{message}: {}", chain(e))),
        }
    }
}

/// An error and its sources, joined with ": ", for operator-facing lines.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
