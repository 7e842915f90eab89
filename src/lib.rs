#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use cxone_eventbridge as client;
pub use cxone_replay_domain as domain;

pub mod audit_log;
mod cxone;
mod digest;
mod engine;
mod error;
mod export;
mod latency;
pub mod monitor;
mod observer;
pub mod ports;
mod resume;
pub mod runtime;
mod selection;
pub mod source;
mod summary;

pub use audit_log::{
    AuditLog, BadLine, ClassBreakdown, ExampleEvent, FailedEvent, FailedReport, JsonlAuditLog,
    JsonlOptions, LatencyReport, LogReport, LogSummary, ReasonBreakdown, ReportOptions, RunReport,
    RunRow, TimeBin, Timeline, TopicCount,
};
pub use engine::{
    DEFAULT_CONCURRENCY, DEFAULT_DRAIN_TIMEOUT, DEFAULT_PACE_MAX, DEFAULT_PACE_MIN,
    DEFAULT_PAGE_SIZE, DEFAULT_STOP_AFTER_FAILURES, MAX_CONCURRENCY, MAX_PACE, Pace, ProgressFn,
    Replayer, ReplayerBuilder, check_pace,
};
pub use error::{EngineError, Setting};
pub use export::{ExportSummary, export};
pub use latency::LatencyBucket;
pub use monitor::{WebhookMonitor, WebhookMonitorBuilder};
pub use observer::{Exchange, Op, RunObserver};
pub use ports::{
    AuditSink, BoxError, DlqSource, MonitorEvent, MonitorSink, PageStream, ReplayTarget,
    RunStarted, SendOutcome, TopicPageResult, TopicPageStream, Unrecorded,
};
pub use resume::DeliveredKeys;
pub use runtime::{Clock, Sleeper, SystemClock, TokioSleeper};
pub use selection::{EventSet, Selection};
pub use source::{FileSource, FileTopics};
pub use summary::{LatencySummary, Progress, RunSummary, StatusCounts};
