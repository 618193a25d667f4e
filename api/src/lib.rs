//! PAN's API crate: the protobuf wire contract, the generated tonic clients
//! and servers, and the typed ids shared by every PAN crate.
//!
//! This crate holds no logic beyond id formatting: it must stay cheap to
//! depend on (the CLI, the TUI, the agent and the simulator all use it).

pub mod codec;
pub mod ids;

/// Generated code for the `pan.v1` protobuf package.
pub mod v1 {
    #![allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]
    tonic::include_proto!("pan.v1");
}

pub use ids::*;
