//! Sources of DLQ events other than the API: a DLQ file ([`FileSource`]) and its line format
//! ([`write_line`]), which `dlq export` writes and `replay --from-file` reads.

mod file;
mod line;

pub use file::{DEFAULT_MAX_LINE_BYTES, FileSource, FileTopics};
pub use line::write_line;
