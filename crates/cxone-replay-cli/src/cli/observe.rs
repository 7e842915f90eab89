//! The flags that watch a long run: `--progress`, `--progress-interval`, `--metrics-addr`,
//! `--metrics-linger`.

use super::parse_duration;
use clap::{Args, ValueEnum};
use std::time::Duration;

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// A bar when stderr is a terminal, log lines otherwise.
    Auto,
    /// A bar (nothing when stderr is not a terminal).
    Bar,
    /// A log line every --progress-interval (text, or JSON with --log-format json).
    Log,
    /// Nothing.
    Off,
}

/// `--progress` and `--progress-interval`.
#[derive(Debug, Clone, Args)]
pub struct ProgressArgs {
    /// Progress on stderr: `auto` is a bar on a terminal and log lines otherwise (-q: none).
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Time between two progress log lines (e.g. 10s, 1m; more than zero).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub progress_interval: Duration,
}

/// `--metrics-addr` and `--metrics-linger`.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at http://HOST:PORT/metrics during the run (PORT alone:
    /// 127.0.0.1:PORT; port 0 picks a free one). Any address may be given here; the
    /// environment variable CXONE_METRICS_ADDR is used when the flag is absent and may only
    /// name a loopback address.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// After the summary, keep serving /metrics until one scrape has read the final values,
    /// or DURATION has passed (e.g. 30s), whichever comes first; SIGINT or SIGTERM ends it,
    /// and a run a signal stopped does not linger.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub metrics_linger: Option<Duration>,
}
