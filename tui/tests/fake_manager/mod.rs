//! A fake fabric manager for end-to-end tests of the `panctl` binary: it
//! serves canned replies on a loopback port and records what it received
//! (principal metadata, BMC passwords, the requests of the hardware calls).
//! With `unavailable` set it answers every call `Unavailable`, like a member
//! without a leader.
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

/// What the fake saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub principals: Vec<String>,
    pub passwords: Vec<String>,
    pub volume_sizes: Vec<u64>,
    pub blade_adds: Vec<AddBladeRequest>,
    pub discoveries: Vec<DiscoverBladesRequest>,
    pub power: Vec<BladePowerRequest>,
    pub starts: Vec<StartServerRequest>,
    pub stops: Vec<StopServerRequest>,
}

/// A running fake manager.
pub struct FakeManager {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Seen>>,
}

impl FakeManager {
    /// Starts a fake on 127.0.0.1 with a free port.
    pub async fn start(unavailable: bool) -> FakeManager {
        let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = incoming.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let service = Service {
            seen: seen.clone(),
            unavailable,
        };
        tokio::spawn(
            GrpcServer::builder()
                .add_service(FabricServer::new(service))
                .serve_with_incoming(incoming),
        );
        FakeManager { addr, seen }
    }
}

struct Service {
    seen: Arc<Mutex<Seen>>,
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
        self.seen.lock().unwrap().principals.push(principal);
        if self.unavailable {
            return Err(Status::unavailable(
                "No leader is elected yet; retry in a few seconds.",
            ));
        }
        Ok(())
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
    }
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
        Ok(Response::new(ListPartitionsReply { partitions: vec![] }))
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
        nope("create_server")
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
        self.seen
            .lock()
            .unwrap()
            .volume_sizes
            .push(request.size_bytes);
        Ok(Response::new(Volume {
            id: 1,
            name: request.name,
            partition: request.partition,
            size_bytes: request.size_bytes,
            attached_to: String::new(),
        }))
    }

    async fn list_volumes(
        &self,
        request: Request<ListVolumesRequest>,
    ) -> Result<Response<ListVolumesReply>, Status> {
        self.check(&request)?;
        nope("list_volumes")
    }

    async fn delete_volume(
        &self,
        request: Request<DeleteVolumeRequest>,
    ) -> Result<Response<DeleteReply>, Status> {
        self.check(&request)?;
        nope("delete_volume")
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
}
