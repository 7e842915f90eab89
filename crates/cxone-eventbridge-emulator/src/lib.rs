//! A local, stateful emulator of the NICE CXone EventBridge DLQ and topic API.
//!
//! It serves the three calls of the contract (`POST /oauth2/token`,
//! `GET /api/v2/eventbridge/dlq/events`, `PUT /api/v2/eventbridge/topics/{topicId}/events`) as
//! strictly as a real server would, over real sockets, with deterministic seeded DLQ content and
//! deterministic fault injection (latency, 5xx, 429 with `Retry-After`, dropped connections,
//! token expiry). Everything it sees is counted in a [`Ledger`], served as JSON at
//! `GET /__emulator/ledger`; `POST /__emulator/webhook` receives monitoring callbacks.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cxone_eventbridge_emulator::Emulator;
//! use std::time::Duration;
//!
//! let emu = Emulator::builder()
//!     .events(20)
//!     .topics(["a", "b"])
//!     .seed(7)
//!     .fail_5xx(0.1)
//!     .rate_limit_every(50, 1)
//!     .token_ttl(Duration::from_secs(300))
//!     .start()
//!     .await?;
//! assert_eq!(emu.events("a").len() + emu.events("b").len(), 20);
//! assert_eq!(emu.ledger().token_requests, 0);
//! emu.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod data;
mod error;
mod faults;
pub mod json_eq;
mod ledger;
mod routes;
mod server;

pub use config::{
    BODY_LIMIT, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TOPIC, Emulator, EmulatorBuilder,
    VIOLATIONS_KEEP, WEBHOOK_KEEP,
};
pub use data::WINDOW;
pub use error::EmulatorError;
pub use ledger::{Ledger, WebhookDelivery};
pub use routes::{ROUTE_DLQ, ROUTE_OTHER, ROUTE_PUT, ROUTE_TOKEN, ROUTE_WEBHOOK};
pub use server::EmulatorHandle;
