//! Process-level tests of the `cxone-replay` binary against an emulator running in the test.

mod audit;
mod breaker;
#[cfg(feature = "demo")]
mod demo;
mod dlq;
mod errors;
mod hostile;
#[cfg(not(feature = "demo"))]
mod no_demo;
mod options;
mod replay;
mod support;
