//! Integration tests of the emulator over real loopback sockets with raw reqwest calls.

mod auth;
mod binary;
mod common;
mod dlq;
mod faults;
mod ledger;
mod put;
mod spec;
