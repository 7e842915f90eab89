//! The HTTP server: routes, handlers, the connection-dropping listener and the handle.

use crate::config::{BODY_LIMIT, EmulatorBuilder};
use crate::data::{self, Dataset};
use crate::error::EmulatorError;
use crate::faults::{Fault, FaultPlan};
use crate::json_eq::{self, JsonMatch, first_byte};
use crate::ledger::{Ledger, LedgerState, WebhookDelivery};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::serve::{IncomingStream, Listener};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{SecondsFormat, Utc};
use cxone_replay_domain::{DestinationOverride, DlqEvent, IdempotencyKey};
use futures::StreamExt as _;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
// tokio's Instant is std's outside tests; tests can move it with `tokio::time::advance`.
use tokio::time::Instant;

/// Route name of the token endpoint in [`Ledger::requests`].
pub const ROUTE_TOKEN: &str = "POST /oauth2/token";
/// Route name of the DLQ listing in [`Ledger::requests`].
pub const ROUTE_DLQ: &str = "GET /api/v2/eventbridge/dlq/events";
/// Route name of the replay PUT in [`Ledger::requests`].
pub const ROUTE_PUT: &str = "PUT /api/v2/eventbridge/topics/{topicId}/events";
/// Route name of the monitoring webhook in [`Ledger::requests`].
pub const ROUTE_WEBHOOK: &str = "POST /__emulator/webhook";
/// Route name of anything else in [`Ledger::requests`].
pub const ROUTE_OTHER: &str = "OTHER";

const SCOPE_READ: &str = "eventbridge:read";
const SCOPE_WRITE: &str = "eventbridge:write";
const DEFAULT_LIMIT: usize = 50;

// ---------------------------------------------------------------------------------------------
// A listener whose connections a handler can kill (close without a response).

/// Marks one connection; a handler sets `kill` to make the connection fail before any byte of
/// the response is written.
#[derive(Clone, Debug)]
pub(crate) struct ConnTag {
    kill: Arc<AtomicBool>,
}

impl Connected<IncomingStream<'_, DropListener>> for ConnTag {
    fn connect_info(stream: IncomingStream<'_, DropListener>) -> Self {
        stream.remote_addr().clone()
    }
}

pub(crate) struct DropListener {
    inner: TcpListener,
}

impl Listener for DropListener {
    type Io = KillIo;
    type Addr = ConnTag;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    let io = KillIo {
                        inner: stream,
                        kill: Arc::clone(&kill),
                    };
                    return (io, ConnTag { kill });
                }
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) {
                        // Out of file descriptors or similar: back off briefly.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnTag {
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that fails every read and write once killed, so hyper drops the connection
/// without writing the response.
pub(crate) struct KillIo {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by fault injection",
    )
}

impl AsyncRead for KillIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::Acquire) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.kill.load(Ordering::Acquire) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.kill.load(Ordering::Acquire) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.kill.load(Ordering::Acquire) {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------------
// Shared state.

struct TokenInfo {
    expires: Instant,
    read: bool,
    write: bool,
    uses: u64,
}

pub(crate) struct Shared {
    cfg: EmulatorBuilder,
    data: Dataset,
    faults: FaultPlan,
    api_seq: AtomicU64,
    request_seq: AtomicU64,
    token_seq: AtomicU64,
    tokens: Mutex<HashMap<String, TokenInfo>>,
    ledger: Mutex<LedgerState>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps half-updated in a way that matters
    // more than losing the emulator; keep serving.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn ledger(&self) -> MutexGuard<'_, LedgerState> {
        lock(&self.ledger)
    }

    fn request_id(&self) -> String {
        format!(
            "emu-{}",
            self.request_seq.fetch_add(1, Ordering::Relaxed) + 1
        )
    }
}

/// An error response being built; recorded in the ledger when turned into a response.
struct Reject {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    violation: bool,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Reject {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Reject {
            status,
            code,
            message: message.into(),
            field: None,
            violation: false,
            headers: Vec::new(),
        }
    }

    /// A client contract violation naming the field.
    fn field(
        status: StatusCode,
        code: &'static str,
        field: &str,
        message: impl Into<String>,
    ) -> Self {
        Reject {
            field: Some(field.to_string()),
            violation: true,
            ..Reject::new(status, code, message)
        }
    }

    fn schema(field: &str, message: impl Into<String>) -> Self {
        Reject::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "schema_violation",
            field,
            message,
        )
    }

    fn header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    fn respond(self, shared: &Shared, context: &str) -> Response {
        {
            let mut l = shared.ledger();
            l.reject(self.status.as_u16());
            if self.violation {
                let what = match &self.field {
                    Some(f) => format!(
                        "{context}: {} `{f}`: {}",
                        self.status.as_u16(),
                        self.message
                    ),
                    None => format!("{context}: {}: {}", self.status.as_u16(), self.message),
                };
                l.violation(what);
            }
        }
        let mut body = json!({ "error": self.code, "message": self.message });
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        let mut resp = json_response(shared, self.status, body.to_string());
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

fn json_response(shared: &Shared, status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&shared.request_id()) {
        h.insert("x-request-id", v);
    }
    resp
}

// ---------------------------------------------------------------------------------------------
// Start and the handle.

pub(crate) async fn start(cfg: EmulatorBuilder) -> Result<EmulatorHandle, EmulatorError> {
    let data = data::generate(&cfg);
    let listener = TcpListener::bind(cfg.bind)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: cfg.bind,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| EmulatorError::Bind {
            addr: cfg.bind,
            source,
        })?;
    let shared = Arc::new(Shared {
        faults: FaultPlan::from_config(&cfg),
        cfg,
        data,
        api_seq: AtomicU64::new(0),
        request_seq: AtomicU64::new(0),
        token_seq: AtomicU64::new(0),
        tokens: Mutex::new(HashMap::new()),
        ledger: Mutex::new(LedgerState::default()),
    });
    let app = Router::new()
        .route("/oauth2/token", post(token))
        .route("/api/v2/eventbridge/dlq/events", get(dlq))
        .route("/api/v2/eventbridge/topics/{topic_id}/events", put(replay))
        .route("/__emulator/ledger", get(ledger))
        .route("/__emulator/webhook", post(webhook))
        .fallback(fallback)
        .with_state(Arc::clone(&shared));
    let (tx, rx) = oneshot::channel::<()>();
    let server = axum::serve(
        DropListener { inner: listener },
        app.into_make_service_with_connect_info::<ConnTag>(),
    )
    .with_graceful_shutdown(async move {
        let _ = rx.await;
    });
    let task = tokio::spawn(async move {
        // serve only returns on shutdown; accept errors are retried inside the listener.
        let _ = server.await;
    });
    let shown = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    };
    Ok(EmulatorHandle {
        shared,
        addr,
        base_url: format!("http://{shown}"),
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// A running emulator. Dropping it stops the server in the background; [`shutdown`] waits for it.
///
/// [`shutdown`]: EmulatorHandle::shutdown
pub struct EmulatorHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("base_url", &self.base_url)
            .field("config", &self.shared.cfg)
            .finish_non_exhaustive()
    }
}

impl EmulatorHandle {
    /// The base URL, `http://127.0.0.1:PORT` (an unspecified bind address shows as loopback).
    #[must_use]
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// The socket address actually bound.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token endpoint, `base_url + "/oauth2/token"`.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("{}/oauth2/token", self.base_url)
    }

    /// The client id the token endpoint accepts.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.shared.cfg.client_id
    }

    /// The client secret the token endpoint accepts.
    #[must_use]
    pub fn client_secret(&self) -> &str {
        self.shared.cfg.client_secret.expose_secret()
    }

    /// The topics, in the order given.
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        self.shared.cfg.topics.clone()
    }

    /// A snapshot of the ledger.
    #[must_use]
    pub fn ledger(&self) -> Ledger {
        self.shared.ledger().snapshot()
    }

    /// The seeded DLQ content of a topic, in listing order (empty for an unknown topic).
    #[must_use]
    pub fn events(&self, topic: &str) -> Vec<DlqEvent> {
        self.shared
            .data
            .topics
            .get(topic)
            .map(|t| t.entries.iter().map(|e| e.event.clone()).collect())
            .unwrap_or_default()
    }

    /// The monitoring webhook, `base_url + "/__emulator/webhook"`.
    #[must_use]
    pub fn webhook_url(&self) -> String {
        format!("{}/__emulator/webhook", self.base_url)
    }

    /// Expires every token issued so far: the next API call with one gets a 401.
    pub fn expire_tokens(&self) {
        lock(&self.shared.tokens).clear();
    }

    /// Stops accepting connections, lets requests in progress finish, and waits for the server.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Token endpoint.

/// Decodes `application/x-www-form-urlencoded` text; `None` if a percent escape or the UTF-8 is bad.
pub(crate) fn parse_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    fn decode(s: &[u8]) -> Option<String> {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = s.get(i + 1..i + 3)?;
                    let hex = std::str::from_utf8(hex).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let k = decode(it.next().unwrap_or_default())?;
            let v = decode(it.next().unwrap_or_default())?;
            Some((k, v))
        })
        .collect()
}

fn oauth_error(
    shared: &Shared,
    status: StatusCode,
    code: &'static str,
    description: &str,
) -> Response {
    shared.ledger().reject(status.as_u16());
    let body = json!({ "error": code, "error_description": description });
    let mut resp = json_response(shared, status, body.to_string());
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn token(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    {
        let mut l = shared.ledger();
        l.request(ROUTE_TOKEN);
        l.ledger.token_requests += 1;
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return oauth_error(
            &shared,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let Some(form) = parse_form(&body) else {
        return oauth_error(
            &shared,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "malformed form body",
        );
    };
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    match get("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                &shared,
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
        None => {
            return oauth_error(
                &shared,
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            );
        }
    }
    // Credentials from the form, or from HTTP Basic.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        });
    let (id, secret) = match (get("client_id"), get("client_secret"), &basic) {
        (Some(id), Some(secret), _) => (id.to_string(), secret.to_string()),
        (_, _, Some((id, secret))) => (id.clone(), secret.clone()),
        _ => {
            return oauth_error(
                &shared,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client credentials are missing",
            );
        }
    };
    if id != shared.cfg.client_id || secret != shared.cfg.client_secret.expose_secret() {
        return oauth_error(
            &shared,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    }
    let requested: Vec<&str> = match get("scope") {
        Some(s) => s.split(' ').filter(|s| !s.is_empty()).collect(),
        None => vec![SCOPE_READ, SCOPE_WRITE],
    };
    if let Some(bad) = requested
        .iter()
        .find(|s| **s != SCOPE_READ && **s != SCOPE_WRITE)
    {
        return oauth_error(
            &shared,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("unknown scope `{bad}`"),
        );
    }
    let read = requested.contains(&SCOPE_READ);
    let write = requested.contains(&SCOPE_WRITE);
    let mut granted = Vec::new();
    if read {
        granted.push(SCOPE_READ);
    }
    if write {
        granted.push(SCOPE_WRITE);
    }
    let seq = shared.token_seq.fetch_add(1, Ordering::Relaxed);
    let nonce = Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    let access_token = format!(
        "emu.{}.{:016x}{:016x}",
        seq + 1,
        crate::faults::mix(shared.cfg.seed ^ seq),
        crate::faults::mix(nonce ^ seq)
    );
    let ttl = shared.cfg.token_ttl;
    lock(&shared.tokens).insert(
        access_token.clone(),
        TokenInfo {
            expires: Instant::now() + ttl,
            read,
            write,
            uses: 0,
        },
    );
    shared.ledger().ledger.tokens_issued += 1;
    let expires_in = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": granted.join(" "),
    });
    let mut resp = json_response(&shared, StatusCode::OK, body.to_string());
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

// ---------------------------------------------------------------------------------------------
// API helpers: faults and auth.

/// Applies latency and the seeded fault of this request; `Some` is the response to send.
async fn inject(shared: &Shared, conn: &ConnTag) -> Option<Response> {
    let n = shared.api_seq.fetch_add(1, Ordering::Relaxed);
    if shared.faults.is_quiet() {
        return None;
    }
    let latency = shared.faults.latency(n);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match shared.faults.fault(n) {
        Fault::None => None,
        Fault::Drop => {
            shared.ledger().ledger.dropped += 1;
            conn.kill.store(true, Ordering::Release);
            Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Fault::RateLimited { retry_after_secs } => Some(
            Reject::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests",
            )
            .header(header::RETRY_AFTER, &retry_after_secs.to_string())
            .respond(shared, "fault"),
        ),
        Fault::ServerError(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            Some(
                Reject::new(status, "server_error", "injected server error")
                    .respond(shared, "fault"),
            )
        }
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Write,
}

fn authorize(shared: &Shared, headers: &HeaderMap, need: Need) -> Result<(), Reject> {
    let unauthorized = |code: &'static str, msg: &str, challenge: &str| {
        Reject::new(StatusCode::UNAUTHORIZED, code, msg).header(header::WWW_AUTHENTICATE, challenge)
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("unauthorized", "a Bearer token is required", "Bearer"))?;
    let mut tokens = lock(&shared.tokens);
    let invalid = || {
        unauthorized(
            "invalid_token",
            "the access token is invalid or expired",
            "Bearer error=\"invalid_token\"",
        )
    };
    let Some(info) = tokens.get_mut(token) else {
        return Err(invalid());
    };
    let used_up = shared
        .cfg
        .token_max_uses
        .is_some_and(|max| info.uses >= max);
    if Instant::now() >= info.expires || used_up {
        tokens.remove(token);
        return Err(invalid());
    }
    info.uses += 1;
    let (ok, scope) = match need {
        Need::Read => (info.read, SCOPE_READ),
        Need::Write => (info.write, SCOPE_WRITE),
    };
    if ok {
        Ok(())
    } else {
        Err(Reject::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("the token lacks scope {scope}"),
        )
        .header(
            header::WWW_AUTHENTICATE,
            &format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\""),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// DLQ listing.

fn encode_page_token(topic: &str, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{offset}:{topic}"))
}

fn decode_page_token(token: &str, topic: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix("v1:")?;
    let (offset, t) = rest.split_once(':')?;
    (t == topic).then_some(())?;
    offset.parse().ok()
}

async fn dlq(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnTag>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    shared.ledger().request(ROUTE_DLQ);
    if let Some(resp) = inject(&shared, &conn).await {
        return resp;
    }
    match dlq_page(&shared, &headers, &uri) {
        Ok(body) => json_response(&shared, StatusCode::OK, body),
        Err(r) => r.respond(&shared, "GET dlq/events"),
    }
}

fn dlq_page(shared: &Shared, headers: &HeaderMap, uri: &Uri) -> Result<String, Reject> {
    authorize(shared, headers, Need::Read)?;
    let bad = |field: &str, msg: String| {
        Reject::field(StatusCode::BAD_REQUEST, "invalid_request", field, msg)
    };
    let Query(params) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| bad("query", format!("malformed query string: {e}")))?;
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let topic = get("topicId")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("topicId", "topicId is required".into()))?;
    let limit = match get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(bad(
                    "limit",
                    format!("limit must be a whole number >= 1, got `{l}`"),
                ));
            }
        },
    }
    .min(shared.cfg.page_max);
    let offset = match get("nextPageToken") {
        None => 0,
        Some(t) => decode_page_token(t, topic).ok_or_else(|| {
            bad(
                "nextPageToken",
                "nextPageToken is not one this topic issued".into(),
            )
        })?,
    };
    let entries = shared
        .data
        .topics
        .get(topic)
        .map_or(&[][..], |t| &t.entries[..]);
    let start = offset.min(entries.len());
    let end = start.saturating_add(limit).min(entries.len());
    let next = (end < entries.len()).then(|| encode_page_token(topic, end));
    Ok(data::page_json(&entries[start..end], next.as_deref()))
}

// ---------------------------------------------------------------------------------------------
// Replay PUT.

struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared) -> Self {
        let mut l = shared.ledger();
        l.request(ROUTE_PUT);
        l.in_flight += 1;
        l.ledger.max_in_flight = l.ledger.max_in_flight.max(l.in_flight);
        InFlight(shared)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut l = self.0.ledger();
        l.in_flight = l.in_flight.saturating_sub(1);
    }
}

async fn replay(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnTag>,
    Path(topic): Path<String>,
    request: Request,
) -> Response {
    let _guard = InFlight::enter(&shared);
    let (parts, body) = request.into_parts();
    // Read (or drain) the body before answering anything, so that an early answer never races
    // a reset of the unread request bytes.
    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let bytes = read_body(body, length).await;
    if let Some(resp) = inject(&shared, &conn).await {
        return resp;
    }
    let key_header = parts
        .headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let context = format!(
        "PUT topics/{topic}/events [{}]",
        key_header.as_deref().unwrap_or("no Idempotency-Key")
    );
    match replay_inner(
        &shared,
        &parts.headers,
        &topic,
        key_header.as_deref(),
        bytes,
    ) {
        Ok(resp) => resp,
        Err(r) => r.respond(&shared, &context),
    }
}

/// Deserializes a present field, `null` included, as `Some` (plain `Option` would turn `null`
/// into `None`, indistinguishable from a missing field).
fn present_raw<'de, D>(d: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPayload<'a> {
    #[serde(borrow, default, deserialize_with = "present_raw")]
    event_id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    idempotency_key: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    original_payload: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    retry_matrix: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    routing_directive: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    replay_metadata: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMatrix<'a> {
    #[serde(borrow, default, deserialize_with = "present_raw")]
    current_attempt: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    max_allowed: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    first_failure: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    last_failure: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    failure_reason: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRouting<'a> {
    #[serde(borrow, default, deserialize_with = "present_raw")]
    destination_override: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    preserve_original_topic: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetadata<'a> {
    #[serde(borrow, default, deserialize_with = "present_raw")]
    initiated_at: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present_raw")]
    client_version: Option<&'a RawValue>,
}

fn present<'a>(field: &str, v: Option<&'a RawValue>) -> Result<&'a RawValue, Reject> {
    v.ok_or_else(|| Reject::schema(field, "is required"))
}

fn object<'a, T: Deserialize<'a>>(field: &str, v: &'a RawValue) -> Result<T, Reject> {
    if first_byte(v) != b'{' {
        return Err(Reject::schema(field, "must be a JSON object"));
    }
    serde_json::from_str(v.get()).map_err(|e| Reject::schema(field, format!("is malformed: {e}")))
}

fn string(field: &str, v: &RawValue) -> Result<String, Reject> {
    match serde_json::from_str::<String>(v.get()) {
        Ok(s) if !s.is_empty() => Ok(s),
        Ok(_) => Err(Reject::schema(field, "must not be empty")),
        Err(_) => Err(Reject::schema(field, "must be a string")),
    }
}

fn nullable_string(field: &str, v: &RawValue) -> Result<Option<String>, Reject> {
    serde_json::from_str::<Option<String>>(v.get())
        .map_err(|_| Reject::schema(field, "must be a string or null"))
}

fn nullable_timestamp(field: &str, v: &RawValue) -> Result<(), Reject> {
    if let Some(s) = nullable_string(field, v)? {
        chrono::DateTime::parse_from_rfc3339(&s)
            .map_err(|_| Reject::schema(field, format!("`{s}` is not an RFC 3339 timestamp")))?;
    }
    Ok(())
}

fn positive(field: &str, v: &RawValue) -> Result<u32, Reject> {
    match serde_json::from_str::<u32>(v.get()) {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(Reject::schema(field, "must be a whole number >= 1")),
    }
}

/// The checked parts of a replay payload the server needs.
struct Checked<'a> {
    event_id: String,
    key: String,
    original: &'a RawValue,
}

fn check_payload<'a>(p: &RawPayload<'a>, key_header: &str) -> Result<Checked<'a>, Reject> {
    let event_id = string("eventId", present("eventId", p.event_id)?)?;
    let key_raw = present("idempotencyKey", p.idempotency_key)?;
    let key = string("idempotencyKey", key_raw)?;
    IdempotencyKey::new(key.as_str())
        .map_err(|e| Reject::schema("idempotencyKey", e.to_string()))?;
    let original = present("originalPayload", p.original_payload)?;
    if first_byte(original) != b'{' {
        return Err(Reject::schema("originalPayload", "must be a JSON object"));
    }
    let m: RawMatrix<'_> = object("retryMatrix", present("retryMatrix", p.retry_matrix)?)?;
    let current = positive(
        "retryMatrix.currentAttempt",
        present("retryMatrix.currentAttempt", m.current_attempt)?,
    )?;
    let max = positive(
        "retryMatrix.maxAllowed",
        present("retryMatrix.maxAllowed", m.max_allowed)?,
    )?;
    nullable_timestamp(
        "retryMatrix.firstFailure",
        present("retryMatrix.firstFailure", m.first_failure)?,
    )?;
    nullable_timestamp(
        "retryMatrix.lastFailure",
        present("retryMatrix.lastFailure", m.last_failure)?,
    )?;
    nullable_string(
        "retryMatrix.failureReason",
        present("retryMatrix.failureReason", m.failure_reason)?,
    )?;
    let r: RawRouting<'_> = object(
        "routingDirective",
        present("routingDirective", p.routing_directive)?,
    )?;
    let dest_raw = present(
        "routingDirective.destinationOverride",
        r.destination_override,
    )?;
    let dest = nullable_string("routingDirective.destinationOverride", dest_raw)?;
    if dest.is_some() {
        serde_json::from_str::<DestinationOverride>(dest_raw.get())
            .map_err(|e| Reject::schema("routingDirective.destinationOverride", e.to_string()))?;
    }
    let preserve = serde_json::from_str::<bool>(
        present(
            "routingDirective.preserveOriginalTopic",
            r.preserve_original_topic,
        )?
        .get(),
    )
    .map_err(|_| {
        Reject::schema(
            "routingDirective.preserveOriginalTopic",
            "must be a boolean",
        )
    })?;
    let md: RawMetadata<'_> = object(
        "replayMetadata",
        present("replayMetadata", p.replay_metadata)?,
    )?;
    let initiated = string(
        "replayMetadata.initiatedAt",
        present("replayMetadata.initiatedAt", md.initiated_at)?,
    )?;
    chrono::DateTime::parse_from_rfc3339(&initiated).map_err(|_| {
        Reject::schema(
            "replayMetadata.initiatedAt",
            format!("`{initiated}` is not an RFC 3339 timestamp"),
        )
    })?;
    string(
        "replayMetadata.clientVersion",
        present("replayMetadata.clientVersion", md.client_version)?,
    )?;
    // Rules across fields.
    if key != key_header {
        return Err(Reject::schema(
            "idempotencyKey",
            format!(
                "body idempotencyKey `{key}` differs from the Idempotency-Key header `{key_header}`"
            ),
        ));
    }
    if current > max {
        return Err(Reject::schema(
            "retryMatrix.currentAttempt",
            format!("currentAttempt {current} exceeds maxAllowed {max}"),
        ));
    }
    if preserve != dest.is_none() {
        return Err(Reject::schema(
            "routingDirective.preserveOriginalTopic",
            "must be true exactly when destinationOverride is null",
        ));
    }
    Ok(Checked {
        event_id,
        key,
        original,
    })
}

/// Bodies larger than this are not even drained: the connection is closed after the 413.
const DRAIN_MAX: usize = 8 * 1024 * 1024;

fn too_large() -> Reject {
    Reject::field(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "body",
        format!("the body is over {BODY_LIMIT} bytes"),
    )
}

/// Reads the body up to [`BODY_LIMIT`]; a larger one is drained (up to [`DRAIN_MAX`]) and is a 413.
async fn read_body(body: Body, length: Option<usize>) -> Result<Vec<u8>, Reject> {
    if length.is_some_and(|n| n > DRAIN_MAX) {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(length.unwrap_or(8192).min(BODY_LIMIT));
    let mut seen = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            Reject::field(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "body",
                format!("unreadable body: {e}"),
            )
        })?;
        seen += chunk.len();
        if seen > DRAIN_MAX {
            return Err(too_large());
        }
        if seen <= BODY_LIMIT {
            buf.extend_from_slice(&chunk);
        }
    }
    if seen > BODY_LIMIT {
        return Err(too_large());
    }
    Ok(buf)
}

fn replay_inner(
    shared: &Shared,
    headers: &HeaderMap,
    topic: &str,
    key_header: Option<&str>,
    body: Result<Vec<u8>, Reject>,
) -> Result<Response, Reject> {
    authorize(shared, headers, Need::Write)?;
    let Some(topic_data) = shared.data.topics.get(topic) else {
        return Err(Reject::field(
            StatusCode::NOT_FOUND,
            "topic_not_found",
            "topicId",
            format!("topic `{topic}` does not exist"),
        ));
    };
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !json_type {
        return Err(Reject::field(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type",
            "Content-Type must be application/json",
        ));
    }
    let key_header = match (headers.get("idempotency-key"), key_header) {
        (None, _) => {
            return Err(Reject::field(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Idempotency-Key",
                "the Idempotency-Key header is required",
            ));
        }
        (Some(_), None) => {
            return Err(Reject::field(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Idempotency-Key",
                "the Idempotency-Key header must be visible ASCII",
            ));
        }
        (Some(_), Some("")) => {
            return Err(Reject::field(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Idempotency-Key",
                "the Idempotency-Key header is empty",
            ));
        }
        (Some(_), Some(k)) => k,
    };
    let bytes = body?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Reject::field(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "body",
            "the body is not UTF-8",
        )
    })?;
    let whole: &RawValue = serde_json::from_str(text).map_err(|e| {
        Reject::field(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "body",
            format!("the body is not JSON: {e}"),
        )
    })?;
    let payload: RawPayload<'_> = object("body", whole)?;
    let checked = check_payload(&payload, key_header)?;
    let Some(&index) = topic_data.by_id.get(&checked.event_id) else {
        return Err(Reject::field(
            StatusCode::NOT_FOUND,
            "event_not_found",
            "eventId",
            format!(
                "event `{}` is not in the DLQ of topic `{topic}`",
                checked.event_id
            ),
        ));
    };
    let entry = &topic_data.entries[index];
    let dlq_payload = entry.event.payload.as_deref();
    let matched = dlq_payload.map_or(JsonMatch::Different, |p| {
        json_eq::compare(p, checked.original)
    });
    if matched == JsonMatch::Different {
        return Err(Reject::schema(
            "originalPayload",
            "differs from the DLQ event's payload (numbers are compared by their exact text)",
        ));
    }
    let accepted = {
        let mut l = shared.ledger();
        if matched == JsonMatch::Equivalent {
            l.ledger.non_byte_identical_payloads += 1;
        }
        if l.ledger.accepted_keys.contains_key(&checked.key) {
            l.ledger.duplicates += 1;
            false
        } else {
            l.ledger.accepted_keys.insert(checked.key.clone(), 1);
            *l.ledger
                .accepted
                .entry(checked.event_id.clone())
                .or_default() += 1;
            true
        }
    };
    if !accepted {
        let body = json!({
            "error": "duplicate",
            "message": format!("idempotency key `{}` was already accepted", checked.key),
            "eventId": checked.event_id,
        });
        return Ok(json_response(
            shared,
            StatusCode::CONFLICT,
            body.to_string(),
        ));
    }
    let body = json!({
        "eventId": checked.event_id,
        "status": "queued",
        "routingStatus": "delivered",
        "processedAt": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
    });
    Ok(json_response(shared, StatusCode::CREATED, body.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Emulator routes.

async fn ledger(State(shared): State<Arc<Shared>>) -> Response {
    let snapshot = shared.ledger().snapshot();
    let body = serde_json::to_string(&snapshot).unwrap_or_else(|_| "{}".into());
    json_response(&shared, StatusCode::OK, body)
}

async fn webhook(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let value = serde_json::from_slice::<serde_json::Value>(&body)
        .unwrap_or_else(|_| serde_json::Value::String(text.clone()));
    let delivery = WebhookDelivery {
        webhook_id: header_text("webhook-id"),
        webhook_timestamp: header_text("webhook-timestamp"),
        webhook_signature: header_text("webhook-signature"),
        content_type: header_text("content-type"),
        body: text,
    };
    {
        let mut l = shared.ledger();
        l.request(ROUTE_WEBHOOK);
        l.webhook(value, delivery);
    }
    let status = StatusCode::from_u16(shared.cfg.webhook_status).unwrap_or(StatusCode::OK);
    json_response(&shared, status, json!({ "received": true }).to_string())
}

async fn fallback(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    shared.ledger().request(ROUTE_OTHER);
    let body = json!({ "error": "not_found", "message": format!("no route for {}", uri.path()) });
    json_response(&shared, StatusCode::NOT_FOUND, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        let f = parse_form(
            b"grant_type=client_credentials&scope=eventbridge%3Aread+eventbridge:write&x=",
        )
        .expect("valid form");
        assert_eq!(f[0], ("grant_type".into(), "client_credentials".into()));
        assert_eq!(
            f[1],
            ("scope".into(), "eventbridge:read eventbridge:write".into())
        );
        assert_eq!(f[2], ("x".into(), String::new()));
        assert!(parse_form(b"a=%zz").is_none());
        assert!(parse_form(b"a=%4").is_none());
        assert!(parse_form(b"a=%ff").is_none(), "not UTF-8");
    }

    #[test]
    fn page_tokens_are_opaque_and_topic_bound() {
        let t = encode_page_token("topic_a", 50);
        assert!(!t.contains("50"));
        assert_eq!(decode_page_token(&t, "topic_a"), Some(50));
        assert_eq!(decode_page_token(&t, "topic_b"), None);
        assert_eq!(decode_page_token("garbage!", "topic_a"), None);
    }
}
