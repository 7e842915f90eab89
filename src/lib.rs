//! `cxone-dlq-replay`: the replay engine for NICE CXone EventBridge dead letter queues.
//!
//! A [`Replayer`] pages through the DLQ of one or more topics, plans each event with the pure
//! [`domain`], sends the planned replays concurrently and paced, and records exactly one
//! [`AuditRecord`](cxone_replay_domain::AuditRecord) per event seen, streaming, with bounded
//! memory. It talks to the world through the [`ports`]: a [`DlqSource`] and a
//! [`ReplayTarget`] (implemented by the CXone [`client`]), an [`AuditSink`] ([`JsonlAuditLog`])
//! and an optional [`MonitorSink`] ([`WebhookMonitor`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use cxone_eventbridge as client;
pub use cxone_replay_domain as domain;

pub mod audit_log;
mod cxone;
mod engine;
mod error;
pub mod monitor;
pub mod ports;
mod resume;
pub mod runtime;
mod summary;

pub use audit_log::{
    AuditLog, BadLine, JsonlAuditLog, JsonlOptions, LogReport, LogSummary, lock_path,
};
pub use engine::{
    DEFAULT_CONCURRENCY, DEFAULT_DRAIN_TIMEOUT, DEFAULT_PAGE_SIZE, MAX_CONCURRENCY, MAX_PACE,
    ProgressFn, Replayer, ReplayerBuilder, check_pace,
};
pub use error::{EngineError, Setting};
pub use monitor::{WebhookMonitor, WebhookMonitorBuilder};
pub use ports::{
    AuditSink, BoxError, DlqSource, MonitorEvent, MonitorSink, PageStream, ReplayTarget,
    RunStarted, SendOutcome,
};
pub use resume::DeliveredKeys;
pub use runtime::{Clock, Sleeper, SystemClock, TokioSleeper};
pub use summary::{LatencySummary, Progress, RunSummary, StatusCounts};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
