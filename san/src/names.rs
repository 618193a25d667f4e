//! Validated values: object names ([`VolumeName`], [`SnapshotName`],
//! [`ImageName`]) and sizes ([`Size`]).
//!
//! A name becomes a file name or a command-line argument, so it must never
//! hold a path separator, start with `-` or `.`, or be empty; the only way to
//! get one of these types is through the checks here.

use crate::error::{Error, Result};
use std::fmt;

/// The longest name accepted (a DNS label's length).
pub const MAX_NAME_LEN: usize = 63;

/// 1 PiB: the largest volume accepted.
pub const MAX_SIZE_BYTES: u64 = 1 << 50;

/// Volume sizes are whole 512-byte sectors (`qemu-img resize` insists).
pub const SECTOR_BYTES: u64 = 512;

fn check_name(kind: &'static str, name: &str) -> Result<()> {
    let invalid = |reason| Error::InvalidName {
        kind,
        name: name.to_string(),
        reason,
    };
    let Some(first) = name.chars().next() else {
        return Err(invalid("it is empty"));
    };
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("it is longer than 63 characters"));
    }
    if !first.is_ascii_alphanumeric() {
        return Err(invalid("it must start with a letter or digit"));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(invalid("it contains a path separator"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid("it contains a character outside [A-Za-z0-9._-]"));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $ty(String);

        impl $ty {
            /// Checks `name` against the naming rule.
            pub fn new(name: impl Into<String>) -> Result<Self> {
                let name = name.into();
                check_name($kind, &name)?;
                Ok($ty(name))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                $ty::new(s)
            }
        }
    };
}

name_type!(
    /// The name of a volume on a storage target (its file is `NAME.qcow2`).
    VolumeName,
    "volume"
);
name_type!(
    /// The name of a snapshot (restore point) inside a volume.
    SnapshotName,
    "snapshot"
);
name_type!(
    /// The name of a registered golden image.
    ImageName,
    "image"
);

/// A volume size in bytes: more than 0, at most 1 PiB, whole sectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(u64);

impl Size {
    /// Checks a byte count.
    pub fn from_bytes(bytes: u64) -> Result<Self> {
        Self::check(bytes, &bytes.to_string())
    }

    /// Parses bytes (`1073741824`) or qemu-img's binary suffixes
    /// (`512K`, `10G`, `2T`, `1P`; `k`/`K` = 1024, …; a trailing `B` or
    /// `iB` is accepted).
    pub fn parse(input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidSize {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        let s = s
            .strip_suffix("iB")
            .or_else(|| s.strip_suffix('B'))
            .unwrap_or(s);
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, suffix) = s.split_at(split);
        if digits.is_empty() {
            return Err(invalid("it does not start with a number"));
        }
        let shift = match suffix {
            "" => 0,
            "k" | "K" => 10,
            "M" => 20,
            "G" => 30,
            "T" => 40,
            "P" => 50,
            _ => return Err(invalid("unknown unit suffix")),
        };
        let number: u64 = digits
            .parse()
            .map_err(|_| invalid("the number is too large"))?;
        let bytes = number
            .checked_mul(1u64 << shift)
            .ok_or_else(|| invalid("it is larger than 1 PiB"))?;
        Self::check(bytes, input)
    }

    fn check(bytes: u64, input: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidSize {
            input: input.to_string(),
            reason,
        };
        if bytes == 0 {
            return Err(invalid("it is zero"));
        }
        if bytes > MAX_SIZE_BYTES {
            return Err(invalid("it is larger than 1 PiB"));
        }
        if !bytes.is_multiple_of(SECTOR_BYTES) {
            return Err(invalid("it is not a multiple of 512 bytes"));
        }
        Ok(Size(bytes))
    }

    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn good_names() {
        for n in ["a", "web-01", "db_2.data", "0", &"x".repeat(63)] {
            assert!(VolumeName::new(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn bad_names_say_why() {
        let cases = [
            ("", "empty"),
            (&*"x".repeat(64), "longer than 63"),
            ("-rf", "start with a letter"),
            (".hidden", "start with a letter"),
            ("..", "start with a letter"),
            ("a/b", "path separator"),
            ("a\\b", "path separator"),
            ("a b", "outside"),
            ("naïve", "outside"),
            ("a\0b", "outside"),
        ];
        for (name, want) in cases {
            let err = SnapshotName::new(name).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(want), "{name:?}: {msg}");
            assert!(msg.contains("snapshot name"), "{msg}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(Size::parse("1048576").unwrap().bytes(), 1 << 20);
        assert_eq!(Size::parse("512K").unwrap().bytes(), 512 << 10);
        assert_eq!(Size::parse("10G").unwrap().bytes(), 10 << 30);
        assert_eq!(Size::parse("10GiB").unwrap().bytes(), 10 << 30);
        assert_eq!(Size::parse("1P").unwrap().bytes(), 1 << 50);
        assert_eq!(Size::from_bytes(512).unwrap().bytes(), 512);
        for bad in [
            "0",
            "",
            "G",
            "-1",
            "1.5G",
            "2P",
            "1E",
            "513",
            "99999999999999999999",
            "10Q",
        ] {
            assert!(
                matches!(Size::parse(bad), Err(Error::InvalidSize { .. })),
                "{bad}"
            );
        }
        assert!(Size::from_bytes((1 << 50) + 512).is_err());
        assert!(Size::from_bytes(0).is_err());
    }

    proptest! {
        #[test]
        fn name_rule_holds(s in "\\PC{0,80}") {
            if let Ok(n) = ImageName::new(s.clone()) {
                prop_assert!(!n.as_str().is_empty() && n.as_str().len() <= 63);
                prop_assert!(!n.as_str().contains('/'));
                prop_assert!(!n.as_str().starts_with('-') && !n.as_str().starts_with('.'));
            }
        }

        #[test]
        fn size_parse_never_panics(s in "\\PC{0,30}") {
            if let Ok(size) = Size::parse(&s) {
                prop_assert!(size.bytes() > 0 && size.bytes() <= MAX_SIZE_BYTES);
                prop_assert_eq!(size.bytes() % 512, 0);
            }
        }
    }
}
