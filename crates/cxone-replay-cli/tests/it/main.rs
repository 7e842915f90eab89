//! Process-level tests of the `cxone-replay` binary against an emulator running in the test.

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
mod redrive;
mod replay;
mod report;
mod support;
