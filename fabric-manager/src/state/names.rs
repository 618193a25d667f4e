//! Servers by (partition, keyed hash of name): the lookup on every write's
//! path and the largest index.
//!
//! A hash table finds a key with one or two cache misses where a B-tree of
//! 300k random keys takes one per level (≈ 6), and every member looks a new
//! server's name up and inserts it. One big table, though, doubles all at
//! once as the fabric grows (229k names: 70–200 ms with every member
//! stopped). So the keys are spread over [`SHARDS`] small tables by the top
//! bits of their hash: each grows on its own, a few microseconds per
//! doubling at a million servers.

use pan_api::ids::{PartitionId, ServerId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// How many tables the keys are spread over: a power of two, the top bits
/// of a hash picking one.
const SHARDS: usize = 1024;
const _: () = assert!(SHARDS.is_power_of_two());

/// The servers whose names share one hash in a partition: almost always
/// one, kept without an allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Named {
    One(ServerId),
    Many(Vec<ServerId>),
}

impl Named {
    pub(super) fn ids(&self) -> &[ServerId] {
        match self {
            Named::One(id) => std::slice::from_ref(id),
            Named::Many(ids) => ids,
        }
    }
}

/// (partition, name hash) → servers; see the module doc.
#[derive(Clone, Debug, Default)]
pub(super) struct NameIndex {
    /// Empty until the first insert, then [`SHARDS`] tables.
    shards: Vec<HashMap<Key, Named, BuildHasherDefault<KeyHasher>>>,
    len: usize,
}

type Key = (PartitionId, u64);

impl NameIndex {
    fn shard(hash: u64) -> usize {
        // The top bits pick the table; `KeyHasher` mixes all of them again
        // for the table's own buckets and control bytes.
        (hash >> (64 - SHARDS.trailing_zeros())) as usize
    }

    pub(super) fn get(&self, key: &Key) -> Option<&Named> {
        self.shards.get(Self::shard(key.1))?.get(key)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds `id` under `key` (beside any server already there).
    pub(super) fn add(&mut self, key: Key, id: ServerId) {
        if self.shards.is_empty() {
            self.shards = (0..SHARDS).map(|_| HashMap::default()).collect();
        }
        let shard = &mut self.shards[Self::shard(key.1)];
        match shard.entry(key) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Named::One(id));
                self.len += 1;
            }
            std::collections::hash_map::Entry::Occupied(mut slot) => match slot.get_mut() {
                Named::One(other) => {
                    let other = *other;
                    slot.insert(Named::Many(vec![other, id]));
                }
                Named::Many(ids) => ids.push(id),
            },
        }
    }

    /// Removes `id` from under `key`; the key goes with its last server.
    pub(super) fn remove(&mut self, key: Key, id: ServerId) {
        let Some(shard) = self.shards.get_mut(Self::shard(key.1)) else {
            return;
        };
        let std::collections::hash_map::Entry::Occupied(mut slot) = shard.entry(key) else {
            return;
        };
        match slot.get_mut() {
            Named::One(only) if *only == id => {
                slot.remove();
                self.len -= 1;
            }
            Named::One(_) => {}
            Named::Many(ids) => {
                ids.retain(|&other| other != id);
                if let [one] = ids[..] {
                    *slot.get_mut() = Named::One(one);
                }
            }
        }
    }

    /// Every key and its servers, in no particular order.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Key, &Named)> {
        self.shards.iter().flat_map(|shard| shard.iter())
    }
}

/// Hashes a key whose second half is already a keyed hash: folds the
/// partition in and spreads every bit over the result (a multiply and a
/// shift), without hashing the bytes again.
#[derive(Default)]
pub(super) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only integers are hashed here; keep any other input correct.
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(29) ^ n;
    }

    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher as _;

    #[test]
    fn keys_sharing_a_hash_are_all_found_and_removed_one_by_one() {
        // Two ids under one key: the path real hash collisions take.
        let mut ix = NameIndex::default();
        assert!(ix.get(&(PartitionId(7), 1)).is_none(), "empty index");
        let key = (PartitionId(7), 0xdead_beef_u64 << 20);
        ix.add(key, ServerId(1));
        ix.add(key, ServerId(2));
        ix.add((PartitionId(7), 5), ServerId(3));
        assert_eq!(
            ix.get(&key).map(Named::ids),
            Some(&[ServerId(1), ServerId(2)][..])
        );
        assert_eq!(ix.len(), 2);
        ix.remove(key, ServerId(1));
        assert_eq!(ix.get(&key), Some(&Named::One(ServerId(2))));
        ix.remove(key, ServerId(9));
        assert_eq!(ix.get(&key), Some(&Named::One(ServerId(2))), "not there");
        ix.remove(key, ServerId(2));
        assert!(ix.get(&key).is_none());
        assert_eq!(ix.len(), 1);
        // Another partition's same hash is another key.
        ix.add((PartitionId(8), 5), ServerId(4));
        assert_eq!(ix.len(), 2);
        let mut all: Vec<_> = ix.iter().map(|(k, n)| (*k, n.ids().to_vec())).collect();
        all.sort();
        assert_eq!(
            all,
            [
                ((PartitionId(7), 5), vec![ServerId(3)]),
                ((PartitionId(8), 5), vec![ServerId(4)])
            ]
        );
    }

    #[test]
    fn a_hundred_thousand_keys_spread_over_every_shard() {
        let hasher = std::hash::RandomState::new();
        let mut ix = NameIndex::default();
        for i in 0..100_000u64 {
            ix.add((PartitionId(i % 3), hasher.hash_one(i)), ServerId(i));
        }
        assert_eq!(ix.len(), 100_000);
        let sizes: Vec<usize> = ix.shards.iter().map(HashMap::len).collect();
        // ≈ 98 per shard; a shard holding many times that would mean the
        // shard choice ignores the hash.
        assert!(sizes.iter().all(|&n| (40..200).contains(&n)), "{sizes:?}");
        for i in (0..100_000u64).step_by(997) {
            let key = (PartitionId(i % 3), hasher.hash_one(i));
            assert_eq!(ix.get(&key), Some(&Named::One(ServerId(i))));
        }
    }

    #[test]
    fn the_key_hasher_spreads_keys_of_one_shard_over_buckets_and_control_bytes() {
        // Keys of one shard share their top ten hash bits, and hashbrown
        // takes a table's buckets from the low bits and its control bytes
        // from the top seven: both must still vary.
        let build = BuildHasherDefault::<KeyHasher>::default();
        let hashes: Vec<u64> = (0..4096u64)
            .map(|i| build.hash_one((PartitionId(1), (3u64 << 54) | (i << 20))))
            .collect();
        let low: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 0xfff).collect();
        let top: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(low.len() > 2000, "low bits: {}", low.len());
        assert_eq!(top.len(), 128, "control bytes");
    }
}
