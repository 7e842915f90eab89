//! What can end a command, and the exit code it maps to.

use std::error::Error as StdError;
use std::fmt;
use std::process::ExitCode;

/// Exit code: every eligible event delivered (or already delivered).
pub const EXIT_OK: u8 = 0;
/// Exit code: some events failed, or the run could not finish.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage, configuration or authentication error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: interrupted (Ctrl-C).
pub const EXIT_INTERRUPTED: u8 = 130;

/// A command's failure: a plain message (one line), an optional hint (a second line) and the
/// exit code. Never a Debug dump.
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

    /// Prints `error: ...` (and `hint: ...`) on stderr and returns the exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("error: {}", self.message);
        if let Some(h) = &self.hint {
            eprintln!("  hint: {h}");
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

/// `err: cause: cause ...`, skipping a cause whose text the previous one already contains.
pub fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
