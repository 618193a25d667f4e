//! Bearer tokens: issuing one from caller-provided randomness, its text
//! form, and the salted hash that is all PAN ever stores.
//!
//! A token reads `pan_<key id>_<secret>`: `pan_`, 16 lowercase hex digits of
//! key id (8 random bytes; not secret, it lets the server find the principal
//! without scanning and may appear in logs), `_`, and 64 lowercase hex digits
//! of secret (32 random bytes). The server keeps only
//! `SHA-256(salt || secret)` with a per-token 16-byte salt and compares
//! digests in constant time. The plaintext exists once, in the
//! [`BearerToken`] that [`issue`] returns, to be shown to its owner and
//! dropped.
//!
//! This module takes its randomness as an argument ([`TokenSeed`]) so it stays
//! pure and deterministic in tests; it must never read a random source, a
//! clock or any other I/O itself.

use crate::authn::AuthnError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Every token starts with this.
pub const TOKEN_PREFIX: &str = "pan_";
/// Random bytes of key id.
pub const KEY_ID_LEN: usize = 8;
/// Random bytes of salt.
pub const SALT_LEN: usize = 16;
/// Random bytes of secret.
pub const SECRET_LEN: usize = 32;
/// Random bytes a [`TokenSeed`] is made of.
pub const SEED_LEN: usize = KEY_ID_LEN + SALT_LEN + SECRET_LEN;
/// Length of a token's text: `pan_` + 16 hex + `_` + 64 hex.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 2 * KEY_ID_LEN + 1 + 2 * SECRET_LEN;

/// The public, non-secret part of a token: finds the principal it belongs to.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Fresh randomness for one token, from the caller's CSPRNG (the server uses
/// the OS generator; tests use fixed bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSeed {
    /// Becomes the token's [`KeyId`].
    pub key_id: [u8; KEY_ID_LEN],
    /// Salt of the stored digest.
    pub salt: [u8; SALT_LEN],
    /// The secret the bearer presents.
    pub secret: [u8; SECRET_LEN],
}

impl TokenSeed {
    /// Splits [`SEED_LEN`] random bytes into key id, salt and secret.
    pub fn from_random(bytes: [u8; SEED_LEN]) -> TokenSeed {
        let mut seed = TokenSeed {
            key_id: [0; KEY_ID_LEN],
            salt: [0; SALT_LEN],
            secret: [0; SECRET_LEN],
        };
        let (key_id, rest) = bytes.split_at(KEY_ID_LEN);
        let (salt, secret) = rest.split_at(SALT_LEN);
        seed.key_id.copy_from_slice(key_id);
        seed.salt.copy_from_slice(salt);
        seed.secret.copy_from_slice(secret);
        seed
    }
}

impl fmt::Debug for TokenSeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSeed(<redacted>)")
    }
}

/// A seed that cannot have come from a working random generator.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the token's {part} is one byte repeated, so the random source is broken; \
     no token was issued — check the server's random number generator"
)]
pub struct WeakSeed {
    /// "key id", "salt" or "secret".
    pub part: &'static str,
}

/// What the server stores for a token: never the secret itself.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHash {
    /// The token's public key id.
    pub key_id: KeyId,
    /// Per-token salt.
    pub salt: [u8; SALT_LEN],
    /// `SHA-256(salt || secret)`.
    pub digest: [u8; 32],
    /// When the token was issued (ms since the Unix epoch).
    pub issued_at_ms: u64,
}

impl TokenHash {
    /// Whether `secret` is this token's secret, compared in constant time.
    pub fn matches(&self, secret: &[u8; SECRET_LEN]) -> bool {
        digest(&self.salt, secret).ct_eq(&self.digest).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenHash")
            .field("key_id", &self.key_id)
            .field("digest", &"<redacted>")
            .field("issued_at_ms", &self.issued_at_ms)
            .finish()
    }
}

/// A token's plaintext, returned once at issue. Its `Debug` is redacted and
/// it has no `Display`, so it cannot slip into a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// The token text to hand to its owner (once).
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The public key id part.
    pub fn key_id(&self) -> KeyId {
        parse(&self.0).expect("an issued token parses").key_id
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken(pan_{}_<redacted>)", self.key_id())
    }
}

/// Makes a token from `seed`: the plaintext to show once, and the hash to store.
pub fn issue(seed: &TokenSeed, now_ms: u64) -> Result<(BearerToken, TokenHash), WeakSeed> {
    for (part, bytes) in [
        ("key id", &seed.key_id[..]),
        ("salt", &seed.salt[..]),
        ("secret", &seed.secret[..]),
    ] {
        if bytes.iter().all(|b| *b == bytes[0]) {
            return Err(WeakSeed { part });
        }
    }
    let text = format!("{TOKEN_PREFIX}{}_{}", hex(&seed.key_id), hex(&seed.secret));
    let hash = TokenHash {
        key_id: KeyId(seed.key_id),
        salt: seed.salt,
        digest: digest(&seed.salt, &seed.secret),
        issued_at_ms: now_ms,
    };
    Ok((BearerToken(text), hash))
}

/// A syntactically valid token, split into its parts.
#[derive(Clone, PartialEq, Eq)]
pub struct ParsedToken {
    /// The public part.
    pub key_id: KeyId,
    /// The secret part, decoded.
    pub secret: [u8; SECRET_LEN],
}

impl fmt::Debug for ParsedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParsedToken(pan_{}_<redacted>)", self.key_id)
    }
}

/// Parses a token's text. Never panics, whatever the input; refuses anything
/// but the exact form [`issue`] produces (no whitespace, no upper case).
pub fn parse(text: &str) -> Result<ParsedToken, AuthnError> {
    let malformed = |reason: &'static str| AuthnError::Malformed { reason };
    if text.is_empty() {
        return Err(AuthnError::Missing);
    }
    if text.len() != TOKEN_LEN {
        return Err(malformed("it has the wrong length"));
    }
    if !text.is_ascii() {
        return Err(malformed("it has characters that are not ASCII"));
    }
    // ASCII, so every byte index is a char boundary.
    let Some(rest) = text.strip_prefix(TOKEN_PREFIX) else {
        return Err(malformed("it does not start with \"pan_\""));
    };
    let (key_id, rest) = rest.split_at(2 * KEY_ID_LEN);
    let Some(secret) = rest.strip_prefix('_') else {
        return Err(malformed("the key id is not followed by '_'"));
    };
    let mut parsed = ParsedToken {
        key_id: KeyId([0; KEY_ID_LEN]),
        secret: [0; SECRET_LEN],
    };
    if !unhex(key_id, &mut parsed.key_id.0) || !unhex(secret, &mut parsed.secret) {
        return Err(malformed(
            "it has characters other than lowercase hex digits",
        ));
    }
    Ok(parsed)
}

fn digest(salt: &[u8; SALT_LEN], secret: &[u8; SECRET_LEN]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(secret);
    hasher.finalize().into()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Decodes lowercase hex of exactly `2 * out.len()` digits into `out`.
pub fn unhex(text: &str, out: &mut [u8]) -> bool {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    if text.len() != 2 * out.len() {
        return false;
    }
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A deterministic seed; different `n` give different tokens.
    pub(crate) fn seed(n: u8) -> TokenSeed {
        let mut bytes = [0u8; SEED_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(n.wrapping_mul(97)) ^ 0x5a;
        }
        TokenSeed::from_random(bytes)
    }

    #[test]
    fn issued_token_has_the_documented_form_and_round_trips() {
        let (token, hash) = issue(&seed(1), 1_000).unwrap();
        let text = token.expose_secret();
        assert_eq!(text.len(), TOKEN_LEN);
        assert_eq!(TOKEN_LEN, 85);
        assert!(text.starts_with("pan_"));
        assert_eq!(&text[20..21], "_");
        assert!(text[4..20].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(text[4..20], hash.key_id.to_string());

        let parsed = parse(text).unwrap();
        assert_eq!(parsed.key_id, hash.key_id);
        assert_eq!(parsed.secret, seed(1).secret);
        assert!(hash.matches(&parsed.secret));
        assert_eq!(hash.issued_at_ms, 1_000);
        assert_eq!(token.key_id(), hash.key_id);
    }

    #[test]
    fn issue_is_deterministic_and_the_hash_is_salted() {
        let (a, ha) = issue(&seed(1), 0).unwrap();
        let (b, hb) = issue(&seed(1), 0).unwrap();
        assert_eq!((a, ha.clone()), (b, hb));

        // Same secret, different salt: different digest.
        let mut other = seed(1);
        other.salt[0] ^= 1;
        let (_, hc) = issue(&other, 0).unwrap();
        assert_ne!(ha.digest, hc.digest);
        assert!(hc.matches(&seed(1).secret));

        // The digest is SHA-256(salt || secret), independently computed.
        let mut input = seed(1).salt.to_vec();
        input.extend_from_slice(&seed(1).secret);
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(ha.digest, expected);
    }

    #[test]
    fn a_different_secret_does_not_match() {
        let (_, hash) = issue(&seed(1), 0).unwrap();
        let mut secret = seed(1).secret;
        secret[31] ^= 0x80;
        assert!(!hash.matches(&secret));
    }

    #[test]
    fn weak_seeds_are_refused() {
        let err = issue(&TokenSeed::from_random([0; SEED_LEN]), 0).unwrap_err();
        assert_eq!(err.part, "key id");
        let mut s = seed(1);
        s.secret = [7; SECRET_LEN];
        let err = issue(&s, 0).unwrap_err();
        assert_eq!(err, WeakSeed { part: "secret" });
        assert!(err.to_string().contains("random number generator"), "{err}");
        let mut s = seed(1);
        s.salt = [0; SALT_LEN];
        assert_eq!(issue(&s, 0).unwrap_err().part, "salt");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let (token, hash) = issue(&seed(1), 0).unwrap();
        let secret_hex = &token.expose_secret()[21..];
        for shown in [
            format!("{token:?}"),
            format!("{hash:?}"),
            format!("{:?}", seed(1)),
            format!("{:?}", parse(token.expose_secret()).unwrap()),
        ] {
            assert!(!shown.contains(secret_hex), "{shown}");
            assert!(!shown.contains(&hex(&hash.digest)), "{shown}");
        }
        assert!(format!("{token:?}").contains(&hash.key_id.to_string()));
    }

    #[test]
    fn parse_refuses_near_misses() {
        let (token, _) = issue(&seed(1), 0).unwrap();
        let good = token.expose_secret();
        let malformed = |text: &str| match parse(text) {
            Err(AuthnError::Malformed { reason }) => reason,
            other => panic!("{text:?}: expected Malformed, got {other:?}"),
        };
        assert_eq!(parse(""), Err(AuthnError::Missing));
        assert_eq!(malformed(&good[1..]), "it has the wrong length");
        assert_eq!(malformed(&format!("{good} ")), "it has the wrong length");
        assert_eq!(
            malformed(&good.to_uppercase()),
            "it does not start with \"pan_\""
        );
        assert_eq!(
            malformed(&good.replacen("pan_", "PAN_", 1)),
            "it does not start with \"pan_\""
        );
        let upper_secret = format!("{}{}", &good[..21], good[21..].to_uppercase());
        if upper_secret != good {
            assert_eq!(
                malformed(&upper_secret),
                "it has characters other than lowercase hex digits"
            );
        }
        let mut bad_sep = good.to_string();
        bad_sep.replace_range(20..21, "-");
        assert_eq!(malformed(&bad_sep), "the key id is not followed by '_'");
        let mut non_hex = good.to_string();
        non_hex.replace_range(30..31, "g");
        assert_eq!(
            malformed(&non_hex),
            "it has characters other than lowercase hex digits"
        );
        // Same byte length, but a multi-byte character.
        let mut non_ascii = good.to_string();
        non_ascii.replace_range(30..32, "é");
        assert_eq!(non_ascii.len(), TOKEN_LEN);
        assert_eq!(
            malformed(&non_ascii),
            "it has characters that are not ASCII"
        );
        assert_eq!(malformed(&"x".repeat(1 << 20)), "it has the wrong length");
    }
}
