//! hwsim's integration tests, one binary: real HTTP clients against racks
//! started in-process, the control API, the `hwsim` binary as a process,
//! and a 1,000-BMC rack. No sleeps for synchronization: everything polls
//! with a deadline or waits on the rack.

mod cli;
mod control;
mod nvme_boot;
mod redfish_http;
mod scale;
mod support;
