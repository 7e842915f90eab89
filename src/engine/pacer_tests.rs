//! The pacer on the injected clock: accuracy of fixed rates with late timers, holds, and the
//! adaptive pace against a simulated server that throttles above its rate.

use super::*;
use crate::engine::adaptive::BETA;
use crate::ports::SendOutcome;
use crate::runtime::testing::{ManualClock, RecordingSleeper};
use async_trait::async_trait;
use chrono::TimeDelta;
use cxone_replay_domain::{
    CircuitBreaker, DEFAULT_STOP_AFTER_FAILURES, FailureClass, IdempotencyKey, Quota, RetryPolicy,
};
use std::future::Future;
use std::pin::Pin;

fn t0() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default()
}

/// A target that only reports throttling (what a test sets).
#[derive(Debug, Default)]
struct Feedback(Mutex<Throttling>);

impl Feedback {
    fn with<R>(&self, f: impl FnOnce(&mut Throttling) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
}

#[async_trait]
impl ReplayTarget for Feedback {
    async fn send(&self, _: &str, _: &IdempotencyKey, _: Vec<u8>) -> SendOutcome {
        SendOutcome::accepted(201, 1)
    }
    fn throttling(&self) -> Option<Throttling> {
        Some(self.0.lock().unwrap().clone())
    }
}

/// A sleeper that wakes late, as tokio's timers do: rounded up to the millisecond, plus one.
#[derive(Debug)]
struct LateSleeper(ManualClock);

impl Sleeper for LateSleeper {
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let ms = d.as_micros().div_ceil(1000) as u64 + 1;
        self.0.advance(Duration::from_millis(ms));
        Box::pin(std::future::ready(()))
    }
}

fn pacer(pace: Option<Pace>, clock: &ManualClock, fb: Option<Arc<Feedback>>) -> Pacer {
    let fb = fb.map(|f| f as Arc<dyn ReplayTarget>);
    Pacer::new(pace, Arc::new(clock.clone()), fb).unwrap()
}

fn secs(clock: &ManualClock) -> f64 {
    (clock.now() - t0()).as_seconds_f64()
}

#[test]
fn the_schedule_credits_lateness_but_not_a_long_stall() {
    let mut s = Schedule::new(100.0);
    // The first send goes when it is asked for, with no credit for the time before.
    s.set_rate(100.0);
    assert_eq!(s.try_take(0.0), Ok(()));
    assert!((s.try_take(0.004).unwrap_err() - 0.006).abs() < 1e-9);
    // 3 ms late: the next is still due 10 ms after the last was *due*.
    assert_eq!(s.try_take(0.013), Ok(()));
    assert!((s.next - 0.020).abs() < 1e-9);
    // A stall of a second: at most LATENESS_CREDIT (a tenth of a second, 10 sends) is caught
    // up, the send that is due included.
    for _ in 0..11 {
        assert_eq!(s.try_take(1.0), Ok(()));
    }
    assert!(s.try_take(1.0).is_err(), "no more of a burst after a stall");
    // A hold moves the next deadline to its end; a new rate re-spaces the next one.
    s.hold(5.0);
    assert!((s.try_take(4.0).unwrap_err() - 1.0).abs() < 1e-9);
    s.set_rate(10.0);
    assert!((s.next - 5.09).abs() < 1e-9, "{}", s.next);
}

#[test]
fn the_first_send_is_not_credited_for_the_time_before_it() {
    let mut s = Schedule::new(1000.0);
    assert_eq!(s.try_take(5.0), Ok(()));
    assert!(s.try_take(5.0).is_err(), "no burst at the start");
}

#[tokio::test]
async fn fixed_rates_are_kept_within_two_percent_with_late_timers() {
    for rate in [1.0, 10.0, 100.0, 500.0, 2_000.0, 5_000.0] {
        let clock = ManualClock::new(t0());
        let sleeper = LateSleeper(clock.clone());
        let p = pacer(Some(Pace::Fixed(rate)), &clock, None);
        let n = (rate * 20.0).max(50.0) as u32;
        let first = secs(&clock);
        for _ in 0..n {
            p.until_ready(&sleeper).await;
        }
        let achieved = f64::from(n - 1) / (secs(&clock) - first);
        assert!(
            (achieved / rate - 1.0).abs() <= 0.02,
            "asked {rate}/s, got {achieved:.2}/s"
        );
    }
}

#[tokio::test]
async fn sends_resume_after_a_hold_one_period_apart() {
    let clock = ManualClock::new(t0());
    let sleeper = RecordingSleeper::advancing(clock.clone());
    let fb = Arc::new(Feedback::default());
    let p = pacer(Some(Pace::Fixed(50.0)), &clock, Some(fb.clone()));
    for _ in 0..3 {
        p.until_ready(&sleeper).await;
    }
    // A 429 holds the run for a second, 10 ms after the third send.
    clock.advance(Duration::from_millis(10));
    let now = clock.now();
    fb.with(|t| {
        t.record_throttle();
        t.hold(now, now + TimeDelta::seconds(1));
    });
    let mut times = Vec::new();
    for _ in 0..5 {
        p.until_ready(&sleeper).await;
        times.push(clock.now() - now);
    }
    let ms: Vec<i64> = times.iter().map(TimeDelta::num_milliseconds).collect();
    assert_eq!(
        ms,
        [1000, 1020, 1040, 1060, 1080],
        "no burst after the hold"
    );
    let report = p.report();
    assert_eq!(
        (report.rate_limited, report.held),
        (1, Duration::from_secs(1))
    );
    assert_eq!((report.sends, report.pace), (8, Some(50.0)));
}

#[tokio::test]
async fn unpaced_sends_never_wait_but_are_counted() {
    let clock = ManualClock::new(t0());
    let sleeper = RecordingSleeper::advancing(clock.clone());
    let p = pacer(None, &clock, None);
    for _ in 0..100 {
        p.until_ready(&sleeper).await;
    }
    assert!(sleeper.sleeps().is_empty());
    assert_eq!((p.report().sends, p.current()), (100, None));
}

#[test]
fn paces_outside_the_range_are_refused_naming_the_setting() {
    let clock = ManualClock::new(t0());
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_PACE * 2.0] {
        for pace in [
            Pace::Fixed(bad),
            Pace::Adaptive {
                min: bad,
                max: 10.0,
            },
            Pace::Adaptive { min: 1.0, max: bad },
        ] {
            match pace.check() {
                Err(EngineError::Setting {
                    setting: Setting::Pace,
                    ..
                }) => {}
                other => panic!("{pace:?}: {other:?}"),
            }
            assert!(Pacer::new(Some(pace), Arc::new(clock.clone()), None).is_err());
        }
    }
    for good in [1e-3, 0.5, 20.0, MAX_PACE] {
        assert!(check_pace(good).is_ok(), "{good}");
    }
    assert!(Pace::adaptive().check().is_ok());
    assert!(Pace::Adaptive { min: 5.0, max: 5.0 }.check().is_ok());
}

/// A server with a token bucket of `rate` per second and `burst`, `latency` seconds away,
/// that answers 429 with `Retry-After: 1` when the bucket is empty (and, with `headers`, the
/// `RateLimit` fields on every answer); and a client in front of it as the CXone client
/// behaves: a 429 holds every request for a second, after which its retry goes at once, an
/// event whose every attempt (5, the client's default) got a 429 ends `FAILED`, and at most
/// `concurrency` requests are in flight. The events' outcomes go, in the order they are
/// answered, to a circuit breaker at the engine's default, as the recorder gives them to it
/// (a failure the pace can still answer is not given), and all of them to another one.
/// Everything runs on a manual clock.
struct Sim {
    clock: ManualClock,
    pacer: Pacer,
    fb: Arc<Feedback>,
    rate: f64,
    burst: f64,
    tokens: f64,
    last: f64,
    latency: f64,
    concurrency: usize,
    headers: bool,
    /// (answer time, accepted, tokens left, attempt)
    in_flight: Vec<(f64, bool, f64, u32)>,
    /// The attempts made so far by each request waiting to be retried.
    retries: Vec<u32>,
    /// Times of accepted answers and of 429s.
    accepted: Vec<f64>,
    throttled: Vec<f64>,
    /// Times at which events ended `FAILED` (every attempt answered 429).
    failed: Vec<f64>,
    breaker: CircuitBreaker,
    /// When the breaker tripped.
    tripped_at: Option<f64>,
    /// A breaker given every outcome.
    unfiltered: CircuitBreaker,
    /// (time, pace) after every send.
    paces: Vec<(f64, f64)>,
}

impl Sim {
    fn new(pace: Pace, rate: f64, headers: bool) -> Sim {
        let clock = ManualClock::new(t0());
        let fb = Arc::new(Feedback::default());
        let pacer = pacer(Some(pace), &clock, Some(fb.clone()));
        Sim {
            clock,
            pacer,
            fb,
            rate,
            burst: (rate / 10.0).max(1.0),
            tokens: (rate / 10.0).max(1.0),
            last: 0.0,
            latency: 0.020,
            concurrency: 64,
            headers,
            in_flight: Vec::new(),
            retries: Vec::new(),
            accepted: Vec::new(),
            throttled: Vec::new(),
            failed: Vec::new(),
            breaker: CircuitBreaker::new(DEFAULT_STOP_AFTER_FAILURES),
            tripped_at: None,
            unfiltered: CircuitBreaker::new(DEFAULT_STOP_AFTER_FAILURES),
            paces: Vec::new(),
        }
    }

    fn send(&mut self, now: f64, attempt: u32) {
        let at = now + self.latency / 2.0;
        self.tokens = (self.tokens + (at - self.last) * self.rate).min(self.burst);
        self.last = at;
        let ok = self.tokens >= 1.0;
        if ok {
            self.tokens -= 1.0;
        }
        self.in_flight
            .push((now + self.latency, ok, self.tokens, attempt));
    }

    fn answer(&mut self, now: f64, ok: bool, tokens: f64, attempt: u32) {
        let at = self.clock.now();
        let quota = Quota {
            per_second: Some(self.rate),
            remaining: Some(tokens.floor() as u64),
            reset: None,
        };
        let headers = self.headers;
        self.fb.with(|t| {
            if headers {
                t.record_quota(quota);
            }
            if !ok {
                t.record_throttle();
                t.hold(at, at + TimeDelta::seconds(1));
            }
        });
        let (outcome, status) = if ok {
            self.accepted.push(now);
            (None, 201)
        } else {
            self.throttled.push(now);
            if attempt < RetryPolicy::default().max_attempts() {
                self.retries.push(attempt);
                return;
            }
            self.failed.push(now);
            (Some(FailureClass::MaxRetriesExceeded), 429)
        };
        self.unfiltered.observe_send(outcome, Some(status), attempt);
        if !ok && self.pacer.can_slow_down() {
            return;
        }
        if self
            .breaker
            .observe_send(outcome, Some(status), attempt)
            .is_some()
        {
            self.tripped_at = Some(now);
        }
    }

    /// Runs until `until` seconds, calling `at` once per step (to change the limit).
    fn run(&mut self, until: f64, mut at: impl FnMut(&mut Sim, f64)) {
        loop {
            let now = secs(&self.clock);
            if now >= until {
                return;
            }
            at(self, now);
            let (due, later): (Vec<_>, Vec<_>) =
                self.in_flight.iter().partition(|(t, ..)| *t <= now + 1e-9);
            self.in_flight = later;
            for (_, ok, tokens, attempt) in due {
                self.answer(now, ok, tokens, attempt);
            }
            let held = self.fb.with(|t| t.is_held(self.clock.now()));
            let mut wake = now + 0.1;
            while !held && self.in_flight.len() < self.concurrency {
                if let Some(made) = self.retries.pop() {
                    self.send(now, made + 1);
                    continue;
                }
                match self.pacer.poll() {
                    None => {
                        self.send(now, 1);
                        let pace = self.pacer.current().unwrap_or(0.0);
                        self.paces.push((now, pace));
                    }
                    Some(w) => {
                        wake = now + w.as_secs_f64();
                        break;
                    }
                }
            }
            if held {
                let until = self.fb.with(|t| t.hold_until).unwrap();
                wake = wake.min((until - t0()).as_seconds_f64());
            }
            let next = self
                .in_flight
                .iter()
                .map(|(t, ..)| *t)
                .fold(wake, f64::min)
                .max(now + 1e-6);
            self.clock
                .advance(Duration::from_secs_f64(next - now).max(Duration::from_micros(1)));
        }
    }

    fn accepted_rate(&self, from: f64, to: f64) -> f64 {
        let n = self
            .accepted
            .iter()
            .filter(|t| (from..to).contains(*t))
            .count();
        n as f64 / (to - from)
    }

    fn throttles(&self, from: f64, to: f64) -> usize {
        self.throttled
            .iter()
            .filter(|t| (from..to).contains(*t))
            .count()
    }

    fn sends(&self, from: f64, to: f64) -> usize {
        let accepted = self
            .accepted
            .iter()
            .filter(|t| (from..to).contains(*t))
            .count();
        accepted + self.throttles(from, to)
    }
}

#[test]
fn adaptive_converges_under_a_throttling_server_and_rarely_trips_it() {
    let mut sim = Sim::new(Pace::adaptive(), 200.0, false);
    sim.run(60.0, |_, _| {});
    let mean = sim.accepted_rate(0.0, 60.0);
    let throttled = sim.throttles(0.0, 60.0);
    let share = throttled as f64 / sim.sends(0.0, 60.0) as f64;
    assert!(mean >= 0.8 * 200.0, "mean accepted {mean:.1}/s");
    assert!(share <= 0.01, "{throttled} 429s ({:.2}%)", share * 100.0);
    // The first throttle ends slow start; the pace then stays near the limit.
    assert!(
        sim.throttled[0] < 5.0,
        "slow start took {}",
        sim.throttled[0]
    );
    let late = sim.accepted_rate(30.0, 60.0);
    assert!((0.8 * 200.0..=200.0 * 1.02).contains(&late), "{late:.1}/s");
}

#[test]
fn adaptive_backs_off_on_a_429() {
    let mut sim = Sim::new(Pace::adaptive(), 100.0, false);
    sim.run(20.0, |_, _| {});
    let first = sim.throttled[0];
    let before = sim
        .paces
        .iter()
        .rfind(|(t, _)| *t < first)
        .map(|p| p.1)
        .unwrap();
    let after = sim
        .paces
        .iter()
        .find(|(t, _)| *t > first)
        .map(|p| p.1)
        .unwrap();
    assert!(after <= before * BETA + 1e-6, "{before} -> {after}");
    // Nothing is sent during the hold, and not a burst after it.
    let sent_in_hold = sim
        .paces
        .iter()
        .filter(|(t, _)| *t > first && *t < first + 1.0)
        .count();
    assert_eq!(sent_in_hold, 0);
    let first_second_after = sim
        .paces
        .iter()
        .filter(|(t, _)| *t >= first + 1.0 && *t < first + 1.1)
        .count() as f64;
    assert!(
        first_second_after <= after * 0.1 + 2.0,
        "{first_second_after}"
    );
}

#[test]
fn adaptive_never_exceeds_the_max_nor_drops_under_the_min() {
    let mut sim = Sim::new(
        Pace::Adaptive {
            min: 1.0,
            max: 100.0,
        },
        200.0,
        false,
    );
    sim.run(30.0, |_, _| {});
    assert!(sim.paces.iter().all(|(_, p)| *p <= 100.0), "over the max");
    assert!(sim.throttled.is_empty(), "never reached the limit");
    let rate = sim.accepted_rate(10.0, 30.0);
    assert!((rate - 100.0).abs() <= 2.0, "{rate:.1}/s at max 100");

    let mut sim = Sim::new(
        Pace::Adaptive {
            min: 50.0,
            max: 1000.0,
        },
        20.0,
        false,
    );
    sim.run(30.0, |_, _| {});
    assert!(
        sim.throttled.len() > 3,
        "a server slower than the min throttles"
    );
    assert!(sim.paces.iter().all(|(_, p)| *p >= 50.0), "under the min");
}

#[test]
fn with_ratelimit_fields_the_pace_is_exact_and_never_trips_the_limit() {
    let mut sim = Sim::new(Pace::adaptive(), 200.0, true);
    sim.run(40.0, |_, _| {});
    let mean = sim.accepted_rate(0.0, 40.0);
    assert!(mean >= 0.95 * 200.0, "mean accepted {mean:.1}/s");
    assert_eq!(sim.throttles(1.0, 40.0), 0, "429s after the first second");
}

#[test]
fn adaptive_reconverges_within_ten_seconds_when_the_limit_changes() {
    for (from, to) in [(200.0, 100.0), (100.0, 200.0)] {
        let mut sim = Sim::new(Pace::adaptive(), from, false);
        sim.run(60.0, |s, now| {
            if now >= 30.0 && s.rate != to {
                s.rate = to;
                s.burst = to / 10.0;
            }
        });
        let after = sim.accepted_rate(40.0, 60.0);
        assert!(
            (0.8 * to..=to * 1.02).contains(&after),
            "{from} -> {to}: {after:.1}/s from 10 s after the change"
        );
        let share = sim.throttles(40.0, 60.0) as f64 / sim.sends(40.0, 60.0) as f64;
        assert!(share <= 0.01, "{from} -> {to}: {:.2}% 429s", share * 100.0);
    }
}

/// The limit drops from 200 to 20 per second at 30 s while 60 requests are in flight (300 ms
/// away): their retries go out together at the end of each hold, the server lets its burst
/// of them through, and some events use up their attempts on 429s, 50 and more in a row.
fn sharp_drop(pace: Pace) -> Sim {
    let mut sim = Sim::new(pace, 200.0, false);
    sim.latency = 0.3;
    sim.run(90.0, |s, now| {
        if now >= 30.0 && s.rate != 20.0 {
            s.rate = 20.0;
            s.burst = 2.0;
        }
    });
    sim
}

#[test]
fn a_throttled_adaptive_run_is_not_stopped_by_the_circuit_breaker() {
    // Under a steady limit, a halving, or with the fields, no event even fails.
    for (to, headers) in [(200.0, false), (200.0, true), (100.0, false), (100.0, true)] {
        let mut sim = Sim::new(Pace::adaptive(), 200.0, headers);
        sim.run(60.0, |s, now| {
            if now >= 30.0 && s.rate != to {
                s.rate = to;
                s.burst = to / 10.0;
            }
        });
        assert!(sim.failed.is_empty(), "{to} {headers}: {:?}", sim.failed);
        assert_eq!(sim.tripped_at, None);
    }
    // A sharp drop fails events on 429s, enough in a row to trip a breaker that counted them
    // all; the pace answers them, and the run goes on.
    let sim = sharp_drop(Pace::adaptive());
    assert!(
        sim.unfiltered.tripped().is_some(),
        "{} failed",
        sim.failed.len()
    );
    assert_eq!(
        sim.tripped_at, None,
        "stopped while the pace could slow down"
    );
    let after = sim.accepted_rate(60.0, 90.0);
    assert!(after >= 0.8 * 20.0, "{after:.1}/s after the drop");
}

#[test]
fn failures_on_429s_still_trip_the_breaker_when_no_slower_pace_will_be_tried() {
    // At a fixed pace.
    let sim = sharp_drop(Pace::Fixed(200.0));
    assert!(sim.tripped_at.is_some(), "{} failed", sim.failed.len());
    // A server that refuses every request (one token, never refilled): the adaptive pace
    // comes down to its min, and the run stops.
    let mut sim = Sim::new(Pace::adaptive(), 0.0, false);
    sim.run(300.0, |_, _| {});
    let at = sim.tripped_at.expect("never stopped");
    assert!(
        at < 120.0,
        "stopped at {at:.1} s, {} failed",
        sim.failed.len()
    );
    assert!(sim.pacer.current().unwrap() <= DEFAULT_PACE_MIN);
}
