//! Startup and the handle of a running emulator.

use crate::config::EmulatorBuilder;
use crate::data;
use crate::error::EmulatorError;
use crate::ledger::Ledger;
use crate::limit::RateLimit;
use crate::routes;
use crate::server::clock::ServerClock;
use crate::server::listener::{ConnTag, DropListener};
use crate::server::state::AppState;
use chrono::Utc;
use cxone_replay_domain::DlqEvent;
use secrecy::ExposeSecret;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Seeds the data, binds the socket and serves on the current runtime (settings already
/// validated).
pub(crate) async fn start(cfg: EmulatorBuilder) -> Result<EmulatorHandle, EmulatorError> {
    let bind_error = |source| EmulatorError::Bind {
        addr: cfg.bind,
        source,
    };
    let listener = TcpListener::bind(cfg.bind).await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let data = data::generate(&cfg);
    // The one wall-clock read: what tokio's "now" stands for, for `processedAt`.
    let clock = ServerClock::anchored_at(Utc::now());
    let state = Arc::new(AppState::new(cfg, data, clock, rand::random()));
    let app = routes::router(Arc::clone(&state));
    let (tx, rx) = oneshot::channel::<()>();
    let server = axum::serve(
        DropListener::new(listener),
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
        state,
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
    state: Arc<AppState>,
    addr: SocketAddr,
    base_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("base_url", &self.base_url)
            .field("config", &self.state.cfg)
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
        &self.state.cfg.client_id
    }

    /// The client secret the token endpoint accepts.
    #[must_use]
    pub fn client_secret(&self) -> &str {
        self.state.cfg.client_secret.expose_secret()
    }

    /// The topics, in the order given.
    #[must_use]
    pub fn topics(&self) -> Vec<String> {
        self.state.cfg.topics.clone()
    }

    /// A snapshot of the ledger.
    #[must_use]
    pub fn ledger(&self) -> Ledger {
        self.state.ledger().snapshot()
    }

    /// The seeded DLQ content of a topic, in listing order (empty for an unknown topic).
    #[must_use]
    pub fn events(&self, topic: &str) -> Vec<DlqEvent> {
        self.state
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
        self.state.tokens.expire_all();
    }

    /// Changes the rate limit while running (`None` lifts it): from now on, requests are judged
    /// by the new limit; the tokens already earned are kept up to its burst.
    ///
    /// # Errors
    /// [`EmulatorError::InvalidConfig`] naming `rate_limit` or `rate_limit_burst` when out of
    /// range (the limit in force is then unchanged).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) -> Result<(), EmulatorError> {
        if let Some(l) = &limit {
            l.check()?;
        }
        self.state.set_rate_limit(limit);
        Ok(())
    }

    /// Answers every replay PUT from now on with `status` (400 to 599), or normally again with
    /// `None`; see [`EmulatorBuilder::put_status`](crate::EmulatorBuilder::put_status).
    ///
    /// # Errors
    /// [`EmulatorError::InvalidConfig`] (setting
    /// `put_status`) for a status outside 400 to 599; nothing changes then.
    pub fn set_put_status(&self, status: Option<u16>) -> Result<(), EmulatorError> {
        if let Some(s) = status {
            crate::config::check_put_status(s)?;
        }
        self.state.set_put_status(status);
        Ok(())
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
