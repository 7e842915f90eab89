//! `TopicsArgs` and `FilterArgs`: which DLQ events a command looks at, shared by `replay` and
//! the `dlq` commands.

use crate::error::CliError;
use chrono::{DateTime, Utc};
use clap::Args;
use cxone_replay_domain::EventFilter;
use std::time::Duration;

/// The topics of a command that reads one or more DLQs.
#[derive(Debug, Clone, Default, Args)]
pub struct TopicsArgs {
    /// Topic (repeatable; CXONE_TOPIC_ID may list several, comma-separated).
    #[arg(
        long = "topic",
        env = "CXONE_TOPIC_ID",
        value_name = "ID",
        value_delimiter = ','
    )]
    pub topics: Vec<String>,
}

impl TopicsArgs {
    /// The topics, trimmed, without blanks or repeats, in the order given.
    pub fn list(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self
            .topics
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
        {
            if !out.iter().any(|o| o == t) {
                out.push(t.to_string());
            }
        }
        out
    }

    /// [`TopicsArgs::list`], at least one.
    ///
    /// # Errors
    /// Exit 2 naming `--topic` and `CXONE_TOPIC_ID` when there is none.
    pub fn required(&self) -> Result<Vec<String>, CliError> {
        let topics = self.list();
        if topics.is_empty() {
            return Err(CliError::usage(
                "missing topic: pass --topic (repeatable) or set CXONE_TOPIC_ID",
            ));
        }
        Ok(topics)
    }
}

/// A time given on the command line: an instant, or a duration before "now" (resolved once per
/// command, with the one "now" of that command).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    /// An RFC 3339 instant.
    At(DateTime<Utc>),
    /// This long before now.
    Ago(Duration),
}

impl TimeArg {
    /// The instant, with `now` as the command's now.
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            TimeArg::At(t) => t,
            TimeArg::Ago(d) => chrono::TimeDelta::from_std(d)
                .ok()
                .and_then(|d| now.checked_sub_signed(d))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }
}

/// The event filters. Every criterion that is given must hold (AND); `--event-type` and
/// `--event-id` may be repeated (any of them).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Filters")]
pub struct FilterArgs {
    /// Only events whose last failure is at or after TIME: RFC 3339, or a duration before
    /// now (2h, 2d, 90m).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<TimeArg>,

    /// Only events whose last failure is before TIME (RFC 3339, or a duration before now).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<TimeArg>,

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

impl FilterArgs {
    /// The domain filter, relative times resolved against `now`.
    ///
    /// # Errors
    /// Exit 2 when `--since` is not before `--until`.
    pub fn event_filter(&self, now: DateTime<Utc>) -> Result<EventFilter, CliError> {
        let mut filter = EventFilter::default();
        if let Some(s) = self.since {
            filter = filter.since(s.resolve(now));
        }
        if let Some(u) = self.until {
            filter = filter.until(u.resolve(now));
        }
        if let Some(r) = self.reason.as_deref().filter(|r| !r.is_empty()) {
            filter = filter.reason_contains(r);
        }
        for t in &self.event_types {
            filter = filter.event_type(t.clone());
        }
        if !self.event_ids.is_empty() {
            filter = filter.event_ids(self.event_ids.iter().cloned());
        }
        filter
            .check()
            .map_err(|e| CliError::usage(format!("invalid --since/--until: {e}")))?;
        Ok(filter)
    }
}

/// `--since`/`--until`: an RFC 3339 time, or a duration before now (`2h`, `2d`, `1h30m`).
pub(crate) fn parse_time(s: &str) -> Result<TimeArg, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(TimeArg::At(t.with_timezone(&Utc)));
    }
    match humantime::parse_duration(s) {
        Ok(d) => Ok(TimeArg::Ago(d)),
        Err(_) => Err(format!(
            "`{s}` is neither an RFC 3339 time (e.g. 2024-05-10T14:35:00Z) nor a duration before now (e.g. 2h, 2d, 90m)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_instants_or_durations_before_now() {
        assert_eq!(
            parse_time("2024-05-10T16:35:00+02:00"),
            Ok(TimeArg::At(
                Utc.with_ymd_and_hms(2024, 5, 10, 14, 35, 0).unwrap()
            ))
        );
        assert_eq!(
            parse_time("2h"),
            Ok(TimeArg::Ago(Duration::from_secs(7200)))
        );
        assert_eq!(
            parse_time(" 2d "),
            Ok(TimeArg::Ago(Duration::from_secs(2 * 86_400)))
        );
        assert_eq!(
            parse_time("1h30m"),
            Ok(TimeArg::Ago(Duration::from_secs(5400)))
        );
        for bad in ["2024-05-10", "yesterday", "-2h", "", "2 parsecs"] {
            let e = parse_time(bad).unwrap_err();
            assert!(e.contains("RFC 3339") && e.contains("2h"), "{bad}: {e}");
        }
    }

    #[test]
    fn relative_times_resolve_against_one_now() {
        let now = Utc.with_ymd_and_hms(2024, 5, 10, 12, 0, 0).unwrap();
        let f = FilterArgs {
            since: Some(TimeArg::Ago(Duration::from_secs(2 * 86_400))),
            until: Some(TimeArg::Ago(Duration::from_secs(3600))),
            ..FilterArgs::default()
        };
        let filter = f.event_filter(now).unwrap();
        let at = |ts: &str| {
            cxone_replay_domain::DlqEvent::from_slice(
                format!(r#"{{"eventId":"e","payload":{{}},"lastFailureTimestamp":"{ts}"}}"#)
                    .as_bytes(),
            )
            .unwrap()
        };
        assert!(
            filter.matches(&at("2024-05-08T12:00:00Z")),
            "since is inclusive"
        );
        assert!(!filter.matches(&at("2024-05-08T11:59:59Z")));
        assert!(filter.matches(&at("2024-05-10T10:59:59Z")));
        assert!(
            !filter.matches(&at("2024-05-10T11:00:00Z")),
            "until is exclusive"
        );
        // a relative --since after a relative --until is refused
        let f = FilterArgs {
            since: Some(TimeArg::Ago(Duration::from_secs(60))),
            until: Some(TimeArg::Ago(Duration::from_secs(3600))),
            ..FilterArgs::default()
        };
        assert_eq!(
            f.event_filter(now).unwrap_err().code,
            crate::error::EXIT_USAGE
        );
        // an absurd duration does not overflow
        assert_eq!(
            TimeArg::Ago(Duration::from_secs(u64::MAX)).resolve(now),
            DateTime::<Utc>::MIN_UTC
        );
    }

    #[test]
    fn topics_are_trimmed_and_deduplicated() {
        let t = TopicsArgs {
            topics: vec![" a ".into(), "b".into(), "".into(), "a".into()],
        };
        assert_eq!(t.list(), ["a", "b"]);
        assert!(TopicsArgs::default().required().is_err());
    }
}
