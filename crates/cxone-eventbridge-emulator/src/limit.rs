//! A real rate limit over the API routes: a token bucket on tokio's clock.
//!
//! The bucket holds at most `burst` tokens and refills at `per_second`; every API request (DLQ
//! read or PUT) takes one, and a request that finds it empty is answered `429` with
//! `Retry-After: 1`. With `rate_limit_headers`, every API response carries the IETF fields of
//! draft-ietf-httpapi-ratelimit-headers-11:
//!
//! ```text
//! RateLimit-Policy: "default";q=200;w=1     the policy: 200 requests per 1-second window
//! RateLimit: "default";r=17                 17 whole tokens left in the bucket
//! ```
//!
//! `RateLimit` carries no `t` (effective window): a token bucket has none. `t` promises that no
//! more than `r` may be used within `t` seconds, while the bucket refills continuously; any `t`
//! would understate the limit (or, for `r` = 0, hold clients back longer than the 429's own
//! `Retry-After: 1`).

use crate::error::EmulatorError;
use axum::http::HeaderValue;
use tokio::time::Instant;

/// The largest rate limit and burst accepted.
pub const MAX_RATE_LIMIT: u32 = 1_000_000;

/// A token-bucket limit over the API routes: `per_second` requests per second, with bursts of
/// up to `burst` requests (default `max(1, per_second / 10)`).
///
/// ```
/// use cxone_eventbridge_emulator::RateLimit;
/// let limit = RateLimit::new(200);
/// assert_eq!((limit.per_second(), limit.burst()), (200, 20));
/// assert_eq!(RateLimit::new(5).burst(), 1);
/// assert_eq!(RateLimit::new(200).with_burst(50).burst(), 50);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    per_second: u32,
    burst: u32,
}

impl RateLimit {
    /// `per_second` requests per second, bursts of `max(1, per_second / 10)`.
    #[must_use]
    pub fn new(per_second: u32) -> Self {
        RateLimit {
            per_second,
            burst: (per_second / 10).max(1),
        }
    }

    /// The same rate with bursts of up to `burst` requests.
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Requests per second.
    #[must_use]
    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// The largest burst.
    #[must_use]
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Both at least 1 and at most [`MAX_RATE_LIMIT`].
    pub(crate) fn check(&self) -> Result<(), EmulatorError> {
        for (setting, n) in [
            ("rate_limit", self.per_second),
            ("rate_limit_burst", self.burst),
        ] {
            if !(1..=MAX_RATE_LIMIT).contains(&n) {
                return Err(EmulatorError::InvalidConfig {
                    setting,
                    problem: format!("{n} is not from 1 to {MAX_RATE_LIMIT}"),
                });
            }
        }
        Ok(())
    }
}

/// What the bucket said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Whether the request got a token.
    pub(crate) admitted: bool,
    /// Whole tokens left after it.
    pub(crate) remaining: u64,
    /// The limit it was judged by.
    pub(crate) limit: RateLimit,
}

impl Verdict {
    /// The `RateLimit-Policy` and `RateLimit` field values of this verdict.
    pub(crate) fn fields(&self) -> (HeaderValue, HeaderValue) {
        let policy = format!("\"default\";q={};w=1", self.limit.per_second);
        let limit = format!("\"default\";r={}", self.remaining);
        (
            HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("")),
            HeaderValue::from_str(&limit).unwrap_or(HeaderValue::from_static("")),
        )
    }
}

/// The bucket.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn new(limit: RateLimit, now: Instant) -> Self {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens =
            (self.tokens + dt * f64::from(self.limit.per_second)).min(f64::from(self.limit.burst));
        self.last = now;
    }

    /// Takes a token for a request arriving `now`, if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> Verdict {
        self.refill(now);
        let admitted = self.tokens >= 1.0;
        if admitted {
            self.tokens -= 1.0;
        }
        Verdict {
            admitted,
            remaining: self.tokens.floor() as u64,
            limit: self.limit,
        }
    }

    /// A new limit from `now`: the tokens earned so far are kept, up to the new burst.
    pub(crate) fn set(&mut self, limit: RateLimit, now: Instant) {
        self.refill(now);
        self.limit = limit;
        self.tokens = self.tokens.min(f64::from(limit.burst));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_bucket_allows_its_burst_then_refills_at_its_rate() {
        let mut b = Bucket::new(RateLimit::new(10).with_burst(3), Instant::now());
        let admitted = |b: &mut Bucket| b.take(Instant::now()).admitted;
        assert!((0..3).all(|_| admitted(&mut b)), "the burst");
        assert!(!admitted(&mut b), "then empty");
        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(!admitted(&mut b), "a token takes 100 ms");
        tokio::time::advance(Duration::from_millis(1)).await;
        let v = b.take(Instant::now());
        assert!(v.admitted);
        assert_eq!(v.remaining, 0);
        // Idle for a long time: never more than the burst.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(b.take(Instant::now()).remaining, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_limit_keeps_the_tokens_up_to_its_burst() {
        let mut b = Bucket::new(RateLimit::new(100), Instant::now());
        b.set(RateLimit::new(10), Instant::now());
        assert_eq!(
            b.take(Instant::now()).remaining,
            0,
            "burst 1: one token, now taken"
        );
        tokio::time::advance(Duration::from_millis(100)).await;
        let v = b.take(Instant::now());
        assert!(v.admitted);
        assert_eq!(v.limit.per_second(), 10);
    }

    #[test]
    fn limits_out_of_range_are_named() {
        assert_eq!(
            RateLimit::new(0).check().unwrap_err().setting(),
            Some("rate_limit")
        );
        assert_eq!(
            RateLimit::new(5)
                .with_burst(0)
                .check()
                .unwrap_err()
                .setting(),
            Some("rate_limit_burst")
        );
        assert!(RateLimit::new(MAX_RATE_LIMIT + 1).check().is_err());
        assert!(RateLimit::new(MAX_RATE_LIMIT).check().is_ok());
    }

    #[test]
    fn the_fields_follow_the_draft() {
        let v = Verdict {
            admitted: true,
            remaining: 17,
            limit: RateLimit::new(200),
        };
        let (policy, limit) = v.fields();
        assert_eq!(policy, "\"default\";q=200;w=1");
        assert_eq!(limit, "\"default\";r=17");
        let q = cxone_replay_domain::Quota::from_fields(policy.to_str().ok(), limit.to_str().ok())
            .expect("our own fields parse");
        assert_eq!((q.per_second, q.remaining), (Some(200.0), Some(17)));
    }
}
