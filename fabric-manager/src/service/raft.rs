//! The internal `pan.v1.Raft` service: raft RPCs between members, and the
//! requests a follower forwards to the leader (writes, read index, member
//! changes). Payloads are decoded here and handed to openraft or the
//! [`Node`]; nothing here decides anything.

use crate::network::{decode, encode};
use crate::node::{Forwarded, Node};
use pan_api::v1::raft_server::Raft as RaftRpc;
use pan_api::v1::{AddMemberRequest, ClusterStatusReply, RaftPayload};
use serde::Serialize;
use tonic::{Request, Response, Status};

/// Serves member-to-member traffic for one [`Node`].
pub struct RaftService {
    node: Node,
}

impl RaftService {
    pub fn new(node: Node) -> Self {
        RaftService { node }
    }
}

fn decode_payload<T: serde::de::DeserializeOwned>(req: Request<RaftPayload>) -> Result<T, Status> {
    decode(&req.into_inner().data)
        .map_err(|e| Status::invalid_argument(format!("undecodable raft payload: {e}")))
}

fn reply<T: Serialize>(value: &T) -> Result<Response<RaftPayload>, Status> {
    let data = encode(value).map_err(|e| Status::internal(format!("encoding reply: {e}")))?;
    Ok(Response::new(RaftPayload { data }))
}

#[tonic::async_trait]
impl RaftRpc for RaftService {
    async fn vote(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc = decode_payload(req)?;
        reply(&self.node.raft().vote(rpc).await)
    }

    async fn append_entries(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc = decode_payload(req)?;
        reply(&self.node.raft().append_entries(rpc).await)
    }

    async fn install_snapshot(
        &self,
        req: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc = decode_payload(req)?;
        reply(&self.node.raft().install_snapshot(rpc).await)
    }

    async fn propose(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        match decode_payload::<Forwarded>(req)? {
            Forwarded::Propose(batch) => reply(&self.node.propose_forwarded(batch).await),
            Forwarded::RemoveMember(id) => reply(&self.node.remove_member_forwarded(id).await),
            Forwarded::ReadIndex => reply(&self.node.read_index().await),
            Forwarded::AppliedIndex => reply(&self.node.applied_index()),
        }
    }

    async fn read_index(&self, req: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        match decode_payload::<Forwarded>(req)? {
            Forwarded::AppliedIndex => reply(&self.node.applied_index()),
            _ => reply(&self.node.read_index().await),
        }
    }

    async fn join(
        &self,
        req: Request<AddMemberRequest>,
    ) -> Result<Response<ClusterStatusReply>, Status> {
        let AddMemberRequest { id, addr } = req.into_inner();
        self.node.add_member(id, addr).await?;
        Ok(Response::new(self.node.cluster_status()))
    }
}
