//! SAN volumes and their NVMe-oF exports.
//!
//! It will own volumes on a storage target (thin clones of golden images,
//! snapshots as restore points), exports written in the Linux nvmet configfs
//! layout (one subsystem per volume, `attr_allow_any_host = 0`, explicit
//! `allowed_hosts`) and the host-side nvme-cli wrapper.
//!
//! Volume *records* already live in the fabric manager's replicated state;
//! this crate will hold the drivers that touch bytes and configfs. It must
//! never decide who may reach a volume: the manager's state does.
//!
//! Nothing is implemented here yet; the data-path issue brings it.
