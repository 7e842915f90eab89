//! `audit report`'s flags.

use clap::{Args, ValueEnum};
use cxone_dlq_replay::ReportOptions;
use std::path::PathBuf;

/// `audit report`.
#[derive(Debug, Args)]
pub struct AuditReportArgs {
    /// The audit log (JSON Lines).
    #[arg(value_name = "AUDIT_LOG")]
    pub path: PathBuf,
    /// Only the records of this run.
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run: Option<String>,
    /// The file to write; `-` for stdout. Written to a temporary file beside it and renamed
    /// when complete (an existing FILE is replaced; the audit log itself never is).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// `html`: one self-contained page (inline SVG charts, no scripts, no network requests);
    /// `json`: the same aggregates, for dashboards.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// List at most N failed events (0 ..= 100000); the rest are counted.
    #[arg(long, value_name = "N", default_value_t = ReportOptions::DEFAULT_FAILED_ROWS)]
    pub failed_rows: usize,
    /// Draw records over time in at most N bins (2 ..= 10000): one second each, or the
    /// smallest power of two seconds that fits the log's time span.
    #[arg(long, value_name = "N", default_value_t = ReportOptions::DEFAULT_MAX_BINS)]
    pub max_bins: usize,
}

/// The format of `audit report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A self-contained HTML page.
    Html,
    /// One JSON object.
    Json,
}
