//! `cxone-replay`: the command line.
fn main() {}
