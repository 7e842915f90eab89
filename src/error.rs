//! The engine's error type.

use crate::ports::BoxError;
use crate::summary::RunSummary;
use std::path::PathBuf;

/// Everything that can go wrong building or running a replay.
///
/// Errors that end a run which had already started ([`EngineError::Fetch`],
/// [`EngineError::Audit`]) carry the summary of what was done before: every event seen up to
/// then has its audit record (for `Fetch`), so the summary is as trustworthy as a normal one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A builder setting is missing or invalid.
    #[error("invalid setting `{setting}`: {problem}")]
    Setting {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Another run holds the lock on this audit log.
    #[error("audit log {} is in use by another run (lock file {} is held)", path.display(), lock.display())]
    LogLocked {
        /// The audit log.
        path: PathBuf,
        /// Its lock file.
        lock: PathBuf,
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
            EngineError::Fetch { summary, .. } | EngineError::Audit { summary, .. } => {
                Some(summary)
            }
            _ => None,
        }
    }

    /// Whether running again (with resume) may succeed: true for fetch failures and a held
    /// lock, false for configuration errors.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            EngineError::Fetch { .. } | EngineError::LogLocked { .. } | EngineError::Io { .. }
        )
    }

    pub(crate) fn setting(setting: &'static str, problem: impl Into<String>) -> Self {
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
