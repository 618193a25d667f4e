//! The blade agent: the process that runs on every blade after it boots.
//!
//! It will hold a gRPC stream to the fabric manager (heartbeats, facts and the
//! desired identity with a generation number) and apply that identity to the
//! host (MACs on interfaces, NVMe-oF connections to the boot and data volumes).
//!
//! It must never apply a desired state older than one it has already applied,
//! and it never decides placement: the manager does.
//!
//! Nothing is implemented here yet; the rack-simulator issue brings the agent.
