//! [`LogSummary`]: what an audit log says happened, per event and per run.

use super::{AuditLog, BadLine, LogReport};
use crate::digest::event_key;
use crate::error::EngineError;
use crate::summary::StatusCounts;
use chrono::{DateTime, Utc};
use cxone_replay_domain::{AuditRecord, FailureClass, ReplayStatus, SkipReason};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Whether the record `new` replaces an event's final outcome `old`. The one rule of "final
/// outcome": a record that says nothing about the event's delivery (a dry run, a skip because
/// the run's filter left the event out, or a `DUPLICATE_IN_RUN` skip because the event came up
/// again in the same run) never replaces an earlier outcome, and a delivered outcome is never
/// replaced by one that is not.
pub(super) fn supersedes(new: &AuditRecord, old: ReplayStatus) -> bool {
    let says_nothing = new.status == ReplayStatus::DryRun
        || matches!(
            new.skip_reason,
            Some(SkipReason::Filtered | SkipReason::DuplicateInRun)
        );
    !says_nothing && (new.status.is_delivered() || !old.is_delivered())
}

impl LogReport {
    /// The summary of these records.
    #[must_use]
    pub fn summary(&self) -> LogSummary {
        let mut acc = SummaryAcc::default();
        for r in &self.records {
            acc.add(r);
        }
        acc.finish(self.lines, self.torn_tail.clone(), self.malformed.clone())
    }
}

/// What an audit log says happened, across the runs that appended to it (or one of them):
/// what the CLI's `audit summary` prints. Its JSON names are stable.
///
/// Each event's final outcome is its last record, except that a delivered outcome (`SUCCESS`
/// or `DUPLICATE`) is never overridden by a later one that is not, and a dry run, a `FILTERED`
/// skip or a `DUPLICATE_IN_RUN` skip (records that say nothing about delivery) never overrides
/// an earlier one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogSummary {
    /// Records summarised (of the one run, with [`AuditLog::summary_of`]).
    pub records: u64,
    /// Lines in the log.
    pub lines: u64,
    /// Distinct events (by topic and event id).
    pub events: u64,
    /// The runs, in the order of their first record.
    pub runs: Vec<RunRow>,
    /// Final outcome per event, by status; adds up to `events`.
    pub final_counts: StatusCounts,
    /// Events whose final outcome is `FAILED`, by class.
    pub failures: BTreeMap<FailureClass, u64>,
    /// Events whose final outcome is `SKIPPED`, by reason.
    pub skips: BTreeMap<SkipReason, u64>,
    /// Events with more than one record.
    pub events_with_several_records: u64,
    /// Timestamp of the first record.
    pub first: Option<DateTime<Utc>>,
    /// Timestamp of the last record.
    pub last: Option<DateTime<Utc>>,
    /// The torn last line, if any.
    pub torn_tail: Option<BadLine>,
    /// Other unreadable lines.
    pub malformed: Vec<BadLine>,
}

impl LogSummary {
    /// Whether the file reads as an audit log: some line is a record, or no line is anything
    /// else (an empty log, or only blank lines). A file none of whose lines parses is not.
    #[must_use]
    pub fn is_audit_log(&self) -> bool {
        super::is_audit_log(self.records, self.torn_tail.as_ref(), &self.malformed)
    }
}

/// One run of an audit log: its records by status, when it wrote its first and last record.
/// Its JSON names are stable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunRow {
    /// The run id.
    pub run_id: String,
    /// Its first record's timestamp.
    pub started: DateTime<Utc>,
    /// Its last record's timestamp.
    pub ended: DateTime<Utc>,
    /// `ended - started`, in milliseconds (what the log can tell of the run's length: events
    /// a resume found delivered leave no record).
    pub duration_ms: u64,
    /// Its records.
    pub records: u64,
    /// Its records by status (one per event the run saw).
    pub counts: StatusCounts,
}

/// (status, class, skip reason, records seen) of one event.
type FinalOutcome = (ReplayStatus, Option<FailureClass>, Option<SkipReason>, u32);

#[derive(Default)]
pub(super) struct SummaryAcc {
    records: u64,
    runs: Vec<RunRow>,
    run_index: HashMap<String, usize>,
    finals: HashMap<[u8; 16], FinalOutcome>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl SummaryAcc {
    pub(super) fn add(&mut self, r: &AuditRecord) {
        self.records += 1;
        let i = match self.run_index.get(&r.run_id) {
            Some(i) => *i,
            None => {
                self.runs.push(RunRow {
                    run_id: r.run_id.clone(),
                    started: r.timestamp,
                    ended: r.timestamp,
                    duration_ms: 0,
                    records: 0,
                    counts: StatusCounts::default(),
                });
                self.run_index.insert(r.run_id.clone(), self.runs.len() - 1);
                self.runs.len() - 1
            }
        };
        let run = &mut self.runs[i];
        run.records += 1;
        run.counts.add(r.status);
        run.started = run.started.min(r.timestamp);
        run.ended = run.ended.max(r.timestamp);
        self.first = Some(self.first.map_or(r.timestamp, |f| f.min(r.timestamp)));
        self.last = Some(self.last.map_or(r.timestamp, |l| l.max(r.timestamp)));
        let entry = (r.status, r.error_classification, r.skip_reason, 1);
        self.finals
            .entry(event_key(&r.topic_id, &r.event_id))
            .and_modify(|e| {
                e.3 += 1;
                if supersedes(r, e.0) {
                    (e.0, e.1, e.2) = (r.status, r.error_classification, r.skip_reason);
                }
            })
            .or_insert(entry);
    }

    pub(super) fn finish(
        self,
        lines: u64,
        torn_tail: Option<BadLine>,
        malformed: Vec<BadLine>,
    ) -> LogSummary {
        let mut runs = self.runs;
        for run in &mut runs {
            run.duration_ms = run
                .ended
                .signed_duration_since(run.started)
                .num_milliseconds()
                .try_into()
                .unwrap_or(0);
        }
        let mut s = LogSummary {
            records: self.records,
            lines,
            events: self.finals.len() as u64,
            runs,
            first: self.first,
            last: self.last,
            torn_tail,
            malformed,
            ..LogSummary::default()
        };
        for (status, class, reason, n) in self.finals.into_values() {
            s.final_counts.add(status);
            if n > 1 {
                s.events_with_several_records += 1;
            }
            match status {
                ReplayStatus::Failed => {
                    *s.failures
                        .entry(class.unwrap_or(FailureClass::UnknownFailure))
                        .or_default() += 1;
                }
                ReplayStatus::Skipped => {
                    if let Some(r) = reason {
                        *s.skips.entry(r).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        s
    }
}

impl AuditLog {
    /// Summarizes the log at `path` without holding its records in memory (one small entry
    /// per distinct event, about 50 bytes, and one row per run).
    ///
    /// # Errors
    /// [`EngineError::Io`] if the file cannot be opened or read.
    pub fn summary(path: impl AsRef<Path>) -> Result<LogSummary, EngineError> {
        Self::summary_of(path, None)
    }

    /// [`AuditLog::summary`] of the records of one run only (`None`: all of them). The lines
    /// and unreadable lines are still those of the whole file; an unknown run gives a summary
    /// with no records and no runs.
    ///
    /// # Errors
    /// As [`AuditLog::summary`].
    pub fn summary_of(
        path: impl AsRef<Path>,
        run: Option<&str>,
    ) -> Result<LogSummary, EngineError> {
        let mut acc = SummaryAcc::default();
        let report = Self::scan(path, |r| {
            if run.is_none_or(|id| r.run_id == id) {
                acc.add(&r);
            }
        })?;
        Ok(acc.finish(report.lines, report.torn_tail, report.malformed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JsonlAuditLog;
    use cxone_replay_domain::{AuditContext, SentOutcome};

    fn rec(run: &str, event: &str, at_s: i64, class: Option<FailureClass>) -> AuditRecord {
        let ctx = AuditContext {
            run_id: run,
            topic_id: "t",
            event_id: event,
            destination: "t",
        };
        AuditRecord::sent(
            &ctx,
            &SentOutcome {
                class,
                idempotency_key: format!("replay-{event}-v1"),
                attempt: 1,
                http_status: Some(201),
                http_attempts: 1,
                latency_ms: 3.0,
                message: None,
            },
            DateTime::<Utc>::from_timestamp(1_700_000_000 + at_s, 0).unwrap_or_default(),
        )
    }

    #[test]
    fn runs_are_rows_and_one_run_can_be_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let log = JsonlAuditLog::open(&p).unwrap();
        let failed = Some(FailureClass::MaxRetriesExceeded);
        for r in [
            rec("run-1", "e1", 0, None),
            rec("run-1", "e2", 2, failed),
            rec("run-1", "e3", 5, failed),
            rec("run-2", "e2", 60, None),
            rec("run-2", "e3", 61, failed),
        ] {
            log.append(&r).unwrap();
        }
        drop(log);
        let s = AuditLog::summary(&p).unwrap();
        assert_eq!(s.runs.len(), 2);
        let r1 = &s.runs[0];
        assert_eq!(r1.run_id, "run-1");
        assert_eq!((r1.records, r1.counts.success, r1.counts.failed), (3, 1, 2));
        assert_eq!(r1.duration_ms, 5_000);
        assert_eq!(s.runs[1].duration_ms, 1_000);
        assert_eq!((s.final_counts.success, s.final_counts.failed), (2, 1));
        assert!(s.is_audit_log());
        let one = AuditLog::summary_of(&p, Some("run-2")).unwrap();
        assert_eq!((one.records, one.events), (2, 2));
        assert_eq!(one.runs.len(), 1);
        assert_eq!(one.lines, 5, "the lines of the whole file");
        let none = AuditLog::summary_of(&p, Some("run-x")).unwrap();
        assert_eq!((none.records, none.runs.len()), (0, 0));
        // JSON: the stable names
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["runs"][0]["run_id"], "run-1");
        assert_eq!(v["runs"][0]["counts"]["FAILED"], 2);
        assert_eq!(v["runs"][0]["duration_ms"], 5000);
        assert!(v["runs"][0]["started"].is_string());
    }

    #[test]
    fn a_file_none_of_whose_lines_parses_is_not_an_audit_log() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.txt");
        std::fs::write(&p, "hello\nworld\n").unwrap();
        assert!(!AuditLog::summary(&p).unwrap().is_audit_log());
        std::fs::write(&p, "hello").unwrap();
        assert!(
            !AuditLog::summary(&p).unwrap().is_audit_log(),
            "a torn line only"
        );
        std::fs::write(&p, "").unwrap();
        assert!(
            AuditLog::summary(&p).unwrap().is_audit_log(),
            "an empty log"
        );
        std::fs::write(&p, "\n  \n").unwrap();
        assert!(AuditLog::summary(&p).unwrap().is_audit_log());
    }
}
