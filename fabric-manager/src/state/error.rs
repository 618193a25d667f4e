//! Why the state machine refused a command.
//!
//! These errors are part of the replicated log's results, so they are plain
//! data (serde) and every replica produces the same one for the same command.
//! Messages name the object and say what the operator can do about it.

use serde::{Deserialize, Serialize};

/// A command the state machine refused. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum StateError {
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        kind: String,
        name: String,
        reason: String,
    },

    #[error("invalid {field} for {object}: {reason}")]
    InvalidArgument {
        object: String,
        field: String,
        reason: String,
    },

    #[error("{object} already exists; pick another name or delete the existing one first")]
    AlreadyExists { object: String },

    #[error("{object} not found; list them with `panctl {list_hint}`")]
    NotFound { object: String, list_hint: String },

    #[error("{object} is in use by {users}; {remedy}")]
    InUse {
        object: String,
        users: String,
        remedy: String,
    },

    #[error(
        "identity pool '{pool}' has {free} free MAC(s) in {first}-{last} but {needed} are needed; \
         create another identity pool (`panctl identity-pool create NAME --macs FIRST-LAST`) \
         and pass `--identity-pool NAME`, or delete unused servers"
    )]
    IdentityPoolExhausted {
        pool: String,
        first: String,
        last: String,
        free: u64,
        needed: u64,
    },

    #[error(
        "MAC range {first}-{last} overlaps identity pool '{other}' ({other_first}-{other_last}); choose a disjoint range"
    )]
    MacRangeOverlap {
        first: String,
        last: String,
        other: String,
        other_first: String,
        other_last: String,
    },

    /// The API refused the request before it reached the state (recorded
    /// for the audit log only).
    #[error("denied: {reason}")]
    Denied { reason: String },

    /// A pool of ids (network ids, ...) has none left; the detail says which
    /// and how to grow it.
    #[error("{detail}")]
    Exhausted { detail: String },

    #[error("{identity} is already held by {holder}; identities are never duplicated")]
    DuplicateIdentity { identity: String, holder: String },

    #[error(
        "no blade can run {server}: {detail}; add or repair blades (`panctl blade add`), or relax the server's requirements"
    )]
    NoQualifyingBlade { server: String, detail: String },

    #[error("{object} is {state}; {remedy}")]
    InvalidTransition {
        object: String,
        state: String,
        remedy: String,
    },

    #[error("blade '{blade}' does not qualify for pool '{pool}': {reason}")]
    Unqualified {
        blade: String,
        pool: String,
        reason: String,
    },
}
