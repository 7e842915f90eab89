//! What the server said about its rate limit: every `429`, every `503` with `Retry-After`, the
//! client-wide hold, and the IETF `RateLimit-Policy`/`RateLimit` fields of API responses, kept in
//! one [`Throttling`] per client (shared by its clones) for whoever paces the calls.
//!
//! The engine reads it before each paced send ([`Client::throttling`]): it is a snapshot, so
//! reading it never blocks a request, and the client never calls out to foreign code while it
//! reads a response.

use crate::client::Client;
use cxone_replay_domain::{Quota, Throttling};
use reqwest::header::{HeaderMap, HeaderName};
use std::sync::{MutexGuard, PoisonError};
use std::time::Duration;

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

impl Client {
    /// What the server has said about its rate limit since this client was built: `429`s,
    /// `503`s with `Retry-After`, the time spent in client-wide holds, the hold in force, and
    /// the latest quota of the `RateLimit-Policy`/`RateLimit` fields (API responses only).
    #[must_use]
    pub fn throttling(&self) -> Throttling {
        self.throttle_state().clone()
    }

    pub(crate) fn throttle_state(&self) -> MutexGuard<'_, Throttling> {
        self.inner
            .throttling
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes note of a response's status and headers, as soon as they are read. `api`: an API
    /// call (its rate-limit fields are kept); `retry_after`: its parsed `Retry-After`.
    pub(crate) fn observe(
        &self,
        api: bool,
        status: u16,
        headers: &HeaderMap,
        retry_after: Option<Duration>,
    ) {
        let quota = if api { quota_of(headers) } else { None };
        if status != 429 && !(status == 503 && retry_after.is_some()) && quota.is_none() {
            return;
        }
        let mut t = self.throttle_state();
        match status {
            429 => t.record_throttle(),
            503 if retry_after.is_some() => t.record_busy(),
            _ => {}
        }
        if let Some(q) = quota {
            t.record_quota(q);
        }
    }
}

/// The quota of the `RateLimit-Policy` and `RateLimit` fields (each field's lines joined).
fn quota_of(headers: &HeaderMap) -> Option<Quota> {
    let joined = |name: &HeaderName| -> Option<String> {
        let lines: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!lines.is_empty()).then(|| lines.join(", "))
    };
    let policy = joined(&RATELIMIT_POLICY);
    let limit = joined(&RATELIMIT);
    if policy.is_none() && limit.is_none() {
        return None;
    }
    Quota::from_fields(policy.as_deref(), limit.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use secrecy::SecretString;

    fn client() -> Client {
        Client::builder()
            .base_url("http://127.0.0.1:9")
            .client_credentials("id", SecretString::from("secret"))
            .build()
            .unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn throttles_busy_answers_and_quotas_are_kept() {
        let c = client();
        let none = HeaderMap::new();
        c.observe(true, 201, &none, None);
        c.observe(true, 503, &none, None);
        assert_eq!(c.throttling(), Throttling::default(), "nothing to note");
        c.observe(true, 429, &none, Some(Duration::from_secs(1)));
        c.observe(false, 429, &none, None);
        c.observe(true, 503, &none, Some(Duration::from_secs(2)));
        let fields = headers(&[
            ("ratelimit-policy", r#""default";q=200;w=1"#),
            ("ratelimit", r#""default";r=12"#),
            ("ratelimit", r#""other";r=1;t=9"#),
        ]);
        c.observe(true, 201, &fields, None);
        let t = c.throttling();
        assert_eq!((t.throttled, t.busy, t.quotas_seen), (2, 1, 1));
        let q = t.quota.unwrap();
        assert_eq!(
            (q.per_second, q.remaining, q.reset),
            (Some(200.0), Some(12), None)
        );
        // The token endpoint's fields are not the API's quota; malformed fields are ignored.
        c.observe(false, 200, &fields, None);
        c.observe(true, 201, &headers(&[("ratelimit-policy", "q=1")]), None);
        assert_eq!(c.throttling().quotas_seen, 1);
    }
}
