//! The routes, one file each, and [`router`], which puts them together over an [`AppState`].
//!
//! | route | file |
//! |---|---|
//! | `POST /oauth2/token` | [`token`] |
//! | `GET /.well-known/openid-configuration` | [`discovery`] |
//! | `GET /api/v2/eventbridge/dlq/events` | [`dlq`] |
//! | `PUT /api/v2/eventbridge/topics/{topicId}/events` | [`put`] |
//! | `GET /__emulator/ledger`, `POST /__emulator/webhook`, anything else | [`admin`] |
//!
//! The two API routes pass [`gate::admit`] (fault schedule, then bearer token) before their own
//! checks; the token endpoint, discovery and `/__emulator/*` never do.

mod admin;
mod discovery;
mod dlq;
mod gate;
mod put;
#[cfg(test)]
pub(crate) mod testkit;
mod token;

use crate::server::state::AppState;
use axum::Router;
use axum::routing::{get, post, put};
use std::sync::Arc;

/// Route name of the token endpoint in [`Ledger::requests`](crate::Ledger::requests).
pub const ROUTE_TOKEN: &str = "POST /oauth2/token";
/// Route name of OpenID discovery in [`Ledger::requests`](crate::Ledger::requests).
pub const ROUTE_DISCOVERY: &str = "GET /.well-known/openid-configuration";
/// Route name of the DLQ listing in [`Ledger::requests`](crate::Ledger::requests).
pub const ROUTE_DLQ: &str = "GET /api/v2/eventbridge/dlq/events";
/// Route name of the replay PUT in [`Ledger::requests`](crate::Ledger::requests).
pub const ROUTE_PUT: &str = "PUT /api/v2/eventbridge/topics/{topicId}/events";
/// Route name of the monitoring webhook in [`Ledger::requests`](crate::Ledger::requests).
pub const ROUTE_WEBHOOK: &str = "POST /__emulator/webhook";
/// Route name of anything else in [`Ledger::requests`](crate::Ledger::requests).
pub const ROUTE_OTHER: &str = "OTHER";

/// Every route of the emulator over `state`. The API handlers take the connection's
/// [`ConnTag`](crate::server::listener::ConnTag) as `ConnectInfo` (to drop it on a fault), so
/// serve this with `into_make_service_with_connect_info::<ConnTag>()`, or, in tests, add
/// `MockConnectInfo(ConnTag::default())`.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/oauth2/token", post(token::token))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/api/v2/eventbridge/dlq/events", get(dlq::dlq))
        .route(
            "/api/v2/eventbridge/topics/{topic_id}/events",
            put(put::replay),
        )
        .route("/__emulator/ledger", get(admin::ledger))
        .route("/__emulator/webhook", post(admin::webhook))
        .fallback(admin::fallback)
        .with_state(state)
}
