//! Integration tests of the `cxone-eventbridge` client against local HTTP servers
//! (httpmock, and a raw TCP server for broken connections). Time, sleep and jitter are
//! injected: no test waits on the wall clock.

mod auth;
mod dlq;
mod errors;
mod hostile;
mod memory;
mod observe;
mod requests;
mod retry;
mod support;
mod throttle;
mod tls;
