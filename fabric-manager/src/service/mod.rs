//! gRPC servers around a [`Node`]: the public `Fabric` API, the internal
//! `Raft` service and the blade agents' `Agent` stream, all on the member's
//! one listen address.

pub mod auth;
mod convert;
pub mod fabric;
pub mod hardware;
mod http2;
pub mod principals;
pub mod raft;
pub mod storage;

use crate::agent::AgentRegistry;
use crate::controller::bmcs::BmcPool;
use crate::node::Node;
use pan_api::v1::fabric_server::FabricServer;
use pan_api::v1::raft_server::RaftServer;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

pub use http2::ServerTls;

/// Largest message accepted: raft snapshots travel in chunks below this.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Serves the services on `listener` until `shutdown` completes, then waits
/// for the calls under way; agent streams feed `agents`. With `tls`, every
/// connection is TLS (rustls).
pub async fn serve(
    node: Node,
    agents: AgentRegistry,
    bmcs: BmcPool,
    listener: TcpListener,
    tls: Option<ServerTls>,
    shutdown: impl Future<Output = ()> + Send,
) {
    // Long-lived streams (event watches, agent sessions) end when the server
    // begins to shut down.
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        stop.send_replace(true);
    };
    let fabric = FabricServer::new(fabric::FabricService::new(
        node.clone(),
        bmcs,
        agents.clone(),
        stopping.clone(),
    ))
    .max_decoding_message_size(4 * 1024 * 1024);
    // Every public call is authenticated here, against this member's state.
    let auth_node = node.clone();
    let fabric_check: http2::Check = Arc::new(move |req| auth::authenticate(&auth_node, req));
    // Member-to-member calls must carry the cluster key; agents, their
    // blade's token under the agent key derived from it.
    let key = node.cluster_key().clone();
    let key_for_agents = key.agent_key();
    let raft = RaftServer::new(raft::RaftService::new(node))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let raft_check: http2::Check = Arc::new(move |req| crate::cluster_key::check(&key, req));
    let agent = crate::agent::server(agents, key_for_agents, stopping);
    let routes = http2::Routes {
        fabric,
        fabric_check,
        raft,
        raft_check,
        agent,
    };
    let settings = http2::Settings {
        // Many concurrent streams per connection (clients multiplex, raft
        // pipelines): h2's default 64 KiB windows throttle them.
        connection_window: 4 * 1024 * 1024,
        stream_window: 1024 * 1024,
    };
    http2::serve(listener, tls, routes, settings, shutdown).await;
}
