//! Time and chance as injected dependencies: a [`Clock`], a [`Sleeper`] and a [`Jitter`].
//!
//! The domain never calls these: its decisions take the current time and the jitter fraction
//! as arguments. The traits live here, with their deterministic test doubles in [`testing`], so
//! that every crate above the domain (the HTTP client, the engine, your own code) shares one
//! definition without depending on an HTTP stack. They are pure traits: a [`Sleeper`] returns a
//! boxed [`std::future::Future`], which needs no async runtime to name.
//!
//! The implementations that read the system clock, sleep on a timer or draw random numbers
//! (`SystemClock`, `TokioSleeper`, `RandomJitter`) live in `cxone_eventbridge::runtime`.

use chrono::{DateTime, Utc};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A source of the current time (token expiry, `Retry-After` dates, audit timestamps).
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// Waits: between retries, while a client is held by a `429 Retry-After`, for pacing.
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// A future that completes after `d`.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// Draws the jitter fraction of full-jitter backoff (see
/// [`RetryPolicy::backoff`](crate::RetryPolicy::backoff)).
pub trait Jitter: Send + Sync + fmt::Debug {
    /// A fraction in `[0, 1]`.
    fn fraction(&self) -> f64;
}

/// No jitter: always the fraction 1, so every backoff is its full exponential delay. For a
/// single sender, which has no crowd of callers to de-synchronise (the webhook monitor).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoJitter;

impl Jitter for NoJitter {
    fn fraction(&self) -> f64 {
        1.0
    }
}

/// Deterministic doubles of [`Clock`], [`Sleeper`] and [`Jitter`] for tests (yours and ours).
///
/// ```
/// use cxone_replay_domain::time::testing::{ManualClock, RecordingSleeper};
/// use cxone_replay_domain::{Clock, Sleeper};
/// use std::time::Duration;
///
/// let clock = ManualClock::new("2024-05-11T09:00:00Z".parse().unwrap());
/// let sleeper = RecordingSleeper::advancing(clock.clone());
/// let done = sleeper.sleep(Duration::from_secs(2)); // already complete: awaiting returns at once
/// assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(2)]);
/// assert_eq!(clock.now().to_rfc3339(), "2024-05-11T09:00:02+00:00");
/// # drop(done);
/// ```
pub mod testing {
    use super::{Clock, Jitter, Sleeper};
    use chrono::{DateTime, Utc};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    /// A clock that moves only when told to. Clones share the same time.
    #[derive(Debug, Clone)]
    pub struct ManualClock {
        now: Arc<Mutex<DateTime<Utc>>>,
    }

    impl ManualClock {
        /// A clock standing at `start`.
        #[must_use]
        pub fn new(start: DateTime<Utc>) -> Self {
            ManualClock {
                now: Arc::new(Mutex::new(start)),
            }
        }

        /// Moves the clock forward by `d` (saturating at chrono's maximum).
        pub fn advance(&self, d: Duration) {
            let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
            let delta = chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX);
            *now = now
                .checked_add_signed(delta)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
        }

        /// Sets the clock to `t`.
        pub fn set(&self, t: DateTime<Utc>) {
            *self.now.lock().unwrap_or_else(PoisonError::into_inner) = t;
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> DateTime<Utc> {
            *self.now.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    /// A sleeper that records every requested duration and returns at once, optionally
    /// advancing a [`ManualClock`] by the same amount. Clones share the record.
    ///
    /// The sleep is recorded (and the clock advanced) when [`Sleeper::sleep`] is called; the
    /// future it returns is already complete.
    #[derive(Debug, Clone, Default)]
    pub struct RecordingSleeper {
        sleeps: Arc<Mutex<Vec<Duration>>>,
        clock: Option<ManualClock>,
    }

    impl RecordingSleeper {
        /// Records sleeps; time does not move.
        #[must_use]
        pub fn new() -> Self {
            RecordingSleeper::default()
        }

        /// Records sleeps and advances `clock` by each one.
        #[must_use]
        pub fn advancing(clock: ManualClock) -> Self {
            RecordingSleeper {
                sleeps: Arc::default(),
                clock: Some(clock),
            }
        }

        /// Every requested sleep, in order.
        #[must_use]
        pub fn sleeps(&self) -> Vec<Duration> {
            self.sleeps
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }

        /// The sum of all requested sleeps.
        #[must_use]
        pub fn total(&self) -> Duration {
            self.sleeps().iter().sum()
        }
    }

    impl Sleeper for RecordingSleeper {
        fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
            self.sleeps
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(d);
            if let Some(clock) = &self.clock {
                clock.advance(d);
            }
            Box::pin(std::future::ready(()))
        }
    }

    /// Always the same jitter fraction (clamped to `[0, 1]` by the retry policy).
    #[derive(Debug, Clone, Copy)]
    pub struct FixedJitter(pub f64);

    impl Jitter for FixedJitter {
        fn fraction(&self) -> f64 {
            self.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use std::task::{Context, Poll, Waker};

    #[test]
    fn manual_clock_advances_sets_and_saturates() {
        let t0: DateTime<Utc> = "2024-05-11T09:00:00Z".parse().unwrap();
        let clock = ManualClock::new(t0);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), t0 + chrono::TimeDelta::milliseconds(1500));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        clock.set(t0);
        assert_eq!(clock.clone().now(), t0);
    }

    #[test]
    fn recording_sleeper_records_and_is_ready_at_once() {
        let t0: DateTime<Utc> = "2024-05-11T09:00:00Z".parse().unwrap();
        let clock = ManualClock::new(t0);
        let s = RecordingSleeper::advancing(clock.clone());
        let mut fut = s.sleep(Duration::from_secs(3600));
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(()));
        drop(s.clone().sleep(Duration::from_secs(1)));
        assert_eq!(
            s.sleeps(),
            [Duration::from_secs(3600), Duration::from_secs(1)]
        );
        assert_eq!(s.total(), Duration::from_secs(3601));
        assert_eq!(clock.now(), t0 + chrono::TimeDelta::seconds(3601));
        // Without a clock, time stands still.
        let still = RecordingSleeper::new();
        drop(still.sleep(Duration::from_secs(5)));
        assert_eq!(still.total(), Duration::from_secs(5));
    }

    #[test]
    fn jitters() {
        assert_eq!(NoJitter.fraction(), 1.0);
        assert_eq!(FixedJitter(0.25).fraction(), 0.25);
    }
}
