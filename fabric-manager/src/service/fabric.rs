//! The public `pan.v1.Fabric` service.
//!
//! Handlers are thin: turn a request into a [`Command`] (writes) or a
//! linearized read of the state machine (reads), and turn the outcome into
//! the wire type. Validation and its error messages live in the state
//! machine; status codes come from [`crate::error::Error`].

use super::convert::{opt, qualification_from};
use crate::error::Error;
use crate::node::Node;
use crate::state::{BladeFacts, Command, Outcome, Secret, State, StateError, identity::Mac};
use futures::Stream;
use pan_api::v1 as pb;
use pan_api::v1::fabric_server::Fabric;
use std::pin::Pin;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tonic::{Request, Response, Status};

/// Metadata key naming the caller until tokens arrive (tenant-partitions issue).
pub const PRINCIPAL_HEADER: &str = "x-pan-principal";
/// Principal recorded when a caller names none.
pub const ANONYMOUS: &str = "anonymous";
/// Default and largest page of audit records.
const AUDIT_DEFAULT: usize = 100;
const AUDIT_MAX: usize = 10_000;

/// Serves the public API of one [`Node`].
pub struct FabricService {
    node: Node,
}

impl FabricService {
    pub fn new(node: Node) -> Self {
        FabricService { node }
    }

    async fn write(&self, principal: String, command: Command) -> Result<Outcome, Status> {
        Ok(self.node.propose(&principal, command).await?)
    }

    async fn read<T>(&self, f: impl FnOnce(&State) -> Result<T, StateError>) -> Result<T, Status> {
        self.node.linearize().await?;
        Ok(self.node.state_machine().read(f).map_err(Error::Refused)?)
    }
}

/// Who is calling, from request metadata.
fn principal<T>(req: &Request<T>) -> Result<String, Status> {
    let Some(value) = req.metadata().get(PRINCIPAL_HEADER) else {
        return Ok(ANONYMOUS.to_string());
    };
    let name = value.to_str().map_err(|_| {
        Status::invalid_argument(format!(
            "metadata {PRINCIPAL_HEADER} is not printable ASCII"
        ))
    })?;
    if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control()) {
        return Err(Status::invalid_argument(format!(
            "metadata {PRINCIPAL_HEADER} must be 1 to 64 printable characters"
        )));
    }
    Ok(name.to_string())
}

fn unexpected(outcome: &Outcome) -> Status {
    Status::internal(format!(
        "the state machine returned an unexpected outcome ({outcome:?}); this is a bug in PAN"
    ))
}

macro_rules! expect_outcome {
    ($outcome:expr, $variant:ident) => {
        match $outcome {
            Outcome::$variant(v) => Ok(Response::new(v.into())),
            other => Err(unexpected(&other)),
        }
    };
}

fn deleted(outcome: Outcome) -> Result<Response<pb::DeleteReply>, Status> {
    match outcome {
        Outcome::Deleted => Ok(Response::new(pb::DeleteReply {})),
        other => Err(unexpected(&other)),
    }
}

fn facts_from(object: &str, f: pb::BladeFacts) -> Result<BladeFacts, Status> {
    let macs = f
        .macs
        .iter()
        .map(|m| Mac::parse(m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Status::invalid_argument(format!("invalid MAC in the facts of {object}: {e}"))
        })?;
    Ok(BladeFacts {
        model: f.model,
        cores: f.cores,
        memory_gib: f.memory_gib,
        macs,
        uuid: f.uuid,
    })
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl Fabric for FabricService {
    async fn cluster_status(
        &self,
        _req: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        Ok(Response::new(self.node.cluster_status()))
    }

    async fn add_member(
        &self,
        req: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        let pb::AddMemberRequest { id, addr } = req.into_inner();
        self.node.add_member(id, addr).await?;
        Ok(Response::new(self.node.cluster_status()))
    }

    async fn remove_member(
        &self,
        req: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        self.node.remove_member(req.into_inner().id).await?;
        Ok(Response::new(self.node.cluster_status()))
    }

    async fn create_partition(
        &self,
        req: Request<pb::CreatePartitionRequest>,
    ) -> Result<Response<pb::Partition>, Status> {
        let principal = principal(&req)?;
        let r = req.into_inner();
        let command = Command::CreatePartition {
            name: r.name,
            description: r.description,
        };
        expect_outcome!(self.write(principal, command).await?, Partition)
    }

    async fn list_partitions(
        &self,
        _req: Request<pb::ListPartitionsRequest>,
    ) -> Result<Response<pb::ListPartitionsReply>, Status> {
        let partitions = self.read(|s| Ok(s.partitions())).await?;
        Ok(Response::new(pb::ListPartitionsReply {
            partitions: partitions.into_iter().map(Into::into).collect(),
        }))
    }

    async fn delete_partition(
        &self,
        req: Request<pb::DeletePartitionRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let principal = principal(&req)?;
        let command = Command::DeletePartition {
            name: req.into_inner().name,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn create_pool(
        &self,
        req: Request<pb::CreatePoolRequest>,
    ) -> Result<Response<pb::Pool>, Status> {
        let principal = principal(&req)?;
        let r = req.into_inner();
        let command = Command::CreatePool {
            name: r.name,
            qualification: qualification_from(r.qualification),
        };
        expect_outcome!(self.write(principal, command).await?, Pool)
    }

    async fn list_pools(
        &self,
        _req: Request<pb::ListPoolsRequest>,
    ) -> Result<Response<pb::ListPoolsReply>, Status> {
        let pools = self.read(|s| Ok(s.pools())).await?;
        Ok(Response::new(pb::ListPoolsReply {
            pools: pools.into_iter().map(Into::into).collect(),
        }))
    }

    async fn delete_pool(
        &self,
        req: Request<pb::DeletePoolRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let principal = principal(&req)?;
        let command = Command::DeletePool {
            name: req.into_inner().name,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn create_identity_pool(
        &self,
        req: Request<pb::CreateIdentityPoolRequest>,
    ) -> Result<Response<pb::IdentityPool>, Status> {
        let principal = principal(&req)?;
        let r = req.into_inner();
        let command = Command::CreateIdentityPool {
            name: r.name,
            mac_first: r.mac_first,
            mac_last: r.mac_last,
            uuid_prefix: r.uuid_prefix,
        };
        expect_outcome!(self.write(principal, command).await?, IdentityPool)
    }

    async fn list_identity_pools(
        &self,
        _req: Request<pb::ListIdentityPoolsRequest>,
    ) -> Result<Response<pb::ListIdentityPoolsReply>, Status> {
        let pools = self.read(|s| Ok(s.identity_pools())).await?;
        Ok(Response::new(pb::ListIdentityPoolsReply {
            pools: pools.into_iter().map(Into::into).collect(),
        }))
    }

    async fn delete_identity_pool(
        &self,
        req: Request<pb::DeleteIdentityPoolRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let principal = principal(&req)?;
        let command = Command::DeleteIdentityPool {
            name: req.into_inner().name,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn add_blade(
        &self,
        req: Request<pb::AddBladeRequest>,
    ) -> Result<Response<pb::Blade>, Status> {
        let principal = principal(&req)?;
        let r = req.into_inner();
        let facts = r
            .facts
            .map(|f| facts_from(&format!("blade '{}'", r.name), f))
            .transpose()?;
        let command = Command::AddBlade {
            name: r.name,
            bmc_url: r.bmc_url,
            bmc_user: r.bmc_user,
            bmc_password: Secret(r.bmc_password),
            facts,
            pool: opt(&r.pool).map(str::to_string),
        };
        expect_outcome!(self.write(principal, command).await?, Blade)
    }

    async fn list_blades(
        &self,
        req: Request<pb::ListBladesRequest>,
    ) -> Result<Response<pb::ListBladesReply>, Status> {
        let r = req.into_inner();
        let blades = self.read(|s| s.blades(opt(&r.pool))).await?;
        Ok(Response::new(pb::ListBladesReply {
            blades: blades.into_iter().map(Into::into).collect(),
        }))
    }

    async fn get_blade(
        &self,
        req: Request<pb::GetBladeRequest>,
    ) -> Result<Response<pb::Blade>, Status> {
        let r = req.into_inner();
        let blade = self.read(|s| s.blade(&r.name)).await?;
        Ok(Response::new(blade.into()))
    }

    async fn remove_blade(
        &self,
        req: Request<pb::RemoveBladeRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let principal = principal(&req)?;
        let command = Command::RemoveBlade {
            name: req.into_inner().name,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn create_server(
        &self,
        req: Request<pb::CreateServerRequest>,
    ) -> Result<Response<pb::Server>, Status> {
        let principal = principal(&req)?;
        let r = req.into_inner();
        let command = Command::CreateServer {
            name: r.name,
            partition: r.partition,
            nics: r.nics,
            identity_pool: opt(&r.identity_pool).map(str::to_string),
            boot_volume: opt(&r.boot_volume).map(str::to_string),
            requirements: qualification_from(r.requirements),
        };
        expect_outcome!(self.write(principal, command).await?, Server)
    }

    async fn list_servers(
        &self,
        req: Request<pb::ListServersRequest>,
    ) -> Result<Response<pb::ListServersReply>, Status> {
        let r = req.into_inner();
        let servers = self.read(|s| s.servers(opt(&r.partition))).await?;
        Ok(Response::new(pb::ListServersReply {
            servers: servers.into_iter().map(Into::into).collect(),
        }))
    }

    async fn get_server(
        &self,
        req: Request<pb::GetServerRequest>,
    ) -> Result<Response<pb::Server>, Status> {
        let r = req.into_inner();
        let server = self.read(|s| s.server(&r.partition, &r.name)).await?;
        Ok(Response::new(server.into()))
    }

    async fn delete_server(
        &self,
        req: Request<pb::DeleteServerRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let principal = principal(&req)?;
        let r = req.into_inner();
        let command = Command::DeleteServer {
            name: r.name,
            partition: r.partition,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn create_volume(
        &self,
        req: Request<pb::CreateVolumeRequest>,
    ) -> Result<Response<pb::Volume>, Status> {
        let principal = principal(&req)?;
        let r = req.into_inner();
        let command = Command::CreateVolume {
            name: r.name,
            partition: r.partition,
            size_bytes: r.size_bytes,
        };
        expect_outcome!(self.write(principal, command).await?, Volume)
    }

    async fn list_volumes(
        &self,
        req: Request<pb::ListVolumesRequest>,
    ) -> Result<Response<pb::ListVolumesReply>, Status> {
        let r = req.into_inner();
        let volumes = self.read(|s| s.volumes(opt(&r.partition))).await?;
        Ok(Response::new(pb::ListVolumesReply {
            volumes: volumes.into_iter().map(Into::into).collect(),
        }))
    }

    async fn delete_volume(
        &self,
        req: Request<pb::DeleteVolumeRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let principal = principal(&req)?;
        let r = req.into_inner();
        let command = Command::DeleteVolume {
            name: r.name,
            partition: r.partition,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn list_audit(
        &self,
        req: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditReply>, Status> {
        let limit = match req.into_inner().limit as usize {
            0 => AUDIT_DEFAULT,
            n => n.min(AUDIT_MAX),
        };
        let records = self.read(|s| Ok(s.audit(limit))).await?;
        Ok(Response::new(pb::ListAuditReply {
            records: records.into_iter().map(Into::into).collect(),
        }))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        _req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let rx = self.node.state_machine().subscribe();
        let stream = BroadcastStream::new(rx).map(|item| match item {
            Ok(event) => Ok(pb::Event::from(event)),
            Err(BroadcastStreamRecvError::Lagged(n)) => Err(Status::resource_exhausted(format!(
                "this event stream fell {n} events behind and was cut; \
                 reconnect and re-list the objects you track"
            ))),
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
