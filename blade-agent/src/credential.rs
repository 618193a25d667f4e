//! Agent credentials: what lets an agent speak for one blade, and only that
//! one.
//!
//! The fabric's **agent key** is derived from its cluster key by the
//! managers (each member keeps a copy in `agent.key` in its data directory)
//! and handed to whatever provisions blades (an image builder, a boot
//! server; `hwsim --agent-key-file` in simulation). From it, each blade's
//! **agent token** is an HMAC-SHA256 of the blade's name. A blade is given
//! only its own token (`blade-agent --token-file`; mint one with
//! `blade-agent token`), so a blade's OS cannot speak for another blade, and
//! nothing without a token can open an agent stream, receive an identity
//! or feed the failure detector heartbeats.
//!
//! The agent sends its token in the [`TOKEN_HEADER`] metadata of the
//! stream; the manager checks it against the blade the Hello names.

use hmac::{Hmac, Mac as _};
use partitions::hex;
use sha2::Sha256;
use std::fmt;
use std::path::{Path, PathBuf};

/// Metadata carrying an agent's token.
pub const TOKEN_HEADER: &str = "x-pan-agent-token";
/// Every agent key's text starts with this.
const KEY_PREFIX: &str = "panak_";
/// Every agent token's text starts with this.
const TOKEN_PREFIX: &str = "pana_";
/// Bytes in a key and in a token.
const LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The fabric's agent key. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentKey([u8; LEN]);

/// One blade's agent token. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct AgentToken(String);

/// Why a key or token text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is malformed ({reason}); copy it again from where it was issued")]
pub struct MalformedCredential {
    /// "agent key" or "agent token".
    pub what: &'static str,
    pub reason: &'static str,
}

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgentKey(…)")
    }
}

impl fmt::Debug for AgentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AgentToken(…)")
    }
}

/// Decodes the 32-byte hex part of a key or token.
fn unhex(what: &'static str, text: &str) -> Result<[u8; LEN], MalformedCredential> {
    let bad = |reason| MalformedCredential { what, reason };
    if text.len() != 2 * LEN {
        return Err(bad("it has the wrong length"));
    }
    let mut out = [0u8; LEN];
    if !partitions::unhex(text, &mut out) {
        return Err(bad("it has characters that are not lowercase hex"));
    }
    Ok(out)
}

/// Why a credential file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialFileError {
    // The causes are in the messages (not `source`s), so a chain prints
    // each once.
    #[error("cannot read {}: {error}; check the path and that this user may read it", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {error}", path.display())]
    Malformed {
        path: PathBuf,
        error: MalformedCredential,
    },
}

fn read_file<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, MalformedCredential>,
) -> Result<T, CredentialFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| CredentialFileError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    parse(&text).map_err(|error| CredentialFileError::Malformed {
        path: path.to_path_buf(),
        error,
    })
}

fn mac(key: &[u8], message: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac
}

impl AgentKey {
    /// The agent key of the fabric whose cluster secret is `cluster_secret`
    /// (managers derive it; nothing else needs the cluster secret).
    pub fn derive(cluster_secret: &[u8]) -> AgentKey {
        AgentKey(
            mac(cluster_secret, b"pan agent key v1")
                .finalize()
                .into_bytes()
                .into(),
        )
    }

    /// Reads a key from its text (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<AgentKey, MalformedCredential> {
        let hex = text
            .trim()
            .strip_prefix(KEY_PREFIX)
            .ok_or(MalformedCredential {
                what: "agent key",
                reason: "it does not start with panak_",
            })?;
        unhex("agent key", hex).map(AgentKey)
    }

    /// Reads a key file (`agent.key`).
    pub fn from_file(path: &Path) -> Result<AgentKey, CredentialFileError> {
        read_file(path, AgentKey::parse)
    }

    /// The key's text, for its file.
    pub fn to_text(&self) -> String {
        format!("{KEY_PREFIX}{}", hex(&self.0))
    }

    fn tag(&self, blade: &str) -> HmacSha256 {
        let mut message = b"pan agent token v1\0".to_vec();
        message.extend_from_slice(blade.as_bytes());
        mac(&self.0, &message)
    }

    /// The token of the blade named `blade`.
    pub fn token_for(&self, blade: &str) -> AgentToken {
        AgentToken(format!(
            "{TOKEN_PREFIX}{}",
            hex(&self.tag(blade).finalize().into_bytes())
        ))
    }

    /// Whether `presented` is the token of `blade` (constant time).
    pub fn verifies(&self, blade: &str, presented: &str) -> bool {
        let Some(hex) = presented.trim().strip_prefix(TOKEN_PREFIX) else {
            return false;
        };
        let Ok(bytes) = unhex("agent token", hex) else {
            return false;
        };
        self.tag(blade).verify_slice(&bytes).is_ok()
    }
}

impl AgentToken {
    /// Reads a token from its text (surrounding whitespace ignored).
    pub fn parse(text: &str) -> Result<AgentToken, MalformedCredential> {
        let text = text.trim();
        let hex = text.strip_prefix(TOKEN_PREFIX).ok_or(MalformedCredential {
            what: "agent token",
            reason: "it does not start with pana_",
        })?;
        unhex("agent token", hex)?;
        Ok(AgentToken(text.to_string()))
    }

    /// Reads a token file.
    pub fn from_file(path: &Path) -> Result<AgentToken, CredentialFileError> {
        read_file(path, AgentToken::parse)
    }

    /// The token's text, as sent and as written to a token file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_speaks_for_its_blade_only() {
        let key = AgentKey::derive(b"cluster secret");
        let token = key.token_for("blade-7");
        assert!(key.verifies("blade-7", token.expose()));
        assert!(!key.verifies("blade-8", token.expose()));
        assert!(!AgentKey::derive(b"another").verifies("blade-7", token.expose()));
        assert!(!key.verifies("blade-7", ""));
        assert!(!key.verifies("blade-7", "pana_zz"));
        // Deterministic: every member derives the same key and tokens.
        assert_eq!(
            AgentKey::derive(b"cluster secret").token_for("blade-7"),
            token
        );
    }

    #[test]
    fn keys_and_tokens_round_trip_and_never_show_in_debug() {
        let key = AgentKey::derive(b"s");
        assert_eq!(
            AgentKey::parse(&format!(" {}\n", key.to_text())).unwrap(),
            key
        );
        let token = key.token_for("b");
        assert_eq!(AgentToken::parse(token.expose()).unwrap(), token);
        let hexpart = &token.expose()[TOKEN_PREFIX.len()..];
        assert!(!format!("{token:?} {key:?}").contains(hexpart));
        assert!(!format!("{key:?}").contains(&key.to_text()[KEY_PREFIX.len()..]));
    }

    #[test]
    fn malformed_text_says_what_is_wrong() {
        let good = "ab".repeat(LEN);
        for (text, reason) in [
            (good.clone(), "panak_"),
            (format!("{KEY_PREFIX}{}", &good[1..]), "length"),
            (format!("{KEY_PREFIX}{}", good.to_uppercase()), "hex"),
        ] {
            let err = AgentKey::parse(&text).unwrap_err();
            assert!(err.to_string().contains(reason), "{text}: {err}");
        }
        let err = AgentToken::parse("pan_x").unwrap_err();
        assert!(err.to_string().contains("agent token"), "{err}");
    }
}
