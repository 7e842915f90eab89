//! What a finished run prints: the summary as text or JSON, and the exit code.

use crate::error::{CliError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use crate::signals::Stop;
use crate::table::{Align, Table, push_breakdown, status_table};
use cxone_dlq_replay::RunSummary;
use std::path::Path;

/// A run that got under way: its summary, and why it stopped early if it did.
pub struct Finished {
    /// What the run did (all of it, or the part before it stopped).
    pub summary: RunSummary,
    /// Why the run stopped before it ran out of events (exit 1), if it did.
    pub error: Option<CliError>,
    /// The signal (SIGINT, SIGTERM) that asked the run to stop, if one did.
    pub signal: Option<Stop>,
}

impl Finished {
    /// The exit code: the error's, else the signal's (130, 143), else the summary's.
    pub fn exit_code(&self) -> u8 {
        match (&self.error, self.signal) {
            (Some(e), _) => e.code,
            (None, Some(s)) => s.exit_code(),
            (None, None) => exit_code(&self.summary),
        }
    }

    /// The summary as one JSON object (with `audit_log`, `error` if it stopped early, and
    /// `signal` if a signal stopped it).
    pub fn json(&self, audit_log: &Path) -> serde_json::Value {
        let mut v = summary_json(&self.summary, audit_log);
        if let Some(o) = v.as_object_mut() {
            if let Some(e) = &self.error {
                o.insert("error".into(), serde_json::Value::String(e.to_string()));
            }
            if let Some(s) = self.signal {
                o.insert("signal".into(), serde_json::Value::String(s.name().into()));
            }
        }
        v
    }

    /// The summary as text.
    pub fn text(&self, audit_log: &Path) -> String {
        render_summary(&self.summary, audit_log, self.error.is_some())
    }
}

/// The exit code of a finished run.
pub fn exit_code(s: &RunSummary) -> u8 {
    if s.interrupted {
        EXIT_INTERRUPTED
    } else if s.counts.failed > 0 {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// The summary as one JSON object: the engine's `RunSummary` plus `audit_log`.
pub fn summary_json(s: &RunSummary, audit_log: &Path) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "audit_log".into(),
            serde_json::Value::String(audit_log.display().to_string()),
        );
    }
    v
}

/// The summary as aligned text.
pub fn render_summary(s: &RunSummary, audit_log: &Path, stopped_early: bool) -> String {
    let mut out = String::new();
    let title = if s.dry_run { "DRY RUN" } else { "REPLAY" };
    let state = if s.interrupted {
        "interrupted"
    } else if s.stopped.is_some() {
        "stopped"
    } else if stopped_early {
        "stopped early"
    } else if s.limit_reached {
        "stopped at its limit"
    } else {
        "finished"
    };
    out.push_str(&format!("{title} {} {state}\n\n", s.run_id));
    let mut t = status_table("STATUS", &s.counts);
    t.row(["total seen".to_string(), s.seen.to_string()]);
    if s.already_replayed > 0 {
        t.row([
            "already replayed (resume)".to_string(),
            s.already_replayed.to_string(),
        ]);
    }
    out.push_str(&t.render(2));
    push_breakdown(&mut out, "FAILED BY CLASS", &s.failures, 2);
    push_breakdown(&mut out, "SKIPPED BY REASON", &s.skips, 2);
    out.push('\n');
    let l = &s.latency_ms;
    let mut t = Table::new(&[
        ("PUT LATENCY (ms)", Align::Left),
        ("p50", Align::Right),
        ("p95", Align::Right),
        ("p99", Align::Right),
        ("max", Align::Right),
    ]);
    t.row([
        String::new(),
        format!("{:.1}", l.p50),
        format!("{:.1}", l.p95),
        format!("{:.1}", l.p99),
        format!("{:.1}", l.max),
    ]);
    out.push_str(&t.render(2));
    out.push('\n');
    let mut kv = Table::new(&[("", Align::Left), ("", Align::Left)]);
    kv.row([
        "throughput".to_string(),
        format!(
            "{:.1} events/s ({} events in {:.2} s)",
            s.events_per_second,
            s.seen,
            s.elapsed_ms as f64 / 1000.0
        ),
    ]);
    if !s.dry_run {
        let pace = match s.pace_per_second {
            Some(p) => format!("paced at {p:.1}/s at the end; "),
            None => String::new(),
        };
        kv.row([
            "sends".to_string(),
            format!("{pace}{:.1} sends/s on average", s.sends_per_second),
        ]);
    }
    if s.rate_limited > 0 || s.held_ms > 0 {
        kv.row([
            "rate limited".to_string(),
            format!(
                "{} answer(s) 429; held {:.1} s by Retry-After",
                s.rate_limited,
                s.held_ms as f64 / 1000.0
            ),
        ]);
    }
    if s.monitor_dropped > 0 {
        kv.row([
            "monitor".to_string(),
            format!(
                "{} notification(s) could not be delivered",
                s.monitor_dropped
            ),
        ]);
    }
    kv.row(["audit log".to_string(), audit_log.display().to_string()]);
    if let Some(reason) = &s.stopped {
        kv.row(["stopped".to_string(), reason.clone()]);
    }
    out.push_str(&kv.render_rows(2));
    if s.interrupted || stopped_early || s.stopped.is_some() {
        out.push_str("\nNot every event was handled: run again with --resume to finish.\n");
    } else if s.limit_reached {
        out.push_str(&format!(
            "\nStopped after {} {} (--limit){}: run again with --resume to continue.\n",
            s.counts.success + s.counts.duplicate + s.counts.failed + s.counts.dry_run,
            if s.dry_run {
                "planned replays"
            } else {
                "sends"
            },
            if s.counts.failed > 0 {
                format!("; {} failed", s.counts.failed)
            } else {
                String::new()
            }
        ));
    } else if s.counts.failed > 0 {
        out.push_str(&format!(
            "\n{} event(s) failed; see the audit log (status FAILED). Re-run with --resume to retry them.\n",
            s.counts.failed
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxone_replay_domain::{FailureClass, SkipReason};

    #[test]
    fn summary_text_and_codes() {
        let mut s = RunSummary {
            run_id: "run-1".into(),
            seen: 10,
            ..RunSummary::default()
        };
        s.counts.success = 7;
        s.counts.skipped = 2;
        s.counts.failed = 1;
        s.failures.insert(FailureClass::MaxRetriesExceeded, 1);
        s.skips.insert(SkipReason::RetryWindowExceeded, 2);
        let text = render_summary(&s, Path::new("log.jsonl"), false);
        assert!(text.contains("  SUCCESS          7\n"), "{text}");
        assert!(text.contains("MAX_RETRIES_EXCEEDED"), "{text}");
        assert!(text.contains("RETRY_WINDOW_EXCEEDED"), "{text}");
        assert!(text.contains("  audit log   log.jsonl\n"), "{text}");
        assert_eq!(exit_code(&s), EXIT_FAILED);
        s.counts.failed = 0;
        assert_eq!(exit_code(&s), EXIT_OK);
        s.interrupted = true;
        assert_eq!(exit_code(&s), EXIT_INTERRUPTED);
        let j = summary_json(&s, Path::new("log.jsonl"));
        assert_eq!(j["audit_log"], "log.jsonl");
        assert_eq!(j["counts"]["SUCCESS"], 7);
    }

    #[test]
    fn a_failed_run_says_how_to_retry() {
        let mut s = RunSummary {
            seen: 3,
            ..RunSummary::default()
        };
        s.counts.success = 2;
        s.counts.failed = 1;
        let text = render_summary(&s, Path::new("log.jsonl"), false);
        assert!(
            text.ends_with(
                "\n1 event(s) failed; see the audit log (status FAILED). Re-run with --resume to retry them.\n"
            ),
            "{text}"
        );
        s.interrupted = true;
        let text = render_summary(&s, Path::new("log.jsonl"), false);
        assert!(
            text.ends_with("\nNot every event was handled: run again with --resume to finish.\n"),
            "{text}"
        );
    }

    #[test]
    fn the_pace_and_the_rate_limit_are_shown_beside_the_limit() {
        let mut s = RunSummary {
            run_id: "run-4".into(),
            seen: 10,
            limit_reached: true,
            sends_per_second: 9.5,
            pace_per_second: Some(12.5),
            rate_limited: 3,
            held_ms: 2_500,
            ..RunSummary::default()
        };
        s.counts.success = 10;
        let text = render_summary(&s, Path::new("log.jsonl"), false);
        for needle in [
            "REPLAY run-4 stopped at its limit\n",
            "  sends         paced at 12.5/s at the end; 9.5 sends/s on average\n",
            "  rate limited  3 answer(s) 429; held 2.5 s by Retry-After\n",
            "(--limit): run again with --resume to continue.\n",
        ] {
            assert!(text.contains(needle), "{needle}:\n{text}");
        }
        let j = summary_json(&s, Path::new("log.jsonl"));
        assert_eq!(j["pace_per_second"], 12.5);
        assert_eq!(j["held_ms"], 2_500);
        // unpaced and never throttled: no pace, no rate-limited row; a dry run sends nothing
        s.pace_per_second = None;
        s.rate_limited = 0;
        s.held_ms = 0;
        let text = render_summary(&s, Path::new("log.jsonl"), false);
        assert!(
            text.contains("  sends       9.5 sends/s on average\n"),
            "{text}"
        );
        assert!(!text.contains("rate limited"), "{text}");
        s.dry_run = true;
        let text = render_summary(&s, Path::new("log.jsonl"), false);
        assert!(!text.contains("sends/s"), "{text}");
    }

    #[test]
    fn a_limit_is_a_clean_stop_and_the_breaker_an_abnormal_one() {
        let mut s = RunSummary {
            run_id: "run-3".into(),
            seen: 10,
            limit_reached: true,
            ..RunSummary::default()
        };
        s.counts.success = 10;
        let text = render_summary(&s, Path::new("log.jsonl"), false);
        assert!(
            text.starts_with("REPLAY run-3 stopped at its limit\n"),
            "{text}"
        );
        assert!(!text.contains("  stopped  "), "{text}");
        assert!(
            text.ends_with("(--limit): run again with --resume to continue.\n"),
            "{text}"
        );
        assert_eq!(exit_code(&s), EXIT_OK);
        // the breaker tripped on the run's last sends: its reason wins over the limit
        s.stopped = Some("10 events in a row failed".into());
        let text = render_summary(&s, Path::new("log.jsonl"), true);
        assert!(text.starts_with("REPLAY run-3 stopped\n"), "{text}");
        assert!(
            text.contains("  stopped     10 events in a row failed\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\nNot every event was handled: run again with --resume to finish.\n"),
            "{text}"
        );
        let j = summary_json(&s, Path::new("log.jsonl"));
        assert_eq!(j["limit_reached"], true);
        assert_eq!(j["stopped"], "10 events in a row failed");
    }
}
