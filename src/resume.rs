//! What a run knows about the events it meets: the replays earlier runs delivered (resume) and
//! the events this run has already taken (duplicates within a run).
//!
//! Both sets hold 128-bit digests (SHA-256 prefixes) of an event's identity rather than its
//! strings, so their memory is bounded per entry whatever the ids look like: a 16-byte digest
//! and the hash table's control byte and spare room, about 35 bytes per entry (a dry run of a
//! million events peaks at 42 MiB, against 6 MiB for 100,000). The tables are sharded so that
//! growing never holds two copies of a whole set. A digest prefix of SHA-256 cannot be made to
//! collide on purpose (that needs about 2^64 work), so a hostile DLQ cannot make one event pass
//! for another.

use cxone_replay_domain::AuditRecord;
use sha2::{Digest, Sha256};
use std::collections::HashSet;

/// A 128-bit digest of `parts` under `domain`: each part is length-prefixed, so no two
/// different lists of parts share an encoding.
fn digest(domain: &[u8], parts: &[&[u8]]) -> [u8; 16] {
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

/// A set of 128-bit digests, in 256 shards by the first byte: a shard's table doubles on its
/// own, so growing never holds two copies of the whole set (one big table would briefly need
/// about 1.5 times its memory while it doubles).
#[derive(Debug, Clone, Default)]
struct DigestSet {
    shards: Vec<HashSet<[u8; 16]>>,
    len: usize,
}

impl DigestSet {
    /// Adds `d`; true if it was not there yet.
    fn insert(&mut self, d: [u8; 16]) -> bool {
        if self.shards.is_empty() {
            self.shards = vec![HashSet::new(); 256];
        }
        let added = self.shards[usize::from(d[0])].insert(d);
        self.len += usize::from(added);
        added
    }

    fn contains(&self, d: &[u8; 16]) -> bool {
        self.shards
            .get(usize::from(d[0]))
            .is_some_and(|s| s.contains(d))
    }
}

/// The replays that already ended `SUCCESS` or `DUPLICATE`, for resume.
///
/// A replay is identified by its **topic** and its idempotency key's event part: the eventId
/// and the attempt (`retryCount + 1`), which is what the key encodes under either
/// [`KeyScheme`](cxone_replay_domain::KeyScheme). The topic is part of the identity because the
/// same eventId may sit in the DLQ of several topics (a fan-out): delivering it to one topic says
/// nothing about the others. Leaving the scheme out means that changing the key scheme between a
/// run and its resume does not send the delivered events again under new keys.
///
/// Held as 128-bit digests (16 bytes per replay plus the table's overhead; see the module
/// documentation), so a resume over a log of millions of events stays small.
///
/// ```
/// use cxone_dlq_replay::DeliveredKeys;
/// let mut d = DeliveredKeys::new();
/// d.insert("t1", "evt_1", 4);
/// assert!(d.contains("t1", "evt_1", 4));
/// assert!(!d.contains("t2", "evt_1", 4), "another topic's replay of the same event");
/// assert!(!d.contains("t1", "evt_1", 5), "another attempt");
/// ```
#[derive(Debug, Clone, Default)]
pub struct DeliveredKeys {
    keys: DigestSet,
}

impl DeliveredKeys {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn digest(topic: &str, event_id: &str, attempt: u32) -> [u8; 16] {
        digest(
            b"delivered\0",
            &[
                topic.as_bytes(),
                event_id.as_bytes(),
                &attempt.to_le_bytes(),
            ],
        )
    }

    /// Adds a delivered replay: attempt `attempt` of `event_id` to `topic`.
    pub fn insert(&mut self, topic: &str, event_id: &str, attempt: u32) {
        self.keys.insert(Self::digest(topic, event_id, attempt));
    }

    /// Adds the replay of `record` if the record says it was delivered (`SUCCESS` or
    /// `DUPLICATE`, with its attempt); returns whether it did. What an [`AuditSink`] that reads
    /// back its records calls for each of them.
    ///
    /// [`AuditSink`]: crate::AuditSink
    pub fn insert_record(&mut self, record: &AuditRecord) -> bool {
        match record.attempt {
            Some(attempt) if record.status.is_delivered() => {
                self.insert(&record.topic_id, &record.event_id, attempt);
                true
            }
            _ => false,
        }
    }

    /// Whether attempt `attempt` of `event_id` to `topic` was delivered.
    #[must_use]
    pub fn contains(&self, topic: &str, event_id: &str, attempt: u32) -> bool {
        self.keys.contains(&Self::digest(topic, event_id, attempt))
    }

    /// How many replays.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.len == 0
    }
}

/// The delivered replays among `records` (see [`DeliveredKeys::insert_record`]).
impl<'a> FromIterator<&'a AuditRecord> for DeliveredKeys {
    fn from_iter<I: IntoIterator<Item = &'a AuditRecord>>(iter: I) -> Self {
        let mut d = DeliveredKeys::new();
        for r in iter {
            d.insert_record(r);
        }
        d
    }
}

/// The events this run has already taken for replay, by topic and eventId: a server that hands
/// out an event again (on a later page) gets it sent once; the repeat is recorded
/// `SKIPPED`/`DUPLICATE_IN_RUN`.
///
/// It holds one 128-bit digest per event taken for replay (not per event seen: skips are not
/// kept), so it grows with the run like [`DeliveredKeys`] grows with the log: about 35 bytes
/// per event (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct SeenInRun {
    keys: DigestSet,
}

impl SeenInRun {
    /// Takes `event_id` of `topic`: true the first time, false for a repeat.
    pub(crate) fn first_time(&mut self, topic: &str, event_id: &str) -> bool {
        self.keys.insert(digest(
            b"in-run\0",
            &[topic.as_bytes(), event_id.as_bytes()],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxone_replay_domain::{AuditContext, ReplayStatus, SentOutcome};

    #[test]
    fn delivered_replays_are_told_apart_by_topic_event_and_attempt() {
        let mut d = DeliveredKeys::new();
        d.insert("t1", "evt", 2);
        assert!(d.contains("t1", "evt", 2));
        for (topic, id, attempt) in [("t2", "evt", 2), ("t1", "evt", 3), ("t1", "ev", 2)] {
            assert!(!d.contains(topic, id, attempt), "{topic} {id} {attempt}");
        }
        // Length prefixes: moving bytes between the parts makes another identity.
        d.insert("a", "bc", 1);
        assert!(!d.contains("ab", "c", 1));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn only_delivered_records_with_an_attempt_count() {
        let ctx = AuditContext {
            run_id: "r",
            topic_id: "t1",
            event_id: "e",
            destination: "t1",
        };
        let sent = |class| SentOutcome {
            class,
            idempotency_key: "replay-e-v1".into(),
            attempt: 1,
            http_status: None,
            http_attempts: 1,
            latency_ms: 1.0,
            message: None,
        };
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let ok = AuditRecord::sent(&ctx, &sent(None), at);
        let failed = AuditRecord::sent(
            &ctx,
            &sent(Some(cxone_replay_domain::FailureClass::Network)),
            at,
        );
        let mut no_attempt = ok.clone();
        no_attempt.attempt = None;
        let d: DeliveredKeys = [&failed, &no_attempt].into_iter().collect();
        assert!(d.is_empty());
        let d: DeliveredKeys = [&failed, &ok].into_iter().collect();
        assert_eq!(ok.status, ReplayStatus::Success);
        assert!(d.contains("t1", "e", 1));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn a_repeat_in_the_run_is_told_by_topic_and_event() {
        let mut s = SeenInRun::default();
        assert!(s.first_time("t1", "e"));
        assert!(!s.first_time("t1", "e"));
        assert!(s.first_time("t2", "e"));
        assert!(s.first_time("t1", "e2"));
    }
}
