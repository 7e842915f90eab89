//! `audit summary`: what the runs recorded in an audit log did.

use crate::cli::AuditCommand;
use crate::error::{CliError, EXIT_OK, chain};
use crate::output::{out, out_json};
use crate::table::{Align, Table, push_breakdown, status_table};
use cxone_dlq_replay::{AuditLog, EngineError, LogSummary};
use std::path::Path;

/// Runs an `audit` command.
///
/// # Errors
/// Exit 2 for a missing log; exit 1 for one that cannot be read.
pub fn run(cmd: AuditCommand) -> Result<u8, CliError> {
    match cmd {
        AuditCommand::Summary(a) => {
            let s = summarize(&a.path)?;
            if a.json {
                out_json(&to_json(&a.path, &s))?;
            } else {
                out(&render(&a.path, &s));
            }
        }
    }
    Ok(EXIT_OK)
}

/// Reads and summarises the log (streaming: the records are not held in memory).
pub fn summarize(path: &Path) -> Result<LogSummary, CliError> {
    AuditLog::summary(path).map_err(|e| match &e {
        EngineError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            CliError::usage(format!("no audit log at {}", path.display()))
                .hint("give the path of a replay's --audit-log (default replay_audit_log.jsonl)")
        }
        _ => CliError::failed(chain(&e)),
    })
}

/// The summary as one JSON object (the engine's `LogSummary` plus `path`).
pub fn to_json(path: &Path, s: &LogSummary) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "path".into(),
            serde_json::Value::String(path.display().to_string()),
        );
    }
    v
}

/// The summary as text.
pub fn render(path: &Path, s: &LogSummary) -> String {
    let mut out = format!("Audit log {}\n\n", path.display());
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
        kv.row([
            "from".to_string(),
            f.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ]);
        kv.row([
            "to".to_string(),
            l.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ]);
    }
    out.push_str(&kv.render_rows(2));
    for r in &s.runs {
        out.push_str(&format!("    {r}\n"));
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
