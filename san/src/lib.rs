//! SAN volumes and their NVMe-oF exports: the storage drivers of PAN.
//!
//! - [`volume`]: volumes on a storage target, qcow2 files made with
//!   `qemu-img` (empty, or thin clones of golden images; snapshots as
//!   restore points).
//! - [`nvmet`]: exports written in the Linux nvmet configfs layout (one
//!   subsystem per volume, `attr_allow_any_host = 0`, explicit
//!   `allowed_hosts`), behind the [`nvmet::StorageTarget`] trait.
//! - [`nvme`]: the host side, a wrapper of nvme-cli's JSON output behind the
//!   [`nvme::NvmeHost`] trait.
//! - [`boot`]: the NVMe/TCP boot target a BMC's boot override names.
//! - [`runner`]: the seam through which every external program runs.
//!
//! Volume *records* live in the fabric manager's replicated state; this
//! crate holds the drivers that touch bytes and configfs. It must never
//! decide who may reach a volume: the manager's state does, and these
//! drivers only carry out (and read back) what they are told.

pub mod boot;
pub mod error;
pub mod names;
pub mod nvme;
pub mod nvmet;
pub mod runner;
pub mod volume;

pub use error::{Error, Result};
pub use names::{ImageName, Size, SnapshotName, VolumeName};
