//! `audit summary` and `audit failed`: what the runs recorded in an audit log did. The reading
//! and the aggregation are the engine's (`AuditLog::summary_of`, `AuditLog::failed`).

use crate::cli::{AuditCommand, AuditFailedArgs, AuditSummaryArgs};
use crate::error::{CliError, EXIT_OK, chain};
use crate::output::{out, out_json};
use crate::table::{Align, Table, push_breakdown, status_table, truncate};
use cxone_dlq_replay::{AuditLog, EngineError, FailedReport, LogSummary};
use cxone_replay_domain::ReplayStatus;
use std::path::Path;

/// Runs an `audit` command.
///
/// # Errors
/// Exit 2 for a missing log; exit 1 for one that cannot be read, is not an audit log, or has
/// no such run.
pub fn run(cmd: AuditCommand) -> Result<u8, CliError> {
    match cmd {
        AuditCommand::Summary(a) => summary(&a)?,
        AuditCommand::Failed(a) => failed(&a)?,
        AuditCommand::Report(a) => crate::report::run(&a)?,
    }
    Ok(EXIT_OK)
}

fn summary(a: &AuditSummaryArgs) -> Result<(), CliError> {
    let s = AuditLog::summary_of(&a.path, a.run.as_deref()).map_err(|e| read_error(&a.path, &e))?;
    not_an_audit_log(&a.path, s.is_audit_log(), s.lines)?;
    if let Some(run) = &a.run
        && s.runs.is_empty()
    {
        return Err(
            CliError::failed(format!("no run {run} in {}", a.path.display())).hint(format!(
                "`audit summary {}` lists its runs",
                a.path.display()
            )),
        );
    }
    if a.json {
        out_json(&to_json(&a.path, a.run.as_deref(), &s))?;
    } else {
        out(&render(&a.path, a.run.as_deref(), &s))?;
    }
    Ok(())
}

fn failed(a: &AuditFailedArgs) -> Result<(), CliError> {
    let mut r = AuditLog::failed(&a.path).map_err(|e| read_error(&a.path, &e))?;
    not_an_audit_log(&a.path, r.is_audit_log(), r.lines)?;
    if let Some(c) = a.class {
        r.events.retain(|e| e.error_classification == c);
    }
    if a.json {
        out_json(&failed_json(&a.path, &r))?;
    } else {
        out(&render_failed(&a.path, &r))?;
    }
    Ok(())
}

pub(crate) fn read_error(path: &Path, e: &EngineError) -> CliError {
    match e {
        EngineError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            CliError::usage(format!("no audit log at {}", path.display()))
                .hint("give the path of a replay's --audit-log (default replay_audit_log.jsonl)")
        }
        _ => CliError::failed(chain(e)),
    }
}

pub(crate) fn not_an_audit_log(path: &Path, is_log: bool, lines: u64) -> Result<(), CliError> {
    if is_log {
        return Ok(());
    }
    Err(CliError::failed(format!(
        "{} is not an audit log: none of its {lines} line(s) is an audit record",
        path.display()
    )))
}

/// The summary as one JSON object: the engine's `LogSummary` plus `path` and `run`.
pub fn to_json(path: &Path, run: Option<&str>, s: &LogSummary) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("path".into(), path.display().to_string().into());
        o.insert("run".into(), run.into());
    }
    v
}

/// `audit failed --json`: `path`, `count`, `by_class`, `events` (the engine's `FailedEvent`s),
/// `log_events`, `records`.
pub fn failed_json(path: &Path, r: &FailedReport) -> serde_json::Value {
    serde_json::json!({
        "path": path.display().to_string(),
        "count": r.events.len(),
        "by_class": r.by_class(),
        "events": r.events,
        "log_events": r.log_events,
        "records": r.records,
    })
}

fn millis(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The summary as text.
pub fn render(path: &Path, run: Option<&str>, s: &LogSummary) -> String {
    let mut out = format!("Audit log {}", path.display());
    if let Some(r) = run {
        out.push_str(&format!(", run {r}"));
    }
    out.push_str("\n\n");
    let mut kv = Table::new(&[("", Align::Left), ("", Align::Left)]);
    kv.row([
        "records".to_string(),
        format!("{} ({} lines)", s.records, s.lines),
    ]);
    kv.row([
        "events".to_string(),
        format!(
            "{} ({} with more than one record)",
            s.events, s.events_with_several_records
        ),
    ]);
    kv.row(["runs".to_string(), s.runs.len().to_string()]);
    if let (Some(f), Some(l)) = (s.first, s.last) {
        kv.row(["from".to_string(), millis(f)]);
        kv.row(["to".to_string(), millis(l)]);
    }
    out.push_str(&kv.render_rows(2));
    if !s.runs.is_empty() {
        out.push('\n');
        let mut columns = vec![
            ("RUN", Align::Left),
            ("STARTED", Align::Left),
            ("DURATION", Align::Right),
        ];
        let names: Vec<String> = ReplayStatus::ALL.iter().map(|st| st.to_string()).collect();
        columns.extend(names.iter().map(|n| (n.as_str(), Align::Right)));
        let mut t = Table::new(&columns);
        for r in &s.runs {
            let mut row = vec![
                r.run_id.clone(),
                millis(r.started),
                format!("{:.1} s", r.duration_ms as f64 / 1000.0),
            ];
            row.extend(
                ReplayStatus::ALL
                    .iter()
                    .map(|st| r.counts.get(*st).to_string()),
            );
            t.row(row);
        }
        out.push_str(&t.render(0));
    }
    out.push('\n');
    out.push_str(&status_table("FINAL STATUS", &s.final_counts).render(0));
    push_breakdown(&mut out, "FAILED BY CLASS", &s.failures, 0);
    push_breakdown(&mut out, "SKIPPED BY REASON", &s.skips, 0);
    if let Some(b) = &s.torn_tail {
        out.push_str(&format!(
            "\nwarning: the last line ({}, {} bytes at offset {}) is torn: a write was cut short{}\n",
            b.line,
            b.len,
            b.offset,
            match &b.error {
                Some(e) => format!(" ({e}); it was not counted"),
                None => "; its record still parsed and is counted".to_string(),
            }
        ));
    }
    if !s.malformed.is_empty() {
        let lines: Vec<String> = s
            .malformed
            .iter()
            .take(10)
            .map(|b| b.line.to_string())
            .collect();
        out.push_str(&format!(
            "\nwarning: {} line(s) are not audit records (line {}{})\n",
            s.malformed.len(),
            lines.join(", "),
            if s.malformed.len() > 10 { ", ..." } else { "" }
        ));
    }
    out
}

/// `audit failed` as text: a row per failed event, then the counts and how to re-drive them.
pub fn render_failed(path: &Path, r: &FailedReport) -> String {
    if r.events.is_empty() {
        return format!(
            "No event's final outcome in {} is FAILED ({} events in the log).\n",
            path.display(),
            r.log_events
        );
    }
    let mut t = Table::new(&[
        ("TOPIC", Align::Left),
        ("EVENT ID", Align::Left),
        ("CLASS", Align::Left),
        ("HTTP", Align::Right),
        ("MESSAGE", Align::Left),
    ]);
    for e in &r.events {
        t.row([
            e.topic_id.clone(),
            e.event_id.clone(),
            e.error_classification.to_string(),
            e.http_status.map_or("-".into(), |s| s.to_string()),
            truncate(e.message.as_deref().unwrap_or("-"), 80),
        ]);
    }
    let mut out = t.render(0);
    let classes: Vec<String> = r
        .by_class()
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect();
    let mut topics: Vec<&str> = Vec::new();
    for e in &r.events {
        if !topics.contains(&e.topic_id.as_str()) {
            topics.push(&e.topic_id);
        }
    }
    let topics: String = topics
        .iter()
        .map(|t| format!(" --topic {}", crate::invocation::shell_quote(t)))
        .collect();
    out.push_str(&format!(
        "\n{} event(s) failed ({}), of {} in the log.\nRe-drive them: {} replay{topics} --only-failed {}\n",
        r.events.len(),
        classes.join(", "),
        r.log_events,
        crate::invocation::self_command(),
        crate::invocation::shell_quote(&path.to_string_lossy())
    ));
    out
}
