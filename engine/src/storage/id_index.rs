//! In-memory secondary indexes for storage backends: [`IdIndex`] maps
//! each index prefix (an [`IndexKey`] with id 0) to the ids under it, in
//! order, as an [`IdSet`].
//!
//! `nexwatt-storage-memory` keeps every index this way;
//! `nexwatt-storage-sled` keeps its run index this way (rebuilt from the
//! run records when a database opens), so writing a run is one sled key.
//!
//! ```
//! use nexwatt_engine::storage::backend::IndexKey;
//! use nexwatt_engine::storage::id_index::IdIndex;
//!
//! let key = |id| IndexKey { workspace: 1, mask: 0, run: 0, agent: 0, status: 0, id };
//! let mut index = IdIndex::default();
//! index.update(&[], &[key(7), key(3)]);
//! let (low, high) = key(0).range_after(Some(3)).unwrap();
//! assert_eq!(index.range(low, high).collect::<Vec<_>>(), vec![7]);
//! ```

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::backend::IndexKey;

/// A fast hasher for keys made of ULIDs (random in their low 80 bits):
/// a folded 128-bit multiply per word instead of SipHash. Ids come from
/// the engine's generator, not from clients, so there is no collision
/// attack to defend against here.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl IdHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        const K: u64 = 0x9E37_79B9_7F4A_7C15;
        let product = u128::from(self.0 ^ word).wrapping_mul(u128::from(K));
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }
}

/// A `HashMap` keyed by ids, hashed with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A sorted set of ids, kept as sorted chunks of at most
/// 256 ids (every id of a chunk below every id of the next).
/// Ids come from a ULID generator that is monotonic in-process, so nearly
/// every insert is larger than every stored id: a push onto the last chunk,
/// where a `BTreeSet` walks and compares down every level. Other inserts
/// and removals binary-search the chunks, then move at most one chunk's
/// ids.
#[derive(Debug, Default)]
pub struct IdSet {
    chunks: Vec<Vec<u128>>,
}

impl IdSet {
    /// The most ids in one chunk; a fuller chunk splits in two.
    const CHUNK: usize = 256;

    /// The index of the chunk where `id` is or would go: the first whose
    /// last id is at least `id` (or the last chunk).
    fn chunk_for(&self, id: u128) -> usize {
        let i = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|last| *last < id));
        i.min(self.chunks.len().saturating_sub(1))
    }

    /// Adds `id`; false if it was there.
    pub fn insert(&mut self, id: u128) -> bool {
        let Some(last) = self.chunks.last_mut() else {
            // Exactly one slot each (`vec!` allocates what it holds): most
            // sets (a run's escalations, its events) hold a few ids.
            self.chunks.reserve_exact(1);
            self.chunks.push(vec![id]);
            return true;
        };
        if last.last().is_some_and(|l| *l < id) && last.len() < Self::CHUNK {
            last.push(id);
            return true;
        }
        let i = self.chunk_for(id);
        let is_last = i + 1 == self.chunks.len();
        let Some(chunk) = self.chunks.get_mut(i) else {
            return false;
        };
        match chunk.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                chunk.insert(at, id);
                if chunk.len() > Self::CHUNK {
                    // A chunk that fills by pushes (the last one) splits
                    // off only its newest id; others split in half.
                    let keep = if is_last && at + 1 == chunk.len() {
                        Self::CHUNK
                    } else {
                        chunk.len() / 2
                    };
                    let tail = chunk.split_off(keep);
                    self.chunks.insert(i + 1, tail);
                }
                true
            }
        }
    }

    /// Removes `id`; false if it was not there.
    pub fn remove(&mut self, id: u128) -> bool {
        let i = self.chunk_for(id);
        let Some(chunk) = self.chunks.get_mut(i) else {
            return false;
        };
        match chunk.binary_search(&id) {
            Ok(at) => {
                chunk.remove(at);
                if chunk.is_empty() {
                    self.chunks.remove(i);
                }
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the set holds no id.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The ids from `low` (inclusive) on, in order.
    pub fn iter_from(&self, low: u128) -> impl Iterator<Item = u128> + '_ {
        let i = self.chunk_for(low);
        let rest = self.chunks.get(i..).unwrap_or_default();
        rest.iter().enumerate().flat_map(move |(n, chunk)| {
            let start = if n == 0 {
                chunk.partition_point(|id| *id < low)
            } else {
                0
            };
            chunk.get(start..).unwrap_or_default().iter().copied()
        })
    }
}

/// Secondary index entries of one record type: for each prefix (an
/// [`IndexKey`] with id 0), the ids under it in order. A page of a list is
/// [`IdIndex::range`] over the list's prefix: O(log n + limit).
#[derive(Debug, Default)]
pub struct IdIndex {
    sets: IdMap<IndexKey, IdSet>,
}

impl IdIndex {
    /// Adds entry `key`; false if it was there.
    pub fn insert(&mut self, key: IndexKey) -> bool {
        self.sets.entry(key.with_id(0)).or_default().insert(key.id)
    }

    /// Removes entry `key`; false if it was not there.
    pub fn remove(&mut self, key: IndexKey) -> bool {
        let prefix = key.with_id(0);
        let Some(ids) = self.sets.get_mut(&prefix) else {
            return false;
        };
        let removed = ids.remove(key.id);
        if ids.is_empty() {
            self.sets.remove(&prefix);
        }
        removed
    }

    /// Replaces a record's entries `old` with `new`, touching only the
    /// entries that differ.
    pub fn update(&mut self, old: &[IndexKey], new: &[IndexKey]) {
        for key in old {
            if !new.contains(key) {
                self.remove(*key);
            }
        }
        for key in new {
            if !old.contains(key) {
                self.insert(*key);
            }
        }
    }

    /// The ids from `low` to `high` (inclusive) under their prefix (that
    /// of `low`; [`IndexKey::range_after`] gives both ends), in order.
    pub fn range(&self, low: IndexKey, high: IndexKey) -> impl Iterator<Item = u128> + '_ {
        self.sets
            .get(&low.with_id(0))
            .into_iter()
            .flat_map(move |ids| ids.iter_from(low.id))
            .take_while(move |id| *id <= high.id)
    }

    /// Every prefix and its ids, in no particular order of prefixes.
    pub fn prefixes(&self) -> impl Iterator<Item = (&IndexKey, &IdSet)> + '_ {
        self.sets.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::{IdIndex, IdSet};
    use crate::storage::backend::IndexKey;

    proptest! {
        /// Any sequence of inserts and removals leaves `IdSet` with the
        /// same members, in the same order, as a `BTreeSet`, and reports
        /// the same changes; `iter_from` agrees from any start.
        #[test]
        fn id_set_behaves_like_a_btree_set(
            ops in proptest::collection::vec((any::<bool>(), 0u128..2_000, any::<bool>()), 0..3_000),
            start in 0u128..2_100,
        ) {
            let mut set = IdSet::default();
            let mut model = BTreeSet::new();
            let mut next = 2_000u128;
            for (insert, id, fresh) in ops {
                if insert {
                    // Mostly ever-larger ids, as the ULID generator makes.
                    let id = if fresh { next += 1; next } else { id };
                    prop_assert_eq!(set.insert(id), model.insert(id));
                } else {
                    prop_assert_eq!(set.remove(id), model.remove(&id));
                }
                prop_assert_eq!(set.is_empty(), model.is_empty());
            }
            prop_assert!(set.chunks.iter().all(|c| !c.is_empty() && c.len() <= IdSet::CHUNK));
            let all: Vec<u128> = set.iter_from(0).collect();
            prop_assert_eq!(all, model.iter().copied().collect::<Vec<_>>());
            let from: Vec<u128> = set.iter_from(start).collect();
            prop_assert_eq!(from, model.range(start..).copied().collect::<Vec<_>>());
        }
    }

    fn key(prefix: u128, id: u128) -> IndexKey {
        IndexKey {
            workspace: prefix,
            mask: 0,
            run: 0,
            agent: 0,
            status: 0,
            id,
        }
    }

    #[test]
    fn an_index_pages_each_prefix_apart_and_forgets_empty_ones() {
        let mut index = IdIndex::default();
        index.update(&[], &[key(1, 5), key(2, 6)]);
        index.update(&[], &[key(1, 9)]);
        let (low, high) = key(1, 0).range_after(None).unwrap();
        assert_eq!(index.range(low, high).collect::<Vec<_>>(), vec![5, 9]);
        // An update moves only what differs.
        index.update(&[key(1, 9)], &[key(2, 9)]);
        let (low2, high2) = key(2, 0).range_after(Some(6)).unwrap();
        assert_eq!(index.range(low2, high2).collect::<Vec<_>>(), vec![9]);
        assert!(!index.remove(key(1, 9)), "already moved");
        assert!(index.remove(key(1, 5)));
        assert_eq!(index.range(low, high).count(), 0);
        assert_eq!(index.prefixes().count(), 1, "prefix 1 is gone");
    }
}
