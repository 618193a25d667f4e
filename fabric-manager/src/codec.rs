//! The binary encoding of raft log entries and member-to-member messages.
//!
//! postcard (compact, serde-driven) behind a one-byte format version, so a
//! change of encoding is detected instead of misread. postcard's layout is
//! positional: any change to an encoded type (a field added, an enum
//! variant moved) must bump [`FORMAT_VERSION`] and keep a reader for the
//! old log entries, as version 1's are kept. Both ends of every message are
//! the same version of fabric-manager (another version's message is
//! refused with a message saying so). Nothing outside PAN reads these bytes.
//! Snapshots and small metadata stay JSON (see `store`).

use crate::raft_types::{self, TypeConfig};
use openraft::Entry;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Version byte in front of every encoded value. Version 2 writes a log
/// entry's commands as one byte string (`raft_types::Batch`); logs written
/// by version 1 are still read ([`decode_entry`]).
pub const FORMAT_VERSION: u8 = 2;

/// The version whose log entries carried their commands inline.
pub const ENTRY_FORMAT_V1: u8 = 1;

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty buffer: no format version byte")]
    Empty,
    #[error(
        "format version {found} is not this version's {FORMAT_VERSION}: written by another PAN \
         version (all members must run the same one, and a log is readable only by the \
         version that wrote it or a newer one)"
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

/// Decodes a log entry this version or version 1 wrote.
pub fn decode_entry(bytes: &[u8]) -> Result<Entry<TypeConfig>, CodecError> {
    match bytes.split_first() {
        Some((&ENTRY_FORMAT_V1, rest)) => {
            let (entry, trailing) =
                postcard::take_from_bytes::<Entry<raft_types::v1::TypeConfigV1>>(rest)?;
            if !trailing.is_empty() {
                return Err(CodecError::Malformed(
                    postcard::Error::DeserializeBadEncoding,
                ));
            }
            Ok(raft_types::v1::upgrade(entry))
        }
        _ => decode(bytes),
    }
}

/// Decodes a value from the front of the bytes, ignoring what follows (for
/// reading a log entry's leading fields only: the same in versions 1 and 2).
pub fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != FORMAT_VERSION && version != ENTRY_FORMAT_V1 {
        return Err(CodecError::Version { found: version });
    }
    Ok(postcard::take_from_bytes(rest)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft_types::{Batch, TypeConfig};
    use crate::state::{Command, Envelope};
    use openraft::{Entry, EntryPayload, LogId};
    use std::sync::Arc;

    fn commands() -> Vec<Envelope> {
        ["acme", "globex"]
            .into_iter()
            .map(|name| Envelope {
                principal: "ops".into(),
                at_ms: 7,
                command: Command::CreatePartition {
                    name: name.into(),
                    description: String::new(),
                    network_ids: None,
                }
                .into(),
            })
            .collect()
    }

    fn entry(commands: Vec<Envelope>) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(3, 1), 42),
            payload: EntryPayload::Normal(Arc::new(Batch::new(commands))),
        }
    }

    fn batch(entry: &Entry<TypeConfig>) -> &Batch {
        match &entry.payload {
            EntryPayload::Normal(batch) => batch,
            other => panic!("not a normal entry: {other:?}"),
        }
    }

    #[test]
    fn entries_round_trip() {
        let entry = entry(commands());
        let bytes = encode(&entry).unwrap();
        let back: Entry<TypeConfig> = decode(&bytes).unwrap();
        assert_eq!(back.log_id, entry.log_id);
        assert_eq!(batch(&back), batch(&entry));
        assert_eq!(decode_entry(&bytes).unwrap().log_id, entry.log_id);
    }

    #[test]
    fn a_batch_is_encoded_once_and_a_received_one_is_never_encoded_again() {
        let entry = entry(commands());
        let first = encode(&entry).unwrap();
        // The second encoding (the second follower's, say) reuses the bytes.
        let kept = batch(&entry).encoded().unwrap().as_ptr();
        assert_eq!(encode(&entry).unwrap(), first);
        assert_eq!(batch(&entry).encoded().unwrap().as_ptr(), kept);
        // A decoded batch holds the bytes it came in, so a follower writes
        // its log without encoding: the same bytes, byte for byte.
        let received: Entry<TypeConfig> = decode(&first).unwrap();
        assert!(batch(&received).is_encoded());
        assert_eq!(encode(&received).unwrap(), first);
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn log_entries_that_the_last_version_1_build_wrote_load_as_written() {
        // Bytes from `codec::encode` at commit dbd7ae6 (format version 1):
        // a membership entry, a batch of two commands, a blank entry.
        let lid = |i| LogId::new(openraft::CommittedLeaderId::new(3, 1), i);
        let membership =
            decode_entry(&unhex("010301010201010101010e3132372e302e302e313a37303031")).unwrap();
        assert_eq!(membership.log_id, lid(1));
        let EntryPayload::Membership(m) = &membership.payload else {
            panic!("{membership:?}")
        };
        assert_eq!(m.voter_ids().collect::<Vec<_>>(), [1]);
        assert_eq!(
            m.get_node(&1).map(|n| n.addr.as_str()),
            Some("127.0.0.1:7001")
        );

        let normal = decode_entry(&unhex(
            "0103010201020561646d696e80d095ffbc31000461636d650674656e616e74000561646d696e81d0\
             95ffbc3108057765622d310461636d6502000000000000000500010109302032202a202a202a",
        ))
        .unwrap();
        assert_eq!(normal.log_id, lid(2));
        let expected = [
            Envelope {
                principal: "admin".into(),
                at_ms: 1_700_000_000_000,
                command: Command::CreatePartition {
                    name: "acme".into(),
                    description: "tenant".into(),
                    network_ids: None,
                }
                .into(),
            },
            Envelope {
                principal: "admin".into(),
                at_ms: 1_700_000_000_001,
                command: Command::CreateServer {
                    name: "web-1".into(),
                    partition: "acme".into(),
                    nics: 2,
                    identity_pool: None,
                    boot_volume: None,
                    requirements: Default::default(),
                    networks: vec![],
                    volumes: vec![],
                    priority: 5,
                    failover_pool: None,
                    preempt: true,
                    failback_window: Some("0 2 * * *".into()),
                }
                .into(),
            },
        ];
        assert_eq!(&**batch(&normal), &expected[..]);

        let blank = decode_entry(&unhex("0103010300")).unwrap();
        assert_eq!(blank.log_id, lid(3));
        assert!(matches!(blank.payload, EntryPayload::Blank));
    }

    #[test]
    fn a_log_entry_written_by_format_version_1_still_loads() {
        // Version 1 wrote the commands inline: exactly this type, behind
        // version byte 1.
        let v1: Entry<crate::raft_types::v1::TypeConfigV1> = Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(3, 1), 42),
            payload: EntryPayload::Normal(Arc::new(commands())),
        };
        let mut bytes = vec![ENTRY_FORMAT_V1];
        postcard::to_io(&v1, &mut bytes).unwrap();
        let loaded = decode_entry(&bytes).unwrap();
        assert_eq!(loaded.log_id, v1.log_id);
        assert_eq!(&**batch(&loaded), &commands()[..]);
        // Its leading log id reads the same way as a version 2 entry's.
        #[derive(serde::Deserialize)]
        struct Prefix {
            log_id: LogId<u64>,
        }
        assert_eq!(decode_prefix::<Prefix>(&bytes).unwrap().log_id, v1.log_id);
        // A member never accepts version 1 bytes as a message.
        assert!(matches!(
            decode::<Entry<TypeConfig>>(&bytes),
            Err(CodecError::Version { found: 1 })
        ));
        // Cut short, it is an error, not a panic.
        assert!(decode_entry(&bytes[..bytes.len() - 3]).is_err());
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
