//! `cxone-dlq-replay`: the replay engine for NICE CXone EventBridge dead letter queues.
//!
//! For now this crate re-exports its two foundations: [`domain`] (the pure replay domain) and
//! [`client`] (the typed async API client).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use cxone_eventbridge as client;
pub use cxone_replay_domain as domain;

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
