//! The HTML page of `audit report`: the engine's [`RunReport`] turned into what the template
//! shows. Every value from the log is text the template escapes (ids, topics and messages are
//! whatever the log holds, and a server's message is whatever a server said).

use super::chart::{self, Chart, status_class};
use crate::invocation::{self_command, shell_quote};
use crate::table::truncate;
use askama::Template;
use chrono::{DateTime, SecondsFormat, Utc};
use cxone_dlq_replay::{ExampleEvent, RunReport, RunRow};
use cxone_replay_domain::ReplayStatus;
use std::path::Path;

/// The longest id, topic or message shown (longer ones end with `…`).
const MAX_TEXT: usize = 300;
/// Runs listed in the header.
const MAX_RUNS: usize = 50;
/// Topics listed in the header.
const MAX_TOPICS_SHOWN: usize = 20;

/// The page.
#[derive(Template)]
#[template(path = "report.html")]
pub struct Page {
    title: String,
    generated: String,
    version: &'static str,
    facts: Vec<(&'static str, String)>,
    totals: Vec<Total>,
    runs: Vec<RunView>,
    several_runs: bool,
    runs_omitted: usize,
    timeline: Chart,
    bins: usize,
    bin_width: String,
    max_bins: usize,
    latency: Chart,
    sends: u64,
    percentiles: Vec<(&'static str, String)>,
    failures: Vec<Breakdown>,
    skips: Vec<Breakdown>,
    failed: Vec<FailedRow>,
    failed_total: u64,
    failed_omitted: u64,
    all_failed: String,
    redrive: Option<String>,
    redrive_notes: Vec<String>,
    warnings: Vec<String>,
}

struct Total {
    class: &'static str,
    status: &'static str,
    count: u64,
    share: String,
}

struct RunView {
    index: usize,
    run_id: String,
    started: String,
    duration: String,
    records: u64,
    counts: String,
    continued: String,
}

struct Breakdown {
    name: String,
    events: u64,
    redrive: Option<String>,
    examples: Vec<Example>,
}

struct Example {
    topic: String,
    id: String,
    http: String,
    message: String,
}

struct FailedRow {
    topic: String,
    id: String,
    class: String,
    http: String,
    message: String,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        chart::seconds(ms / 1000)
    }
}

fn text(s: &str) -> String {
    truncate(s, MAX_TEXT)
}

fn http(s: Option<u16>) -> String {
    s.map_or_else(|| "–".into(), |s| s.to_string())
}

fn example(e: &ExampleEvent) -> Example {
    Example {
        topic: text(&e.topic_id),
        id: text(&e.event_id),
        http: http(e.http_status),
        message: text(e.message.as_deref().unwrap_or("–")),
    }
}

fn run_view(i: usize, r: &RunRow, previous: Option<&RunRow>) -> RunView {
    let continued = match previous {
        None => "first run".to_string(),
        Some(p) if r.prior_events > 0 => format!(
            "continued {}: {} of its records are of events an earlier run recorded",
            text(&p.run_id),
            r.prior_events
        ),
        Some(p) => format!(
            "after {}: only events no earlier run recorded",
            text(&p.run_id)
        ),
    };
    RunView {
        index: i + 1,
        run_id: text(&r.run_id),
        started: r.started.format("%Y-%m-%d %H:%M:%S").to_string(),
        duration: duration_ms(r.duration_ms),
        records: r.records,
        counts: ReplayStatus::ALL
            .iter()
            .filter(|s| r.counts.get(**s) > 0)
            .map(|s| format!("{} {s}", r.counts.get(*s)))
            .collect::<Vec<_>>()
            .join(", "),
        continued,
    }
}

/// The command that re-drives the failed events of `log`, with `class` only if given.
fn redrive_command(log: &Path, topics: &[String], class: Option<&str>) -> String {
    let topics: String = topics
        .iter()
        .map(|t| format!(" --topic {}", shell_quote(t)))
        .collect();
    let class = class
        .map(|c| format!(" --only-failed-class {c}"))
        .unwrap_or_default();
    format!(
        "{} replay{topics} --only-failed {}{class}",
        self_command(),
        shell_quote(&log.to_string_lossy())
    )
}

impl Page {
    /// The page of `r`, the report of the audit log at `log`, made at `now`.
    pub fn new(log: &Path, r: &RunReport, max_bins: usize, now: DateTime<Utc>) -> Page {
        let s = &r.summary;
        let events = s.events.max(1) as f64;
        let totals = ReplayStatus::ALL
            .iter()
            .map(|st| Total {
                class: status_class(*st),
                status: st.as_str(),
                count: s.final_counts.get(*st),
                share: format!("{:.1}%", 100.0 * s.final_counts.get(*st) as f64 / events),
            })
            .collect();
        let mut facts = vec![("Audit log", log.display().to_string())];
        if let Some(run) = &r.run {
            facts.push(("Run", text(run)));
        } else {
            let ids: Vec<String> = s.runs.iter().take(5).map(|r| text(&r.run_id)).collect();
            let more = s.runs.len().saturating_sub(5);
            facts.push((
                "Runs",
                format!(
                    "{}{}",
                    ids.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                ),
            ));
        }
        let topics: Vec<String> = r
            .topics
            .iter()
            .take(MAX_TOPICS_SHOWN)
            .map(|t| format!("{} ({})", text(&t.topic_id), t.records))
            .collect();
        let more_topics = r.topics.len().saturating_sub(MAX_TOPICS_SHOWN);
        facts.push((
            "Topics",
            format!(
                "{}{}{}",
                topics.join(", "),
                if more_topics > 0 {
                    format!(" and {more_topics} more")
                } else {
                    String::new()
                },
                if r.other_topics_records > 0 {
                    format!("; {} records of further topics", r.other_topics_records)
                } else {
                    String::new()
                }
            ),
        ));
        if let (Some(f), Some(l)) = (s.first, s.last) {
            facts.push(("First record", time(f)));
            facts.push(("Last record", time(l)));
            let ms = (l - f).num_milliseconds().max(0).unsigned_abs();
            facts.push(("Duration", duration_ms(ms)));
        }
        facts.push((
            "Records",
            format!(
                "{} of {} events ({} with more than one record)",
                s.records, s.events, s.events_with_several_records
            ),
        ));

        let runs = s
            .runs
            .iter()
            .enumerate()
            .take(MAX_RUNS)
            .map(|(i, run)| run_view(i, run, i.checked_sub(1).and_then(|p| s.runs.get(p))))
            .collect();

        let topics_complete = r.failed_topics_complete;
        let failures = r
            .failures
            .iter()
            .map(|c| Breakdown {
                name: c.class.to_string(),
                events: c.events,
                redrive: Some(redrive_command(
                    log,
                    &r.failed_topics,
                    Some(c.class.as_str()),
                )),
                examples: c.examples.iter().map(example).collect(),
            })
            .collect();
        let skips = r
            .skips
            .iter()
            .map(|k| Breakdown {
                name: k.reason.to_string(),
                events: k.events,
                redrive: None,
                examples: k.examples.iter().map(example).collect(),
            })
            .collect();
        let failed = r
            .failed_events
            .iter()
            .map(|e| FailedRow {
                topic: text(&e.topic_id),
                id: text(&e.event_id),
                class: e.error_classification.to_string(),
                http: http(e.http_status),
                message: text(e.message.as_deref().unwrap_or("–")),
            })
            .collect();
        let redrive =
            (s.final_counts.failed > 0).then(|| redrive_command(log, &r.failed_topics, None));
        let mut redrive_notes = Vec::new();
        if redrive.is_some() {
            if r.run.is_some() {
                redrive_notes.push(
                    "It re-drives every event whose final outcome in the whole log is FAILED, \
                     not only this run's."
                        .to_string(),
                );
            }
            if !topics_complete {
                redrive_notes.push(format!(
                    "Some failed events belong to topics beyond the first {}: add their --topic.",
                    cxone_dlq_replay::audit_log::MAX_TOPICS
                ));
            }
        }

        let mut warnings = Vec::new();
        if let Some(b) = &s.torn_tail {
            warnings.push(format!(
                "The last line ({}, {} bytes) is torn: a write was cut short{}.",
                b.line,
                b.len,
                if b.error.is_some() {
                    "; it was not counted"
                } else {
                    "; its record still parsed and is counted"
                }
            ));
        }
        if !s.malformed.is_empty() {
            warnings.push(format!(
                "{} line(s) are not audit records and were left out (the first is line {}).",
                s.malformed.len(),
                s.malformed[0].line
            ));
        }

        let p = &r.latency_ms.percentiles;
        Page {
            title: match &r.run {
                Some(run) => format!("Replay report: run {}", text(run)),
                None => format!("Replay report: {}", log.display()),
            },
            generated: time(now),
            version: env!("CARGO_PKG_VERSION"),
            facts,
            totals,
            several_runs: r.run.is_none() && s.runs.len() > 1,
            runs_omitted: s.runs.len().saturating_sub(MAX_RUNS),
            runs,
            timeline: chart::timeline(&r.timeline),
            bins: r.timeline.bins.len(),
            bin_width: chart::seconds(r.timeline.bin_seconds),
            max_bins,
            latency: chart::latency(&r.latency_ms.histogram, p),
            sends: r.latency_ms.sends,
            percentiles: vec![
                ("p50", format!("{:.1} ms", p.p50)),
                ("p95", format!("{:.1} ms", p.p95)),
                ("p99", format!("{:.1} ms", p.p99)),
                ("max", format!("{:.1} ms", p.max)),
            ],
            failures,
            skips,
            failed,
            failed_total: s.final_counts.failed,
            failed_omitted: r.failed_events_omitted,
            all_failed: format!(
                "{} audit failed {}",
                self_command(),
                shell_quote(&log.to_string_lossy())
            ),
            redrive,
            redrive_notes,
            warnings,
        }
    }
}
