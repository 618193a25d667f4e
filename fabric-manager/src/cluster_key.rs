//! The cluster key: the secret that makes a process a member.
//!
//! Every member holds the same key, in `cluster.key` (mode 0600) in its
//! data directory. The first member of a new cluster makes it; a member
//! that joins is given it (`--cluster-key-file`, the first member's
//! `cluster.key`) and keeps a copy. Every member-to-member call (raft
//! votes, entries and snapshots, forwarded writes, read-index requests,
//! joins) carries it in the [`HEADER`] metadata, and the `Raft` service
//! refuses a call without it, so nobody who can merely reach a member's
//! port can forge log entries, forward commands under another principal's
//! name or add themselves to the cluster. With TLS the key travels
//! encrypted; without it, keep member traffic on a trusted network.

use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq as _;
use tonic::metadata::{Ascii, MetadataValue};

/// Metadata carrying the key on member-to-member calls.
pub const HEADER: &str = "x-pan-cluster-key";
/// The key's file in a data directory.
pub const FILE: &str = "cluster.key";
/// The agent key's file in a data directory: what the provisioning system
/// is given to mint blades' agent tokens (never the cluster key itself).
pub const AGENT_KEY_FILE: &str = "agent.key";
/// Every key's text starts with this.
const PREFIX: &str = "pank_";
/// Random bytes in a key.
const KEY_BYTES: usize = 32;

/// The cluster key. Its `Debug` does not show it.
#[derive(Clone)]
pub struct ClusterKey {
    text: String,
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(…)")
    }
}

/// What [`ClusterKey::load`] may do besides reading the kept key.
#[derive(Clone, Copy, Debug)]
pub struct KeyRules {
    /// Make a new key when none is kept or given (a member that does not
    /// join: the first of a new cluster).
    pub may_create: bool,
    /// Replace the kept key with a different given one (a member with no
    /// raft history yet: a joiner that was given a wrong key and never got
    /// in).
    pub may_replace: bool,
}

/// A loaded key, and whether it was just made.
#[derive(Debug)]
pub struct Loaded {
    pub key: ClusterKey,
    pub created: bool,
}

/// Why a cluster key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "joining a cluster needs its key: pass --cluster-key-file with a copy of the file \
         {FILE} from the data directory of a member of that cluster"
    )]
    Missing,
    #[error(
        "{path} does not hold a cluster key ({reason}); copy {FILE} again from a member's \
         data directory"
    )]
    Malformed { path: PathBuf, reason: &'static str },
    #[error(
        "{data_dir} belongs to a cluster with another key than {given}; use that cluster's key \
         or an empty data directory"
    )]
    Mismatch { data_dir: PathBuf, given: PathBuf },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ClusterKey {
    /// A fresh random key.
    pub fn generate() -> ClusterKey {
        let mut bytes = [0u8; KEY_BYTES];
        rand::fill(&mut bytes);
        ClusterKey {
            text: format!("{PREFIX}{}", partitions::hex(&bytes)),
        }
    }

    /// Reads a key from its text (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<ClusterKey, &'static str> {
        let text = text.trim();
        let hex = text
            .strip_prefix(PREFIX)
            .ok_or("it does not start with pank_")?;
        if hex.len() != 2 * KEY_BYTES {
            return Err("it has the wrong length");
        }
        if !partitions::unhex(hex, &mut [0u8; KEY_BYTES]) {
            return Err("it has characters that are not lowercase hex");
        }
        Ok(ClusterKey {
            text: text.to_string(),
        })
    }

    /// The fabric's agent key (see [`blade_agent::credential`]): derived
    /// from this key, the same on every member.
    pub fn agent_key(&self) -> blade_agent::AgentKey {
        blade_agent::AgentKey::derive(self.text.as_bytes())
    }

    /// Whether `presented` is this key, compared in constant time.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.text.as_bytes().ct_eq(presented).into()
    }

    /// The metadata value sent with member-to-member calls.
    pub fn header_value(&self) -> MetadataValue<Ascii> {
        self.text
            .parse()
            .expect("a parsed key is lowercase hex with a prefix")
    }

    /// The key of the member whose data directory is `data_dir`: the one
    /// kept there (or the one in `given`, if it differs and `rules` allow
    /// replacing it); else the one in `given` (kept from now on); else, if
    /// `rules` allow, a new one.
    pub fn load(
        data_dir: &Path,
        given: Option<&Path>,
        rules: KeyRules,
    ) -> Result<Loaded, KeyError> {
        let kept_path = data_dir.join(FILE);
        let kept = match std::fs::read_to_string(&kept_path) {
            Ok(text) => Some(read(&kept_path, &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(KeyError::Io {
                    action: "read",
                    path: kept_path,
                    source,
                });
            }
        };
        let given_key = match given {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                })?;
                Some(read(path, &text)?)
            }
        };
        let kept_as_is = |key| Loaded {
            key,
            created: false,
        };
        let (key, created) = match (kept, given_key) {
            (Some(kept), Some(given_key)) if kept.matches(given_key.text.as_bytes()) => {
                return Ok(kept_as_is(kept));
            }
            (Some(_), Some(given_key)) if rules.may_replace => (given_key, false),
            (Some(_), Some(_)) => {
                return Err(KeyError::Mismatch {
                    data_dir: data_dir.to_path_buf(),
                    given: given.map(Path::to_path_buf).unwrap_or_default(),
                });
            }
            (Some(kept), None) => return Ok(kept_as_is(kept)),
            (None, Some(given_key)) => (given_key, false),
            (None, None) if rules.may_create => (ClusterKey::generate(), true),
            (None, None) => return Err(KeyError::Missing),
        };
        crate::secret_file::write(&kept_path, &key.text).map_err(|source| KeyError::Io {
            action: "write",
            path: kept_path,
            source,
        })?;
        Ok(Loaded { key, created })
    }

    /// Writes the agent key next to the cluster key, unless it is there.
    pub fn write_agent_key(&self, data_dir: &Path) -> Result<(), KeyError> {
        let path = data_dir.join(AGENT_KEY_FILE);
        let text = self.agent_key().to_text();
        if std::fs::read_to_string(&path).is_ok_and(|kept| kept.trim() == text) {
            return Ok(());
        }
        crate::secret_file::write(&path, &text).map_err(|source| KeyError::Io {
            action: "write",
            path,
            source,
        })
    }
}

fn read(path: &Path, text: &str) -> Result<ClusterKey, KeyError> {
    ClusterKey::parse(text).map_err(|reason| KeyError::Malformed {
        path: path.to_path_buf(),
        reason,
    })
}

/// Adds the key to every outgoing member-to-member call.
#[derive(Clone)]
pub struct AddKey(pub MetadataValue<Ascii>);

impl tonic::service::Interceptor for AddKey {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert(HEADER, self.0.clone());
        Ok(req)
    }
}

/// The `Raft` service's check, before the call reaches it: refuses a call
/// without the key.
pub fn check<B>(key: &ClusterKey, req: &mut http::Request<B>) -> Result<(), tonic::Status> {
    match req.headers().get(HEADER) {
        Some(presented) if key.matches(presented.as_bytes()) => Ok(()),
        Some(_) => Err(tonic::Status::unauthenticated(
            "the cluster key presented is not this cluster's; a member must be started with \
             --cluster-key-file holding a copy of a member's cluster.key",
        )),
        None => Err(tonic::Status::unauthenticated(
            "member-to-member calls need the cluster key; this port's internal service is for \
             members of the cluster only",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_matches_only_itself() {
        let key = ClusterKey::generate();
        let again = ClusterKey::parse(&format!("  {}\n", key.text)).expect("parses");
        assert!(key.matches(again.text.as_bytes()));
        assert!(!key.matches(ClusterKey::generate().text.as_bytes()));
        assert!(!key.matches(b""));
        assert!(!format!("{key:?}").contains(&key.text[PREFIX.len()..]));
    }

    #[test]
    fn malformed_keys_say_what_is_wrong() {
        let hex = "ab".repeat(KEY_BYTES);
        for (text, reason) in [
            (hex.clone(), "pank_"),
            (format!("{PREFIX}{}", &hex[2..]), "length"),
            (format!("{PREFIX}{}", hex.to_uppercase()), "hex"),
        ] {
            let err = ClusterKey::parse(&text).expect_err(&text);
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn the_first_member_makes_the_key_a_joiner_is_given_it_and_both_keep_it() {
        let first = tempfile::tempdir().expect("tempdir");
        let first_member = KeyRules {
            may_create: true,
            may_replace: false,
        };
        let joiner_rules = KeyRules {
            may_create: false,
            may_replace: false,
        };
        let loaded = ClusterKey::load(first.path(), None, first_member).expect("made");
        assert!(loaded.created);
        let key = loaded.key;
        let kept = first.path().join(FILE);
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&kept).expect("kept").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = ClusterKey::load(first.path(), None, first_member).expect("kept");
        assert!(!again.created);
        assert!(
            key.matches(again.key.text.as_bytes()),
            "a restart keeps the key"
        );

        let joiner = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            ClusterKey::load(joiner.path(), None, joiner_rules),
            Err(KeyError::Missing)
        ));
        let given = ClusterKey::load(joiner.path(), Some(&kept), joiner_rules).expect("given");
        assert!(key.matches(given.key.text.as_bytes()));
        let restarted = ClusterKey::load(joiner.path(), None, joiner_rules).expect("kept copy");
        assert!(key.matches(restarted.key.text.as_bytes()));

        // A member with history keeps its cluster's key against another.
        let other = tempfile::tempdir().expect("tempdir");
        ClusterKey::load(other.path(), None, first_member).expect("another cluster");
        let other_key = other.path().join(FILE);
        let err = ClusterKey::load(joiner.path(), Some(&other_key), joiner_rules)
            .expect_err("another cluster's key");
        assert!(matches!(err, KeyError::Mismatch { .. }), "{err}");
        // One that never got in may take the right key after a wrong one.
        let fresh = KeyRules {
            may_create: false,
            may_replace: true,
        };
        let replaced = ClusterKey::load(joiner.path(), Some(&other_key), fresh).expect("replaced");
        assert!(!key.matches(replaced.key.text.as_bytes()));
        let kept_now = ClusterKey::load(joiner.path(), None, joiner_rules).expect("kept");
        assert!(replaced.key.matches(kept_now.key.text.as_bytes()));

        let bad = joiner.path().join("bad.key");
        std::fs::write(&bad, "not a key").expect("write");
        let err = ClusterKey::load(other.path(), Some(&bad), joiner_rules).expect_err("malformed");
        assert!(err.to_string().contains("bad.key"), "{err}");
    }
}
