//! The public `pan.v1.Fabric` service.
//!
//! Handlers are thin: turn a request into a [`Command`] (writes) or a
//! linearized read of the state machine (reads), and turn the outcome into
//! the wire type. Validation and its error messages live in the state
//! machine; status codes come from [`crate::error::Error`].

use super::auth;
use super::convert::{opt, qualification_from};
use super::hardware::{
    self, blade_name, bmc_status, expand_range, facts_from_inventory, read_inventory,
};
use super::principals;
use super::storage;
use crate::agent::AgentRegistry;
use crate::bmc::{Bmc as _, ResetType};
use crate::controller::bmcs::BmcPool;
use crate::error::Error;
use crate::node::Node;
use crate::state::{BladeFacts, Command, Outcome, Secret, State, StateError, identity::Mac};
use crate::state::{PowerAction, ServerState};
use futures::Stream;
use pan_api::v1 as pb;
use pan_api::v1::fabric_server::Fabric;
use std::pin::Pin;
use std::time::Duration;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tonic::{Request, Response, Status};

/// Default and largest page of audit records.
const AUDIT_DEFAULT: usize = 100;
const AUDIT_MAX: usize = 10_000;

/// How long `server start` waits by default (boot plus agent report).
const START_WAIT: Duration = Duration::from_secs(180);
/// The wait a request asked for (seconds; 0: `default`).
fn wait_or(timeout_s: u32, default: Duration) -> Duration {
    match timeout_s {
        0 => default,
        s => Duration::from_secs(u64::from(s)),
    }
}

/// How long `server stop` waits by default.
const STOP_WAIT: Duration = Duration::from_secs(120);
/// Enrolments discovery runs at once.
const DISCOVER_PARALLEL: usize = 64;

/// Serves the public API of one [`Node`].
pub struct FabricService {
    node: Node,
    bmcs: BmcPool,
    /// Agent streams (on the leader): what agents report applying.
    agents: AgentRegistry,
    /// Becomes true when the server shuts down: event watches end then.
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl FabricService {
    /// Records a volume operation and waits until the storage executor has
    /// carried it out.
    async fn volume_work(
        &self,
        principal: String,
        command: Command,
        partition: &str,
        name: &str,
        timeout_s: u32,
    ) -> Result<Response<pb::Volume>, Status> {
        let Outcome::Volume(view) = self.write(principal, command).await? else {
            return Err(Status::internal(
                "a volume command returned no volume; this is a bug in PAN",
            ));
        };
        match storage::wait_volume(
            &self.node,
            partition,
            name,
            view.id,
            storage::wait_for(timeout_s),
        )
        .await?
        {
            Some(volume) => Ok(Response::new(volume.into())),
            None => Err(Status::not_found(format!(
                "volume '{name}' in partition '{partition}' was deleted while the operation ran"
            ))),
        }
    }

    /// Places a server (on `blade`, or where the planner chooses) and, with
    /// a timeout, waits until its agent reports the identity applied.
    async fn start_and_wait(
        &self,
        principal: &str,
        partition: &str,
        name: &str,
        blade: Option<String>,
        wait: Option<Duration>,
    ) -> Result<crate::state::ServerView, Status> {
        let placed = match self
            .write(
                principal.to_string(),
                Command::StartServer {
                    name: name.to_string(),
                    partition: partition.to_string(),
                    blade,
                },
            )
            .await?
        {
            Outcome::Server(v) => v,
            other => return Err(unexpected(&other)),
        };
        let Some(timeout) = wait else {
            return Ok(placed);
        };
        let generation = placed.generation;
        hardware::wait_server(&self.node, partition, name, timeout, |v| {
            if v.generation < generation {
                return None; // this member has not applied the start yet
            }
            if v.generation > generation {
                return Some(Err(format!(
                    "server '{}' was placed again (generation {}) while starting",
                    v.name, v.generation
                )));
            }
            match v.state.as_str() {
                "running" => Some(Ok(())),
                "failed" => Some(Err(format!(
                    "server '{}' in partition '{}' failed to start on blade {}: {}",
                    v.name,
                    v.partition,
                    placed.blade.as_deref().unwrap_or("?"),
                    v.last_error.as_deref().unwrap_or("no reason recorded")
                ))),
                _ => None,
            }
        })
        .await
    }

    /// Stops a server and, with a timeout, waits until its blade is off
    /// and free.
    async fn stop_and_wait(
        &self,
        principal: &str,
        partition: &str,
        name: &str,
        wait: Option<Duration>,
    ) -> Result<crate::state::ServerView, Status> {
        let stopping = match self
            .write(
                principal.to_string(),
                Command::StopServer {
                    name: name.to_string(),
                    partition: partition.to_string(),
                },
            )
            .await?
        {
            Outcome::Server(v) => v,
            other => return Err(unexpected(&other)),
        };
        let Some(timeout) = wait else {
            return Ok(stopping);
        };
        hardware::wait_server(&self.node, partition, name, timeout, |v| {
            (v.state == ServerState::Defined.to_string()).then_some(Ok(()))
        })
        .await
    }

    pub fn new(
        node: Node,
        bmcs: BmcPool,
        agents: AgentRegistry,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        FabricService {
            node,
            bmcs,
            agents,
            stopping,
        }
    }

    /// What the agent on the server's blade last reported applying, if it
    /// concerns the server's current placement (this member's view: agents
    /// stream to the leader). The agent is found by the blade's name or by
    /// one of the blade's burned-in MACs.
    fn agent_report(&self, server: &crate::state::ServerView) -> Option<pb::AgentReport> {
        let blade = server.blade.as_deref()?;
        let report = self.agents.applied_report(blade).or_else(|| {
            let macs: Vec<String> = self
                .node
                .state_machine()
                .read(|s| s.blade(blade))
                .ok()?
                .facts?
                .macs
                .iter()
                .map(|m| m.to_lowercase())
                .collect();
            let agent = self.agents.snapshot().into_iter().find(|a| {
                a.facts
                    .interfaces
                    .iter()
                    .any(|i| macs.contains(&i.mac.to_string().to_lowercase()))
            })?;
            self.agents.applied_report(&agent.blade)
        })?;
        (report.token.generation == server.generation).then(|| pb::AgentReport {
            interfaces: report
                .interfaces
                .iter()
                .map(|i| pb::HostInterface {
                    name: i.name.clone(),
                    mac: i.mac.to_string(),
                })
                .collect(),
            volumes: report
                .volumes
                .iter()
                .map(|v| pb::AttachedVolume {
                    name: v.name.clone(),
                    subsystem_nqn: v.subsystem_nqn.clone(),
                    device: v.device.clone(),
                })
                .collect(),
            token: Some(pb::FencingToken {
                term: report.token.term,
                generation: report.token.generation,
            }),
        })
    }

    async fn write(&self, principal: String, command: Command) -> Result<Outcome, Status> {
        Ok(self.node.propose(&principal, command).await?)
    }

    async fn read<T>(&self, f: impl FnOnce(&State) -> Result<T, StateError>) -> Result<T, Status> {
        self.node.linearize().await?;
        Ok(self.node.state_machine().read(f).map_err(Error::Refused)?)
    }
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
type DiscoverStream = Pin<Box<dyn Stream<Item = Result<pb::DiscoverProgress, Status>> + Send>>;

/// Enrols one discovered BMC; the outcome is a progress record.
async fn enrol(
    node: &Node,
    bmcs: &BmcPool,
    principal: &str,
    r: &pb::DiscoverBladesRequest,
    url: String,
    already: bool,
) -> pb::DiscoverProgress {
    let mut progress = pb::DiscoverProgress {
        bmc_url: url.clone(),
        ..Default::default()
    };
    if already {
        progress.outcome = "already_enrolled".to_string();
        return progress;
    }
    let result = async {
        let inv = read_inventory(bmcs, &url, &r.bmc_user, &r.bmc_password)
            .await
            .map_err(|e| crate::error::chain(&e))?;
        let facts = facts_from_inventory(&url, &inv).map_err(|s| s.message().to_string())?;
        let name = blade_name(inv.host_name.as_deref(), &url);
        let outcome = node
            .propose(
                principal,
                Command::AddBlade {
                    name: name.clone(),
                    bmc_url: url.clone(),
                    bmc_user: r.bmc_user.clone(),
                    bmc_password: Secret(r.bmc_password.clone()),
                    facts: Some(facts),
                    pool: opt(&r.pool).map(str::to_string),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        let _ = outcome;
        Ok::<String, String>(name)
    }
    .await;
    match result {
        Ok(name) => {
            progress.blade = name;
            progress.outcome = "enrolled".to_string();
        }
        Err(e) => {
            progress.outcome = "failed".to_string();
            progress.error = e;
        }
    }
    progress
}

#[tonic::async_trait]
impl Fabric for FabricService {
    async fn cluster_status(
        &self,
        req: Request<pb::ClusterStatusRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        let _caller = auth::admit(&self.node, &req).await?;
        Ok(Response::new(self.node.cluster_status()))
    }

    async fn add_member(
        &self,
        req: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        let _caller = auth::admit(&self.node, &req).await?;
        let pb::AddMemberRequest { id, addr } = req.into_inner();
        self.node.add_member(id, addr).await?;
        Ok(Response::new(self.node.cluster_status()))
    }

    async fn remove_member(
        &self,
        req: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::ClusterStatusReply>, Status> {
        let _caller = auth::admit(&self.node, &req).await?;
        self.node.remove_member(req.into_inner().id).await?;
        Ok(Response::new(self.node.cluster_status()))
    }

    async fn create_partition(
        &self,
        req: Request<pb::CreatePartitionRequest>,
    ) -> Result<Response<pb::Partition>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::CreatePartition {
            network_ids: opt(&r.network_ids).map(str::to_string),
            name: r.name,
            description: r.description,
        };
        expect_outcome!(self.write(principal, command).await?, Partition)
    }

    async fn list_partitions(
        &self,
        req: Request<pb::ListPartitionsRequest>,
    ) -> Result<Response<pb::ListPartitionsReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let partitions = self.read(|s| Ok(s.partitions())).await?;
        Ok(Response::new(pb::ListPartitionsReply {
            partitions: partitions
                .into_iter()
                .filter(|p| caller.sees(Some(&p.name)))
                .map(Into::into)
                .collect(),
        }))
    }

    async fn delete_partition(
        &self,
        req: Request<pb::DeletePartitionRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let command = Command::DeletePartition {
            name: req.into_inner().name,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn create_pool(
        &self,
        req: Request<pb::CreatePoolRequest>,
    ) -> Result<Response<pb::Pool>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::CreatePool {
            name: r.name,
            qualification: qualification_from(r.qualification),
        };
        expect_outcome!(self.write(principal, command).await?, Pool)
    }

    async fn list_pools(
        &self,
        req: Request<pb::ListPoolsRequest>,
    ) -> Result<Response<pb::ListPoolsReply>, Status> {
        let _caller = auth::admit(&self.node, &req).await?;
        let pools = self.read(|s| Ok(s.pools())).await?;
        Ok(Response::new(pb::ListPoolsReply {
            pools: pools.into_iter().map(Into::into).collect(),
        }))
    }

    async fn delete_pool(
        &self,
        req: Request<pb::DeletePoolRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let command = Command::DeletePool {
            name: req.into_inner().name,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn create_identity_pool(
        &self,
        req: Request<pb::CreateIdentityPoolRequest>,
    ) -> Result<Response<pb::IdentityPool>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
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
        req: Request<pb::ListIdentityPoolsRequest>,
    ) -> Result<Response<pb::ListIdentityPoolsReply>, Status> {
        let _caller = auth::admit(&self.node, &req).await?;
        let pools = self.read(|s| Ok(s.identity_pools())).await?;
        Ok(Response::new(pb::ListIdentityPoolsReply {
            pools: pools.into_iter().map(Into::into).collect(),
        }))
    }

    async fn delete_identity_pool(
        &self,
        req: Request<pb::DeleteIdentityPoolRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let command = Command::DeleteIdentityPool {
            name: req.into_inner().name,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn add_blade(
        &self,
        req: Request<pb::AddBladeRequest>,
    ) -> Result<Response<pb::Blade>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let facts = match r.facts {
            Some(f) => facts_from(&format!("blade '{}'", r.name), f)?,
            None => {
                // Refuse bad input before touching the network.
                if !(r.bmc_url.starts_with("http://") || r.bmc_url.starts_with("https://")) {
                    return Err(Error::Refused(StateError::InvalidArgument {
                        object: format!("blade '{}'", r.name),
                        field: "BMC address".to_string(),
                        reason: format!(
                            "{:?} is not an http:// or https:// URL with a host, e.g. https://10.0.0.21",
                            r.bmc_url
                        ),
                    })
                    .into());
                }
                let inv = read_inventory(&self.bmcs, &r.bmc_url, &r.bmc_user, &r.bmc_password)
                    .await
                    .map_err(|e| bmc_status(&e))?;
                facts_from_inventory(&r.bmc_url, &inv)?
            }
        };
        let facts = Some(facts);
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
        let _caller = auth::admit(&self.node, &req).await?;
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
        let _caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let blade = self.read(|s| s.blade(&r.name)).await?;
        Ok(Response::new(blade.into()))
    }

    async fn remove_blade(
        &self,
        req: Request<pb::RemoveBladeRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let command = Command::RemoveBlade {
            name: req.into_inner().name,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn create_server(
        &self,
        req: Request<pb::CreateServerRequest>,
    ) -> Result<Response<pb::Server>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::CreateServer {
            name: r.name,
            partition: r.partition,
            nics: r.nics,
            identity_pool: opt(&r.identity_pool).map(str::to_string),
            boot_volume: opt(&r.boot_volume).map(str::to_string),
            requirements: qualification_from(r.requirements),
            networks: r.networks,
            volumes: r.volumes,
            priority: r.priority,
            failover_pool: opt(&r.failover_pool).map(str::to_string),
            preempt: r.preempt,
            failback_window: opt(&r.failback_window).map(str::to_string),
        };
        expect_outcome!(self.write(principal, command).await?, Server)
    }

    async fn list_servers(
        &self,
        req: Request<pb::ListServersRequest>,
    ) -> Result<Response<pb::ListServersReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let servers = self.read(|s| s.servers(opt(&r.partition))).await?;
        Ok(Response::new(pb::ListServersReply {
            servers: servers
                .into_iter()
                .filter(|v| caller.sees(Some(&v.partition)))
                .map(Into::into)
                .collect(),
        }))
    }

    async fn get_server(
        &self,
        req: Request<pb::GetServerRequest>,
    ) -> Result<Response<pb::Server>, Status> {
        let _caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let server = self.read(|s| s.server(&r.partition, &r.name)).await?;
        let agent = self.agent_report(&server);
        let mut reply: pb::Server = server.into();
        reply.agent = agent;
        Ok(Response::new(reply))
    }

    async fn delete_server(
        &self,
        req: Request<pb::DeleteServerRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::DeleteServer {
            name: r.name,
            partition: r.partition,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn add_image(
        &self,
        req: Request<pb::AddImageRequest>,
    ) -> Result<Response<pb::Image>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::AddImage {
            name: r.name.clone(),
            source_path: opt(&r.source_path).map(str::to_string),
            size_bytes: r.size_bytes,
        };
        let Outcome::Image(view) = self.write(principal, command).await? else {
            return Err(Status::internal(
                "AddImage returned no image; this is a bug in PAN",
            ));
        };
        match storage::wait_image(&self.node, &r.name, view.id, storage::wait_for(r.timeout_s))
            .await?
        {
            Some(image) => Ok(Response::new(image.into())),
            None => Err(Status::not_found(format!(
                "image '{}' was deleted while it was being added; add it again if it is still wanted",
                r.name
            ))),
        }
    }

    async fn list_images(
        &self,
        req: Request<pb::ListImagesRequest>,
    ) -> Result<Response<pb::ListImagesReply>, Status> {
        let _caller = auth::admit(&self.node, &req).await?;
        let images = self.read(|s| Ok(s.images())).await?;
        Ok(Response::new(pb::ListImagesReply {
            images: images.into_iter().map(Into::into).collect(),
        }))
    }

    async fn delete_image(
        &self,
        req: Request<pb::DeleteImageRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::DeleteImage {
            name: r.name.clone(),
        };
        let Outcome::Image(view) = self.write(principal, command).await? else {
            return Err(Status::internal(
                "DeleteImage returned no image; this is a bug in PAN",
            ));
        };
        match storage::wait_image(&self.node, &r.name, view.id, storage::wait_for(r.timeout_s))
            .await?
        {
            None => Ok(Response::new(pb::DeleteReply {})),
            Some(_) => Err(Status::internal(format!(
                "image '{}' is still there after its delete finished; this is a bug in PAN",
                r.name
            ))),
        }
    }

    async fn create_volume(
        &self,
        req: Request<pb::CreateVolumeRequest>,
    ) -> Result<Response<pb::Volume>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::CreateVolume {
            name: r.name.clone(),
            partition: r.partition.clone(),
            size_bytes: r.size_bytes,
            image: opt(&r.image).map(str::to_string),
        };
        self.volume_work(principal, command, &r.partition, &r.name, r.timeout_s)
            .await
    }

    async fn list_volumes(
        &self,
        req: Request<pb::ListVolumesRequest>,
    ) -> Result<Response<pb::ListVolumesReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let volumes = self.read(|s| s.volumes(opt(&r.partition))).await?;
        Ok(Response::new(pb::ListVolumesReply {
            volumes: volumes
                .into_iter()
                .filter(|v| caller.sees(Some(&v.partition)))
                .map(Into::into)
                .collect(),
        }))
    }

    async fn get_volume(
        &self,
        req: Request<pb::GetVolumeRequest>,
    ) -> Result<Response<pb::Volume>, Status> {
        let _caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let volume = self.read(|s| s.volume(&r.partition, &r.name)).await?;
        Ok(Response::new(volume.into()))
    }

    async fn delete_volume(
        &self,
        req: Request<pb::DeleteVolumeRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::DeleteVolume {
            name: r.name.clone(),
            partition: r.partition.clone(),
        };
        let Outcome::Volume(view) = self.write(principal, command).await? else {
            return Err(Status::internal(
                "DeleteVolume returned no volume; this is a bug in PAN",
            ));
        };
        match storage::wait_volume(
            &self.node,
            &r.partition,
            &r.name,
            view.id,
            storage::wait_for(r.timeout_s),
        )
        .await?
        {
            None => Ok(Response::new(pb::DeleteReply {})),
            Some(_) => Err(Status::internal(format!(
                "volume '{}' is still there after its delete finished; this is a bug in PAN",
                r.name
            ))),
        }
    }

    async fn resize_volume(
        &self,
        req: Request<pb::ResizeVolumeRequest>,
    ) -> Result<Response<pb::Volume>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::ResizeVolume {
            name: r.name.clone(),
            partition: r.partition.clone(),
            size_bytes: r.size_bytes,
        };
        self.volume_work(principal, command, &r.partition, &r.name, r.timeout_s)
            .await
    }

    async fn snapshot_volume(
        &self,
        req: Request<pb::SnapshotVolumeRequest>,
    ) -> Result<Response<pb::Volume>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::SnapshotVolume {
            name: r.name.clone(),
            partition: r.partition.clone(),
            snapshot: r.snapshot,
        };
        self.volume_work(principal, command, &r.partition, &r.name, r.timeout_s)
            .await
    }

    async fn restore_volume(
        &self,
        req: Request<pb::RestoreVolumeRequest>,
    ) -> Result<Response<pb::Volume>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::RestoreVolume {
            name: r.name.clone(),
            partition: r.partition.clone(),
            snapshot: r.snapshot,
        };
        self.volume_work(principal, command, &r.partition, &r.name, r.timeout_s)
            .await
    }

    async fn delete_snapshot(
        &self,
        req: Request<pb::DeleteSnapshotRequest>,
    ) -> Result<Response<pb::Volume>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::DeleteSnapshot {
            name: r.name.clone(),
            partition: r.partition.clone(),
            snapshot: r.snapshot,
        };
        self.volume_work(principal, command, &r.partition, &r.name, r.timeout_s)
            .await
    }

    async fn create_network(
        &self,
        req: Request<pb::CreateNetworkRequest>,
    ) -> Result<Response<pb::Network>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::CreateNetwork {
            name: r.name,
            partition: r.partition,
            network_id: (r.network_id != 0).then_some(r.network_id),
        };
        expect_outcome!(self.write(principal, command).await?, Network)
    }

    async fn list_networks(
        &self,
        req: Request<pb::ListNetworksRequest>,
    ) -> Result<Response<pb::ListNetworksReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let networks = self.read(|s| s.networks(opt(&r.partition))).await?;
        Ok(Response::new(pb::ListNetworksReply {
            networks: networks
                .into_iter()
                .filter(|v| caller.sees(Some(&v.partition)))
                .map(Into::into)
                .collect(),
        }))
    }

    async fn delete_network(
        &self,
        req: Request<pb::DeleteNetworkRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let command = Command::DeleteNetwork {
            name: r.name,
            partition: r.partition,
        };
        deleted(self.write(principal, command).await?)
    }

    async fn create_principal(
        &self,
        req: Request<pb::CreatePrincipalRequest>,
    ) -> Result<Response<pb::PrincipalToken>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let roles = r
            .roles
            .iter()
            .map(|role| {
                role.parse::<partitions::Role>().map_err(|e| {
                    Status::invalid_argument(format!(
                        "principal '{}': {}",
                        r.name,
                        crate::error::chain(&e)
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let now = principals::now_ms();
        let (principal, token) = partitions::Principal::new(
            &r.name,
            roles,
            &principals::fresh_seed(),
            now,
            principals::expiry(now, r.expires_in_s),
        )
        .map_err(|e| Status::invalid_argument(crate::error::chain(&e)))?;
        let outcome = self
            .write(
                caller.name().to_string(),
                Command::CreatePrincipal { principal },
            )
            .await?;
        principals::token_reply(outcome, token)
    }

    async fn list_principals(
        &self,
        req: Request<pb::ListPrincipalsRequest>,
    ) -> Result<Response<pb::ListPrincipalsReply>, Status> {
        let _caller = auth::admit(&self.node, &req).await?;
        let principals = self.read(|s| Ok(s.principals())).await?;
        Ok(Response::new(pb::ListPrincipalsReply {
            principals: principals.into_iter().map(Into::into).collect(),
        }))
    }

    async fn revoke_principal(
        &self,
        req: Request<pb::RevokePrincipalRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let outcome = self
            .write(
                caller.name().to_string(),
                Command::RevokePrincipal { name: r.name },
            )
            .await?;
        // In effect only once every member has applied it: a revoked token
        // must be refused by whichever member it is sent to.
        self.node.wait_applied_everywhere().await?;
        expect_outcome!(outcome, Principal)
    }

    async fn rotate_principal(
        &self,
        req: Request<pb::RotatePrincipalRequest>,
    ) -> Result<Response<pb::PrincipalToken>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let now = principals::now_ms();
        let (token, hash) = partitions::token::issue(&principals::fresh_seed(), now)
            .map_err(|e| Status::internal(format!("could not issue a token: {e}")))?;
        let outcome = self
            .write(
                caller.name().to_string(),
                Command::RotatePrincipal {
                    name: r.name,
                    token: hash,
                    expires_at_ms: principals::expiry(now, r.expires_in_s),
                },
            )
            .await?;
        self.node.wait_applied_everywhere().await?;
        principals::token_reply(outcome, token)
    }

    async fn delete_principal(
        &self,
        req: Request<pb::DeletePrincipalRequest>,
    ) -> Result<Response<pb::DeleteReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let outcome = self
            .write(
                caller.name().to_string(),
                Command::DeletePrincipal { name: r.name },
            )
            .await?;
        self.node.wait_applied_everywhere().await?;
        deleted(outcome)
    }

    async fn who_am_i(
        &self,
        req: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::Principal>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let me = self.read(|s| s.principal(caller.name())).await?;
        Ok(Response::new(me.into()))
    }

    async fn set_quota(
        &self,
        req: Request<pb::SetQuotaRequest>,
    ) -> Result<Response<pb::Partition>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let q = r.quota.unwrap_or_default();
        let command = Command::SetQuota {
            partition: r.partition,
            quota: partitions::Quota {
                max_servers: q.max_servers,
                max_volumes: q.max_volumes,
                max_volume_bytes: q.max_volume_bytes,
                max_networks: q.max_networks,
                max_blades: q.max_blades,
                dedicated_pool: q.dedicated_pool,
            },
        };
        expect_outcome!(
            self.write(caller.name().to_string(), command).await?,
            Partition
        )
    }

    async fn list_audit(
        &self,
        req: Request<pb::ListAuditRequest>,
    ) -> Result<Response<pb::ListAuditReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let limit = match req.into_inner().limit as usize {
            0 => AUDIT_DEFAULT,
            n => n.min(AUDIT_MAX),
        };
        let records = self
            .read(|s| Ok(s.audit_where(limit, |partition| caller.sees(partition))))
            .await?;
        Ok(Response::new(pb::ListAuditReply {
            records: records.into_iter().map(Into::into).collect(),
        }))
    }

    type DiscoverBladesStream = DiscoverStream;

    async fn discover_blades(
        &self,
        req: Request<pb::DiscoverBladesRequest>,
    ) -> Result<Response<Self::DiscoverBladesStream>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let urls = expand_range(&r.bmc_range, &r.scheme).map_err(Status::invalid_argument)?;
        if r.bmc_user.is_empty() || r.bmc_password.is_empty() {
            return Err(Status::invalid_argument(
                "discovery needs the BMC user (--user) and password (--password-file)",
            ));
        }
        if !r.pool.is_empty() {
            self.read(|s| {
                s.pools()
                    .into_iter()
                    .any(|p| p.name == r.pool)
                    .then_some(())
                    .ok_or_else(|| StateError::NotFound {
                        object: format!("pool '{}'", r.pool),
                        list_hint: "pool list".to_string(),
                    })
            })
            .await?;
        }
        let total = u32::try_from(urls.len()).unwrap_or(u32::MAX);
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let (node, bmcs) = (self.node.clone(), self.bmcs.clone());
        tokio::spawn(async move {
            let enrolled: Vec<String> = node.state_machine().read(|s| {
                s.blades(None)
                    .map(|b| b.into_iter().map(|b| b.bmc_url).collect())
                    .unwrap_or_default()
            });
            let mut done = 0u32;
            let enrolments = futures::stream::iter(urls).map(|url| {
                let (node, bmcs, r, principal) =
                    (node.clone(), bmcs.clone(), r.clone(), principal.clone());
                let already = enrolled.iter().any(|u| u.trim_end_matches('/') == url);
                async move { enrol(&node, &bmcs, &principal, &r, url, already).await }
            });
            let mut results = futures::StreamExt::buffer_unordered(enrolments, DISCOVER_PARALLEL);
            while let Some(mut progress) = results.next().await {
                done += 1;
                progress.total = total;
                progress.done = done;
                if tx.send(Ok(progress)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn blade_power(
        &self,
        req: Request<pb::BladePowerRequest>,
    ) -> Result<Response<pb::Blade>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let principal = caller.name().to_string();
        let r = req.into_inner();
        let action = match r.action.as_str() {
            "on" => PowerAction::On,
            "off" => PowerAction::Off,
            "cycle" => PowerAction::Cycle,
            other => {
                return Err(Status::invalid_argument(format!(
                    "power action {other:?} is not on, off or cycle"
                )));
            }
        };
        // Recorded (and refused, e.g. for a blade running a server) first.
        self.write(
            principal,
            Command::BladePower {
                blade: r.name.clone(),
                action,
                force: r.force,
            },
        )
        .await?;
        let target = self
            .node
            .state_machine()
            .read(|s| s.bmc_target(&r.name))
            .map_err(Error::Refused)?;
        let bmc = self.bmcs.get(&target).map_err(|e| bmc_status(&e))?;
        let (reset, want) = match action {
            PowerAction::On => (ResetType::On, crate::bmc::PowerState::On),
            PowerAction::Off => (ResetType::ForceOff, crate::bmc::PowerState::Off),
            PowerAction::Cycle => (ResetType::PowerCycle, crate::bmc::PowerState::On),
        };
        bmc.reset(reset).await.map_err(|e| bmc_status(&e))?;
        crate::bmc::wait_for_power(
            &*bmc,
            &want,
            Duration::from_secs(120),
            Duration::from_millis(200),
        )
        .await
        .map_err(|e| Status::deadline_exceeded(crate::error::chain(&e)))?;
        let status = bmc.status().await.map_err(|e| bmc_status(&e))?;
        if let Some(o) = crate::controller::poller::observation(&target, Some(&status)) {
            self.write(
                crate::controller::CONTROLLER.to_string(),
                Command::ObserveBlades {
                    observations: vec![o],
                },
            )
            .await?;
        }
        let blade = self.read(|s| s.blade(&r.name)).await?;
        Ok(Response::new(blade.into()))
    }

    async fn start_server(
        &self,
        req: Request<pb::StartServerRequest>,
    ) -> Result<Response<pb::Server>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let view = self
            .start_and_wait(
                caller.name(),
                &r.partition,
                &r.name,
                opt(&r.blade).map(str::to_string),
                (!r.no_wait).then(|| wait_or(r.timeout_s, START_WAIT)),
            )
            .await?;
        Ok(Response::new(view.into()))
    }

    async fn stop_server(
        &self,
        req: Request<pb::StopServerRequest>,
    ) -> Result<Response<pb::Server>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let view = self
            .stop_and_wait(
                caller.name(),
                &r.partition,
                &r.name,
                (!r.no_wait).then(|| wait_or(r.timeout_s, STOP_WAIT)),
            )
            .await?;
        Ok(Response::new(view.into()))
    }

    async fn confirm_fenced(
        &self,
        req: Request<pb::ConfirmFencedRequest>,
    ) -> Result<Response<pb::Blade>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        expect_outcome!(
            self.write(
                caller.name().to_string(),
                Command::ConfirmFenced { blade: r.blade }
            )
            .await?,
            Blade
        )
    }

    async fn repair_blade(
        &self,
        req: Request<pb::RepairBladeRequest>,
    ) -> Result<Response<pb::Blade>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        // The health check: the BMC answers and does not report Critical.
        let target = self.read(|s| s.bmc_target(&r.blade)).await?;
        let bmc = self.bmcs.get(&target).map_err(|e| bmc_status(&e))?;
        let health = bmc.health().await.map_err(|e| bmc_status(&e))?;
        if health.worst() == Some(crate::bmc::Health::Critical) {
            return Err(Status::failed_precondition(format!(
                "blade '{}' is not repaired: its BMC still reports health Critical; fix the hardware and check its BMC log",
                r.blade
            )));
        }
        expect_outcome!(
            self.write(
                caller.name().to_string(),
                Command::RepairBlade { blade: r.blade }
            )
            .await?,
            Blade
        )
    }

    async fn drain_blade(
        &self,
        req: Request<pb::DrainBladeRequest>,
    ) -> Result<Response<pb::Blade>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let blade = self.read(|s| s.blade(&r.blade)).await?;
        let timeout = wait_or(r.timeout_s, START_WAIT);
        // Stop its server, take the blade out of service, start the server
        // elsewhere (the planner never picks a blade in maintenance).
        let moved = match blade.server.as_deref().and_then(|p| p.split_once('/')) {
            Some((partition, name)) => {
                let (partition, name) = (partition.to_string(), name.to_string());
                self.stop_and_wait(caller.name(), &partition, &name, Some(timeout))
                    .await?;
                Some((partition, name))
            }
            None => None,
        };
        let outcome = self
            .write(
                caller.name().to_string(),
                Command::SetMaintenance {
                    blade: r.blade.clone(),
                },
            )
            .await?;
        if let Some((partition, name)) = moved {
            self.start_and_wait(caller.name(), &partition, &name, None, Some(timeout))
                .await?;
        }
        expect_outcome!(outcome, Blade)
    }

    async fn move_server(
        &self,
        req: Request<pb::MoveServerRequest>,
    ) -> Result<Response<pb::Server>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let r = req.into_inner();
        let timeout = wait_or(r.timeout_s, START_WAIT);
        let before = self.read(|s| s.server(&r.partition, &r.name)).await?;
        let Some(from) = before.blade.clone() else {
            return Err(Status::failed_precondition(format!(
                "server '{}' in partition '{}' is {}, not on a blade; start it instead",
                r.name, r.partition, before.state
            )));
        };
        // Choose first, so a move with nowhere to go changes nothing.
        let to = match opt(&r.to_blade) {
            Some(b) if b == from => {
                return Err(Status::invalid_argument(format!(
                    "server '{}' already runs on blade '{b}'; pick another blade",
                    r.name
                )));
            }
            Some(b) => b.to_string(),
            None => {
                self.read(|s| {
                    let sid = s.server_id_of(&r.partition, &r.name)?;
                    let from_id = s.blade(&from)?.id;
                    s.choose_blade_except(sid, pan_api::BladeId(from_id))
                        .map(|b| s.blade_name(b))
                        .map_err(|why| StateError::NoQualifyingBlade {
                            server: format!("server '{}' in partition '{}'", r.name, r.partition),
                            detail: why,
                        })
                })
                .await?
            }
        };
        self.stop_and_wait(caller.name(), &r.partition, &r.name, Some(timeout))
            .await?;
        let view = self
            .start_and_wait(
                caller.name(),
                &r.partition,
                &r.name,
                Some(to),
                Some(timeout),
            )
            .await?;
        Ok(Response::new(view.into()))
    }

    async fn list_failovers(
        &self,
        req: Request<pb::ListFailoversRequest>,
    ) -> Result<Response<pb::ListFailoversReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let limit = match req.into_inner().limit as usize {
            0 => 100,
            n => n.min(crate::state::FAILOVER_HISTORY),
        };
        let failovers = self
            .read(|s| Ok(s.failover_history(crate::state::FAILOVER_HISTORY)))
            .await?;
        Ok(Response::new(pb::ListFailoversReply {
            failovers: failovers
                .into_iter()
                .filter(|f| caller.sees(Some(&f.partition)))
                .take(limit)
                .map(Into::into)
                .collect(),
        }))
    }

    async fn coverage(
        &self,
        req: Request<pb::CoverageRequest>,
    ) -> Result<Response<pb::CoverageReply>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let (servers, uncovered) = self.read(|s| Ok(s.coverage())).await?;
        Ok(Response::new(pb::CoverageReply {
            servers,
            uncovered: uncovered
                .into_iter()
                .filter(|u| caller.sees(Some(&u.partition)))
                .map(|u| pb::UncoveredServer {
                    server: u.server,
                    partition: u.partition,
                    reason: u.reason,
                })
                .collect(),
        }))
    }

    type WatchEventsStream = EventStream;

    async fn watch_events(
        &self,
        req: Request<pb::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        let caller = auth::admit(&self.node, &req).await?;
        let rx = self.node.state_machine().subscribe();
        let stream = BroadcastStream::new(rx).filter_map(move |item| match item {
            Ok(event) if caller.sees(event.partition.as_deref()) => {
                Some(Ok(pb::Event::from(event)))
            }
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                Some(Err(Status::resource_exhausted(format!(
                    "this event stream fell {n} events behind and was cut; \
                 reconnect and re-list the objects you track"
                ))))
            }
        });
        // A member shutting down ends its watches, so that its connections
        // can close, and says why.
        let mut stopping = self.stopping.clone();
        let stopped = async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        let stream = futures::StreamExt::take_until(stream, stopped).chain(tokio_stream::once(
            Err(Status::unavailable(
                "this fabric manager is shutting down; watch another member of the cluster",
            )),
        ));
        Ok(Response::new(Box::pin(stream)))
    }
}
