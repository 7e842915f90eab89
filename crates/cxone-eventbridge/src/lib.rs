//! A typed async client for the CXone EventBridge dead-letter-queue and topic API.
//!
//! - [`Client`]: one connection pool (redirects off), an OAuth2 token cache (refreshed before
//!   expiry, single-flight, refreshed once on a 401), a lazy DLQ [`Stream`](futures::Stream) that
//!   follows page tokens, and an idempotent topic PUT.
//! - Retries follow the domain's [`RetryPolicy`](cxone_replay_domain::RetryPolicy): 429 waits
//!   for `Retry-After` (and holds every call of the client until then), 5xx and network errors
//!   back off with full jitter, a client-wide [`RetryBudget`](cxone_replay_domain::RetryBudget)
//!   stops retry storms.
//! - One [`Error`] type with the audit log's [`FailureClass`](cxone_replay_domain::FailureClass).
//! - Time, sleep and jitter are injected ([`Clock`], [`Sleeper`], [`Jitter`]; doubles in
//!   [`runtime::testing`]).
//!
//! It knows HTTP, not replay policy: what to replay is decided by `cxone-replay-domain`.
//!
//! ```no_run
//! use cxone_eventbridge::{Client, PutOutcome};
//! use futures::TryStreamExt;
//! use secrecy::SecretString;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::builder()
//!     .region("api.nicecxone.com")
//!     .client_credentials("my-client-id", SecretString::from("my-client-secret"))
//!     .build()?;
//! client.authenticate().await?; // fail fast on bad credentials
//!
//! let mut pages = std::pin::pin!(client.dlq("topic_pub_conversations").page_size(50).pages());
//! while let Some(page) = pages.try_next().await? {
//!     println!("{} events, next page: {:?}", page.events.len(), page.next_page_token);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
compile_error!(
    "cxone-eventbridge needs a TLS backend: enable the feature `rustls` (the default) or \
     `native-tls` of cxone-eventbridge, or of cxone-dlq-replay, which passes it on"
);

mod builder;
mod client;
mod dlq;
mod error;
pub mod runtime;
mod token;

pub use builder::{
    Auth, ClientBuilder, DEFAULT_API_PREFIX, DEFAULT_REGION, DEFAULT_SCOPES, USER_AGENT,
};
pub use client::{Client, PutOutcome, PutReport};
pub use dlq::DlqRequest;
pub use error::{BuildError, DecodeError, Error, GaveUp, MAX_ERROR_BODY};
pub use runtime::{Clock, Jitter, RandomJitter, Sleeper, SystemClock, TokioSleeper};
