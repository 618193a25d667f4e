//! The tenancy core: who is calling ([`verify`]), what they may do
//! ([`authorize`], [`visible`]), how much a partition may use ([`check_quota`]),
//! which network ids it gets ([`allocate`]), and the input checks the API
//! applies first ([`check_name`], [`check_text`]).
//!
//! Everything here is a pure function over values: no I/O, no clock, no
//! randomness of its own (callers pass `now_ms` and random bytes), no async,
//! no network. The fabric manager calls it from its gRPC interceptor and
//! handlers and from the state machine's validation step; keeping it pure
//! keeps every decision testable and deterministic on every member.
//!
//! **Architecture invariant:** authorization lives here and only here. A
//! tenant asking about another partition's objects gets
//! [`Decision::DenyNotFound`], the same answer as for an object that does not
//! exist, so it cannot learn that they do.
//!
//! Code map: `input` (names, text), `token` (issue, text form, salted hash),
//! `principal` (principals and roles), `authn` (token → principal),
//! `action` (one [`Action`] per `pan.v1.Fabric` RPC), `authz` (the decision),
//! `quota`, `network_id`.

pub mod action;
pub mod authn;
pub mod authz;
pub mod input;
pub mod network_id;
pub mod principal;
pub mod quota;
pub mod token;

pub use action::{Access, Action, Domain};
pub use authn::{AuthnError, bearer_token, verify};
pub use authz::{Decision, Target, authorize, visible};
pub use input::{InvalidInput, MAX_NAME_LEN, MAX_TEXT_LEN, check_name, check_text};
pub use network_id::{
    NETWORK_ID_MAX, NETWORK_ID_MIN, NetworkIdError, NetworkIdRange, allocate, check_no_overlap,
};
pub use principal::{Principal, PrincipalError, Role, RoleParseError};
pub use quota::{Quota, QuotaExceeded, QuotaKind, QuotaRequest, Usage, check as check_quota};
pub use token::{
    BearerToken, KEY_ID_LEN, KeyId, ParsedToken, SALT_LEN, SECRET_LEN, SEED_LEN, TOKEN_LEN,
    TOKEN_PREFIX, TokenHash, TokenSeed, WeakSeed, hex, issue, parse, unhex,
};
