//! The bearer-token cache: refresh before expiry, single-flight, fall back on a still-valid
//! token when a refresh fails.

use crate::error::{DecodeError, Error};
use chrono::{DateTime, TimeDelta, Utc};
use cxone_replay_domain::{Sleeper, TokenResponse};
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// Lifetime assumed when the token endpoint sends no `expires_in`.
const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// The shortest token lifetime believed: a shorter `expires_in` (`0` included) is taken as this,
/// so that a token endpoint that says "expires at once" does not cost a token request per call.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(30);
/// The default least time between two token requests of one client (the builder's
/// [`min_token_refresh_interval`](crate::ClientBuilder::min_token_refresh_interval)). A refresh
/// due sooner keeps the current token while it is valid, or waits (on the client's sleeper) when
/// there is none.
pub const MIN_TOKEN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// How many of the latest access tokens are remembered for redaction (current and previous).
const REMEMBERED_TOKENS: usize = 2;
/// After a failed refresh, callers keep using the old token (while it is still valid) or share
/// the refresh's error (when it is not) for this long before trying again, so that a struggling
/// token endpoint, or one refusing our credentials, is not hammered.
const FAILED_REFRESH_COOLDOWN: TimeDelta = TimeDelta::seconds(5);

/// One cached token.
pub(crate) struct CachedToken {
    /// The raw token; only its header form is ever sent (kept to redact it from server text).
    secret: SecretString,
    /// `Bearer {token}`, marked sensitive.
    pub(crate) header: HeaderValue,
    /// Refresh from this instant on.
    pub(crate) refresh_at: DateTime<Utc>,
    /// Unusable from this instant on.
    pub(crate) expires_at: DateTime<Utc>,
    /// Distinguishes this token from its successors (for invalidation after a 401).
    pub(crate) generation: u64,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("token", &"[redacted]")
            .field("refresh_at", &self.refresh_at)
            .field("expires_at", &self.expires_at)
            .field("generation", &self.generation)
            .finish()
    }
}

#[derive(Default)]
struct RefreshState {
    /// The last refresh failure and when it happened.
    last_failure: Option<(DateTime<Utc>, Error)>,
    /// When the last token request started.
    last_fetch: Option<DateTime<Utc>>,
}

/// The cache. Reads take a short lock; refreshes are serialized by an async mutex and
/// double-checked, so any number of concurrent callers cause one token request.
pub(crate) struct TokenCache {
    margin: Duration,
    /// The least time between two token requests.
    min_interval: TimeDelta,
    current: RwLock<Option<Arc<CachedToken>>>,
    refresh: tokio::sync::Mutex<RefreshState>,
    /// Number of finished refresh attempts.
    finished: AtomicU64,
    next_generation: AtomicU64,
    /// The latest access tokens (newest first), still known after a 401 dropped them.
    recent: Mutex<Vec<SecretString>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("margin", &self.margin)
            .field("current", &self.current())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    pub(crate) fn new(margin: Duration, min_interval: Duration) -> Self {
        TokenCache {
            margin,
            min_interval: TimeDelta::from_std(min_interval).unwrap_or(TimeDelta::MAX),
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
            finished: AtomicU64::new(0),
            next_generation: AtomicU64::new(1),
            recent: Mutex::new(Vec::new()),
        }
    }

    /// The latest access tokens this cache got (current and previous), for redaction.
    pub(crate) fn recent(&self) -> Vec<SecretString> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn current(&self) -> Option<Arc<CachedToken>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A token that is fresh at `now`, fetching one with `fetch` if needed, at most one
    /// request per minimum refresh interval: a refresh due sooner keeps a still-valid
    /// token, or waits on `sleeper` for the interval to pass.
    ///
    /// # Errors
    /// The fetch's error, when there is no still-valid token to fall back on.
    pub(crate) async fn get<F, Fut>(
        &self,
        now: impl Fn() -> DateTime<Utc>,
        sleeper: &dyn Sleeper,
        fetch: F,
    ) -> Result<Arc<CachedToken>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenResponse, Error>>,
    {
        if let Some(t) = self.current().filter(|t| now() < t.refresh_at) {
            return Ok(t);
        }
        let seen = self.finished.load(Ordering::Acquire);
        let mut state = self.refresh.lock().await;
        let at = now();
        let current = self.current();
        if let Some(t) = current.as_ref().filter(|t| at < t.refresh_at) {
            return Ok(Arc::clone(t));
        }
        let still_valid = current.filter(|t| at < t.expires_at);
        if let Some((failed_at, error)) = &state.last_failure {
            // A refresh attempted while we waited failed: share its outcome instead of
            // repeating it; after a recent failure, keep serving a still-valid token.
            let waited_on_it = self.finished.load(Ordering::Acquire) != seen;
            if let Some(t) = &still_valid {
                if waited_on_it || at < *failed_at + FAILED_REFRESH_COOLDOWN {
                    return Ok(Arc::clone(t));
                }
            } else if waited_on_it || at < *failed_at + FAILED_REFRESH_COOLDOWN {
                // No usable token: callers that waited on the failed refresh, or that arrive
                // within the cool-down after it, share its error instead of each hitting a
                // failing token endpoint again.
                return Err(error.clone());
            }
        }
        if let Some(next) = state.last_fetch.map(|t| t + self.min_interval)
            && at < next
        {
            if let Some(t) = &still_valid {
                return Ok(Arc::clone(t));
            }
            if let Ok(wait) = (next - at).to_std() {
                sleeper.sleep(wait).await;
            }
        }
        state.last_fetch = Some(now());
        let result = fetch().await;
        self.finished.fetch_add(1, Ordering::AcqRel);
        let at = now();
        match result.and_then(|resp| self.make(resp, at)) {
            Ok(token) => {
                let token = Arc::new(token);
                *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                    Some(Arc::clone(&token));
                let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
                recent.insert(0, token.secret.clone());
                recent.truncate(REMEMBERED_TOKENS);
                state.last_failure = None;
                Ok(token)
            }
            Err(error) => {
                state.last_failure = Some((at, error.clone()));
                match still_valid {
                    Some(t) if at < t.expires_at => {
                        tracing::warn!(
                            class = %error.class(),
                            "token refresh failed; the current token is still valid and stays in use"
                        );
                        Ok(t)
                    }
                    _ => Err(error),
                }
            }
        }
    }

    /// Drops the token of `generation` if it is still the current one (after a 401).
    ///
    /// Returns `true` when a newer token is already cached: the 401 answered a token that
    /// another caller had replaced meanwhile, so retrying with the current one is not "the one
    /// refresh" of the caller whose request was refused.
    pub(crate) fn invalidate(&self, generation: u64) -> bool {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        match current.as_ref() {
            Some(t) if t.generation == generation => {
                *current = None;
                false
            }
            Some(t) => t.generation > generation,
            None => false,
        }
    }

    fn make(&self, resp: TokenResponse, now: DateTime<Utc>) -> Result<CachedToken, Error> {
        let invalid = |what: &'static str| Error::Decode {
            op: "token request",
            status: 200,
            attempts: 1,
            body: None,
            request_id: None,
            source: Arc::new(DecodeError::Invalid(what)),
        };
        if resp.access_token.is_empty() {
            return Err(invalid("empty access_token"));
        }
        if !resp.token_type.eq_ignore_ascii_case("bearer") {
            return Err(invalid("token_type is not Bearer"));
        }
        let secret = SecretString::from(resp.access_token);
        let mut header = HeaderValue::from_str(&format!("Bearer {}", secret.expose_secret()))
            .map_err(|_| invalid("access_token is not a valid header value"))?;
        header.set_sensitive(true);
        let ttl = resp
            .expires_in
            .map_or(DEFAULT_TTL, Duration::from_secs)
            .max(MIN_TOKEN_LIFETIME);
        let until_refresh = if ttl > self.margin {
            ttl - self.margin
        } else {
            // A lifetime shorter than the margin: refresh half-way instead of on every call.
            ttl / 2
        };
        let add = |d: Duration| {
            now.checked_add_signed(TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX))
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        Ok(CachedToken {
            secret,
            header,
            refresh_at: add(until_refresh),
            expires_at: add(ttl),
            generation: self.next_generation.fetch_add(1, Ordering::Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxone_replay_domain::time::testing::RecordingSleeper;
    use std::sync::atomic::AtomicUsize;

    fn t0() -> DateTime<Utc> {
        "2024-05-11T09:00:00Z".parse().unwrap()
    }

    fn resp(token: &str, ttl: u64) -> TokenResponse {
        serde_json::from_value(serde_json::json!({
            "access_token": token, "token_type": "Bearer", "expires_in": ttl
        }))
        .unwrap()
    }

    fn transient() -> Error {
        Error::Status {
            op: "token request",
            status: 503,
            class: cxone_replay_domain::FailureClass::ServerTransient,
            attempts: 1,
            gave_up: crate::GaveUp::AttemptsExhausted,
            body: None,
            request_id: None,
        }
    }

    #[tokio::test]
    async fn refreshes_margin_before_expiry() {
        let cache = TokenCache::new(Duration::from_secs(60), MIN_TOKEN_REFRESH_INTERVAL);
        let t = cache
            .get(t0, &RecordingSleeper::new(), || async {
                Ok(resp("a", 3600))
            })
            .await
            .unwrap();
        assert_eq!(t.refresh_at, t0() + TimeDelta::seconds(3540));
        assert_eq!(t.expires_at, t0() + TimeDelta::seconds(3600));
        assert!(t.header.is_sensitive());
        assert!(!format!("{t:?}").contains("Bearer a"));
        let short = cache
            .make(resp("b", 30), t0())
            .expect("a short-lived token is usable");
        assert_eq!(short.refresh_at, t0() + TimeDelta::seconds(15));
        // Under the floor (`0` included): taken as 30 s.
        for ttl in [0, 1, 29] {
            let t = cache.make(resp("c", ttl), t0()).unwrap();
            assert_eq!(t.expires_at, t0() + TimeDelta::seconds(30), "{ttl}");
            assert_eq!(t.refresh_at, t0() + TimeDelta::seconds(15), "{ttl}");
        }
    }

    #[tokio::test]
    async fn cached_until_refresh_time() {
        let cache = TokenCache::new(Duration::from_secs(60), MIN_TOKEN_REFRESH_INTERVAL);
        let calls = AtomicUsize::new(0);
        let fetch = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(resp("a", 3600))
        };
        cache
            .get(t0, &RecordingSleeper::new(), fetch)
            .await
            .unwrap();
        cache
            .get(
                || t0() + TimeDelta::seconds(3539),
                &RecordingSleeper::new(),
                fetch,
            )
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        cache
            .get(
                || t0() + TimeDelta::seconds(3540),
                &RecordingSleeper::new(),
                fetch,
            )
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failed_refresh_keeps_a_valid_token_and_fails_without_one() {
        let cache = TokenCache::new(Duration::from_secs(60), MIN_TOKEN_REFRESH_INTERVAL);
        let first = cache
            .get(t0, &RecordingSleeper::new(), || async {
                Ok(resp("a", 3600))
            })
            .await
            .unwrap();
        let late = || t0() + TimeDelta::seconds(3550);
        let kept = cache
            .get(late, &RecordingSleeper::new(), || async {
                Err(transient())
            })
            .await
            .unwrap();
        assert_eq!(kept.generation, first.generation);
        let expired = || t0() + TimeDelta::seconds(3600);
        let err = cache
            .get(expired, &RecordingSleeper::new(), || async {
                Err(transient())
            })
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(503));
    }

    #[tokio::test]
    async fn a_failed_refresh_without_a_valid_token_is_shared_for_the_cool_down() {
        let cache = TokenCache::new(Duration::from_secs(60), MIN_TOKEN_REFRESH_INTERVAL);
        let fetches = std::sync::atomic::AtomicU32::new(0);
        let failing = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            Err(transient())
        };
        assert!(
            cache
                .get(t0, &RecordingSleeper::new(), failing)
                .await
                .is_err()
        );
        // A caller arriving within the cool-down gets the same error without a request.
        let soon = || t0() + TimeDelta::seconds(4);
        assert_eq!(
            cache
                .get(soon, &RecordingSleeper::new(), failing)
                .await
                .unwrap_err()
                .status(),
            Some(503)
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        // After it, the next caller tries again.
        let later = || t0() + TimeDelta::seconds(6);
        let token = cache
            .get(later, &RecordingSleeper::new(), || async {
                Ok(resp("fresh", 3600))
            })
            .await
            .unwrap();
        assert_eq!(token.expires_at, later() + TimeDelta::seconds(3600));
    }

    #[tokio::test]
    async fn invalidate_only_the_current_generation() {
        let cache = TokenCache::new(Duration::from_secs(60), MIN_TOKEN_REFRESH_INTERVAL);
        let a = cache
            .get(t0, &RecordingSleeper::new(), || async {
                Ok(resp("a", 3600))
            })
            .await
            .unwrap();
        assert!(
            !cache.invalidate(a.generation + 1),
            "a newer generation is not stale"
        );
        assert!(cache.current().is_some());
        assert!(
            !cache.invalidate(a.generation),
            "the current token is dropped, not stale"
        );
        assert!(cache.current().is_none());
        assert!(!cache.invalidate(a.generation), "nothing cached: not stale");
        let b = cache
            .get(t0, &RecordingSleeper::new(), || async {
                Ok(resp("b", 3600))
            })
            .await
            .unwrap();
        assert_ne!(a.generation, b.generation);
        // A 401 for `a` arriving after `b` replaced it: stale, and `b` stays.
        assert!(cache.invalidate(a.generation));
        assert_eq!(cache.current().map(|t| t.generation), Some(b.generation));
    }

    #[tokio::test]
    async fn the_refresh_interval_is_a_setting() {
        let cache = TokenCache::new(Duration::from_secs(60), Duration::from_millis(10));
        let sleeper = RecordingSleeper::new();
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok(resp(&format!("t{n}"), 3600))
        };
        let first = cache.get(t0, &sleeper, fetch).await.unwrap();
        let at = |ms| move || t0() + TimeDelta::milliseconds(ms);
        cache.invalidate(first.generation);
        cache.get(at(4), &sleeper, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert_eq!(
            sleeper.sleeps(),
            [Duration::from_millis(6)],
            "waits the rest of 10 ms"
        );
        let second = cache.current().unwrap();
        cache.invalidate(second.generation);
        cache.get(at(30), &sleeper, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
        assert_eq!(sleeper.sleeps().len(), 1, "20 ms later: no wait");
    }

    #[tokio::test]
    async fn at_most_one_token_request_per_second() {
        let cache = TokenCache::new(Duration::from_secs(60), MIN_TOKEN_REFRESH_INTERVAL);
        let sleeper = RecordingSleeper::new();
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            let n = fetches.fetch_add(1, Ordering::SeqCst);
            Ok(resp(&format!("t{n}"), 0))
        };
        let first = cache.get(t0, &sleeper, fetch).await.unwrap();
        let at = |ms| move || t0() + TimeDelta::milliseconds(ms);
        // `expires_in: 0` is taken as 30 s: refreshed at 15 s, not before.
        cache.get(at(14_999), &sleeper, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        let second = cache.get(at(15_500), &sleeper, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert_ne!(first.generation, second.generation);
        // Dropped after a 401, half a second after the last request: waits the rest.
        cache.invalidate(second.generation);
        cache.get(at(16_000), &sleeper, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 3);
        assert_eq!(sleeper.sleeps(), [Duration::from_millis(500)]);
        assert_eq!(cache.recent().len(), 2, "current and previous remembered");

        // A refresh due under a second after the last request keeps the valid token.
        let cache = TokenCache::new(Duration::from_millis(3_599_500), MIN_TOKEN_REFRESH_INTERVAL);
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            Ok(resp("long", 3600))
        };
        let t = cache.get(t0, &sleeper, fetch).await.unwrap();
        assert_eq!(t.refresh_at, t0() + TimeDelta::milliseconds(500));
        let kept = cache.get(at(600), &sleeper, fetch).await.unwrap();
        assert_eq!(kept.generation, t.generation);
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        cache.get(at(1_000), &sleeper, fetch).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert_eq!(sleeper.sleeps().len(), 1, "no wait while a token was valid");
    }

    #[tokio::test]
    async fn rejects_unusable_tokens() {
        let cache = TokenCache::new(Duration::from_secs(60), MIN_TOKEN_REFRESH_INTERVAL);
        assert!(cache.make(resp("", 10), t0()).is_err());
        assert!(cache.make(resp("bad\ntoken", 10), t0()).is_err());
        let mut mac = resp("x", 10);
        mac.token_type = "MAC".into();
        assert!(cache.make(mac, t0()).is_err());
    }
}
