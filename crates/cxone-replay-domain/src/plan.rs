//! The per-event decision: replay (with the exact body) or skip (with a reason).

use crate::error::DomainError;
use crate::filter::EventFilter;
use crate::ids::{DestinationOverride, IdempotencyKey, KeyScheme};
use crate::payload::{
    CLIENT_VERSION, ReplayMetadata, ReplayPayload, RetryMatrix, RoutingDirective,
};
use crate::wire::DlqEvent;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The bus's body size limit: 256 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 262_144;

/// Why an event was not sent. Names as in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum SkipReason {
    /// `retryCount + 1` is over the policy's maximum retries.
    RetryWindowExceeded,
    /// The event first failed longer ago than the policy's maximum age.
    TooOld,
    /// The serialized PUT body is over the size limit.
    PayloadTooLarge,
    /// A field is missing or ill-typed, or the event cannot make a valid payload.
    InvalidEvent,
    /// The operator's filter excluded it.
    Filtered,
    /// A previous run's audit log shows this replay already delivered.
    AlreadyReplayed,
    /// The same topic and eventId came up earlier in this run (a server that repeats events
    /// across pages): it is sent once, the repeat is recorded with this reason.
    DuplicateInRun,
}

impl SkipReason {
    /// Every reason, in declaration order.
    pub const ALL: [SkipReason; 7] = [
        SkipReason::RetryWindowExceeded,
        SkipReason::TooOld,
        SkipReason::PayloadTooLarge,
        SkipReason::InvalidEvent,
        SkipReason::Filtered,
        SkipReason::AlreadyReplayed,
        SkipReason::DuplicateInRun,
    ];

    /// The name used in the audit log, e.g. `"TOO_OLD"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            SkipReason::RetryWindowExceeded => "RETRY_WINDOW_EXCEEDED",
            SkipReason::TooOld => "TOO_OLD",
            SkipReason::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            SkipReason::InvalidEvent => "INVALID_EVENT",
            SkipReason::Filtered => "FILTERED",
            SkipReason::AlreadyReplayed => "ALREADY_REPLAYED",
            SkipReason::DuplicateInRun => "DUPLICATE_IN_RUN",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What may be replayed, and how.
///
/// ```
/// use cxone_replay_domain::ReplayPolicy;
/// use std::time::Duration;
/// let p = ReplayPolicy::default().max_retries(3).unwrap().max_age(Duration::from_secs(7 * 86_400));
/// assert_eq!(p.get_max_retries(), 3);
/// assert_eq!(p.get_body_limit(), 262_144);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayPolicy {
    max_retries: u32,
    max_age: Option<Duration>,
    body_limit: usize,
    destination_override: Option<DestinationOverride>,
    client_version: String,
    key_scheme: KeyScheme,
}

impl Default for ReplayPolicy {
    /// 5 retries, no age limit, a 262,144-byte body, no override, this crate's version, the
    /// tutorial's event-scoped idempotency key.
    fn default() -> Self {
        ReplayPolicy {
            max_retries: 5,
            max_age: None,
            body_limit: DEFAULT_BODY_LIMIT,
            destination_override: None,
            client_version: CLIENT_VERSION.to_string(),
            key_scheme: KeyScheme::EventScoped,
        }
    }
}

impl ReplayPolicy {
    /// The retry window: an event is replayed only while `retryCount + 1 <= max_retries`.
    ///
    /// # Errors
    /// [`DomainError::InvalidSetting`] for 0 (nothing could ever be replayed).
    pub fn max_retries(mut self, max_retries: u32) -> Result<Self, DomainError> {
        if max_retries == 0 {
            return Err(DomainError::InvalidSetting {
                setting: "max_retries",
                problem: "must be at least 1".into(),
            });
        }
        self.max_retries = max_retries;
        Ok(self)
    }

    /// Events that first failed longer ago than this are skipped as `TOO_OLD`.
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The largest PUT body, in bytes (default 262,144).
    ///
    /// # Errors
    /// [`DomainError::InvalidSetting`] for 0.
    pub fn body_limit(mut self, bytes: usize) -> Result<Self, DomainError> {
        if bytes == 0 {
            return Err(DomainError::InvalidSetting {
                setting: "body_limit",
                problem: "must be at least 1 byte".into(),
            });
        }
        self.body_limit = bytes;
        Ok(self)
    }

    /// Route replays to this URL instead of the topic's subscribers.
    #[must_use]
    pub fn destination_override(mut self, url: Option<DestinationOverride>) -> Self {
        self.destination_override = url;
        self
    }

    /// The `clientVersion` sent in `replayMetadata` (default: this crate's version).
    ///
    /// # Errors
    /// [`DomainError::InvalidSetting`] if empty or longer than 64 characters.
    pub fn client_version(mut self, version: impl Into<String>) -> Result<Self, DomainError> {
        let version = version.into();
        if version.is_empty() || version.len() > 64 {
            return Err(DomainError::InvalidSetting {
                setting: "client_version",
                problem: "must be 1 to 64 characters".into(),
            });
        }
        self.client_version = version;
        Ok(self)
    }

    /// How idempotency keys are made (default [`KeyScheme::EventScoped`], the tutorial's
    /// `replay-{eventId}-v{n}`; [`KeyScheme::TopicScoped`] for servers that dedupe keys across
    /// topics).
    #[must_use]
    pub fn key_scheme(mut self, scheme: KeyScheme) -> Self {
        self.key_scheme = scheme;
        self
    }

    /// The key scheme.
    #[must_use]
    pub fn get_key_scheme(&self) -> KeyScheme {
        self.key_scheme
    }

    /// The retry window.
    #[must_use]
    pub fn get_max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The maximum age, if any.
    #[must_use]
    pub fn get_max_age(&self) -> Option<Duration> {
        self.max_age
    }

    /// The body size limit in bytes.
    #[must_use]
    pub fn get_body_limit(&self) -> usize {
        self.body_limit
    }

    /// The destination override, if any.
    #[must_use]
    pub fn get_destination_override(&self) -> Option<&DestinationOverride> {
        self.destination_override.as_ref()
    }

    /// The `clientVersion` sent.
    #[must_use]
    pub fn get_client_version(&self) -> &str {
        &self.client_version
    }
}

/// A replay ready to send: the payload and the exact bytes of its PUT body.
#[derive(Debug, Clone)]
pub struct PlannedReplay {
    /// The payload.
    pub payload: ReplayPayload,
    /// `payload` serialized: send these bytes, on every attempt.
    pub body: Vec<u8>,
}

impl PlannedReplay {
    /// The idempotency key (body field and header).
    #[must_use]
    pub fn idempotency_key(&self) -> &IdempotencyKey {
        &self.payload.idempotency_key
    }
}

/// Why an event is skipped, with what is known of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The reason, as audited.
    pub reason: SkipReason,
    /// A sentence for the audit record's `message`.
    pub detail: String,
    /// The key the replay would have had, when one could be made.
    pub idempotency_key: Option<IdempotencyKey>,
    /// The attempt the replay would have been (`retryCount + 1`), when known.
    pub attempt: Option<u32>,
}

/// The decision for one DLQ event.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one decision per event, moved once: boxing buys nothing
pub enum Decision {
    /// Send it.
    Replay(PlannedReplay),
    /// Do not send it.
    Skip(Skip),
}

/// Decides what to do with one DLQ event read from the DLQ of `topic` (the topic its replay is
/// PUT to, and part of its key under [`KeyScheme::TopicScoped`]). Pure: `now` is passed in.
///
/// In order: an invalid event is `INVALID_EVENT`; an event the filter excludes is `FILTERED`;
/// `retryCount + 1 > max_retries` is `RETRY_WINDOW_EXCEEDED`; an event first failed (or, lacking
/// that, last failed) more than `max_age` before `now` is `TOO_OLD`; a serialized body over the
/// limit is `PAYLOAD_TOO_LARGE`. Otherwise the payload is built, checked, serialized once, and
/// returned with its bytes.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use cxone_replay_domain::{plan, Decision, DlqEvent, EventFilter, ReplayPolicy};
/// let event = DlqEvent::from_slice(br#"{"eventId":"evt_1","topicId":"t","payload":{"n":1.50},"retryCount":3}"#).unwrap();
/// let now = Utc.with_ymd_and_hms(2024, 5, 11, 9, 15, 22).unwrap();
/// match plan(&event, "t", &ReplayPolicy::default(), &EventFilter::default(), now) {
///     Decision::Replay(r) => {
///         assert_eq!(r.idempotency_key().as_str(), "replay-evt_1-v4");
///         assert!(String::from_utf8(r.body).unwrap().contains(r#""originalPayload":{"n":1.50}"#));
///     }
///     Decision::Skip(s) => panic!("skipped: {}", s.detail),
/// }
/// ```
#[must_use]
pub fn plan(
    event: &DlqEvent,
    topic: &str,
    policy: &ReplayPolicy,
    filter: &EventFilter,
    now: DateTime<Utc>,
) -> Decision {
    let skip = |reason, detail: String, key: Option<IdempotencyKey>, attempt| {
        Decision::Skip(Skip {
            reason,
            detail,
            idempotency_key: key,
            attempt,
        })
    };
    if let Err(e) = event.check() {
        return skip(SkipReason::InvalidEvent, e.to_string(), None, None);
    }
    let attempt = event.retry_count().saturating_add(1);
    let key = match policy.key_scheme.key(topic, &event.event_id, attempt) {
        Ok(k) => k,
        Err(e) => {
            return skip(
                SkipReason::InvalidEvent,
                format!(
                    "eventId cannot make a {}-scoped idempotency key: {e}",
                    policy.key_scheme
                ),
                None,
                Some(attempt),
            );
        }
    };
    if !filter.matches(event) {
        return skip(
            SkipReason::Filtered,
            "excluded by the event filter".into(),
            Some(key),
            Some(attempt),
        );
    }
    if attempt > policy.max_retries {
        return skip(
            SkipReason::RetryWindowExceeded,
            format!(
                "attempt {attempt} (retryCount {}) exceeds the retry window of {}",
                event.retry_count(),
                policy.max_retries
            ),
            Some(key),
            Some(attempt),
        );
    }
    if let Some(max_age) = policy.max_age {
        let Some(born) = event.first_failure_at().or_else(|| event.last_failure_at()) else {
            return skip(
                SkipReason::InvalidEvent,
                "a maximum age is set but the event has no failure timestamp".into(),
                Some(key),
                Some(attempt),
            );
        };
        let age = now.signed_duration_since(born);
        let limit = chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
        if age > limit {
            return skip(
                SkipReason::TooOld,
                format!(
                    "first failed {} ago, over the maximum age of {}",
                    human(age),
                    human(limit)
                ),
                Some(key),
                Some(attempt),
            );
        }
    }
    let payload = ReplayPayload {
        event_id: event.event_id.clone(),
        idempotency_key: key.clone(),
        // check() guarantees a payload.
        original_payload: event.payload.clone().unwrap_or_default(),
        retry_matrix: RetryMatrix {
            current_attempt: attempt,
            max_allowed: policy.max_retries,
            first_failure: event.first_failure_timestamp.clone(),
            last_failure: event.last_failure_timestamp.clone(),
            failure_reason: event.failure_reason.clone(),
        },
        routing_directive: RoutingDirective::new(policy.destination_override.clone()),
        replay_metadata: ReplayMetadata {
            initiated_at: now,
            client_version: policy.client_version.clone(),
        },
    };
    if let Err(e) = payload.check() {
        return skip(
            SkipReason::InvalidEvent,
            e.to_string(),
            Some(key),
            Some(attempt),
        );
    }
    let body = payload.to_body();
    if body.len() > policy.body_limit {
        return skip(
            SkipReason::PayloadTooLarge,
            format!(
                "PUT body is {} bytes, over the limit of {}",
                body.len(),
                policy.body_limit
            ),
            Some(key),
            Some(attempt),
        );
    }
    Decision::Replay(PlannedReplay { payload, body })
}

fn human(d: chrono::Duration) -> String {
    let secs = d.num_seconds();
    if secs >= 86_400 {
        format!("{:.1} days", secs as f64 / 86_400.0)
    } else if secs >= 3_600 {
        format!("{:.1} hours", secs as f64 / 3_600.0)
    } else {
        format!("{secs} s")
    }
}
