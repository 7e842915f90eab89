//! `demo`: a real replay, over HTTP, against an emulator started in this process.

use crate::cli::{DemoArgs, Faults};
use crate::config;
use crate::error::CliError;
use crate::output::{out, out_json};
use crate::progress::{Settings, Total};
use crate::replay::{self, Finished, RunSpec};
use cxone_dlq_replay::{DEFAULT_PAGE_SIZE, WebhookMonitor};
use cxone_eventbridge::Client;
use cxone_eventbridge_emulator::{Emulator, EmulatorBuilder, Ledger, ROUTE_PUT, ROUTE_TOKEN};
use cxone_replay_domain::{ReplayPolicy, RetryBudget, RetryPolicy};
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// The demo's topic.
pub const DEMO_TOPIC: &str = "topic_pub_conversations";
/// The demo's data seed (the same events every time).
pub const DEMO_SEED: u64 = 2024;

/// The emulator settings of each fault level.
fn emulator(args: &DemoArgs) -> EmulatorBuilder {
    let events = usize::try_from(args.events).unwrap_or(usize::MAX);
    let base = Emulator::builder()
        .events(events)
        .topics([DEMO_TOPIC])
        .seed(DEMO_SEED)
        // a few events the engine must skip: retries used up, payload too large
        .exhausted_fraction(0.03)
        .oversize_fraction(0.01)
        .latency(Duration::from_millis(1), Duration::from_millis(3));
    match args.faults {
        Faults::None => base,
        Faults::Default => base
            .fail_5xx(0.03)
            .rate_limit_every(97, 1)
            .drop_fraction(0.01)
            .token_max_uses(150),
        Faults::Heavy => base
            .fail_5xx(0.12)
            .rate_limit_every(29, 1)
            .drop_fraction(0.05)
            .token_max_uses(100),
    }
}

/// A client tuned for a local emulator: quick retries, `Retry-After` capped at 50 ms (the
/// emulator's 429s say one second, and a 429 holds the whole run), a generous retry budget.
fn client(emu_url: &str, id: &str, secret: &str, concurrency: usize) -> Result<Client, CliError> {
    let retry = RetryPolicy::new(8, Duration::from_millis(5), Duration::from_millis(100))
        .map_err(|e| CliError::failed(format!("demo retry policy: {e}")))?
        .with_retry_after_cap(Duration::from_millis(50));
    config::build(
        Client::builder()
            .base_url(emu_url)
            .client_credentials(id, SecretString::from(secret))
            .retry_policy(retry)
            .retry_budget(RetryBudget::new(100_000, 1, 1, 1))
            // the emulator revokes tokens after a few uses: fetch a new one at once
            .min_token_refresh_interval(Duration::from_millis(10))
            .connect_timeout(Duration::from_secs(2))
            .request_timeout(Duration::from_secs(5))
            .max_connections(concurrency),
    )
}

/// What the demo did, with the emulator's view of it.
pub struct DemoOutcome {
    /// The run.
    pub run: Finished,
    /// The audit log.
    pub audit_log: PathBuf,
    /// The emulator's ledger after the run.
    pub ledger: Ledger,
    /// The emulator's base URL.
    pub base_url: String,
    /// The HTML report written (`--report`).
    pub report: Option<PathBuf>,
}

/// The default audit log: a new file in the system temp directory.
pub fn default_audit_log() -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    std::env::temp_dir().join(format!(
        "cxone-replay-demo-{stamp}-{}.jsonl",
        std::process::id()
    ))
}

/// Starts the emulator, replays its DLQ, stops it.
pub async fn run(args: &DemoArgs, progress: bool) -> Result<DemoOutcome, CliError> {
    let emu = emulator(args)
        .start()
        .await
        .map_err(|e| CliError::failed(format!("cannot start the emulator: {e}")))?;
    let base_url = emu.base_url();
    tracing::info!(%base_url, events = args.events, faults = ?args.faults, "emulator started");
    let concurrency = 16;
    let result = async {
        let client = client(&base_url, emu.client_id(), emu.client_secret(), concurrency)?;
        config::authenticate(&client, crate::cli::AuthMode::ClientCredentials).await?;
        let monitor = WebhookMonitor::builder(emu.webhook_url())
            .backoff(Duration::from_millis(5), Duration::from_millis(50))
            .close_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| CliError::failed(format!("demo monitor: {e}")))?;
        let audit_log = args.audit_log.clone().unwrap_or_else(default_audit_log);
        let spec = RunSpec {
            source: std::sync::Arc::new(client.clone()),
            target: Some(client),
            topics: vec![DEMO_TOPIC.to_string()],
            policy: ReplayPolicy::default(),
            selection: cxone_dlq_replay::Selection::default(),
            concurrency,
            pace: None,
            page_size: DEFAULT_PAGE_SIZE,
            dry_run: false,
            limit: None,
            audit_log: audit_log.clone(),
            resume: false,
            stop_after_failures: cxone_dlq_replay::DEFAULT_STOP_AFTER_FAILURES,
            monitor: Some(monitor),
            total: Some(Total::Events(args.events)),
            progress: Settings::bar_only(!progress),
            metrics: None,
        };
        let run = replay::execute(spec).await?;
        Ok::<_, CliError>((run, audit_log))
    }
    .await;
    let ledger = emu.ledger();
    emu.shutdown().await;
    let (run, audit_log) = result?;
    Ok(DemoOutcome {
        run,
        audit_log,
        ledger,
        base_url,
        report: None,
    })
}

/// Runs `demo` and prints what it did.
///
/// # Errors
/// Exit 1 when the emulator cannot start or the run cannot start.
pub async fn run_command(args: &DemoArgs, progress: bool) -> Result<u8, CliError> {
    let mut outcome = run(args, progress).await?;
    // The run's summary is printed even when its report cannot be written.
    let mut report_error = None;
    if let Some(path) = &args.report {
        match crate::report::write(
            &outcome.audit_log,
            None,
            path,
            crate::cli::ReportFormat::Html,
            &cxone_dlq_replay::ReportOptions::default(),
        ) {
            Ok(_) => outcome.report = Some(path.clone()),
            Err(e) => report_error = Some(e),
        }
    }
    let written = if args.json {
        out_json(&to_json(&outcome))
    } else {
        out(&render(args, &outcome))
    };
    let mut code = outcome.run.exit_code();
    if let Some(e) = report_error {
        let _ = e.report();
        code = code.max(crate::error::EXIT_FAILED);
    }
    crate::finish(written, outcome.run.error, code)
}

/// The demo's text output: what was set up, the run summary, what the emulator saw.
pub fn render(args: &DemoArgs, o: &DemoOutcome) -> String {
    let faults = match args.faults {
        Faults::None => "none",
        Faults::Default => "default (some 5xx, 429s, dropped connections, expiring tokens)",
        Faults::Heavy => "heavy (many 5xx, 429s, dropped connections, expiring tokens)",
    };
    let mut out = format!(
        "Demo: {} failed events in the DLQ of {DEMO_TOPIC} on a local emulator at {}\n      faults: {faults}\n\n",
        args.events, o.base_url
    );
    out.push_str(&o.run.text(&o.audit_log));
    let l = &o.ledger;
    let server_errors: u64 = l
        .rejections
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(_, n)| n)
        .sum();
    out.push_str(&format!(
        "\nThe emulator saw {} PUTs: {} accepted, {} duplicates answered 409; it injected {} 5xx, {} 429s and {} dropped connections, and issued {} tokens.\n",
        l.requests_on(ROUTE_PUT),
        l.accepted_total(),
        l.duplicates,
        server_errors,
        l.rejections.get(&429).copied().unwrap_or(0),
        l.dropped,
        l.requests_on(ROUTE_TOKEN),
    ));
    let log = crate::invocation::shell_quote(&o.audit_log.to_string_lossy());
    match &o.report {
        Some(r) => out.push_str(&format!("\nReport: {}\n", r.display())),
        None => out.push_str(&format!(
            "\nSee it as a page: {} audit report {log} --out report.html\n",
            crate::invocation::self_command(),
        )),
    }
    out.push_str(&format!(
        "Next: {} audit summary {log}\n",
        crate::invocation::self_command(),
    ));
    out
}

/// The demo's JSON: the run summary plus `audit_log` and `emulator` (its ledger counters).
pub fn to_json(o: &DemoOutcome) -> serde_json::Value {
    let mut v = o.run.json(&o.audit_log);
    let l = &o.ledger;
    if let Some(obj) = v.as_object_mut() {
        if let Some(r) = &o.report {
            obj.insert("report".into(), r.display().to_string().into());
        }
        obj.insert(
            "emulator".into(),
            serde_json::json!({
                "base_url": o.base_url,
                "put_requests": l.requests_on(ROUTE_PUT),
                "accepted": l.accepted_total(),
                "accepted_events": l.accepted.len(),
                "duplicates": l.duplicates,
                "rejections": l.rejections,
                "dropped": l.dropped,
                "token_requests": l.requests_on(ROUTE_TOKEN),
                "violations": l.violations_total,
            }),
        );
    }
    v
}
