//! The hardware seam to blade BMCs: the `Bmc` trait and its Redfish
//! implementation. (Being built for the rack-simulator issue.)
