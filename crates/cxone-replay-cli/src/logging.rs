//! Logs on stderr via tracing; lines are written around the progress bar, never through it.

use crate::cli::{Global, LogFormat};
use indicatif::ProgressBar;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The progress bar on screen, if any: log lines suspend it while they are written.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Registers (or clears) the progress bar that log lines must not tear.
pub fn set_active_bar(bar: Option<ProgressBar>) {
    if let Ok(mut slot) = ACTIVE_BAR.lock() {
        *slot = bar;
    }
}

const OUR_CRATES: [&str; 5] = [
    "cxone_replay",
    "cxone_dlq_replay",
    "cxone_eventbridge",
    "cxone_eventbridge_emulator",
    "cxone_replay_domain",
];

/// The TLS certificate verifier's own log targets. Its lines (an `ERROR` for every refused
/// certificate) repeat what our error message says better, with what to do: hidden by default
/// and with `-q`, shown from `-v` on as debug output of those targets.
const VERIFIER_TARGETS: [&str; 2] = ["rustls_platform_verifier", "rustls"];

/// The filter: `-v`/`-q` if given, else `RUST_LOG` if set, else warnings only.
pub fn filter(verbose: u8, quiet: u8, rust_log: Option<&str>) -> EnvFilter {
    let with = |base: &str, ours: Option<&str>, verifier: &str| {
        let mut s = String::from(base);
        if let Some(level) = ours {
            for c in OUR_CRATES {
                s.push_str(&format!(",{c}={level}"));
            }
        }
        for t in VERIFIER_TARGETS {
            s.push_str(&format!(",{t}={verifier}"));
        }
        s
    };
    let directives = match (verbose, quiet) {
        (0, 0) => match rust_log {
            Some(r) if !r.trim().is_empty() => r.to_string(),
            _ => with("warn", None, "off"),
        },
        (1, _) => with("warn", Some("info"), "debug"),
        (2, _) => with("warn", Some("debug"), "debug"),
        (v, _) if v >= 3 => "trace".to_string(),
        (_, 1) => with("error", None, "off"),
        _ => "off".to_string(),
    };
    EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new(with("warn", None, "off")))
}

/// Installs the global subscriber.
pub fn init(g: &Global) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(g.verbose, g.quiet, rust_log.as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(StderrAroundBar)
        .with_target(true);
    let result = match g.log_format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
    if let Err(e) = result {
        crate::output::err_line(&format!("warning: logging is not available: {e}"));
    }
}

/// Makes one [`LineBuffer`] per log event.
struct StderrAroundBar;

impl<'a> MakeWriter<'a> for StderrAroundBar {
    type Writer = LineBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        LineBuffer(Vec::with_capacity(256))
    }
}

/// Collects one log event and writes it to stderr when dropped, with the bar suspended.
struct LineBuffer(Vec<u8>);

impl Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let bar = ACTIVE_BAR.lock().ok().and_then(|b| b.clone());
        let write = || {
            let mut err = std::io::stderr().lock();
            // Nowhere to report a failed write to stderr.
            let _ = err.write_all(&self.0);
        };
        match bar {
            Some(b) => b.suspend(write),
            None => write(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The directives of a filter, in any order.
    fn directives(f: EnvFilter) -> std::collections::BTreeSet<String> {
        f.to_string().split(',').map(str::to_string).collect()
    }

    fn set(d: &[&str]) -> std::collections::BTreeSet<String> {
        d.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn flags_win_over_rust_log() {
        let quiet_verifier = ["rustls_platform_verifier=off", "rustls=off"];
        let mut default = set(&quiet_verifier);
        default.insert("warn".into());
        assert_eq!(directives(filter(0, 0, None)), default);
        assert_eq!(directives(filter(0, 0, Some("debug"))), set(&["debug"]));
        assert!(directives(filter(2, 0, Some("off"))).contains("cxone_eventbridge=debug"));
        let mut errors = set(&quiet_verifier);
        errors.insert("error".into());
        assert_eq!(directives(filter(0, 1, Some("debug"))), errors);
        assert_eq!(filter(0, 2, None).to_string(), "off");
        assert_eq!(filter(3, 0, None).to_string(), "trace");
        // A bad RUST_LOG falls back to the default instead of failing.
        assert_eq!(directives(filter(0, 0, Some("=["))), default);
    }

    #[test]
    fn the_tls_verifiers_lines_show_from_v_on() {
        for v in [1, 2] {
            let d = directives(filter(v, 0, None));
            assert!(d.contains("rustls_platform_verifier=debug"), "{d:?}");
            assert!(d.contains("rustls=debug"), "{d:?}");
            assert!(
                d.contains("warn"),
                "our own errors and warnings stay: {d:?}"
            );
        }
    }
}
