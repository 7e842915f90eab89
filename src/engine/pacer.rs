//! The pace of the sends: at most `rate` per second, evenly spaced (no bursts), on the injected
//! clock. Its interface is [`Pacer::new`] and [`Pacer::until_ready`], so that it can be replaced.

use crate::error::{EngineError, Setting};
use crate::runtime::{Clock, Sleeper};
use crate::summary::elapsed;
use chrono::{DateTime, Utc};
use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::sync::Arc;
use std::time::Duration;

/// The largest pace accepted, in sends per second.
pub const MAX_PACE: f64 = 1e9;

/// Checks a pace (sends per second) as [`ReplayerBuilder::pace`](crate::ReplayerBuilder::pace)
/// does: a finite number above 0, at most [`MAX_PACE`].
///
/// # Errors
/// [`EngineError::Setting`] for [`Setting::Pace`] naming the problem.
pub fn check_pace(events_per_second: f64) -> Result<(), EngineError> {
    let p = events_per_second;
    if p.is_finite() && p > 0.0 && p <= MAX_PACE {
        Ok(())
    } else {
        Err(EngineError::invalid(
            Setting::Pace,
            format!("must be a positive number of events per second (at most {MAX_PACE}), got {p}"),
        ))
    }
}

/// The governor clock over the injected [`Clock`]: time since the pacer was made.
#[derive(Debug, Clone)]
struct PaceClock {
    clock: Arc<dyn Clock>,
    epoch: DateTime<Utc>,
}

impl governor::clock::Clock for PaceClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        elapsed(self.epoch, self.clock.now())
    }
}

/// Spaces sends evenly at a fixed rate.
pub(crate) struct Pacer {
    limiter: RateLimiter<NotKeyed, InMemoryState, PaceClock, NoOpMiddleware<Duration>>,
    clock: PaceClock,
}

impl Pacer {
    /// A pacer of `per_second` sends per second on `clock`.
    ///
    /// # Errors
    /// As [`check_pace`].
    pub(crate) fn new(per_second: f64, clock: Arc<dyn Clock>) -> Result<Self, EngineError> {
        check_pace(per_second)?;
        let period = Duration::from_secs_f64(1.0 / per_second);
        let quota = Quota::with_period(period)
            .ok_or_else(|| EngineError::invalid(Setting::Pace, "too fast"))?;
        let clock = PaceClock {
            epoch: clock.now(),
            clock,
        };
        Ok(Pacer {
            limiter: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        })
    }

    /// Takes the slot of one send if it is due (`Ok`), else says how long until it is.
    fn try_acquire(&self) -> Result<(), Duration> {
        self.limiter
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Waits with `sleeper` until a send may go, and takes its slot.
    ///
    /// Cancel-safe: the slot is taken in the same poll that completes the future, so dropping
    /// the future before it completes takes nothing.
    pub(crate) async fn until_ready(&self, sleeper: &dyn Sleeper) {
        while let Err(wait) = self.try_acquire() {
            sleeper.sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::testing::{ManualClock, RecordingSleeper};

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn the_pacer_spaces_sends_evenly_on_the_injected_clock() {
        let clock = ManualClock::new(t0());
        let pacer = Pacer::new(4.0, Arc::new(clock.clone())).unwrap();
        assert_eq!(pacer.try_acquire(), Ok(()), "the first send goes at once");
        assert_eq!(pacer.try_acquire(), Err(Duration::from_millis(250)));
        clock.advance(Duration::from_millis(100));
        assert_eq!(pacer.try_acquire(), Err(Duration::from_millis(150)));
        clock.advance(Duration::from_millis(150));
        assert_eq!(pacer.try_acquire(), Ok(()));
        // no burst after idling: one send, then the period again
        clock.advance(Duration::from_secs(10));
        assert_eq!(pacer.try_acquire(), Ok(()));
        assert_eq!(pacer.try_acquire(), Err(Duration::from_millis(250)));
    }

    #[test]
    fn fractional_paces_are_accepted() {
        let clock = ManualClock::new(t0());
        let pacer = Pacer::new(0.5, Arc::new(clock.clone())).unwrap();
        assert_eq!(pacer.try_acquire(), Ok(()));
        assert_eq!(pacer.try_acquire(), Err(Duration::from_secs(2)));
        clock.advance(Duration::from_millis(1500));
        assert_eq!(pacer.try_acquire(), Err(Duration::from_millis(500)));
    }

    #[tokio::test]
    async fn until_ready_sleeps_exactly_the_wait_then_takes_the_slot() {
        let clock = ManualClock::new(t0());
        let sleeper = RecordingSleeper::advancing(clock.clone());
        let pacer = Pacer::new(10.0, Arc::new(clock.clone())).unwrap();
        for _ in 0..4 {
            pacer.until_ready(&sleeper).await;
        }
        assert_eq!(sleeper.sleeps(), vec![Duration::from_millis(100); 3]);
        assert_eq!(pacer.try_acquire(), Err(Duration::from_millis(100)));
    }

    #[test]
    fn paces_outside_the_range_are_refused_naming_the_setting() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_PACE * 2.0] {
            match check_pace(bad) {
                Err(EngineError::Setting {
                    setting: Setting::Pace,
                    ..
                }) => {}
                other => panic!("{bad}: {other:?}"),
            }
            assert!(Pacer::new(bad, Arc::new(ManualClock::new(t0()))).is_err());
        }
        for good in [1e-3, 0.5, 20.0, MAX_PACE] {
            assert!(check_pace(good).is_ok(), "{good}");
        }
    }
}
