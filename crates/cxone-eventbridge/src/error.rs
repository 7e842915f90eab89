//! The client's errors: [`BuildError`] (configuration) and [`Error`] (calls).

use bytes::Bytes;
use cxone_replay_domain::FailureClass;
use reqwest::header::HeaderMap;
use std::fmt;
use std::sync::Arc;

/// The most bytes of a response body kept in an [`Error`] for display ([`Error::body`]).
pub const MAX_ERROR_BODY: usize = 4096;

/// A setting of [`ClientBuilder`](crate::ClientBuilder), as named by a [`BuildError`].
/// [`Setting::as_str`] (and `Display`) give its name (the builder method's, or the
/// [`Auth`](crate::Auth) field's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Setting {
    /// The credentials as a whole ([`client_credentials`](crate::ClientBuilder::client_credentials)
    /// or [`auth`](crate::ClientBuilder::auth)): `credentials`.
    Credentials,
    /// [`region`](crate::ClientBuilder::region): `region`.
    Region,
    /// [`base_url`](crate::ClientBuilder::base_url): `base_url`.
    BaseUrl,
    /// [`token_url`](crate::ClientBuilder::token_url): `token_url`.
    TokenUrl,
    /// The OpenID issuer of [`Auth::CxoneAccessKey`](crate::Auth::CxoneAccessKey): `issuer`.
    Issuer,
    /// [`api_prefix`](crate::ClientBuilder::api_prefix): `api_prefix`.
    ApiPrefix,
    /// The OAuth2 client id: `client_id`.
    ClientId,
    /// The OAuth2 client secret: `client_secret`.
    ClientSecret,
    /// The access key id of [`Auth::CxoneAccessKey`](crate::Auth::CxoneAccessKey):
    /// `access_key_id`.
    AccessKeyId,
    /// The access key secret of [`Auth::CxoneAccessKey`](crate::Auth::CxoneAccessKey):
    /// `access_key_secret`.
    AccessKeySecret,
    /// [`connect_timeout`](crate::ClientBuilder::connect_timeout): `connect_timeout`.
    ConnectTimeout,
    /// [`request_timeout`](crate::ClientBuilder::request_timeout): `request_timeout`.
    RequestTimeout,
    /// [`max_connections`](crate::ClientBuilder::max_connections): `max_connections`.
    MaxConnections,
}

impl Setting {
    /// Every setting, in declaration order.
    pub const ALL: [Setting; 13] = [
        Setting::Credentials,
        Setting::Region,
        Setting::BaseUrl,
        Setting::TokenUrl,
        Setting::Issuer,
        Setting::ApiPrefix,
        Setting::ClientId,
        Setting::ClientSecret,
        Setting::AccessKeyId,
        Setting::AccessKeySecret,
        Setting::ConnectTimeout,
        Setting::RequestTimeout,
        Setting::MaxConnections,
    ];

    /// The setting's name, in `snake_case`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Setting::Credentials => "credentials",
            Setting::Region => "region",
            Setting::BaseUrl => "base_url",
            Setting::TokenUrl => "token_url",
            Setting::Issuer => "issuer",
            Setting::ApiPrefix => "api_prefix",
            Setting::ClientId => "client_id",
            Setting::ClientSecret => "client_secret",
            Setting::AccessKeyId => "access_key_id",
            Setting::AccessKeySecret => "access_key_secret",
            Setting::ConnectTimeout => "connect_timeout",
            Setting::RequestTimeout => "request_timeout",
            Setting::MaxConnections => "max_connections",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client configuration that [`ClientBuilder::build`](crate::ClientBuilder::build) refused.
///
/// Every variant names the [`Setting`] that was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required setting is missing.
    #[error("missing setting `{setting}`: {hint}")]
    Missing {
        /// The setting.
        setting: Setting,
        /// How to provide it.
        hint: &'static str,
    },
    /// A setting has a value that cannot work.
    #[error("invalid setting `{setting}`: {problem}")]
    InvalidSetting {
        /// The setting.
        setting: Setting,
        /// What is wrong with it.
        problem: String,
    },
    /// A URL setting could not be parsed.
    #[error("invalid setting `{setting}`: `{url}` is not a URL")]
    InvalidUrl {
        /// The setting.
        setting: Setting,
        /// The URL as given.
        url: String,
        /// The parser's error.
        #[source]
        source: url::ParseError,
    },
    /// A URL would send bearer tokens or credentials in clear text.
    #[error(
        "insecure setting `{setting}`: `{url}` uses plain http to a non-loopback host; \
         use https (http is only allowed to 127.0.0.0/8, ::1 and localhost)"
    )]
    InsecureUrl {
        /// The setting.
        setting: Setting,
        /// The URL (without any user-info).
        url: String,
    },
    /// The underlying HTTP client could not be built (e.g. no TLS roots).
    #[error("the HTTP client could not be built")]
    Http {
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
}

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

/// A failed call. Cheap to clone.
///
/// Every variant can tell its [`FailureClass`] ([`Error::class`]), whether a later retry may help
/// ([`Error::is_retryable`]), how many HTTP requests the call made ([`Error::attempts`]), and,
/// where the server answered, the status, a bounded body and its request id.
///
/// Neither `Debug` nor `Display` ever shows a client secret or a token: the token endpoint's
/// success body (which holds the access token) is never kept, even when it cannot be decoded.
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
        /// The last response body, at most [`MAX_ERROR_BODY`] bytes (lossy UTF-8).
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
        /// The last response body, bounded.
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
    /// A success response whose body could not be decoded. The raw body is kept (except for the
    /// token endpoint's, which would hold a token).
    #[error("{op}: undecodable response body (HTTP {status})")]
    Decode {
        /// The call.
        op: &'static str,
        /// The HTTP status.
        status: u16,
        /// HTTP requests made for this call.
        attempts: u32,
        /// The whole raw body (`None` for the token endpoint).
        raw_body: Option<Bytes>,
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
            Error::InvalidArgument { .. } => FailureClass::SchemaViolation,
            Error::Decode { .. } | Error::RepeatedPageToken { .. } | Error::Discovery { .. } => {
                FailureClass::UnknownFailure
            }
        }
    }

    /// The last HTTP status, if the server answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } | Error::Decode { status, .. } => Some(*status),
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
            | Error::Decode { attempts, .. } => *attempts,
            _ => 0,
        }
    }

    /// The response body, bounded to [`MAX_ERROR_BODY`] bytes (lossy UTF-8; need not be JSON).
    #[must_use]
    pub fn body(&self) -> Option<&str> {
        match self {
            Error::Status { body, .. } | Error::Unauthorized { body, .. } => body.as_deref(),
            Error::Decode {
                raw_body: Some(raw),
                ..
            } => Some(bounded_str(raw)),
            _ => None,
        }
    }

    /// The whole raw body of an undecodable success response.
    #[must_use]
    pub fn raw_body(&self) -> Option<&[u8]> {
        match self {
            Error::Decode {
                raw_body: Some(raw),
                ..
            } => Some(raw),
            _ => None,
        }
    }

    /// The server's request or correlation id (`x-request-id`, `x-correlation-id`, ...).
    #[must_use]
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Status { request_id, .. }
            | Error::Unauthorized { request_id, .. }
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
            | Error::Decode { op, .. } => Some(op),
            _ => None,
        }
    }
}

/// The longest prefix of `raw` that is at most [`MAX_ERROR_BODY`] bytes of valid UTF-8.
fn bounded_str(raw: &[u8]) -> &str {
    let cut = &raw[..raw.len().min(MAX_ERROR_BODY)];
    match std::str::from_utf8(cut) {
        Ok(s) => s,
        Err(e) => {
            // Valid up to the first bad byte (or the cut through a character).
            std::str::from_utf8(&cut[..e.valid_up_to()]).unwrap_or_default()
        }
    }
}

/// A body as kept in an error: at most [`MAX_ERROR_BODY`] bytes, lossy UTF-8, `None` if empty.
pub(crate) fn bounded_body(raw: &[u8]) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    let mut end = raw.len().min(MAX_ERROR_BODY);
    // Do not split a UTF-8 sequence at the cut.
    if end < raw.len() {
        while end > 0 && (raw[end] & 0b1100_0000) == 0b1000_0000 {
            end -= 1;
        }
    }
    Some(String::from_utf8_lossy(&raw[..end]).into_owned())
}

/// The request or correlation id a server sent, if any.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    const NAMES: [&str; 6] = [
        "x-request-id",
        "x-correlation-id",
        "x-amzn-requestid",
        "x-amz-request-id",
        "request-id",
        "x-trace-id",
    ];
    NAMES.iter().find_map(|name| {
        headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn setting_names_are_distinct_and_displayed() {
        let names: std::collections::HashSet<&str> =
            Setting::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names.len(), Setting::ALL.len());
        for s in Setting::ALL {
            assert_eq!(s.to_string(), s.as_str());
        }
        let e = BuildError::InsecureUrl {
            setting: Setting::TokenUrl,
            url: "http://example.com/".into(),
        };
        assert!(
            e.to_string()
                .starts_with("insecure setting `token_url`: `http://example.com/`"),
            "{e}"
        );
    }

    #[test]
    fn bounded_body_cuts_at_4k_on_a_char_boundary() {
        assert_eq!(bounded_body(b""), None);
        assert_eq!(bounded_body(b"oops").as_deref(), Some("oops"));
        let big = "é".repeat(5000); // 2 bytes each
        let kept = bounded_body(big.as_bytes()).unwrap();
        assert!(kept.len() <= MAX_ERROR_BODY);
        assert!(kept.chars().all(|c| c == 'é'));
        assert_eq!(kept.len(), MAX_ERROR_BODY);
        let invalid = bounded_body(&[0xff, b'a']).unwrap();
        assert_eq!(invalid, "\u{fffd}a");
    }

    #[test]
    fn bounded_str_stops_at_invalid_utf8() {
        assert_eq!(bounded_str(b"abc\xffdef"), "abc");
        assert_eq!(bounded_str(&vec![b'x'; 10_000]).len(), MAX_ERROR_BODY);
    }

    #[test]
    fn request_id_prefers_x_request_id() {
        let mut h = HeaderMap::new();
        assert_eq!(request_id(&h), None);
        h.insert("x-correlation-id", HeaderValue::from_static("corr-1"));
        assert_eq!(request_id(&h).as_deref(), Some("corr-1"));
        h.insert("x-request-id", HeaderValue::from_static("req-1"));
        assert_eq!(request_id(&h).as_deref(), Some("req-1"));
    }

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
}
