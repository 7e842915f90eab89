#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
compile_error!(
    "cxone-eventbridge needs a TLS backend: enable the feature `rustls` (the default) or \
     `native-tls` of cxone-eventbridge, or of cxone-dlq-replay, which passes it on"
);

mod auth;
mod body;
mod builder;
mod client;
mod dlq;
mod error;
mod exchange;
mod observe;
pub mod retry;
pub mod runtime;
mod secrets;
mod setting;
mod throttle;
mod tls;
mod token;

pub use auth::Auth;
pub use body::{DEFAULT_MAX_PAGE_BODY, DEFAULT_MAX_RESPONSE_BODY, DEFAULT_MAX_TOKEN_BODY};
pub use builder::{
    ClientBuilder, DEFAULT_API_PREFIX, DEFAULT_MAX_EMPTY_PAGES, DEFAULT_REGION, DEFAULT_SCOPES,
    USER_AGENT,
};
pub use client::{Client, PutOutcome, PutReport};
pub use dlq::DlqRequest;
pub use error::{DecodeError, Error, GaveUp, MAX_ERROR_BODY, TlsReason};
pub use observe::{Exchange, ExchangeObserver, Op};
pub use runtime::{Clock, Jitter, RandomJitter, Sleeper, SystemClock, TokioSleeper};
pub use secrets::MAX_REQUEST_ID_LEN;
pub use setting::{BuildError, Setting};
pub use token::{MIN_TOKEN_LIFETIME, MIN_TOKEN_REFRESH_INTERVAL};
