//! gRPC servers around a [`Node`]: the public `Fabric` API, the internal
//! `Raft` service and the blade agents' `Agent` stream, all on the member's
//! one listen address.

pub mod auth;
mod convert;
pub mod fabric;
pub mod hardware;
pub mod principals;
pub mod raft;
pub mod storage;

use crate::agent::AgentRegistry;
use crate::controller::bmcs::BmcPool;
use crate::node::Node;
use pan_api::v1::fabric_server::FabricServer;
use pan_api::v1::raft_server::RaftServer;
use std::future::Future;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::ServerTlsConfig;

/// Largest message accepted: raft snapshots travel in chunks below this.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Accepted connections with Nagle's algorithm off: tonic's `tcp_nodelay`
/// applies only to listeners it binds itself, and small raft and API
/// messages would otherwise wait for delayed ACKs (40 ms on Linux).
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt as _;
    TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        conn.set_nodelay(true)?;
        Ok(conn)
    })
}

/// Serves the services on `listener` until `shutdown` completes; agent
/// streams feed `agents`. With `tls`, every connection is TLS (rustls).
pub async fn serve(
    node: Node,
    agents: AgentRegistry,
    bmcs: BmcPool,
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    // Every public call is authenticated here, against this member's state.
    let auth_node = node.clone();
    let fabric = FabricServer::new(fabric::FabricService::new(
        node.clone(),
        bmcs,
        agents.clone(),
    ))
    .max_decoding_message_size(4 * 1024 * 1024);
    let fabric = tonic::service::interceptor::InterceptedService::new(fabric, move |req| {
        auth::authenticate(&auth_node, req)
    });
    // Member-to-member calls must carry the cluster key; agents, their
    // blade's token under the agent key derived from it.
    let key = node.cluster_key().clone();
    let key_for_agents = key.agent_key();
    let raft = RaftServer::new(raft::RaftService::new(node))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let raft = tonic::service::interceptor::InterceptedService::new(raft, move |req| {
        crate::cluster_key::check(&key, req)
    });
    // Agent streams never end by themselves: the wrapped shutdown ends them.
    let (agent, shutdown) = crate::agent::server(agents, key_for_agents, shutdown);
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    builder
        .tcp_nodelay(true)
        // Many concurrent streams per connection (clients multiplex, raft
        // pipelines): h2's default 64 KiB windows throttle them.
        .initial_connection_window_size(Some(4 * 1024 * 1024))
        .initial_stream_window_size(Some(1024 * 1024))
        .add_service(fabric)
        .add_service(raft)
        .add_service(agent)
        .serve_with_incoming_shutdown(incoming(listener), shutdown)
        .await
}
