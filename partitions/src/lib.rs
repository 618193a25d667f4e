//! The tenancy core: principals, roles, partition scope checks and quotas.
//!
//! This crate will be pure (no I/O): one authorization function decides
//! every request as `(principal, action, object's partition) -> allow | deny`,
//! denying another partition's objects as *not found* so that a tenant cannot
//! learn that they exist.
//!
//! Nothing is implemented here yet; the tenant-partitions issue brings it.
