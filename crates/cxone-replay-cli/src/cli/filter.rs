//! `TopicsArgs` and `FilterArgs`: which DLQ events a command looks at, shared by `replay` and
//! the `dlq` commands.

use crate::error::{CliError, chain};
use chrono::{DateTime, Utc};
use clap::Args;
use cxone_dlq_replay::{AuditLog, EngineError, EventSet, Selection};
use cxone_replay_domain::{EventFilter, FailureClass};
use std::path::{Path, PathBuf};
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

    /// Only the event ids listed in FILE, one per line (blank lines and `#` comments ignored);
    /// joins --event-id.
    #[arg(long, value_name = "FILE")]
    pub event_ids_file: Option<PathBuf>,

    /// Only the events whose final outcome in this audit log is FAILED (re-drive failures).
    #[arg(long, value_name = "AUDIT_LOG")]
    pub only_failed: Option<PathBuf>,

    /// With --only-failed: only those that failed with this class (e.g. MAX_RETRIES_EXCEEDED).
    #[arg(long, value_name = "CLASS", requires = "only_failed", value_parser = parse_class)]
    pub only_failed_class: Option<FailureClass>,
}

impl FilterArgs {
    /// The selection: the domain filter (relative times resolved against `now`, the ids of
    /// --event-id and --event-ids-file together) and, with --only-failed, the failed events of
    /// that audit log.
    ///
    /// # Errors
    /// Exit 2 when `--since` is not before `--until`, or a file is missing or lists no id;
    /// exit 1 when a file cannot be read.
    pub fn selection(&self, now: DateTime<Utc>) -> Result<Selection, CliError> {
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
        let mut ids = self.event_ids.clone();
        if let Some(path) = &self.event_ids_file {
            let listed = read_ids_file(path)?;
            if listed.is_empty() {
                return Err(CliError::usage(format!(
                    "{} lists no event ids (--event-ids-file)",
                    path.display()
                )));
            }
            ids.extend(listed);
        }
        if !ids.is_empty() {
            filter = filter.event_ids(ids);
        }
        filter
            .check()
            .map_err(|e| CliError::usage(format!("invalid --since/--until: {e}")))?;
        let only = match &self.only_failed {
            Some(log) => Some(failed_events(log, self.only_failed_class)?),
            None => None,
        };
        Ok(Selection { filter, only })
    }
}

/// The events of `log` whose final outcome is FAILED (with `class`, if given).
fn failed_events(log: &Path, class: Option<FailureClass>) -> Result<EventSet, CliError> {
    let report = AuditLog::failed(log).map_err(|e| match &e {
        EngineError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            CliError::usage(format!("no audit log at {} (--only-failed)", log.display()))
        }
        _ => CliError::failed(chain(&e)),
    })?;
    if report.records == 0 && report.lines > 0 {
        return Err(CliError::failed(format!(
            "{} is not an audit log: none of its {} line(s) is an audit record (--only-failed)",
            log.display(),
            report.lines
        )));
    }
    Ok(report.event_set(class))
}

/// The ids of an ids file: one per line, trimmed; blank lines and lines starting with `#`
/// are skipped.
pub(crate) fn parse_ids(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Reads an `--event-ids-file`.
fn read_ids_file(path: &Path) -> Result<Vec<String>, CliError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_ids(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CliError::usage(format!(
            "no file at {} (--event-ids-file)",
            path.display()
        ))),
        Err(e) => Err(CliError::failed(format!(
            "cannot read {} (--event-ids-file): {e}",
            path.display()
        ))),
    }
}

/// A failure class by its audit-log name, any case.
pub(crate) fn parse_class(s: &str) -> Result<FailureClass, String> {
    FailureClass::ALL
        .iter()
        .copied()
        .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
        .ok_or_else(|| {
            let names: Vec<&str> = FailureClass::ALL.iter().map(|c| c.as_str()).collect();
            format!("`{s}` is not a failure class; one of {}", names.join(", "))
        })
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
        let filter = f.selection(now).unwrap().filter;
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
        assert_eq!(f.selection(now).unwrap_err().code, crate::error::EXIT_USAGE);
        // an absurd duration does not overflow
        assert_eq!(
            TimeArg::Ago(Duration::from_secs(u64::MAX)).resolve(now),
            DateTime::<Utc>::MIN_UTC
        );
    }

    #[test]
    fn ids_files_skip_blanks_and_comments() {
        let text = "# failed on 2024-05-10\n evt_1 \n\n\tevt_2\r\n  # evt_3 is fine\nevt_4 # not a comment\n";
        assert_eq!(parse_ids(text), ["evt_1", "evt_2", "evt_4 # not a comment"]);
        assert!(parse_ids("\n# only comments\n   \n").is_empty());
        assert!(parse_ids("").is_empty());
    }

    #[test]
    fn ids_of_the_file_join_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.txt");
        std::fs::write(&path, "evt_2\n").unwrap();
        let f = FilterArgs {
            event_ids: vec!["evt_1".into()],
            event_ids_file: Some(path.clone()),
            ..FilterArgs::default()
        };
        let sel = f.selection(Utc::now()).unwrap();
        let e = |id: &str| {
            cxone_replay_domain::DlqEvent::from_slice(
                format!(r#"{{"eventId":"{id}","payload":{{}}}}"#).as_bytes(),
            )
            .unwrap()
        };
        assert!(sel.matches("t", &e("evt_1")) && sel.matches("t", &e("evt_2")));
        assert!(!sel.matches("t", &e("evt_3")));
        std::fs::write(&path, "# nothing\n").unwrap();
        assert_eq!(
            f.selection(Utc::now()).unwrap_err().code,
            crate::error::EXIT_USAGE
        );
        let missing = FilterArgs {
            event_ids_file: Some(dir.path().join("nope.txt")),
            ..FilterArgs::default()
        };
        let e = missing.selection(Utc::now()).unwrap_err();
        assert!(e.to_string().contains("--event-ids-file"), "{e}");
    }

    #[test]
    fn classes_by_their_audit_names() {
        assert_eq!(
            parse_class("MAX_RETRIES_EXCEEDED"),
            Ok(FailureClass::MaxRetriesExceeded)
        );
        assert_eq!(
            parse_class("server_transient"),
            Ok(FailureClass::ServerTransient)
        );
        let e = parse_class("BAD").unwrap_err();
        assert!(e.contains("SCHEMA_VIOLATION"), "{e}");
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
