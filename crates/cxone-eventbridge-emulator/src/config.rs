//! The emulator's settings and their builder.

use crate::error::EmulatorError;
use crate::limit::RateLimit;
use crate::server::{self, EmulatorHandle};
use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The default topic.
pub const DEFAULT_TOPIC: &str = "topic_pub_conversations";
/// The default client id.
pub const DEFAULT_CLIENT_ID: &str = "demo";
/// The default client secret (a demo value, not a secret).
pub const DEFAULT_CLIENT_SECRET: &str = "demo-secret";
/// The largest PUT body the emulator accepts, as the real bus: 256 KiB.
pub const BODY_LIMIT: usize = 262_144;
/// How many webhook callbacks (bodies and signature headers) the ledger keeps; older ones are
/// counted but dropped.
pub const WEBHOOK_KEEP: usize = 1_000;
/// How many contract-violation descriptions the ledger keeps; all are counted.
pub const VIOLATIONS_KEEP: usize = 10_000;

/// The local CXone EventBridge emulator. Start one with [`Emulator::builder`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use cxone_eventbridge_emulator::Emulator;
///
/// let emu = Emulator::builder().events(10).seed(7).start().await?;
/// assert!(emu.base_url().starts_with("http://127.0.0.1:"));
/// assert_eq!(emu.events("topic_pub_conversations").len(), 10);
/// assert_eq!(emu.ledger().accepted.len(), 0);
/// emu.shutdown().await;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Emulator;

impl Emulator {
    /// A builder with the defaults: 200 events on `topic_pub_conversations`, seed 0,
    /// credentials `demo`/`demo-secret`, token TTL one hour, no faults, page maximum 100,
    /// 1 KiB payloads, no exhausted or oversize events, payload numbers compared by value,
    /// bound to `127.0.0.1:0`.
    #[must_use]
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

/// Settings of an emulator; validated by [`EmulatorBuilder::start`].
#[derive(Clone)]
pub struct EmulatorBuilder {
    pub(crate) events: usize,
    pub(crate) topics: Vec<String>,
    pub(crate) seed: u64,
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) access_key: Option<(String, SecretString)>,
    pub(crate) token_ttl: Duration,
    pub(crate) token_max_uses: Option<u64>,
    pub(crate) latency_fixed: Duration,
    pub(crate) latency_jitter: Duration,
    pub(crate) fail_5xx: f64,
    pub(crate) rate_limit_every: u64,
    pub(crate) retry_after_secs: u64,
    pub(crate) drop_fraction: f64,
    pub(crate) page_max: usize,
    pub(crate) exhausted_fraction: f64,
    pub(crate) oversize_fraction: f64,
    pub(crate) payload_bytes: usize,
    pub(crate) bind: SocketAddr,
    pub(crate) epoch: DateTime<Utc>,
    pub(crate) webhook_status: u16,
    pub(crate) strict_payload: bool,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) rate_limit_headers: bool,
    pub(crate) fan_out: bool,
    pub(crate) put_status: Option<u16>,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        EmulatorBuilder {
            events: 200,
            topics: vec![DEFAULT_TOPIC.to_string()],
            seed: 0,
            client_id: DEFAULT_CLIENT_ID.to_string(),
            client_secret: SecretString::from(DEFAULT_CLIENT_SECRET),
            access_key: None,
            token_ttl: Duration::from_secs(3600),
            token_max_uses: None,
            latency_fixed: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            fail_5xx: 0.0,
            rate_limit_every: 0,
            retry_after_secs: 1,
            drop_fraction: 0.0,
            page_max: 100,
            exhausted_fraction: 0.0,
            oversize_fraction: 0.0,
            payload_bytes: 1024,
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            epoch: Utc
                .with_ymd_and_hms(2024, 5, 1, 0, 0, 0)
                .single()
                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
            webhook_status: 200,
            strict_payload: false,
            rate_limit: None,
            rate_limit_headers: false,
            fan_out: false,
            put_status: None,
        }
    }
}

impl fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorBuilder")
            .field("events", &self.events)
            .field("topics", &self.topics)
            .field("seed", &self.seed)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("access_key_id", &self.access_key.as_ref().map(|(id, _)| id))
            .field("access_key_secret", &"[redacted]")
            .field("token_ttl", &self.token_ttl)
            .field("token_max_uses", &self.token_max_uses)
            .field("latency_fixed", &self.latency_fixed)
            .field("latency_jitter", &self.latency_jitter)
            .field("fail_5xx", &self.fail_5xx)
            .field("rate_limit_every", &self.rate_limit_every)
            .field("retry_after_secs", &self.retry_after_secs)
            .field("drop_fraction", &self.drop_fraction)
            .field("page_max", &self.page_max)
            .field("exhausted_fraction", &self.exhausted_fraction)
            .field("oversize_fraction", &self.oversize_fraction)
            .field("payload_bytes", &self.payload_bytes)
            .field("bind", &self.bind)
            .field("epoch", &self.epoch)
            .field("webhook_status", &self.webhook_status)
            .field("strict_payload", &self.strict_payload)
            .field("rate_limit", &self.rate_limit)
            .field("rate_limit_headers", &self.rate_limit_headers)
            .field("fan_out", &self.fan_out)
            .field("put_status", &self.put_status)
            .finish()
    }
}

impl EmulatorBuilder {
    /// How many DLQ events to seed, spread round-robin over the topics (default 200).
    #[must_use]
    pub fn events(mut self, n: usize) -> Self {
        self.events = n;
        self
    }

    /// The topics (default `["topic_pub_conversations"]`). Names may use ASCII letters,
    /// digits and `_ - . :`.
    #[must_use]
    pub fn topics<I: IntoIterator<Item = S>, S: Into<String>>(mut self, t: I) -> Self {
        self.topics = t.into_iter().map(Into::into).collect();
        self
    }

    /// The seed of the data and of every fault decision (default 0).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The client credentials the token endpoint accepts (default `demo`/`demo-secret`).
    #[must_use]
    pub fn credentials(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = id.into();
        self.client_secret = SecretString::from(secret.into());
        self
    }

    /// Access-key mode, as a real CXone tenant logs in: the token endpoint also serves the
    /// OAuth2 password grant, with this access key id and secret as `username` and `password`
    /// and the client id and secret of [`credentials`](Self::credentials) as HTTP Basic client
    /// authentication (required for this grant). `GET /.well-known/openid-configuration` points
    /// to the token endpoint in every mode. Default: off (client credentials only).
    #[must_use]
    pub fn access_key(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.access_key = Some((id.into(), SecretString::from(secret.into())));
        self
    }

    /// How long an issued token is valid (default one hour). `expires_in` reports it in whole
    /// seconds, rounded up.
    #[must_use]
    pub fn token_ttl(mut self, d: Duration) -> Self {
        self.token_ttl = d;
        self
    }

    /// Expires a token after it authorised `n` API requests: a deterministic "token expired
    /// mid-run" without waiting for the clock (default: no limit).
    #[must_use]
    pub fn token_max_uses(mut self, n: u64) -> Self {
        self.token_max_uses = Some(n);
        self
    }

    /// Latency added to every API request: `fixed` plus a seeded fraction of `jitter`.
    #[must_use]
    pub fn latency(mut self, fixed: Duration, jitter: Duration) -> Self {
        self.latency_fixed = fixed;
        self.latency_jitter = jitter;
        self
    }

    /// The fraction of API requests answered with a 5xx (500, 502, 503 or 504).
    #[must_use]
    pub fn fail_5xx(mut self, fraction: f64) -> Self {
        self.fail_5xx = fraction;
        self
    }

    /// Answers every `k`-th API request with 429 and `Retry-After: retry_after_secs`
    /// (`k == 0` turns it off).
    #[must_use]
    pub fn rate_limit_every(mut self, k: u64, retry_after_secs: u64) -> Self {
        self.rate_limit_every = k;
        self.retry_after_secs = retry_after_secs;
        self
    }

    /// The fraction of API requests whose connection is closed without any response.
    #[must_use]
    pub fn drop_fraction(mut self, fraction: f64) -> Self {
        self.drop_fraction = fraction;
        self
    }

    /// The largest DLQ page; a larger `limit` is capped to it (default 100).
    #[must_use]
    pub fn page_max(mut self, n: usize) -> Self {
        self.page_max = n;
        self
    }

    /// The fraction of events whose `retryCount` is already at the end of a 5-attempt window
    /// (5 to 7), rounded to a whole number of events.
    #[must_use]
    pub fn exhausted_fraction(mut self, f: f64) -> Self {
        self.exhausted_fraction = f;
        self
    }

    /// The fraction of events whose payload alone is over 262,144 bytes, rounded to a whole
    /// number of events (disjoint from the exhausted ones).
    #[must_use]
    pub fn oversize_fraction(mut self, f: f64) -> Self {
        self.oversize_fraction = f;
        self
    }

    /// The approximate size of an ordinary event's payload in bytes (default 1024, at most
    /// 4 MiB); payloads never get smaller than their fixed fields (about 700 bytes).
    #[must_use]
    pub fn payload_bytes(mut self, n: usize) -> Self {
        self.payload_bytes = n;
        self
    }

    /// The address to listen on (default `127.0.0.1:0`, an ephemeral port).
    #[must_use]
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The instant the seeded failure timestamps are spread after (over 14 days); default
    /// 2024-05-01T00:00:00Z. Data never reads the clock.
    #[must_use]
    pub fn epoch(mut self, epoch: DateTime<Utc>) -> Self {
        self.epoch = epoch;
        self
    }

    /// The status `POST /__emulator/webhook` answers with (default 200), to test monitors that
    /// must survive a failing webhook. Callbacks are counted whatever the status.
    #[must_use]
    pub fn webhook_status(mut self, status: u16) -> Self {
        self.webhook_status = status;
        self
    }

    /// Holds `originalPayload` to the DLQ payload's exact number text (default `false`).
    ///
    /// By default a replay's `originalPayload` is accepted when it is equal as JSON to the DLQ
    /// payload with numbers compared by value, as a client that parses JSON and writes it back
    /// produces it (see [`json_eq`](crate::json_eq)); such payloads are counted in
    /// [`Ledger::altered_payloads`](crate::Ledger::altered_payloads). With `strict_payload(true)`
    /// a number written differently (`1e3` for `1000.0`, a long decimal shortened) is a 422, so
    /// a client can be held to sending the payload as it got it.
    #[must_use]
    pub fn strict_payload(mut self, strict: bool) -> Self {
        self.strict_payload = strict;
        self
    }

    /// A token-bucket rate limit over the API routes (DLQ reads and PUTs): a request that finds
    /// the bucket empty is answered `429` with `Retry-After: 1` and counted in
    /// [`Ledger::rate_limited`](crate::Ledger::rate_limited). Default: none.
    /// [`EmulatorHandle::set_rate_limit`](crate::EmulatorHandle::set_rate_limit) changes it
    /// while running.
    #[must_use]
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// While a rate limit is in force, send the IETF `RateLimit-Policy` and `RateLimit` header
    /// fields on every API response (see the README; default `false`).
    #[must_use]
    pub fn rate_limit_headers(mut self, yes: bool) -> Self {
        self.rate_limit_headers = yes;
        self
    }

    /// Seeds every topic with the same events (the same eventIds and payloads, `topicId` set to
    /// each topic): a fan-out, as when one event failed on several topics (default `false`:
    /// the events are spread round-robin over the topics). With it, `events(n)` is the count
    /// per topic.
    #[must_use]
    pub fn fan_out(mut self, yes: bool) -> Self {
        self.fan_out = yes;
        self
    }

    /// Answers every replay PUT with this status (400 to 599) once it has passed the API gate
    /// (faults, token): a replay endpoint that is down (503), refuses the client (401, with
    /// `WWW-Authenticate`, after any number of token refreshes; 403), ... (default: none).
    /// Such answers are counted in `rejections`, never as accepted; the DLQ still reads.
    /// [`EmulatorHandle::set_put_status`](crate::EmulatorHandle::set_put_status) changes it
    /// while the emulator runs.
    #[must_use]
    pub fn put_status(mut self, status: u16) -> Self {
        self.put_status = Some(status);
        self
    }

    /// Validates the settings, seeds the data, binds the socket and starts serving on the
    /// current tokio runtime.
    ///
    /// # Errors
    /// [`EmulatorError::InvalidConfig`] naming the bad setting, or [`EmulatorError::Bind`].
    pub async fn start(self) -> Result<EmulatorHandle, EmulatorError> {
        self.validate()?;
        server::start(self).await
    }

    fn validate(&self) -> Result<(), EmulatorError> {
        let bad = |setting: &'static str, problem: String| {
            Err(EmulatorError::InvalidConfig { setting, problem })
        };
        if self.events > 1_000_000 {
            return bad("events", format!("{} is more than 1,000,000", self.events));
        }
        if self.topics.is_empty() {
            return bad("topics", "at least one topic is needed".into());
        }
        for (i, t) in self.topics.iter().enumerate() {
            if t.is_empty() || t.len() > 255 {
                return bad(
                    "topics",
                    format!("topic #{} must be 1 to 255 bytes long", i + 1),
                );
            }
            if let Some(c) = t
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
            {
                return bad("topics", format!("topic `{t}` contains {c:?}"));
            }
            if self.topics[..i].contains(t) {
                return bad("topics", format!("topic `{t}` is listed twice"));
            }
        }
        if self.client_id.is_empty() {
            return bad("client_id", "is empty".into());
        }
        if self.client_secret.expose_secret().is_empty() {
            return bad("client_secret", "is empty".into());
        }
        if let Some((id, secret)) = &self.access_key {
            if id.is_empty() {
                return bad("access_key_id", "is empty".into());
            }
            if secret.expose_secret().is_empty() {
                return bad("access_key_secret", "is empty".into());
            }
        }
        if self.token_ttl.is_zero() {
            return bad("token_ttl", "must be more than zero".into());
        }
        if self.token_max_uses == Some(0) {
            return bad("token_max_uses", "must be at least 1".into());
        }
        let hour = Duration::from_secs(3600);
        if self.latency_fixed > hour || self.latency_jitter > hour {
            return bad(
                "latency",
                "fixed and jitter must each be at most one hour".into(),
            );
        }
        for (setting, f) in [
            ("fail_5xx", self.fail_5xx),
            ("drop_fraction", self.drop_fraction),
            ("exhausted_fraction", self.exhausted_fraction),
            ("oversize_fraction", self.oversize_fraction),
        ] {
            if !(0.0..=1.0).contains(&f) {
                return bad(setting, format!("{f} is not a fraction from 0 to 1"));
            }
        }
        if self.exhausted_fraction + self.oversize_fraction > 1.0 {
            return bad(
                "oversize_fraction",
                "exhausted and oversize fractions add up to more than 1".into(),
            );
        }
        if self.page_max == 0 || self.page_max > 10_000 {
            return bad(
                "page_max",
                format!("{} is not from 1 to 10,000", self.page_max),
            );
        }
        if self.payload_bytes > 4 * 1024 * 1024 {
            return bad(
                "payload_bytes",
                format!("{} is more than 4 MiB", self.payload_bytes),
            );
        }
        if let Some(limit) = &self.rate_limit {
            limit.check()?;
        }
        if let Some(status) = self.put_status {
            check_put_status(status)?;
        }
        if !(200..=599).contains(&self.webhook_status) {
            return bad(
                "webhook_status",
                format!(
                    "{} is not an HTTP status from 200 to 599",
                    self.webhook_status
                ),
            );
        }
        Ok(())
    }
}

/// A status `put_status` may answer: an error, 400 to 599.
pub(crate) fn check_put_status(status: u16) -> Result<(), EmulatorError> {
    if (400..=599).contains(&status) {
        Ok(())
    } else {
        Err(EmulatorError::InvalidConfig {
            setting: "put_status",
            problem: format!("{status} is not an HTTP error status from 400 to 599"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Emulator::builder().validate().is_ok());
    }

    #[test]
    fn bad_settings_are_named() {
        let cases: Vec<(EmulatorBuilder, &str)> = vec![
            (Emulator::builder().topics(Vec::<String>::new()), "topics"),
            (Emulator::builder().topics(["a/b"]), "topics"),
            (Emulator::builder().topics(["a", "a"]), "topics"),
            (Emulator::builder().credentials("", "x"), "client_id"),
            (Emulator::builder().credentials("x", ""), "client_secret"),
            (Emulator::builder().access_key("", "x"), "access_key_id"),
            (Emulator::builder().access_key("x", ""), "access_key_secret"),
            (Emulator::builder().token_ttl(Duration::ZERO), "token_ttl"),
            (Emulator::builder().token_max_uses(0), "token_max_uses"),
            (Emulator::builder().fail_5xx(1.5), "fail_5xx"),
            (Emulator::builder().drop_fraction(f64::NAN), "drop_fraction"),
            (
                Emulator::builder().exhausted_fraction(-0.1),
                "exhausted_fraction",
            ),
            (
                Emulator::builder()
                    .exhausted_fraction(0.6)
                    .oversize_fraction(0.6),
                "oversize_fraction",
            ),
            (Emulator::builder().page_max(0), "page_max"),
            (Emulator::builder().payload_bytes(5 << 20), "payload_bytes"),
            (Emulator::builder().webhook_status(99), "webhook_status"),
            (Emulator::builder().put_status(201), "put_status"),
            (
                Emulator::builder().rate_limit(RateLimit::new(0)),
                "rate_limit",
            ),
            (
                Emulator::builder().rate_limit(RateLimit::new(10).with_burst(0)),
                "rate_limit_burst",
            ),
            (
                Emulator::builder().latency(Duration::from_secs(4000), Duration::ZERO),
                "latency",
            ),
        ];
        for (b, setting) in cases {
            let err = b.validate().expect_err(setting);
            assert_eq!(err.setting(), Some(setting), "{err}");
        }
    }

    #[test]
    fn debug_redacts_the_secret() {
        let b = Emulator::builder()
            .credentials("id", "s3cr3t-value")
            .access_key("key-id", "ak-s3cr3t-value");
        let dbg = format!("{b:?}");
        assert!(!dbg.contains("s3cr3t-value"), "{dbg}");
        assert!(dbg.contains("key-id"), "{dbg}");
    }
}
