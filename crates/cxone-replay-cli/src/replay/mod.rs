//! `replay` (and the run part of `demo`): flags → engine configuration, confirmation,
//! progress; the summary is rendered by `report`.

mod report;

pub use report::Finished;

use crate::cli::{Rate, ReplayArgs, WebhookUrl};
use crate::config::{self, api_error};
use crate::confirm;
use crate::error::{CliError, EXIT_OK, chain};
use crate::metrics::{METRICS_ADDR_ENV, Metrics, Server};
use crate::output::{err_line, out, out_json};
use crate::progress::{Bar, Settings, Total, Ui};
use crate::signals::{Signals, Stop};
use chrono::{DateTime, Utc};
use cxone_dlq_replay::{
    DEFAULT_PACE_MAX, DEFAULT_PACE_MIN, DlqSource, EngineError, FileSource, JsonlAuditLog, Pace,
    Replayer, Selection, Setting, WebhookMonitor,
};
use cxone_eventbridge::{Client, Error as ApiError};
use cxone_replay_domain::{
    DestinationAllowList, DestinationOverride, FailureClass, ReplayPolicy, StopReason,
};
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// Everything a run needs, already checked.
pub struct RunSpec {
    /// Where the events come from: the API client, or a DLQ file.
    pub source: Arc<dyn DlqSource>,
    /// Where replays go (`None` only for a dry run).
    pub target: Option<Client>,
    /// Topics, in order.
    pub topics: Vec<String>,
    /// Replay policy.
    pub policy: ReplayPolicy,
    /// Which events.
    pub selection: Selection,
    /// Events in flight.
    pub concurrency: usize,
    /// How fast the replays go (`None`: as fast as the concurrency allows).
    pub pace: Option<Pace>,
    /// DLQ page size.
    pub page_size: u32,
    /// Send nothing.
    pub dry_run: bool,
    /// Stop after this many sends.
    pub limit: Option<NonZeroU64>,
    /// The audit log.
    pub audit_log: PathBuf,
    /// Skip what the audit log says is delivered.
    pub resume: bool,
    /// The circuit breaker's consecutive transient failures (0: never).
    pub stop_after_failures: u32,
    /// Webhook URL and secret.
    pub monitor: Option<WebhookMonitor>,
    /// What the run's total is, if known (for the bar's length, the percentage and the ETA).
    pub total: Option<Total>,
    /// How progress is shown.
    pub progress: Settings,
    /// The metrics to feed (`--metrics-addr`).
    pub metrics: Option<Arc<Metrics>>,
}

/// Runs `replay`: checks the flags, logs in, replays, prints the summary.
///
/// # Errors
/// Exit 2 for usage, configuration and authentication errors; exit 1 when the run could not
/// start. A run that started returns its exit code (and reports why it stopped early).
pub async fn run(a: ReplayArgs, ui: Ui, now: DateTime<Utc>) -> Result<u8, CliError> {
    let (policy, selection) = policy_and_filter(&a, now)?;
    let pace = pace(&a)?;
    let metrics_addr = crate::metrics::address(
        a.metrics.metrics_addr.as_deref(),
        std::env::var(METRICS_ADDR_ENV).ok().as_deref(),
    )?;
    if metrics_addr.is_none() && a.metrics.metrics_linger.is_some() {
        return Err(CliError::usage(format!(
            "--metrics-linger needs --metrics-addr (or {METRICS_ADDR_ENV})"
        )));
    }
    if let (Some(log), Some(only)) = (&a.filter.only_failed, &selection.only)
        && only.is_empty()
    {
        err_line(&format!(
            "no event's final outcome in {} is FAILED{}: nothing to re-drive",
            log.display(),
            a.filter
                .only_failed_class
                .map(|c| format!(" with class {c}"))
                .unwrap_or_default()
        ));
        return Ok(EXIT_OK);
    }
    let file = a.from_file.as_ref().map(FileSource::new);
    let (topics, lines) = match &file {
        None => (a.topics.required()?, None),
        Some(f) => match file_topics(f, a.topics.list()).await? {
            Some(t) => t,
            None => return Ok(EXIT_OK),
        },
    };
    let monitor = monitor(&a)?;
    let server = match metrics_addr {
        Some(addr) => Some(Server::start(addr).await?),
        None => None,
    };
    if let Some(s) = server.as_ref().filter(|_| !ui.quiet) {
        s.announce();
    }
    let interactive = confirm::can_ask();
    // A dry run of a file needs no API at all.
    let client = if a.dry_run && file.is_some() {
        None
    } else {
        let builder = config::client_builder(&a.connection)?
            .retry_policy(config::retry_policy(a.max_attempts)?)
            .max_connections(a.concurrency);
        let client = config::build(builder)?;
        // refused before anything goes over the network
        confirm::check(&a, interactive)?;
        config::authenticate(&client, a.connection.auth).await?;
        Some(client)
    };
    if !a.dry_run && !a.yes {
        confirm::ask(confirm::plan(
            &a,
            &topics,
            &selection,
            &policy,
            pace.as_ref(),
        ))
        .await?;
    }
    let source: Arc<dyn DlqSource> = match (file, &client) {
        (Some(f), _) => Arc::new(f),
        (None, Some(c)) => Arc::new(c.clone()),
        (None, None) => return Err(CliError::failed("no source of events")),
    };
    let spec = RunSpec {
        source,
        target: client,
        topics,
        policy,
        selection,
        concurrency: a.concurrency,
        pace,
        page_size: a.page_size,
        dry_run: a.dry_run,
        limit: a.limit.and_then(NonZeroU64::new),
        audit_log: a.audit_log.clone(),
        resume: a.resume,
        stop_after_failures: a.stop_after_failures,
        monitor,
        total: a.limit.map(Total::Sends).or(lines.map(Total::Events)),
        progress: Settings::new(&a.progress, ui.quiet, ui.json_logs),
        metrics: server.as_ref().map(Server::metrics),
    };
    let run = execute(spec).await?;
    // A run a signal stopped does not linger: the process was asked to end (a supervisor
    // such as Kubernetes kills it when its grace period is over).
    let linger = a.metrics.metrics_linger.filter(|_| run.signal.is_none());
    // From the end of the run on, a SIGINT or SIGTERM ends the metrics' linger (installed
    // before the summary is written: a supervisor that saw it may stop the process at once).
    let mut lingering = match &server {
        Some(_) if linger.is_some() => Signals::install().ok(),
        _ => None,
    };
    let written = if a.json {
        out_json(&run.json(&a.audit_log))
    } else {
        out(&run.text(&a.audit_log))
    };
    if let Some(s) = server {
        let signalled = async {
            match lingering.as_mut() {
                Some(signals) => {
                    let _ = signals.next().await;
                }
                None => std::future::pending().await,
            }
        };
        s.stop(linger, signalled).await;
    }
    let code = run.exit_code();
    crate::finish(written, run.error, code)
}

/// The topics to replay out of `file`: those given (`--topic` filters), else every topic its
/// lines name, with the number of lines (the run's total). `None` (after saying so) when the
/// file is empty.
///
/// # Errors
/// Exit 2 if the file cannot be read; exit 1 if it has lines but none names a topic (it is
/// not a DLQ export).
async fn file_topics(
    file: &FileSource,
    given: Vec<String>,
) -> Result<Option<(Vec<String>, Option<u64>)>, CliError> {
    let missing = || {
        CliError::usage(format!("no file at {}", file.path().display()))
            .hint("give the path of a `dlq export --out` file")
    };
    if !given.is_empty() {
        // The run reads the file; no need for a pass to list its topics.
        return match std::fs::metadata(file.path()) {
            Ok(m) if m.is_file() => Ok(Some((given, None))),
            _ => Err(missing()),
        };
    }
    let found = file.topics().await.map_err(|e| match &e {
        EngineError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            missing()
        }
        _ => engine_error(&e),
    })?;
    if found.topics.is_empty() {
        if found.lines == 0 {
            err_line(&format!(
                "{} holds no events: nothing to replay",
                file.path().display()
            ));
            return Ok(None);
        }
        return Err(CliError::failed(format!(
            "{} is not a DLQ export: none of its {} line(s) names a topic (topicId)",
            file.path().display(),
            found.lines
        )));
    }
    if found.unattributed > 0 {
        tracing::warn!(
            lines = found.unattributed,
            "lines of the file name no topic; they are audited INVALID_EVENT"
        );
    }
    Ok(Some((found.topics, Some(found.lines))))
}

/// Turns the `replay` flags into a policy and a selection.
///
/// # Errors
/// Exit 2 naming the flag.
pub fn policy_and_filter(
    a: &ReplayArgs,
    now: DateTime<Utc>,
) -> Result<(ReplayPolicy, Selection), CliError> {
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
    let selection = a.filter.selection(now)?;
    Ok((policy, selection))
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
    let Some(url) = a.monitoring_webhook.as_ref().and_then(WebhookUrl::expose) else {
        return Ok(None);
    };
    let mut b = WebhookMonitor::builder(url);
    if let Some(s) = &a.webhook_secret {
        b = b.secret(s.clone());
    }
    b.build().map(Some).map_err(|e| engine_error(&e))
}

/// Runs the replay with a progress bar and signal handling: the first SIGINT (Ctrl-C) or
/// SIGTERM drains the run (the events in flight are finished and audited, within the engine's
/// drain timeout), which then exits 130 or 143; a second one of either stops the process at
/// once, with the first one's exit code.
///
/// # Errors
/// Exit 2 for a refused configuration or a locked audit log; exit 1 when the audit log cannot
/// be opened. A run that started and then stopped early is an `Ok` with
/// [`Finished::error`] set.
pub async fn execute(spec: RunSpec) -> Result<Finished, CliError> {
    let log = JsonlAuditLog::open(&spec.audit_log).map_err(|e| engine_error(&e))?;
    let cancel = CancellationToken::new();
    let bar = Bar::new(spec.progress, spec.total);
    // The handlers are installed before the run starts (and before "replay started" is
    // logged): a signal from then on drains instead of killing the process.
    let mut signals = Signals::install()?;
    let stopped_by = Arc::new(OnceLock::<Stop>::new());
    let watcher = {
        let cancel = cancel.clone();
        let bar = bar.clone();
        let stopped_by = Arc::clone(&stopped_by);
        tokio::spawn(async move {
            let Some(first) = signals.next().await else {
                return;
            };
            let _ = stopped_by.set(first);
            bar.note(&format!(
                "{}: finishing the events in flight ({})",
                first.what(),
                first.again()
            ));
            cancel.cancel();
            if signals.next().await.is_some() {
                bar.finish();
                err_line("error: stopped at once; events in flight have no audit record");
                std::process::exit(i32::from(first.exit_code()));
            }
        })
    };
    let mut b = Replayer::builder()
        .topics(spec.topics.iter().cloned())
        .policy(spec.policy)
        .filter(spec.selection.filter)
        .concurrency(spec.concurrency)
        .page_size(spec.page_size)
        .dry_run(spec.dry_run)
        .source(spec.source)
        .audit(log)
        .resume(spec.resume)
        .stop_after_failures(spec.stop_after_failures)
        .cancel_token(cancel);
    if let Some(only) = spec.selection.only {
        b = b.only_events(only);
    }
    if let Some(target) = spec.target.filter(|_| !spec.dry_run) {
        b = b.target(target);
    }
    if let Some(p) = spec.pace {
        b = b.pacing(p);
    }
    if let Some(n) = spec.limit {
        b = b.limit(n);
    }
    if let Some(m) = spec.monitor {
        b = b.monitor(m);
    }
    if bar.is_shown() {
        let bar = Arc::new(bar.clone());
        b = b.on_progress(move |p| bar.update(p));
    }
    if let Some(m) = spec.metrics {
        b = b.observer(m);
    }
    // The engine logs the start of the run ("replay started", in the run's span).
    let result = match b.build() {
        Ok(r) => {
            bar.run_id(r.run_id());
            match r.run().await {
                Ok(summary) => Ok((summary, None)),
                Err(e) => match e.summary() {
                    Some(s) => Ok((s.clone(), Some(engine_error(&e)))),
                    None => Err(engine_error(&e)),
                },
            }
        }
        Err(e) => Err(engine_error(&e)),
    };
    watcher.abort();
    bar.finish();
    let (summary, error) = result?;
    // A signal that came after the run had run out of events (before the watcher was
    // stopped) interrupted nothing: the run's own outcome stands.
    let signal = stopped_by.get().copied().filter(|_| summary.interrupted);
    Ok(Finished {
        summary,
        error,
        signal,
    })
}

/// A plain message for an engine error.
pub fn engine_error(e: &EngineError) -> CliError {
    match e {
        EngineError::Setting { setting, problem } => match flag_of(*setting) {
            Some(flag) => CliError::usage(format!("invalid {flag}: {problem}")),
            None => CliError::usage(format!("invalid setting `{setting}`: {problem}")),
        },
        EngineError::LogLocked { path } => CliError::usage(format!(
            "the audit log {} is in use by another run",
            path.display()
        ))
        .hint(
            "wait for that run to finish, or pass another --audit-log \
             (the lock is on the file itself: a link to it is the same log)",
        ),
        EngineError::Fetch { source, .. } => match source.downcast_ref::<ApiError>() {
            // No later run can read the DLQ either until the credentials, the scopes, the
            // trusted CAs or the topic change: a configuration error (exit 2), as for `dlq list`.
            Some(api)
                if matches!(
                    api.last_class(),
                    FailureClass::Unauthorized
                        | FailureClass::Forbidden
                        | FailureClass::Tls
                        | FailureClass::NotFound
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
        EngineError::Audit { source, .. } => {
            let e = CliError::failed(chain(e));
            match audit_write_error(source.as_ref()) {
                Some((path, io)) if io.kind() == std::io::ErrorKind::FileTooLarge => e.hint(format!(
                    "the audit log {} reached the process's file-size limit (ulimit -f, \
                     RLIMIT_FSIZE): raise the limit or pass another --audit-log, then run \
                     again with --resume",
                    path.display()
                )),
                Some((path, io)) if io.kind() == std::io::ErrorKind::StorageFull => e.hint(format!(
                    "the file system of the audit log {} is full: free space or pass another \
                     --audit-log, then run again with --resume",
                    path.display()
                )),
                _ => e.hint("nothing more was sent; run again with --resume once the audit log can be written"),
            }
        }
        EngineError::Stopped { reason, .. } if reason.is_auth() => CliError::usage(chain(e)).hint(
            "check the credentials and that the client may write to the topic \
                 (scope eventbridge:write); then run again with --resume",
        ),
        EngineError::Stopped {
            reason: StopReason::NotFound { .. },
            ..
        } => CliError::usage(chain(e)).hint(
            "the topic's PUT route answers 404: check that the topic still exists and the \
             base URL and API path; events not sent have no record, run again with --resume \
             once it is fixed",
        ),
        EngineError::Stopped { .. } => CliError::failed(chain(e)).hint(
            "run again with --resume once the API answers again \
             (--stop-after-failures 0 never stops)",
        ),
        other => CliError::failed(chain(other)),
    }
}

/// The file and the I/O error of a failed audit write, when that is what `e` is.
fn audit_write_error<'e>(
    e: &'e (dyn std::error::Error + 'static),
) -> Option<(&'e std::path::Path, &'e std::io::Error)> {
    match e.downcast_ref::<EngineError>() {
        Some(EngineError::Io { path, source, .. }) => Some((path, source)),
        _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_run_says_why_and_how_to_go_on() {
        use cxone_dlq_replay::RunSummary;
        use cxone_replay_domain::StopReason;
        use std::path::Path;
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
        let e = engine_error(&EngineError::Stopped {
            reason: reason.clone(),
            summary: Box::new(s.clone()),
        });
        assert_eq!(e.code, crate::error::EXIT_FAILED);
        assert!(e.to_string().contains("--resume"), "{e}");
        let finished = Finished {
            summary: s.clone(),
            error: Some(e),
            signal: None,
        };
        assert_eq!(finished.exit_code(), crate::error::EXIT_FAILED);
        let text = finished.text(Path::new("log.jsonl"));
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
