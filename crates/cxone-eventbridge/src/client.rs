//! The [`Client`]: one connection pool, the token cache and the calls of the API (one HTTP
//! exchange with retries is [`exchange`](crate::exchange)'s).

use crate::auth::Auth;
use crate::body::BodyLimit;
use crate::builder::{ClientBuilder, join};
use crate::dlq::DlqRequest;
use crate::error::{DecodeError, Error, GaveUp};
use crate::exchange::Answer;
use crate::observe::{ExchangeObserver, Op};
use crate::runtime::{Clock, Jitter, Sleeper};
use crate::token::{CachedToken, TokenCache};
use bytes::Bytes;
use cxone_replay_domain::{
    DlqPage, FailureClass, IdempotencyKey, PutEventResponse, ReplayPayload, RetryBudget,
    RetryPolicy, Throttling, TokenResponse, check_credential_url, redact_userinfo,
};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use secrecy::ExposeSecret;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use url::Url;

const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The typed async client of the CXone EventBridge DLQ and topic API.
///
/// Cheap to clone (one `Arc`): clones share the connection pool, the token cache, the retry
/// budget and the `Retry-After` hold. `Debug` shows no secret.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) enum TokenEndpoint {
    Fixed(Url),
    Discover {
        discovery: Url,
        found: tokio::sync::OnceCell<Url>,
    },
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) api_prefix: Vec<String>,
    pub(crate) token_endpoint: TokenEndpoint,
    pub(crate) auth: Auth,
    pub(crate) scopes: Option<String>,
    pub(crate) retry: RetryPolicy,
    pub(crate) budget: Mutex<RetryBudget>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sleeper: Arc<dyn Sleeper>,
    pub(crate) jitter: Arc<dyn Jitter>,
    /// 429s, holds and quotas (see `throttle`); the client-wide hold is its `hold_until`.
    pub(crate) throttling: Mutex<Throttling>,
    /// Told about every exchange (see `observe`).
    pub(crate) observer: RwLock<Option<Arc<dyn ExchangeObserver>>>,
    pub(crate) tokens: TokenCache,
    /// The caps of success bodies: DLQ page, token (and discovery), anything else.
    pub(crate) page_limit: BodyLimit,
    pub(crate) token_limit: BodyLimit,
    pub(crate) response_limit: BodyLimit,
    /// Empty pages in a row (each with a new token) after which a DLQ stream gives up.
    pub(crate) max_empty_pages: u32,
    /// The PUT URL of the topic last sent to (replays go topic after topic): built once per
    /// topic, not once per event.
    pub(crate) put_url: Mutex<Option<(Box<str>, Url)>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let token_endpoint = match &i.token_endpoint {
            TokenEndpoint::Fixed(u) => u.as_str().to_string(),
            TokenEndpoint::Discover { discovery, .. } => format!("discover via {discovery}"),
        };
        f.debug_struct("Client")
            .field("base_url", &i.base.as_str())
            .field("api_prefix", &i.api_prefix.join("/"))
            .field("token_endpoint", &token_endpoint)
            .field("auth", &i.auth)
            .field("scopes", &i.scopes)
            .field("retry", &i.retry)
            .field("tokens", &i.tokens)
            .finish_non_exhaustive()
    }
}

/// The result of a topic PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReport {
    /// What the server did with it.
    pub outcome: PutOutcome,
    /// HTTP requests made (token requests not counted).
    pub attempts: u32,
    /// The final HTTP status (`201` or `409`).
    pub status: u16,
}

/// What the server did with a replayed event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PutOutcome {
    /// Accepted now (2xx): the status decides. The server's receipt, when its body was the
    /// expected JSON (`None` otherwise; the oddity is logged at `info`).
    Accepted(Option<PutEventResponse>),
    /// 409: this exact replay (same idempotency key) was already accepted. Not a failure.
    Duplicate,
}

impl Client {
    /// A [`ClientBuilder`] with the defaults.
    #[must_use]
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// Fetches a token now unless a fresh one is cached: fails fast on bad credentials or an
    /// unreachable token endpoint.
    ///
    /// # Errors
    /// The token request's error ([`Error::Status`] with class `UNAUTHORIZED` when the
    /// credentials are refused).
    pub async fn authenticate(&self) -> Result<(), Error> {
        self.token().await.map(|_| ())
    }

    /// The DLQ of `topic`, as a lazy stream (see [`DlqRequest`]).
    pub fn dlq(&self, topic: impl Into<String>) -> DlqRequest {
        DlqRequest::new(self.clone(), topic.into())
    }

    /// Replays `payload` to `topic`: serializes it once and sends it with
    /// [`put_body`](Self::put_body).
    ///
    /// # Errors
    /// As [`put_body`](Self::put_body).
    pub async fn put_event(
        &self,
        topic: &str,
        payload: &ReplayPayload,
    ) -> Result<PutReport, Error> {
        self.put_body(topic, &payload.idempotency_key, payload.to_body())
            .await
    }

    /// Sends pre-serialized bytes (from `cxone_replay_domain::PlannedReplay::body`) as is:
    /// `PUT {base}{prefix}/topics/{topic}/events` with `Content-Type: application/json` and
    /// `Idempotency-Key: {key}`. The same bytes are sent on every attempt. 429, 5xx, connect
    /// errors, resets and time-outs are retried within the retry policy (safe: the key makes
    /// the PUT idempotent); 409 is [`PutOutcome::Duplicate`]. Any 2xx is
    /// [`PutOutcome::Accepted`], whatever its body says.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty topic; [`Error::Status`] for a refused or failing
    /// request; [`Error::Unauthorized`] for a 401 after a token refresh; [`Error::Transport`]
    /// when no response arrived; [`Error::Tls`] for a refused server certificate;
    /// [`Error::BodyTooLarge`] for an answer over
    /// [`max_response_body`](crate::ClientBuilder::max_response_body).
    pub async fn put_body(
        &self,
        topic: &str,
        key: &IdempotencyKey,
        body: Vec<u8>,
    ) -> Result<PutReport, Error> {
        let url = self.put_url(check_topic(topic)?);
        let key = HeaderValue::from_str(key.as_str()).map_err(|_| Error::InvalidArgument {
            name: "key",
            problem: "is not a valid header value".into(),
        })?;
        let body = Bytes::from(body);
        let answer = self
            .execute(
                Op::Put,
                true,
                true,
                self.inner.response_limit,
                &|http: &reqwest::Client| {
                    http.put(url.clone())
                        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                        .header(IDEMPOTENCY_KEY, key.clone())
                        .body(body.clone())
                },
            )
            .await?;
        if answer.status == 409 {
            return Ok(PutReport {
                outcome: PutOutcome::Duplicate,
                attempts: answer.attempts,
                status: 409,
            });
        }
        let accepted = serde_json::from_slice::<PutEventResponse>(&answer.body)
            .inspect_err(|e| {
                tracing::info!(
                    status = answer.status,
                    error = %e,
                    "topic PUT: accepted, but the answer is not the expected JSON"
                );
            })
            .ok();
        Ok(PutReport {
            outcome: PutOutcome::Accepted(accepted),
            attempts: answer.attempts,
            status: answer.status,
        })
    }

    /// Fetches one DLQ page. Returns the page and the HTTP requests made.
    pub(crate) async fn dlq_page(
        &self,
        topic: &str,
        page_size: Option<u32>,
        token: Option<&str>,
    ) -> Result<DlqPage, Error> {
        let url = self.api_url(&["dlq", "events"]);
        let mut query: Vec<(&str, String)> = vec![("topicId", check_topic(topic)?.to_string())];
        if let Some(n) = page_size {
            query.push(("limit", n.to_string()));
        }
        if let Some(t) = token {
            query.push(("nextPageToken", t.to_string()));
        }
        let answer = self
            .execute(
                Op::DlqPage,
                true,
                false,
                self.inner.page_limit,
                &|http: &reqwest::Client| http.get(url.clone()).query(&query),
            )
            .await?;
        DlqPage::from_slice(&answer.body)
            .map_err(|e| self.decode_error("DLQ page", &answer, DecodeError::Domain(e)))
    }

    /// `{base}{prefix}/topics/{topic}/events`, from the one-topic cache when it is the topic
    /// of the last PUT.
    fn put_url(&self, topic: &str) -> Url {
        let mut cached = self
            .inner
            .put_url
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &*cached {
            Some((t, url)) if **t == *topic => url.clone(),
            _ => {
                let url = self.api_url(&["topics", topic, "events"]);
                *cached = Some((topic.into(), url.clone()));
                url
            }
        }
    }

    fn api_url(&self, tail: &[&str]) -> Url {
        let i = &self.inner;
        let segments: Vec<&str> = i
            .api_prefix
            .iter()
            .map(String::as_str)
            .chain(tail.iter().copied())
            .collect();
        join(&i.base, &segments)
    }

    /// A fresh token. Boxed with an explicit `Send`: the token request goes through
    /// `execute`, which calls this (a recursive async call).
    pub(crate) fn token(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Arc<CachedToken>, Error>> + Send + '_>> {
        Box::pin(async move {
            let clock = Arc::clone(&self.inner.clock);
            self.inner
                .tokens
                .get(
                    move || clock.now(),
                    self.inner.sleeper.as_ref(),
                    || self.fetch_token(),
                )
                .await
        })
    }

    async fn token_url(&self) -> Result<Url, Error> {
        match &self.inner.token_endpoint {
            TokenEndpoint::Fixed(url) => Ok(url.clone()),
            TokenEndpoint::Discover { discovery, found } => found
                .get_or_try_init(|| self.discover(discovery))
                .await
                .cloned(),
        }
    }

    async fn discover(&self, discovery: &Url) -> Result<Url, Error> {
        #[derive(serde::Deserialize)]
        struct Oidc {
            token_endpoint: String,
        }
        let answer = self
            .execute(
                Op::Discovery,
                false,
                false,
                self.inner.token_limit,
                &|http: &reqwest::Client| http.get(discovery.clone()),
            )
            .await?;
        let doc: Oidc = serde_json::from_slice(&answer.body)
            .map_err(|e| self.decode_error("OIDC discovery", &answer, DecodeError::Json(e)))?;
        let url = Url::parse(&doc.token_endpoint).map_err(|e| Error::Discovery {
            problem: format!(
                "`{}` is not a URL: {e}",
                redact_userinfo(&doc.token_endpoint)
            ),
        })?;
        check_credential_url(&url).map_err(|rule| Error::Discovery {
            problem: format!("`{}` {rule}", redact_userinfo(url.as_str())),
        })?;
        Ok(url)
    }

    async fn fetch_token(&self) -> Result<TokenResponse, Error> {
        let url = self.token_url().await?;
        let i = &self.inner;
        let result = match &i.auth {
            Auth::ClientCredentials {
                client_id,
                client_secret,
            } => {
                self.execute(
                    Op::Token,
                    false,
                    false,
                    i.token_limit,
                    &|http: &reqwest::Client| {
                        let mut form = vec![
                            ("grant_type", "client_credentials"),
                            ("client_id", client_id.as_str()),
                            ("client_secret", client_secret.expose_secret()),
                        ];
                        if let Some(scope) = &i.scopes {
                            form.push(("scope", scope.as_str()));
                        }
                        http.post(url.clone()).form(&form)
                    },
                )
                .await
            }
            Auth::CxoneAccessKey {
                client_id,
                client_secret,
                access_key_id,
                access_key_secret,
                ..
            } => {
                self.execute(
                    Op::Token,
                    false,
                    false,
                    i.token_limit,
                    &|http: &reqwest::Client| {
                        let mut form = vec![
                            ("grant_type", "password"),
                            ("username", access_key_id.as_str()),
                            ("password", access_key_secret.expose_secret()),
                        ];
                        if let Some(scope) = &i.scopes {
                            form.push(("scope", scope.as_str()));
                        }
                        http.post(url.clone())
                            .basic_auth(client_id, Some(client_secret.expose_secret()))
                            .form(&form)
                    },
                )
                .await
            }
        };
        let answer = result.map_err(|e| match e {
            // The token endpoint refusing the credentials (RFC 6749 uses 400 and 401).
            Error::Status {
                op,
                status: status @ (400 | 401 | 403),
                attempts,
                body,
                request_id,
                ..
            } => Error::Status {
                op,
                status,
                class: FailureClass::Unauthorized,
                attempts,
                gave_up: GaveUp::Permanent,
                body,
                request_id,
            },
            other => other,
        })?;
        // Never keep this body in an error: it holds the access token.
        serde_json::from_slice::<TokenResponse>(&answer.body).map_err(|e| Error::Decode {
            op: "token request",
            status: answer.status,
            attempts: answer.attempts,
            body: None,
            request_id: self.secrets().request_id(&answer.headers),
            source: Arc::new(DecodeError::Json(e)),
        })
    }
}

fn check_topic(topic: &str) -> Result<&str, Error> {
    if topic.trim().is_empty() {
        return Err(Error::InvalidArgument {
            name: "topic",
            problem: "is empty".into(),
        });
    }
    Ok(topic)
}

impl Client {
    fn decode_error(&self, op: &'static str, answer: &Answer, source: DecodeError) -> Error {
        let secrets = self.secrets();
        Error::Decode {
            op,
            status: answer.status,
            attempts: answer.attempts,
            body: secrets.error_body(&answer.body),
            request_id: secrets.request_id(&answer.headers),
            source: Arc::new(source),
        }
    }
}
