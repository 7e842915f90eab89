//! [`FailedReport`]: the events whose final outcome in an audit log is `FAILED`: what
//! `audit failed` lists and `replay --only-failed` re-drives.

use super::summary::supersedes;
use super::{AuditLog, BadLine};
use crate::digest::event_key;
use crate::error::EngineError;
use crate::selection::EventSet;
use chrono::{DateTime, Utc};
use cxone_replay_domain::{AuditRecord, FailureClass, ReplayStatus};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One event whose final outcome is `FAILED`, as its last record says. The JSON names are
/// stable (`audit failed --json`) and are those of the audit record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FailedEvent {
    /// The topic.
    pub topic_id: String,
    /// The event id.
    pub event_id: String,
    /// Why it failed (`UNKNOWN_FAILURE` if the record had no class).
    pub error_classification: FailureClass,
    /// The last HTTP status, if a response came.
    pub http_status: Option<u16>,
    /// The failure's cause, as recorded.
    pub message: Option<String>,
    /// HTTP requests made for it in that run.
    pub http_attempts: u32,
    /// The replay attempt (`retryCount + 1`).
    pub attempt: Option<u32>,
    /// The idempotency key of that replay.
    pub idempotency_key: Option<String>,
    /// The run that recorded it.
    pub run_id: String,
    /// When it was recorded.
    pub timestamp: DateTime<Utc>,
}

impl FailedEvent {
    fn from_record(r: AuditRecord) -> Self {
        FailedEvent {
            error_classification: r
                .error_classification
                .unwrap_or(FailureClass::UnknownFailure),
            http_status: r.http_status,
            message: r.message,
            http_attempts: r.http_attempts,
            attempt: r.attempt,
            idempotency_key: r.idempotency_key,
            run_id: r.run_id,
            timestamp: r.timestamp,
            topic_id: r.topic_id,
            event_id: r.event_id,
        }
    }
}

/// The failed events of an audit log, and what was read to find them.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct FailedReport {
    /// The events whose final outcome is `FAILED`, in the order of those final records.
    pub events: Vec<FailedEvent>,
    /// Distinct events in the log (by topic and event id).
    pub log_events: u64,
    /// Records read.
    pub records: u64,
    /// Lines read.
    pub lines: u64,
    /// A torn last line, if any.
    pub torn_tail: Option<BadLine>,
    /// Other unreadable lines.
    pub malformed: Vec<BadLine>,
}

impl FailedReport {
    /// Whether the file reads as an audit log (as [`LogSummary::is_audit_log`](crate::LogSummary::is_audit_log)).
    #[must_use]
    pub fn is_audit_log(&self) -> bool {
        super::is_audit_log(self.records, self.torn_tail.as_ref(), &self.malformed)
    }

    /// The failed events by class.
    #[must_use]
    pub fn by_class(&self) -> BTreeMap<FailureClass, u64> {
        let mut m = BTreeMap::new();
        for e in &self.events {
            *m.entry(e.error_classification).or_default() += 1;
        }
        m
    }

    /// The failed events (of `class` only, if given) as an [`EventSet`], to select them for a
    /// run ([`ReplayerBuilder::only_events`](crate::ReplayerBuilder::only_events)).
    #[must_use]
    pub fn event_set(&self, class: Option<FailureClass>) -> EventSet {
        self.events
            .iter()
            .filter(|e| class.is_none_or(|c| e.error_classification == c))
            .map(|e| (e.topic_id.as_str(), e.event_id.as_str()))
            .collect()
    }
}

/// An event's final outcome so far; the details only while it is `FAILED`.
struct Final {
    status: ReplayStatus,
    failed: Option<(u64, Box<FailedEvent>)>,
}

impl Final {
    fn of(seq: u64, r: AuditRecord) -> Self {
        let status = r.status;
        let failed =
            (status == ReplayStatus::Failed).then(|| (seq, Box::new(FailedEvent::from_record(r))));
        Final { status, failed }
    }
}

impl AuditLog {
    /// The events of the log at `path` whose final outcome is `FAILED`, streaming the log.
    ///
    /// Memory: one small entry per distinct event of the log (a 16-byte key, its status and
    /// the hash map's overhead: some 50 bytes), plus the last record of each event that is
    /// failed at that point of the log.
    ///
    /// # Errors
    /// [`EngineError::Io`] if the file cannot be opened or read.
    pub fn failed(path: impl AsRef<Path>) -> Result<FailedReport, EngineError> {
        let mut finals: HashMap<[u8; 16], Final> = HashMap::new();
        let mut seq = 0u64;
        let report = Self::scan(path, |r| {
            seq += 1;
            match finals.entry(event_key(&r.topic_id, &r.event_id)) {
                Entry::Occupied(mut o) => {
                    if supersedes(&r, o.get().status) {
                        o.insert(Final::of(seq, r));
                    }
                }
                Entry::Vacant(v) => {
                    v.insert(Final::of(seq, r));
                }
            }
        })?;
        let log_events = finals.len() as u64;
        let mut failed: Vec<(u64, Box<FailedEvent>)> =
            finals.into_values().filter_map(|f| f.failed).collect();
        failed.sort_by_key(|(seq, _)| *seq);
        Ok(FailedReport {
            events: failed.into_iter().map(|(_, e)| *e).collect(),
            log_events,
            records: seq,
            lines: report.lines,
            torn_tail: report.torn_tail,
            malformed: report.malformed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JsonlAuditLog;
    use cxone_replay_domain::{AuditContext, SentOutcome, SkipReason};

    fn rec(topic: &str, event: &str, class: Option<FailureClass>, dry: bool) -> AuditRecord {
        let ctx = AuditContext {
            run_id: "run-1",
            topic_id: topic,
            event_id: event,
            destination: topic,
        };
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
        if dry {
            return AuditRecord::dry_run(&ctx, &format!("replay-{event}-v1"), 1, 10, at);
        }
        AuditRecord::sent(
            &ctx,
            &SentOutcome {
                class,
                idempotency_key: format!("replay-{event}-v1"),
                attempt: 1,
                http_status: class.map(|_| 503).or(Some(201)),
                http_attempts: 3,
                latency_ms: 1.0,
                message: class.map(|c| format!("{c} after 3 attempts")),
            },
            at,
        )
    }

    fn skipped(topic: &str, event: &str, reason: SkipReason) -> AuditRecord {
        let ctx = AuditContext {
            run_id: "run-2",
            topic_id: topic,
            event_id: event,
            destination: topic,
        };
        let skip = cxone_replay_domain::Skip {
            reason,
            detail: reason.to_string(),
            idempotency_key: None,
            attempt: Some(1),
        };
        let at = DateTime::<Utc>::from_timestamp(1_700_000_100, 0).unwrap_or_default();
        AuditRecord::skipped(&ctx, &skip, at)
    }

    #[test]
    fn the_final_outcome_decides() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.jsonl");
        let log = JsonlAuditLog::open(&p).unwrap();
        let transient = Some(FailureClass::MaxRetriesExceeded);
        for r in [
            rec("t", "e1", transient, false), // failed, then delivered
            rec("t", "e2", Some(FailureClass::SchemaViolation), false), // failed
            rec("u", "e1", transient, false), // same id, other topic
            rec("t", "e1", None, false),
            rec("t", "e3", None, false),      // delivered, then
            rec("t", "e3", transient, false), // a failed re-send
            rec("t", "e4", transient, false), // failed, then a dry run
            rec("t", "e4", None, true),
            rec("t", "e5", transient, false), // failed, then filtered out
            skipped("t", "e5", SkipReason::Filtered),
            skipped("t", "e6", SkipReason::Filtered), // only filtered
            rec("t", "e7", transient, false),         // failed, then came up again in the run
            skipped("t", "e7", SkipReason::DuplicateInRun),
        ] {
            log.append(&r).unwrap();
        }
        drop(log);
        let f = AuditLog::failed(&p).unwrap();
        let got: Vec<(&str, &str)> = f
            .events
            .iter()
            .map(|e| (e.topic_id.as_str(), e.event_id.as_str()))
            .collect();
        // in the order of their final records; e3 stays delivered; a dry run, a FILTERED skip
        // or a DUPLICATE_IN_RUN skip says nothing about delivery: e4, e5 and e7 are still failed
        assert_eq!(
            got,
            [
                ("t", "e2"),
                ("u", "e1"),
                ("t", "e4"),
                ("t", "e5"),
                ("t", "e7")
            ]
        );
        assert_eq!(f.log_events, 8);
        assert_eq!(f.records, 13);
        assert_eq!(f.events[0].http_status, Some(503));
        assert_eq!(
            f.events[0].message.as_deref(),
            Some("SCHEMA_VIOLATION after 3 attempts")
        );
        assert_eq!(f.by_class()[&FailureClass::MaxRetriesExceeded], 4);
        let all = f.event_set(None);
        assert!(all.contains("u", "e1") && all.contains("t", "e2"));
        assert!(!all.contains("t", "e1"));
        let schema = f.event_set(Some(FailureClass::SchemaViolation));
        assert_eq!(schema.len(), 1);
        assert!(schema.contains("t", "e2"));
    }
}
