//! The engine's error type.

use crate::ports::BoxError;
use crate::summary::RunSummary;
use cxone_replay_domain::StopReason;
use std::fmt;
use std::path::PathBuf;

/// A setting of the engine's builders ([`ReplayerBuilder`](crate::ReplayerBuilder),
/// [`JsonlOptions`](crate::JsonlOptions), [`WebhookMonitorBuilder`](crate::WebhookMonitorBuilder)),
/// as named by [`EngineError::Setting`]. [`Setting::as_str`] (and `Display`) give the builder
/// method's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Setting {
    /// [`ReplayerBuilder::topic`](crate::ReplayerBuilder::topic) /
    /// [`topics`](crate::ReplayerBuilder::topics): `topics`.
    Topics,
    /// [`ReplayerBuilder::concurrency`](crate::ReplayerBuilder::concurrency): `concurrency`.
    Concurrency,
    /// [`ReplayerBuilder::pace`](crate::ReplayerBuilder::pace): `pace`.
    Pace,
    /// [`ReplayerBuilder::page_size`](crate::ReplayerBuilder::page_size): `page_size`.
    PageSize,
    /// [`ReplayerBuilder::drain_timeout`](crate::ReplayerBuilder::drain_timeout): `drain_timeout`.
    DrainTimeout,
    /// [`ReplayerBuilder::filter`](crate::ReplayerBuilder::filter): `filter`.
    Filter,
    /// [`ReplayerBuilder::start_token`](crate::ReplayerBuilder::start_token): `start_token`.
    StartToken,
    /// [`ReplayerBuilder::source`](crate::ReplayerBuilder::source): `source`.
    Source,
    /// [`ReplayerBuilder::target`](crate::ReplayerBuilder::target): `target`.
    Target,
    /// [`ReplayerBuilder::audit`](crate::ReplayerBuilder::audit): `audit`.
    Audit,
    /// [`ReplayerBuilder::resume`](crate::ReplayerBuilder::resume): `resume`.
    Resume,
    /// [`JsonlOptions::sync_every`](crate::JsonlOptions::sync_every): `sync_every`.
    SyncEvery,
    /// The webhook URL of [`WebhookMonitor::builder`](crate::WebhookMonitor::builder):
    /// `webhook_url`.
    WebhookUrl,
    /// [`WebhookMonitorBuilder::secret`](crate::WebhookMonitorBuilder::secret): `webhook_secret`.
    WebhookSecret,
    /// The webhook monitor's queue capacity: `webhook_queue`.
    WebhookQueue,
    /// The webhook monitor's attempts per notification: `webhook_attempts`.
    WebhookAttempts,
    /// [`WebhookMonitorBuilder::backoff`](crate::WebhookMonitorBuilder::backoff):
    /// `webhook_backoff`.
    WebhookBackoff,
    /// The webhook monitor as a whole (its HTTP client): `webhook`.
    Webhook,
    /// [`ReportOptions::max_bins`](crate::ReportOptions::max_bins): `max_bins`.
    ReportBins,
    /// [`ReportOptions::failed_rows`](crate::ReportOptions::failed_rows): `failed_rows`.
    ReportFailedRows,
    /// [`ReportOptions::examples`](crate::ReportOptions::examples): `examples`.
    ReportExamples,
}

impl Setting {
    /// Every setting, in declaration order.
    pub const ALL: [Setting; 21] = [
        Setting::Topics,
        Setting::Concurrency,
        Setting::Pace,
        Setting::PageSize,
        Setting::DrainTimeout,
        Setting::Filter,
        Setting::StartToken,
        Setting::Source,
        Setting::Target,
        Setting::Audit,
        Setting::Resume,
        Setting::SyncEvery,
        Setting::WebhookUrl,
        Setting::WebhookSecret,
        Setting::WebhookQueue,
        Setting::WebhookAttempts,
        Setting::WebhookBackoff,
        Setting::Webhook,
        Setting::ReportBins,
        Setting::ReportFailedRows,
        Setting::ReportExamples,
    ];

    /// The setting's name (the builder method's, in `snake_case`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Setting::Topics => "topics",
            Setting::Concurrency => "concurrency",
            Setting::Pace => "pace",
            Setting::PageSize => "page_size",
            Setting::DrainTimeout => "drain_timeout",
            Setting::Filter => "filter",
            Setting::StartToken => "start_token",
            Setting::Source => "source",
            Setting::Target => "target",
            Setting::Audit => "audit",
            Setting::Resume => "resume",
            Setting::SyncEvery => "sync_every",
            Setting::WebhookUrl => "webhook_url",
            Setting::WebhookSecret => "webhook_secret",
            Setting::WebhookQueue => "webhook_queue",
            Setting::WebhookAttempts => "webhook_attempts",
            Setting::WebhookBackoff => "webhook_backoff",
            Setting::Webhook => "webhook",
            Setting::ReportBins => "max_bins",
            Setting::ReportFailedRows => "failed_rows",
            Setting::ReportExamples => "examples",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong building or running a replay.
///
/// Errors that end a run which had already started ([`EngineError::Fetch`],
/// [`EngineError::Audit`], [`EngineError::Stopped`]) carry the summary of what was done before:
/// every event seen up to then has its audit record (for `Fetch` and `Stopped`), so the summary
/// is as trustworthy as a normal one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A builder setting is missing or invalid.
    #[error("invalid setting `{setting}`: {problem}")]
    Setting {
        /// The setting (its [`Display`](std::fmt::Display) is the builder method's name).
        setting: Setting,
        /// What is wrong with it.
        problem: String,
    },
    /// Another run holds the lock on this audit log (on the file itself, whatever path it was
    /// opened by).
    #[error("audit log {} is in use by another run", path.display())]
    LogLocked {
        /// The audit log, as given.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("cannot {what} {}", path.display())]
    Io {
        /// What was being done (`"open"`, `"read"`, `"lock"`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Reading the earlier outcomes for resume failed.
    #[error("cannot read earlier outcomes for resume")]
    Resume {
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Fetching the DLQ failed; fetching stopped, every event already seen was finished and
    /// audited (see `summary`).
    #[error("fetching the DLQ of topic `{topic}` failed after {} events", summary.seen)]
    Fetch {
        /// The topic being fetched.
        topic: String,
        /// What the run did before it stopped.
        summary: Box<RunSummary>,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Writing the audit trail failed; the run stopped (see `summary`).
    #[error("writing the audit trail failed after {} events", summary.seen)]
    Audit {
        /// What the run did before it stopped.
        summary: Box<RunSummary>,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Reading the DLQ for an export failed; the lines written before stay written.
    #[error("reading the DLQ of topic `{topic}` for the export failed after {written} events")]
    ExportRead {
        /// The topic being read.
        topic: String,
        /// Events written before.
        written: u64,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Writing an export failed.
    #[error("writing the export failed after {written} events")]
    ExportWrite {
        /// Events written before.
        written: u64,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The circuit breaker stopped the run: a send failed for authentication or permission, or
    /// too many events in a row failed transiently. In-flight sends were finished and audited;
    /// events not sent have no record, so a resume continues with them (see `summary`, whose
    /// `stopped` says the same).
    #[error("the run stopped: {reason}")]
    Stopped {
        /// Why.
        reason: StopReason,
        /// What the run did before it stopped.
        summary: Box<RunSummary>,
    },
    /// The operation needs a Tokio runtime and none is running.
    #[error("{what} must be called from within a Tokio runtime")]
    NoRuntime {
        /// The operation.
        what: &'static str,
    },
}

impl EngineError {
    /// The summary of the part of the run that happened, for errors that end a started run.
    #[must_use]
    pub fn summary(&self) -> Option<&RunSummary> {
        match self {
            EngineError::Fetch { summary, .. }
            | EngineError::Audit { summary, .. }
            | EngineError::Stopped { summary, .. } => Some(summary),
            _ => None,
        }
    }

    /// Whether running again (with resume) may succeed: true for fetch failures, a held lock
    /// and a stop after transient failures; false for configuration errors and a stop that
    /// only a change of configuration can cure (an authentication or permission failure, a
    /// destination that does not exist: [`StopReason::is_configuration`]).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            EngineError::Fetch { .. }
            | EngineError::LogLocked { .. }
            | EngineError::Io { .. }
            | EngineError::ExportRead { .. } => true,
            EngineError::Stopped { reason, .. } => !reason.is_configuration(),
            _ => false,
        }
    }

    pub(crate) fn invalid(setting: Setting, problem: impl Into<String>) -> Self {
        EngineError::Setting {
            setting,
            problem: problem.into(),
        }
    }

    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngineError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn setting_names_are_distinct_and_read_back() {
        let names: HashSet<&str> = Setting::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names.len(), Setting::ALL.len());
        for s in Setting::ALL {
            assert_eq!(s.to_string(), s.as_str());
        }
        let e = EngineError::invalid(Setting::PageSize, "must be at least 1");
        assert_eq!(
            e.to_string(),
            "invalid setting `page_size`: must be at least 1"
        );
    }
}
