//! The server: its builder, its handle, and what it records.

use crate::tls::{ServerCert, TlsListener};
use crate::{Error, Mode, Route, routes};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request the server got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Seen {
    /// Its route.
    pub route: Route,
    /// Its `Authorization` header, if any.
    pub authorization: Option<String>,
    /// Its `nextPageToken` query parameter (DLQ requests).
    pub page_token: Option<String>,
}

/// What the handlers share.
pub(crate) struct State {
    pub(crate) mode: Mode,
    pub(crate) events: usize,
    pub(crate) token_expires_in: u64,
    pub(crate) seen: Mutex<Vec<Seen>>,
    pub(crate) tokens_issued: AtomicU64,
    pub(crate) pages: AtomicU64,
    /// The `client_secret` of the last token request.
    pub(crate) last_secret: Mutex<Option<String>>,
}

impl State {
    pub(crate) fn record(&self, seen: Seen) {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(seen);
    }
}

/// Configures a [`HostileServer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct HostileServerBuilder {
    mode: Mode,
    events: usize,
    token_expires_in: u64,
    tls: Option<ServerCert>,
}

impl Default for HostileServerBuilder {
    fn default() -> Self {
        HostileServerBuilder {
            mode: Mode::Normal,
            events: 3,
            token_expires_in: 3600,
            tls: None,
        }
    }
}

impl HostileServerBuilder {
    /// The break (default [`Mode::Normal`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// How many events the DLQ page holds (default 3): `evt-1` ... `evt-N`.
    pub fn events(mut self, n: usize) -> Self {
        self.events = n;
        self
    }

    /// The `expires_in` of every token (default 3600).
    pub fn token_expires_in(mut self, seconds: u64) -> Self {
        self.token_expires_in = seconds;
        self
    }

    /// Serves HTTPS with `cert` instead of plain HTTP.
    pub fn tls(mut self, cert: ServerCert) -> Self {
        self.tls = Some(cert);
        self
    }

    /// Binds `127.0.0.1` on a free port and starts serving.
    ///
    /// # Errors
    /// [`Error::Bind`] if the socket cannot be bound; [`Error::Tls`] if rustls refuses the
    /// certificate.
    pub async fn start(self) -> Result<HostileServer, Error> {
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::Bind)?;
        let addr = tcp.local_addr().map_err(Error::Bind)?;
        let state = Arc::new(State {
            mode: self.mode,
            events: self.events,
            token_expires_in: self.token_expires_in,
            seen: Mutex::new(Vec::new()),
            tokens_issued: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            last_secret: Mutex::new(None),
        });
        let app = routes::router(Arc::clone(&state));
        let (scheme, task) = match self.tls {
            Some(cert) => {
                let listener = TlsListener {
                    tcp,
                    acceptor: cert.acceptor()?,
                };
                let task = tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                });
                ("https", task)
            }
            None => {
                let task = tokio::spawn(async move {
                    let _ = axum::serve(tcp, app).await;
                });
                ("http", task)
            }
        };
        Ok(HostileServer {
            base_url: format!("{scheme}://{addr}"),
            state,
            task,
        })
    }
}

/// A running hostile server; it stops when dropped.
#[derive(Debug)]
pub struct HostileServer {
    base_url: String,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl HostileServer {
    /// A builder with the defaults: [`Mode::Normal`], 3 events, tokens valid for an hour,
    /// plain HTTP.
    pub fn builder() -> HostileServerBuilder {
        HostileServerBuilder::default()
    }

    /// `http://127.0.0.1:PORT` (or `https://...` with TLS), without a trailing slash.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every request so far, in arrival order.
    #[must_use]
    pub fn seen(&self) -> Vec<Seen> {
        self.state
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests `route` got.
    #[must_use]
    pub fn count(&self, route: Route) -> usize {
        self.seen().iter().filter(|s| s.route == route).count()
    }

    /// Every access token handed out so far ([`issued_token`](crate::issued_token) 1..=N).
    #[must_use]
    pub fn issued_tokens(&self) -> Vec<String> {
        let n = self.state.tokens_issued.load(Ordering::SeqCst);
        (1..=n).map(crate::issued_token).collect()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
