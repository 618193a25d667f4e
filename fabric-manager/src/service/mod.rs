//! gRPC servers around a [`Node`]: the public `Fabric` API, the internal
//! `Raft` service and the blade agents' `Agent` stream, all on the member's
//! one listen address.

mod convert;
pub mod fabric;
pub mod hardware;
pub mod raft;

use crate::agent::AgentRegistry;
use crate::controller::bmcs::BmcPool;
use crate::node::Node;
use pan_api::v1::fabric_server::FabricServer;
use pan_api::v1::raft_server::RaftServer;
use std::future::Future;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

/// Largest message accepted: raft snapshots travel in chunks below this.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Serves the services on `listener` until `shutdown` completes; agent
/// streams feed `agents`.
pub async fn serve(
    node: Node,
    agents: AgentRegistry,
    bmcs: BmcPool,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let fabric = FabricServer::new(fabric::FabricService::new(node.clone(), bmcs))
        .max_decoding_message_size(4 * 1024 * 1024);
    let raft = RaftServer::new(raft::RaftService::new(node))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    // Agent streams never end by themselves: the wrapped shutdown ends them.
    let (agent, shutdown) = crate::agent::server(agents, shutdown);
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(fabric)
        .add_service(raft)
        .add_service(agent)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await
}
