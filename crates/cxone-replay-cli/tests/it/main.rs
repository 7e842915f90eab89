//! Process-level tests of the `cxone-replay` binary against an emulator running in the test.

mod audit;
mod demo;
mod dlq;
mod errors;
mod options;
mod replay;
mod support;
