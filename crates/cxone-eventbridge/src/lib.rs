#![doc = include_str!("../README.md")]
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
mod exchange;
pub mod retry;
pub mod runtime;
mod throttle;
mod token;

pub use builder::{
    Auth, ClientBuilder, DEFAULT_API_PREFIX, DEFAULT_REGION, DEFAULT_SCOPES, USER_AGENT,
};
pub use client::{Client, PutOutcome, PutReport};
pub use dlq::DlqRequest;
pub use error::{BuildError, DecodeError, Error, GaveUp, MAX_ERROR_BODY, Setting};
pub use runtime::{Clock, Jitter, RandomJitter, Sleeper, SystemClock, TokioSleeper};
