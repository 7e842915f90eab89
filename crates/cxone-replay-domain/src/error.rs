//! The domain crate's error type.

use crate::failure::FailureClass;

/// Everything that can go wrong in the pure domain: bad input, never I/O.
///
/// Every variant names what was wrong (a field, a value, a limit) so that the message can be
/// shown to an operator as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// A JSON document could not be read at all.
    #[error("{what}: malformed JSON")]
    Json {
        /// What was being read (`"DLQ page"`, `"DLQ event"`, `"replay payload"`, ...).
        what: &'static str,
        /// The parser's error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The envelope of a DLQ page is broken: not a JSON object, `events` not an array, the
    /// array or the object not terminated, ... (an element of `events` that cannot be decoded
    /// is not a page error: it becomes a defective [`DlqEvent`](crate::DlqEvent)).
    #[error("DLQ page: {problem} (at byte {offset})")]
    InvalidPage {
        /// Where in the body the scan found the problem.
        offset: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// A field of a DLQ event is missing or has the wrong type or value.
    #[error("invalid DLQ event: field `{field}` {problem}")]
    InvalidEvent {
        /// The wire name of the field (`eventId`, `retryCount`, ...).
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// An idempotency key failed validation.
    #[error("invalid idempotency key: {problem}")]
    InvalidIdempotencyKey {
        /// What is wrong with it.
        problem: String,
    },
    /// A destination override URL failed validation.
    #[error("invalid destination override `{url}`: {problem}")]
    InvalidDestination {
        /// The URL as given (destination URLs carry no credentials: user-info is refused).
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A replay payload broke one of the bus constraints.
    #[error("invalid replay payload: field `{field}` {problem}")]
    InvalidPayload {
        /// The wire name of the field (`retryMatrix.currentAttempt`, ...).
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A policy or filter setting is out of range.
    #[error("invalid setting `{setting}`: {problem}")]
    InvalidSetting {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl DomainError {
    /// The audit failure class that this error stands for.
    ///
    /// Domain errors are problems of the data, so they map to [`FailureClass::SchemaViolation`].
    #[must_use]
    pub fn class(&self) -> FailureClass {
        FailureClass::SchemaViolation
    }

    /// Whether trying the same thing again could succeed. Domain errors never are.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// An error and its causes as one line, `err: cause: cause ...`, skipping a cause whose text
/// the line already contains (many errors repeat their source's text in their own).
///
/// ```
/// let e = std::io::Error::other("disk full");
/// assert_eq!(cxone_replay_domain::error_chain(&e), "disk full");
/// ```
#[must_use]
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}
