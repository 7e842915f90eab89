//! `cxone-eventbridge-emulator`: runs the local CXone EventBridge emulator until killed.
//!
//! Prints `listening on http://127.0.0.1:PORT` as its first stdout line, then serves until
//! Ctrl-C or SIGTERM, and shuts down cleanly.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use clap::Parser;
use cxone_eventbridge_emulator::{Emulator, RateLimit};
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

/// Local, stateful emulator of the CXone EventBridge DLQ/topic API.
#[derive(Debug, Parser)]
#[command(name = "cxone-eventbridge-emulator", version, about)]
struct Args {
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
    /// Number of seeded DLQ events, spread over the topics.
    #[arg(long, default_value_t = 200)]
    events: usize,
    /// Comma-separated topics.
    #[arg(long, value_delimiter = ',', default_value = "topic_pub_conversations")]
    topics: Vec<String>,
    /// Seed of the data and of every fault decision.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Client id the token endpoint accepts.
    #[arg(long, default_value = "demo")]
    client_id: String,
    /// Client secret the token endpoint accepts.
    #[arg(long, default_value = "demo-secret", hide_default_value = true)]
    client_secret: String,
    /// Access-key mode: also serve the password grant for this access key id (with
    /// --access-key-secret; the client id and secret are then checked as HTTP Basic).
    #[arg(long, requires = "access_key_secret", value_name = "ID")]
    access_key_id: Option<String>,
    /// The access key secret of access-key mode.
    #[arg(long, requires = "access_key_id", value_name = "S")]
    access_key_secret: Option<String>,
    /// Token lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    token_ttl: u64,
    /// Expire a token after this many API requests (deterministic expiry mid-run).
    #[arg(long)]
    token_max_uses: Option<u64>,
    /// Fixed latency added to every API request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Seeded random latency added on top, up to this many milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_jitter_ms: u64,
    /// Fraction of API requests answered with a 5xx.
    #[arg(long = "fail-5xx", default_value_t = 0.0)]
    fail_5xx: f64,
    /// Answer every K-th API request with 429 (0 = never).
    #[arg(long, default_value_t = 0)]
    rate_limit_every: u64,
    /// Retry-After seconds sent with the 429s.
    #[arg(long, default_value_t = 1)]
    retry_after: u64,
    /// A token-bucket rate limit over the API routes, in requests per second: an empty bucket
    /// answers 429 with Retry-After: 1.
    #[arg(long, value_name = "RPS")]
    rate_limit: Option<u32>,
    /// The rate limit's largest burst [default: max(1, RPS/10)].
    #[arg(long, value_name = "N", requires = "rate_limit")]
    rate_limit_burst: Option<u32>,
    /// Send the IETF RateLimit-Policy / RateLimit header fields on every API response.
    #[arg(long, requires = "rate_limit")]
    rate_limit_headers: bool,
    /// Fraction of API requests whose connection is closed without a response.
    #[arg(long, default_value_t = 0.0)]
    drop_fraction: f64,
    /// Largest DLQ page; bigger limits are capped to it.
    #[arg(long, default_value_t = 100)]
    page_max: usize,
    /// Fraction of events whose retryCount is already at the end of the 5-attempt window.
    #[arg(long, default_value_t = 0.0)]
    exhausted_fraction: f64,
    /// Fraction of events with a payload over 262,144 bytes.
    #[arg(long, default_value_t = 0.0)]
    oversize_fraction: f64,
    /// Approximate size of an ordinary payload in bytes.
    #[arg(long, default_value_t = 1024)]
    payload_bytes: usize,
    /// Reject an originalPayload whose numbers are not written exactly as in the DLQ (by
    /// default numbers compare by value, and such payloads are counted as altered).
    #[arg(long)]
    strict_payload: bool,
    /// Worker threads of the runtime (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.threads.filter(|n| *n > 0) {
        rt.worker_threads(n);
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let mut builder = Emulator::builder()
        .bind(SocketAddr::new(args.host, args.port))
        .events(args.events)
        .topics(args.topics)
        .seed(args.seed)
        .credentials(args.client_id, args.client_secret)
        .token_ttl(Duration::from_secs(args.token_ttl))
        .latency(
            Duration::from_millis(args.latency_ms),
            Duration::from_millis(args.latency_jitter_ms),
        )
        .fail_5xx(args.fail_5xx)
        .rate_limit_every(args.rate_limit_every, args.retry_after)
        .drop_fraction(args.drop_fraction)
        .page_max(args.page_max)
        .exhausted_fraction(args.exhausted_fraction)
        .oversize_fraction(args.oversize_fraction)
        .payload_bytes(args.payload_bytes)
        .strict_payload(args.strict_payload)
        .rate_limit_headers(args.rate_limit_headers);
    if let Some(n) = args.token_max_uses {
        builder = builder.token_max_uses(n);
    }
    if let Some(rps) = args.rate_limit {
        let mut limit = RateLimit::new(rps);
        if let Some(burst) = args.rate_limit_burst {
            limit = limit.with_burst(burst);
        }
        builder = builder.rate_limit(limit);
    }
    if let (Some(id), Some(secret)) = (args.access_key_id, args.access_key_secret) {
        builder = builder.access_key(id, secret);
    }
    let emu = match builder.start().await {
        Ok(emu) => emu,
        Err(e) => {
            eprintln!("error: {}", cxone_replay_domain::error_chain(&e));
            return ExitCode::from(2);
        }
    };
    let signal = shutdown_signal();
    {
        let mut out = std::io::stdout().lock();
        if writeln!(out, "listening on {}", emu.base_url())
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::FAILURE;
        }
    }
    signal.await;
    emu.shutdown().await;
    ExitCode::SUCCESS
}

/// Installs the Ctrl-C (SIGINT) and SIGTERM handlers now, so a signal sent right after the
/// listening line is handled, and returns a future that completes on the first of them.
#[cfg(unix)]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    async move {
        match (term, int) {
            (Some(mut term), Some(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (Some(mut one), None) | (None, Some(mut one)) => {
                let _ = one.recv().await;
            }
            (None, None) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// Returns a future that completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
