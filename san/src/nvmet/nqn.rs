//! NVMe Qualified Names ([`Nqn`]), checked against the NVMe base
//! specification (section "NVMe Qualified Names").
//!
//! An NQN is UTF-8, at most 223 bytes, and either
//! `nqn.yyyy-mm.reverse.domain[:anything]` or the UUID form
//! `nqn.2014-08.org.nvmexpress:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
//! Because an NQN also becomes a configfs directory name and a command-line
//! argument, this type additionally refuses `/`, whitespace and control
//! characters. It must never be built without these checks.

use crate::error::{Error, Result};
use std::fmt;

/// The longest NQN the specification allows, in bytes.
pub const MAX_NQN_BYTES: usize = 223;

/// The date and domain prefix of volume NQNs PAN makes.
pub const VOLUME_NQN_PREFIX: &str = "nqn.2026-11.io.pan:volume:";

/// A checked NVMe Qualified Name (subsystem or host).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nqn(String);

impl Nqn {
    /// Checks `nqn`.
    pub fn parse(nqn: impl Into<String>) -> Result<Self> {
        let nqn = nqn.into();
        check(&nqn).map_err(|reason| Error::InvalidNqn {
            nqn: nqn.clone(),
            reason,
        })?;
        Ok(Nqn(nqn))
    }

    /// The subsystem NQN of a volume: `nqn.2026-11.io.pan:volume:<id>`.
    pub fn for_volume(volume_id: impl fmt::Display) -> Result<Self> {
        Self::parse(format!("{VOLUME_NQN_PREFIX}{volume_id}"))
    }

    /// The UUID-form host NQN: `nqn.2014-08.org.nvmexpress:uuid:<uuid>`.
    pub fn for_host_uuid(uuid: impl fmt::Display) -> Result<Self> {
        Self::parse(format!("nqn.2014-08.org.nvmexpress:uuid:{uuid}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Nqn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Nqn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Nqn::parse(s)
    }
}

fn check(nqn: &str) -> Result<(), &'static str> {
    if nqn.len() > MAX_NQN_BYTES {
        return Err("it is longer than 223 bytes");
    }
    let Some(rest) = nqn.strip_prefix("nqn.") else {
        return Err("it must start with \"nqn.\"");
    };
    if nqn
        .chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err("it contains '/', whitespace or a control character");
    }
    let date = rest
        .get(..7)
        .ok_or("it has no yyyy-mm date after \"nqn.\"")?;
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && b[4] == b'-' && digits(5..7)) {
        return Err("it has no yyyy-mm date after \"nqn.\"");
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    if !(1..=12).contains(&month) {
        return Err("its date has a month outside 01-12");
    }
    let Some(after_date) = rest[7..].strip_prefix('.') else {
        return Err("it needs a '.' and a reverse domain name after the date");
    };
    let (domain, user) = match after_date.split_once(':') {
        Some((d, u)) => (d, Some(u)),
        None => (after_date, None),
    };
    if domain.is_empty()
        || domain.starts_with(['.', '-'])
        || domain.ends_with(['.', '-'])
        || domain.contains("..")
        || !domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err("its reverse domain name is malformed");
    }
    match user {
        Some("") => Err("it has an empty part after ':'"),
        Some(u) if domain == "org.nvmexpress" && u.starts_with("uuid:") => {
            if is_uuid(&u[5..]) {
                Ok(())
            } else {
                Err("its uuid part is not a UUID (8-4-4-4-12 hex digits)")
            }
        }
        _ => Ok(()),
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_real_nqns() {
        for n in [
            "nqn.2026-11.io.pan:volume:vol-0001",
            "nqn.2014-08.org.nvmexpress:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "nqn.2014-08.org.nvmexpress.discovery",
            "nqn.1988-11.com.dell:powerstore:00:f03028e73ef7D032D81E",
            "nqn.2019-08.org.qemu:subsys0",
        ] {
            Nqn::parse(n).unwrap();
        }
        assert_eq!(
            Nqn::for_volume("v1").unwrap().as_str(),
            "nqn.2026-11.io.pan:volume:v1"
        );
        Nqn::for_host_uuid("f81d4fae-7dec-11d0-a765-00a0c91e6bf6").unwrap();
    }

    #[test]
    fn refuses_malformed_nqns_with_a_reason() {
        let long = format!("nqn.2026-11.io.pan:{}", "x".repeat(220));
        let cases = [
            ("", "start with"),
            ("iqn.2026-11.io.pan:x", "start with"),
            ("nqn.", "date"),
            ("nqn.26-11.io.pan:x", "date"),
            ("nqn.2026-13.io.pan:x", "month"),
            ("nqn.2026-11io.pan", "'.'"),
            ("nqn.2026-11.:x", "domain"),
            ("nqn.2026-11.io..pan", "domain"),
            ("nqn.2026-11.io.pan:", "empty part"),
            ("nqn.2026-11.io.pan:a/b", "'/'"),
            ("nqn.2026-11.io.pan:a b", "whitespace"),
            ("nqn.2014-08.org.nvmexpress:uuid:nope", "uuid"),
            (long.as_str(), "223"),
        ];
        for (nqn, want) in cases {
            let err = Nqn::parse(nqn).unwrap_err();
            assert!(err.to_string().contains(want), "{nqn:?}: {err}");
        }
        assert!(Nqn::for_volume("a/../../etc").is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_the_rules(s in "(nqn\\.)?\\PC{0,240}") {
            if let Ok(n) = Nqn::parse(s.clone()) {
                prop_assert!(n.as_str().starts_with("nqn."));
                prop_assert!(n.as_str().len() <= MAX_NQN_BYTES);
                prop_assert!(!n.as_str().contains('/'));
            }
        }
    }
}
