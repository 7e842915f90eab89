//! Integration tests of the replay engine: with in-memory fakes, and end to end against the
//! emulator over real sockets.

mod breaker;
mod emulator;
mod emulator_breaker;
mod engine;
mod fakes;
mod file;
mod hostile;
mod identity;
mod limit;
mod observer;
mod undecodable;
mod webhook;
