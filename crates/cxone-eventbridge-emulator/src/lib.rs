//! cxone-eventbridge-emulator
#![forbid(unsafe_code)]
#![deny(missing_docs)]
