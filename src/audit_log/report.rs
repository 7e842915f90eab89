//! [`RunReport`]: what `audit report` shows, aggregated from one streaming read of the log.
//!
//! # Memory
//! Bounded by the settings of [`ReportOptions`], whatever the number of records, except for
//! what the final outcome of every event needs: the per-event table of [`AuditLog::summary`]
//! (a 16-byte digest and 8 bytes of state per distinct event, about 35 bytes with the hash
//! table's room) and, for each event whose final outcome *so far* is `FAILED` or `SKIPPED`,
//! the byte offset of that record (about 40 bytes). An event's final outcome can change
//! until the last line, so no bounded sample of failed events can be exact; offsets can: once
//! the log is read, the first [`ReportOptions::failed_rows`] failed events and a few examples
//! per class and reason are read again at their offsets, so only those records are ever held.
//! One row per run, and at most [`MAX_TOPICS`] topic names, are kept too.

use super::AuditLog;
use super::failed::FailedEvent;
use super::summary::{LogSummary, SummaryAcc};
use super::timeline::{Bins, Timeline};
use crate::digest::{DigestMap, event_key};
use crate::error::{EngineError, Setting};
use crate::latency::{Latency, LatencyBucket, is_measured_send};
use crate::summary::LatencySummary;
use chrono::{DateTime, Utc};
use cxone_replay_domain::{AuditRecord, FailureClass, ReplayStatus, SkipReason};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::path::Path;

/// The most topics a report names; records of further topics are counted together.
pub const MAX_TOPICS: usize = 1000;

/// How much a [`RunReport`] holds: every limit of the report, checked when set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOptions {
    max_bins: usize,
    failed_rows: usize,
    examples: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            max_bins: Self::DEFAULT_MAX_BINS,
            failed_rows: Self::DEFAULT_FAILED_ROWS,
            examples: Self::DEFAULT_EXAMPLES,
        }
    }
}

impl ReportOptions {
    /// Default [`max_bins`](Self::max_bins).
    pub const DEFAULT_MAX_BINS: usize = 240;
    /// Default [`failed_rows`](Self::failed_rows).
    pub const DEFAULT_FAILED_ROWS: usize = 200;
    /// Default [`examples`](Self::examples).
    pub const DEFAULT_EXAMPLES: usize = 3;
    /// The most bins: 10,000.
    pub const MAX_BINS: usize = 10_000;
    /// The most failed rows: 100,000.
    pub const MAX_FAILED_ROWS: usize = 100_000;
    /// The most examples per class or reason: 100.
    pub const MAX_EXAMPLES: usize = 100;

    /// The most time bins (2 ..= 10,000; default 240): bins start one second wide and double
    /// in width when the log's time span needs more.
    ///
    /// # Errors
    /// [`EngineError::Setting`] ([`Setting::ReportBins`]) outside that range.
    pub fn max_bins(mut self, n: usize) -> Result<Self, EngineError> {
        if !(2..=Self::MAX_BINS).contains(&n) {
            return Err(EngineError::invalid(
                Setting::ReportBins,
                format!("must be 2 ..= {}, not {n}", Self::MAX_BINS),
            ));
        }
        self.max_bins = n;
        Ok(self)
    }

    /// The most failed events listed (0 ..= 100,000; default 200); the rest are counted.
    ///
    /// # Errors
    /// [`EngineError::Setting`] ([`Setting::ReportFailedRows`]) above that.
    pub fn failed_rows(mut self, n: usize) -> Result<Self, EngineError> {
        if n > Self::MAX_FAILED_ROWS {
            return Err(EngineError::invalid(
                Setting::ReportFailedRows,
                format!("must be at most {}, not {n}", Self::MAX_FAILED_ROWS),
            ));
        }
        self.failed_rows = n;
        Ok(self)
    }

    /// The example events per failure class and per skip reason (0 ..= 100; default 3).
    ///
    /// # Errors
    /// [`EngineError::Setting`] ([`Setting::ReportExamples`]) above that.
    pub fn examples(mut self, n: usize) -> Result<Self, EngineError> {
        if n > Self::MAX_EXAMPLES {
            return Err(EngineError::invalid(
                Setting::ReportExamples,
                format!("must be at most {}, not {n}", Self::MAX_EXAMPLES),
            ));
        }
        self.examples = n;
        Ok(self)
    }

    /// The most time bins.
    #[must_use]
    pub fn get_max_bins(&self) -> usize {
        self.max_bins
    }

    /// The most failed events listed.
    #[must_use]
    pub fn get_failed_rows(&self) -> usize {
        self.failed_rows
    }

    /// The examples per class and reason.
    #[must_use]
    pub fn get_examples(&self) -> usize {
        self.examples
    }
}

/// A topic and its records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TopicCount {
    /// The topic.
    pub topic_id: String,
    /// Its records.
    pub records: u64,
}

/// The latency of successful sends (records `SUCCESS` of a PUT that made a request): from the
/// first request for the event to its outcome, retries included. The JSON names are stable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LatencyReport {
    /// Successful sends measured.
    pub sends: u64,
    /// p50, p95, p99 and max, in milliseconds.
    #[serde(flatten)]
    pub percentiles: LatencySummary,
    /// The histogram: ten buckets per decade, from the lowest bucket with a send to the
    /// highest.
    pub histogram: Vec<LatencyBucket>,
}

/// An example event of a failure class or a skip reason: its last record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExampleEvent {
    /// The topic.
    pub topic_id: String,
    /// The event id.
    pub event_id: String,
    /// The HTTP status of the last response, if any.
    pub http_status: Option<u16>,
    /// The server's message or the skip's detail, as recorded.
    pub message: Option<String>,
    /// The run that recorded it.
    pub run_id: String,
    /// When.
    pub timestamp: DateTime<Utc>,
}

impl ExampleEvent {
    fn from_record(r: AuditRecord) -> Self {
        ExampleEvent {
            http_status: r.http_status,
            message: r.message,
            run_id: r.run_id,
            timestamp: r.timestamp,
            topic_id: r.topic_id,
            event_id: r.event_id,
        }
    }
}

/// Events whose final outcome is `FAILED` with one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClassBreakdown {
    /// The class.
    pub class: FailureClass,
    /// How many events.
    pub events: u64,
    /// The first few of them, in log order.
    pub examples: Vec<ExampleEvent>,
}

/// Events whose final outcome is `SKIPPED` for one reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ReasonBreakdown {
    /// The reason.
    pub reason: SkipReason,
    /// How many events.
    pub events: u64,
    /// The first few of them, in log order.
    pub examples: Vec<ExampleEvent>,
}

/// What `audit report` shows: the log's [`LogSummary`] (totals by final outcome, the runs in
/// order, each with the events it took over from earlier runs), the topics, records over
/// time, the latency of successful sends, failures by class and skips by reason with
/// examples, and the failed events. The JSON names are stable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunReport {
    /// The run reported on, or `None` for the whole log.
    pub run: Option<String>,
    /// Totals, runs, and the breakdowns' counts.
    pub summary: LogSummary,
    /// The topics, in the order of their first record (at most [`MAX_TOPICS`]).
    pub topics: Vec<TopicCount>,
    /// Records of topics beyond [`MAX_TOPICS`].
    pub other_topics_records: u64,
    /// Records over time.
    pub timeline: Timeline,
    /// Latency of successful sends.
    pub latency_ms: LatencyReport,
    /// Events whose final outcome is `FAILED`, by class (largest first).
    pub failures: Vec<ClassBreakdown>,
    /// Events whose final outcome is `SKIPPED`, by reason (largest first).
    pub skips: Vec<ReasonBreakdown>,
    /// The first failed events, in the order of their final records.
    pub failed_events: Vec<FailedEvent>,
    /// Failed events beyond those listed.
    pub failed_events_omitted: u64,
    /// The topics of every failed event (to re-drive them), when all are among [`topics`](Self::topics).
    pub failed_topics: Vec<String>,
    /// Whether `failed_topics` names every topic of a failed event.
    pub failed_topics_complete: bool,
}

impl RunReport {
    /// Whether the file reads as an audit log (as [`LogSummary::is_audit_log`]).
    #[must_use]
    pub fn is_audit_log(&self) -> bool {
        self.summary.is_audit_log()
    }
}

/// A final outcome the report lists events of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Failed(FailureClass),
    Skipped(SkipReason),
}

impl Kind {
    fn of(r: &AuditRecord) -> Option<Kind> {
        match r.status {
            ReplayStatus::Failed => Some(Kind::Failed(
                r.error_classification
                    .unwrap_or(FailureClass::UnknownFailure),
            )),
            ReplayStatus::Skipped => r.skip_reason.map(Kind::Skipped),
            _ => None,
        }
    }
}

/// Where an event's final record so far is, for events whose final outcome is a [`Kind`].
#[derive(Debug, Clone, Copy)]
struct End {
    offset: u64,
    kind: Kind,
    topic: u32,
}

/// Topic names, up to [`MAX_TOPICS`].
#[derive(Default)]
struct Topics {
    index: HashMap<String, u32>,
    list: Vec<TopicCount>,
    other_records: u64,
}

impl Topics {
    /// Counts a record of `topic`; its index, or `u32::MAX` beyond the cap.
    fn add(&mut self, topic: &str) -> u32 {
        if let Some(&i) = self.index.get(topic) {
            self.list[i as usize].records += 1;
            return i;
        }
        if self.list.len() >= MAX_TOPICS {
            self.other_records += 1;
            return u32::MAX;
        }
        let i = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.index.insert(topic.to_string(), i);
        self.list.push(TopicCount {
            topic_id: topic.to_string(),
            records: 1,
        });
        i
    }
}

/// Keeps the `cap` smallest items pushed (the first records of the log, by offset).
struct Smallest<T> {
    cap: usize,
    heap: BinaryHeap<T>,
}

impl<T: Ord> Smallest<T> {
    fn new(cap: usize) -> Self {
        Smallest {
            cap,
            heap: BinaryHeap::new(),
        }
    }

    fn push(&mut self, item: T) {
        if self.heap.len() < self.cap {
            self.heap.push(item);
        } else if self.heap.peek().is_some_and(|max| item < *max) {
            self.heap.pop();
            self.heap.push(item);
        }
    }

    fn sorted(self) -> Vec<T> {
        self.heap.into_sorted_vec()
    }
}

struct ReportAcc {
    summary: SummaryAcc,
    bins: Bins,
    latency: Latency,
    topics: Topics,
    ends: DigestMap<End>,
}

impl ReportAcc {
    fn new(options: &ReportOptions) -> Self {
        ReportAcc {
            summary: SummaryAcc::default(),
            bins: Bins::new(options.max_bins),
            latency: Latency::default(),
            topics: Topics::default(),
            ends: DigestMap::default(),
        }
    }

    fn add(&mut self, offset: u64, r: &AuditRecord) {
        let key = event_key(&r.topic_id, &r.event_id);
        let topic = self.topics.add(&r.topic_id);
        self.bins.add(r.timestamp, r.status);
        if r.status == ReplayStatus::Success && is_measured_send(r) {
            self.latency.record_ms(r.latency_ms);
        }
        if self.summary.add_keyed(key, r) {
            match Kind::of(r) {
                Some(kind) => {
                    let end = End {
                        offset,
                        kind,
                        topic,
                    };
                    match self.ends.entry(key) {
                        Entry::Occupied(mut o) => *o.get_mut() = end,
                        Entry::Vacant(v) => {
                            v.insert(end);
                        }
                    }
                }
                None => {
                    self.ends.remove(&key);
                }
            }
        }
    }
}

impl AuditLog {
    /// The records at `wanted`'s offsets, each checked to be of its expected kind.
    fn read_again(
        path: &Path,
        wanted: &BTreeMap<u64, Kind>,
    ) -> Result<BTreeMap<u64, AuditRecord>, EngineError> {
        let offsets: Vec<u64> = wanted.keys().copied().collect();
        let mut out = BTreeMap::new();
        for ((offset, kind), r) in wanted.iter().zip(Self::records_at(path, &offsets)?) {
            if Kind::of(&r) != Some(*kind) {
                let changed = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("the record at byte {offset} changed while the file was read"),
                );
                return Err(EngineError::io("read again", path, changed));
            }
            out.insert(*offset, r);
        }
        Ok(out)
    }

    /// The report of the log at `path` (of the records of `run` only, if given), streaming the
    /// log once, then reading again the few records it lists.
    ///
    /// Memory is bounded by the [`ReportOptions`], whatever the number of records, except for
    /// what the final outcome of every event needs: the per-event table of
    /// [`AuditLog::summary`] and, for each event whose final outcome so far is `FAILED` or
    /// `SKIPPED`, the byte offset of that record (together some 40 to 80 bytes per distinct
    /// event). An event's final outcome can change until the last line, so no bounded sample
    /// of failed events can be exact; offsets can: the failed events listed and the examples
    /// are read again at their offsets once the log is read.
    ///
    /// # Errors
    /// [`EngineError::Io`] if the file cannot be opened or read, or changed while it was read.
    pub fn report(
        path: impl AsRef<Path>,
        run: Option<&str>,
        options: &ReportOptions,
    ) -> Result<RunReport, EngineError> {
        let path = path.as_ref();
        let mut acc = ReportAcc::new(options);
        let read = Self::scan_at(path, |offset, r| {
            if run.is_none_or(|id| r.run_id == id) {
                acc.add(offset, &r);
            }
        })?;
        let ReportAcc {
            summary,
            bins,
            latency,
            topics,
            ends,
        } = acc;
        let summary = summary.finish(read.lines, read.torn_tail, read.malformed);

        // The failed events to list and the examples: the first ones by offset.
        let mut table = Smallest::new(options.failed_rows);
        let mut examples: BTreeMap<Kind, Smallest<u64>> = BTreeMap::new();
        let mut failed_topics = BTreeSet::new();
        for end in ends.into_values() {
            if let Kind::Failed(_) = end.kind {
                table.push((end.offset, end.kind));
                failed_topics.insert(end.topic);
            }
            examples
                .entry(end.kind)
                .or_insert_with(|| Smallest::new(options.examples))
                .push(end.offset);
        }
        let table = table.sorted();
        let mut wanted: BTreeMap<u64, Kind> = table.iter().copied().collect();
        let examples: BTreeMap<Kind, Vec<u64>> = examples
            .into_iter()
            .map(|(kind, s)| {
                let offsets = s.sorted();
                wanted.extend(offsets.iter().map(|&o| (o, kind)));
                (kind, offsets)
            })
            .collect();
        let records = Self::read_again(path, &wanted)?;
        let failed_events = table
            .iter()
            .filter_map(|(o, _)| records.get(o).cloned())
            .map(FailedEvent::from_record)
            .collect::<Vec<_>>();
        let examples_of = |kind: Kind| -> Vec<ExampleEvent> {
            examples
                .get(&kind)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .filter_map(|o| records.get(o).cloned())
                .map(ExampleEvent::from_record)
                .collect()
        };
        let mut failures: Vec<ClassBreakdown> = summary
            .failures
            .iter()
            .map(|(&class, &events)| ClassBreakdown {
                class,
                events,
                examples: examples_of(Kind::Failed(class)),
            })
            .collect();
        failures.sort_by_key(|c| std::cmp::Reverse(c.events));
        let mut skips: Vec<ReasonBreakdown> = summary
            .skips
            .iter()
            .map(|(&reason, &events)| ReasonBreakdown {
                reason,
                events,
                examples: examples_of(Kind::Skipped(reason)),
            })
            .collect();
        skips.sort_by_key(|s| std::cmp::Reverse(s.events));

        let failed_topics_complete = !failed_topics.contains(&u32::MAX);
        let failed_topics = failed_topics
            .into_iter()
            .filter_map(|i| topics.list.get(i as usize))
            .map(|t| t.topic_id.clone())
            .collect();
        Ok(RunReport {
            run: run.map(str::to_string),
            failed_events_omitted: summary
                .final_counts
                .failed
                .saturating_sub(failed_events.len() as u64),
            failed_events,
            failed_topics,
            failed_topics_complete,
            topics: topics.list,
            other_topics_records: topics.other_records,
            timeline: bins.timeline(),
            latency_ms: LatencyReport {
                sends: latency.len(),
                percentiles: latency.summary(),
                histogram: latency.buckets(),
            },
            failures,
            skips,
            summary,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JsonlAuditLog;
    use cxone_replay_domain::{AuditContext, SentOutcome, Skip};

    const T0: i64 = 1_700_000_000;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(T0 + s, 0).unwrap_or_default()
    }

    fn ctx<'a>(run: &'a str, topic: &'a str, event: &'a str) -> AuditContext<'a> {
        AuditContext {
            run_id: run,
            topic_id: topic,
            event_id: event,
            destination: topic,
        }
    }

    fn sent(run: &str, event: &str, s: i64, class: Option<FailureClass>, ms: f64) -> AuditRecord {
        AuditRecord::sent(
            &ctx(run, "t", event),
            &SentOutcome {
                class,
                idempotency_key: format!("replay-{event}-v1"),
                attempt: 1,
                http_status: Some(match class {
                    None => 201,
                    Some(FailureClass::DuplicateDetected) => 409,
                    Some(FailureClass::SchemaViolation) => 400,
                    Some(_) => 503,
                }),
                http_attempts: 1,
                latency_ms: ms,
                message: class.map(|c| format!("{c} for {event}")),
            },
            at(s),
        )
    }

    fn skipped(run: &str, event: &str, s: i64, reason: SkipReason) -> AuditRecord {
        let skip = Skip {
            reason,
            detail: format!("{reason} detail"),
            idempotency_key: None,
            attempt: Some(1),
        };
        AuditRecord::skipped(&ctx(run, "t", event), &skip, at(s))
    }

    /// Run 1: e1 fails then (run 2) succeeds; e2 a schema violation; e3..e6 retries used up;
    /// e7 too old; e8, e9 delivered; e10 fails, then a filter leaves it out (still failed).
    fn log() -> (tempfile::TempDir, std::path::PathBuf, usize) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let log = JsonlAuditLog::open(&p).unwrap();
        let transient = Some(FailureClass::MaxRetriesExceeded);
        let records = vec![
            sent("run-1", "e1", 0, transient, 900.0),
            sent("run-1", "e2", 0, Some(FailureClass::SchemaViolation), 5.0),
            sent("run-1", "e3", 1, transient, 800.0),
            sent("run-1", "e4", 1, transient, 800.0),
            sent("run-1", "e5", 2, transient, 800.0),
            sent("run-1", "e6", 2, transient, 800.0),
            skipped("run-1", "e7", 3, SkipReason::TooOld),
            sent("run-1", "e8", 3, None, 10.0),
            sent(
                "run-1",
                "e9",
                4,
                Some(FailureClass::DuplicateDetected),
                20.0,
            ),
            sent("run-1", "e10", 4, transient, 800.0),
            sent("run-2", "e1", 600, None, 1.0),
            skipped("run-2", "e10", 600, SkipReason::Filtered),
        ];
        for r in &records {
            log.append(r).unwrap();
        }
        (dir, p, records.len())
    }

    fn ids(events: &[ExampleEvent]) -> Vec<&str> {
        events.iter().map(|e| e.event_id.as_str()).collect()
    }

    #[test]
    fn the_report_holds_the_final_outcomes_bins_and_latency() {
        let (_dir, p, n) = log();
        let options = ReportOptions::default()
            .failed_rows(3)
            .unwrap()
            .examples(2)
            .unwrap();
        let r = AuditLog::report(&p, None, &options).unwrap();
        assert!(r.is_audit_log());
        assert_eq!(r.summary.records, n as u64);
        assert_eq!(r.summary.events, 10);
        let c = r.summary.final_counts;
        assert_eq!((c.success, c.duplicate, c.failed, c.skipped), (2, 1, 6, 1));
        // the failed table: the first three of e2, e3, e4, e5, e6, e10 (e1 was delivered)
        let failed: Vec<&str> = r
            .failed_events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect();
        assert_eq!(failed, ["e2", "e3", "e4"]);
        assert_eq!(r.failed_events_omitted, 3);
        assert_eq!(
            r.failed_events[0].message.as_deref(),
            Some("SCHEMA_VIOLATION for e2")
        );
        assert_eq!(r.failed_topics, ["t"]);
        assert!(r.failed_topics_complete);
        // largest class first, each with its first examples in log order
        assert_eq!(r.failures.len(), 2);
        assert_eq!(r.failures[0].class, FailureClass::MaxRetriesExceeded);
        assert_eq!(r.failures[0].events, 5);
        assert_eq!(ids(&r.failures[0].examples), ["e3", "e4"]);
        assert_eq!(r.failures[0].examples[0].http_status, Some(503));
        assert_eq!(r.failures[1].class, FailureClass::SchemaViolation);
        assert_eq!(ids(&r.failures[1].examples), ["e2"]);
        assert_eq!(r.skips.len(), 1);
        assert_eq!(
            (r.skips[0].reason, r.skips[0].events),
            (SkipReason::TooOld, 1)
        );
        assert_eq!(ids(&r.skips[0].examples), ["e7"]);
        assert_eq!(
            r.skips[0].examples[0].message.as_deref(),
            Some("TOO_OLD detail")
        );
        // the runs: run-2 continued run-1 with e1 (its filter skip of e10 says nothing)
        assert_eq!(r.summary.runs.len(), 2);
        assert_eq!(r.summary.runs[1].prior_events, 1);
        // bins: 0..4 s, then a gap to 600 s: 605 one-second spans fit in 240 bins of 4 s
        let t = &r.timeline;
        assert_eq!(t.bin_seconds, 4);
        assert!(t.bins.len() <= 240);
        let per_bin: u64 = t.bins.iter().map(|b| b.counts.total()).sum();
        assert_eq!(per_bin, n as u64, "every record in a bin");
        assert_eq!(t.bins[0].counts.failed, 6);
        // latency: successful sends only (e8 10 ms, e1 1 ms)
        assert_eq!(r.latency_ms.sends, 2);
        assert!((r.latency_ms.percentiles.max - 10.0).abs() < 0.1);
        assert_eq!(
            r.latency_ms.histogram.iter().map(|b| b.count).sum::<u64>(),
            2
        );
        assert_eq!(
            r.topics,
            [TopicCount {
                topic_id: "t".into(),
                records: n as u64
            }]
        );

        // the stable JSON names
        let v = serde_json::to_value(&r).unwrap();
        for k in [
            "run",
            "summary",
            "topics",
            "other_topics_records",
            "timeline",
            "latency_ms",
            "failures",
            "skips",
            "failed_events",
            "failed_events_omitted",
            "failed_topics",
            "failed_topics_complete",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        assert_eq!(v["timeline"]["bin_seconds"], 4);
        assert_eq!(v["timeline"]["bins"][0]["counts"]["FAILED"], 6);
        assert!(v["timeline"]["bins"][0]["start"].is_string());
        assert_eq!(v["latency_ms"]["sends"], 2);
        for k in ["p50", "p95", "p99", "max", "histogram"] {
            assert!(v["latency_ms"].get(k).is_some(), "missing latency_ms.{k}");
        }
        assert!(v["latency_ms"]["histogram"][0]["from_ms"].is_number());
        assert_eq!(v["failures"][0]["class"], "MAX_RETRIES_EXCEEDED");
        assert_eq!(v["failures"][0]["examples"][0]["event_id"], "e3");
        assert_eq!(v["skips"][0]["reason"], "TOO_OLD");
        assert_eq!(
            v["failed_events"][0]["error_classification"],
            "SCHEMA_VIOLATION"
        );
        assert_eq!(v["summary"]["final_counts"]["FAILED"], 6);
        let back: RunReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn one_run_and_unlimited_rows() {
        let (_dir, p, _) = log();
        let r = AuditLog::report(&p, Some("run-2"), &ReportOptions::default()).unwrap();
        assert_eq!(r.run.as_deref(), Some("run-2"));
        assert_eq!(r.summary.records, 2);
        // in run 2 alone, e10's filter skip says nothing: no final outcome to list
        assert_eq!(r.summary.final_counts.success, 1);
        assert!(r.failed_events.is_empty() && r.failures.is_empty());
        assert_eq!(r.timeline.bin_seconds, 1);
        let all = AuditLog::report(&p, None, &ReportOptions::default()).unwrap();
        let failed: Vec<&str> = all
            .failed_events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect();
        assert_eq!(failed, ["e2", "e3", "e4", "e5", "e6", "e10"]);
        assert_eq!(all.failed_events_omitted, 0);
        // the same events as `audit failed` (the one rule of the final outcome)
        let f = AuditLog::failed(&p).unwrap();
        assert_eq!(all.failed_events, f.events);
        let none = ReportOptions::default()
            .failed_rows(0)
            .unwrap()
            .examples(0)
            .unwrap();
        let r = AuditLog::report(&p, None, &none).unwrap();
        assert!(r.failed_events.is_empty());
        assert_eq!(r.failed_events_omitted, 6);
        assert!(r.failures.iter().all(|c| c.examples.is_empty()));
    }

    #[test]
    fn an_empty_log_and_a_log_that_changed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.jsonl");
        std::fs::write(&p, "").unwrap();
        let r = AuditLog::report(&p, None, &ReportOptions::default()).unwrap();
        assert!(r.is_audit_log());
        assert!(r.timeline.bins.is_empty() && r.latency_ms.histogram.is_empty());
        std::fs::write(&p, "not json\n").unwrap();
        let r = AuditLog::report(&p, None, &ReportOptions::default()).unwrap();
        assert!(!r.is_audit_log());
        // a line read again that is no longer the record seen: a typed I/O error
        let (_d, log, _) = log();
        let wanted = BTreeMap::from([(1, Kind::Failed(FailureClass::SchemaViolation))]);
        let e = AuditLog::read_again(&log, &wanted).unwrap_err();
        assert!(
            matches!(&e, EngineError::Io { source, .. } if source.kind() == std::io::ErrorKind::InvalidData),
            "{e:?}"
        );
        let wanted = BTreeMap::from([(0, Kind::Failed(FailureClass::SchemaViolation))]);
        let e = AuditLog::read_again(&log, &wanted).unwrap_err();
        assert!(
            crate::error::EngineError::to_string(&e).contains("read again"),
            "{e}"
        );
    }

    #[test]
    fn options_are_checked() {
        let o = ReportOptions::default();
        assert_eq!(
            (o.get_max_bins(), o.get_failed_rows(), o.get_examples()),
            (240, 200, 3)
        );
        for e in [
            o.max_bins(1).unwrap_err(),
            o.max_bins(10_001).unwrap_err(),
            o.failed_rows(100_001).unwrap_err(),
            o.examples(101).unwrap_err(),
        ] {
            assert!(matches!(e, EngineError::Setting { .. }), "{e:?}");
        }
        assert!(o.max_bins(2).is_ok() && o.failed_rows(0).is_ok() && o.examples(100).is_ok());
        let e = o.max_bins(1).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid setting `max_bins`: must be 2 ..= 10000, not 1"
        );
    }

    #[test]
    fn topics_beyond_the_cap_are_counted_together() {
        let mut t = Topics::default();
        for i in 0..MAX_TOPICS + 5 {
            t.add(&format!("t{i}"));
        }
        assert_eq!(t.add("t0"), 0);
        assert_eq!(t.add("another"), u32::MAX);
        assert_eq!(t.list.len(), MAX_TOPICS);
        assert_eq!(t.list[0].records, 2);
        assert_eq!(t.other_records, 6);
    }
}
