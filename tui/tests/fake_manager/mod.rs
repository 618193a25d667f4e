//! A fake fabric manager for end-to-end tests of the `panctl` binary: it
//! serves canned replies on a loopback port and records what it received
//! (principal metadata, BMC passwords, the requests of the hardware calls).
//! With `unavailable` set it answers every call `Unavailable`, like a member
//! without a leader.
//!
//! Servers, volumes, images and networks: creates and changes echo the
//! request back as the manager would answer it, and are recorded; `server
//! show web-1` answers a running server with its agent report, `volume show`
//! answers any volume but [`MISSING`], which is not found.
//!
//! Principals: every call's `authorization` metadata is recorded.
//! `whoami` and the principal calls need a bearer token: without one they
//! answer `Unauthenticated`; with [`EXPIRED_TOKEN`] too; with
//! [`VIEWER_TOKEN`] the principal calls answer `PermissionDenied`. Creates
//! and rotations answer a token made from the name; [`MISSING`] is not
//! found. `partition list` answers `acme` with a quota and usage;
//! `set-quota` echoes the quota back on `acme`.
//!
//! Failover: `blade confirm-fenced`, `repair` and `drain` and `server move`
//! are recorded and answer the blade (fenced, available, maintenance) or
//! the server (running on the target, `b2` when none was given); [`MISSING`]
//! blades are not found and moving any server but `web-1` is refused as not
//! running. `failover history` answers [`failovers`] (at most `limit`);
//! `coverage` answers [`FakeManager::coverage`], by default [`coverage`].
//!
//! Discovery streams three records (enrolled, already enrolled, failed) for
//! any range but two: [`BACKWARDS_RANGE`] is refused, and [`CUT_RANGE`]
//! announces four BMCs but ends the stream after three.

use pan_api::v1::fabric_server::{Fabric, FabricServer};
use pan_api::v1::*;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tonic::codegen::tokio_stream;
use tonic::transport::Server as GrpcServer;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// A range the fake refuses, as the manager refuses a backwards range.
pub const BACKWARDS_RANGE: &str = "127.0.0.1:8416-8401";
/// A range whose stream ends before every BMC was reported.
pub const CUT_RANGE: &str = "127.0.0.1:8401-8404";
/// A volume, image, network or principal name the fake says does not exist.
pub const MISSING: &str = "missing";
/// A token the fake answers `Unauthenticated` for, as for an expired one.
pub const EXPIRED_TOKEN: &str = "pan_expired_0000";
/// A partition viewer's token: the principal calls are denied to it.
pub const VIEWER_TOKEN: &str = "pan_viewer_acme";

/// What the fake saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub principals: Vec<String>,
    /// The `authorization` metadata of every call, `<none>` when absent.
    pub authorizations: Vec<String>,
    pub principal_creates: Vec<CreatePrincipalRequest>,
    pub principal_rotations: Vec<RotatePrincipalRequest>,
    /// Principal changes in order, e.g. `revoke alice`.
    pub principal_changes: Vec<String>,
    pub quotas: Vec<SetQuotaRequest>,
    pub passwords: Vec<String>,
    pub volume_sizes: Vec<u64>,
    pub blade_adds: Vec<AddBladeRequest>,
    pub discoveries: Vec<DiscoverBladesRequest>,
    pub power: Vec<BladePowerRequest>,
    pub starts: Vec<StartServerRequest>,
    pub stops: Vec<StopServerRequest>,
    pub partition_creates: Vec<CreatePartitionRequest>,
    pub server_creates: Vec<CreateServerRequest>,
    pub volume_creates: Vec<CreateVolumeRequest>,
    /// Volume changes in order, e.g. `resize acme/v1 21474836480 0`.
    pub volume_changes: Vec<String>,
    pub image_adds: Vec<AddImageRequest>,
    pub image_deletes: Vec<DeleteImageRequest>,
    pub network_creates: Vec<CreateNetworkRequest>,
    pub network_lists: Vec<ListNetworksRequest>,
    pub network_deletes: Vec<DeleteNetworkRequest>,
    /// Blade failover verbs in order, e.g. `confirm-fenced b4`.
    pub blade_changes: Vec<String>,
    pub drains: Vec<DrainBladeRequest>,
    pub moves: Vec<MoveServerRequest>,
    pub failover_lists: Vec<ListFailoversRequest>,
    pub coverage_checks: usize,
}

/// A running fake manager.
pub struct FakeManager {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
    /// What `coverage` answers; change it between calls.
    pub coverage: Arc<Mutex<CoverageReply>>,
}

impl FakeManager {
    /// Starts a fake on 127.0.0.1 with a free port.
    pub async fn start(unavailable: bool) -> FakeManager {
        let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = incoming.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let coverage = Arc::new(Mutex::new(coverage()));
        let service = Service {
            seen: seen.clone(),
            coverage: coverage.clone(),
            unavailable,
        };
        tokio::spawn(
            GrpcServer::builder()
                .add_service(FabricServer::new(service))
                .serve_with_incoming(incoming),
        );
        FakeManager {
            addr,
            seen,
            coverage,
        }
    }
}

struct Service {
    seen: Arc<Mutex<Seen>>,
    coverage: Arc<Mutex<CoverageReply>>,
    unavailable: bool,
}

impl Service {
    /// Records the principal and fails like a leaderless member if asked to.
    fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let principal = request
            .metadata()
            .get("x-pan-principal")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_string();
        let authorization = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("<none>")
            .to_string();
        {
            let mut seen = self.seen.lock().unwrap();
            seen.principals.push(principal);
            seen.authorizations.push(authorization);
        }
        if self.unavailable {
            return Err(Status::unavailable(
                "No leader is elected yet; retry in a few seconds.",
            ));
        }
        Ok(())
    }
}

/// The bearer token, as the manager checks it: `Unauthenticated` when
/// missing, malformed or expired.
fn bearer<T>(request: &Request<T>) -> Result<String, Status> {
    let Some(value) = request.metadata().get("authorization") else {
        return Err(Status::unauthenticated(
            "no bearer token: send `authorization: Bearer pan_…` metadata.",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| t.starts_with("pan_"))
        .ok_or_else(|| Status::unauthenticated("malformed authorization metadata."))?;
    if token == EXPIRED_TOKEN {
        return Err(Status::unauthenticated(
            "the token expired at 2025-06-01T12:00:00Z.",
        ));
    }
    Ok(token.to_string())
}

/// Like [`bearer`], and `PermissionDenied` for [`VIEWER_TOKEN`].
fn may_manage_principals<T>(request: &Request<T>) -> Result<(), Status> {
    if bearer(request)? == VIEWER_TOKEN {
        return Err(Status::permission_denied(
            "principal \"viewer\" (partition-viewer:acme) may not manage principals; ask a fabric-admin.",
        ));
    }
    Ok(())
}

/// A principal as the fake reports it.
pub fn principal(name: &str, roles: &[String], expires_in_s: u64) -> Principal {
    let created_at_ms = 1_748_779_200_000;
    Principal {
        name: name.into(),
        roles: roles.to_vec(),
        revoked: false,
        created_at_ms,
        expires_at_ms: if expires_in_s == 0 {
            0
        } else {
            created_at_ms + expires_in_s * 1000
        },
        token_key_id: format!("k{}", name.len()),
    }
}

/// `acme` with a quota of 10 servers and 100 GiB of volumes, using 2 and 40 GiB.
pub fn partition() -> Partition {
    Partition {
        id: 1,
        name: "acme".into(),
        description: String::new(),
        created_at_ms: 1_748_779_200_000,
        servers: 2,
        volumes: 3,
        network_id_first: 10_000,
        network_id_last: 11_023,
        networks: 1,
        quota: Some(Quota {
            max_servers: Some(10),
            max_volume_bytes: Some(100 << 30),
            ..Default::default()
        }),
        usage: Some(QuotaUsage {
            servers: 2,
            volumes: 3,
            volume_bytes: 40 << 30,
            networks: 1,
            blades: 2,
        }),
    }
}

fn nope<T>(what: &str) -> Result<Response<T>, Status> {
    Err(Status::unimplemented(format!("{what} is not faked")))
}

pub fn cluster() -> ClusterStatusReply {
    ClusterStatusReply {
        leader: 1,
        term: 3,
        members: vec![Member {
            id: 1,
            addr: "127.0.0.1:7001".into(),
            role: "voter".into(),
        }],
        answered_by: 1,
        last_log_index: 10,
        last_applied: 10,
        snapshot_index: 0,
        snapshots_installed: 0,
        state_digest: "abc123".into(),
    }
}

pub fn server() -> Server {
    Server {
        id: 1,
        name: "web-1".into(),
        partition: "acme".into(),
        identity: Some(Identity {
            uuid: "50414e00-0000-0000-0000-000000000001".into(),
            macs: vec!["02:50:41:00:00:01".into()],
            host_nqn: "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001".into(),
        }),
        identity_pool: "default".into(),
        boot_volume: String::new(),
        requirements: None,
        state: "defined".into(),
        blade: String::new(),
        generation: 0,
        created_at_ms: 1_748_779_200_000,
        last_error: String::new(),
        ..Default::default()
    }
}

/// `web-1` running on b1 with a vNIC on `front`, a data volume and the
/// agent's report.
pub fn running_server() -> Server {
    Server {
        state: "running".into(),
        blade: "b1".into(),
        generation: 2,
        boot_volume: "web-1-boot".into(),
        nics: vec![Nic {
            mac: "02:50:41:00:00:01".into(),
            network: "front".into(),
            network_id: 10_000,
        }],
        volumes: vec!["web-1-data".into()],
        agent: Some(AgentReport {
            interfaces: vec![HostInterface {
                name: "eth0".into(),
                mac: "02:50:41:00:00:01".into(),
            }],
            volumes: vec![AttachedVolume {
                name: "web-1-boot".into(),
                subsystem_nqn: "nqn.2024-01.net.pan:volume:acme:web-1-boot".into(),
                device: "/dev/nvme0n1".into(),
            }],
            token: Some(FencingToken {
                term: 3,
                generation: 2,
            }),
        }),
        ..server()
    }
}

/// A ready volume as the fake reports it.
pub fn volume(name: &str, partition: &str, size_bytes: u64, image: &str) -> Volume {
    Volume {
        id: 1,
        name: name.into(),
        partition: partition.into(),
        size_bytes,
        attached_to: String::new(),
        image: image.into(),
        state: "ready".into(),
        nqn: format!("nqn.2024-01.net.pan:volume:{partition}:{name}"),
        snapshots: vec![VolumeSnapshot {
            name: "before-upgrade".into(),
            created_at_ms: 1_748_779_200_000,
        }],
        last_error: String::new(),
    }
}

fn missing(what: &str, name: &str) -> Status {
    Status::not_found(format!(
        "{what} \"{name}\" does not exist; list them with `panctl {} list`.",
        what.to_lowercase()
    ))
}

pub fn blade(name: &str) -> Blade {
    Blade {
        id: 1,
        name: name.into(),
        bmc_url: "http://127.0.0.1:8401".into(),
        bmc_user: "root".into(),
        credential_ref: "cred-1".into(),
        state: "available".into(),
        facts: None,
        has_facts: false,
        pool: String::new(),
        server: String::new(),
        power: "off".into(),
        health: "ok".into(),
    }
}

/// Two failovers, newest first: `acme/db-1` waiting for a spare after
/// alice confirmed the fence, and `acme/web-1` done.
pub fn failovers() -> Vec<Failover> {
    vec![
        Failover {
            id: 2,
            server: "db-1".into(),
            partition: "acme".into(),
            from_blade: "b4".into(),
            to_blade: String::new(),
            phase: "awaiting_spare".into(),
            reason: "agent silent for 15 s, BMC unreachable".into(),
            error: "no available blade qualifies".into(),
            confirmed_by: "alice".into(),
            started_at_ms: 1_748_779_500_000,
            detect_ms: 15_400,
            fence_ms: 312_000,
            select_ms: 0,
            boot_ms: 0,
            total_ms: 0,
        },
        Failover {
            id: 1,
            server: "web-1".into(),
            partition: "acme".into(),
            from_blade: "b3".into(),
            to_blade: "b8".into(),
            phase: "done".into(),
            reason: "agent silent for 15 s".into(),
            error: String::new(),
            confirmed_by: String::new(),
            started_at_ms: 1_748_779_200_000,
            detect_ms: 840,
            fence_ms: 3_210,
            select_ms: 12,
            boot_ms: 46_200,
            total_ms: 50_262,
        },
    ]
}

/// Five running servers, `acme/db-1` without a spare.
pub fn coverage() -> CoverageReply {
    CoverageReply {
        servers: 5,
        uncovered: vec![UncoveredServer {
            server: "db-1".into(),
            partition: "acme".into(),
            reason: "no available blade in pool spares has >= 32 cores".into(),
        }],
    }
}

/// The records every discovery streams: enrolled, already enrolled, failed.
pub fn discovery(scheme: &str, total: u32) -> Vec<DiscoverProgress> {
    let record = |done: u32, port: u16, blade: &str, outcome: &str, error: &str| DiscoverProgress {
        total,
        done,
        bmc_url: format!("{scheme}://127.0.0.1:{port}"),
        blade: blade.into(),
        outcome: outcome.into(),
        error: error.into(),
    };
    vec![
        record(1, 8403, "blade-003", "enrolled", ""),
        record(2, 8401, "", "already_enrolled", ""),
        record(
            3,
            8402,
            "",
            "failed",
            "cannot reach the BMC: connection refused",
        ),
    ]
}

type EventStream = tokio_stream::Iter<std::vec::IntoIter<Result<Event, Status>>>;
type DiscoverStream = tokio_stream::Iter<std::vec::IntoIter<Result<DiscoverProgress, Status>>>;

#[tonic::async_trait]
impl Fabric for Service {
    async fn cluster_status(
        &self,
        request: Request<ClusterStatusRequest>,
    ) -> Result<Response<ClusterStatusReply>, Status> {
        self.check(&request)?;
        Ok(Response::new(cluster()))
    }

    async fn add_member(
        &self,
        request: Request<AddMemberRequest>,
    ) -> Result<Response<ClusterStatusReply>, Status> {
        self.check(&request)?;
        nope("add_member")
    }

    async fn remove_member(
        &self,
        request: Request<RemoveMemberRequest>,
    ) -> Result<Response<ClusterStatusReply>, Status> {
        self.check(&request)?;
        nope("remove_member")
    }

    async fn create_partition(
        &self,
        request: Request<CreatePartitionRequest>,
    ) -> Result<Response<Partition>, Status> {
        self.check(&request)?;
        self.seen
            .lock()
            .unwrap()
            .partition_creates
            .push(request.get_ref().clone());
        Err(Status::already_exists(format!(
            "Partition \"{}\" already exists; pick another name.",
            request.get_ref().name
        )))
    }

    async fn list_partitions(
        &self,
        request: Request<ListPartitionsRequest>,
    ) -> Result<Response<ListPartitionsReply>, Status> {
        self.check(&request)?;
        Ok(Response::new(ListPartitionsReply {
            partitions: vec![partition()],
        }))
    }

    async fn delete_partition(
        &self,
        request: Request<DeletePartitionRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        Ok(Response::new(DeleteReply {}))
    }

    async fn create_pool(
        &self,
        request: Request<CreatePoolRequest>,
    ) -> Result<Response<Pool>, Status> {
        self.check(&request)?;
        nope("create_pool")
    }

    async fn list_pools(
        &self,
        request: Request<ListPoolsRequest>,
    ) -> Result<Response<ListPoolsReply>, Status> {
        self.check(&request)?;
        nope("list_pools")
    }

    async fn delete_pool(
        &self,
        request: Request<DeletePoolRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        nope("delete_pool")
    }

    async fn create_identity_pool(
        &self,
        request: Request<CreateIdentityPoolRequest>,
    ) -> Result<Response<IdentityPool>, Status> {
        self.check(&request)?;
        nope("create_identity_pool")
    }

    async fn list_identity_pools(
        &self,
        request: Request<ListIdentityPoolsRequest>,
    ) -> Result<Response<ListIdentityPoolsReply>, Status> {
        self.check(&request)?;
        nope("list_identity_pools")
    }

    async fn delete_identity_pool(
        &self,
        request: Request<DeleteIdentityPoolRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        nope("delete_identity_pool")
    }

    async fn add_blade(
        &self,
        request: Request<AddBladeRequest>,
    ) -> Result<Response<Blade>, Status> {
        self.check(&request)?;
        let request = request.into_inner();
        let mut seen = self.seen.lock().unwrap();
        seen.passwords.push(request.bmc_password.clone());
        seen.blade_adds.push(request.clone());
        Ok(Response::new(Blade {
            id: 1,
            name: request.name,
            bmc_url: request.bmc_url,
            bmc_user: request.bmc_user,
            credential_ref: "cred-1".into(),
            state: "discovered".into(),
            facts: None,
            has_facts: false,
            pool: request.pool,
            server: String::new(),
            power: "unknown".into(),
            health: "unknown".into(),
        }))
    }

    type DiscoverBladesStream = DiscoverStream;

    async fn discover_blades(
        &self,
        request: Request<DiscoverBladesRequest>,
    ) -> Result<Response<Self::DiscoverBladesStream>, Status> {
        self.check(&request)?;
        let request = request.into_inner();
        {
            let mut seen = self.seen.lock().unwrap();
            seen.passwords.push(request.bmc_password.clone());
            seen.discoveries.push(request.clone());
        }
        let total = match request.bmc_range.as_str() {
            BACKWARDS_RANGE => {
                return Err(Status::invalid_argument(format!(
                    "BMC range \"{BACKWARDS_RANGE}\" is backwards: the first port is above the last."
                )));
            }
            CUT_RANGE => 4,
            _ => 3,
        };
        let records = discovery(&request.scheme, total).into_iter().map(Ok);
        Ok(Response::new(tokio_stream::iter(
            records.collect::<Vec<_>>(),
        )))
    }

    async fn blade_power(
        &self,
        request: Request<BladePowerRequest>,
    ) -> Result<Response<Blade>, Status> {
        self.check(&request)?;
        let request = request.into_inner();
        self.seen.lock().unwrap().power.push(request.clone());
        let power = if request.action == "off" { "off" } else { "on" };
        Ok(Response::new(Blade {
            power: power.into(),
            ..blade(&request.name)
        }))
    }

    async fn list_blades(
        &self,
        request: Request<ListBladesRequest>,
    ) -> Result<Response<ListBladesReply>, Status> {
        self.check(&request)?;
        nope("list_blades")
    }

    async fn get_blade(
        &self,
        request: Request<GetBladeRequest>,
    ) -> Result<Response<Blade>, Status> {
        self.check(&request)?;
        nope("get_blade")
    }

    async fn remove_blade(
        &self,
        request: Request<RemoveBladeRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        nope("remove_blade")
    }

    async fn create_server(
        &self,
        request: Request<CreateServerRequest>,
    ) -> Result<Response<Server>, Status> {
        self.check(&request)?;
        let request = request.into_inner();
        self.seen
            .lock()
            .unwrap()
            .server_creates
            .push(request.clone());
        let macs: Vec<String> = (1..=request.nics)
            .map(|n| format!("02:50:41:00:00:{n:02x}"))
            .collect();
        let nics = macs
            .iter()
            .enumerate()
            .map(|(i, mac)| Nic {
                mac: mac.clone(),
                network: request.networks.get(i).cloned().unwrap_or_default(),
                network_id: request.networks.get(i).map_or(0, |_| 10_000 + i as u32),
            })
            .collect();
        let base = server();
        Ok(Response::new(Server {
            name: request.name,
            partition: request.partition,
            identity: base.identity.map(|i| Identity { macs, ..i }),
            boot_volume: request.boot_volume,
            nics,
            volumes: request.volumes,
            priority: request.priority,
            failover_pool: request.failover_pool,
            ..server()
        }))
    }

    async fn list_servers(
        &self,
        request: Request<ListServersRequest>,
    ) -> Result<Response<ListServersReply>, Status> {
        self.check(&request)?;
        Ok(Response::new(ListServersReply {
            servers: vec![server()],
        }))
    }

    async fn get_server(
        &self,
        request: Request<GetServerRequest>,
    ) -> Result<Response<Server>, Status> {
        self.check(&request)?;
        let r = request.get_ref();
        if r.name == "web-1" {
            return Ok(Response::new(running_server()));
        }
        Err(Status::not_found(format!(
            "Server \"{}\" does not exist in partition \"{}\"; list servers with `panctl server list --partition {}`.",
            r.name, r.partition, r.partition
        )))
    }

    async fn delete_server(
        &self,
        request: Request<DeleteServerRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        nope("delete_server")
    }

    async fn start_server(
        &self,
        request: Request<StartServerRequest>,
    ) -> Result<Response<Server>, Status> {
        self.check(&request)?;
        let request = request.into_inner();
        self.seen.lock().unwrap().starts.push(request.clone());
        let blade = if request.blade.is_empty() {
            "b1".to_string()
        } else {
            request.blade
        };
        Ok(Response::new(Server {
            state: if request.no_wait {
                "starting"
            } else {
                "running"
            }
            .into(),
            blade,
            generation: 1,
            ..server()
        }))
    }

    async fn stop_server(
        &self,
        request: Request<StopServerRequest>,
    ) -> Result<Response<Server>, Status> {
        self.check(&request)?;
        let request = request.into_inner();
        self.seen.lock().unwrap().stops.push(request.clone());
        Ok(Response::new(Server {
            state: "defined".into(),
            generation: 1,
            last_error: "blade b1 did not power off gracefully; forced it off".into(),
            ..server()
        }))
    }

    async fn create_volume(
        &self,
        request: Request<CreateVolumeRequest>,
    ) -> Result<Response<Volume>, Status> {
        self.check(&request)?;
        let request = request.into_inner();
        {
            let mut seen = self.seen.lock().unwrap();
            seen.volume_sizes.push(request.size_bytes);
            seen.volume_creates.push(request.clone());
        }
        // With an image and no size, the clone is as large as the image.
        let size = if request.size_bytes == 0 {
            2 << 30
        } else {
            request.size_bytes
        };
        Ok(Response::new(Volume {
            snapshots: vec![],
            ..volume(&request.name, &request.partition, size, &request.image)
        }))
    }

    async fn get_volume(
        &self,
        request: Request<GetVolumeRequest>,
    ) -> Result<Response<Volume>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        if r.name == MISSING {
            return Err(missing("Volume", &r.name));
        }
        Ok(Response::new(volume(
            &r.name,
            &r.partition,
            20 << 30,
            "debian-12",
        )))
    }

    async fn resize_volume(
        &self,
        request: Request<ResizeVolumeRequest>,
    ) -> Result<Response<Volume>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().volume_changes.push(format!(
            "resize {}/{} {} {}",
            r.partition, r.name, r.size_bytes, r.timeout_s
        ));
        Ok(Response::new(volume(
            &r.name,
            &r.partition,
            r.size_bytes,
            "",
        )))
    }

    async fn snapshot_volume(
        &self,
        request: Request<SnapshotVolumeRequest>,
    ) -> Result<Response<Volume>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().volume_changes.push(format!(
            "snapshot {}/{} {} {}",
            r.partition, r.name, r.snapshot, r.timeout_s
        ));
        let mut v = volume(&r.name, &r.partition, 20 << 30, "");
        v.snapshots.push(VolumeSnapshot {
            name: r.snapshot,
            created_at_ms: 1_748_782_800_000,
        });
        Ok(Response::new(v))
    }

    async fn restore_volume(
        &self,
        request: Request<RestoreVolumeRequest>,
    ) -> Result<Response<Volume>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().volume_changes.push(format!(
            "restore {}/{} {} {}",
            r.partition, r.name, r.snapshot, r.timeout_s
        ));
        Ok(Response::new(volume(&r.name, &r.partition, 20 << 30, "")))
    }

    async fn delete_snapshot(
        &self,
        request: Request<DeleteSnapshotRequest>,
    ) -> Result<Response<Volume>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().volume_changes.push(format!(
            "delete-snapshot {}/{} {} {}",
            r.partition, r.name, r.snapshot, r.timeout_s
        ));
        Ok(Response::new(Volume {
            snapshots: vec![],
            ..volume(&r.name, &r.partition, 20 << 30, "")
        }))
    }

    async fn add_image(
        &self,
        request: Request<AddImageRequest>,
    ) -> Result<Response<Image>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().image_adds.push(r.clone());
        Ok(Response::new(Image {
            id: 1,
            name: r.name,
            size_bytes: if r.size_bytes == 0 {
                2 << 30
            } else {
                r.size_bytes
            },
            state: "ready".into(),
            volumes: 0,
            last_error: String::new(),
        }))
    }

    async fn list_images(
        &self,
        request: Request<ListImagesRequest>,
    ) -> Result<Response<ListImagesReply>, Status> {
        self.check(&request)?;
        Ok(Response::new(ListImagesReply {
            images: vec![Image {
                id: 1,
                name: "debian-12".into(),
                size_bytes: 2 << 30,
                state: "ready".into(),
                volumes: 3,
                last_error: String::new(),
            }],
        }))
    }

    async fn delete_image(
        &self,
        request: Request<DeleteImageRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        if r.name == MISSING {
            return Err(missing("Image", &r.name));
        }
        self.seen.lock().unwrap().image_deletes.push(r);
        Ok(Response::new(DeleteReply {}))
    }

    async fn create_network(
        &self,
        request: Request<CreateNetworkRequest>,
    ) -> Result<Response<Network>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().network_creates.push(r.clone());
        Ok(Response::new(Network {
            id: 1,
            name: r.name,
            partition: r.partition,
            network_id: if r.network_id == 0 {
                10_000
            } else {
                r.network_id
            },
            servers: vec![],
        }))
    }

    async fn list_networks(
        &self,
        request: Request<ListNetworksRequest>,
    ) -> Result<Response<ListNetworksReply>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().network_lists.push(r);
        Ok(Response::new(ListNetworksReply {
            networks: vec![Network {
                id: 1,
                name: "front".into(),
                partition: "acme".into(),
                network_id: 10_000,
                servers: vec!["acme/web-1".into()],
            }],
        }))
    }

    async fn delete_network(
        &self,
        request: Request<DeleteNetworkRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().network_deletes.push(r);
        Ok(Response::new(DeleteReply {}))
    }

    async fn list_volumes(
        &self,
        request: Request<ListVolumesRequest>,
    ) -> Result<Response<ListVolumesReply>, Status> {
        self.check(&request)?;
        let partition = request.into_inner().partition;
        let volumes = [
            volume("web-1-boot", "acme", 20 << 30, "debian-12"),
            volume("scratch", "globex", 512 << 20, ""),
        ]
        .into_iter()
        .filter(|v| partition.is_empty() || v.partition == partition)
        .collect();
        Ok(Response::new(ListVolumesReply { volumes }))
    }

    async fn delete_volume(
        &self,
        request: Request<DeleteVolumeRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        if r.name == MISSING {
            return Err(missing("Volume", &r.name));
        }
        self.seen
            .lock()
            .unwrap()
            .volume_changes
            .push(format!("delete {}/{} {}", r.partition, r.name, r.timeout_s));
        Ok(Response::new(DeleteReply {}))
    }

    async fn list_audit(
        &self,
        request: Request<ListAuditRequest>,
    ) -> Result<Response<ListAuditReply>, Status> {
        self.check(&request)?;
        nope("list_audit")
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        request: Request<WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        self.check(&request)?;
        let events = (1..=3)
            .map(|index| {
                Ok(Event {
                    index,
                    at_ms: 1_748_779_200_000 + index,
                    kind: "server.created".into(),
                    object: format!("server/acme/web-{index}"),
                    partition: "acme".into(),
                })
            })
            .collect::<Vec<_>>();
        Ok(Response::new(tokio_stream::iter(events)))
    }

    async fn create_principal(
        &self,
        request: Request<CreatePrincipalRequest>,
    ) -> Result<Response<PrincipalToken>, Status> {
        self.check(&request)?;
        may_manage_principals(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().principal_creates.push(r.clone());
        Ok(Response::new(PrincipalToken {
            principal: Some(principal(&r.name, &r.roles, r.expires_in_s)),
            token: format!("pan_k{}_{}-secret", r.name.len(), r.name),
        }))
    }

    async fn list_principals(
        &self,
        request: Request<ListPrincipalsRequest>,
    ) -> Result<Response<ListPrincipalsReply>, Status> {
        self.check(&request)?;
        may_manage_principals(&request)?;
        Ok(Response::new(ListPrincipalsReply {
            principals: vec![
                principal("admin", &["fabric-admin".into()], 0),
                Principal {
                    revoked: true,
                    ..principal("ci", &["partition-admin:acme".into()], 86_400)
                },
            ],
        }))
    }

    async fn revoke_principal(
        &self,
        request: Request<RevokePrincipalRequest>,
    ) -> Result<Response<Principal>, Status> {
        self.check(&request)?;
        may_manage_principals(&request)?;
        let r = request.into_inner();
        if r.name == MISSING {
            return Err(missing("Principal", &r.name));
        }
        self.seen
            .lock()
            .unwrap()
            .principal_changes
            .push(format!("revoke {}", r.name));
        Ok(Response::new(Principal {
            revoked: true,
            ..principal(&r.name, &["operator".into()], 0)
        }))
    }

    async fn rotate_principal(
        &self,
        request: Request<RotatePrincipalRequest>,
    ) -> Result<Response<PrincipalToken>, Status> {
        self.check(&request)?;
        may_manage_principals(&request)?;
        let r = request.into_inner();
        self.seen
            .lock()
            .unwrap()
            .principal_rotations
            .push(r.clone());
        Ok(Response::new(PrincipalToken {
            principal: Some(principal(&r.name, &["operator".into()], r.expires_in_s)),
            token: format!("pan_k{}_{}-rotated", r.name.len(), r.name),
        }))
    }

    async fn delete_principal(
        &self,
        request: Request<DeletePrincipalRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        may_manage_principals(&request)?;
        let r = request.into_inner();
        if r.name == MISSING {
            return Err(missing("Principal", &r.name));
        }
        self.seen
            .lock()
            .unwrap()
            .principal_changes
            .push(format!("delete {}", r.name));
        Ok(Response::new(DeleteReply {}))
    }

    async fn who_am_i(
        &self,
        request: Request<WhoAmIRequest>,
    ) -> Result<Response<Principal>, Status> {
        self.check(&request)?;
        let token = bearer(&request)?;
        let roles = if token == VIEWER_TOKEN {
            vec!["partition-viewer:acme".to_string()]
        } else {
            vec!["fabric-admin".to_string()]
        };
        Ok(Response::new(principal("me", &roles, 0)))
    }

    async fn set_quota(
        &self,
        request: Request<SetQuotaRequest>,
    ) -> Result<Response<Partition>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        if r.partition != "acme" {
            return Err(missing("Partition", &r.partition));
        }
        self.seen.lock().unwrap().quotas.push(r.clone());
        Ok(Response::new(Partition {
            quota: r.quota,
            ..partition()
        }))
    }

    async fn confirm_fenced(
        &self,
        request: Request<ConfirmFencedRequest>,
    ) -> Result<Response<Blade>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        if r.blade == MISSING {
            return Err(missing("Blade", &r.blade));
        }
        self.seen
            .lock()
            .unwrap()
            .blade_changes
            .push(format!("confirm-fenced {}", r.blade));
        Ok(Response::new(Blade {
            state: "fenced".into(),
            power: "unknown".into(),
            health: "critical".into(),
            ..blade(&r.blade)
        }))
    }

    async fn repair_blade(
        &self,
        request: Request<RepairBladeRequest>,
    ) -> Result<Response<Blade>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        if r.blade == MISSING {
            return Err(missing("Blade", &r.blade));
        }
        self.seen
            .lock()
            .unwrap()
            .blade_changes
            .push(format!("repair {}", r.blade));
        Ok(Response::new(blade(&r.blade)))
    }

    async fn drain_blade(
        &self,
        request: Request<DrainBladeRequest>,
    ) -> Result<Response<Blade>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        if r.blade == MISSING {
            return Err(missing("Blade", &r.blade));
        }
        {
            let mut seen = self.seen.lock().unwrap();
            seen.blade_changes.push(format!("drain {}", r.blade));
            seen.drains.push(r.clone());
        }
        Ok(Response::new(Blade {
            state: "maintenance".into(),
            ..blade(&r.blade)
        }))
    }

    async fn move_server(
        &self,
        request: Request<MoveServerRequest>,
    ) -> Result<Response<Server>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().moves.push(r.clone());
        if r.name != "web-1" {
            return Err(Status::failed_precondition(format!(
                "Server \"{}\" in partition \"{}\" is not running; only a running server can be moved (start it with `panctl server start`).",
                r.name, r.partition
            )));
        }
        let blade = if r.to_blade.is_empty() {
            "b2".to_string()
        } else {
            r.to_blade
        };
        Ok(Response::new(Server {
            blade,
            generation: 3,
            ..running_server()
        }))
    }

    async fn list_failovers(
        &self,
        request: Request<ListFailoversRequest>,
    ) -> Result<Response<ListFailoversReply>, Status> {
        self.check(&request)?;
        let r = request.into_inner();
        self.seen.lock().unwrap().failover_lists.push(r);
        let mut failovers = failovers();
        if r.limit > 0 {
            failovers.truncate(r.limit as usize);
        }
        Ok(Response::new(ListFailoversReply { failovers }))
    }

    async fn coverage(
        &self,
        request: Request<CoverageRequest>,
    ) -> Result<Response<CoverageReply>, Status> {
        self.check(&request)?;
        self.seen.lock().unwrap().coverage_checks += 1;
        Ok(Response::new(self.coverage.lock().unwrap().clone()))
    }
}
