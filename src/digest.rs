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
use std::collections::HashSet;

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
            self.shards = vec![HashSet::new(); 256];
        }
        let added = self.shards[usize::from(d[0])].insert(d);
        self.len += usize::from(added);
        added
    }

    /// Whether `d` is in the set.
    pub(crate) fn contains(&self, d: &Digest128) -> bool {
        self.shards
            .get(usize::from(d[0]))
            .is_some_and(|s| s.contains(d))
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
}
