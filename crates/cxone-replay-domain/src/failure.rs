//! Failure classes: what a failed call means and what to do about it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The class of a failed replay or API call, with the names used in the audit log.
///
/// | input | class |
/// |---|---|
/// | 400, 422 | [`SchemaViolation`](Self::SchemaViolation) |
/// | 409 | [`DuplicateDetected`](Self::DuplicateDetected) |
/// | 413 | [`PayloadTooLarge`](Self::PayloadTooLarge) |
/// | 401 | [`Unauthorized`](Self::Unauthorized) |
/// | 403 | [`Forbidden`](Self::Forbidden) |
/// | 404 | [`NotFound`](Self::NotFound) |
/// | 408, 429 | [`RateLimited`](Self::RateLimited) (429) / [`Timeout`](Self::Timeout) (408) |
/// | 5xx | [`ServerTransient`](Self::ServerTransient) |
/// | connect error, reset | [`Network`](Self::Network) |
/// | time-out | [`Timeout`](Self::Timeout) |
/// | a response body over its cap | [`BodyTooLarge`](Self::BodyTooLarge) |
/// | the server's TLS certificate refused | [`Tls`](Self::Tls) |
/// | retries used up | [`MaxRetriesExceeded`](Self::MaxRetriesExceeded) |
/// | anything else | [`UnknownFailure`](Self::UnknownFailure) |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum FailureClass {
    /// 400 or 422: the server rejected the body's shape.
    SchemaViolation,
    /// 409: this exact replay (same idempotency key) was already accepted.
    DuplicateDetected,
    /// 413: the body is over the server's size limit.
    PayloadTooLarge,
    /// 401: the token was refused.
    Unauthorized,
    /// 403: the credentials lack a scope or access to the topic.
    Forbidden,
    /// 404: the topic or route does not exist.
    NotFound,
    /// 429: the server asked us to slow down.
    RateLimited,
    /// 5xx: the server failed; it may work later.
    ServerTransient,
    /// The connection could not be made or broke before a full response arrived.
    Network,
    /// No response within the time-out (or a 408).
    Timeout,
    /// The server's response body was over the client's cap for it; the connection was
    /// dropped. Permanent: the same request gets the same body.
    BodyTooLarge,
    /// The server's TLS certificate was refused (unknown issuer, expired, name mismatch).
    /// Permanent: retrying cannot make it trusted.
    Tls,
    /// A retryable failure that persisted until the retry policy gave up.
    MaxRetriesExceeded,
    /// Anything else (an unexpected 1xx/3xx/4xx, an undecodable success body).
    UnknownFailure,
}

impl FailureClass {
    /// Every class, in declaration order (for tables and exhaustive tests).
    pub const ALL: [FailureClass; 14] = [
        FailureClass::SchemaViolation,
        FailureClass::DuplicateDetected,
        FailureClass::PayloadTooLarge,
        FailureClass::Unauthorized,
        FailureClass::Forbidden,
        FailureClass::NotFound,
        FailureClass::RateLimited,
        FailureClass::ServerTransient,
        FailureClass::Network,
        FailureClass::Timeout,
        FailureClass::BodyTooLarge,
        FailureClass::Tls,
        FailureClass::MaxRetriesExceeded,
        FailureClass::UnknownFailure,
    ];

    /// The name used in the audit log, e.g. `"SERVER_TRANSIENT"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureClass::SchemaViolation => "SCHEMA_VIOLATION",
            FailureClass::DuplicateDetected => "DUPLICATE_DETECTED",
            FailureClass::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            FailureClass::Unauthorized => "UNAUTHORIZED",
            FailureClass::Forbidden => "FORBIDDEN",
            FailureClass::NotFound => "NOT_FOUND",
            FailureClass::RateLimited => "RATE_LIMITED",
            FailureClass::ServerTransient => "SERVER_TRANSIENT",
            FailureClass::Network => "NETWORK",
            FailureClass::Timeout => "TIMEOUT",
            FailureClass::BodyTooLarge => "BODY_TOO_LARGE",
            FailureClass::Tls => "TLS",
            FailureClass::MaxRetriesExceeded => "MAX_RETRIES_EXCEEDED",
            FailureClass::UnknownFailure => "UNKNOWN_FAILURE",
        }
    }

    /// What a caller should do after a call failed with this class.
    #[must_use]
    pub const fn disposition(self) -> Disposition {
        match self {
            FailureClass::RateLimited
            | FailureClass::ServerTransient
            | FailureClass::Network
            | FailureClass::Timeout => Disposition::Retry,
            FailureClass::Unauthorized => Disposition::RefreshAuthThenRetryOnce,
            FailureClass::DuplicateDetected => Disposition::AlreadyDelivered,
            FailureClass::SchemaViolation
            | FailureClass::PayloadTooLarge
            | FailureClass::Forbidden
            | FailureClass::NotFound
            | FailureClass::BodyTooLarge
            | FailureClass::Tls
            | FailureClass::MaxRetriesExceeded
            | FailureClass::UnknownFailure => Disposition::Permanent,
        }
    }

    /// Whether a plain retry (same request, later) may succeed.
    #[must_use]
    pub const fn is_retryable(self) -> bool {
        matches!(self.disposition(), Disposition::Retry)
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do after a failure of a given [`FailureClass`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Disposition {
    /// Transient: retry the same request (same idempotency key) after a delay.
    Retry,
    /// The token was refused: invalidate it, fetch a new one, retry once.
    RefreshAuthThenRetryOnce,
    /// The server already holds this replay: count it as delivered, not failed.
    AlreadyDelivered,
    /// Retrying cannot help: record the failure.
    Permanent,
}

/// Classifies an HTTP status code. Total over every `u16`.
///
/// Returns `None` for success (2xx); every other value maps to a class.
///
/// ```
/// use cxone_replay_domain::{classify, FailureClass};
/// assert_eq!(classify(201), None);
/// assert_eq!(classify(409), Some(FailureClass::DuplicateDetected));
/// assert_eq!(classify(503), Some(FailureClass::ServerTransient));
/// assert_eq!(classify(0), Some(FailureClass::UnknownFailure));
/// ```
#[must_use]
pub const fn classify(status: u16) -> Option<FailureClass> {
    Some(match status {
        200..=299 => return None,
        400 | 422 => FailureClass::SchemaViolation,
        401 => FailureClass::Unauthorized,
        403 => FailureClass::Forbidden,
        404 => FailureClass::NotFound,
        408 => FailureClass::Timeout,
        409 => FailureClass::DuplicateDetected,
        413 => FailureClass::PayloadTooLarge,
        429 => FailureClass::RateLimited,
        500..=599 => FailureClass::ServerTransient,
        _ => FailureClass::UnknownFailure,
    })
}
