//! The command line: flags, environment variables and subcommands (clap derive).

mod connection;
mod filter;
mod observe;
mod report;

pub use connection::{AuthMode, ConnectionArgs, Sources};
pub use filter::{FilterArgs, TimeArg, TopicsArgs};
pub use observe::{MetricsArgs, ProgressArgs, ProgressMode};
pub use report::{AuditReportArgs, ReportFormat};

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use cxone_dlq_replay::{
    DEFAULT_CONCURRENCY, DEFAULT_STOP_AFTER_FAILURES, EngineError, MAX_CONCURRENCY, check_pace,
};
use cxone_replay_domain::{KeyScheme, ReplayPolicy, RetryPolicy};
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

/// The default audit log of `replay`, in the working directory.
pub const DEFAULT_AUDIT_LOG: &str = "replay_audit_log.jsonl";

/// The default DLQ page size of `replay`: the tutorial's `limit` (the engine's own default,
/// used by `demo` and the `dlq` commands, is [`cxone_dlq_replay::DEFAULT_PAGE_SIZE`]).
pub const REPLAY_PAGE_SIZE: u32 = 50;

/// The most HTTP attempts per request `--max-attempts` accepts.
pub const MAX_ATTEMPTS: u32 = 100;

/// The async runtime's threads by default: one, the current-thread runtime. A replay waits on
/// the network and on the tenant's rate limit, not on CPU: one thread replayed 13,000–18,000
/// events a second against a zero-latency emulator, at a quarter less CPU per event than two
/// workers (README, "CPU per event").
pub const DEFAULT_THREADS: u16 = 1;

/// The help epilogue; with the `demo` feature it ends with a pointer to `demo`.
macro_rules! after_help {
    () => {
        "\
Connection options (credentials, region or base URL, token URL, CA certificate) belong to the
commands that connect: `replay` and `dlq ...` (see their --help). Each option has an environment
variable (CXONE_CLIENT_ID, CXONE_CLIENT_SECRET, CXONE_REGION, CXONE_BASE_URL, CXONE_TOKEN_URL,
CXONE_CA_CERT, CXONE_TOPIC_ID, ...), and a .env file in the working directory is read too. A flag
wins over the environment, the environment over .env.

Exit codes: 0 every eligible event delivered (or already delivered), 1 some events failed or the
run stopped early (--stop-after-failures) or could not finish, 2 usage, configuration or
authentication error (a replay refused with 401 or 403 stops the run), 130 interrupted (SIGINT),
143 terminated (SIGTERM): a replay finishes and audits its in-flight events first, a second
signal stops at once."
    };
}
#[cfg(feature = "demo")]
const AFTER_HELP: &str = concat!(
    after_help!(),
    "\n\nTry it without a tenant: cxone-replay demo"
);
#[cfg(not(feature = "demo"))]
const AFTER_HELP: &str = after_help!();

/// Replay failed NICE CXone EventBridge events out of the dead letter queue.
#[derive(Debug, Parser)]
#[command(name = "cxone-replay", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options of every command.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); without -v/-q, RUST_LOG applies.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less log output on stderr (-q errors only, -qq nothing).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub quiet: u8,

    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// Threads of the async runtime: 1 runs everything on the main thread, the least CPU per
    /// replayed event; more spread the work over that many worker threads, for more events a
    /// second than one core can replay (rarely the limit: the tenant's rate limit is).
    #[arg(long, env = "CXONE_REPLAY_THREADS", value_name = "N", global = true,
          default_value_t = DEFAULT_THREADS,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: u16,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay the DLQ of one or more topics.
    Replay(Box<ReplayArgs>),
    /// Look at the dead letter queue without changing anything.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Read audit logs of past runs.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Run a real replay against a local emulator with seeded failed events (no tenant needed).
    #[cfg(feature = "demo")]
    Demo(DemoArgs),
}

impl Command {
    /// The connection options of the command, if it connects to the API.
    pub fn connection_mut(&mut self) -> Option<&mut ConnectionArgs> {
        match self {
            Command::Replay(a) => Some(&mut a.connection),
            Command::Dlq(DlqCommand::List(a)) => Some(&mut a.connection),
            Command::Dlq(DlqCommand::Stats(a)) => Some(&mut a.connection),
            Command::Dlq(DlqCommand::Show(a)) => Some(&mut a.connection),
            Command::Dlq(DlqCommand::Export(a)) => Some(&mut a.connection),
            Command::Audit(_) => None,
            #[cfg(feature = "demo")]
            Command::Demo(_) => None,
        }
    }
}

/// `dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// List DLQ events with their failure reason, retry count and age.
    List(Box<DlqListArgs>),
    /// Count DLQ events by failure reason, event type and retry count.
    Stats(Box<DlqStatsArgs>),
    /// Show one DLQ event: its metadata and its payload exactly as received.
    Show(Box<DlqShowArgs>),
    /// Export DLQ events to a JSON Lines file (for a backup, forensics, or `replay --from-file`).
    Export(Box<DlqExportArgs>),
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// What the runs recorded in an audit log did: final outcomes, and a row per run.
    Summary(AuditSummaryArgs),
    /// The events whose final outcome in an audit log is FAILED, with class, status, message.
    Failed(AuditFailedArgs),
    /// A report of the runs in an audit log: one self-contained HTML page with charts (or JSON).
    Report(Box<AuditReportArgs>),
}

/// `dlq list`.
#[derive(Debug, Args)]
pub struct DlqListArgs {
    /// Credentials and endpoint.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The topics whose DLQ to read.
    #[command(flatten)]
    pub topics: TopicsArgs,
    /// Which events to show.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Read at most this many DLQ events per topic (the filters then pick among them).
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    /// Start at this page token (printed by an earlier `dlq list`; one topic only).
    #[arg(long, value_name = "TOKEN")]
    pub page_token: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `dlq stats`.
#[derive(Debug, Args)]
pub struct DlqStatsArgs {
    /// Credentials and endpoint.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The topics whose DLQ to read.
    #[command(flatten)]
    pub topics: TopicsArgs,
    /// Which events to count.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `dlq show`.
#[derive(Debug, Args)]
pub struct DlqShowArgs {
    /// Credentials and endpoint.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The topic whose DLQ holds the event.
    #[arg(long, env = "CXONE_TOPIC_ID", value_name = "ID")]
    pub topic: Option<String>,
    /// The event's id.
    #[arg(value_name = "EVENT_ID")]
    pub event_id: String,
    /// Print the event as one JSON line, exactly as received (the `dlq export` line format).
    #[arg(long)]
    pub json: bool,
}

/// `dlq export`.
#[derive(Debug, Args)]
pub struct DlqExportArgs {
    /// Credentials and endpoint.
    #[command(flatten)]
    pub connection: ConnectionArgs,
    /// The topics whose DLQ to export.
    #[command(flatten)]
    pub topics: TopicsArgs,
    /// Which events to export.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// The file to write (JSON Lines, one event per line); `-` for stdout. Written to a
    /// temporary file beside it and renamed when complete.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the final counts as one JSON object on stdout (not with `--out -`).
    #[arg(long)]
    pub json: bool,
    /// Progress on stderr.
    #[command(flatten)]
    pub progress: ProgressArgs,
}

/// `audit summary`.
#[derive(Debug, Args)]
pub struct AuditSummaryArgs {
    /// The audit log (JSON Lines).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Only the records of this run.
    #[arg(long = "run", value_name = "RUN_ID")]
    pub run: Option<String>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `audit failed`.
#[derive(Debug, Args)]
pub struct AuditFailedArgs {
    /// The audit log (JSON Lines).
    #[arg(value_name = "AUDIT_LOG")]
    pub path: PathBuf,
    /// Only the events that failed with this class (e.g. MAX_RETRIES_EXCEEDED).
    #[arg(long, value_name = "CLASS", value_parser = filter::parse_class)]
    pub class: Option<cxone_replay_domain::FailureClass>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Credentials and endpoint.
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// The topics to replay (with --from-file: only these of the file's topics).
    #[command(flatten)]
    pub topics: TopicsArgs,

    /// Replay the events of this file (written by `dlq export`) instead of reading the DLQ.
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,

    /// Route replays to this URL instead of the topic's subscribers.
    #[arg(long, env = "DESTINATION_OVERRIDE_URL", value_name = "URL")]
    pub destination_override: Option<String>,

    /// Allow only these hosts as destination override (repeatable; default: any https host).
    #[arg(long = "allow-destination-host", value_name = "H")]
    pub allow_destination_hosts: Vec<String>,

    /// Retry window: replay an event only while retryCount + 1 <= this.
    #[arg(long, default_value_t = ReplayPolicy::default().get_max_retries(), value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_retries: u32,

    /// Skip events that first failed longer ago than this (e.g. 7d, 12h, 90m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_age: Option<Duration>,

    /// Which events to replay.
    #[command(flatten)]
    pub filter: FilterArgs,

    /// Events in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N", value_parser = RangedU64ValueParser::<usize>::new().range(1..=MAX_CONCURRENCY as u64))]
    pub concurrency: usize,

    /// At most N replays per second, evenly spaced; or `auto`: find the API's rate limit
    /// (start slowly, speed up while it accepts, slow down on a 429, follow its RateLimit
    /// header fields when it sends them).
    #[arg(long, value_name = "N|auto", value_parser = parse_rate)]
    pub rate: Option<Rate>,

    /// With --rate auto: never slower than N replays per second [default: 1].
    #[arg(long, value_name = "N", value_parser = parse_rate_bound, requires = "rate")]
    pub rate_min: Option<f64>,

    /// With --rate auto: never faster than N replays per second [default: 10000].
    #[arg(long, value_name = "N", value_parser = parse_rate_bound, requires = "rate")]
    pub rate_max: Option<f64>,

    /// DLQ page size.
    #[arg(long, default_value_t = REPLAY_PAGE_SIZE, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub page_size: u32,

    /// HTTP attempts per request, the first included (429, 5xx and network errors are retried).
    #[arg(long, default_value_t = RetryPolicy::default().max_attempts(), value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_ATTEMPTS)))]
    pub max_attempts: u32,

    /// Plan, validate and audit every event as DRY_RUN; send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Send at most N events, then stop cleanly (a canary; --resume continues). Skips do not
    /// count; in a dry run, DRY_RUN records do.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// Do not ask before a live replay (needed when stdin or stderr is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Progress on stderr.
    #[command(flatten)]
    pub progress: ProgressArgs,

    /// Prometheus metrics.
    #[command(flatten)]
    pub metrics: MetricsArgs,

    /// The audit log (JSON Lines, appended).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_AUDIT_LOG)]
    pub audit_log: PathBuf,

    /// Skip the events the audit log says were already delivered (SUCCESS or DUPLICATE) to the
    /// same topic.
    #[arg(long)]
    pub resume: bool,

    /// Idempotency keys: `event` is `replay-<eventId>-v<N>` (the tutorial's); `topic` is
    /// `replay-<topicId>-<eventId>-v<N>`, for servers that dedupe keys across topics when the same
    /// event is replayed to several topics.
    #[arg(long, value_enum, default_value_t = KeyScope::Event, value_name = "SCOPE")]
    pub key_scope: KeyScope,

    /// Stop the run after N events in a row failed with a transient error (429, 5xx, network);
    /// 0 never stops. The events not sent are left for --resume.
    #[arg(long, default_value_t = DEFAULT_STOP_AFTER_FAILURES, value_name = "N")]
    pub stop_after_failures: u32,

    /// POST run notifications to this URL (asynchronously, off the hot path). A credential
    /// (Slack and Teams put a secret in the path): shown as scheme and host only.
    #[arg(
        long,
        env = "MONITORING_WEBHOOK_URL",
        hide_env_values = true,
        value_name = "URL",
        value_parser = parse_webhook_url
    )]
    pub monitoring_webhook: Option<WebhookUrl>,

    /// Sign webhook notifications with this secret (Standard Webhooks, `whsec_...`).
    #[arg(
        long,
        env = "MONITORING_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "S",
        value_parser = parse_secret
    )]
    pub webhook_secret: Option<SecretString>,

    /// Print the run summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `--key-scope`: how idempotency keys are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyScope {
    /// `replay-<eventId>-v<N>`.
    Event,
    /// `replay-<topicId>-<eventId>-v<N>`.
    Topic,
}

impl KeyScope {
    /// The domain's key scheme.
    pub fn scheme(self) -> KeyScheme {
        match self {
            KeyScope::Event => KeyScheme::EventScoped,
            KeyScope::Topic => KeyScheme::TopicScoped,
        }
    }
}

/// How unreliable the demo's emulator is.
#[cfg(feature = "demo")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Faults {
    /// A perfect server.
    None,
    /// Now and then a 5xx, a 429, a dropped connection; tokens expire mid-run.
    Default,
    /// Many more of each.
    Heavy,
}

/// `demo`.
#[cfg(feature = "demo")]
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many failed events to seed.
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=200_000))]
    pub events: u64,
    /// Which faults the emulator injects.
    #[arg(long, value_enum, default_value_t = Faults::Default)]
    pub faults: Faults,
    /// The audit log [default: a new file in the system temp directory].
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<PathBuf>,
    /// Also write the HTML report of the run to FILE (as `audit report --out FILE`).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Print the run summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn parse_secret(s: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(s))
}

/// A webhook URL. It is a credential (Slack and Teams put a secret in its path), so its `Debug`
/// shows its scheme and host only; [`WebhookUrl::expose`] gives the whole URL to the one place
/// that posts to it.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// The whole URL, secret path included; `None` when empty (not set).
    pub fn expose(&self) -> Option<&str> {
        Some(self.0.as_str()).filter(|u| !u.is_empty())
    }
}

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("WebhookUrl")
            .field(&cxone_replay_domain::scheme_and_host(&self.0))
            .finish()
    }
}

fn parse_webhook_url(s: &str) -> Result<WebhookUrl, std::convert::Infallible> {
    Ok(WebhookUrl(s.to_string()))
}

/// A `--rate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rate {
    /// At most this many replays per second.
    PerSecond(f64),
    /// Find the API's rate limit.
    Auto,
}

/// A `--rate`: `auto`, or a number the engine accepts as a pace.
fn parse_rate(s: &str) -> Result<Rate, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(Rate::Auto);
    }
    parse_rate_bound(s)
        .map(Rate::PerSecond)
        .map_err(|e| format!("{e} (or `auto`)"))
}

/// A `--rate-min`/`--rate-max` (or a number of `--rate`): a pace the engine accepts.
fn parse_rate_bound(s: &str) -> Result<f64, String> {
    let rate: f64 = s.trim().parse().map_err(|e| format!("{e}"))?;
    match check_pace(rate) {
        Ok(()) => Ok(rate),
        Err(EngineError::Setting { problem, .. }) => Err(problem),
        Err(other) => Err(other.to_string()),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("{e} (use e.g. 7d, 12h, 90m)"))
        .and_then(|d| {
            if d.is_zero() {
                Err("must be more than zero".to_string())
            } else {
                Ok(d)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("seven days").is_err());
    }

    #[test]
    fn replay_flags_parse() {
        let cli = Cli::try_parse_from([
            "cxone-replay",
            "replay",
            "--topic",
            "a",
            "--topic",
            "b",
            "--event-id",
            "e1",
            "--event-id",
            "e2",
            "--max-age",
            "7d",
            "--dry-run",
        ])
        .unwrap();
        let Command::Replay(r) = cli.command else {
            panic!("not replay")
        };
        assert_eq!(r.topics.list(), ["a", "b"]);
        assert_eq!(r.filter.event_ids, ["e1", "e2"]);
        assert_eq!(r.audit_log, PathBuf::from(DEFAULT_AUDIT_LOG));
        assert!(r.dry_run);
        // the defaults are the library's
        assert_eq!(r.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(r.max_attempts, RetryPolicy::default().max_attempts());
        assert_eq!(r.max_retries, ReplayPolicy::default().get_max_retries());
        assert_eq!(r.page_size, REPLAY_PAGE_SIZE);
        assert_eq!(r.rate, None);
        assert_eq!(
            r.key_scope.scheme(),
            ReplayPolicy::default().get_key_scheme()
        );
        assert_eq!(r.stop_after_failures, DEFAULT_STOP_AFTER_FAILURES);
        let cli = Cli::try_parse_from([
            "cxone-replay",
            "replay",
            "--key-scope",
            "topic",
            "--stop-after-failures",
            "0",
        ])
        .unwrap();
        let Command::Replay(r) = cli.command else {
            panic!("not replay")
        };
        assert_eq!(r.key_scope.scheme(), KeyScheme::TopicScoped);
        assert_eq!(r.stop_after_failures, 0);
        for bad in [
            &["--key-scope", "global"][..],
            &["--stop-after-failures", "-1"],
        ] {
            let args = ["cxone-replay", "replay"]
                .into_iter()
                .chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rate_and_concurrency_follow_the_engine_limits() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["cxone-replay", "replay"].iter().chain(args)).map(|c| {
                let Command::Replay(r) = c.command else {
                    panic!("not replay")
                };
                (r.rate, r.concurrency)
            })
        };
        assert_eq!(
            parse(&["--rate", "0.5"]).unwrap(),
            (Some(Rate::PerSecond(0.5)), DEFAULT_CONCURRENCY)
        );
        assert_eq!(parse(&["--rate", "AUTO"]).unwrap().0, Some(Rate::Auto));
        for bad in ["0", "-3", "NaN", "inf", "2e9", "fast"] {
            let e = parse(&[&format!("--rate={bad}")]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
            assert!(e.to_string().contains("--rate"), "{e}");
            for flag in ["--rate-min", "--rate-max"] {
                let e = parse(&["--rate", "auto", &format!("{flag}={bad}")]).unwrap_err();
                assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
                assert!(e.to_string().contains(flag), "{e}");
            }
        }
        // The bounds need a --rate (and `auto`, checked when the run is configured).
        let e = parse(&["--rate-min", "5"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let max = MAX_CONCURRENCY.to_string();
        assert_eq!(parse(&["--concurrency", &max]).unwrap().1, MAX_CONCURRENCY);
        let over = (MAX_CONCURRENCY + 1).to_string();
        assert!(parse(&["--concurrency", &over]).is_err());
        assert!(parse(&["--concurrency", "0"]).is_err());
    }

    #[test]
    fn threads_is_a_global_flag_of_at_least_one() {
        let threads = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("cxone-replay").chain(args.iter().copied()))
                .map(|c| c.global.threads)
        };
        assert_eq!(threads(&["replay"]).unwrap(), DEFAULT_THREADS);
        assert_eq!(DEFAULT_THREADS, 1);
        assert_eq!(threads(&["replay", "--threads", "1"]).unwrap(), 1);
        assert_eq!(threads(&["--threads", "4", "replay"]).unwrap(), 4);
        assert!(threads(&["replay", "--threads", "0"]).is_err());
        assert!(threads(&["replay", "--threads", "1025"]).is_err());
    }
}
