//! `audit report`: a run report an operator can open, read at a glance and attach to an
//! incident: one self-contained HTML page (inline SVG charts drawn here, no scripts, no
//! network requests, a print stylesheet), or the same aggregates as JSON. The aggregation is
//! the engine's ([`AuditLog::report`]); this module draws and writes it.

mod chart;
mod page;

use crate::audit::{not_an_audit_log, read_error};
use crate::cli::{AuditReportArgs, ReportFormat};
use crate::error::CliError;
use crate::output::out;
use crate::partial::PartialFile;
use askama::Template;
use chrono::{DateTime, Utc};
use cxone_dlq_replay::{AuditLog, ReportOptions, RunReport};
use std::io::Write;
use std::path::Path;

/// Runs `audit report`.
///
/// # Errors
/// Exit 2 for a bad setting, a missing log, or `--out` naming the log itself; exit 1 for a log
/// that is empty, is not an audit log, has no such run, or cannot be read, and for a report
/// that cannot be written (no FILE is left behind).
pub fn run(a: &AuditReportArgs) -> Result<(), CliError> {
    let options = ReportOptions::default()
        .failed_rows(a.failed_rows)
        .map_err(|e| CliError::usage(format!("--failed-rows: {e}")))?
        .max_bins(a.max_bins)
        .map_err(|e| CliError::usage(format!("--max-bins: {e}")))?;
    let r = write(&a.path, a.run.as_deref(), &a.out, a.format, &options)?;
    if a.out.as_os_str() != "-" {
        out(&format!(
            "Wrote the report of {} records ({} events, {} failed) to {}\n",
            r.summary.records,
            r.summary.events,
            r.summary.final_counts.failed,
            a.out.display()
        ))?;
    }
    Ok(())
}

/// Reads the log at `log` (the records of `run` only, if given) and writes its report to `to`
/// (`-`: stdout) in `format`; the report, for a line about it.
///
/// # Errors
/// As [`run`].
pub fn write(
    log: &Path,
    run: Option<&str>,
    to: &Path,
    format: ReportFormat,
    options: &ReportOptions,
) -> Result<RunReport, CliError> {
    let to_stdout = to.as_os_str() == "-";
    if !to_stdout && same_file(log, to) {
        return Err(CliError::usage(format!(
            "--out {} is the audit log itself: choose another file",
            to.display()
        )));
    }
    let r = read(log, run, options)?;
    let body = render(log, &r, format, options, Utc::now())?;
    if to_stdout {
        out(&body)?;
    } else {
        let partial = PartialFile::create(to)?;
        let mut w = std::io::BufWriter::new(partial.file());
        w.write_all(body.as_bytes())
            .and_then(|()| w.flush())
            .map_err(|e| partial.write_error(&e))?;
        drop(w);
        partial.commit(true)?;
    }
    Ok(r)
}

/// Whether `a` and `b` are one existing file (by their canonical paths).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The report of the log, refusing one with nothing to report on.
fn read(log: &Path, run: Option<&str>, options: &ReportOptions) -> Result<RunReport, CliError> {
    let r = AuditLog::report(log, run, options).map_err(|e| read_error(log, &e))?;
    let s = &r.summary;
    if s.lines == 0 {
        return Err(CliError::failed(format!(
            "{} is empty: there is no audit record to report on",
            log.display()
        )));
    }
    not_an_audit_log(log, r.is_audit_log(), s.lines)?;
    if s.records == 0 {
        return Err(match run {
            Some(run) => CliError::failed(format!("no run {run} in {}", log.display()))
                .hint(format!("`audit summary {}` lists its runs", log.display())),
            None => CliError::failed(format!(
                "{} holds no audit record (only blank lines)",
                log.display()
            )),
        });
    }
    Ok(r)
}

/// The report as a page or as JSON (the engine's `RunReport` plus `path`).
fn render(
    log: &Path,
    r: &RunReport,
    format: ReportFormat,
    options: &ReportOptions,
    now: DateTime<Utc>,
) -> Result<String, CliError> {
    match format {
        ReportFormat::Html => page::Page::new(log, r, options.get_max_bins(), now)
            .render()
            .map_err(|e| CliError::failed(format!("cannot render the report: {e}"))),
        ReportFormat::Json => {
            let mut v = serde_json::to_value(r)
                .map_err(|e| CliError::failed(format!("cannot serialize the report: {e}")))?;
            if let Some(o) = v.as_object_mut() {
                o.insert("path".into(), log.display().to_string().into());
            }
            let mut s = v.to_string();
            s.push('\n');
            Ok(s)
        }
    }
}
