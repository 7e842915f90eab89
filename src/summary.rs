//! What a run did: [`RunSummary`] (the end) and [`Progress`] (along the way).

use crate::latency::{Latency, is_measured_send};
use chrono::{DateTime, Utc};
use cxone_replay_domain::{AuditRecord, FailureClass, ReplayStatus, SkipReason};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Counts by final status. All five are always present in the JSON, and they add up to
/// [`RunSummary::seen`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Accepted (`201`).
    #[serde(rename = "SUCCESS")]
    pub success: u64,
    /// Already accepted earlier (`409`).
    #[serde(rename = "DUPLICATE")]
    pub duplicate: u64,
    /// Failed.
    #[serde(rename = "FAILED")]
    pub failed: u64,
    /// Not sent (see [`RunSummary::skips`]).
    #[serde(rename = "SKIPPED")]
    pub skipped: u64,
    /// Planned but not sent: dry run.
    #[serde(rename = "DRY_RUN")]
    pub dry_run: u64,
}

impl StatusCounts {
    /// The count for `status`.
    #[must_use]
    pub fn get(&self, status: ReplayStatus) -> u64 {
        match status {
            ReplayStatus::Success => self.success,
            ReplayStatus::Duplicate => self.duplicate,
            ReplayStatus::Failed => self.failed,
            ReplayStatus::Skipped => self.skipped,
            ReplayStatus::DryRun => self.dry_run,
            _ => 0,
        }
    }

    pub(crate) fn add(&mut self, status: ReplayStatus) {
        match status {
            ReplayStatus::Success => self.success += 1,
            ReplayStatus::Duplicate => self.duplicate += 1,
            ReplayStatus::Failed => self.failed += 1,
            ReplayStatus::Skipped => self.skipped += 1,
            ReplayStatus::DryRun => self.dry_run += 1,
            _ => {}
        }
    }

    /// Adds `other`'s counts to these.
    pub(crate) fn merge(&mut self, other: &StatusCounts) {
        self.success += other.success;
        self.duplicate += other.duplicate;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.dry_run += other.dry_run;
    }

    /// The sum of all counts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.success + self.duplicate + self.failed + self.skipped + self.dry_run
    }
}

/// Latency percentiles of the PUTs of a run, in milliseconds (0 when nothing was sent). Measured
/// per event from just before the send to its final outcome, retries included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

/// The summary of a run. Its JSON names are stable: scripts and the CLI's `--json` rely on them.
///
/// `counts` add up to `seen`. Events that a resumed run found already delivered are neither
/// sent, nor re-recorded, nor `seen`: they are counted in `already_replayed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// This run's id (in every audit record).
    pub run_id: String,
    /// Events seen: taken off a DLQ page and given a final audit record that the audit sink
    /// accepted.
    pub seen: u64,
    /// By final status.
    pub counts: StatusCounts,
    /// `FAILED` events by failure class.
    pub failures: BTreeMap<FailureClass, u64>,
    /// `SKIPPED` events by skip reason.
    pub skips: BTreeMap<SkipReason, u64>,
    /// PUT latency percentiles.
    pub latency_ms: LatencySummary,
    /// `seen / elapsed`.
    pub events_per_second: f64,
    /// Wall time of the run.
    pub elapsed_ms: u64,
    /// Whether the run was cancelled before it ran out of events.
    pub interrupted: bool,
    /// Monitor notifications that could not be delivered (queue full, endpoint gone or failing).
    pub monitor_dropped: u64,
    /// Resume only: events skipped because an earlier run already delivered them (not in `seen`,
    /// not re-recorded).
    #[serde(default)]
    pub already_replayed: u64,
    /// Whether this was a dry run.
    #[serde(default)]
    pub dry_run: bool,
    /// When the run started.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// Sends started per second over the run: the mean send rate (0 for a dry run).
    #[serde(default)]
    pub sends_per_second: f64,
    /// The pace at the end of the run, in sends per second: the fixed rate, or the rate
    /// [`Pace::Adaptive`](crate::Pace::Adaptive) had found; `None` when unpaced.
    #[serde(default)]
    pub pace_per_second: Option<f64>,
    /// `429 Too Many Requests` answers the target received during the run, retries and DLQ
    /// reads included (0 when the target does not report them, see
    /// [`ReplayTarget::throttling`](crate::ReplayTarget::throttling)).
    #[serde(default)]
    pub rate_limited: u64,
    /// Time the run spent held by `Retry-After` (every request waits out a `429`'s
    /// `Retry-After`), in milliseconds; overlapping holds count once.
    #[serde(default)]
    pub held_ms: u64,
    /// Whether the run stopped because it had sent as many events as its limit allows
    /// ([`ReplayerBuilder::limit`](crate::ReplayerBuilder::limit)); a resumed run continues
    /// with the events not reached. Not an interruption: `interrupted` stays `false`, and
    /// `stopped` stays `None` (a limit is a clean stop, the breaker an abnormal one).
    #[serde(default)]
    pub limit_reached: bool,
    /// Why the circuit breaker stopped the run before it ran out of events (a sentence), or
    /// `null`: events not sent have no record, and a resume continues with them.
    #[serde(default)]
    pub stopped: Option<String>,
}

/// Progress so far, given to the progress callback after every record.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Events seen and recorded so far.
    pub seen: u64,
    /// By status.
    pub counts: StatusCounts,
    /// Resume only: events found already delivered.
    pub already_replayed: u64,
    /// Events finished per second over the last second or so (the whole run until then).
    pub current_rate: f64,
    /// Events finished per second since the start: the mean rate.
    pub mean_rate: f64,
    /// The pace now, in sends per second (for [`Pace::Adaptive`](crate::Pace::Adaptive) the
    /// rate it is at); `None` when unpaced.
    pub pace: Option<f64>,
    /// Time since the start.
    pub elapsed: Duration,
}

/// Accumulates a run's outcomes.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) started: DateTime<Utc>,
    pub(crate) seen: u64,
    pub(crate) counts: StatusCounts,
    failures: BTreeMap<FailureClass, u64>,
    skips: BTreeMap<SkipReason, u64>,
    latency: Latency,
    pub(crate) already_replayed: u64,
    window_start: DateTime<Utc>,
    window_count: u64,
    last_rate: Option<f64>,
}

const RATE_WINDOW: Duration = Duration::from_secs(1);

impl Tally {
    pub(crate) fn new(started: DateTime<Utc>) -> Self {
        Tally {
            started,
            seen: 0,
            counts: StatusCounts::default(),
            failures: BTreeMap::new(),
            skips: BTreeMap::new(),
            latency: Latency::default(),
            already_replayed: 0,
            window_start: started,
            window_count: 0,
            last_rate: None,
        }
    }

    pub(crate) fn add(&mut self, rec: &AuditRecord, now: DateTime<Utc>) {
        self.seen += 1;
        self.counts.add(rec.status);
        match rec.status {
            ReplayStatus::Failed => {
                let class = rec
                    .error_classification
                    .unwrap_or(FailureClass::UnknownFailure);
                *self.failures.entry(class).or_default() += 1;
            }
            ReplayStatus::Skipped => {
                if let Some(r) = rec.skip_reason {
                    *self.skips.entry(r).or_default() += 1;
                }
            }
            _ => {}
        }
        if is_measured_send(rec) {
            self.latency.record_ms(rec.latency_ms);
        }
        self.tick(now);
    }

    pub(crate) fn add_already_replayed(&mut self, now: DateTime<Utc>) {
        self.already_replayed += 1;
        self.tick(now);
    }

    fn tick(&mut self, now: DateTime<Utc>) {
        self.window_count += 1;
        let dt = elapsed(self.window_start, now);
        if dt >= RATE_WINDOW {
            self.last_rate = Some(self.window_count as f64 / dt.as_secs_f64());
            self.window_start = now;
            self.window_count = 0;
        }
    }

    pub(crate) fn progress(&self, now: DateTime<Utc>) -> Progress {
        let el = elapsed(self.started, now);
        let done = self.seen + self.already_replayed;
        let mean_rate = if el.is_zero() {
            0.0
        } else {
            done as f64 / el.as_secs_f64()
        };
        Progress {
            seen: self.seen,
            counts: self.counts,
            already_replayed: self.already_replayed,
            current_rate: self.last_rate.unwrap_or(mean_rate),
            mean_rate,
            pace: None,
            elapsed: el,
        }
    }

    pub(crate) fn summary(
        &self,
        run_id: &str,
        now: DateTime<Utc>,
        interrupted: bool,
        dry_run: bool,
    ) -> RunSummary {
        let el = elapsed(self.started, now);
        RunSummary {
            run_id: run_id.to_string(),
            seen: self.seen,
            counts: self.counts,
            failures: self.failures.clone(),
            skips: self.skips.clone(),
            latency_ms: self.latency.summary(),
            events_per_second: if el.is_zero() {
                0.0
            } else {
                self.seen as f64 / el.as_secs_f64()
            },
            elapsed_ms: u64::try_from(el.as_millis()).unwrap_or(u64::MAX),
            interrupted,
            monitor_dropped: 0,
            already_replayed: self.already_replayed,
            dry_run,
            started_at: Some(self.started),
            sends_per_second: 0.0,
            pace_per_second: None,
            rate_limited: 0,
            held_ms: 0,
            limit_reached: false,
            stopped: None,
        }
    }
}

pub(crate) fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    to.signed_duration_since(from).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_json_has_the_stable_names_and_reads_back() {
        let mut s = RunSummary {
            seen: 3,
            ..RunSummary::default()
        };
        s.counts.success = 1;
        s.counts.failed = 1;
        s.counts.skipped = 1;
        s.failures.insert(FailureClass::ServerTransient, 1);
        s.skips.insert(SkipReason::TooOld, 1);
        let v = serde_json::to_value(&s).unwrap();
        for k in [
            "seen",
            "counts",
            "failures",
            "skips",
            "latency_ms",
            "events_per_second",
            "elapsed_ms",
            "interrupted",
            "monitor_dropped",
            "sends_per_second",
            "pace_per_second",
            "rate_limited",
            "held_ms",
            "stopped",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        for k in ["SUCCESS", "DUPLICATE", "FAILED", "SKIPPED", "DRY_RUN"] {
            assert!(v["counts"].get(k).is_some(), "missing counts.{k}");
        }
        for k in ["p50", "p95", "p99", "max"] {
            assert!(v["latency_ms"].get(k).is_some(), "missing latency_ms.{k}");
        }
        assert_eq!(v["failures"]["SERVER_TRANSIENT"], 1);
        assert_eq!(v["skips"]["TOO_OLD"], 1);
        let back: RunSummary = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.counts.total(), back.seen);
    }
}

#[cfg(test)]
mod tally_tests {
    use super::*;
    use cxone_replay_domain::{AuditContext, SentOutcome};

    #[test]
    fn tally_counts_rates_and_latency() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        let mut t = Tally::new(t0);
        let ctx = AuditContext {
            run_id: "r",
            topic_id: "t",
            event_id: "e",
            destination: "t",
        };
        for i in 0..100u32 {
            let rec = AuditRecord::sent(
                &ctx,
                &SentOutcome {
                    class: (i % 10 == 0).then_some(FailureClass::Forbidden),
                    idempotency_key: "k".into(),
                    attempt: 1,
                    http_status: Some(201),
                    http_attempts: 1,
                    latency_ms: f64::from(i + 1),
                    message: None,
                },
                t0,
            );
            // 100 records over 2 s
            t.add(
                &rec,
                t0 + chrono::TimeDelta::milliseconds(i64::from(i) * 20),
            );
        }
        let now = t0 + chrono::TimeDelta::seconds(2);
        let p = t.progress(now);
        assert_eq!(p.seen, 100);
        assert_eq!(p.counts.failed, 10);
        assert!((p.current_rate - 50.0).abs() < 2.0, "{}", p.current_rate);
        let s = t.summary("r", now, false, false);
        assert_eq!(s.failures[&FailureClass::Forbidden], 10);
        assert!((s.latency_ms.p50 - 50.0).abs() < 1.0, "{:?}", s.latency_ms);
        assert!((s.latency_ms.max - 100.0).abs() < 0.1);
        assert!((s.events_per_second - 50.0).abs() < 0.01);
        assert_eq!(s.elapsed_ms, 2000);
    }
}
