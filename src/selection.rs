//! [`EventSet`] and [`Selection`]: which events a run, an export or a listing takes, by
//! (topic, event id) on top of the domain's [`EventFilter`].

use crate::digest::{DigestSet, event_key};
use cxone_replay_domain::{DlqEvent, EventFilter};

/// A set of events by topic and event id (the same id may exist in several topics), such as
/// those an audit log says failed
/// ([`FailedReport::event_set`](crate::audit_log::FailedReport::event_set)). A run also keeps
/// one of the events it took for replay, to tell a repeat within the run (`DUPLICATE_IN_RUN`).
///
/// Held as 128-bit SHA-256 digests: about 16 bytes per event plus the hash table's overhead
/// (some 35 bytes per event in all), whatever the length of the ids; a hostile DLQ cannot
/// make one event pass for another.
///
/// ```
/// use cxone_dlq_replay::EventSet;
/// let set: EventSet = [("topic_a", "evt_1")].into_iter().collect();
/// assert!(set.contains("topic_a", "evt_1"));
/// assert!(!set.contains("topic_b", "evt_1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventSet {
    keys: DigestSet,
}

impl EventSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an event; true if it was not in the set yet.
    pub fn insert(&mut self, topic: &str, event_id: &str) -> bool {
        self.keys.insert(event_key(topic, event_id))
    }

    /// Whether the set holds this event.
    #[must_use]
    pub fn contains(&self, topic: &str, event_id: &str) -> bool {
        self.keys.contains(&event_key(topic, event_id))
    }

    /// How many events.
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

impl<T: AsRef<str>, I: AsRef<str>> FromIterator<(T, I)> for EventSet {
    fn from_iter<It: IntoIterator<Item = (T, I)>>(iter: It) -> Self {
        let mut s = EventSet::new();
        for (t, i) in iter {
            s.insert(t.as_ref(), i.as_ref());
        }
        s
    }
}

/// Which events to take: those the domain filter admits and, if set, that are in `only`
/// (both must hold).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The domain's filter (time window, reason, type, ids).
    pub filter: EventFilter,
    /// Only these events, if set.
    pub only: Option<EventSet>,
}

impl Selection {
    /// Whether `event` of `topic` is selected.
    #[must_use]
    pub fn matches(&self, topic: &str, event: &DlqEvent) -> bool {
        self.filter.matches(event)
            && self
                .only
                .as_ref()
                .is_none_or(|o| o.contains(topic, &event.event_id))
    }

    /// Whether nothing is filtered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.filter.is_empty() && self.only.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_topic_is_part_of_the_identity() {
        let set: EventSet = [("ab", "c"), ("t", "e1")].into_iter().collect();
        assert!(set.contains("ab", "c"));
        assert!(
            !set.contains("a", "bc"),
            "no ambiguity between topic and id"
        );
        assert!(!set.contains("u", "e1"));
        assert_eq!(set.len(), 2);
        let e = DlqEvent::from_slice(br#"{"eventId":"e1","payload":{}}"#).unwrap();
        let sel = Selection {
            filter: EventFilter::default(),
            only: Some(set),
        };
        assert!(sel.matches("t", &e));
        assert!(!sel.matches("u", &e));
        assert!(Selection::default().matches("u", &e));
        assert!(Selection::default().is_empty() && !sel.is_empty());
    }

    #[test]
    fn insert_tells_a_repeat() {
        let mut set = EventSet::new();
        assert!(set.insert("t", "e1"));
        assert!(!set.insert("t", "e1"), "already there");
        assert!(set.insert("u", "e1"), "the same id in another topic");
        assert_eq!(set.len(), 2);
        let same: EventSet = [("u", "e1"), ("t", "e1")].into_iter().collect();
        assert_eq!(set, same, "equal by content, whatever the order");
    }
}
