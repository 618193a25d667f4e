//! Issuing principals' tokens: fresh randomness and the once-only reply.
//! The token's plaintext leaves the manager only in the reply to the call
//! that created it; the replicated state holds its salted hash.

pub use crate::node::now_ms;
use crate::state::{Outcome, PrincipalView};
use pan_api::v1 as pb;
use partitions::{BearerToken, SEED_LEN, TokenSeed};
use tonic::{Response, Status};

/// Random bytes for a new token, from the operating system's generator.
pub fn fresh_seed() -> TokenSeed {
    let mut bytes = [0u8; SEED_LEN];
    rand::fill(&mut bytes);
    TokenSeed::from_random(bytes)
}

/// When a token given `expires_in_s` (0: never) expires.
pub fn expiry(now_ms: u64, expires_in_s: u64) -> Option<u64> {
    (expires_in_s != 0).then(|| now_ms.saturating_add(expires_in_s.saturating_mul(1000)))
}

/// The reply carrying a new token, shown this once.
pub fn token_reply(
    outcome: Outcome,
    token: BearerToken,
) -> Result<Response<pb::PrincipalToken>, Status> {
    match outcome {
        Outcome::Principal(view) => Ok(Response::new(pb::PrincipalToken {
            principal: Some(view.into()),
            token: token.expose_secret().to_string(),
        })),
        other => Err(Status::internal(format!(
            "the state machine returned {other:?} for a principal; this is a bug in PAN"
        ))),
    }
}

impl From<PrincipalView> for pb::Principal {
    fn from(v: PrincipalView) -> Self {
        pb::Principal {
            name: v.name,
            roles: v.roles,
            revoked: v.revoked,
            created_at_ms: v.created_at_ms,
            expires_at_ms: v.expires_at_ms.unwrap_or(0),
            token_key_id: v.token_key_id,
        }
    }
}
