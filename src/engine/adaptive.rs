//! `Pace::Adaptive` (`--rate auto`): the rate controller. Pure: it reads no clock and sleeps
//! nowhere; time comes in as seconds since the run started, so it is tested by simulation.
//!
//! The method is the AWS SDKs' adaptive retry mode, which is CUBIC (RFC 9438) applied to a
//! request rate, with a slow start in front and the IETF `RateLimit` fields on the side:
//!
//! - **Slow start.** From [`START`] the rate doubles every [`DOUBLING`] seconds until the
//!   first throttle (as TCP's slow start), never more than twice the rate actually sent.
//! - **Throttle** (a `429`, or a `503` with `Retry-After`): the rate the server let through
//!   becomes the plateau `last_max` (the rate sent over the last two seconds, or the last half
//!   second when leaving slow start, times [`OVERSHOOT`]: a server with a burst allowance
//!   throttles only once it is spent, when the client is already over the limit); the rate is
//!   cut to [`BETA`] of it, and growth restarts when the run-wide `Retry-After` hold ends.
//!   Throttles within [`CALM`] seconds of that (answers to requests already in flight) are the
//!   same congestion event and do not cut again.
//! - **Regrowth** follows CUBIC: `rate(t) = last_max × (1 + C × (t − K)³)` with
//!   `K = ∛((1 − BETA) / C)`: fast at first, flat near `last_max` (where the limit was), then
//!   probing faster and faster above it; [`REPROBE`] × `last_max` without a throttle means the
//!   limit went up, and slow start takes over again from there. [`C`] is relative to
//!   `last_max` (the AWS SDKs' 0.4 is absolute, in requests per second), so `K` is the same
//!   [`K`] seconds at 5 or 5,000 per second.
//! - **`RateLimit` fields** (draft-ietf-httpapi-ratelimit-headers-11): while responses carry
//!   them, they set the rate exactly instead. With a policy (`q` per `w` seconds) the rate is
//!   `q / w` plus a level correction `(r − r*) / w`, which keeps the available quota `r` near
//!   half the most seen (`r*`), so the server's bucket neither empties (429s) nor sits full
//!   (capacity left unused), whatever else draws on the same quota (the DLQ reads). An
//!   effective window `t` caps the rate at `r / t`. Without readings for [`STALE`] seconds it
//!   probes again from the last rate.
//!
//! The rate always stays within `[min, max]`.
//!
//! Why these constants, not the AWS SDKs' (β 0.7, C 0.4 absolute): here every throttle also
//! holds the whole run for the server's `Retry-After` (a second against the emulator), so each
//! probe that finds the limit costs a second of nothing; a shallower cut and a plateau just
//! under the last limit make probes rarer. In the simulation of the tests (a 200/s token
//! bucket, burst 20, 20 ms away, concurrency 64), β 0.7 / 0.8 / 0.85 gave 161 / 164 / 166
//! accepted per second over the first 40 s, with a 429 every 9 to 10 s after slow start.

/// The cut on a throttle (CUBIC's β; the AWS SDKs use 0.7).
pub(crate) const BETA: f64 = 0.85;
/// CUBIC's C, relative to `last_max` (per second cubed).
pub(crate) const C: f64 = 0.002;
/// Seconds from a cut back to `last_max`: `∛((1 − BETA) / C)` (4.2 s).
pub(crate) const K: f64 = 4.217_163_326_508_746;
/// Slow start doubles the rate this often (seconds).
pub(crate) const DOUBLING: f64 = 0.5;
/// A throttle comes only once the server's burst allowance is spent, so the rate sent then was
/// already over the limit: the plateau (`last_max`) is put this much under it.
pub(crate) const OVERSHOOT: f64 = 0.95;
/// Regrowth this far above `last_max` without a throttle means the limit went up: slow start
/// again from there. (Against a steady limit the server's burst is spent long before: the
/// throttle comes first.)
pub(crate) const REPROBE: f64 = 1.25;
/// The default starting rate (sends per second), within the bounds.
pub(crate) const START: f64 = 10.0;
/// Throttles this soon (seconds) after a cut, or after the hold it caused, are the same event.
pub(crate) const CALM: f64 = 0.25;
/// Without a `RateLimit` reading for this long (seconds), probe again.
pub(crate) const STALE: f64 = 5.0;
/// The measured send rate is counted in intervals of this many seconds.
const METER_SECS: f64 = 0.1;
/// Intervals of the recent rate (0.5 s).
const METER_RECENT: usize = 5;
/// Intervals of the sustained rate (2 s).
const METER_KEEP: usize = 20;

/// How the rate is being found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Doubling from `from` since `since`, until the first throttle.
    SlowStart { from: f64, since: f64 },
    /// CUBIC regrowth towards (and past) `last_max`, from `since`.
    Cubic { last_max: f64, since: f64 },
    /// Paced by the server's `RateLimit` fields; the last reading was at `at`.
    Informed { at: f64 },
}

/// The adaptive rate controller.
#[derive(Debug, Clone)]
pub(crate) struct Adaptive {
    min: f64,
    max: f64,
    rate: f64,
    phase: Phase,
    calm_until: f64,
    /// The highest available quota seen under the current policy rate.
    level_max: f64,
    policy_rate: Option<f64>,
    meter: Meter,
}

impl Adaptive {
    /// A controller bounded by `[min, max]` (already checked: `0 < min <= max`), starting at
    /// `now` from [`START`] (within the bounds).
    pub(crate) fn new(min: f64, max: f64, now: f64) -> Self {
        let from = START.clamp(min, max);
        Adaptive {
            min,
            max,
            rate: from,
            phase: Phase::SlowStart { from, since: now },
            calm_until: f64::NEG_INFINITY,
            level_max: 0.0,
            policy_rate: None,
            meter: Meter::default(),
        }
    }

    /// The rate to pace at now (sends per second), after growing it for the time passed.
    pub(crate) fn rate(&mut self, now: f64) -> f64 {
        let grown = match self.phase {
            Phase::SlowStart { from, since } => from * ((now - since).max(0.0) / DOUBLING).exp2(),
            Phase::Cubic { last_max, since } => {
                let dt = (now - since).max(0.0) - K;
                let grown = last_max * (1.0 + C * dt * dt * dt);
                if grown > last_max * REPROBE {
                    // Far above the last limit and no throttle: the limit went up. Find it as
                    // at the start.
                    self.phase = Phase::SlowStart {
                        from: grown,
                        since: now,
                    };
                }
                grown
            }
            Phase::Informed { at } if now - at > STALE => {
                // The server stopped reporting: probe from here, starting on the plateau.
                self.phase = Phase::Cubic {
                    last_max: self.rate,
                    since: now - K,
                };
                self.policy_rate = None;
                self.rate
            }
            Phase::Informed { .. } => self.rate,
        };
        let capped = match (self.phase, self.meter.rate()) {
            (Phase::Informed { .. }, _) | (_, None) => grown,
            (_, Some(sent)) => grown.min(2.0 * sent.max(self.min)),
        };
        self.rate = capped.clamp(self.min, self.max);
        self.rate
    }

    /// A send went out at `now`.
    pub(crate) fn on_send(&mut self, now: f64) {
        self.meter.tick(now);
    }

    /// The server throttled (a `429`, or a `503` with `Retry-After`), seen at `now`; the
    /// run-wide hold it set (if any) ends at `hold_until`.
    pub(crate) fn on_throttle(&mut self, now: f64, hold_until: Option<f64>) {
        if now < self.calm_until {
            return;
        }
        let resume = hold_until.map_or(now, |h| h.max(now));
        self.calm_until = resume + CALM;
        let current = self.rate(now);
        // The rate the server let through before it throttled: sustained over a couple of
        // seconds, so that the burst it allowed at the end does not count.
        let sent = self.meter.sustained().map_or(current, |m| m.min(current));
        let recent = self.meter.rate().map_or(current, |m| m.min(current));
        match self.phase {
            Phase::Informed { .. } => self.rate = (current * BETA).clamp(self.min, self.max),
            phase => {
                // Leaving slow start, the last two seconds were mostly far under the limit:
                // the last half second tells more.
                let top = if matches!(phase, Phase::SlowStart { .. }) {
                    recent
                } else {
                    sent
                };
                let last_max = (top * OVERSHOOT).max(self.min);
                self.phase = Phase::Cubic {
                    last_max,
                    since: resume,
                };
                self.rate = (last_max * BETA).clamp(self.min, self.max);
            }
        }
    }

    /// A response at `now` reported this quota (see the module docs).
    pub(crate) fn on_quota(&mut self, now: f64, quota: &cxone_replay_domain::Quota) {
        let level = quota.remaining.map(|r| r as f64);
        let window_cap = match (level, quota.reset) {
            (Some(r), Some(t)) if t > 0 => Some(r / t as f64),
            _ => None,
        };
        let target = match quota.per_second {
            Some(per_second) => {
                if self.policy_rate != Some(per_second) {
                    self.policy_rate = Some(per_second);
                    self.level_max = 0.0;
                }
                match level {
                    Some(r) => {
                        self.level_max = self.level_max.max(r);
                        // The correction acts over the policy's own window: q/w is per second,
                        // r is in the same units, so (r − r*) / window.
                        let window = (quota_window(per_second, self.level_max)).max(1.0);
                        per_second + (r - self.level_max / 2.0) / window
                    }
                    None => per_second * 0.99,
                }
            }
            None => match window_cap {
                Some(cap) => cap,
                None => return, // a level without a rate says nothing about the rate
            },
        };
        let target = window_cap.map_or(target, |cap| target.min(cap));
        self.phase = Phase::Informed { at: now };
        self.rate = target.clamp(self.min, self.max);
    }

    /// The rate most recently computed (for progress and the summary).
    pub(crate) fn current(&self) -> f64 {
        self.rate
    }

    /// Whether the rate is down to its lower bound: a slower pace cannot be tried.
    pub(crate) fn at_min(&self) -> bool {
        self.rate <= self.min
    }
}

/// The window (seconds) of the level correction: about the time the policy takes to hand out
/// the largest quota seen, at least a second.
fn quota_window(per_second: f64, level_max: f64) -> f64 {
    if per_second > 0.0 {
        (level_max / per_second).max(1.0)
    } else {
        1.0
    }
}

/// The send rate actually achieved, over the last few intervals of [`METER_SECS`] in which
/// something was sent: intervals without any send (holds, a slow page) are skipped rather than
/// counted as 0, so a hold does not make the meter forget the rate it came from.
#[derive(Debug, Clone, Default)]
struct Meter {
    interval: Option<i64>,
    count: u32,
    /// Sends of the last complete active intervals, newest last.
    done: std::collections::VecDeque<u32>,
}

impl Meter {
    fn tick(&mut self, now: f64) {
        let interval = (now / METER_SECS).floor() as i64;
        if self.interval == Some(interval) {
            self.count += 1;
            return;
        }
        if self.interval.is_some() {
            if self.done.len() == METER_KEEP {
                self.done.pop_front();
            }
            self.done.push_back(self.count);
        }
        self.interval = Some(interval);
        self.count = 1;
    }

    /// The rate over the last `n` complete active intervals (fewer if not yet that many).
    fn rate_over(&self, n: usize) -> Option<f64> {
        let n = n.min(self.done.len());
        if n == 0 {
            return None;
        }
        let sum: u32 = self.done.iter().rev().take(n).sum();
        Some(f64::from(sum) / (n as f64 * METER_SECS))
    }

    /// The recent rate (the last half second).
    fn rate(&self) -> Option<f64> {
        self.rate_over(METER_RECENT)
    }

    /// The sustained rate (the last [`METER_KEEP`] intervals).
    fn sustained(&self) -> Option<f64> {
        self.rate_over(METER_KEEP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxone_replay_domain::Quota;

    #[test]
    fn k_matches_c_and_beta() {
        assert!((((1.0 - BETA) / C).cbrt() - K).abs() < 1e-9);
    }

    #[test]
    fn slow_start_doubles_until_the_first_throttle() {
        let mut a = Adaptive::new(1.0, 10_000.0, 0.0);
        assert_eq!(a.rate(0.0), START);
        assert!((a.rate(DOUBLING) - 2.0 * START).abs() < 1e-9);
        assert!((a.rate(3.0 * DOUBLING) - 8.0 * START).abs() < 1e-9);
    }

    #[test]
    fn growth_never_outruns_twice_what_was_sent() {
        let mut a = Adaptive::new(1.0, 10_000.0, 0.0);
        // 20 sends per second for two seconds: the meter says 20/s.
        for i in 0..40 {
            a.on_send(f64::from(i) * 0.05);
        }
        assert!((a.rate(2.0) - 40.0).abs() < 1e-6, "{}", a.rate(2.0));
    }

    #[test]
    fn a_throttle_cuts_to_beta_and_regrows_to_the_plateau_after_k() {
        let mut a = Adaptive::new(1.0, 10_000.0, 0.0);
        for i in 0..200 {
            a.on_send(f64::from(i) * 0.01); // 100/s for 2 s
        }
        a.phase = Phase::Cubic {
            last_max: 100.0,
            since: 2.0 - K,
        };
        assert!((a.rate(2.0) - 100.0).abs() < 1.0, "{}", a.rate(2.0));
        a.on_throttle(2.0, Some(3.0));
        let top = 100.0 * OVERSHOOT;
        assert!((a.current() - BETA * top).abs() < 1.0, "{}", a.current());
        // The hold: no growth until it ends.
        assert!((a.rate(3.0) - BETA * top).abs() < 1.0);
        // Answers of requests in flight are the same event.
        a.on_throttle(3.1, Some(3.0));
        assert!((a.current() - BETA * top).abs() < 1.0);
        // Back at the plateau K seconds after the hold.
        for i in 0..1000 {
            a.on_send(3.0 + f64::from(i) * 0.01);
        }
        assert!((a.rate(3.0 + K) - top).abs() < 1.0, "{}", a.rate(3.0 + K));
        // Above it, probing speeds up.
        let (one, two) = (a.rate(4.0 + K) - top, a.rate(5.0 + K) - top);
        assert!(one > 0.0 && two > 4.0 * one, "{one} {two}");
    }

    #[test]
    fn far_above_the_last_limit_without_a_throttle_it_slow_starts_again() {
        let mut a = Adaptive::new(1.0, 10_000.0, 0.0);
        a.phase = Phase::Cubic {
            last_max: 100.0,
            since: 0.0,
        };
        // (REPROBE − 1) = C × x³: x = 5 s past K.
        let x = ((REPROBE - 1.0) / C).cbrt();
        assert!(a.rate(K + x - 0.1) < 125.0);
        let at = a.rate(K + x + 0.01);
        assert!(matches!(a.phase, Phase::SlowStart { .. }), "{:?}", a.phase);
        assert!((a.rate(K + x + 0.01 + DOUBLING) - 2.0 * at).abs() < 1e-6);
    }

    #[test]
    fn the_bounds_hold() {
        let mut a = Adaptive::new(5.0, 50.0, 0.0);
        assert_eq!(a.rate(100.0), 50.0);
        for n in 0..20 {
            a.on_throttle(200.0 + f64::from(n), None);
        }
        assert_eq!(a.current(), 5.0);
        let mut b = Adaptive::new(20.0, 30.0, 0.0);
        assert_eq!(b.rate(0.0), 20.0, "starts at the minimum above START");
    }

    #[test]
    fn a_policy_sets_the_rate_and_the_level_steers_it() {
        let mut a = Adaptive::new(1.0, 10_000.0, 0.0);
        let q = |r: u64| Quota {
            per_second: Some(200.0),
            remaining: Some(r),
            reset: None,
        };
        a.on_quota(0.1, &q(20));
        assert!(
            (a.rate(0.1) - 210.0).abs() < 1e-9,
            "a full bucket: drain it a little"
        );
        a.on_quota(0.2, &q(0));
        assert!(
            (a.rate(0.2) - 190.0).abs() < 1e-9,
            "an empty bucket: let it fill"
        );
        a.on_quota(0.3, &q(10));
        assert!((a.rate(0.3) - 200.0).abs() < 1e-9);
        // No reading for STALE seconds: probe again, from the same rate.
        assert!((a.rate(0.3 + STALE + 0.1) - 200.0).abs() < 1.0);
        // An effective window caps the rate at r / t.
        a.on_quota(
            10.0,
            &Quota {
                per_second: Some(100.0),
                remaining: Some(30),
                reset: Some(1),
            },
        );
        assert!(a.current() <= 30.0 + 1e-9);
        // A level alone says nothing about the rate.
        let before = a.current();
        a.on_quota(
            11.0,
            &Quota {
                per_second: None,
                remaining: Some(3),
                reset: None,
            },
        );
        assert_eq!(a.current(), before);
    }
}
