//! Identity values: MAC addresses, pool UUIDs and NVMe host NQNs.
//!
//! Pure value types with parsing and formatting; allocation bookkeeping lives
//! in the identity pool records of the state machine.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A 48-bit MAC address held in the low bits of a `u64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Mac(pub u64);

impl Mac {
    /// The largest MAC value.
    pub const MAX: u64 = 0xffff_ffff_ffff;

    /// Parses `aa:bb:cc:dd:ee:ff` (also `-` separated, any case).
    pub fn parse(s: &str) -> Result<Mac, String> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(format!(
                "{s:?} is not a MAC address (expected six hex octets like 02:50:41:00:00:01)"
            ));
        }
        let mut value = 0u64;
        for part in parts {
            // `from_str_radix` alone would accept a sign, e.g. "+f".
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "{s:?} is not a MAC address (octet {part:?} is not two hex digits)"
                ));
            }
            let octet = u8::from_str_radix(part, 16)
                .map_err(|_| format!("{s:?} is not a MAC address (octet {part:?} is not hex)"))?;
            value = (value << 8) | u64::from(octet);
        }
        Ok(Mac(value))
    }

    fn first_octet(self) -> u8 {
        // The shift leaves only the top octet of the 48-bit value.
        ((self.0 >> 40) & 0xff) as u8
    }

    /// True when the locally-administered bit is set.
    pub fn is_locally_administered(self) -> bool {
        self.first_octet() & 0x02 != 0
    }

    /// True when the multicast bit is set.
    pub fn is_multicast(self) -> bool {
        self.first_octet() & 0x01 != 0
    }
}

// Identities are formatted for every server view, on every member's apply
// path: from the one lowercase-hex codec, without `format!` pieces (several
// times slower).
impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = partitions::hex(&self.0.to_be_bytes()[2..]);
        let octets: Vec<&str> = (0..6).map(|i| &digits[2 * i..2 * i + 2]).collect();
        f.write_str(&octets.join(":"))
    }
}

/// A server UUID from an identity pool: an 8-byte pool prefix and an 8-byte suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PoolUuid {
    pub prefix: u64,
    pub suffix: u64,
}

impl PoolUuid {
    /// Parses a 16-hex-digit UUID prefix (dashes allowed).
    pub fn parse_prefix(s: &str) -> Result<u64, String> {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        if hex.len() != 16 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "{s:?} is not a UUID prefix (expected 16 hex digits like 50414e00-0000-0001)"
            ));
        }
        u64::from_str_radix(&hex, 16).map_err(|e| format!("{s:?}: {e}"))
    }

    /// Formats a prefix as `xxxxxxxx-xxxx-xxxx`.
    pub fn format_prefix(prefix: u64) -> String {
        let h = partitions::hex(&prefix.to_be_bytes());
        [&h[0..8], &h[8..12], &h[12..16]].join("-")
    }

    /// The NVMe host NQN derived from this UUID (the form nvme-cli generates).
    pub fn host_nqn(&self) -> String {
        let mut nqn = String::from("nqn.2014-08.org.nvmexpress:uuid:");
        self.push_text(&mut nqn);
        nqn
    }

    /// Appends `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    fn push_text(&self, out: &mut String) {
        let p = partitions::hex(&self.prefix.to_be_bytes());
        let s = partitions::hex(&self.suffix.to_be_bytes());
        for (i, part) in [&p[0..8], &p[8..12], &p[12..16], &s[0..4], &s[4..16]]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push('-');
            }
            out.push_str(part);
        }
    }
}

impl fmt::Display for PoolUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = String::with_capacity(36);
        self.push_text(&mut text);
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trips() {
        let mac = Mac::parse("02:50:41:0A:ff:01").unwrap();
        assert_eq!(mac.to_string(), "02:50:41:0a:ff:01");
        assert!(mac.is_locally_administered());
        assert!(!mac.is_multicast());
        assert_eq!(Mac::parse("02-50-41-0a-ff-01").unwrap(), mac);
    }

    #[test]
    fn bad_macs_are_refused_with_the_input_named() {
        for bad in [
            "",
            "02:50:41",
            "02:50:41:00:00:zz",
            "0250:41:00:00:00:00:00",
            "02:50:41:00:00:001",
        ] {
            let err = Mac::parse(bad).unwrap_err();
            assert!(err.contains("not a MAC"), "{bad}: {err}");
        }
    }

    #[test]
    fn uuid_and_nqn_format() {
        let u = PoolUuid {
            prefix: 0x5041_4e00_0000_0001,
            suffix: 0x2a,
        };
        assert_eq!(u.to_string(), "50414e00-0000-0001-0000-00000000002a");
        assert_eq!(
            u.host_nqn(),
            "nqn.2014-08.org.nvmexpress:uuid:50414e00-0000-0001-0000-00000000002a"
        );
        assert_eq!(
            PoolUuid::parse_prefix("50414e00-0000-0001").unwrap(),
            0x5041_4e00_0000_0001
        );
        assert!(PoolUuid::parse_prefix("xyz").is_err());
        assert_eq!(
            PoolUuid::format_prefix(0x5041_4e00_0000_0001),
            "50414e00-0000-0001"
        );
    }

    proptest::proptest! {
        /// The hand-written formatters agree with `format!`'s hex.
        #[test]
        fn formatting_matches_std(prefix: u64, suffix: u64, mac in 0..=Mac::MAX) {
            let u = PoolUuid { prefix, suffix };
            let p = format!("{prefix:016x}");
            let s = format!("{suffix:016x}");
            let expected = format!("{}-{}-{}-{}-{}", &p[0..8], &p[8..12], &p[12..16], &s[0..4], &s[4..16]);
            proptest::prop_assert_eq!(u.to_string(), expected.clone());
            proptest::prop_assert_eq!(u.host_nqn(), format!("nqn.2014-08.org.nvmexpress:uuid:{expected}"));
            let b = mac.to_be_bytes();
            proptest::prop_assert_eq!(
                Mac(mac).to_string(),
                format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
            );
            proptest::prop_assert_eq!(Mac::parse(&Mac(mac).to_string()), Ok(Mac(mac)));
        }
    }
}
