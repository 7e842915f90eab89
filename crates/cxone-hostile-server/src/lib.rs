#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod routes;
mod server;
mod tls;

pub use server::{HostileServer, HostileServerBuilder, Seen};
pub use tls::{ServerCert, TestCa, Validity};

/// The topic whose DLQ the server serves (any topic id is answered the same way).
pub const TOPIC: &str = "topic_hostile";

/// The reason the server gives in the error bodies of [`Mode::EchoCredentials`]: the text a
/// client must keep (with the echoed credentials redacted).
pub const SERVER_REASON: &str = "payload.conversationId is required";

/// The access token the server hands out on its `n`-th token request (1-based).
#[must_use]
pub fn issued_token(n: u64) -> String {
    format!("hostile-bearer-{n}-TOKEN-never-log")
}

/// A route of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Route {
    /// `POST /oauth2/token`.
    Token,
    /// `GET /api/v2/eventbridge/dlq/events`.
    Dlq,
    /// `PUT /api/v2/eventbridge/topics/{topic}/events`.
    Put,
}

/// A streamed response body of a given size, never held in memory (64 KiB chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Huge {
    /// The route that answers with it.
    pub route: Route,
    /// Its status.
    pub status: u16,
    /// Its length in bytes; `None`: it never ends.
    pub len: Option<u64>,
    /// Whether `Content-Length` is sent (only with a `len`); otherwise the body is chunked.
    pub declare_length: bool,
}

/// How the server breaks the contract. Every route not named by the mode behaves: tokens are
/// [`issued_token`]s (with the builder's lifetime), the DLQ is one page of the builder's
/// events without a `nextPageToken`, a PUT is answered 201 with a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Mode {
    /// Well-behaved.
    #[default]
    Normal,
    /// One route answers with a huge (or endless) body.
    HugeBody(Huge),
    /// Every DLQ page is empty and has a new `nextPageToken`, forever.
    EndlessEmptyPages,
    /// One route answers `status` with an error body that echoes the request: its
    /// `Authorization` header, the raw token form, and the last `client_secret` the token
    /// endpoint received, after the [`SERVER_REASON`].
    EchoCredentials {
        /// The route.
        route: Route,
        /// The status.
        status: u16,
    },
    /// Every PUT is answered 201 with a body that is not JSON.
    PutNotJson,
    /// Every DLQ request is answered 401 (tokens are issued normally).
    DlqUnauthorized,
    /// Every PUT is answered 422 with the request's `Authorization` header reflected in
    /// `x-request-id`.
    ReflectAuthorizationAsRequestId,
}

/// The server could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Binding or reading the loopback socket failed.
    #[error("cannot listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// rcgen could not make a certificate.
    #[error("cannot make the test certificate")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("cannot configure TLS")]
    Tls(#[from] rustls::Error),
}

#[cfg(test)]
mod tests;
