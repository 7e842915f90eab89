//! What can end a command, and the exit code it maps to.

use std::fmt;
use std::process::ExitCode;

/// Exit code: every eligible event delivered (or already delivered).
pub const EXIT_OK: u8 = 0;
/// Exit code: some events failed, or the run could not finish.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage, configuration or authentication error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: interrupted (Ctrl-C, SIGINT): 128 + 2.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code: terminated (SIGTERM): 128 + 15.
pub const EXIT_TERMINATED: u8 = 143;

/// A command's failure: a plain message (one line), an optional hint (a second line) and the
/// exit code. Never a Debug dump. A quiet one (an empty message: stdout was closed by its
/// reader) prints nothing.
#[derive(Debug)]
pub struct CliError {
    pub(crate) code: u8,
    message: String,
    hint: Option<String>,
}

impl CliError {
    /// A usage or configuration error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_USAGE,
            message: message.into(),
            hint: None,
        }
    }

    /// A run-time failure (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_FAILED,
            message: message.into(),
            hint: None,
        }
    }

    /// A failure with its own exit code (a signal's).
    pub fn with_code(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            hint: None,
        }
    }

    /// The end of a command whose stdout its reader closed (`| head`): nothing to report, and
    /// the exit code the command would have had (0 here; a replay keeps its run's).
    pub fn quiet() -> Self {
        CliError::with_code(EXIT_OK, "")
    }

    /// Whether this is [`CliError::quiet`].
    pub fn is_quiet(&self) -> bool {
        self.message.is_empty()
    }

    /// Adds a second line that says how to fix it.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same exit code and hint with another message (for a context that tells the
    /// failure its own way).
    pub fn reworded(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Prints `error: ...` (and `hint: ...`) on stderr (nothing if quiet; a failed write to
    /// stderr is ignored) and returns the exit code.
    pub fn report(&self) -> ExitCode {
        if !self.is_quiet() {
            let mut text = format!("error: {}\n", self.message);
            if let Some(h) = &self.hint {
                text.push_str(&format!("  hint: {h}\n"));
            }
            crate::output::err(&text);
        }
        ExitCode::from(self.code)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// `err: cause: cause ...` (the domain's one way to show an error's chain).
pub use cxone_replay_domain::error_chain as chain;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as StdError;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot open log")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chain_and_codes() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(chain(&e), "cannot open log: disk full");
        let c = CliError::failed(format!("replay: {}", chain(&e)));
        assert_eq!(c.code, EXIT_FAILED);
        assert_eq!(c.to_string(), "replay: cannot open log: disk full");
        let u = CliError::usage("missing x").hint("pass --x");
        assert_eq!(u.code, EXIT_USAGE);
        assert_eq!(u.to_string(), "missing x (pass --x)");
    }
}
