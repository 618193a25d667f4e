//! Authentication: which principal, if any, a presented bearer token belongs to.
//!
//! The errors are distinct (missing, malformed, unknown, revoked, expired) so
//! the server can log and count them, but their messages never name a
//! principal and never tell an unknown key id from a wrong secret: without
//! the secret, a caller learns nothing about which principals exist. Revoked
//! and expired are told only to a caller that presented the right secret.
//! Every variant maps to gRPC `Unauthenticated`.
//!
//! Pure functions over values; this module must never do I/O or read a clock.

use crate::principal::Principal;
use crate::token::{KeyId, parse};

/// Why a request is not authenticated. Every variant is `Unauthenticated`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    /// No token was presented.
    #[error("no bearer token; send one as `authorization: Bearer pan_…` metadata")]
    Missing,
    /// Something was presented, but not a PAN token.
    #[error(
        "the bearer token is malformed ({reason}); pass it exactly as it was \
         shown when it was issued"
    )]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No principal has this key id, or the secret does not match.
    #[error("bearer token pan_{key_id}_… is not valid; ask an administrator for a new token")]
    Unknown {
        /// The key id presented (not secret).
        key_id: KeyId,
    },
    /// The right secret, but the principal is revoked.
    #[error(
        "bearer token pan_{key_id}_… has been revoked; ask an administrator to \
         rotate it (`panctl principal rotate`)"
    )]
    Revoked {
        /// The key id presented.
        key_id: KeyId,
    },
    /// The right secret, but the token's expiry has passed.
    #[error(
        "bearer token pan_{key_id}_… expired at {expired_at_ms} ms (Unix time); ask \
         an administrator to rotate it (`panctl principal rotate`)"
    )]
    Expired {
        /// The key id presented.
        key_id: KeyId,
        /// When it expired.
        expired_at_ms: u64,
    },
}

/// Longest `authorization` header value looked at; longer is malformed.
const MAX_HEADER_LEN: usize = 512;

/// Takes the token out of an `authorization` header value
/// (`Bearer <token>`, scheme case-insensitive). `None` or blank is
/// [`AuthnError::Missing`].
pub fn bearer_token(header: Option<&str>) -> Result<&str, AuthnError> {
    let value = header.unwrap_or("").trim();
    if value.is_empty() || value.eq_ignore_ascii_case("bearer") {
        return Err(AuthnError::Missing);
    }
    if value.len() > MAX_HEADER_LEN {
        return Err(AuthnError::Malformed {
            reason: "the authorization header is too long",
        });
    }
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim_start();
            if token.is_empty() {
                Err(AuthnError::Missing)
            } else {
                Ok(token)
            }
        }
        _ => Err(AuthnError::Malformed {
            reason: "the authorization header is not `Bearer <token>`",
        }),
    }
}

/// Finds the principal whose current token is `presented` and checks it may
/// still be used at `now_ms`.
///
/// Principals are found by key id; if several share one (the state should
/// refuse that), each is tried. The secret is compared in constant time.
pub fn verify<'a>(
    presented: &str,
    stored: &'a [Principal],
    now_ms: u64,
) -> Result<&'a Principal, AuthnError> {
    let token = parse(presented)?;
    let principal = stored
        .iter()
        .filter(|p| p.token.key_id == token.key_id)
        .find(|p| p.token.matches(&token.secret))
        .ok_or(AuthnError::Unknown {
            key_id: token.key_id,
        })?;
    if principal.revoked {
        return Err(AuthnError::Revoked {
            key_id: token.key_id,
        });
    }
    if let Some(at) = principal.expires_at_ms
        && now_ms >= at
    {
        return Err(AuthnError::Expired {
            key_id: token.key_id,
            expired_at_ms: at,
        });
    }
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Role;
    use crate::token::tests::seed;
    use crate::token::{BearerToken, TokenSeed};
    use proptest::prelude::*;

    fn principal(name: &str, n: u8, expires: Option<u64>) -> (Principal, BearerToken) {
        Principal::new(name, vec![Role::Operator], &seed(n), 0, expires).unwrap()
    }

    fn fabric() -> (Vec<Principal>, Vec<BearerToken>) {
        let (a, ta) = principal("alice", 1, None);
        let (b, tb) = principal("bob", 2, Some(1_000));
        let (c, tc) = principal("carol", 3, None);
        (vec![a, b, c], vec![ta, tb, tc])
    }

    #[test]
    fn each_token_finds_its_principal() {
        let (stored, tokens) = fabric();
        for (p, t) in stored.iter().zip(&tokens) {
            assert_eq!(verify(t.expose_secret(), &stored, 999).unwrap(), p);
        }
    }

    #[test]
    fn a_wrong_secret_is_unknown_like_an_unknown_key_id() {
        let (stored, tokens) = fabric();
        let good = tokens[0].expose_secret();
        let last = good.len() - 1;
        let flipped = if &good[last..] == "0" { "1" } else { "0" };
        let wrong_secret = format!("{}{flipped}", &good[..last]);
        let err = verify(&wrong_secret, &stored, 0).unwrap_err();
        assert_eq!(
            err,
            AuthnError::Unknown {
                key_id: tokens[0].key_id()
            }
        );

        let (_, stranger) = principal("mallory", 9, None);
        let err2 = verify(stranger.expose_secret(), &stored, 0).unwrap_err();
        assert!(matches!(err2, AuthnError::Unknown { .. }));
        // Same words either way, and never a principal's name.
        let strip = |e: &AuthnError, k: KeyId| e.to_string().replace(&k.to_string(), "K");
        assert_eq!(
            strip(&err, tokens[0].key_id()),
            strip(&err2, stranger.key_id())
        );
        for message in [err.to_string(), err2.to_string()] {
            for name in ["alice", "bob", "carol", "mallory"] {
                assert!(!message.contains(name), "{message}");
            }
        }
    }

    #[test]
    fn revoked_and_expired_are_told_only_to_the_token_holder() {
        let (mut stored, tokens) = fabric();
        stored[0].revoke();
        let err = verify(tokens[0].expose_secret(), &stored, 0).unwrap_err();
        assert_eq!(
            err,
            AuthnError::Revoked {
                key_id: tokens[0].key_id()
            }
        );
        assert!(err.to_string().contains("panctl principal rotate"), "{err}");

        let err = verify(tokens[1].expose_secret(), &stored, 1_000).unwrap_err();
        assert_eq!(
            err,
            AuthnError::Expired {
                key_id: tokens[1].key_id(),
                expired_at_ms: 1_000
            }
        );
        assert!(verify(tokens[1].expose_secret(), &stored, 999).is_ok());

        // Without the right secret, a revoked principal looks unknown.
        let good = tokens[0].expose_secret();
        let wrong = format!("{}{}", &good[..21], "ab".repeat(32));
        assert!(matches!(
            verify(&wrong, &stored, 0),
            Err(AuthnError::Unknown { .. })
        ));
    }

    #[test]
    fn rotation_invalidates_the_old_token() {
        let (mut stored, tokens) = fabric();
        stored[2].revoke();
        let new = stored[2].rotate(&seed(7), 10, None).unwrap();
        assert!(matches!(
            verify(tokens[2].expose_secret(), &stored, 10),
            Err(AuthnError::Unknown { .. })
        ));
        assert_eq!(
            verify(new.expose_secret(), &stored, 10).unwrap().name,
            "carol"
        );
    }

    #[test]
    fn principals_sharing_a_key_id_are_each_tried() {
        let (stored, _) = fabric();
        let mut twin = seed(4);
        twin.key_id = seed(1).key_id;
        let (dave, dave_token) =
            Principal::new("dave", vec![Role::Operator], &twin, 0, None).unwrap();
        let stored = [stored, vec![dave]].concat();
        assert_eq!(
            verify(dave_token.expose_secret(), &stored, 0).unwrap().name,
            "dave"
        );
    }

    #[test]
    fn malformed_and_missing_inputs_are_refused_without_panicking() {
        let (stored, _) = fabric();
        assert_eq!(verify("", &stored, 0), Err(AuthnError::Missing));
        for bad in [
            " ",
            "pan_",
            "pan__",
            "Bearer pan_x",
            "\0",
            "ünïcödé",
            "🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀🦀",
            &"a".repeat(85),
            &"pan_".repeat(1 << 18),
        ] {
            let err = verify(bad, &stored, 0).unwrap_err();
            assert!(
                matches!(err, AuthnError::Malformed { .. }),
                "{bad:.40}: {err:?}"
            );
            assert!(err.to_string().contains("pass it exactly as it was shown"));
        }
    }

    #[test]
    fn the_header_is_parsed_as_bearer() {
        assert_eq!(bearer_token(None), Err(AuthnError::Missing));
        assert_eq!(bearer_token(Some("  ")), Err(AuthnError::Missing));
        assert_eq!(bearer_token(Some("Bearer ")), Err(AuthnError::Missing));
        assert_eq!(bearer_token(Some("Bearer pan_x")), Ok("pan_x"));
        assert_eq!(bearer_token(Some("bearer  pan_x ")), Ok("pan_x"));
        for bad in ["Basic dXNlcjpwdw==", "pan_x", "Bearerpan_x"] {
            assert!(
                matches!(bearer_token(Some(bad)), Err(AuthnError::Malformed { .. })),
                "{bad}"
            );
        }
        let huge = format!("Bearer {}", "x".repeat(10_000));
        assert!(matches!(
            bearer_token(Some(&huge)),
            Err(AuthnError::Malformed { .. })
        ));
        assert_eq!(
            AuthnError::Missing.to_string(),
            "no bearer token; send one as `authorization: Bearer pan_…` metadata"
        );
    }

    proptest! {
        #[test]
        fn no_string_panics_or_authenticates(text in any::<String>()) {
            let (stored, _) = fabric();
            prop_assert!(verify(&text, &stored, 0).is_err());
            let _ = bearer_token(Some(&text));
        }

        #[test]
        fn token_shaped_strings_never_authenticate(
            key in "[0-9a-f]{16}",
            secret in "[0-9a-f]{64}",
        ) {
            let (stored, _) = fabric();
            let text = format!("pan_{key}_{secret}");
            let unknown = matches!(verify(&text, &stored, 0), Err(AuthnError::Unknown { .. }));
            prop_assert!(unknown);
        }

        #[test]
        fn every_issued_token_verifies(bytes in proptest::array::uniform32(any::<u8>()), n in any::<u8>()) {
            let mut s = seed(n);
            s.secret = bytes;
            prop_assume!(bytes.iter().any(|b| *b != bytes[0]));
            let seed: TokenSeed = s;
            let (p, t) = Principal::new("alice", vec![Role::Operator], &seed, 0, None).unwrap();
            let stored = [p];
            prop_assert_eq!(&verify(t.expose_secret(), &stored, 0).unwrap().name, "alice");
        }
    }
}
