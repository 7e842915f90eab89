//! What a run knows about the replays earlier runs delivered (resume).

use crate::digest::{Digest128, DigestSet, digest};
use cxone_replay_domain::AuditRecord;

/// The replays that already ended `SUCCESS` or `DUPLICATE`, for resume.
///
/// A replay is identified by its **topic** and its idempotency key's event part: the eventId
/// and the attempt (`retryCount + 1`), which is what the key encodes under either
/// [`KeyScheme`](cxone_replay_domain::KeyScheme). The topic is part of the identity because the
/// same eventId may sit in the DLQ of several topics (a fan-out): delivering it to one topic says
/// nothing about the others. Leaving the scheme out means that changing the key scheme between a
/// run and its resume does not send the delivered events again under new keys.
///
/// Held as 128-bit SHA-256 digests (16 bytes per replay plus the table's overhead, about 35
/// bytes in all), so a resume over a log of millions of events stays small, and a hostile DLQ
/// cannot make one replay pass for another.
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

    fn digest(topic: &str, event_id: &str, attempt: u32) -> Digest128 {
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
        self.keys.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
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
}
