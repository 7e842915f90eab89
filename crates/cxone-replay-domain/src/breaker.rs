//! The circuit breaker: when a run should stop because more sends cannot succeed.
//!
//! A pure state machine fed with the final audit record of every event, in the order they are
//! recorded. It trips, once, on
//! - an authentication or permission failure of a send ([`FailureClass::Unauthorized`]: a 401
//!   that a token refresh did not cure; [`FailureClass::Forbidden`]: a 403), at once: the next
//!   send would be refused the same way;
//! - `limit` events in a row ending `FAILED` with a transient class (429, 5xx, network, time-out,
//!   or those retried until the retries ran out), when `limit` is not 0: the server is down;
//! - `limit` replays in a row answered `404` ([`FailureClass::NotFound`]), when `limit` is not
//!   0: the destination topic (or the API path) does not exist.
//!
//! A delivered event (`SUCCESS`, `DUPLICATE`) or a permanent failure of one event (say a 422)
//! ends a streak of transient failures: the server is answering; anything but a 404 ends a
//! streak of 404s. Skips and dry runs are not sends and change nothing;
//! nor does a send that made no request (abandoned at cancellation).

use crate::audit::{AuditAction, AuditRecord, ReplayStatus};
use crate::failure::FailureClass;
use std::fmt;

/// The default number of consecutive transiently failed events that stops a run.
pub const DEFAULT_STOP_AFTER_FAILURES: u32 = 50;

/// Why the circuit breaker stopped a run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// A send was refused for authentication (401 after a token refresh) or permission (403).
    AuthFailed {
        /// [`FailureClass::Unauthorized`] or [`FailureClass::Forbidden`].
        class: FailureClass,
        /// The HTTP status, if one was received.
        http_status: Option<u16>,
    },
    /// This many replays in a row were answered `404`: the destination topic, or the API
    /// path, does not exist.
    NotFound {
        /// How many (the breaker's limit).
        count: u32,
    },
    /// This many events in a row failed with a transient class.
    ConsecutiveFailures {
        /// How many (the breaker's limit).
        count: u32,
        /// The class of the last of them.
        last_class: FailureClass,
        /// The last HTTP status of the last of them, if one was received.
        http_status: Option<u16>,
    },
}

impl StopReason {
    /// Whether the run stopped on an authentication or permission failure (the CLI exits 2:
    /// the configuration must change before a run can succeed).
    #[must_use]
    pub const fn is_auth(&self) -> bool {
        matches!(self, StopReason::AuthFailed { .. })
    }

    /// Whether only a change of configuration can cure what stopped the run: an
    /// authentication or permission failure, or a destination that does not exist (the CLI
    /// exits 2). A run stopped for anything else may succeed when run again as it is.
    #[must_use]
    pub const fn is_configuration(&self) -> bool {
        matches!(
            self,
            StopReason::AuthFailed { .. } | StopReason::NotFound { .. }
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = |s: &Option<u16>| s.map(|s| format!(", HTTP {s}")).unwrap_or_default();
        match self {
            StopReason::AuthFailed {
                class: FailureClass::Unauthorized,
                http_status,
            } => write!(
                f,
                "a replay was refused as unauthorized (UNAUTHORIZED{}) even with a new token: \
                 the credentials are not accepted, more sends cannot succeed",
                status(http_status)
            ),
            StopReason::AuthFailed { class, http_status } => write!(
                f,
                "a replay was refused ({class}{}): the credentials lack the permission \
                 (scope eventbridge:write, or access to the topic), more sends cannot succeed",
                status(http_status)
            ),
            StopReason::NotFound { count } => write!(
                f,
                "{count} replays in a row were answered 404 (NOT_FOUND): the destination topic, \
                 or the API path, does not exist; more sends cannot succeed"
            ),
            StopReason::ConsecutiveFailures {
                count,
                last_class,
                http_status,
            } => write!(
                f,
                "{count} events in a row failed with a transient error (last: {last_class}{}): \
                 the API looks down",
                status(http_status)
            ),
        }
    }
}

/// The circuit breaker of a run: when it should stop because more sends cannot succeed.
///
/// Fed with the final audit record of every event, in the order they are recorded, it trips,
/// once, on an authentication or permission failure of a send
/// ([`FailureClass::Unauthorized`]: a 401 that a token refresh did not cure;
/// [`FailureClass::Forbidden`]: a 403), at once; or, when its limit is not 0, on that many
/// events in a row ending `FAILED` with a transient class (429, 5xx, network, time-out, or
/// retried until the retries ran out), or on that many replays in a row answered `404`. A
/// delivered event or a permanent failure of one event ends a streak of transient failures,
/// anything but a 404 one of 404s; skips, dry runs and sends that made no request change
/// nothing.
///
/// ```
/// use cxone_replay_domain::{CircuitBreaker, FailureClass, StopReason};
/// let mut b = CircuitBreaker::new(2);
/// assert!(b.observe_send(Some(FailureClass::ServerTransient), Some(503), 5).is_none());
/// let reason = b.observe_send(Some(FailureClass::MaxRetriesExceeded), Some(503), 5).cloned();
/// assert!(matches!(reason, Some(StopReason::ConsecutiveFailures { count: 2, .. })));
/// assert!(b.tripped().is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CircuitBreaker {
    limit: u32,
    streak: u32,
    /// Replays in a row answered `404`.
    not_found: u32,
    tripped: Option<StopReason>,
}

impl CircuitBreaker {
    /// A breaker that trips after `stop_after_failures` consecutive transient failures (0:
    /// never on failures in a row; an authentication failure still trips it).
    #[must_use]
    pub const fn new(stop_after_failures: u32) -> Self {
        CircuitBreaker {
            limit: stop_after_failures,
            streak: 0,
            not_found: 0,
            tripped: None,
        }
    }

    /// Takes note of one event's final record; returns the reason if this record trips the
    /// breaker (only the first time: once tripped it stays so and ignores the rest).
    pub fn observe(&mut self, record: &AuditRecord) -> Option<&StopReason> {
        if record.action != AuditAction::ReplayPut {
            return None;
        }
        let class = match record.status {
            ReplayStatus::Failed => Some(
                record
                    .error_classification
                    .unwrap_or(FailureClass::UnknownFailure),
            ),
            _ => None,
        };
        self.observe_send(class, record.http_status, record.http_attempts)
    }

    /// Takes note of one send's outcome: `class` is `None` for an accepted replay (and
    /// [`FailureClass::DuplicateDetected`] counts as delivered too), `attempts` the HTTP
    /// requests it made (0: none, it says nothing about the server). Returns the reason if this
    /// outcome trips the breaker.
    pub fn observe_send(
        &mut self,
        class: Option<FailureClass>,
        http_status: Option<u16>,
        attempts: u32,
    ) -> Option<&StopReason> {
        if self.tripped.is_some() || attempts == 0 {
            return None;
        }
        if class == Some(FailureClass::NotFound) {
            self.not_found += 1;
            if self.limit > 0 && self.not_found >= self.limit {
                self.tripped = Some(StopReason::NotFound {
                    count: self.not_found,
                });
            }
        } else {
            self.not_found = 0;
        }
        match class {
            None | Some(FailureClass::DuplicateDetected) => self.streak = 0,
            Some(class @ (FailureClass::Unauthorized | FailureClass::Forbidden)) => {
                self.tripped = Some(StopReason::AuthFailed { class, http_status });
            }
            Some(class) if class.is_retryable() || class == FailureClass::MaxRetriesExceeded => {
                self.streak += 1;
                if self.limit > 0 && self.streak >= self.limit {
                    self.tripped = Some(StopReason::ConsecutiveFailures {
                        count: self.streak,
                        last_class: class,
                        http_status,
                    });
                }
            }
            Some(_) => self.streak = 0,
        }
        self.tripped.as_ref()
    }

    /// Why the breaker tripped, if it did.
    #[must_use]
    pub fn tripped(&self) -> Option<&StopReason> {
        self.tripped.as_ref()
    }

    /// How many events in a row have failed transiently so far.
    #[must_use]
    pub fn streak(&self) -> u32 {
        self.streak
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FailureClass::*;

    /// One observed send: class (None = accepted), status, attempts.
    type Send = (Option<FailureClass>, Option<u16>, u32);

    /// Feeds `sends` to a breaker of `limit`; returns the index of the send that tripped it,
    /// its reason, and the streak at the end.
    fn feed(limit: u32, sends: &[Send]) -> (Option<usize>, Option<StopReason>, u32) {
        let mut b = CircuitBreaker::new(limit);
        let mut at = None;
        for (i, (class, status, attempts)) in sends.iter().enumerate() {
            if b.observe_send(*class, *status, *attempts).is_some() {
                assert!(at.is_none(), "tripped twice");
                at = Some(i);
            }
        }
        (at, b.tripped().cloned(), b.streak())
    }

    const T503: Send = (Some(MaxRetriesExceeded), Some(503), 5);
    const OK: Send = (None, Some(201), 1);
    const NF: Send = (Some(NotFound), Some(404), 1);

    #[test]
    fn breaker_table() {
        let consecutive = |count, last_class, http_status| {
            Some(StopReason::ConsecutiveFailures {
                count,
                last_class,
                http_status,
            })
        };
        /// (limit, sends, the send that trips it, the reason, the streak at the end)
        type Case = (u32, Vec<Send>, Option<usize>, Option<StopReason>, u32);
        let cases: Vec<Case> = vec![
            // limit 3: three transient failures in a row trip it at the third
            (
                3,
                vec![T503, T503, T503, T503],
                Some(2),
                consecutive(3, MaxRetriesExceeded, Some(503)),
                3,
            ),
            // every transient class counts
            (
                4,
                vec![
                    (Some(RateLimited), Some(429), 5),
                    (Some(ServerTransient), Some(502), 1),
                    (Some(Network), None, 5),
                    (Some(Timeout), Some(408), 5),
                ],
                Some(3),
                consecutive(4, Timeout, Some(408)),
                4,
            ),
            // a success, a duplicate or a permanent failure ends the streak
            (3, vec![T503, T503, OK, T503, T503], None, None, 2),
            (
                3,
                vec![T503, T503, (Some(DuplicateDetected), Some(409), 1), T503],
                None,
                None,
                1,
            ),
            (
                3,
                vec![
                    T503,
                    T503,
                    (Some(SchemaViolation), Some(422), 1),
                    T503,
                    T503,
                ],
                None,
                None,
                2,
            ),
            (
                3,
                vec![T503, (Some(NotFound), Some(404), 1), T503],
                None,
                None,
                1,
            ),
            // 404s in a row: the destination does not exist; anything else ends that streak
            (
                3,
                vec![NF, NF, NF, NF],
                Some(2),
                Some(StopReason::NotFound { count: 3 }),
                0,
            ),
            (3, vec![NF, NF, OK, NF, NF, T503, NF, NF], None, None, 0),
            (
                3,
                vec![NF, NF, (Some(SchemaViolation), Some(422), 1), NF],
                None,
                None,
                0,
            ),
            (0, vec![NF; 500], None, None, 0),
            // a send that made no request (abandoned) changes nothing
            (
                2,
                vec![T503, (Some(Timeout), None, 0), T503],
                Some(2),
                consecutive(2, MaxRetriesExceeded, Some(503)),
                2,
            ),
            (
                2,
                vec![T503, (None, None, 0), T503],
                Some(2),
                consecutive(2, MaxRetriesExceeded, Some(503)),
                2,
            ),
            // 0: never on a streak
            (0, vec![T503; 500], None, None, 500),
            // auth: at once, whatever the limit, and first reason kept
            (
                0,
                vec![
                    OK,
                    (Some(Unauthorized), Some(401), 2),
                    (Some(Forbidden), Some(403), 1),
                ],
                Some(1),
                Some(StopReason::AuthFailed {
                    class: Unauthorized,
                    http_status: Some(401),
                }),
                0,
            ),
            (
                50,
                vec![T503, (Some(Forbidden), Some(403), 1), T503],
                Some(1),
                Some(StopReason::AuthFailed {
                    class: Forbidden,
                    http_status: Some(403),
                }),
                1,
            ),
            // tripped: the rest is ignored
            (
                1,
                vec![T503, OK, (Some(Forbidden), Some(403), 1)],
                Some(0),
                consecutive(1, MaxRetriesExceeded, Some(503)),
                1,
            ),
        ];
        for (i, (limit, sends, at, reason, streak)) in cases.into_iter().enumerate() {
            assert_eq!(feed(limit, &sends), (at, reason, streak), "case {i}");
        }
    }

    #[test]
    fn records_that_are_not_sends_are_ignored() {
        use crate::audit::{AuditContext, SentOutcome};
        use crate::plan::{Skip, SkipReason};
        let ctx = AuditContext {
            run_id: "r",
            topic_id: "t",
            event_id: "e",
            destination: "t",
        };
        let at = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let failed = AuditRecord::sent(
            &ctx,
            &SentOutcome {
                class: Some(ServerTransient),
                idempotency_key: "k".into(),
                attempt: 1,
                http_status: Some(503),
                http_attempts: 5,
                latency_ms: 1.0,
                message: None,
            },
            at,
        );
        let skip = AuditRecord::skipped(
            &ctx,
            &Skip {
                reason: SkipReason::InvalidEvent,
                detail: String::new(),
                idempotency_key: None,
                attempt: None,
            },
            at,
        );
        let dry = AuditRecord::dry_run(&ctx, "k", 1, 10, at);
        let mut b = CircuitBreaker::new(2);
        assert!(b.observe(&failed).is_none());
        assert!(b.observe(&skip).is_none() && b.observe(&dry).is_none());
        assert_eq!(b.streak(), 1);
        let reason = b.observe(&failed).cloned().expect("tripped");
        assert_eq!(
            reason.to_string(),
            "2 events in a row failed with a transient error (last: SERVER_TRANSIENT, HTTP 503): \
             the API looks down"
        );
        assert!(!reason.is_auth());
    }

    #[test]
    fn auth_reasons_say_what_to_fix() {
        let r = StopReason::AuthFailed {
            class: Unauthorized,
            http_status: Some(401),
        };
        assert!(r.is_auth());
        assert!(r.to_string().contains("UNAUTHORIZED, HTTP 401"), "{r}");
        let r = StopReason::AuthFailed {
            class: Forbidden,
            http_status: Some(403),
        };
        assert!(r.to_string().contains("eventbridge:write"), "{r}");
        assert!(r.is_configuration());
        let r = StopReason::NotFound { count: 50 };
        assert!(r.is_configuration() && !r.is_auth());
        assert!(
            r.to_string()
                .starts_with("50 replays in a row were answered 404"),
            "{r}"
        );
        let r = StopReason::ConsecutiveFailures {
            count: 50,
            last_class: ServerTransient,
            http_status: Some(503),
        };
        assert!(!r.is_configuration());
    }
}
