//! Which DLQ events an operator wants replayed.

use crate::error::DomainError;
use crate::wire::DlqEvent;
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// Selects DLQ events. Every criterion is optional; those set are combined with AND. The
/// default filter admits everything.
///
/// ```
/// use cxone_replay_domain::{DlqEvent, EventFilter};
/// let e = DlqEvent::from_slice(br#"{"eventId":"e1","payload":{"type":"conversation:start"},
///     "failureReason":"HTTP 502 Bad Gateway","lastFailureTimestamp":"2024-05-10T14:35:00Z"}"#).unwrap();
/// let f = EventFilter::default().reason_contains("bad gateway").event_type("conversation:start");
/// assert!(f.matches(&e));
/// assert!(!EventFilter::default().event_ids(["e2"]).matches(&e));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    reason_lower: Option<String>,
    event_types: Option<HashSet<String>>,
    event_ids: Option<HashSet<String>>,
}

impl EventFilter {
    /// A filter that admits everything.
    #[must_use]
    pub fn new() -> Self {
        EventFilter::default()
    }

    /// Only events whose `lastFailureTimestamp` is at or after `since`.
    #[must_use]
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// Only events whose `lastFailureTimestamp` is before `until`.
    #[must_use]
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// Only events whose `failureReason` contains `text`, ignoring case.
    #[must_use]
    pub fn reason_contains(mut self, text: impl AsRef<str>) -> Self {
        self.reason_lower = Some(text.as_ref().to_lowercase());
        self
    }

    /// Only events whose payload `type` is `event_type` (may be given several times: any of them).
    #[must_use]
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_types
            .get_or_insert_with(HashSet::new)
            .insert(event_type.into());
        self
    }

    /// Only the events with these ids (adds to any ids given before).
    #[must_use]
    pub fn event_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.event_ids
            .get_or_insert_with(HashSet::new)
            .extend(ids.into_iter().map(Into::into));
        self
    }

    /// Checks that the filter can match anything at all.
    ///
    /// # Errors
    /// [`DomainError::InvalidSetting`] if `since` is not before `until`.
    pub fn check(&self) -> Result<(), DomainError> {
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since >= until
        {
            return Err(DomainError::InvalidSetting {
                setting: "since/until",
                problem: format!("since ({since}) must be before until ({until})"),
            });
        }
        Ok(())
    }

    /// Whether no criterion is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self == &EventFilter::default()
    }

    /// Whether `event` passes every criterion that is set.
    ///
    /// An event without a (valid) `lastFailureTimestamp` fails a time window; one without a
    /// `failureReason` fails a reason filter; one without a string payload `type` fails a type
    /// filter.
    #[must_use]
    pub fn matches(&self, event: &DlqEvent) -> bool {
        if let Some(ids) = &self.event_ids
            && !ids.contains(&event.event_id)
        {
            return false;
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(at) = event.last_failure_at() else {
                return false;
            };
            if self.since.is_some_and(|s| at < s) || self.until.is_some_and(|u| at >= u) {
                return false;
            }
        }
        if let Some(needle) = &self.reason_lower {
            match &event.failure_reason {
                Some(reason) if reason.to_lowercase().contains(needle.as_str()) => {}
                _ => return false,
            }
        }
        if let Some(types) = &self.event_types {
            match event.event_type() {
                Some(t) if types.contains(&t) => {}
                _ => return false,
            }
        }
        true
    }
}
