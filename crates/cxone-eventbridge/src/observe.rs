//! The per-exchange hook: an [`ExchangeObserver`] set on a [`Client`] is told about every HTTP
//! exchange it makes (each attempt, retries included) and every `Retry-After` hold, for metrics.
//!
//! The client calls it outside its locks, with nothing allocated: with no observer set, an
//! exchange costs one uncontended read lock.

use crate::client::Client;
use cxone_replay_domain::FailureClass;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

/// What an HTTP exchange was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Op {
    /// A token request (`POST` to the token endpoint).
    Token,
    /// The OIDC discovery of the token endpoint.
    Discovery,
    /// A DLQ page (`GET .../dlq/events`).
    DlqPage,
    /// A replay (`PUT .../topics/{topicId}/events`).
    Put,
}

impl Op {
    /// The name used as a metric label: `token`, `discovery`, `dlq_page`, `put`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Op::Token => "token",
            Op::Discovery => "discovery",
            Op::DlqPage => "dlq_page",
            Op::Put => "put",
        }
    }

    /// The words used in errors and logs (`topic PUT`, `DLQ page`, ...).
    pub(crate) fn label(self) -> &'static str {
        match self {
            Op::Token => "token request",
            Op::Discovery => "OIDC discovery",
            Op::DlqPage => "DLQ page",
            Op::Put => "topic PUT",
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How one HTTP exchange ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exchange {
    /// The server answered with this status (told as soon as the status line and headers are
    /// read, before the body).
    Status(u16),
    /// No answer: the class of the transport failure (`NETWORK`, `TIMEOUT`, `TLS`, ...).
    Failed(FailureClass),
}

/// Told about a [`Client`]'s HTTP exchanges; set with [`Client::set_observer`].
///
/// Called on the request's task: it must be cheap and must not block (count, don't log).
pub trait ExchangeObserver: Send + Sync {
    /// One HTTP exchange of `op` ended as `exchange` (each attempt counts: retries too).
    fn exchange(&self, op: Op, exchange: Exchange);

    /// A `429`'s `Retry-After` held every call of the client for `added` more (the time not
    /// already covered by an earlier hold, so the sum is the time held).
    fn held(&self, added: Duration) {
        let _ = added;
    }
}

impl Client {
    /// Sets (or with `None` removes) the observer of this client's exchanges, for this client
    /// and all its clones; returns the one it replaces.
    pub fn set_observer(
        &self,
        observer: Option<Arc<dyn ExchangeObserver>>,
    ) -> Option<Arc<dyn ExchangeObserver>> {
        let mut slot = self
            .inner
            .observer
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, observer)
    }

    /// The observer, if one is set (a clone of its `Arc`: it is called outside the lock).
    pub(crate) fn observer(&self) -> Option<Arc<dyn ExchangeObserver>> {
        self.inner
            .observer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
