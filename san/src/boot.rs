//! The boot target of a diskless blade that boots from an NVMe/TCP volume.
//!
//! The manager writes it into the BMC's Redfish boot override
//! (`Boot.BootSourceOverrideTarget = "UefiTarget"`,
//! `Boot.UefiTargetBootSourceOverride = <this text>`); the blade's firmware
//! (hwsim in simulation) reads it at power-on and connects to the subsystem
//! with the host NQN given here, as an NVMe-oF boot firmware table (NBFT)
//! would carry it. The text form is a URI:
//!
//! ```text
//! nvme+tcp://TRADDR:TRSVCID/SUBSYSTEM-NQN?hostnqn=HOST-NQN
//! ```
//!
//! IPv6 addresses are bracketed. Pure functions; this module must never do
//! I/O.

use crate::error::{Error, Result};
use crate::nvmet::Nqn;
use std::fmt;
use std::net::SocketAddr;

/// The URI scheme of a boot target.
pub const SCHEME: &str = "nvme+tcp://";

/// Where and as whom a blade boots: target address, subsystem and host NQN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootTarget {
    pub target: SocketAddr,
    pub subsystem: Nqn,
    pub host: Nqn,
}

impl BootTarget {
    /// Parses the text form, or [`Error::InvalidBootTarget`] naming what is
    /// wrong with it.
    pub fn parse(text: &str) -> Result<BootTarget> {
        let invalid = |reason: &'static str| Error::InvalidBootTarget {
            text: text.to_string(),
            reason,
        };
        let rest = text
            .strip_prefix(SCHEME)
            .ok_or_else(|| invalid("it does not start with nvme+tcp://"))?;
        let (addr, rest) = rest
            .split_once('/')
            .ok_or_else(|| invalid("no '/' after the target address"))?;
        let target: SocketAddr = addr
            .parse()
            .map_err(|_| invalid("the target is not IP:PORT (IPv6 in brackets)"))?;
        let (subsystem, query) = rest
            .split_once('?')
            .ok_or_else(|| invalid("no '?hostnqn=' after the subsystem NQN"))?;
        let host = query
            .strip_prefix("hostnqn=")
            .ok_or_else(|| invalid("the query is not 'hostnqn=...'"))?;
        if host.contains('&') {
            return Err(invalid("only the hostnqn parameter is allowed"));
        }
        Ok(BootTarget {
            target,
            subsystem: Nqn::parse(subsystem)?,
            host: Nqn::parse(host)?,
        })
    }
}

impl fmt::Display for BootTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}{}/{}?hostnqn={}",
            self.target,
            self.subsystem.as_str(),
            self.host.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> BootTarget {
        BootTarget {
            target: "10.0.0.5:4420".parse().unwrap(),
            subsystem: Nqn::for_volume(7).unwrap(),
            host: Nqn::for_host_uuid("50414e00-0000-0000-0000-000000000001").unwrap(),
        }
    }

    #[test]
    fn the_text_form_round_trips() {
        let t = sample();
        let text = t.to_string();
        assert_eq!(
            text,
            "nvme+tcp://10.0.0.5:4420/nqn.2026-11.io.pan:volume:7?hostnqn=nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0000-0000-000000000001"
        );
        assert_eq!(BootTarget::parse(&text).unwrap(), t);
        let v6 = BootTarget {
            target: "[fd00::5]:4420".parse().unwrap(),
            ..sample()
        };
        assert_eq!(BootTarget::parse(&v6.to_string()).unwrap(), v6);
    }

    #[test]
    fn malformed_targets_say_what_is_wrong() {
        for (text, want) in [
            ("pan-volume:acme/v1", "nvme+tcp://"),
            ("nvme+tcp://10.0.0.5:4420", "'/'"),
            (
                "nvme+tcp://host:4420/nqn.2026-11.io.pan:volume:7?hostnqn=x",
                "IP:PORT",
            ),
            (
                "nvme+tcp://10.0.0.5:4420/nqn.2026-11.io.pan:volume:7",
                "hostnqn",
            ),
            (
                "nvme+tcp://10.0.0.5:4420/nqn.2026-11.io.pan:volume:7?host=x",
                "hostnqn",
            ),
        ] {
            let err = BootTarget::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        // A bad NQN is the NQN's own error.
        let err = BootTarget::parse("nvme+tcp://10.0.0.5:4420/not-an-nqn?hostnqn=x").unwrap_err();
        assert!(matches!(err, Error::InvalidNqn { .. }), "{err}");
    }

    proptest! {
        #[test]
        fn no_text_panics(text in ".{0,200}") {
            let _ = BootTarget::parse(&text);
        }
    }
}
