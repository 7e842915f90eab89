//! [`WebhookMonitor`]: posts the run's progress to a webhook, off the hot path.
//!
//! Body shape (the tutorial's): `{"source":"cxone-eventbridge-replayer","type":<type>,"data":..}`
//! with `type` one of `replay_started` (data: [`RunStarted`](crate::RunStarted)), `replay_status_update` (data: the
//! audit record) and `replay_completed` (data: the [`RunSummary`](crate::RunSummary); its `monitor_dropped` is the
//! count at that moment).
//!
//! Notifications go through a bounded queue (`try_send`: a full queue drops and counts, never
//! waits) to one background task, which posts them in order through the client crate's
//! [`retry_loop`] (the same loop as the API client's), deciding each failure with the domain's
//! [`RetryPolicy`]: `429`, `408`, `5xx`, time-outs and network errors are retried with
//! capped exponential backoff (a receiver's `Retry-After` is honoured, up to the backoff cap); a
//! `409` counts as delivered (the receiver has this message id); any other answer, redirects
//! included (they are not followed), drops (and counts) the notification, as do used-up attempts;
//! `410 Gone` stops the monitor for good, counting everything after as dropped. At the end of a
//! run it gets a bounded time to drain the queue.
//!
//! With a secret, each request is signed per the Standard Webhooks spec: `webhook-id`
//! (`msg_<uuid>`, the same across retries), `webhook-timestamp` (Unix seconds, per attempt) and
//! `webhook-signature: v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`. A secret of
//! the form `whsec_<base64>` uses the decoded base64 part as the key (the spec's format); any
//! other secret is used as raw UTF-8 bytes.

use crate::error::{EngineError, Setting};
use crate::ports::{MonitorEvent, MonitorSink};
use crate::runtime::{Clock, Sleeper, SystemClock, TokioSleeper};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cxone_eventbridge::retry::{Attempt, Failure, NoHooks, StopReason, Stopped, retry_loop};
use cxone_replay_domain::{
    FailureClass, NoJitter, RetryPolicy, check_credential_url, classify, parse_retry_after,
    scheme_and_host,
};
use hmac::{Hmac, Mac};
use reqwest::Url;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::Serialize;
use sha2::Sha256;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The `source` of every notification.
pub const WEBHOOK_SOURCE: &str = "cxone-eventbridge-replayer";

/// Builds a [`WebhookMonitor`].
#[must_use]
pub struct WebhookMonitorBuilder {
    url: String,
    secret: Option<SecretString>,
    queue: usize,
    max_attempts: u32,
    backoff_base: Duration,
    backoff_max: Duration,
    request_timeout: Duration,
    close_timeout: Duration,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
}

impl std::fmt::Debug for WebhookMonitorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookMonitorBuilder")
            .field("url", &scheme_and_host(&self.url))
            .field("secret", &self.secret.as_ref().map(|_| "[REDACTED]"))
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl WebhookMonitorBuilder {
    /// Signs every request with this secret (Standard Webhooks).
    pub fn secret(mut self, secret: SecretString) -> Self {
        self.secret = Some(secret);
        self
    }

    /// Queue capacity (default 1024); notifications beyond it are dropped and counted.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue = n;
        self
    }

    /// Attempts per notification (default 5).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Backoff between attempts: `base * 2^(attempt-1)`, capped at `max` (default 200 ms, 5 s).
    /// A receiver's `Retry-After` replaces the backoff, capped at `max` too.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max;
        self
    }

    /// Timeout of one request (default 10 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// How long [`MonitorSink::close`] waits for the queue to drain (default 5 s).
    pub fn close_timeout(mut self, d: Duration) -> Self {
        self.close_timeout = d;
        self
    }

    /// Clock for `webhook-timestamp`.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// What waits between attempts and for the close timeout.
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Validates the settings and starts the delivery task.
    ///
    /// # Errors
    /// [`EngineError::Setting`] for a URL that is not `https` (or `http` to a loopback host), an
    /// invalid `whsec_` secret, zero queue/attempts or a backoff base above its cap;
    /// [`EngineError::NoRuntime`] outside a
    /// Tokio runtime.
    pub fn build(self) -> Result<WebhookMonitor, EngineError> {
        let url = Url::parse(&self.url)
            .map_err(|e| EngineError::invalid(Setting::WebhookUrl, format!("not a URL: {e}")))?;
        check_credential_url(&url)
            .map_err(|rule| EngineError::invalid(Setting::WebhookUrl, rule.to_string()))?;
        if self.queue == 0 {
            return Err(EngineError::invalid(
                Setting::WebhookQueue,
                "must be at least 1",
            ));
        }
        if self.max_attempts == 0 {
            return Err(EngineError::invalid(
                Setting::WebhookAttempts,
                "must be at least 1",
            ));
        }
        // The domain's retry decision (no jitter: one sender, nothing to de-synchronise), with a
        // receiver's `Retry-After` honoured up to the backoff cap.
        let retry = RetryPolicy::new(self.max_attempts, self.backoff_base, self.backoff_max)
            .map_err(|e| EngineError::invalid(Setting::WebhookBackoff, e.to_string()))?
            .with_retry_after_cap(self.backoff_max);
        let key = match &self.secret {
            None => None,
            Some(s) => Some(signing_key(s.expose_secret())?),
        };
        let handle = tokio::runtime::Handle::try_current().map_err(|_| EngineError::NoRuntime {
            what: "WebhookMonitorBuilder::build",
        })?;
        let http = reqwest::Client::builder()
            // A signed body goes to the configured URL only, never where a redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.request_timeout)
            .connect_timeout(self.request_timeout)
            .build()
            .map_err(|e| EngineError::invalid(Setting::Webhook, format!("HTTP client: {e}")))?;
        let shared = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel(self.queue);
        let worker = Worker {
            http,
            url: url.clone(),
            key,
            retry,
            clock: Arc::clone(&self.clock),
            sleeper: Arc::clone(&self.sleeper),
            shared: Arc::clone(&shared),
        };
        let task = handle.spawn(worker.run(rx));
        Ok(WebhookMonitor {
            url_for_debug: scheme_and_host(url.as_str()),
            signed: self.secret.is_some(),
            tx: Mutex::new(Some(tx)),
            task: Mutex::new(Some(task)),
            shared,
            close_timeout: self.close_timeout,
            sleeper: self.sleeper,
        })
    }
}

/// Decodes a Standard Webhooks secret: `whsec_<base64>` → the decoded bytes; anything else → its
/// raw bytes.
fn signing_key(secret: &str) -> Result<SecretSlice<u8>, EngineError> {
    let bytes = match secret.strip_prefix("whsec_") {
        Some(b64) => B64.decode(b64).map_err(|_| {
            EngineError::invalid(
                Setting::WebhookSecret,
                "a `whsec_` secret must be base64 after the prefix",
            )
        })?,
        None => secret.as_bytes().to_vec(),
    };
    if bytes.is_empty() {
        return Err(EngineError::invalid(
            Setting::WebhookSecret,
            "must not be empty",
        ));
    }
    Ok(SecretSlice::from(bytes))
}

/// The Standard Webhooks signature header value for one request: `v1,<base64 HMAC-SHA256>` of
/// `"{id}.{timestamp}.{body}"`.
#[must_use]
pub fn sign(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for HMAC.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    delivered: AtomicU64,
    queued: AtomicU64,
    gone: AtomicBool,
}

struct Worker {
    http: reqwest::Client,
    url: Url,
    key: Option<SecretSlice<u8>>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    shared: Arc<Counters>,
}

enum Delivery {
    Delivered,
    Dropped,
    Gone,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Vec<u8>>) {
        while let Some(body) = rx.recv().await {
            let d = self.deliver(&body).await;
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            match d {
                Delivery::Delivered => {
                    self.shared.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Delivery::Dropped => {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Delivery::Gone => {
                    self.shared.gone.store(true, Ordering::Release);
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    rx.close();
                    while rx.recv().await.is_some() {
                        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                        self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::warn!("webhook answered 410 Gone; monitoring stopped");
                    return;
                }
            }
        }
    }

    /// Posts one notification until it is delivered, or the retry policy (through the one
    /// [`retry_loop`]) gives up. No hooks: a webhook has no token to refresh, so a 401 is
    /// final, and no budget (one sender).
    async fn deliver(&self, body: &[u8]) -> Delivery {
        let msg_id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let result = retry_loop(
            |_| self.post(&msg_id, body),
            self.sleeper.as_ref(),
            // No jitter: one sender, nothing to de-synchronise.
            &NoJitter,
            &self.retry,
            &mut NoHooks,
        )
        .await;
        match result {
            Ok(delivery) => delivery,
            // 409: the receiver already has this message id.
            Err(Stopped {
                reason: StopReason::AlreadyDelivered,
                ..
            }) => Delivery::Delivered,
            Err(stopped) => {
                tracing::warn!(
                    class = %stopped.class,
                    attempt = stopped.attempts,
                    "webhook notification dropped"
                );
                Delivery::Dropped
            }
        }
    }

    /// One signed POST of `body` (a fresh `webhook-timestamp` and signature per attempt).
    async fn post(&self, msg_id: &str, body: &[u8]) -> Attempt<Delivery, ()> {
        let ts = self.clock.now().timestamp();
        let mut req = self
            .http
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", ts.to_string());
        if let Some(key) = &self.key {
            let mut sig = reqwest::header::HeaderValue::from_str(&sign(
                key.expose_secret(),
                msg_id,
                ts,
                body,
            ))
            .unwrap_or_else(|_| reqwest::header::HeaderValue::from_static(""));
            sig.set_sensitive(true);
            req = req.header("webhook-signature", sig);
        }
        match req.body(body.to_vec()).send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                if status == 410 {
                    return Attempt::Done(Delivery::Gone);
                }
                let Some(class) = classify(status) else {
                    return Attempt::Done(Delivery::Delivered);
                };
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| {
                        parse_retry_after(v, self.clock.now(), self.retry.retry_after_cap())
                    });
                Attempt::Failed(Failure::new(class, ()).with_retry_after(retry_after))
            }
            Err(e) => {
                // The URL is a credential (Slack, Teams): never in a log line.
                let e = e.without_url();
                let error = cxone_replay_domain::error_chain(&e);
                tracing::debug!(%error, "webhook post failed");
                let class = if e.is_timeout() {
                    FailureClass::Timeout
                } else {
                    FailureClass::Network
                };
                Attempt::Failed(Failure::new(class, ()))
            }
        }
    }
}

/// A [`MonitorSink`] that posts notifications to a webhook. See the
/// [module documentation](self) for the body, retries and signing.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cxone_dlq_replay::EngineError> {
/// use cxone_dlq_replay::WebhookMonitor;
/// use secrecy::SecretString;
/// let m = WebhookMonitor::builder("https://hooks.example.com/replay")
///     .secret(SecretString::from("whsec_c2VjcmV0"))
///     .build()?;
/// assert!(!format!("{m:?}").contains("whsec_"));
/// assert!(WebhookMonitor::builder("http://hooks.example.com/").build().is_err());
/// # Ok(()) }
/// ```
pub struct WebhookMonitor {
    url_for_debug: String,
    signed: bool,
    tx: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    task: Mutex<Option<JoinHandle<()>>>,
    shared: Arc<Counters>,
    close_timeout: Duration,
    sleeper: Arc<dyn Sleeper>,
}

impl std::fmt::Debug for WebhookMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookMonitor")
            .field("url", &self.url_for_debug)
            .field("secret", &if self.signed { "[REDACTED]" } else { "none" })
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    source: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    data: &'a T,
}

impl WebhookMonitor {
    /// Starts building a monitor posting to `url`.
    pub fn builder(url: impl Into<String>) -> WebhookMonitorBuilder {
        WebhookMonitorBuilder {
            url: url.into(),
            secret: None,
            queue: 1024,
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
        }
    }

    /// The webhook URL as it may be shown: scheme, host and port only (its path and query may
    /// carry a secret).
    #[must_use]
    pub fn shown_url(&self) -> &str {
        &self.url_for_debug
    }

    /// Notifications dropped so far.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Notifications delivered so far.
    #[must_use]
    pub fn delivered(&self) -> u64 {
        self.shared.delivered.load(Ordering::Relaxed)
    }

    fn body(event: &MonitorEvent<'_>) -> Result<Vec<u8>, serde_json::Error> {
        let kind = event.kind();
        match event {
            MonitorEvent::Started(d) => serde_json::to_vec(&Envelope {
                source: WEBHOOK_SOURCE,
                kind,
                data: *d,
            }),
            MonitorEvent::Record(d) => serde_json::to_vec(&Envelope {
                source: WEBHOOK_SOURCE,
                kind,
                data: *d,
            }),
            MonitorEvent::Completed(d) => serde_json::to_vec(&Envelope {
                source: WEBHOOK_SOURCE,
                kind,
                data: *d,
            }),
        }
    }
}

#[async_trait]
impl MonitorSink for WebhookMonitor {
    fn notify(&self, event: MonitorEvent<'_>) {
        let drop_one = || {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        };
        if self.shared.gone.load(Ordering::Acquire) {
            return drop_one();
        }
        let Ok(body) = Self::body(&event) else {
            return drop_one();
        };
        let Ok(guard) = self.tx.lock() else {
            return drop_one();
        };
        let Some(tx) = guard.as_ref() else {
            return drop_one();
        };
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        if tx.try_send(body).is_err() {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            drop_one();
        }
    }

    async fn close(&self) -> u64 {
        // Closing the queue lets the worker end once it is drained.
        drop(self.tx.lock().ok().and_then(|mut t| t.take()));
        let task = self.task.lock().ok().and_then(|mut t| t.take());
        if let Some(mut task) = task {
            let timeout = self.sleeper.sleep(self.close_timeout);
            tokio::select! {
                _ = &mut task => {}
                () = timeout => {
                    task.abort();
                    let _ = task.await;
                    let left = self.shared.queued.swap(0, Ordering::AcqRel);
                    self.shared.dropped.fetch_add(left, Ordering::Relaxed);
                }
            }
        }
        self.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whsec_secrets_are_base64_decoded_and_others_used_raw() {
        let k = signing_key("whsec_c2VjcmV0").unwrap();
        assert_eq!(k.expose_secret(), b"secret");
        let k = signing_key("plain").unwrap();
        assert_eq!(k.expose_secret(), b"plain");
        assert!(signing_key("whsec_***").is_err());
    }

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // Example from the Standard Webhooks spec / svix test vectors.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            key.expose_secret(),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[tokio::test]
    async fn debug_redacts_the_secret_and_urls_are_checked() {
        let m = WebhookMonitor::builder("https://hooks.example.com/x?token=abc")
            .secret(SecretString::from("whsec_c2VjcmV0LXZhbHVl"))
            .build()
            .unwrap();
        let dbg = format!("{m:?}");
        assert!(
            !dbg.contains("c2VjcmV0LXZhbHVl") && !dbg.contains("token=abc"),
            "{dbg}"
        );
        assert!(dbg.contains("REDACTED"));
        assert_eq!(m.shown_url(), "https://hooks.example.com");
        let b = WebhookMonitor::builder("https://h/").secret(SecretString::from("topsecret"));
        assert!(!format!("{b:?}").contains("topsecret"));
        for (bad, rule) in [
            ("http://example.com/", "plain http to a non-loopback host"),
            ("ftp://localhost/", "scheme `ftp`"),
            ("https://u:p@h/", "user-info"),
            ("nope", "not a URL"),
        ] {
            match WebhookMonitor::builder(bad).build() {
                Err(EngineError::Setting { problem, .. }) => {
                    assert!(problem.contains(rule), "{bad}: {problem}");
                    assert!(!problem.contains("u:p"), "{bad}: {problem}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        for ok in [
            "http://127.0.0.1:9/",
            "http://localhost:9/",
            "http://[::1]:9/",
        ] {
            assert!(WebhookMonitor::builder(ok).build().is_ok(), "{ok}");
        }
    }
}
