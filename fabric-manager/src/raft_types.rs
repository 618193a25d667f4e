//! The openraft type configuration of the fabric manager.
//!
//! One log entry carries a batch of command envelopes (group commit: the
//! proposer packs concurrent writes into one entry) and yields one result
//! per envelope, in order.

use crate::state::{CommandResult, Envelope};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::sync::{Arc, OnceLock};

/// A log entry's application data: commands applied in order. Shared, so
/// that cached and replicated copies of an entry do not copy the commands.
pub type Request = Arc<Batch>;

/// The commands of one log entry, and their encoding, made once per member
/// (two first uses at the same moment may both encode; one result is kept).
///
/// The leader writes an entry to its own log and sends it to every
/// follower; each follower writes what it received to its log. Serialized,
/// a batch is its commands' postcard bytes as one byte string, kept beside
/// the commands the first time they are needed: the leader encodes the
/// commands once for its log and both followers (three times before), and
/// a follower stores the bytes it received without encoding them again.
pub struct Batch {
    envelopes: Vec<Envelope>,
    encoded: OnceLock<Vec<u8>>,
}

impl Batch {
    pub fn new(envelopes: Vec<Envelope>) -> Self {
        Self {
            envelopes,
            encoded: OnceLock::new(),
        }
    }

    /// Whether the commands' bytes are at hand (received, or encoded once).
    pub fn is_encoded(&self) -> bool {
        self.encoded.get().is_some()
    }

    /// The commands' bytes, encoding them the first time.
    pub(crate) fn encoded(&self) -> Result<&[u8], postcard::Error> {
        if let Some(bytes) = self.encoded.get() {
            return Ok(bytes);
        }
        let bytes = postcard::to_allocvec(&self.envelopes)?;
        Ok(self.encoded.get_or_init(|| bytes))
    }

    /// Decodes commands from their bytes, keeping the bytes.
    fn from_encoded(bytes: Vec<u8>) -> Result<Self, postcard::Error> {
        let (envelopes, rest): (Vec<Envelope>, _) = postcard::take_from_bytes(&bytes)?;
        if !rest.is_empty() {
            return Err(postcard::Error::DeserializeBadEncoding);
        }
        Ok(Self {
            envelopes,
            encoded: OnceLock::from(bytes),
        })
    }
}

impl From<Vec<Envelope>> for Batch {
    fn from(envelopes: Vec<Envelope>) -> Self {
        Self::new(envelopes)
    }
}

impl FromIterator<Envelope> for Batch {
    fn from_iter<I: IntoIterator<Item = Envelope>>(iter: I) -> Self {
        Self::new(iter.into_iter().collect())
    }
}

impl std::ops::Deref for Batch {
    type Target = [Envelope];

    fn deref(&self) -> &[Envelope] {
        &self.envelopes
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.envelopes.fmt(f)
    }
}

/// Equal when the commands are (whether encoded yet or not).
impl PartialEq for Batch {
    fn eq(&self, other: &Self) -> bool {
        self.envelopes == other.envelopes
    }
}

impl Eq for Batch {}

impl Serialize for Batch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self
            .encoded()
            .map_err(|e| ser::Error::custom(format!("encoding a batch of commands: {e}")))?;
        serializer.serialize_bytes(bytes)
    }
}

impl<'de> Deserialize<'de> for Batch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a batch of commands as bytes")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            // Self-describing formats (JSON) write bytes as a sequence.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        let bytes = deserializer.deserialize_bytes(Bytes)?;
        Batch::from_encoded(bytes)
            .map_err(|e| de::Error::custom(format!("a batch of commands is malformed: {e}")))
    }
}
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

/// Log entries as format version 1 wrote them (before [`Batch`]): the
/// commands inline. Read only, so that a member's existing log still loads.
pub mod v1 {
    use super::{Batch, TypeConfig};
    use crate::state::Envelope;
    use openraft::{Entry, EntryPayload};
    use std::io::Cursor;
    use std::sync::Arc;

    openraft::declare_raft_types!(
        /// The type configuration of format version 1's log entries.
        pub TypeConfigV1:
            D = Arc<Vec<Envelope>>,
            R = super::Response,
            NodeId = u64,
            Node = openraft::BasicNode,
            Entry = openraft::Entry<TypeConfigV1>,
            SnapshotData = Cursor<Vec<u8>>,
            AsyncRuntime = openraft::TokioRuntime,
    );

    /// The entry as this version keeps it (its commands to be encoded again
    /// if it is ever sent).
    pub fn upgrade(entry: Entry<TypeConfigV1>) -> Entry<TypeConfig> {
        let payload = match entry.payload {
            EntryPayload::Blank => EntryPayload::Blank,
            EntryPayload::Normal(commands) => {
                EntryPayload::Normal(Arc::new(Batch::new(Arc::unwrap_or_clone(commands))))
            }
            EntryPayload::Membership(m) => EntryPayload::Membership(m),
        };
        Entry {
            log_id: entry.log_id,
            payload,
        }
    }
}
