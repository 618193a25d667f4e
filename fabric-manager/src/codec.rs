//! The binary encoding of raft log entries and member-to-member messages.
//!
//! postcard (compact, serde-driven) behind a one-byte format version, so a
//! future change of encoding is detected instead of misread. Both ends of
//! every use are the same build of fabric-manager; nothing outside PAN reads
//! these bytes. Snapshots and small metadata stay JSON (see `store`).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Version byte in front of every encoded value.
pub const FORMAT_VERSION: u8 = 1;

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty buffer: no format version byte")]
    Empty,
    #[error(
        "format version {found} is not the supported {FORMAT_VERSION}; are all members the same PAN version?"
    )]
    Version { found: u8 },
    #[error("malformed payload")]
    Malformed(#[from] postcard::Error),
}

/// Encodes a value.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT_VERSION];
    postcard::to_io(value, &mut out)?;
    Ok(out)
}

/// Decodes a value, checking the version byte and that nothing trails it.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::Version { found: version });
    }
    let (value, trailing) = postcard::take_from_bytes(rest)?;
    if !trailing.is_empty() {
        return Err(CodecError::Malformed(
            postcard::Error::DeserializeBadEncoding,
        ));
    }
    Ok(value)
}

/// Decodes a value from the front of the bytes, ignoring what follows (for
/// reading a record's leading fields only).
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(CodecError::Version { found: version });
    }
    Ok(postcard::take_from_bytes(rest)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft_types::TypeConfig;
    use crate::state::{Command, Envelope};
    use openraft::{Entry, EntryPayload, LogId};
    use std::sync::Arc;

    #[test]
    fn entries_round_trip() {
        let entry: Entry<TypeConfig> = Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(3, 1), 42),
            payload: EntryPayload::Normal(Arc::new(vec![Envelope {
                principal: "ops".into(),
                at_ms: 7,
                command: Command::CreatePartition {
                    name: "acme".into(),
                    description: String::new(),
                    network_ids: None,
                }
                .into(),
            }])),
        };
        let bytes = encode(&entry).unwrap();
        let back: Entry<TypeConfig> = decode(&bytes).unwrap();
        assert_eq!(back.log_id, entry.log_id);
        assert_eq!(
            format!("{:?}", back.payload),
            format!("{:?}", entry.payload)
        );
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(decode::<u64>(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            decode::<u64>(&[9, 1]),
            Err(CodecError::Version { found: 9 })
        ));
        assert!(decode::<Entry<TypeConfig>>(&[FORMAT_VERSION, 0xff, 0xff]).is_err());
        assert!(
            decode::<u8>(&[FORMAT_VERSION, 1, 2]).is_err(),
            "trailing bytes"
        );
    }
}
