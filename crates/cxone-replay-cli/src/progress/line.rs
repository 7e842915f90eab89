//! What progress says: the counts as parts that fit a width, and the periodic log lines
//! (text, or JSON with the run summary's field names).

use cxone_dlq_replay::{ExportSummary, Progress, StatusCounts};
use serde::Serialize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// Between two parts of a message.
pub const SEP: &str = " · ";

/// What the total of a run counts, when it is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    /// Events (a DLQ file's lines): done when seen or found already delivered.
    Events(u64),
    /// Sends (`--limit`): done when sent (or, in a dry run, planned).
    Sends(u64),
}

impl Total {
    /// The total.
    pub fn of(self) -> u64 {
        match self {
            Total::Events(n) | Total::Sends(n) => n,
        }
    }

    /// How much of it `p` has done (never above the total).
    pub fn done(self, p: &Progress) -> u64 {
        let c = &p.counts;
        let done = match self {
            Total::Events(_) => p.seen + p.already_replayed,
            Total::Sends(_) => c.success + c.duplicate + c.failed + c.dry_run,
        };
        done.min(self.of())
    }

    /// Percent done, and the time left at `p`'s mean rate (`None` before anything is done).
    fn percent_and_eta(self, p: &Progress) -> (f64, Option<Duration>) {
        let (done, total) = (self.done(p), self.of());
        let percent = if total == 0 {
            100.0
        } else {
            done as f64 * 100.0 / total as f64
        };
        let elapsed = p.elapsed.as_secs_f64();
        let eta = (done > 0 && elapsed > 0.0).then(|| {
            let per_second = done as f64 / elapsed;
            Duration::from_secs_f64((total - done) as f64 / per_second)
        });
        (percent, eta)
    }
}

/// The counts of a run, most telling first.
pub fn counts_parts(p: &Progress) -> Vec<String> {
    let c = &p.counts;
    let mut parts = vec![
        format!("seen {}", p.seen),
        format!("replayed {}", c.success),
        format!("failed {}", c.failed),
        format!("skipped {}", c.skipped),
        format!("duplicate {}", c.duplicate),
    ];
    if c.dry_run > 0 {
        parts.push(format!("dry-run {}", c.dry_run));
    }
    if p.already_replayed > 0 {
        parts.push(format!("already replayed {}", p.already_replayed));
    }
    parts.push(format!(
        "{:.0}/s (mean {:.0}/s)",
        p.current_rate, p.mean_rate
    ));
    if let Some(pace) = p.pace {
        parts.push(format!("pace {pace:.0}/s"));
    }
    parts
}

/// The counts of an export.
pub fn export_parts(s: &ExportSummary) -> Vec<String> {
    vec![
        format!("exported {}", s.written),
        format!("read {}", s.read),
    ]
}

/// The leading `parts` that fit in `width` columns, whole: a number is never cut.
pub fn fit(parts: &[String], width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for part in parts {
        let add = part.chars().count()
            + if out.is_empty() {
                0
            } else {
                SEP.chars().count()
            };
        if used + add > width {
            break;
        }
        if !out.is_empty() {
            out.push_str(SEP);
        }
        out.push_str(part);
        used += add;
    }
    out
}

/// The latest counts, as the log lines show them.
#[derive(Debug, Clone)]
pub enum Snapshot {
    /// A replay's.
    Run(Progress),
    /// An export's.
    Export(ExportSummary),
}

/// The log lines: the latest counts, written every interval by a task.
#[derive(Debug)]
pub struct LogLines {
    json: bool,
    total: Option<Total>,
    started: Instant,
    latest: Mutex<(Snapshot, Option<String>)>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl LogLines {
    /// Starts writing a line to stderr every `interval` (the first one `interval` from now).
    /// `initial`: what to say before the first counts come.
    pub fn start(
        interval: Duration,
        json: bool,
        total: Option<Total>,
        initial: Snapshot,
    ) -> Arc<Self> {
        let lines = Arc::new(LogLines {
            json,
            total,
            started: Instant::now(),
            latest: Mutex::new((initial, None)),
            task: Mutex::new(None),
        });
        let weak = Arc::downgrade(&lines);
        let task = tokio::spawn(async move {
            let first = tokio::time::Instant::now() + interval;
            let mut ticks = tokio::time::interval_at(first, interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                let Some(lines) = weak.upgrade() else { return };
                let line = lines.line(chrono::Utc::now());
                crate::output::err(&line);
            }
        });
        *lines.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        lines
    }

    /// Keeps `s` for the next line.
    pub fn set(&self, s: Snapshot) {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner).0 = s;
    }

    /// Tells the run's id.
    pub fn set_run_id(&self, id: &str) {
        self.latest.lock().unwrap_or_else(PoisonError::into_inner).1 = Some(id.to_string());
    }

    /// Stops the lines.
    pub fn stop(&self) {
        if let Some(t) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            t.abort();
        }
    }

    /// The line for now (with its newline).
    fn line(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let (mut snapshot, run_id) = self
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let elapsed = self.started.elapsed();
        if let Snapshot::Run(p) = &mut snapshot
            && p.seen + p.already_replayed == 0
        {
            // Nothing recorded yet: the time is still going.
            p.elapsed = elapsed;
        }
        render(
            &snapshot,
            self.total,
            run_id.as_deref(),
            elapsed,
            now,
            self.json,
        )
    }
}

/// One progress log line, JSON: the names are the run summary's (`RunSummary`) where it has
/// them, the export's (`ExportSummary`) for an export.
#[derive(Serialize)]
struct RunLine<'a> {
    timestamp: String,
    level: &'static str,
    message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_id: Option<&'a str>,
    seen: u64,
    counts: &'a StatusCounts,
    already_replayed: u64,
    /// The mean rate (the summary's name for it).
    events_per_second: f64,
    /// The rate over the last second or so.
    current_events_per_second: f64,
    pace_per_second: Option<f64>,
    elapsed_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eta_ms: Option<u64>,
}

#[derive(Serialize)]
struct ExportLine<'a> {
    timestamp: String,
    level: &'static str,
    message: &'static str,
    #[serde(flatten)]
    summary: &'a ExportSummary,
    events_per_second: f64,
    elapsed_ms: u64,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A progress line, text or JSON, ending with a newline.
pub fn render(
    snapshot: &Snapshot,
    total: Option<Total>,
    run_id: Option<&str>,
    elapsed: Duration,
    now: chrono::DateTime<chrono::Utc>,
    json: bool,
) -> String {
    let timestamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut line = match snapshot {
        Snapshot::Run(p) => {
            let known = total.map(|t| (t, t.percent_and_eta(p)));
            if json {
                serde_json::to_string(&RunLine {
                    timestamp,
                    level: "INFO",
                    message: "progress",
                    run_id,
                    seen: p.seen,
                    counts: &p.counts,
                    already_replayed: p.already_replayed,
                    events_per_second: p.mean_rate,
                    current_events_per_second: p.current_rate,
                    pace_per_second: p.pace,
                    elapsed_ms: millis(p.elapsed),
                    total: known.map(|(t, _)| t.of()),
                    percent: known.map(|(_, (pct, _))| (pct * 10.0).round() / 10.0),
                    eta_ms: known.and_then(|(_, (_, eta))| eta).map(millis),
                })
                .unwrap_or_default()
            } else {
                let mut parts = counts_parts(p);
                if let Some((t, (pct, eta))) = known {
                    parts.push(format!("{pct:.0}% of {}", t.of()));
                    if let Some(eta) = eta {
                        // Whole seconds, rounded up: `ETA 0s` only when done.
                        let secs = Duration::from_secs(eta.as_secs_f64().ceil() as u64);
                        parts.push(format!("ETA {}", humantime::format_duration(secs)));
                    }
                }
                format!("{timestamp} progress: {}", parts.join(SEP))
            }
        }
        Snapshot::Export(s) => {
            let secs = elapsed.as_secs_f64();
            let rate = if secs > 0.0 {
                s.read as f64 / secs
            } else {
                0.0
            };
            if json {
                serde_json::to_string(&ExportLine {
                    timestamp,
                    level: "INFO",
                    message: "progress",
                    summary: s,
                    events_per_second: rate,
                    elapsed_ms: millis(elapsed),
                })
                .unwrap_or_default()
            } else {
                format!(
                    "{timestamp} progress: {}{SEP}{rate:.0}/s",
                    export_parts(s).join(SEP)
                )
            }
        }
    };
    line.push('\n');
    line
}
