//! Pure retry decisions: full-jitter exponential backoff, `Retry-After`, and a retry budget.
//!
//! Nothing here reads a clock or draws a random number: the current time and the jitter
//! fraction come in as arguments, so the decisions are plain functions that tests can tabulate.

use crate::error::DomainError;
use crate::failure::{Disposition, FailureClass};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// How often and how patiently to retry one request.
///
/// Defaults: 5 attempts, 200 ms base delay, 20 s cap, `Retry-After` honoured up to 120 s.
/// Every event matters to a replay, so the defaults lean to persistence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    retry_after_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
            retry_after_cap: Duration::from_secs(120),
        }
    }
}

/// What to do after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Send the same request again after this delay.
    RetryAfter(Duration),
    /// Invalidate the token, fetch a new one, and send the request again at once.
    RefreshAuthAndRetry,
    /// Stop and report this class (for a retryable class whose attempts ran out:
    /// [`FailureClass::MaxRetriesExceeded`]).
    GiveUp(FailureClass),
    /// The server already holds this request's effect (409): stop, this is not a failure.
    AlreadyDelivered,
}

impl RetryPolicy {
    /// A policy with `max_attempts` attempts in all (the first try included), a base delay and a
    /// cap on any single backoff delay.
    ///
    /// # Errors
    /// [`DomainError::InvalidSetting`] if `max_attempts` is 0 or `base_delay` exceeds `max_delay`.
    pub fn new(
        max_attempts: u32,
        base_delay: Duration,
        max_delay: Duration,
    ) -> Result<Self, DomainError> {
        if max_attempts == 0 {
            return Err(DomainError::InvalidSetting {
                setting: "max_attempts",
                problem: "must be at least 1 (the first try counts)".into(),
            });
        }
        if base_delay > max_delay {
            return Err(DomainError::InvalidSetting {
                setting: "base_delay",
                problem: format!("{base_delay:?} is larger than the cap {max_delay:?}"),
            });
        }
        Ok(RetryPolicy {
            max_attempts,
            base_delay,
            max_delay,
            ..RetryPolicy::default()
        })
    }

    /// Caps how long a server's `Retry-After` is honoured (default 120 s).
    #[must_use]
    pub fn with_retry_after_cap(mut self, cap: Duration) -> Self {
        self.retry_after_cap = cap;
        self
    }

    /// Attempts in all, the first try included.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The base delay of the exponential backoff.
    #[must_use]
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The cap on a single backoff delay.
    #[must_use]
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The cap on an honoured `Retry-After`.
    #[must_use]
    pub fn retry_after_cap(&self) -> Duration {
        self.retry_after_cap
    }

    /// Full-jitter exponential backoff before retry number `attempt` (1 = the delay after the
    /// first failed try): `jitter * min(cap, base * 2^(attempt-1))`.
    ///
    /// `jitter` is a fraction in `[0, 1]` drawn by the caller (values outside are clamped, NaN is
    /// 0). Never exceeds the cap and never overflows, whatever `attempt` is.
    ///
    /// ```
    /// use cxone_replay_domain::RetryPolicy;
    /// use std::time::Duration;
    /// let p = RetryPolicy::new(5, Duration::from_millis(200), Duration::from_secs(20)).unwrap();
    /// assert_eq!(p.backoff(1, 1.0), Duration::from_millis(200));
    /// assert_eq!(p.backoff(3, 0.5), Duration::from_millis(400));
    /// assert_eq!(p.backoff(1_000, 1.0), Duration::from_secs(20));
    /// ```
    #[must_use]
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(63);
        let factor = 1u128 << exp;
        let ceiling_nanos = self
            .base_delay
            .as_nanos()
            .saturating_mul(factor)
            .min(self.max_delay.as_nanos());
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        // ceiling_nanos <= max_delay, which fits u64 nanos for any sane cap; saturate otherwise.
        let ceiling = u64::try_from(ceiling_nanos).unwrap_or(u64::MAX) as f64;
        let nanos = (ceiling * jitter).min(ceiling);
        Duration::from_nanos(nanos as u64)
    }

    /// Decides what to do after attempt number `attempt` (1-based) failed with `class`.
    ///
    /// - `retry_after`: the server's `Retry-After` (already parsed, see [`parse_retry_after`]);
    ///   honoured for retryable classes, capped.
    /// - `auth_refreshed`: whether this request already refreshed its token once.
    /// - `jitter`: a fraction in `[0, 1]` for the backoff.
    ///
    /// ```
    /// use cxone_replay_domain::{FailureClass, RetryDecision, RetryPolicy};
    /// use std::time::Duration;
    /// let p = RetryPolicy::default();
    /// assert_eq!(
    ///     p.decide(FailureClass::RateLimited, 1, Some(Duration::from_secs(2)), false, 0.3),
    ///     RetryDecision::RetryAfter(Duration::from_secs(2))
    /// );
    /// assert_eq!(
    ///     p.decide(FailureClass::ServerTransient, 5, None, false, 0.3),
    ///     RetryDecision::GiveUp(FailureClass::MaxRetriesExceeded)
    /// );
    /// ```
    #[must_use]
    pub fn decide(
        &self,
        class: FailureClass,
        attempt: u32,
        retry_after: Option<Duration>,
        auth_refreshed: bool,
        jitter: f64,
    ) -> RetryDecision {
        match class.disposition() {
            Disposition::AlreadyDelivered => RetryDecision::AlreadyDelivered,
            Disposition::Permanent => RetryDecision::GiveUp(class),
            Disposition::RefreshAuthThenRetryOnce => {
                if auth_refreshed || attempt >= self.max_attempts.max(2) {
                    RetryDecision::GiveUp(FailureClass::Unauthorized)
                } else {
                    RetryDecision::RefreshAuthAndRetry
                }
            }
            Disposition::Retry => {
                if attempt >= self.max_attempts {
                    return RetryDecision::GiveUp(FailureClass::MaxRetriesExceeded);
                }
                let delay = match retry_after {
                    Some(after) => after.min(self.retry_after_cap),
                    None => self.backoff(attempt, jitter),
                };
                RetryDecision::RetryAfter(delay)
            }
        }
    }
}

/// Parses a `Retry-After` header value: delta-seconds (`"2"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`), relative to `now`, capped at `cap`.
///
/// A date in the past gives zero. Anything unparseable gives `None` (the caller falls back to
/// its own backoff), never an error.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use cxone_replay_domain::parse_retry_after;
/// use std::time::Duration;
/// let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 50).unwrap();
/// let cap = Duration::from_secs(120);
/// assert_eq!(parse_retry_after("2", now, cap), Some(Duration::from_secs(2)));
/// assert_eq!(
///     parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now, cap),
///     Some(Duration::from_secs(10))
/// );
/// assert_eq!(parse_retry_after("soon", now, cap), None);
/// ```
#[must_use]
pub fn parse_retry_after(value: &str, now: DateTime<Utc>, cap: Duration) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Delta-seconds; an absurdly long run of digits saturates to the cap.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(cap));
    }
    let at = parse_http_date(value)?;
    let delta = at.signed_duration_since(now);
    let delay = delta.to_std().unwrap_or(Duration::ZERO);
    Some(delay.min(cap))
}

/// Parses the three HTTP date forms of RFC 9110 (IMF-fixdate, RFC 850, asctime).
fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc2822(value) {
        return Some(dt.with_timezone(&Utc));
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(value, "%A, %d-%b-%y %H:%M:%S GMT") {
        return Some(dt.and_utc());
    }
    // asctime: "Sun Nov  6 08:49:37 1994"
    chrono::NaiveDateTime::parse_from_str(value, "%a %b %e %H:%M:%S %Y")
        .ok()
        .map(|dt| dt.and_utc())
}

/// A client-wide retry budget (a token bucket, as in the AWS SDKs' "standard" retry mode).
///
/// Each retry withdraws tokens (more for time-outs); each success that needed no retry puts a
/// token back. When the bucket is empty, retries stop until successes refill it, so a failing
/// server is not hit by every caller's full set of retries at once. Pure state: no clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryBudget {
    capacity: u32,
    available: u32,
    retry_cost: u32,
    timeout_cost: u32,
    success_refund: u32,
}

impl Default for RetryBudget {
    /// The AWS standard-mode figures: 500 tokens, 5 per retry, 10 per time-out retry, 1 back per
    /// success.
    fn default() -> Self {
        RetryBudget::new(500, 5, 10, 1)
    }
}

impl RetryBudget {
    /// A full bucket of `capacity` tokens with the given costs and refund.
    #[must_use]
    pub fn new(capacity: u32, retry_cost: u32, timeout_cost: u32, success_refund: u32) -> Self {
        RetryBudget {
            capacity,
            available: capacity,
            retry_cost,
            timeout_cost,
            success_refund,
        }
    }

    /// Tokens left.
    #[must_use]
    pub fn available(&self) -> u32 {
        self.available
    }

    /// Withdraws the cost of retrying after `class`. Returns the tokens taken (to hand back with
    /// [`RetryBudget::refund`] if the retry succeeds), or `None` if the budget is spent.
    ///
    /// A 429 is the server pacing us, not a failure storm: it costs nothing.
    pub fn try_withdraw(&mut self, class: FailureClass) -> Option<u32> {
        let cost = match class {
            FailureClass::RateLimited => 0,
            FailureClass::Timeout => self.timeout_cost,
            _ => self.retry_cost,
        };
        if self.available < cost {
            return None;
        }
        self.available -= cost;
        Some(cost)
    }

    /// Puts tokens back after a request succeeded: the tokens its retries took, or the success
    /// refund if it needed no retry.
    pub fn refund(&mut self, withdrawn: u32) {
        let back = if withdrawn == 0 {
            self.success_refund
        } else {
            withdrawn
        };
        self.available = self.available.saturating_add(back).min(self.capacity);
    }
}
