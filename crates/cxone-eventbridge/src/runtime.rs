//! The client's view of time and chance: a [`Clock`], a [`Sleeper`] and a [`Jitter`].
//!
//! Production code uses [`SystemClock`], [`TokioSleeper`] and [`RandomJitter`] (the defaults of
//! [`ClientBuilder`](crate::ClientBuilder)). Tests inject the doubles of [`testing`] so that
//! token expiry, `Retry-After` waits and backoff can be asserted without wall time.

use chrono::{DateTime, Utc};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A source of the current time (token expiry, `Retry-After` dates, the client-wide hold).
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// Waits: between retries and while the client is held by a `429 Retry-After`.
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// A future that completes after `d`.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}

/// Draws the jitter fraction of full-jitter backoff.
pub trait Jitter: Send + Sync + fmt::Debug {
    /// A fraction in `[0, 1]`.
    fn fraction(&self) -> f64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Uniformly random jitter from the thread-local generator of `rand`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn fraction(&self) -> f64 {
        rand::random::<f64>()
    }
}

/// Deterministic doubles of [`Clock`], [`Sleeper`] and [`Jitter`] for tests (yours and ours).
///
/// ```
/// use cxone_eventbridge::runtime::testing::{ManualClock, RecordingSleeper};
/// use cxone_eventbridge::{Clock, Sleeper};
/// use std::time::Duration;
///
/// # tokio_test_block_on(async {
/// let clock = ManualClock::new("2024-05-11T09:00:00Z".parse().unwrap());
/// let sleeper = RecordingSleeper::advancing(clock.clone());
/// sleeper.sleep(Duration::from_secs(2)).await; // returns at once
/// assert_eq!(sleeper.sleeps(), vec![Duration::from_secs(2)]);
/// assert_eq!(clock.now().to_rfc3339(), "2024-05-11T09:00:02+00:00");
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
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

    #[test]
    fn random_jitter_is_a_fraction() {
        for _ in 0..1000 {
            let f = RandomJitter.fraction();
            assert!((0.0..=1.0).contains(&f), "{f}");
        }
    }

    #[test]
    fn manual_clock_advances_and_saturates() {
        let t0: DateTime<Utc> = "2024-05-11T09:00:00Z".parse().unwrap();
        let clock = ManualClock::new(t0);
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now(), t0 + chrono::TimeDelta::milliseconds(1500));
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
    }

    #[tokio::test]
    async fn recording_sleeper_records_without_waiting() {
        let s = RecordingSleeper::new();
        s.sleep(Duration::from_secs(3600)).await;
        s.sleep(Duration::from_secs(1)).await;
        assert_eq!(s.total(), Duration::from_secs(3601));
        assert_eq!(s.clone().sleeps().len(), 2);
    }
}
