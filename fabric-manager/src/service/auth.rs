//! Authentication and authorization of the public API, in one place.
//!
//! [`authenticate`] runs before every `Fabric` call reaches its handler
//! (`service::http2`): it takes the bearer token from the `authorization`
//! metadata, verifies it against
//! the principals in this member's replicated state (so a revoked token is
//! refused by every member that has applied the revocation) and puts the
//! [`Caller`] into the request's extensions, or answers `Unauthenticated`.
//! A well-formed token this member does not know may have been issued by a
//! write it has not applied yet (a principal created through another
//! member a moment ago): such a token is marked unconfirmed, and [`admit`]
//! waits for a read barrier (everything the leader had committed is
//! applied here) before it decides.
//!
//! Every request message says which [`Action`] it is and what it targets
//! ([`Scoped`]), and every handler starts with [`admit`], which asks
//! `partitions::authorize` — the one decision function — and answers
//! `NotFound` for another partition's objects (worded as for an object that
//! does not exist) or `PermissionDenied` with a reason. Handlers never check
//! roles themselves; lists, the audit log and the event stream are filtered
//! with `partitions::visible`.

use crate::node::{Node, now_ms};
use pan_api::v1 as pb;
use partitions::{Action, AuthnError, Decision, Principal, Target};
use tonic::{Request, Status};

/// Who is calling: the authenticated principal.
#[derive(Clone, Debug)]
pub struct Caller(pub std::sync::Arc<Principal>);

impl Caller {
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// Whether this caller may see an item of `partition` (`None`:
    /// fabric-wide) in a list, the audit log or the event stream.
    pub fn sees(&self, partition: Option<&str>) -> bool {
        partitions::visible(&self.0, partition)
    }
}

/// The `Fabric` service's check, before the call reaches it: verifies the
/// bearer token against this member's state and records the caller in the
/// request's extensions (or the token, when this member does not know it).
pub fn authenticate<B>(node: &Node, req: &mut http::Request<B>) -> Result<(), Status> {
    let header = match req.headers().get("authorization") {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            Status::unauthenticated(
                "the authorization metadata is not printable ASCII; pass `Bearer pan_…` \
                 (panctl: --token-file or PAN_TOKEN)",
            )
        })?),
    };
    let token =
        partitions::bearer_token(header).map_err(|e| Status::unauthenticated(e.to_string()))?;
    match verify(node, token) {
        Ok(principal) => {
            req.extensions_mut()
                .insert(Caller(std::sync::Arc::new(principal)));
        }
        Err(AuthnError::Unknown { .. }) => {
            let unconfirmed = Unconfirmed(token.to_string());
            req.extensions_mut().insert(unconfirmed);
        }
        Err(e) => return Err(Status::unauthenticated(e.to_string())),
    }
    Ok(())
}

fn verify(node: &Node, token: &str) -> Result<Principal, AuthnError> {
    node.state_machine()
        .read(|s| s.authenticate(token, now_ms()).cloned())
}

/// A well-formed token that this member's state does not know (yet).
#[derive(Clone)]
struct Unconfirmed(String);

/// Unknown tokens being confirmed at once by one member at most; beyond
/// that a request is refused at once, so a flood of made-up tokens cannot
/// turn into a flood of read barriers on the leader.
const CONFIRMING_AT_ONCE: usize = 32;

static CONFIRMING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(CONFIRMING_AT_ONCE);

/// The caller of a request: verified by [`authenticate`], or an unknown
/// token checked again once this member has applied everything the leader
/// had committed.
async fn caller(node: &Node, extensions: &tonic::Extensions) -> Result<Caller, Status> {
    if let Some(caller) = extensions.get::<Caller>() {
        return Ok(caller.clone());
    }
    let Some(Unconfirmed(token)) = extensions.get::<Unconfirmed>() else {
        return Err(Status::unauthenticated(
            "no authenticated caller; pass a bearer token (panctl: --token-file or PAN_TOKEN)",
        ));
    };
    let _permit = CONFIRMING.try_acquire().map_err(|_| {
        Status::unavailable(
            "this member is checking too many unknown bearer tokens at once; retry in a moment",
        )
    })?;
    node.linearize().await.map_err(|e| {
        Status::unavailable(format!(
            "this member does not know the bearer token and could not check it with the \
             leader ({e}); retry, or ask another member"
        ))
    })?;
    verify(node, token)
        .map(|principal| Caller(std::sync::Arc::new(principal)))
        .map_err(|e| Status::unauthenticated(e.to_string()))
}

/// A request message of the public API: which action it is and what it
/// touches.
pub trait Scoped {
    const ACTION: Action;
    fn target(&self) -> Target<'_>;
}

/// Denials recorded in the audit log per second by one member at most; the
/// rest are only logged, so a misbehaving client cannot flood the log.
const DENIALS_PER_SECOND: u32 = 20;

static DENIALS: std::sync::Mutex<Option<(std::time::Instant, u32)>> = std::sync::Mutex::new(None);

/// Records a refused request in the replicated audit log (in the
/// background: the refusal does not wait for it), within the rate limit.
fn audit_denial(node: &Node, caller: &Caller, action: Action, target: Target<'_>, reason: &str) {
    let now = std::time::Instant::now();
    {
        let mut window = DENIALS.lock().unwrap_or_else(|e| e.into_inner());
        let (start, count) = window.get_or_insert((now, 0));
        if now.duration_since(*start) >= std::time::Duration::from_secs(1) {
            *start = now;
            *count = 0;
        }
        if *count >= DENIALS_PER_SECOND {
            return;
        }
        *count += 1;
    }
    let command = crate::state::Command::Denied {
        action: action.rpc_name().to_string(),
        partition: match target {
            Target::Partition(p) => Some(p.to_string()),
            Target::Fabric | Target::Partitions => None,
        },
        reason: reason.to_string(),
    };
    let (node, principal) = (node.clone(), caller.name().to_string());
    tokio::spawn(async move {
        // Refused by design: only its audit record stays.
        let _ = node.propose(&principal, command).await;
    });
}

/// Authorizes a request: the caller (set by [`authenticate`]) may perform
/// the request's action on its target, or the answer says why not. Every
/// refusal is audited.
pub async fn admit<R: Scoped>(node: &Node, req: &Request<R>) -> Result<Caller, Status> {
    let caller = caller(node, req.extensions()).await?;
    let target = req.get_ref().target();
    match partitions::authorize(&caller.0, R::ACTION, target) {
        Decision::Allow => Ok(caller),
        Decision::DenyNotFound => {
            tracing::info!(principal = %caller.name(), action = R::ACTION.rpc_name(), "denied: another partition's object");
            let status = not_found(target);
            audit_denial(node, &caller, R::ACTION, target, status.message());
            Err(status)
        }
        Decision::DenyPermission { reason } => {
            tracing::info!(principal = %caller.name(), action = R::ACTION.rpc_name(), %reason, "denied");
            audit_denial(node, &caller, R::ACTION, target, &reason);
            Err(Status::permission_denied(reason))
        }
    }
}

/// The answer for another partition's object: exactly what a missing
/// partition gets, naming only what the caller typed.
fn not_found(target: Target<'_>) -> Status {
    match target {
        Target::Partition(p) => Status::not_found(format!(
            "partition '{p}' not found; list yours with `panctl partition list`"
        )),
        Target::Fabric | Target::Partitions => Status::not_found("not found"),
    }
}

fn partition(p: &str) -> Target<'_> {
    Target::Partition(p)
}

macro_rules! scoped {
    ($($request:ident => $action:ident, |$r:ident| $target:expr;)*) => {
        $(
            impl Scoped for pb::$request {
                const ACTION: Action = Action::$action;
                fn target(&self) -> Target<'_> {
                    let $r = self;
                    $target
                }
            }
        )*

        /// The action of every request type above, for the coverage test.
        #[cfg(test)]
        const SCOPED: &[Action] = &[$(<pb::$request as Scoped>::ACTION),*];
    };
}

scoped! {
    ClusterStatusRequest => ClusterStatus, |_r| Target::Fabric;
    AddMemberRequest => AddMember, |_r| Target::Fabric;
    RemoveMemberRequest => RemoveMember, |_r| Target::Fabric;

    CreatePartitionRequest => CreatePartition, |_r| Target::Fabric;
    ListPartitionsRequest => ListPartitions, |_r| Target::Partitions;
    DeletePartitionRequest => DeletePartition, |r| partition(&r.name);
    SetQuotaRequest => SetQuota, |r| partition(&r.partition);

    CreatePoolRequest => CreatePool, |_r| Target::Fabric;
    ListPoolsRequest => ListPools, |_r| Target::Fabric;
    DeletePoolRequest => DeletePool, |_r| Target::Fabric;
    CreateIdentityPoolRequest => CreateIdentityPool, |_r| Target::Fabric;
    ListIdentityPoolsRequest => ListIdentityPools, |_r| Target::Fabric;
    DeleteIdentityPoolRequest => DeleteIdentityPool, |_r| Target::Fabric;

    AddBladeRequest => AddBlade, |_r| Target::Fabric;
    ListBladesRequest => ListBlades, |_r| Target::Fabric;
    GetBladeRequest => GetBlade, |_r| Target::Fabric;
    RemoveBladeRequest => RemoveBlade, |_r| Target::Fabric;
    DiscoverBladesRequest => DiscoverBlades, |_r| Target::Fabric;
    BladePowerRequest => BladePower, |_r| Target::Fabric;

    CreateServerRequest => CreateServer, |r| partition(&r.partition);
    ListServersRequest => ListServers, |r| Target::from_partition_field(&r.partition);
    GetServerRequest => GetServer, |r| partition(&r.partition);
    DeleteServerRequest => DeleteServer, |r| partition(&r.partition);
    StartServerRequest => StartServer, |r| partition(&r.partition);
    StopServerRequest => StopServer, |r| partition(&r.partition);

    AddImageRequest => AddImage, |_r| Target::Fabric;
    // The catalog is fabric-wide and readable by every principal.
    ListImagesRequest => ListImages, |_r| Target::Partitions;
    DeleteImageRequest => DeleteImage, |_r| Target::Fabric;

    CreateVolumeRequest => CreateVolume, |r| partition(&r.partition);
    ListVolumesRequest => ListVolumes, |r| Target::from_partition_field(&r.partition);
    GetVolumeRequest => GetVolume, |r| partition(&r.partition);
    DeleteVolumeRequest => DeleteVolume, |r| partition(&r.partition);
    ResizeVolumeRequest => ResizeVolume, |r| partition(&r.partition);
    SnapshotVolumeRequest => SnapshotVolume, |r| partition(&r.partition);
    RestoreVolumeRequest => RestoreVolume, |r| partition(&r.partition);
    DeleteSnapshotRequest => DeleteSnapshot, |r| partition(&r.partition);

    CreateNetworkRequest => CreateNetwork, |r| partition(&r.partition);
    ListNetworksRequest => ListNetworks, |r| Target::from_partition_field(&r.partition);
    DeleteNetworkRequest => DeleteNetwork, |r| partition(&r.partition);

    ListAuditRequest => ListAudit, |_r| Target::Partitions;
    WatchEventsRequest => WatchEvents, |_r| Target::Partitions;

    CreatePrincipalRequest => CreatePrincipal, |_r| Target::Fabric;
    ListPrincipalsRequest => ListPrincipals, |_r| Target::Fabric;
    RevokePrincipalRequest => RevokePrincipal, |_r| Target::Fabric;
    RotatePrincipalRequest => RotatePrincipal, |_r| Target::Fabric;
    DeletePrincipalRequest => DeletePrincipal, |_r| Target::Fabric;
    WhoAmIRequest => WhoAmI, |_r| Target::Partitions;

    ConfirmFencedRequest => ConfirmFenced, |_r| Target::Fabric;
    RepairBladeRequest => RepairBlade, |_r| Target::Fabric;
    DrainBladeRequest => DrainBlade, |_r| Target::Fabric;
    MoveServerRequest => MoveServer, |r| partition(&r.partition);
    ListFailoversRequest => ListFailovers, |_r| Target::Partitions;
    CoverageRequest => Coverage, |_r| Target::Partitions;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every action has a request type here: the compiler checks the impls
    /// exist, this checks none is missing from the list and none is there
    /// twice.
    #[test]
    fn every_action_has_a_scoped_request() {
        let mut want: Vec<Action> = Action::ALL.to_vec();
        let mut got: Vec<Action> = SCOPED.to_vec();
        want.sort();
        got.sort();
        assert_eq!(got, want);
    }
}
