//! The one retry loop: sends an attempt, asks the domain's [`RetryPolicy::decide`] what to do
//! with its failure, sleeps or stops.
//!
//! Its shape is google-cloud-rust's `retry_loop(inner, sleep, policy)`: `inner` makes one
//! attempt and says how it ended ([`Attempt`]); the loop owns the counting, the decision and the
//! waiting. What differs between callers stays with the caller, as small [`RetryHooks`]: a
//! token refresh on a 401, a retry budget, a wait the caller does itself (the client's
//! client-wide `Retry-After` hold, see [`Failure::caller_waits`]). Outcomes that are not the
//! loop's business (the webhook monitor's `410 Gone`, a failed token fetch) are simply
//! [`Attempt::Done`] values.
//!
//! The [`Client`](crate::Client) and the engine's webhook monitor both run on it.
//!
//! ```
//! use cxone_eventbridge::retry::{Attempt, Failure, NoHooks, StopReason, retry_loop};
//! use cxone_eventbridge::runtime::testing::{FixedJitter, RecordingSleeper};
//! use cxone_replay_domain::{FailureClass, RetryPolicy};
//! use std::time::Duration;
//!
//! # tokio_test_block_on(async {
//! let policy = RetryPolicy::new(3, Duration::from_millis(100), Duration::from_secs(1)).unwrap();
//! let sleeper = RecordingSleeper::new();
//! // Fails twice with a 503, then succeeds.
//! let result: Result<&str, _> = retry_loop(
//!     |attempt| async move {
//!         if attempt < 3 {
//!             Attempt::Failed(Failure::new(FailureClass::ServerTransient, "503"))
//!         } else {
//!             Attempt::Done("201")
//!         }
//!     },
//!     &sleeper,
//!     &FixedJitter(1.0),
//!     &policy,
//!     &mut NoHooks,
//! )
//! .await;
//! assert_eq!(result.unwrap(), "201");
//! assert_eq!(sleeper.sleeps(), [Duration::from_millis(100), Duration::from_millis(200)]);
//!
//! // A 400 is not retried.
//! let stopped = retry_loop(
//!     |_| async { Attempt::<(), _>::Failed(Failure::new(FailureClass::SchemaViolation, "400")) },
//!     &sleeper,
//!     &FixedJitter(1.0),
//!     &policy,
//!     &mut NoHooks,
//! )
//! .await
//! .unwrap_err();
//! assert_eq!((stopped.reason, stopped.attempts, stopped.error), (StopReason::Permanent, 1, "400"));
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use cxone_replay_domain::{FailureClass, Jitter, RetryDecision, RetryPolicy, Sleeper};
use std::future::Future;
use std::time::Duration;

/// How one attempt ended, as the loop needs to know it.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// Stop and return this value: a success, or any outcome no retry can change (a failed
    /// token fetch, a webhook's `410 Gone`).
    Done(T),
    /// The attempt failed; the retry policy decides what happens next.
    Failed(Failure<E>),
}

/// A failed attempt: its [`FailureClass`], the server's `Retry-After` (if any) and whatever the
/// caller wants back if the loop stops on it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure<E> {
    /// What the failure means (from the status or the transport error).
    pub class: FailureClass,
    /// The server's `Retry-After`, already parsed (see
    /// [`parse_retry_after`](cxone_replay_domain::parse_retry_after)); the policy honours it,
    /// capped, instead of its own backoff.
    pub retry_after: Option<Duration>,
    /// Whether the caller waits out `retry_after` itself before its next attempt: then a retry
    /// does not sleep in the loop.
    pub caller_waits: bool,
    /// The caller's record of the failure (the status and body, the transport error, ...).
    pub error: E,
}

impl<E> Failure<E> {
    /// A failure of `class`, with no `Retry-After`.
    #[must_use]
    pub fn new(class: FailureClass, error: E) -> Self {
        Failure {
            class,
            retry_after: None,
            caller_waits: false,
            error,
        }
    }

    /// Sets the server's `Retry-After`.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The caller waits out the `Retry-After` itself before the next attempt (the client holds
    /// every call until then, and checks the hold right before each request): the loop retries
    /// without sleeping.
    #[must_use]
    pub fn caller_waits(mut self) -> Self {
        self.caller_waits = true;
        self
    }
}

/// Why the loop stopped without a [`Attempt::Done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The failure is permanent (or a 401 that could not or could no longer be refreshed).
    Permanent,
    /// The failure was retryable, but the policy's attempts were used up.
    AttemptsExhausted,
    /// The failure was retryable, but [`RetryHooks::allow_retry`] refused (a spent budget).
    BudgetExhausted,
    /// A 409: the server already holds this request's effect. Not a failure for an idempotent
    /// send; the caller decides what it means.
    AlreadyDelivered,
}

/// The loop stopped on a failure.
#[derive(Debug)]
#[non_exhaustive]
pub struct Stopped<E> {
    /// Why it stopped.
    pub reason: StopReason,
    /// The class of the last failure itself (for [`StopReason::AttemptsExhausted`]: the class
    /// that kept failing).
    pub class: FailureClass,
    /// Attempts made, the last one included.
    pub attempts: u32,
    /// The caller's record of the last failure.
    pub error: E,
}

/// What a 401 refresh did (see [`RetryHooks::refresh_auth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRefresh {
    /// The refused credentials were dropped; the next attempt fetches new ones. This uses the
    /// call's one refresh: a second 401 stops the loop.
    Refreshed,
    /// The refused credentials had already been replaced (by a concurrent call): retry with
    /// the current ones at once, without using up the one refresh. Still bounded by the
    /// policy's attempts.
    AlreadyReplaced,
    /// Nothing to refresh (no credentials): stop.
    Unavailable,
}

/// The caller's part of the loop. Every method has a default, so a caller implements only what
/// it needs ([`NoHooks`] implements none).
pub trait RetryHooks<E> {
    /// The policy says: refresh the credentials `failed` was sent with, and retry at once.
    ///
    /// Default: [`AuthRefresh::Unavailable`] (a 401 is final).
    fn refresh_auth(&mut self, failed: &E) -> AuthRefresh {
        let _ = failed;
        AuthRefresh::Unavailable
    }

    /// The policy says: retry attempt number `attempt`'s failure of `class` after `delay`.
    /// Return `false` to stop instead ([`StopReason::BudgetExhausted`]), e.g. when a retry
    /// budget is spent.
    ///
    /// Default: `true`.
    fn allow_retry(&mut self, class: FailureClass, attempt: u32, delay: Duration) -> bool {
        let _ = (class, attempt, delay);
        true
    }
}

/// No hooks: no credentials to refresh, no budget.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl<E> RetryHooks<E> for NoHooks {}

/// Runs `inner` until it is [`Attempt::Done`] or the `policy` (with `hooks`) stops on a failure.
///
/// `inner` gets the 1-based attempt number. After a failed attempt the loop asks
/// [`RetryPolicy::decide`] (with a fresh `jitter` fraction, the failure's `Retry-After` and
/// whether the call already refreshed its credentials) and then:
/// - retry after a delay: asks [`RetryHooks::allow_retry`], sleeps on `sleeper` (unless
///   [`Failure::caller_waits`]), tries again;
/// - refresh and retry: asks [`RetryHooks::refresh_auth`], tries again at once;
/// - otherwise stops with the failure.
///
/// # Errors
/// [`Stopped`] with the last failure, the attempts made and the [`StopReason`].
pub async fn retry_loop<T, E, F, Fut, H>(
    mut inner: F,
    sleeper: &dyn Sleeper,
    jitter: &dyn Jitter,
    policy: &RetryPolicy,
    hooks: &mut H,
) -> Result<T, Stopped<E>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
    H: RetryHooks<E> + ?Sized,
{
    let mut attempt = 0u32;
    let mut refreshed = false;
    loop {
        attempt = attempt.saturating_add(1);
        let failure = match inner(attempt).await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Failed(failure) => failure,
        };
        let decision = policy.decide(
            failure.class,
            attempt,
            failure.retry_after,
            refreshed,
            jitter.fraction(),
        );
        let reason = match decision {
            RetryDecision::RetryAfter(delay) => {
                if hooks.allow_retry(failure.class, attempt, delay) {
                    if !failure.caller_waits {
                        sleeper.sleep(delay).await;
                    }
                    continue;
                }
                StopReason::BudgetExhausted
            }
            RetryDecision::RefreshAuthAndRetry => match hooks.refresh_auth(&failure.error) {
                AuthRefresh::Refreshed => {
                    refreshed = true;
                    continue;
                }
                AuthRefresh::AlreadyReplaced => continue,
                AuthRefresh::Unavailable => StopReason::Permanent,
            },
            RetryDecision::AlreadyDelivered => StopReason::AlreadyDelivered,
            // (An attempt may itself report `MaxRetriesExceeded`, a permanent class.)
            RetryDecision::GiveUp(FailureClass::MaxRetriesExceeded)
                if failure.class.is_retryable() =>
            {
                StopReason::AttemptsExhausted
            }
            // `GiveUp` with the class itself, and any decision added later: stop.
            _ => StopReason::Permanent,
        };
        return Err(Stopped {
            reason,
            class: failure.class,
            attempts: attempt,
            error: failure.error,
        });
    }
}

#[cfg(test)]
mod tests;
