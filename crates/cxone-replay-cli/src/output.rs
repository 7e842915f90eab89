//! The one way this program writes to stdout and stderr; neither ever panics.
//!
//! - Results go to stdout through [`out`]: a failed write is an error (exit 1: the result did
//!   not reach its reader; what the command did before, a replay's audit records included,
//!   stays done), except a closed pipe (`| head`): the reader has what it wanted, so the
//!   command ends quietly with the exit code it would have had (see [`stdout_error`]).
//! - Diagnostics go to stderr through [`err`]: a failed write is ignored (there is nowhere
//!   left to report it), as the log lines of [`crate::logging`] are.
//!
//! `print!`, `println!`, `eprint!` and `eprintln!` panic when the write fails; the crate's
//! `clippy.toml` forbids them.

use crate::error::CliError;
use std::io::{ErrorKind, Write};

/// Prints `text` on stdout.
///
/// # Errors
/// As [`stdout_error`]: exit 1 for a failed write; a closed pipe is a quiet error that keeps
/// the command's exit code.
pub fn out(text: &str) -> Result<(), CliError> {
    let mut o = std::io::stdout().lock();
    o.write_all(text.as_bytes())
        .and_then(|()| o.flush())
        .map_err(|e| stdout_error(&e))
}

/// Prints `v` as one line of JSON on stdout.
///
/// # Errors
/// Exit 1 if `v` cannot be serialized; as [`out`] otherwise.
pub fn out_json(v: &impl serde::Serialize) -> Result<(), CliError> {
    let mut s = serde_json::to_string(v)
        .map_err(|e| CliError::failed(format!("cannot serialize the output: {e}")))?;
    s.push('\n');
    out(&s)
}

/// What a failed write to stdout means: a closed pipe ([`ErrorKind::BrokenPipe`]: the reader
/// stopped reading, as `head` does) is a [quiet](CliError::is_quiet) end that keeps the
/// command's exit code; anything else (a full disk, an I/O error) is exit 1, reported on
/// stderr.
pub fn stdout_error(e: &std::io::Error) -> CliError {
    if e.kind() == ErrorKind::BrokenPipe {
        CliError::quiet()
    } else {
        CliError::failed(format!("cannot write the result to stdout: {e}"))
    }
}

/// Writes `text` to stderr, ignoring failures (a closed or full stderr): diagnostics must never
/// stop a command or panic.
pub fn err(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes()).and_then(|()| e.flush());
}

/// Writes `line` and a newline to stderr, ignoring failures.
pub fn err_line(line: &str) {
    let mut s = String::with_capacity(line.len() + 1);
    s.push_str(line);
    s.push('\n');
    err(&s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_quiet_and_other_failures_exit_1() {
        let quiet = stdout_error(&std::io::Error::from(ErrorKind::BrokenPipe));
        assert!(quiet.is_quiet());
        let full = stdout_error(&std::io::Error::from(ErrorKind::StorageFull));
        assert!(!full.is_quiet());
        assert_eq!(full.code, crate::error::EXIT_FAILED);
        assert!(
            full.to_string()
                .starts_with("cannot write the result to stdout")
        );
    }
}
