//! [`LogSummary`]: what an audit log says happened, per event and per run.

use super::{BadLine, LogReport};
use crate::summary::StatusCounts;
use chrono::{DateTime, Utc};
use cxone_replay_domain::{AuditRecord, FailureClass, ReplayStatus, SkipReason};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Whether a record with status `new` replaces an event's final outcome `old`: a delivered
/// outcome is never overridden by one that is not. The one rule of "final outcome".
pub(super) fn supersedes(new: ReplayStatus, old: ReplayStatus) -> bool {
    new.is_delivered() || !old.is_delivered()
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

/// What an audit log says happened, across all the runs that appended to it (what the CLI's
/// `audit summary` prints).
///
/// Each event's final outcome is its last record, except that a delivered outcome (`SUCCESS`
/// or `DUPLICATE`) is never overridden by a later non-delivered one (say, a dry run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogSummary {
    /// Records in the log.
    pub records: u64,
    /// Lines in the log.
    pub lines: u64,
    /// Distinct events (by topic and event id).
    pub events: u64,
    /// Distinct run ids, in order.
    pub runs: Vec<String>,
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

/// (status, class, skip reason, records seen) of one event.
type FinalOutcome = (ReplayStatus, Option<FailureClass>, Option<SkipReason>, u32);

#[derive(Default)]
pub(super) struct SummaryAcc {
    records: u64,
    runs: Vec<String>,
    run_set: BTreeSet<String>,
    finals: HashMap<(String, String), FinalOutcome>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl SummaryAcc {
    pub(super) fn add(&mut self, r: &AuditRecord) {
        self.records += 1;
        if self.run_set.insert(r.run_id.clone()) {
            self.runs.push(r.run_id.clone());
        }
        self.first = Some(self.first.map_or(r.timestamp, |f| f.min(r.timestamp)));
        self.last = Some(self.last.map_or(r.timestamp, |l| l.max(r.timestamp)));
        let entry = (r.status, r.error_classification, r.skip_reason, 1);
        self.finals
            .entry((r.topic_id.clone(), r.event_id.clone()))
            .and_modify(|e| {
                e.3 += 1;
                if supersedes(r.status, e.0) {
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
        let mut s = LogSummary {
            records: self.records,
            lines,
            events: self.finals.len() as u64,
            runs: self.runs,
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
