//! `FilterArgs`: which DLQ events a command looks at, shared by `replay` and the `dlq` commands.

use chrono::{DateTime, Utc};
use clap::Args;

/// The event filters. Every criterion that is given must hold (AND); `--event-type` and
/// `--event-id` may be repeated (any of them).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Filters")]
pub struct FilterArgs {
    /// Only events whose last failure is at or after this RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,

    /// Only events whose last failure is before this RFC 3339 time.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,

    /// Only events whose failure reason contains this text (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Only events of this payload type (repeatable: any of them).
    #[arg(long = "event-type", value_name = "TYPE")]
    pub event_types: Vec<String>,

    /// Only these event ids (repeatable).
    #[arg(long = "event-id", value_name = "ID")]
    pub event_ids: Vec<String>,
}

pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e} (use RFC 3339, e.g. 2024-05-10T14:35:00Z)"))
}
