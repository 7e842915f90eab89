//! The signals a command answers: SIGINT (Ctrl-C) and SIGTERM stop it cleanly, SIGXFSZ is
//! ignored so that a file-size limit is an ordinary write error.
//!
//! Every handler is a Tokio signal stream: registering one replaces the signal's default action
//! (killing the process) for the rest of the process, without any `unsafe` here.

use crate::error::{CliError, EXIT_INTERRUPTED, EXIT_TERMINATED};
use std::future::Future;

/// A signal that asks a command to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT: Ctrl-C at a terminal.
    Interrupt,
    /// SIGTERM: a supervisor (Kubernetes, systemd, CI) stopping the process.
    Terminate,
}

impl Stop {
    /// The exit code of a command it stopped: 128 + the signal's number (130, 143), as a shell
    /// reports a process the signal killed.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => EXIT_INTERRUPTED,
            Stop::Terminate => EXIT_TERMINATED,
        }
    }

    /// The signal's name.
    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }

    /// What happened, for the line that says the run is draining.
    pub fn what(self) -> &'static str {
        match self {
            Stop::Interrupt => "interrupted",
            Stop::Terminate => "terminated (SIGTERM)",
        }
    }

    /// How to stop at once after this one: send it again (or the other one).
    pub fn again(self) -> &'static str {
        match self {
            Stop::Interrupt => "press Ctrl-C again to stop now",
            Stop::Terminate => "send SIGTERM again to stop now",
        }
    }
}

/// SIGINT and SIGTERM, handled from the moment this is made.
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers the handlers (needs a Tokio runtime).
    ///
    /// # Errors
    /// Exit 1 if the operating system refuses a handler.
    #[cfg(unix)]
    pub fn install() -> Result<Self, CliError> {
        use tokio::signal::unix::{SignalKind, signal};
        let refused =
            |name: &str, e: std::io::Error| CliError::failed(format!("cannot handle {name}: {e}"));
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt()).map_err(|e| refused("SIGINT", e))?,
            terminate: signal(SignalKind::terminate()).map_err(|e| refused("SIGTERM", e))?,
        })
    }

    /// Registers the handlers (elsewhere than Unix: Ctrl-C only).
    ///
    /// # Errors
    /// None here.
    #[cfg(not(unix))]
    pub fn install() -> Result<Self, CliError> {
        Ok(Signals {})
    }

    /// Waits for the next signal; `None` if none can come any more.
    #[cfg(unix)]
    pub async fn next(&mut self) -> Option<Stop> {
        tokio::select! {
            s = self.interrupt.recv() => s.map(|()| Stop::Interrupt),
            s = self.terminate.recv() => s.map(|()| Stop::Terminate),
        }
    }

    /// Waits for the next Ctrl-C.
    #[cfg(not(unix))]
    pub async fn next(&mut self) -> Option<Stop> {
        tokio::signal::ctrl_c().await.ok().map(|()| Stop::Interrupt)
    }
}

/// Runs `command` until it ends or a signal stops it. Stopped, the command's future is dropped
/// (so a file it was writing through a temporary file is removed, nothing half-written is
/// left) and the result is an error with the signal's exit code. For commands without a drain
/// of their own (`dlq ...`): they only read, so stopping them at any point loses nothing.
///
/// # Errors
/// The command's own, or the stop (exit 130 or 143).
pub async fn stoppable<T>(
    command: impl Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    let mut signals = Signals::install()?;
    tokio::select! {
        r = command => r,
        Some(stop) = signals.next() => Err(CliError::with_code(
            stop.exit_code(),
            format!("stopped by {} before the command finished; its output is incomplete", stop.name()),
        )),
    }
}

/// Ignores SIGXFSZ for the rest of the process (needs a Tokio runtime): past a file-size limit
/// (`ulimit -f`), a write then fails with `EFBIG` ("File too large"), which the command reports
/// as the write error it is, instead of the process being killed without a word (exit 153).
///
/// Keep the returned value alive for the process' lifetime (Tokio keeps the handler registered
/// even after it is dropped; holding it makes that explicit). `None` when the handler cannot be
/// registered (the default action then stays; nothing else changes).
#[cfg(unix)]
pub fn ignore_file_size_signal() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::from_raw(libc::SIGXFSZ)).ok()
}

/// Nothing to do where there is no SIGXFSZ.
#[cfg(not(unix))]
pub fn ignore_file_size_signal() -> Option<()> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_128_plus_the_signal() {
        assert_eq!(Stop::Interrupt.exit_code(), 130);
        assert_eq!(Stop::Terminate.exit_code(), 143);
        #[cfg(unix)]
        {
            assert_eq!(i32::from(Stop::Interrupt.exit_code()), 128 + libc::SIGINT);
            assert_eq!(i32::from(Stop::Terminate.exit_code()), 128 + libc::SIGTERM);
        }
        assert_eq!(Stop::Terminate.name(), "SIGTERM");
        assert!(Stop::Terminate.again().contains("SIGTERM"));
    }

    #[tokio::test]
    async fn a_command_that_ends_is_not_stopped() {
        let r = stoppable(async { Ok::<_, CliError>(7) }).await;
        assert_eq!(r.ok(), Some(7));
        let e = stoppable(async { Err::<(), _>(CliError::failed("no")) })
            .await
            .unwrap_err();
        assert_eq!(e.code, 1);
    }
}
