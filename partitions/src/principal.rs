//! Principals (who calls the API) and their roles.
//!
//! A principal is a named holder of one bearer token and a set of roles. The
//! record is what the replicated state stores: it holds only the token's
//! salted hash ([`TokenHash`]), never the token.
//!
//! Roles, from most to least powerful (the exact permissions are in
//! [`crate::authz`]):
//! - `fabric-admin`: everything.
//! - `operator`: reads everything; changes hardware (blades, pools, identity
//!   pools, discovery, power); may not change cluster membership, partitions
//!   or anything inside a partition.
//! - `partition-admin:<partition>`: reads and changes the servers and volumes
//!   of one partition.
//! - `partition-viewer:<partition>`: reads one partition.
//!
//! Partition roles name the partition, as the API does. A partition name is
//! reused only if the partition is deleted and created again, so the state
//! machine must refuse to delete a partition that principals are still
//! scoped to (or revoke them with it); otherwise they would inherit the new
//! partition.
//!
//! Pure values and functions; this module must never do I/O or read a clock
//! (callers pass `now_ms`).

use crate::input::{InvalidInput, check_name};
use crate::token::{BearerToken, TokenHash, TokenSeed, WeakSeed, issue};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A principal's role. A principal's permissions are the union of its roles'.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, everywhere.
    FabricAdmin,
    /// Hardware and pools; reads everything; no partition changes.
    Operator,
    /// Reads and changes the objects inside one partition.
    PartitionAdmin(String),
    /// Reads the objects inside one partition.
    PartitionViewer(String),
}

impl Role {
    /// The partition a partition role is scoped to; `None` for fabric roles.
    pub fn partition(&self) -> Option<&str> {
        match self {
            Role::FabricAdmin | Role::Operator => None,
            Role::PartitionAdmin(p) | Role::PartitionViewer(p) => Some(p),
        }
    }

    /// Checks the partition name of a partition role.
    pub fn validate(&self) -> Result<(), InvalidInput> {
        match self.partition() {
            Some(p) => check_name("partition", p),
            None => Ok(()),
        }
    }
}

/// The text form used by panctl and in messages: `fabric-admin`, `operator`,
/// `partition-admin:acme`, `partition-viewer:acme`.
impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::FabricAdmin => f.write_str("fabric-admin"),
            Role::Operator => f.write_str("operator"),
            Role::PartitionAdmin(p) => write!(f, "partition-admin:{p}"),
            Role::PartitionViewer(p) => write!(f, "partition-viewer:{p}"),
        }
    }
}

/// A role text that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoleParseError {
    /// Not one of the four role kinds.
    #[error(
        "unknown role {}; use fabric-admin, operator, partition-admin:<partition> \
         or partition-viewer:<partition>",
        crate::input::Quoted(.text)
    )]
    Unknown {
        /// The text given.
        text: String,
    },
    /// A partition role with a bad partition name.
    #[error("invalid role {}", crate::input::Quoted(.text))]
    Partition {
        /// The text given.
        text: String,
        /// What is wrong with the partition name.
        #[source]
        source: InvalidInput,
    },
}

impl FromStr for Role {
    type Err = RoleParseError;

    fn from_str(text: &str) -> Result<Role, RoleParseError> {
        let role = match text {
            "fabric-admin" => Role::FabricAdmin,
            "operator" => Role::Operator,
            _ => match text.split_once(':') {
                Some(("partition-admin", p)) => Role::PartitionAdmin(p.to_string()),
                Some(("partition-viewer", p)) => Role::PartitionViewer(p.to_string()),
                _ => {
                    return Err(RoleParseError::Unknown {
                        text: text.to_string(),
                    });
                }
            },
        };
        role.validate()
            .map_err(|source| RoleParseError::Partition {
                text: text.to_string(),
                source,
            })?;
        Ok(role)
    }
}

/// Who calls the API: a name, roles, and the hash of its one current token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Unique, validated like every PAN name.
    pub name: String,
    /// Sorted, without duplicates, never empty.
    pub roles: Vec<Role>,
    /// The current token's salted hash; a rotation replaces it.
    pub token: TokenHash,
    /// A revoked principal's token is refused until it is rotated.
    pub revoked: bool,
    /// When the principal was created (ms since the Unix epoch).
    pub created_at_ms: u64,
    /// When the current token stops working; `None` for never.
    pub expires_at_ms: Option<u64>,
}

/// Why a principal could not be created or given a new token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// The principal's name, or a partition named by a role, is invalid.
    #[error("invalid principal {}", crate::input::Quoted(.name))]
    Invalid {
        /// The principal's name.
        name: String,
        /// The offending input.
        #[source]
        source: InvalidInput,
    },
    /// No roles were given.
    #[error(
        "principal {} has no roles; give it at least one (fabric-admin, operator, \
         partition-admin:<partition> or partition-viewer:<partition>)",
        crate::input::Quoted(.name)
    )]
    NoRoles {
        /// The principal's name.
        name: String,
    },
    /// The expiry is not after the issue time.
    #[error(
        "the token of principal {} would expire at {expires_at_ms} ms, not after \
         its issue at {now_ms} ms; give an expiry in the future or none",
        crate::input::Quoted(.name)
    )]
    ExpiryInPast {
        /// The principal's name.
        name: String,
        /// The requested expiry.
        expires_at_ms: u64,
        /// The issue time.
        now_ms: u64,
    },
    /// The caller's random bytes are unusable.
    #[error("cannot issue a token for principal {}", crate::input::Quoted(.name))]
    Seed {
        /// The principal's name.
        name: String,
        /// What is wrong with the randomness.
        #[source]
        source: WeakSeed,
    },
}

impl Principal {
    /// Creates a principal and its first token. The token is returned once;
    /// only its hash is in the record.
    pub fn new(
        name: &str,
        roles: Vec<Role>,
        seed: &TokenSeed,
        now_ms: u64,
        expires_at_ms: Option<u64>,
    ) -> Result<(Principal, BearerToken), PrincipalError> {
        let invalid = |source| PrincipalError::Invalid {
            name: name.to_string(),
            source,
        };
        check_name("principal", name).map_err(invalid)?;
        for role in &roles {
            role.validate().map_err(invalid)?;
        }
        let mut roles = roles;
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err(PrincipalError::NoRoles {
                name: name.to_string(),
            });
        }
        let (token, hash) = new_token(name, seed, now_ms, expires_at_ms)?;
        let principal = Principal {
            name: name.to_string(),
            roles,
            token: hash,
            revoked: false,
            created_at_ms: now_ms,
            expires_at_ms,
        };
        Ok((principal, token))
    }

    /// Gives the principal a new token: the old one stops working at once,
    /// the expiry becomes `expires_at_ms`, and a revoked principal becomes
    /// usable again with the new token (revoke, then rotate, is how a leaked
    /// token is replaced).
    pub fn rotate(
        &mut self,
        seed: &TokenSeed,
        now_ms: u64,
        expires_at_ms: Option<u64>,
    ) -> Result<BearerToken, PrincipalError> {
        let (token, hash) = new_token(&self.name, seed, now_ms, expires_at_ms)?;
        self.token = hash;
        self.expires_at_ms = expires_at_ms;
        self.revoked = false;
        Ok(token)
    }

    /// Refuses the principal's current token from now on.
    pub fn revoke(&mut self) {
        self.revoked = true;
    }

    /// Whether the current token has expired at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms.is_some_and(|at| now_ms >= at)
    }

    /// Whether any role is `role`.
    pub fn has_role(&self, role: &Role) -> bool {
        self.roles.contains(role)
    }
}

fn new_token(
    name: &str,
    seed: &TokenSeed,
    now_ms: u64,
    expires_at_ms: Option<u64>,
) -> Result<(BearerToken, TokenHash), PrincipalError> {
    if let Some(at) = expires_at_ms
        && at <= now_ms
    {
        return Err(PrincipalError::ExpiryInPast {
            name: name.to_string(),
            expires_at_ms: at,
            now_ms,
        });
    }
    issue(seed, now_ms).map_err(|source| PrincipalError::Seed {
        name: name.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::tests::seed;
    use std::error::Error as _;

    #[test]
    fn roles_have_a_text_form_that_round_trips() {
        for (text, role) in [
            ("fabric-admin", Role::FabricAdmin),
            ("operator", Role::Operator),
            ("partition-admin:acme", Role::PartitionAdmin("acme".into())),
            (
                "partition-viewer:acme",
                Role::PartitionViewer("acme".into()),
            ),
        ] {
            assert_eq!(text.parse::<Role>().unwrap(), role);
            assert_eq!(role.to_string(), text);
        }
    }

    #[test]
    fn bad_role_texts_are_refused() {
        for text in [
            "",
            "admin",
            "Operator",
            "partition-admin",
            "fabric-admin:acme",
        ] {
            let err = text.parse::<Role>().unwrap_err();
            assert!(
                matches!(err, RoleParseError::Unknown { .. }),
                "{text}: {err:?}"
            );
            assert!(
                err.to_string().contains("use fabric-admin, operator"),
                "{err}"
            );
        }
        for text in [
            "partition-admin:",
            "partition-viewer:../etc",
            "partition-admin:a b",
        ] {
            let err = text.parse::<Role>().unwrap_err();
            assert!(
                matches!(err, RoleParseError::Partition { .. }),
                "{text}: {err:?}"
            );
            assert!(
                err.source()
                    .unwrap()
                    .to_string()
                    .starts_with("invalid partition name")
            );
        }
    }

    #[test]
    fn new_principal_is_validated_and_normalised() {
        let roles = vec![
            Role::PartitionViewer("acme".into()),
            Role::Operator,
            Role::PartitionViewer("acme".into()),
        ];
        let (p, token) = Principal::new("alice", roles, &seed(1), 5, Some(10)).unwrap();
        assert_eq!(p.name, "alice");
        assert_eq!(
            p.roles,
            vec![Role::Operator, Role::PartitionViewer("acme".into())]
        );
        assert_eq!(
            (p.created_at_ms, p.expires_at_ms, p.revoked),
            (5, Some(10), false)
        );
        assert_eq!(p.token.key_id, token.key_id());
        assert!(p.has_role(&Role::Operator));
        assert!(!p.has_role(&Role::FabricAdmin));
    }

    #[test]
    fn bad_principals_are_refused_with_what_to_do() {
        let err = Principal::new("a/b", vec![Role::Operator], &seed(1), 0, None).unwrap_err();
        assert!(matches!(&err, PrincipalError::Invalid { name, .. } if name == "a/b"));
        assert!(
            err.source()
                .unwrap()
                .to_string()
                .starts_with("invalid principal name")
        );

        let err = Principal::new(
            "bob",
            vec![Role::PartitionAdmin("../x".into())],
            &seed(1),
            0,
            None,
        )
        .unwrap_err();
        assert!(
            err.source()
                .unwrap()
                .to_string()
                .starts_with("invalid partition name")
        );

        let err = Principal::new("bob", vec![], &seed(1), 0, None).unwrap_err();
        assert_eq!(err, PrincipalError::NoRoles { name: "bob".into() });
        assert!(err.to_string().contains("give it at least one"), "{err}");

        let err = Principal::new("bob", vec![Role::Operator], &seed(1), 10, Some(10)).unwrap_err();
        assert!(matches!(
            err,
            PrincipalError::ExpiryInPast {
                expires_at_ms: 10,
                now_ms: 10,
                ..
            }
        ));
        assert!(
            err.to_string().contains("give an expiry in the future"),
            "{err}"
        );

        let weak = TokenSeed::from_random([0; crate::token::SEED_LEN]);
        let err = Principal::new("bob", vec![Role::Operator], &weak, 0, None).unwrap_err();
        assert!(matches!(err, PrincipalError::Seed { .. }), "{err:?}");
    }

    #[test]
    fn rotation_replaces_the_token_and_lifts_a_revocation() {
        let (mut p, old) =
            Principal::new("alice", vec![Role::Operator], &seed(1), 0, None).unwrap();
        p.revoke();
        assert!(p.revoked);
        let new = p.rotate(&seed(2), 100, Some(200)).unwrap();
        assert_ne!(old, new);
        assert_eq!(p.token.key_id, new.key_id());
        assert_eq!(p.token.issued_at_ms, 100);
        assert_eq!(p.expires_at_ms, Some(200));
        assert!(!p.revoked);
        assert_eq!(p.created_at_ms, 0);

        // A failed rotation changes nothing.
        let before = p.clone();
        assert!(p.rotate(&seed(3), 300, Some(300)).is_err());
        assert_eq!(p, before);
    }

    #[test]
    fn expiry_is_exclusive_of_its_instant() {
        let (p, _) = Principal::new("alice", vec![Role::Operator], &seed(1), 0, Some(10)).unwrap();
        assert!(!p.is_expired(9));
        assert!(p.is_expired(10));
        let (p, _) = Principal::new("bob", vec![Role::Operator], &seed(1), 0, None).unwrap();
        assert!(!p.is_expired(u64::MAX));
    }
}
