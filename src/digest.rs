//! 128-bit digests of identities, and sets of them: the one way the engine holds events by
//! identity (resume's delivered replays, the in-run duplicate set, [`EventSet`], the audit-log
//! readers' per-event tables).
//!
//! A digest is a SHA-256 prefix of the identity's parts rather than its strings, so memory is
//! bounded per entry whatever the ids look like: a 16-byte digest and the hash table's control
//! byte and spare room, about 35 bytes per entry (a dry run of a million events peaks at
//! 42 MiB, against 6 MiB for 100,000). A [`DigestSet`] is sharded so that growing never holds
//! two copies of a whole set. A digest prefix of SHA-256 cannot be made to collide on purpose
//! (that needs about 2^64 work), so a hostile DLQ cannot make one event pass for another.
//!
//! [`EventSet`]: crate::EventSet

use sha2::{Digest, Sha256};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

/// A 128-bit digest.
pub(crate) type Digest128 = [u8; 16];

/// A 128-bit digest of `parts` under `domain`: each part is length-prefixed, so no two
/// different lists of parts share an encoding, and digests of different domains never meet.
pub(crate) fn digest(domain: &[u8], parts: &[&[u8]]) -> Digest128 {
    let mut h = Sha256::new();
    h.update(domain);
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// The identity of an event: its topic and its id (the same id may exist in several topics).
pub(crate) fn event_key(topic: &str, event_id: &str) -> Digest128 {
    digest(b"event\0", &[topic.as_bytes(), event_id.as_bytes()])
}

/// Shards of a [`DigestSet`] or a [`DigestMap`].
const SHARDS: usize = 256;

/// The shard of `d`: its first byte (a digest's bytes are uniform).
fn shard(d: &Digest128) -> usize {
    usize::from(d[0])
}

/// A set of 128-bit digests, in 256 shards by the first byte: a shard's table doubles on its
/// own, so growing never holds two copies of the whole set (one big table would briefly need
/// about 1.5 times its memory while it doubles).
#[derive(Debug, Clone, Default)]
pub(crate) struct DigestSet {
    shards: Vec<HashSet<Digest128>>,
    len: usize,
}

impl DigestSet {
    /// Adds `d`; true if it was not there yet.
    pub(crate) fn insert(&mut self, d: Digest128) -> bool {
        if self.shards.is_empty() {
            self.shards = vec![HashSet::new(); SHARDS];
        }
        let added = self.shards[shard(&d)].insert(d);
        self.len += usize::from(added);
        added
    }

    /// Whether `d` is in the set.
    pub(crate) fn contains(&self, d: &Digest128) -> bool {
        self.shards.get(shard(d)).is_some_and(|s| s.contains(d))
    }

    /// How many digests.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A map from 128-bit digests to `V`, sharded as a [`DigestSet`] is, so that growing never
/// holds two copies of the whole table: the audit-log readers' per-event tables.
#[derive(Debug, Clone)]
pub(crate) struct DigestMap<V> {
    shards: Vec<HashMap<Digest128, V>>,
}

impl<V> Default for DigestMap<V> {
    fn default() -> Self {
        DigestMap { shards: Vec::new() }
    }
}

impl<V> DigestMap<V> {
    /// The entry of `d`.
    pub(crate) fn entry(&mut self, d: Digest128) -> Entry<'_, Digest128, V> {
        if self.shards.is_empty() {
            self.shards = std::iter::repeat_with(HashMap::new).take(SHARDS).collect();
        }
        self.shards[shard(&d)].entry(d)
    }

    /// Removes `d`.
    pub(crate) fn remove(&mut self, d: &Digest128) -> Option<V> {
        self.shards.get_mut(shard(d)).and_then(|s| s.remove(d))
    }

    /// How many digests (a sum over the shards: not for a hot path).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(HashMap::len).sum()
    }

    /// The values, consumed, in no particular order.
    pub(crate) fn into_values(self) -> impl Iterator<Item = V> {
        self.shards.into_iter().flat_map(HashMap::into_values)
    }
}

/// Equal when both hold the same digests (however their shards were allocated).
impl PartialEq for DigestSet {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.shards.iter().flatten().all(|d| other.contains(d))
    }
}

impl Eq for DigestSet {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_length_prefixed_and_domains_apart() {
        assert_ne!(event_key("ab", "c"), event_key("a", "bc"));
        assert_ne!(event_key("t", "e"), event_key("u", "e"));
        assert_eq!(event_key("t", "e"), event_key("t", "e"));
        assert_ne!(
            digest(b"event\0", &[b"t", b"e"]),
            digest(b"other\0", &[b"t", b"e"])
        );
    }

    #[test]
    fn a_set_counts_each_digest_once_and_compares_by_content() {
        let mut a = DigestSet::default();
        assert!(a.is_empty() && !a.contains(&event_key("t", "e")));
        assert!(a.insert(event_key("t", "e")));
        assert!(!a.insert(event_key("t", "e")));
        assert!(a.insert(event_key("t", "f")));
        assert_eq!(a.len(), 2);
        let mut b = DigestSet::default();
        b.insert(event_key("t", "f"));
        assert_ne!(a, b);
        b.insert(event_key("t", "e"));
        assert_eq!(a, b);
        assert_eq!(DigestSet::default(), DigestSet::default());
    }

    #[test]
    fn a_map_holds_one_value_per_digest() {
        let mut m: DigestMap<u32> = DigestMap::default();
        assert_eq!(m.len(), 0);
        assert_eq!(m.remove(&event_key("t", "e")), None);
        *m.entry(event_key("t", "e")).or_default() += 1;
        *m.entry(event_key("t", "e")).or_default() += 1;
        *m.entry(event_key("t", "f")).or_default() += 5;
        assert_eq!(m.len(), 2);
        assert_eq!(m.remove(&event_key("t", "f")), Some(5));
        assert_eq!(m.remove(&event_key("t", "f")), None);
        assert_eq!(m.into_values().collect::<Vec<_>>(), [2]);
    }
}
