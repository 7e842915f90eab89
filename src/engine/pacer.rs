//! The pace of the sends, on the injected clock: a fixed rate ([`Pace::Fixed`]) or one the
//! [`adaptive`](super::adaptive) controller finds ([`Pace::Adaptive`]), both honouring the
//! target's run-wide `Retry-After` hold.
//!
//! Sends are scheduled against absolute deadlines: the `n`-th send is due one period after the
//! `(n-1)`-th was *due*, not after it went, so a timer that fires late (tokio's fire at least a
//! millisecond late) is credited and the long-run rate is the one asked for. The credit is
//! bounded ([`LATENESS_CREDIT`]): after a longer stall (an empty DLQ page, a busy machine) the
//! pacer does not burst to catch up. A hold moves the next deadline to its end, so sends resume
//! one period apart, not all at once.
//!
//! (governor, used before, admits one send per period counted from when a send *went*: every
//! late timer stretched a period, so `--rate 500` ran at ~315/s. A burst allowance would fix that,
//! but its quota is fixed when it is built and cannot be reset at a hold's end, and the adaptive
//! rate changes on every answer: the schedule here is a dozen lines.)

use super::adaptive::Adaptive;
use crate::error::{EngineError, Setting};
use crate::ports::ReplayTarget;
use crate::runtime::{Clock, Sleeper};
use chrono::{DateTime, Utc};
use cxone_replay_domain::Throttling;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The largest pace accepted, in sends per second.
pub const MAX_PACE: f64 = 1e9;
/// The default lower bound of [`Pace::Adaptive`] (sends per second).
pub const DEFAULT_PACE_MIN: f64 = 1.0;
/// The default upper bound of [`Pace::Adaptive`] (sends per second).
pub const DEFAULT_PACE_MAX: f64 = 10_000.0;
/// How late a send may be and still be credited (seconds): at most this much catching up. A
/// tenth of a second: a loaded machine deschedules a process for tens of milliseconds (25 ms
/// lost 6% of `--rate 5000` at a load of 5 on two cores; 100 ms, 1.6%), and it is also the
/// burst the emulator's rate limit allows by default. A hold is never caught up.
pub(crate) const LATENESS_CREDIT: f64 = 0.1;
/// How long the adaptive pacer waits at most before it looks at the server's answers again.
const ADAPTIVE_NAP: f64 = 0.1;

/// How fast the sends go (see [`ReplayerBuilder::pacing`](crate::ReplayerBuilder::pacing)).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Pace {
    /// At most this many sends per second, evenly spaced (`--rate N`).
    Fixed(f64),
    /// Find the server's rate limit and send just under it (`--rate auto`): start at a modest
    /// rate, grow while sends succeed, cut on a `429` (or a `503` with `Retry-After`), and
    /// pace exactly by the server's `RateLimit` header fields when it sends them. Needs a
    /// target that reports its [`throttling`](crate::ReplayTarget::throttling) (the CXone
    /// client does); without it the rate only grows, within the bounds. The method is in the
    /// README's engine section.
    Adaptive {
        /// Never slower than this (sends per second).
        min: f64,
        /// Never faster than this (sends per second).
        max: f64,
    },
}

impl Pace {
    /// [`Pace::Adaptive`] within [`DEFAULT_PACE_MIN`] and [`DEFAULT_PACE_MAX`].
    #[must_use]
    pub fn adaptive() -> Pace {
        Pace::Adaptive {
            min: DEFAULT_PACE_MIN,
            max: DEFAULT_PACE_MAX,
        }
    }

    /// Checks the pace: every rate a finite number above 0 and at most [`MAX_PACE`], and
    /// `min <= max`.
    ///
    /// ```
    /// use cxone_dlq_replay::{EngineError, Pace, Setting};
    /// assert!(Pace::Fixed(200.0).check().is_ok());
    /// let e = Pace::Adaptive { min: 50.0, max: 10.0 }.check().unwrap_err();
    /// assert!(matches!(e, EngineError::Setting { setting: Setting::Pace, .. }));
    /// assert!(e.to_string().contains("min"), "{e}");
    /// ```
    ///
    /// # Errors
    /// [`EngineError::Setting`] for [`Setting::Pace`] naming the problem.
    pub fn check(&self) -> Result<(), EngineError> {
        match *self {
            Pace::Fixed(rate) => check_pace(rate),
            Pace::Adaptive { min, max } => {
                check_rate("min", min)?;
                check_rate("max", max)?;
                if min > max {
                    return Err(EngineError::invalid(
                        Setting::Pace,
                        format!("min ({min}) is above max ({max})"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// Checks a pace (sends per second) as [`ReplayerBuilder::pace`](crate::ReplayerBuilder::pace)
/// does: a finite number above 0, at most [`MAX_PACE`].
///
/// # Errors
/// [`EngineError::Setting`] for [`Setting::Pace`] naming the problem.
pub fn check_pace(events_per_second: f64) -> Result<(), EngineError> {
    check_rate("the pace", events_per_second)
}

fn check_rate(what: &str, p: f64) -> Result<(), EngineError> {
    if p.is_finite() && p > 0.0 && p <= MAX_PACE {
        Ok(())
    } else {
        Err(EngineError::invalid(
            Setting::Pace,
            format!(
                "{what} must be a positive number of events per second (at most {MAX_PACE}), \
                 got {p}"
            ),
        ))
    }
}

/// Deadlines one period apart, in seconds since the pacer's epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Schedule {
    /// When the next send is due; `-inf` before the first (which goes at once, with no credit
    /// for the time before it).
    next: f64,
    period: f64,
}

impl Schedule {
    fn new(rate: f64) -> Self {
        Schedule {
            next: f64::NEG_INFINITY,
            period: 1.0 / rate,
        }
    }

    /// Takes the slot of one send if it is due at `now` (`Ok`), else says how long until it is.
    fn try_take(&mut self, now: f64) -> Result<(), f64> {
        // A microsecond of slack: a timer never wakes early, but two clocks may disagree.
        if now + 1e-6 < self.next {
            return Err(self.next - now);
        }
        let due = if self.next.is_finite() {
            self.next.max(now - LATENESS_CREDIT)
        } else {
            now
        };
        self.next = due + self.period;
        Ok(())
    }

    /// Nothing is sent before `until`, and nothing is owed for the time before it.
    fn hold(&mut self, until: f64) {
        self.next = self.next.max(until);
    }

    /// A new rate: the next deadline is one new period after the last one.
    fn set_rate(&mut self, rate: f64) {
        let period = 1.0 / rate;
        if self.next.is_finite() {
            self.next += period - self.period;
        }
        self.period = period;
    }
}

/// What the pacer tells the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PaceReport {
    /// `429`s the target received during the run.
    pub(crate) rate_limited: u64,
    /// Time covered by run-wide holds during the run.
    pub(crate) held: Duration,
    /// Sends started.
    pub(crate) sends: u64,
    /// The pace at the end (`None` when unpaced).
    pub(crate) pace: Option<f64>,
}

struct State {
    epoch: DateTime<Utc>,
    schedule: Option<Schedule>,
    adaptive: Option<Adaptive>,
    /// The target's throttling when the run started, and when last looked at.
    start: Throttling,
    seen: Throttling,
    /// Whether the target reports its throttling (the adaptive pace can follow the server).
    reported: bool,
    sends: u64,
}

/// Paces the sends of one run (see the module docs). Every send, paced or not, passes
/// [`Pacer::until_ready`], which also counts it.
pub(crate) struct Pacer {
    pace: Option<Pace>,
    clock: Arc<dyn Clock>,
    feedback: Option<Arc<dyn ReplayTarget>>,
    state: Mutex<State>,
}

impl Pacer {
    /// A pacer of `pace` (unpaced when `None`) on `clock`, reading the server's answers from
    /// `feedback` (the target) if it reports them.
    ///
    /// # Errors
    /// As [`Pace::check`].
    pub(crate) fn new(
        pace: Option<Pace>,
        clock: Arc<dyn Clock>,
        feedback: Option<Arc<dyn ReplayTarget>>,
    ) -> Result<Self, EngineError> {
        if let Some(p) = pace {
            p.check()?;
        }
        let pacer = Pacer {
            pace,
            state: Mutex::new(State {
                epoch: clock.now(),
                schedule: None,
                adaptive: None,
                start: Throttling::default(),
                seen: Throttling::default(),
                reported: false,
                sends: 0,
            }),
            clock,
            feedback,
        };
        pacer.start();
        Ok(pacer)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts (again) from now: the first send is due at once, growth starts from the
    /// beginning, and the summary counts the target's answers from here.
    pub(crate) fn start(&self) {
        let baseline = self.feedback.as_ref().and_then(|f| f.throttling());
        let mut s = self.lock();
        s.reported = baseline.is_some();
        let baseline = baseline.unwrap_or_default();
        s.epoch = self.clock.now();
        s.sends = 0;
        s.start = baseline.clone();
        s.seen = baseline;
        match self.pace {
            None => {
                s.schedule = None;
                s.adaptive = None;
            }
            Some(Pace::Fixed(rate)) => s.schedule = Some(Schedule::new(rate)),
            Some(Pace::Adaptive { min, max }) => {
                let mut a = Adaptive::new(min, max, 0.0);
                s.schedule = Some(Schedule::new(a.rate(0.0)));
                s.adaptive = Some(a);
            }
        }
    }

    /// Seconds since the epoch.
    fn secs(epoch: DateTime<Utc>, t: DateTime<Utc>) -> f64 {
        t.signed_duration_since(epoch).as_seconds_f64()
    }

    /// Takes in what the target reported since the last look, then takes the slot of a send if
    /// one is due (`None`) or says how long to wait.
    fn poll(&self) -> Option<Duration> {
        let now_at = self.clock.now();
        let throttling = match (&self.pace, &self.feedback) {
            (Some(_), Some(f)) => f.throttling(),
            _ => None,
        };
        let mut s = self.lock();
        let now = Self::secs(s.epoch, now_at);
        if let Some(t) = throttling {
            s.take_in(&t, now);
        }
        let State {
            schedule,
            adaptive,
            sends,
            ..
        } = &mut *s;
        let Some(schedule) = schedule else {
            *sends += 1;
            return None;
        };
        if let Some(a) = adaptive.as_mut() {
            schedule.set_rate(a.rate(now));
        }
        match schedule.try_take(now) {
            Ok(()) => {
                if let Some(a) = adaptive.as_mut() {
                    a.on_send(now);
                }
                *sends += 1;
                None
            }
            Err(wait) => {
                let wait = if adaptive.is_some() {
                    wait.min(ADAPTIVE_NAP)
                } else {
                    wait
                };
                Some(Duration::from_secs_f64(wait))
            }
        }
    }

    /// Waits with `sleeper` until a send may go, and takes its slot.
    ///
    /// Cancel-safe: the slot is taken in the same poll that completes the future, so dropping
    /// the future before it completes takes nothing.
    pub(crate) async fn until_ready(&self, sleeper: &dyn Sleeper) {
        while let Some(wait) = self.poll() {
            sleeper.sleep(wait).await;
        }
    }

    /// The pace now, in sends per second (`None` when unpaced).
    pub(crate) fn current(&self) -> Option<f64> {
        match self.pace? {
            Pace::Fixed(rate) => Some(rate),
            _ => self.lock().adaptive.as_ref().map(Adaptive::current),
        }
    }

    /// Whether a send that ended `FAILED` on `429`s is this pacer's to answer, not a sign that
    /// the API is down: under [`Pace::Adaptive`], with a target that reports its throttling,
    /// while the pace can still go down (it is above its `min`). The server is answering and
    /// asking for a slower pace, which the run-wide hold and the next cut give it; the events
    /// that used up their attempts meanwhile (the retries of every request held by the same
    /// `Retry-After` go out together when it ends) say nothing more. At `min`, at a fixed pace
    /// or unpaced, no slower pace will be tried, and such a failure counts as any other.
    pub(crate) fn can_slow_down(&self) -> bool {
        let s = self.lock();
        s.reported && s.adaptive.as_ref().is_some_and(|a| !a.at_min())
    }

    /// What the summary reports: 429s and hold time since the start, sends, the pace now.
    pub(crate) fn report(&self) -> PaceReport {
        let end = self.feedback.as_ref().and_then(|f| f.throttling());
        let pace = self.current();
        let s = self.lock();
        let (rate_limited, held) = match end {
            Some(end) => (
                end.throttled.saturating_sub(s.start.throttled),
                end.held.saturating_sub(s.start.held),
            ),
            None => (0, Duration::ZERO),
        };
        PaceReport {
            rate_limited,
            held,
            sends: s.sends,
            pace,
        }
    }
}

impl State {
    /// Applies what the target reported since the last look: a hold moves the schedule; for
    /// the adaptive pace, new quotas and new throttles feed the controller.
    fn take_in(&mut self, t: &Throttling, now: f64) {
        // A new hold counts even when it is seen only after it ended (every slot was busy
        // meanwhile, waiting in it): nothing is owed for the time before it ended, nor for the
        // time until it was seen.
        let hold = t.hold_until.map(|h| Pacer::secs(self.epoch, h));
        let new_hold = t.hold_until != self.seen.hold_until;
        if let (Some(h), Some(schedule)) = (hold, self.schedule.as_mut())
            && (new_hold || h > now)
        {
            schedule.hold(h.max(now));
        }
        if let Some(a) = self.adaptive.as_mut() {
            if t.quotas_seen > self.seen.quotas_seen
                && let Some(q) = &t.quota
            {
                a.on_quota(now, q);
            }
            let throttles =
                (t.throttled + t.busy).saturating_sub(self.seen.throttled + self.seen.busy);
            if throttles > 0 {
                a.on_throttle(now, hold);
            }
        }
        self.seen = t.clone();
    }
}

#[cfg(test)]
#[path = "pacer_tests.rs"]
mod tests;
