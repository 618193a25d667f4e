//! A simulated rack that speaks the production protocols.
//!
//! It will serve one Redfish BMC per blade over HTTP, boot blades that run
//! the real blade-agent code, expose a SAN target tree and a fabric, inject
//! faults (blade death, BMC hang/slow/409, link cut, open-loop power) and keep
//! a ground-truth log for invariant checks.
//!
//! Nothing is implemented here yet; the rack-simulator issue brings it.
