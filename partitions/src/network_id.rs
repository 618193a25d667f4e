//! Network ids (VXLAN VNIs) per partition: each partition owns an inclusive
//! range, ranges never overlap, and a new network takes the lowest free id of
//! its partition's range.
//!
//! VNIs are 24 bits; 0 is not used, so ranges live in `1..=16_777_215`.
//! Overlap errors name the other partition: only fabric admins set ranges.
//!
//! Pure functions over values; this module must never do I/O.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Lowest usable network id.
pub const NETWORK_ID_MIN: u32 = 1;
/// Highest network id (24-bit VXLAN VNI).
pub const NETWORK_ID_MAX: u32 = 16_777_215;

/// An inclusive range of network ids, valid by construction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawRange", into = "RawRange")]
pub struct NetworkIdRange {
    first: u32,
    last: u32,
}

#[derive(Serialize, Deserialize)]
struct RawRange {
    first: u32,
    last: u32,
}

impl TryFrom<RawRange> for NetworkIdRange {
    type Error = NetworkIdError;
    fn try_from(raw: RawRange) -> Result<Self, NetworkIdError> {
        NetworkIdRange::new(raw.first, raw.last)
    }
}

impl From<NetworkIdRange> for RawRange {
    fn from(r: NetworkIdRange) -> RawRange {
        RawRange {
            first: r.first,
            last: r.last,
        }
    }
}

impl NetworkIdRange {
    /// The range `first..=last`, if it lies within
    /// [`NETWORK_ID_MIN`]`..=`[`NETWORK_ID_MAX`] and `first <= last`.
    pub fn new(first: u32, last: u32) -> Result<NetworkIdRange, NetworkIdError> {
        if first < NETWORK_ID_MIN || last > NETWORK_ID_MAX {
            return Err(NetworkIdError::OutOfBounds { first, last });
        }
        if first > last {
            return Err(NetworkIdError::Reversed { first, last });
        }
        Ok(NetworkIdRange { first, last })
    }

    /// First id.
    pub fn first(&self) -> u32 {
        self.first
    }

    /// Last id (inclusive).
    pub fn last(&self) -> u32 {
        self.last
    }

    /// How many ids it holds.
    pub fn len(&self) -> u32 {
        self.last - self.first + 1
    }

    /// Never true: a range holds at least one id.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `id` is in the range.
    pub fn contains(&self, id: u32) -> bool {
        (self.first..=self.last).contains(&id)
    }

    /// Whether the two ranges share an id.
    pub fn overlaps(&self, other: &NetworkIdRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

impl fmt::Display for NetworkIdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl fmt::Debug for NetworkIdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetworkIdRange({self})")
    }
}

/// Why a range or an allocation was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkIdError {
    /// Outside `1..=16_777_215`.
    #[error(
        "network id range {first}-{last} is out of bounds; VXLAN network ids run from \
         {NETWORK_ID_MIN} to {NETWORK_ID_MAX}"
    )]
    OutOfBounds {
        /// Requested first id.
        first: u32,
        /// Requested last id.
        last: u32,
    },
    /// `first > last`.
    #[error("network id range {first}-{last} is reversed; give the lower id first")]
    Reversed {
        /// Requested first id.
        first: u32,
        /// Requested last id.
        last: u32,
    },
    /// Shares ids with another partition's range.
    #[error(
        "network id range {range} for partition '{partition}' overlaps range {other_range} \
         of partition '{other}'; pick a range outside it"
    )]
    Overlap {
        /// The partition being given a range.
        partition: String,
        /// Its requested range.
        range: NetworkIdRange,
        /// The partition already holding ids in it.
        other: String,
        /// That partition's range.
        other_range: NetworkIdRange,
    },
    /// Every id of the range is in use (gRPC `ResourceExhausted`).
    #[error(
        "partition '{partition}' has used all {size} network ids of its range {range}; \
         delete a network or ask a fabric admin to widen the range with \
         `panctl partition set-network-ids {partition} <first>-<last>`",
        size = .range.len()
    )]
    RangeExhausted {
        /// The partition.
        partition: String,
        /// Its range.
        range: NetworkIdRange,
    },
}

/// Checks that partition `partition` may hold `range`, given every
/// partition's current range (`others` may include `partition` itself, as
/// when a range is being changed; that entry is skipped).
pub fn check_no_overlap<'a>(
    partition: &str,
    range: NetworkIdRange,
    others: impl IntoIterator<Item = (&'a str, NetworkIdRange)>,
) -> Result<(), NetworkIdError> {
    for (other, other_range) in others {
        if other != partition && range.overlaps(&other_range) {
            return Err(NetworkIdError::Overlap {
                partition: partition.to_string(),
                range,
                other: other.to_string(),
                other_range,
            });
        }
    }
    Ok(())
}

/// The lowest id of `range` not in `used`. Ids in `used` outside the range
/// are ignored. Takes time proportional to the used ids in the range.
pub fn allocate(
    partition: &str,
    range: NetworkIdRange,
    used: &BTreeSet<u32>,
) -> Result<u32, NetworkIdError> {
    let mut candidate = range.first;
    for &id in used.range(range.first..=range.last) {
        if id != candidate {
            break;
        }
        if id == range.last {
            return Err(NetworkIdError::RangeExhausted {
                partition: partition.to_string(),
                range,
            });
        }
        candidate = id + 1;
    }
    Ok(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn range(first: u32, last: u32) -> NetworkIdRange {
        NetworkIdRange::new(first, last).unwrap()
    }

    #[test]
    fn ranges_are_validated() {
        assert_eq!(range(1, NETWORK_ID_MAX).len(), NETWORK_ID_MAX);
        assert_eq!(range(5, 5).len(), 1);
        assert_eq!(
            NetworkIdRange::new(0, 10),
            Err(NetworkIdError::OutOfBounds { first: 0, last: 10 })
        );
        let err = NetworkIdRange::new(10, NETWORK_ID_MAX + 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "network id range 10-16777216 is out of bounds; VXLAN network ids run from \
             1 to 16777215"
        );
        let err = NetworkIdRange::new(10, 9).unwrap_err();
        assert_eq!(err, NetworkIdError::Reversed { first: 10, last: 9 });
        assert!(err.to_string().contains("give the lower id first"));
    }

    #[test]
    fn serde_cannot_smuggle_in_an_invalid_range() {
        // Deserialization goes through this conversion (`serde(try_from)`).
        let raw = RawRange { first: 9, last: 3 };
        assert!(NetworkIdRange::try_from(raw).is_err());
        let ok: RawRange = range(3, 9).into();
        assert_eq!(NetworkIdRange::try_from(ok), Ok(range(3, 9)));
    }

    #[test]
    fn overlap_is_refused_naming_the_other_partition() {
        let existing = [("acme", range(100, 199)), ("globex", range(200, 299))];
        check_no_overlap("initech", range(300, 399), existing).unwrap();
        check_no_overlap("initech", range(1, 99), existing).unwrap();
        // Changing one's own range may overlap the old one.
        check_no_overlap("acme", range(150, 180), existing).unwrap();

        for (r, other) in [
            (range(199, 199), "acme"),
            (range(50, 100), "acme"),
            (range(250, 260), "globex"),
            (range(1, NETWORK_ID_MAX), "acme"),
        ] {
            let err = check_no_overlap("initech", r, existing).unwrap_err();
            let NetworkIdError::Overlap { other: o, .. } = &err else {
                panic!("{err:?}")
            };
            assert_eq!(o, other);
        }
        let err = check_no_overlap("initech", range(290, 310), existing).unwrap_err();
        assert_eq!(
            err.to_string(),
            "network id range 290-310 for partition 'initech' overlaps range 200-299 of \
             partition 'globex'; pick a range outside it"
        );
    }

    #[test]
    fn allocation_takes_the_lowest_free_id() {
        let r = range(100, 104);
        let used = |ids: &[u32]| ids.iter().copied().collect::<BTreeSet<u32>>();
        assert_eq!(allocate("acme", r, &used(&[])), Ok(100));
        assert_eq!(allocate("acme", r, &used(&[100, 101])), Ok(102));
        assert_eq!(allocate("acme", r, &used(&[100, 102])), Ok(101));
        assert_eq!(allocate("acme", r, &used(&[101, 102])), Ok(100));
        assert_eq!(allocate("acme", r, &used(&[100, 101, 102, 103])), Ok(104));
        // Ids outside the range (other partitions') do not matter.
        assert_eq!(allocate("acme", r, &used(&[1, 99, 105, 9000])), Ok(100));
        assert_eq!(allocate("acme", r, &used(&[99, 100, 105])), Ok(101));
    }

    #[test]
    fn an_exhausted_range_says_so() {
        let r = range(100, 102);
        let used: BTreeSet<u32> = [100, 101, 102].into();
        let err = allocate("acme", r, &used).unwrap_err();
        assert_eq!(
            err,
            NetworkIdError::RangeExhausted {
                partition: "acme".into(),
                range: r
            }
        );
        assert_eq!(
            err.to_string(),
            "partition 'acme' has used all 3 network ids of its range 100-102; delete a \
             network or ask a fabric admin to widen the range with \
             `panctl partition set-network-ids acme <first>-<last>`"
        );
        // At the very top of the id space too (no overflow).
        let top = range(NETWORK_ID_MAX, NETWORK_ID_MAX);
        assert_eq!(allocate("acme", top, &BTreeSet::new()), Ok(NETWORK_ID_MAX));
        let used: BTreeSet<u32> = [NETWORK_ID_MAX].into();
        assert!(allocate("acme", top, &used).is_err());
    }

    proptest! {
        #[test]
        fn allocation_matches_a_linear_scan(
            first in 1u32..60,
            width in 0u32..40,
            used in proptest::collection::btree_set(0u32..120, 0..80),
        ) {
            let r = range(first, first + width);
            let expected = (r.first()..=r.last()).find(|id| !used.contains(id));
            match (allocate("acme", r, &used), expected) {
                (Ok(got), Some(want)) => prop_assert_eq!(got, want),
                (Err(NetworkIdError::RangeExhausted { .. }), None) => {}
                (got, want) => prop_assert!(false, "got {:?}, want {:?}", got, want),
            }
        }

        #[test]
        fn overlap_agrees_with_set_intersection(
            a in 1u32..50, aw in 0u32..20, b in 1u32..50, bw in 0u32..20,
        ) {
            let (ra, rb) = (range(a, a + aw), range(b, b + bw));
            let shared = (a..=a + aw).any(|id| rb.contains(id));
            prop_assert_eq!(ra.overlaps(&rb), shared);
            prop_assert_eq!(check_no_overlap("x", ra, [("y", rb)]).is_err(), shared);
        }
    }
}
