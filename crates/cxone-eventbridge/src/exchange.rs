//! One call of the [`Client`]: the attempts of one HTTP exchange, run by the one
//! [`retry_loop`], with the client's hooks into it (the 401 token refresh, the client-wide retry
//! budget) and the client-wide `Retry-After` hold that every request checks right before it is
//! written.

use crate::body::{BodyLimit, Unread, read_capped, read_error_start};
use crate::client::Client;
use crate::error::{Error, GaveUp, TlsReason};
use crate::observe::{Exchange, Op};
use crate::retry::{Attempt, AuthRefresh, Failure, RetryHooks, StopReason, Stopped, retry_loop};
use crate::secrets::Secrets;
use crate::tls::refused_certificate;
use crate::token::CachedToken;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use cxone_replay_domain::{FailureClass, classify, parse_retry_after};
use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

/// A response the retry loop accepted.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) attempts: u32,
}

/// What one attempt ended with, when it did not succeed.
enum Fault {
    Status {
        status: u16,
        headers: HeaderMap,
        body: Bytes,
    },
    /// A success body over its cap (not read further).
    TooLarge {
        status: u16,
        headers: HeaderMap,
        declared: Option<u64>,
    },
    /// The server's certificate was refused.
    Tls {
        reason: TlsReason,
        source: reqwest::Error,
    },
    Transport(reqwest::Error),
}

impl Fault {
    /// The fault of a request that got no response.
    fn unanswered(e: reqwest::Error) -> Fault {
        match refused_certificate(&e) {
            Some(reason) => Fault::Tls { reason, source: e },
            None => Fault::Transport(e),
        }
    }

    fn class(&self) -> FailureClass {
        match self {
            Fault::Status { status, .. } => {
                classify(*status).unwrap_or(FailureClass::UnknownFailure)
            }
            Fault::TooLarge { .. } => FailureClass::BodyTooLarge,
            Fault::Tls { .. } => FailureClass::Tls,
            // The request could not even be built: retrying cannot help.
            Fault::Transport(e) if e.is_builder() => FailureClass::UnknownFailure,
            Fault::Transport(e) if e.is_timeout() => FailureClass::Timeout,
            Fault::Transport(_) => FailureClass::Network,
        }
    }
}

/// A failed attempt, and the generation of the token it carried (the one to drop on a 401).
struct FailedAttempt {
    fault: Fault,
    token: Option<u64>,
}

impl Client {
    /// Waits until the client-wide `Retry-After` hold (if any) has passed.
    async fn wait_for_hold(&self) {
        let i = &self.inner;
        loop {
            let until = self.throttle_state().hold_until;
            let Some(until) = until else { return };
            let Ok(wait) = (until - i.clock.now()).to_std() else {
                return; // already passed
            };
            if wait.is_zero() {
                return;
            }
            i.sleeper.sleep(wait).await;
            // Waited it out, unless a later 429 moved the hold meanwhile.
            if self.throttle_state().hold_until == Some(until) {
                return;
            }
        }
    }

    /// Holds every call of this client for `d` from now (never shortens an existing hold), and
    /// tells the observer how much longer the client is held.
    fn hold_for(&self, d: Duration) {
        let i = &self.inner;
        let until = i
            .clock
            .now()
            .checked_add_signed(TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let added = {
            let mut t = self.throttle_state();
            let before = t.held;
            t.hold(i.clock.now(), until);
            t.held.saturating_sub(before)
        };
        if let Some(o) = self.observer().filter(|_| !added.is_zero()) {
            o.held(added);
        }
    }

    /// Sends the request `make` builds until it succeeds or the retry policy gives up, through
    /// the one [`retry_loop`] (with [`CallHooks`] for the token refresh and the budget).
    ///
    /// `bearer`: authenticate with the cached token (and refresh it once on a 401).
    /// `accept_409`: a 409 ends the call as an [`Answer`] (the PUT's duplicate).
    /// `limit`: the cap of the success body (an error body is kept to a few KiB).
    pub(crate) async fn execute(
        &self,
        op: Op,
        bearer: bool,
        accept_409: bool,
        limit: BodyLimit,
        make: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
    ) -> Result<Answer, Error> {
        let i = &self.inner;
        let label = op.label();
        let mut hooks = CallHooks {
            client: self,
            op: label,
            withdrawn: 0,
        };
        let result = retry_loop(
            |attempt| self.attempt(op, bearer, accept_409, limit.bytes, make, attempt),
            i.sleeper.as_ref(),
            i.jitter.as_ref(),
            &i.retry,
            &mut hooks,
        )
        .await;
        match result {
            Ok(Ok(answer)) => {
                self.refund(hooks.withdrawn);
                Ok(answer)
            }
            Ok(Err(no_token)) => Err(no_token),
            Err(stopped) => Err(call_error(label, bearer, limit, &self.secrets(), stopped)),
        }
    }

    /// One attempt of [`execute`](Self::execute). A token that cannot be had ends the call
    /// ([`Attempt::Done`] with the token request's error: it had its own retries).
    async fn attempt(
        &self,
        op: Op,
        bearer: bool,
        accept_409: bool,
        limit: usize,
        make: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync),
        attempt: u32,
    ) -> Attempt<Result<Answer, Error>, FailedAttempt> {
        let i = &self.inner;
        let token = match self.ready_to_send(bearer).await {
            Ok(token) => token,
            Err(e) => return Attempt::Done(Err(e)),
        };
        let mut request = make(&i.http);
        if let Some(t) = &token {
            request = request.header(AUTHORIZATION, t.header.clone());
        }
        let token = token.map(|t| t.generation);
        let mut retry_after = None;
        let mut held = false;
        let observer = self.observer();
        let fault = match request.send().await {
            Ok(mut response) => {
                let status = response.status().as_u16();
                if let Some(o) = &observer {
                    o.exchange(op, Exchange::Status(status));
                }
                // Taken, not cloned: reading the body needs no header (`content_length` is
                // the body's own size hint).
                let headers = std::mem::take(response.headers_mut());
                if status == 429 || status == 503 {
                    retry_after = headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| {
                            parse_retry_after(v, i.clock.now(), i.retry.retry_after_cap())
                        });
                    if let (429, Some(d)) = (status, retry_after) {
                        // Hold the whole client now, before reading the body; the next
                        // attempt waits it out in `ready_to_send`, not in the loop.
                        self.hold_for(d);
                        held = true;
                    }
                }
                self.observe(bearer, status, &headers, retry_after);
                let success = (200..300).contains(&status) || (accept_409 && status == 409);
                if success {
                    match read_capped(response, limit).await {
                        Ok(body) => {
                            return Attempt::Done(Ok(Answer {
                                status,
                                headers,
                                body,
                                attempts: attempt,
                            }));
                        }
                        Err(Unread::TooLarge { declared }) => Fault::TooLarge {
                            status,
                            headers,
                            declared,
                        },
                        // The body broke off: for a success, the exchange failed.
                        Err(Unread::Transport(e)) => Fault::Transport(e),
                    }
                } else {
                    Fault::Status {
                        status,
                        headers,
                        body: read_error_start(response).await,
                    }
                }
            }
            Err(e) => {
                let fault = Fault::unanswered(e);
                if let Some(o) = &observer {
                    o.exchange(op, Exchange::Failed(fault.class()));
                }
                fault
            }
        };
        let failure = Failure::new(fault.class(), FailedAttempt { fault, token })
            .with_retry_after(retry_after);
        Attempt::Failed(if held {
            failure.caller_waits()
        } else {
            failure
        })
    }

    /// Everything before a request is written: the token (normally cached), then the
    /// client-wide hold, checked immediately before sending, then a fresh token if a long hold
    /// outlived the first one's freshness.
    async fn ready_to_send(&self, bearer: bool) -> Result<Option<Arc<CachedToken>>, Error> {
        if !bearer {
            self.wait_for_hold().await;
            return Ok(None);
        }
        let token = self.token().await?;
        self.wait_for_hold().await;
        if token.refresh_at <= self.inner.clock.now() {
            return self.token().await.map(Some);
        }
        Ok(Some(token))
    }

    /// This client's credentials, to keep them out of what a server sends back.
    pub(crate) fn secrets(&self) -> Secrets {
        Secrets::new(&self.inner.auth, &self.inner.tokens.recent())
    }

    fn refund(&self, withdrawn: u32) {
        self.inner
            .budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .refund(withdrawn);
    }
}

/// The client's part of the retry loop: the token refresh after a 401 and the client-wide
/// retry budget.
struct CallHooks<'a> {
    client: &'a Client,
    op: &'static str,
    /// Budget tokens this call's retries took (handed back if it succeeds).
    withdrawn: u32,
}

impl RetryHooks<FailedAttempt> for CallHooks<'_> {
    fn refresh_auth(&mut self, failed: &FailedAttempt) -> AuthRefresh {
        let op = self.op;
        let Some(generation) = failed.token else {
            return AuthRefresh::Unavailable;
        };
        if self.client.inner.tokens.invalidate(generation) {
            // Another caller already replaced the refused token: retry with the new one; this
            // caller's one refresh is still unused.
            tracing::debug!(
                op,
                "401 for a replaced token: retrying with the current one"
            );
            AuthRefresh::AlreadyReplaced
        } else {
            tracing::debug!(op, "401: refreshing the token and retrying once");
            AuthRefresh::Refreshed
        }
    }

    fn allow_retry(&mut self, class: FailureClass, attempts: u32, delay: Duration) -> bool {
        let op = self.op;
        let cost = self
            .client
            .inner
            .budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_withdraw(class);
        match cost {
            Some(cost) => {
                self.withdrawn = self.withdrawn.saturating_add(cost);
                tracing::debug!(op, %class, attempts, ?delay, "retrying");
                true
            }
            None => {
                tracing::warn!(op, %class, "retry budget exhausted; not retrying");
                false
            }
        }
    }
}

/// The error of a call whose retry loop stopped on a failed attempt.
fn call_error(
    op: &'static str,
    bearer: bool,
    limit: BodyLimit,
    secrets: &Secrets,
    stopped: Stopped<FailedAttempt>,
) -> Error {
    let gave_up = match stopped.reason {
        StopReason::AttemptsExhausted => GaveUp::AttemptsExhausted,
        StopReason::BudgetExhausted => GaveUp::BudgetExhausted,
        // Permanent, or a 409 that this call does not accept as an answer.
        _ => GaveUp::Permanent,
    };
    let (class, attempts) = (stopped.class, stopped.attempts);
    match stopped.error.fault {
        Fault::Status {
            status: 401,
            headers,
            body,
        } if bearer => Error::Unauthorized {
            op,
            attempts,
            body: secrets.error_body(&body),
            request_id: secrets.request_id(&headers),
        },
        Fault::Status {
            status,
            headers,
            body,
        } => Error::Status {
            op,
            status,
            class,
            attempts,
            gave_up,
            body: secrets.error_body(&body),
            request_id: secrets.request_id(&headers),
        },
        Fault::TooLarge {
            status,
            headers,
            declared,
        } => Error::BodyTooLarge {
            op,
            status,
            limit: limit.bytes,
            setting: limit.setting,
            declared,
            attempts,
            request_id: secrets.request_id(&headers),
        },
        Fault::Tls { reason, source } => Error::Tls {
            op,
            reason,
            attempts,
            source: Arc::new(source),
        },
        Fault::Transport(source) => Error::Transport {
            op,
            class,
            attempts,
            gave_up,
            source: Arc::new(source),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxone_replay_domain::time::testing::RecordingSleeper;
    use cxone_replay_domain::{RetryBudget, TokenResponse};
    use secrecy::SecretString;

    fn client(budget: RetryBudget) -> Client {
        Client::builder()
            .base_url("http://127.0.0.1:9")
            .client_credentials("id", SecretString::from("secret"))
            .retry_budget(budget)
            .build()
            .unwrap()
    }

    async fn cache_token(client: &Client, token: &str) -> Arc<CachedToken> {
        let t0: DateTime<Utc> = "2024-05-11T09:00:00Z".parse().unwrap();
        let resp: TokenResponse = serde_json::from_value(
            serde_json::json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}),
        )
        .unwrap();
        client
            .inner
            .tokens
            .get(|| t0, &RecordingSleeper::new(), || async { Ok(resp) })
            .await
            .unwrap()
    }

    fn refused_with(token: Option<u64>) -> FailedAttempt {
        FailedAttempt {
            fault: Fault::Status {
                status: 401,
                headers: HeaderMap::new(),
                body: Bytes::new(),
            },
            token,
        }
    }

    #[tokio::test]
    async fn a_401_refreshes_the_token_it_was_sent_with_unless_already_replaced() {
        let client = client(RetryBudget::default());
        let mut hooks = CallHooks {
            client: &client,
            op: "topic PUT",
            withdrawn: 0,
        };
        let old = cache_token(&client, "old").await;
        // Another call got a 401 for `old` first and fetched `new`.
        assert!(!client.inner.tokens.invalidate(old.generation));
        let new = cache_token(&client, "new").await;
        assert_eq!(
            hooks.refresh_auth(&refused_with(Some(old.generation))),
            AuthRefresh::AlreadyReplaced
        );
        assert_eq!(
            client.inner.tokens.current().map(|t| t.generation),
            Some(new.generation),
            "the current token is kept"
        );
        assert_eq!(
            hooks.refresh_auth(&refused_with(Some(new.generation))),
            AuthRefresh::Refreshed
        );
        assert!(client.inner.tokens.current().is_none(), "dropped");
        // A call without a bearer token has nothing to refresh.
        assert_eq!(
            hooks.refresh_auth(&refused_with(None)),
            AuthRefresh::Unavailable
        );
    }

    #[test]
    fn retries_draw_on_the_budget_and_a_success_refunds_them() {
        // Room for two plain retries (5 each); a 429 is free.
        let client = client(RetryBudget::new(10, 5, 10, 1));
        let mut hooks = CallHooks {
            client: &client,
            op: "topic PUT",
            withdrawn: 0,
        };
        let d = Duration::from_millis(1);
        assert!(hooks.allow_retry(FailureClass::ServerTransient, 1, d));
        assert!(hooks.allow_retry(FailureClass::RateLimited, 2, d));
        assert!(hooks.allow_retry(FailureClass::Network, 3, d));
        assert!(!hooks.allow_retry(FailureClass::ServerTransient, 4, d));
        assert!(!hooks.allow_retry(FailureClass::Timeout, 4, d));
        assert!(hooks.allow_retry(FailureClass::RateLimited, 4, d));
        assert_eq!(hooks.withdrawn, 10);
        let available = || client.inner.budget.lock().unwrap().available();
        assert_eq!(available(), 0);
        client.refund(hooks.withdrawn);
        assert_eq!(available(), 10);
    }
}
