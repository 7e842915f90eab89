//! The emulator's error type.

use std::net::SocketAddr;

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// A builder setting is out of range or inconsistent; names the setting.
    #[error("invalid emulator setting `{setting}`: {problem}")]
    InvalidConfig {
        /// The builder setting (and CLI flag stem) that was wrong.
        setting: &'static str,
        /// What was wrong with it.
        problem: String,
    },
    /// The listening socket could not be bound.
    #[error("cannot bind {addr}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

impl EmulatorError {
    /// Whether trying again unchanged might succeed (a busy port may free up; a bad setting will not).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, EmulatorError::Bind { source, .. }
            if source.kind() == std::io::ErrorKind::AddrInUse)
    }

    /// The setting that was wrong, for configuration errors.
    #[must_use]
    pub fn setting(&self) -> Option<&'static str> {
        match self {
            EmulatorError::InvalidConfig { setting, .. } => Some(setting),
            EmulatorError::Bind { .. } => None,
        }
    }
}
