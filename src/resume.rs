//! What a resumed run already knows: the replays an earlier run delivered.

use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// The idempotency keys whose replay already ended `SUCCESS` or `DUPLICATE`.
///
/// Keys are kept as 128-bit SHA-256 prefixes, not strings, so a resume over a log of millions of
/// events stays small (about 16 bytes and the set's overhead per key).
#[derive(Debug, Clone, Default)]
pub struct DeliveredKeys {
    keys: HashSet<[u8; 16]>,
}

impl DeliveredKeys {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn digest(key: &str) -> [u8; 16] {
        let full = Sha256::digest(key.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// Adds a delivered key.
    pub fn insert(&mut self, key: &str) {
        self.keys.insert(Self::digest(key));
    }

    /// Whether `key` was delivered.
    #[must_use]
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(&Self::digest(key))
    }

    /// How many keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl<S: AsRef<str>> FromIterator<S> for DeliveredKeys {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut d = DeliveredKeys::new();
        for k in iter {
            d.insert(k.as_ref());
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_only_what_was_inserted() {
        let d: DeliveredKeys = ["replay-a-v1", "replay-b-v2"].into_iter().collect();
        assert!(d.contains("replay-a-v1"));
        assert!(d.contains("replay-b-v2"));
        assert!(!d.contains("replay-a-v2"));
        assert_eq!(d.len(), 2);
    }
}
