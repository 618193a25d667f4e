//! A blade's fixed facts: name, slot, serial number, UUIDs and burned-in
//! MACs, all derived deterministically from the rack id and the blade's
//! 1-based index, so a rack looks the same on every run.
//!
//! Burned-in MACs are `52:54:00:RR:HH:LL` where `RR` is the rack id and
//! `HHLL = (index - 1) * 2 + nic` (nic 0 and 1): two per blade, up to
//! [`MAX_BLADES`] blades per rack. They never overlap PAN's identity pools
//! (`02:…`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

/// Fabric ports (EthernetInterfaces) per blade.
pub const NICS_PER_BLADE: usize = 2;

/// The most blades one rack can hold (the MAC layout's limit).
pub const MAX_BLADES: u32 = 32_768;

/// The OUI of burned-in MACs.
pub const MAC_OUI: [u8; 3] = [0x52, 0x54, 0x00];

/// A MAC address. `Display` and serde use lowercase `aa:bb:cc:dd:ee:ff`;
/// Redfish bodies use [`MacAddr::to_redfish`] (uppercase, like many BMCs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Uppercase colon form, as the simulated BMC shows it.
    pub fn to_redfish(self) -> String {
        self.to_string().to_uppercase()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

impl FromStr for MacAddr {
    type Err = String;

    /// Accepts `:` or `-` separators, either case.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(format!("{s:?} is not a MAC address (six hex octets)"));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(&parts) {
            if p.len() != 2 {
                return Err(format!("{s:?} is not a MAC address (six hex octets)"));
            }
            *o = u8::from_str_radix(p, 16)
                .map_err(|_| format!("{s:?} is not a MAC address (bad octet {p:?})"))?;
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a blade is made of, as its ComputerSystem reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardwareProfile {
    pub manufacturer: String,
    pub model: String,
    pub bios_version: String,
    /// `ProcessorSummary.Model`.
    pub processor_model: String,
    /// `ProcessorSummary.Count` (sockets).
    pub processor_count: u32,
    /// `ProcessorSummary.CoreCount` (all sockets).
    pub core_count: u32,
    /// `ProcessorSummary.LogicalProcessorCount` (all sockets).
    pub logical_processor_count: u32,
    /// `MemorySummary.TotalSystemMemoryGiB`.
    pub memory_gib: u32,
}

impl Default for HardwareProfile {
    fn default() -> Self {
        HardwareProfile {
            manufacturer: "PAN Simulated Hardware".to_owned(),
            model: "SimBlade X1".to_owned(),
            bios_version: "SIM 1.0.0".to_owned(),
            processor_model: "Simulated Xeon 32-core".to_owned(),
            processor_count: 2,
            core_count: 64,
            logical_processor_count: 128,
            memory_gib: 256,
        }
    }
}

/// The fixed facts of one blade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BladeInfo {
    /// `blade-001`, `blade-002`, …
    pub name: String,
    /// 1-based slot number.
    pub index: u32,
    pub rack_id: u8,
    pub serial: String,
    /// The ComputerSystem's (burned-in) UUID.
    pub uuid: String,
    /// The BMC's own UUID (ServiceRoot and Manager).
    pub bmc_uuid: String,
    /// Burned-in MACs of the fabric ports, `NICS_PER_BLADE` of them.
    pub macs: Vec<MacAddr>,
    pub hardware: Arc<HardwareProfile>,
    /// Where the blade's OS (the agent) finds the fabric manager (`--manager`).
    pub manager: Option<String>,
    /// Where the BMC listens.
    pub bmc_addr: SocketAddr,
}

impl BladeInfo {
    /// The name of the blade in slot `index` (1-based): `blade-001`.
    pub fn name_for(index: u32) -> String {
        format!("blade-{index:03}")
    }

    /// Derives every fact of blade `index` (1-based, at most [`MAX_BLADES`])
    /// in rack `rack_id`.
    pub fn new(
        rack_id: u8,
        index: u32,
        hardware: Arc<HardwareProfile>,
        manager: Option<String>,
        bmc_addr: SocketAddr,
    ) -> BladeInfo {
        let macs = (0..NICS_PER_BLADE as u32)
            .map(|nic| {
                let n = (index.saturating_sub(1))
                    .wrapping_mul(NICS_PER_BLADE as u32)
                    .wrapping_add(nic);
                MacAddr([
                    MAC_OUI[0],
                    MAC_OUI[1],
                    MAC_OUI[2],
                    rack_id,
                    (n >> 8) as u8,
                    n as u8,
                ])
            })
            .collect();
        BladeInfo {
            name: Self::name_for(index),
            index,
            rack_id,
            serial: format!("SIM{rack_id:02X}{index:05}"),
            // "PANS" "YS": version 8 (vendor-specific), RFC 4122 variant.
            uuid: format!("50414e53-5953-8000-8{rack_id:03x}-{index:012x}"),
            // "PANS" "BM".
            bmc_uuid: format!("50414e53-424d-8000-8{rack_id:03x}-{index:012x}"),
            macs,
            hardware,
            manager,
            bmc_addr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(rack: u8, index: u32) -> BladeInfo {
        BladeInfo::new(
            rack,
            index,
            Arc::default(),
            None,
            "127.0.0.1:1".parse().unwrap(),
        )
    }

    #[test]
    fn facts_are_deterministic_and_distinct() {
        let a = info(0, 1);
        assert_eq!(a.name, "blade-001");
        assert_eq!(a.macs[0].to_string(), "52:54:00:00:00:00");
        assert_eq!(a.macs[1].to_string(), "52:54:00:00:00:01");
        assert_eq!(a, info(0, 1));
        let b = info(0, 1000);
        assert_eq!(b.name, "blade-1000");
        assert_eq!(b.macs[1].to_redfish(), "52:54:00:00:07:CF");
        assert_ne!(a.uuid, b.uuid);
        assert_ne!(info(1, 1).macs[0], a.macs[0]);
        uuid::Uuid::parse_str(&a.uuid).unwrap();
        uuid::Uuid::parse_str(&a.bmc_uuid).unwrap();
        let mut all: Vec<MacAddr> = (1..=MAX_BLADES).flat_map(|i| info(3, i).macs).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), MAX_BLADES as usize * NICS_PER_BLADE);
    }

    #[test]
    fn mac_parses_both_separators_and_rejects_junk() {
        let m: MacAddr = "52-54-00-AA-bb-01".parse().unwrap();
        assert_eq!(m.to_string(), "52:54:00:aa:bb:01");
        assert!("52:54:00:aa:bb".parse::<MacAddr>().is_err());
        assert!("52:54:00:aa:bb:zz".parse::<MacAddr>().is_err());
        assert!("52:54:00:aa:bb:0001".parse::<MacAddr>().is_err());
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"52:54:00:aa:bb:01\"");
    }
}
