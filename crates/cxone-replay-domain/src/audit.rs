//! The audit record: one final line per DLQ event seen, in JSON Lines.

use crate::failure::FailureClass;
use crate::plan::{Skip, SkipReason};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The final status of one event in a run. Names as in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ReplayStatus {
    /// The bus accepted the replay (201).
    Success,
    /// The bus already held this replay (409): delivered before, not a failure.
    Duplicate,
    /// The replay failed for good; see the record's `error_classification`.
    Failed,
    /// Not sent; see the record's `skip_reason`.
    Skipped,
    /// Planned and validated in a dry run; not sent.
    DryRun,
}

impl ReplayStatus {
    /// Every status, in declaration order.
    pub const ALL: [ReplayStatus; 5] = [
        ReplayStatus::Success,
        ReplayStatus::Duplicate,
        ReplayStatus::Failed,
        ReplayStatus::Skipped,
        ReplayStatus::DryRun,
    ];

    /// The name used in the audit log, e.g. `"DRY_RUN"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ReplayStatus::Success => "SUCCESS",
            ReplayStatus::Duplicate => "DUPLICATE",
            ReplayStatus::Failed => "FAILED",
            ReplayStatus::Skipped => "SKIPPED",
            ReplayStatus::DryRun => "DRY_RUN",
        }
    }

    /// Whether the event is delivered (now or before): `SUCCESS` or `DUPLICATE`. Resume skips
    /// these.
    #[must_use]
    pub const fn is_delivered(self) -> bool {
        matches!(self, ReplayStatus::Success | ReplayStatus::Duplicate)
    }
}

impl fmt::Display for ReplayStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was done to the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum AuditAction {
    /// A replay PUT was sent (status `SUCCESS`, `DUPLICATE` or `FAILED`).
    ReplayPut,
    /// Nothing was sent (status `SKIPPED`).
    Skip,
    /// Planned and validated only (status `DRY_RUN`).
    DryRun,
}

/// One line of the audit log: the final outcome of one DLQ event in one run.
///
/// The serde names are a file format that users parse: they are stable. Every field is always
/// written (`null` when it does not apply); unknown fields are ignored when read back, so newer
/// logs stay readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The DLQ event's id (empty when the event had none: see `message`).
    pub event_id: String,
    /// What was done.
    pub action: AuditAction,
    /// The final status.
    pub status: ReplayStatus,
    /// The failure class, for `FAILED` (and `DUPLICATE_DETECTED` for `DUPLICATE`).
    pub error_classification: Option<FailureClass>,
    /// Time from the first request for this event to its final outcome, in milliseconds.
    pub latency_ms: f64,
    /// When the outcome was recorded (UTC).
    pub timestamp: DateTime<Utc>,
    /// The replay's idempotency key, when one could be made.
    pub idempotency_key: Option<String>,
    /// Where the replay went: the destination override, else the topic id.
    pub destination: String,
    /// The run that wrote this record.
    pub run_id: String,
    /// The topic the event was read from.
    pub topic_id: String,
    /// The replay attempt (`retryCount + 1`), when known.
    pub attempt: Option<u32>,
    /// The last HTTP status received for the PUT, if any.
    pub http_status: Option<u16>,
    /// HTTP requests made for this event (0 for skips and dry runs).
    pub http_attempts: u32,
    /// Why it was skipped, for `SKIPPED`.
    pub skip_reason: Option<SkipReason>,
    /// A human sentence: the skip's detail or the failure's cause.
    pub message: Option<String>,
}

/// What every record of one event in one run shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext<'a> {
    /// The run's id.
    pub run_id: &'a str,
    /// The topic the event came from.
    pub topic_id: &'a str,
    /// The event's id.
    pub event_id: &'a str,
    /// The destination: override URL or topic id.
    pub destination: &'a str,
}

impl AuditRecord {
    fn base(
        ctx: &AuditContext<'_>,
        action: AuditAction,
        status: ReplayStatus,
        at: DateTime<Utc>,
    ) -> Self {
        AuditRecord {
            event_id: ctx.event_id.to_string(),
            action,
            status,
            error_classification: None,
            latency_ms: 0.0,
            timestamp: at,
            idempotency_key: None,
            destination: ctx.destination.to_string(),
            run_id: ctx.run_id.to_string(),
            topic_id: ctx.topic_id.to_string(),
            attempt: None,
            http_status: None,
            http_attempts: 0,
            skip_reason: None,
            message: None,
        }
    }

    /// The record of a skipped event.
    #[must_use]
    pub fn skipped(ctx: &AuditContext<'_>, skip: &Skip, at: DateTime<Utc>) -> Self {
        AuditRecord {
            idempotency_key: skip
                .idempotency_key
                .as_ref()
                .map(|k| k.as_str().to_string()),
            attempt: skip.attempt,
            skip_reason: Some(skip.reason),
            message: Some(skip.detail.clone()),
            ..AuditRecord::base(ctx, AuditAction::Skip, ReplayStatus::Skipped, at)
        }
    }

    /// The record of an event planned and validated in a dry run.
    #[must_use]
    pub fn dry_run(
        ctx: &AuditContext<'_>,
        key: &str,
        attempt: u32,
        body_len: usize,
        at: DateTime<Utc>,
    ) -> Self {
        AuditRecord {
            idempotency_key: Some(key.to_string()),
            attempt: Some(attempt),
            message: Some(format!("dry run: would PUT {body_len} bytes")),
            ..AuditRecord::base(ctx, AuditAction::DryRun, ReplayStatus::DryRun, at)
        }
    }

    /// The record of a sent replay, whatever its outcome.
    #[must_use]
    pub fn sent(ctx: &AuditContext<'_>, sent: &SentOutcome, at: DateTime<Utc>) -> Self {
        let status = match sent.class {
            None => ReplayStatus::Success,
            Some(FailureClass::DuplicateDetected) => ReplayStatus::Duplicate,
            Some(_) => ReplayStatus::Failed,
        };
        AuditRecord {
            error_classification: sent.class,
            latency_ms: sent.latency_ms,
            idempotency_key: Some(sent.idempotency_key.clone()),
            attempt: Some(sent.attempt),
            http_status: sent.http_status,
            http_attempts: sent.http_attempts,
            message: sent.message.clone(),
            ..AuditRecord::base(ctx, AuditAction::ReplayPut, status, at)
        }
    }
}

/// The outcome of a sent replay, as the engine learned it from the client.
#[derive(Debug, Clone, PartialEq)]
pub struct SentOutcome {
    /// `None` for success; `DuplicateDetected` for a 409; else the failure's class.
    pub class: Option<FailureClass>,
    /// The replay's idempotency key.
    pub idempotency_key: String,
    /// The replay attempt (`retryCount + 1`).
    pub attempt: u32,
    /// The last HTTP status, if a response arrived.
    pub http_status: Option<u16>,
    /// HTTP requests made.
    pub http_attempts: u32,
    /// Milliseconds from first request to outcome.
    pub latency_ms: f64,
    /// The failure's cause, for the record's `message`.
    pub message: Option<String>,
}
