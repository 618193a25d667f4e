//! The Redfish protocol of a simulated BMC, without sockets.
//!
//! - `paths`: the URIs (system `1`, chassis `1`, manager `bmc`).
//! - `error`: Redfish error answers (`RedfishError`) with Base registry
//!   messages in `@Message.ExtendedInfo`.
//! - `render`: resources as JSON from the blade's facts and state.
//! - `etag`: ETags over rendered bodies and `If-Match` matching.
//! - `service`: routing, authentication and dispatch of one request.
//!
//! The HTTP server (`crate::rack::http`) only converts between axum and
//! [`RedfishRequest`] / [`RedfishResponse`].

pub mod error;
pub mod etag;
pub mod paths;
pub mod render;
pub mod service;

pub use error::{BASE_REGISTRY, Message, RedfishError};
pub use service::{RedfishRequest, RedfishResponse, handle, parse_reset};
