//! The client's call errors: [`Error`], with [`GaveUp`], [`DecodeError`] and [`TlsReason`].

use crate::setting::Setting;
use cxone_replay_domain::FailureClass;
use std::fmt;
use std::sync::Arc;

/// The most bytes of a response body kept in an [`Error`] for display ([`Error::body`]).
/// An error body is never read much past it: the connection is dropped instead.
pub const MAX_ERROR_BODY: usize = 4096;

/// How much of a body is looked at to make the text an error keeps: [`MAX_ERROR_BODY`] and a
/// little more, so that a credential straddling the cut is still recognised (and redacted).
pub(crate) const ERROR_SCAN: usize = MAX_ERROR_BODY + 1024;

/// Why a call stopped retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GaveUp {
    /// The failure is permanent: retrying cannot help.
    Permanent,
    /// The failure was retryable, but the retry policy's attempts were used up.
    AttemptsExhausted,
    /// The failure was retryable, but the client-wide retry budget was empty.
    BudgetExhausted,
}

/// Why a success body could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not the expected JSON.
    #[error("malformed JSON")]
    Json(#[from] serde_json::Error),
    /// The body is JSON the domain model refused.
    #[error("rejected by the wire model")]
    Domain(#[from] cxone_replay_domain::DomainError),
    /// The body is well-formed but unusable (e.g. an empty access token).
    #[error("{0}")]
    Invalid(&'static str),
}

/// Why the server's TLS certificate was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsReason {
    /// No trusted CA issued it: a corporate proxy or a private CA whose certificate this
    /// client was not given (add it with
    /// [`add_root_certificate`](crate::ClientBuilder::add_root_certificate), or `SSL_CERT_FILE`).
    UnknownIssuer,
    /// It has expired.
    Expired,
    /// It is not valid yet (or this machine's clock is behind).
    NotValidYet,
    /// It is not valid for the host name connected to.
    NameMismatch,
    /// It was revoked.
    Revoked,
    /// Anything else the verifier refused.
    Other,
}

impl TlsReason {
    /// A short description, e.g. `"unknown issuer"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TlsReason::UnknownIssuer => "unknown issuer",
            TlsReason::Expired => "expired",
            TlsReason::NotValidYet => "not valid yet",
            TlsReason::NameMismatch => "name mismatch",
            TlsReason::Revoked => "revoked",
            TlsReason::Other => "invalid certificate",
        }
    }
}

impl fmt::Display for TlsReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed call. Cheap to clone.
///
/// Every variant can tell its [`FailureClass`] ([`Error::class`]), whether a later retry may help
/// ([`Error::is_retryable`]), how many HTTP requests the call made ([`Error::attempts`]), and,
/// where the server answered, the status, a bounded body and its request id.
///
/// Neither `Debug` nor `Display` ever shows a client secret or a token: a response body is kept
/// only bounded and with the client's own credentials (client secret, access key secret,
/// current and previous access tokens, in the encodings a request carries them) replaced by
/// `[redacted]`; the token endpoint's success body is never kept; a request id that looks like a
/// credential is dropped.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a status that is not success.
    #[error("{op}: HTTP {status} ({class}) after {attempts} attempt(s)")]
    Status {
        /// The call (`"DLQ page"`, `"topic PUT"`, `"token request"`, `"OIDC discovery"`).
        op: &'static str,
        /// The last HTTP status.
        status: u16,
        /// The class of that status.
        class: FailureClass,
        /// HTTP requests made for this call.
        attempts: u32,
        /// Why the call stopped.
        gave_up: GaveUp,
        /// The last response body, at most [`MAX_ERROR_BODY`] bytes (lossy UTF-8), redacted.
        body: Option<String>,
        /// The server's request or correlation id.
        request_id: Option<String>,
    },
    /// The API refused the token (401) again after the token was refreshed.
    #[error("{op}: unauthorized (HTTP 401) even with a fresh token, after {attempts} attempt(s)")]
    Unauthorized {
        /// The call.
        op: &'static str,
        /// HTTP requests made for this call.
        attempts: u32,
        /// The last response body, bounded and redacted.
        body: Option<String>,
        /// The server's request or correlation id.
        request_id: Option<String>,
    },
    /// No (complete) response: the connection failed, was reset or closed, or timed out.
    #[error("{op}: {class} after {attempts} attempt(s)")]
    Transport {
        /// The call.
        op: &'static str,
        /// [`FailureClass::Network`] or [`FailureClass::Timeout`].
        class: FailureClass,
        /// HTTP requests made for this call.
        attempts: u32,
        /// Why the call stopped.
        gave_up: GaveUp,
        /// reqwest's error.
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// The server's TLS certificate was refused. Permanent: not retried.
    #[error("{op}: the server's TLS certificate was refused ({reason})")]
    Tls {
        /// The call.
        op: &'static str,
        /// Why it was refused.
        reason: TlsReason,
        /// HTTP requests tried for this call (1: it is not retried).
        attempts: u32,
        /// reqwest's error (its chain reaches the TLS library's).
        #[source]
        source: Arc<reqwest::Error>,
    },
    /// A response body was over its cap: nothing more was read and the connection was dropped.
    /// Permanent: not retried.
    #[error(
        "{op}: the response body (HTTP {status}) is over its limit of {limit} bytes \
         (setting `{setting}`)"
    )]
    BodyTooLarge {
        /// The call.
        op: &'static str,
        /// The HTTP status of the response.
        status: u16,
        /// The cap, in bytes.
        limit: usize,
        /// The setting of the cap ([`Setting::MaxPageBody`], [`Setting::MaxTokenBody`] or
        /// [`Setting::MaxResponseBody`]).
        setting: Setting,
        /// The `Content-Length` the server declared, when that is how it was caught.
        declared: Option<u64>,
        /// HTTP requests made for this call.
        attempts: u32,
        /// The server's request or correlation id.
        request_id: Option<String>,
    },
    /// A success response whose body could not be decoded. The body is kept bounded and
    /// redacted (never for the token endpoint, whose body would hold a token).
    #[error("{op}: undecodable response body (HTTP {status})")]
    Decode {
        /// The call.
        op: &'static str,
        /// The HTTP status.
        status: u16,
        /// HTTP requests made for this call.
        attempts: u32,
        /// The start of the body, as [`Error::Status`] keeps it (`None` for the token
        /// endpoint).
        body: Option<String>,
        /// The server's request or correlation id.
        request_id: Option<String>,
        /// What was wrong.
        #[source]
        source: Arc<DecodeError>,
    },
    /// The DLQ answered a page token that was already used: following it would loop forever.
    #[error("DLQ pagination of topic `{topic}`: page token `{token}` repeated on page {page}")]
    RepeatedPageToken {
        /// The topic.
        topic: String,
        /// The repeated token (a page cursor, not a credential).
        token: String,
        /// The 1-based number of the page that carried it.
        page: u64,
    },
    /// The DLQ answered this many pages in a row with no event but a new page token: a server
    /// that would keep the stream going forever.
    #[error(
        "DLQ pagination of topic `{topic}`: {count} empty pages in a row, each with a new page \
         token (setting `max_empty_pages`)"
    )]
    EmptyPages {
        /// The topic.
        topic: String,
        /// The empty pages in a row (the setting's value).
        count: u32,
    },
    /// An argument of the call was unusable (nothing was sent).
    #[error("invalid argument `{name}`: {problem}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The OIDC discovery document named a token endpoint that cannot be used.
    #[error("OIDC discovery: token endpoint {problem}")]
    Discovery {
        /// What is wrong with it.
        problem: String,
    },
}

impl Error {
    /// The failure class, as the audit log names it.
    ///
    /// A retryable failure whose attempts ran out is [`FailureClass::MaxRetriesExceeded`] (see
    /// [`Error::last_class`] for what kept failing).
    #[must_use]
    pub fn class(&self) -> FailureClass {
        match self {
            Error::Status {
                gave_up: GaveUp::AttemptsExhausted,
                ..
            }
            | Error::Transport {
                gave_up: GaveUp::AttemptsExhausted,
                ..
            } => FailureClass::MaxRetriesExceeded,
            _ => self.last_class(),
        }
    }

    /// The class of the last failure itself (for an exhausted retry: the class that kept
    /// failing, e.g. [`FailureClass::Network`]).
    #[must_use]
    pub fn last_class(&self) -> FailureClass {
        match self {
            Error::Status { class, .. } | Error::Transport { class, .. } => *class,
            Error::Unauthorized { .. } => FailureClass::Unauthorized,
            Error::Tls { .. } => FailureClass::Tls,
            Error::BodyTooLarge { .. } => FailureClass::BodyTooLarge,
            Error::InvalidArgument { .. } => FailureClass::SchemaViolation,
            Error::Decode { .. }
            | Error::RepeatedPageToken { .. }
            | Error::EmptyPages { .. }
            | Error::Discovery { .. } => FailureClass::UnknownFailure,
        }
    }

    /// The last HTTP status, if the server answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. }
            | Error::Decode { status, .. }
            | Error::BodyTooLarge { status, .. } => Some(*status),
            Error::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }

    /// Whether the same call, made again later, may succeed.
    ///
    /// False once the retry policy's attempts are used up; true when only the client-wide
    /// retry budget stopped a retryable failure.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Status { gave_up, class, .. } | Error::Transport { gave_up, class, .. } => {
                *gave_up != GaveUp::AttemptsExhausted && class.is_retryable()
            }
            _ => false,
        }
    }

    /// Whether retrying stopped because the attempts or the budget ran out.
    #[must_use]
    pub fn gave_up(&self) -> GaveUp {
        match self {
            Error::Status { gave_up, .. } | Error::Transport { gave_up, .. } => *gave_up,
            _ => GaveUp::Permanent,
        }
    }

    /// HTTP requests made for this call (token requests not counted).
    #[must_use]
    pub fn attempts(&self) -> u32 {
        match self {
            Error::Status { attempts, .. }
            | Error::Unauthorized { attempts, .. }
            | Error::Transport { attempts, .. }
            | Error::Tls { attempts, .. }
            | Error::BodyTooLarge { attempts, .. }
            | Error::Decode { attempts, .. } => *attempts,
            _ => 0,
        }
    }

    /// What the server said: the response body, at most [`MAX_ERROR_BODY`] bytes (lossy UTF-8;
    /// need not be JSON), with the client's own credentials replaced by `[redacted]`. It may
    /// hold anything else (newlines, escapes): escape it before writing it to a log line, e.g.
    /// with `cxone_replay_domain::excerpt`.
    #[must_use]
    pub fn body(&self) -> Option<&str> {
        match self {
            Error::Status { body, .. }
            | Error::Unauthorized { body, .. }
            | Error::Decode { body, .. } => body.as_deref(),
            _ => None,
        }
    }

    /// The server's request or correlation id (`x-request-id`, `x-correlation-id`, ...): kept
    /// only when it is at most [`MAX_REQUEST_ID_LEN`](crate::MAX_REQUEST_ID_LEN) visible ASCII
    /// characters and does not look like a credential.
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Status { request_id, .. }
            | Error::Unauthorized { request_id, .. }
            | Error::BodyTooLarge { request_id, .. }
            | Error::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The call that failed (`"DLQ page"`, `"topic PUT"`, ...), if any was made.
    #[must_use]
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            Error::Status { op, .. }
            | Error::Unauthorized { op, .. }
            | Error::Transport { op, .. }
            | Error::Tls { op, .. }
            | Error::BodyTooLarge { op, .. }
            | Error::Decode { op, .. } => Some(op),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_retryability() {
        let status = |class, gave_up| Error::Status {
            op: "topic PUT",
            status: 503,
            class,
            attempts: 5,
            gave_up,
            body: Some("down".into()),
            request_id: None,
        };
        let e = status(FailureClass::ServerTransient, GaveUp::AttemptsExhausted);
        assert_eq!(e.class(), FailureClass::MaxRetriesExceeded);
        assert_eq!(e.last_class(), FailureClass::ServerTransient);
        assert!(!e.is_retryable());
        assert_eq!(e.attempts(), 5);
        assert_eq!(e.body(), Some("down"));
        assert_eq!(e.status(), Some(503));
        let e = status(FailureClass::ServerTransient, GaveUp::BudgetExhausted);
        assert_eq!(e.class(), FailureClass::ServerTransient);
        assert!(e.is_retryable());
        let e = status(FailureClass::SchemaViolation, GaveUp::Permanent);
        assert!(!e.is_retryable());
        assert_eq!(
            e.to_string(),
            "topic PUT: HTTP 503 (SCHEMA_VIOLATION) after 5 attempt(s)"
        );
        let e = Error::RepeatedPageToken {
            topic: "t".into(),
            token: "p2".into(),
            page: 3,
        };
        assert_eq!(e.class(), FailureClass::UnknownFailure);
        assert_eq!(e.attempts(), 0);
        assert!(!e.is_retryable());
    }

    #[test]
    fn new_failures_are_permanent_and_name_their_cause() {
        let e = Error::BodyTooLarge {
            op: "DLQ page",
            status: 200,
            limit: 1024,
            setting: Setting::MaxPageBody,
            declared: None,
            attempts: 1,
            request_id: None,
        };
        assert_eq!(e.class(), FailureClass::BodyTooLarge);
        assert!(!e.is_retryable());
        assert_eq!(e.status(), Some(200));
        assert_eq!(
            e.to_string(),
            "DLQ page: the response body (HTTP 200) is over its limit of 1024 bytes \
             (setting `max_page_body`)"
        );
        let e = Error::EmptyPages {
            topic: "t1".into(),
            count: 100,
        };
        assert_eq!(e.class(), FailureClass::UnknownFailure);
        assert!(e.to_string().contains("`t1`: 100 empty pages"), "{e}");
        assert_eq!(TlsReason::UnknownIssuer.to_string(), "unknown issuer");
    }
}
