#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod config;
mod data;
mod error;
mod faults;
pub mod json_eq;
mod ledger;
mod limit;
mod routes;
mod server;

pub use config::{
    BODY_LIMIT, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_TOPIC, Emulator, EmulatorBuilder,
    VIOLATIONS_KEEP, WEBHOOK_KEEP,
};
pub use data::WINDOW;
pub use error::EmulatorError;
pub use ledger::{Ledger, WebhookDelivery};
pub use limit::{MAX_RATE_LIMIT, RateLimit};
pub use routes::{ROUTE_DISCOVERY, ROUTE_DLQ, ROUTE_OTHER, ROUTE_PUT, ROUTE_TOKEN, ROUTE_WEBHOOK};
pub use server::EmulatorHandle;
