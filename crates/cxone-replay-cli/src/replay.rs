//! `replay` (and the run part of `demo`): flags → engine configuration, progress, summary.

use crate::cli::{Rate, ReplayArgs};
use crate::config::api_error;
use crate::error::{CliError, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, chain};
use crate::progress::Bar;
use crate::table::{Align, Table, push_breakdown, status_table};
use cxone_dlq_replay::{
    DEFAULT_PACE_MAX, DEFAULT_PACE_MIN, EngineError, JsonlAuditLog, Pace, Replayer, RunSummary,
    Setting, WebhookMonitor,
};
use cxone_eventbridge::{Client, Error as ApiError};
use cxone_replay_domain::{
    DestinationAllowList, DestinationOverride, EventFilter, FailureClass, ReplayPolicy,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Everything a run needs, already checked.
pub struct RunSpec {
    /// The API client (source and target).
    pub client: Client,
    /// Topics, in order.
    pub topics: Vec<String>,
    /// Replay policy.
    pub policy: ReplayPolicy,
    /// Event filter.
    pub filter: EventFilter,
    /// Events in flight.
    pub concurrency: usize,
    /// How fast the replays go (`None`: as fast as the concurrency allows).
    pub pace: Option<Pace>,
    /// DLQ page size.
    pub page_size: u32,
    /// Send nothing.
    pub dry_run: bool,
    /// The audit log.
    pub audit_log: PathBuf,
    /// Skip what the audit log says is delivered.
    pub resume: bool,
    /// The circuit breaker's consecutive transient failures (0: never).
    pub stop_after_failures: u32,
    /// Webhook URL and secret.
    pub monitor: Option<WebhookMonitor>,
    /// How many events the DLQ holds, if known (for the bar's length).
    pub expected_total: Option<u64>,
    /// Show the progress bar (when stderr is a terminal).
    pub progress: bool,
}

/// Turns the `replay` flags into a policy and a filter.
///
/// # Errors
/// Exit 2 naming the flag.
pub fn policy_and_filter(a: &ReplayArgs) -> Result<(ReplayPolicy, EventFilter), CliError> {
    let mut policy = ReplayPolicy::default()
        .max_retries(a.max_retries)
        .map_err(|e| CliError::usage(format!("invalid --max-retries: {e}")))?
        .key_scheme(a.key_scope.scheme());
    if let Some(age) = a.max_age {
        policy = policy.max_age(age);
    }
    if let Some(url) = a.destination_override.as_deref().filter(|u| !u.is_empty()) {
        let allow = if a.allow_destination_hosts.is_empty() {
            DestinationAllowList::any()
        } else {
            DestinationAllowList::only(&a.allow_destination_hosts)
        };
        let d = DestinationOverride::parse(url, &allow).map_err(|e| {
            CliError::usage(format!(
                "invalid --destination-override (DESTINATION_OVERRIDE_URL): {e}"
            ))
        })?;
        policy = policy.destination_override(Some(d));
    } else if !a.allow_destination_hosts.is_empty() {
        return Err(CliError::usage(
            "--allow-destination-host needs --destination-override (or DESTINATION_OVERRIDE_URL)",
        ));
    }
    let mut filter = EventFilter::default();
    if let Some(s) = a.since {
        filter = filter.since(s);
    }
    if let Some(u) = a.until {
        filter = filter.until(u);
    }
    if let Some(r) = a.reason.as_deref().filter(|r| !r.is_empty()) {
        filter = filter.reason_contains(r);
    }
    for t in &a.event_types {
        filter = filter.event_type(t.clone());
    }
    if !a.event_ids.is_empty() {
        filter = filter.event_ids(a.event_ids.iter().cloned());
    }
    filter
        .check()
        .map_err(|e| CliError::usage(format!("invalid --since/--until: {e}")))?;
    Ok((policy, filter))
}

/// The pace of `--rate`, `--rate-min` and `--rate-max`.
///
/// # Errors
/// Exit 2 when a bound is given without `--rate auto`, or `--rate-min` is above `--rate-max`.
pub fn pace(a: &ReplayArgs) -> Result<Option<Pace>, CliError> {
    let bounds = a.rate_min.is_some() || a.rate_max.is_some();
    let pace = match a.rate {
        None => None,
        Some(Rate::PerSecond(_)) if bounds => {
            return Err(CliError::usage(
                "--rate-min and --rate-max bound --rate auto; with a fixed --rate N leave them out",
            ));
        }
        Some(Rate::PerSecond(r)) => Some(Pace::Fixed(r)),
        Some(Rate::Auto) => Some(Pace::Adaptive {
            min: a
                .rate_min
                .unwrap_or(DEFAULT_PACE_MIN.min(a.rate_max.unwrap_or(f64::MAX))),
            max: a
                .rate_max
                .unwrap_or(DEFAULT_PACE_MAX.max(a.rate_min.unwrap_or(0.0))),
        }),
    };
    if let Some(p) = &pace
        && let Err(EngineError::Setting { problem, .. }) = p.check()
    {
        return Err(CliError::usage(format!(
            "invalid --rate-min/--rate-max: {problem}"
        )));
    }
    Ok(pace)
}

/// Builds the webhook monitor of `--monitoring-webhook` (needs a Tokio runtime).
pub fn monitor(a: &ReplayArgs) -> Result<Option<WebhookMonitor>, CliError> {
    let Some(url) = a.monitoring_webhook.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let mut b = WebhookMonitor::builder(url);
    if let Some(s) = &a.webhook_secret {
        b = b.secret(s.clone());
    }
    b.build().map(Some).map_err(|e| engine_error(&e))
}

/// A run that got under way: its summary, and why it stopped early if it did.
pub struct Finished {
    /// What the run did (all of it, or the part before it stopped).
    pub summary: RunSummary,
    /// Why the run stopped before it ran out of events (exit 1), if it did.
    pub error: Option<CliError>,
}

impl Finished {
    /// The exit code: the error's, else the summary's.
    pub fn exit_code(&self) -> u8 {
        match &self.error {
            Some(e) => e.code,
            None => exit_code(&self.summary),
        }
    }

    /// The summary as one JSON object (with `audit_log`, and `error` if it stopped early).
    pub fn json(&self, audit_log: &Path) -> serde_json::Value {
        let mut v = summary_json(&self.summary, audit_log);
        if let (Some(e), Some(o)) = (&self.error, v.as_object_mut()) {
            o.insert("error".into(), serde_json::Value::String(e.to_string()));
        }
        v
    }

    /// The summary as text.
    pub fn text(&self, audit_log: &Path) -> String {
        render_summary(&self.summary, audit_log, self.error.is_some())
    }
}

/// Runs the replay with a progress bar and Ctrl-C handling.
///
/// # Errors
/// Exit 2 for a refused configuration or a locked audit log; exit 1 when the audit log cannot
/// be opened. A run that started and then stopped early is an `Ok` with
/// [`Finished::error`] set.
pub async fn execute(spec: RunSpec) -> Result<Finished, CliError> {
    let log = JsonlAuditLog::open(&spec.audit_log).map_err(|e| engine_error(&e))?;
    let cancel = CancellationToken::new();
    let bar = Bar::new(spec.progress, spec.expected_total);
    // The handler is installed before the run starts (and before "replay starting" is
    // logged): an interrupt from then on drains instead of killing the process.
    let mut interrupts = Interrupts::install()?;
    let interrupt = {
        let cancel = cancel.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            if interrupts.next().await {
                bar.note(
                    "interrupted: finishing the events in flight (press Ctrl-C again to stop now)",
                );
                cancel.cancel();
                if interrupts.next().await {
                    bar.finish();
                    eprintln!("error: stopped at once; events in flight have no audit record");
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            }
        })
    };
    let mut b = Replayer::builder()
        .topics(spec.topics.iter().cloned())
        .policy(spec.policy)
        .filter(spec.filter)
        .concurrency(spec.concurrency)
        .page_size(spec.page_size)
        .dry_run(spec.dry_run)
        .source(spec.client.clone())
        .audit(log)
        .resume(spec.resume)
        .stop_after_failures(spec.stop_after_failures)
        .cancel_token(cancel);
    if !spec.dry_run {
        b = b.target(spec.client);
    }
    if let Some(p) = spec.pace {
        b = b.pacing(p);
    }
    if let Some(m) = spec.monitor {
        b = b.monitor(m);
    }
    if bar.is_shown() {
        let bar = Arc::new(bar.clone());
        b = b.on_progress(move |p| bar.update(p));
    }
    let result = match b.build() {
        Ok(r) => {
            tracing::info!(run_id = r.run_id(), topics = ?spec.topics, dry_run = spec.dry_run, "replay starting");
            match r.run().await {
                Ok(summary) => Ok(Finished {
                    summary,
                    error: None,
                }),
                Err(e) => match e.summary() {
                    Some(s) => Ok(Finished {
                        summary: s.clone(),
                        error: Some(engine_error(&e)),
                    }),
                    None => Err(engine_error(&e)),
                },
            }
        }
        Err(e) => Err(engine_error(&e)),
    };
    interrupt.abort();
    bar.finish();
    result
}

/// Ctrl-C (SIGINT), registered when made.
struct Interrupts {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupts {
    #[cfg(unix)]
    fn install() -> Result<Self, CliError> {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map(|signal| Interrupts { signal })
            .map_err(|e| CliError::failed(format!("cannot handle Ctrl-C: {e}")))
    }

    #[cfg(not(unix))]
    fn install() -> Result<Self, CliError> {
        Ok(Interrupts {})
    }

    /// Waits for the next interrupt; false if none can come any more.
    #[cfg(unix)]
    async fn next(&mut self) -> bool {
        self.signal.recv().await.is_some()
    }

    #[cfg(not(unix))]
    async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// A plain message for an engine error.
pub fn engine_error(e: &EngineError) -> CliError {
    match e {
        EngineError::Setting { setting, problem } => match flag_of(*setting) {
            Some(flag) => CliError::usage(format!("invalid {flag}: {problem}")),
            None => CliError::usage(format!("invalid setting `{setting}`: {problem}")),
        },
        EngineError::LogLocked { path, lock } => CliError::usage(format!(
            "the audit log {} is in use by another run",
            path.display()
        ))
        .hint(format!(
            "wait for that run to finish, or pass another --audit-log (lock file: {})",
            lock.display()
        )),
        EngineError::Fetch { source, .. } => match source.downcast_ref::<ApiError>() {
            // No later run can read the DLQ either until the credentials, the scopes or the
            // trusted CAs change: a configuration error (exit 2), as for `dlq list`.
            Some(api)
                if matches!(
                    api.last_class(),
                    FailureClass::Unauthorized | FailureClass::Forbidden | FailureClass::Tls
                ) =>
            {
                api_error(&e.to_string(), api)
            }
            Some(api) if api.last_class() == FailureClass::BodyTooLarge => {
                CliError::failed(chain(e)).hint(format!(
                    "a DLQ page must fit in {} MiB: pass a smaller --page-size, then --resume",
                    cxone_eventbridge::DEFAULT_MAX_PAGE_BODY / (1024 * 1024)
                ))
            }
            _ => CliError::failed(chain(e)),
        },
        EngineError::Stopped { reason, .. } if reason.is_auth() => CliError::usage(chain(e)).hint(
            "check the credentials and that the client may write to the topic \
                 (scope eventbridge:write); then run again with --resume",
        ),
        EngineError::Stopped { .. } => CliError::failed(chain(e)).hint(
            "run again with --resume once the API answers again \
             (--stop-after-failures 0 never stops)",
        ),
        other => CliError::failed(chain(other)),
    }
}

/// The flag that sets an engine setting; `None` for the settings the command line does not
/// expose (a refusal of one of those is a bug here, reported by the setting's name).
fn flag_of(setting: Setting) -> Option<&'static str> {
    match setting {
        Setting::Topics => Some("--topic"),
        Setting::Concurrency => Some("--concurrency"),
        Setting::PageSize => Some("--page-size"),
        Setting::Pace => Some("--rate"),
        Setting::Filter => Some("--since/--until"),
        Setting::Resume => Some("--resume"),
        Setting::WebhookUrl => Some("--monitoring-webhook"),
        Setting::WebhookSecret => Some("--webhook-secret"),
        Setting::DrainTimeout
        | Setting::StartToken
        | Setting::Source
        | Setting::Target
        | Setting::Audit
        | Setting::SyncEvery
        | Setting::WebhookQueue
        | Setting::WebhookAttempts
        | Setting::WebhookBackoff
        | Setting::Webhook => None,
        // A setting added to the engine after this was written.
        _ => None,
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
    fn a_stopped_run_says_why_and_how_to_go_on() {
        use cxone_replay_domain::StopReason;
        let mut s = RunSummary {
            run_id: "run-2".into(),
            seen: 50,
            ..RunSummary::default()
        };
        s.counts.failed = 50;
        let reason = StopReason::ConsecutiveFailures {
            count: 50,
            last_class: FailureClass::MaxRetriesExceeded,
            http_status: Some(503),
        };
        s.stopped = Some(reason.to_string());
        let text = render_summary(&s, Path::new("log.jsonl"), true);
        assert!(text.starts_with("REPLAY run-2 stopped\n"), "{text}");
        assert!(
            text.contains(&format!("  stopped     {reason}\n")),
            "{text}"
        );
        assert!(
            text.ends_with("\nNot every event was handled: run again with --resume to finish.\n"),
            "{text}"
        );
        let e = engine_error(&EngineError::Stopped {
            reason,
            summary: Box::new(s.clone()),
        });
        assert_eq!(e.code, crate::error::EXIT_FAILED);
        assert!(e.to_string().contains("--resume"), "{e}");
        let e = engine_error(&EngineError::Stopped {
            reason: StopReason::AuthFailed {
                class: FailureClass::Forbidden,
                http_status: Some(403),
            },
            summary: Box::new(s),
        });
        assert_eq!(e.code, crate::error::EXIT_USAGE);
        assert!(e.to_string().contains("eventbridge:write"), "{e}");
    }

    #[test]
    fn engine_settings_name_their_flag_or_the_setting() {
        let refused = |setting| {
            engine_error(&EngineError::Setting {
                setting,
                problem: "is wrong".into(),
            })
        };
        let e = refused(Setting::Pace);
        assert_eq!(e.code, crate::error::EXIT_USAGE);
        assert_eq!(e.to_string(), "invalid --rate: is wrong");
        assert_eq!(
            refused(Setting::WebhookSecret).to_string(),
            "invalid --webhook-secret: is wrong"
        );
        assert_eq!(
            refused(Setting::DrainTimeout).to_string(),
            "invalid setting `drain_timeout`: is wrong"
        );
        for setting in Setting::ALL {
            let text = refused(setting).to_string();
            match flag_of(setting) {
                Some(flag) => assert!(text.starts_with(&format!("invalid {flag}: ")), "{text}"),
                None => assert!(text.contains(setting.as_str()), "{text}"),
            }
        }
    }
}
