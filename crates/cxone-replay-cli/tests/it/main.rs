//! Process-level tests of the `cxone-replay` binary against an emulator running in the test.
// The test harness captures what tests print; the binary's own writes are what the crate's
// `disallowed-macros` guard.
#![allow(clippy::disallowed_macros)]

mod audit;
mod auth;
mod breaker;
mod canary;
#[cfg(feature = "demo")]
mod demo;
mod dlq;
mod errors;
mod file;
mod hostile;
#[cfg(not(feature = "demo"))]
mod no_demo;
mod observe;
mod options;
mod production;
mod redrive;
mod replay;
mod report;
mod support;
