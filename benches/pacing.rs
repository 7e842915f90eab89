//! Pacing against the emulator over real sockets: how well `--rate N` keeps its word, and what
//! `--rate auto` finds behind a real rate limit. A plain bench binary (`harness = false`) that
//! runs each scenario once and prints a table: one run at 200/s takes 40 s, so criterion's
//! repeated samples would take hours.
//!
//! ```text
//! cargo bench --bench pacing                          # everything, 8,000 events per run
//! cargo bench --bench pacing -- --events 2000         # quicker
//! cargo bench --bench pacing -- --only accuracy       # accuracy | limit | auto | headers | change
//! ```
//!
//! - `accuracy`: `--rate 100/500/2000/5000` against the emulator at zero latency, ten seconds
//!   each (fewer events with `--events`); the rate is the sends between the first and the last
//!   answer (`(n - 1) / span`), from the engine's progress callback.
//! - `limit`: the emulator with `--rate-limit 200 --latency-ms 20`, `--concurrency 64`: no
//!   rate, `--rate 200`, `--rate auto`. The mean accepted rate is (201 + 409) answers over the
//!   run's elapsed time; PUTs answered 429 are the ledger's PUTs less its 201s and 409s.
//! - `headers`: the same with `--rate-limit-headers` and `--rate auto`; 429s after the first
//!   second are the client's count at the end less its count one second into the run.
//! - `change`: `--rate auto` while the limit goes 200 → 100 (at 10 s) → 200 (at 25 s); the
//!   time to re-converge is from the change to the start of the first 3-second window whose
//!   accepted rate is 80 to 102% of the new limit, with no 429 in it.

use async_trait::async_trait;
use cxone_dlq_replay::client::Client;
use cxone_dlq_replay::domain::AuditRecord;
use cxone_dlq_replay::{AuditSink, BoxError, Pace, Replayer, RunSummary};
use cxone_eventbridge_emulator::{Emulator, EmulatorBuilder, EmulatorHandle, ROUTE_PUT, RateLimit};
use secrecy::SecretString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOPIC: &str = "topic_pub_conversations";
const LIMIT: u32 = 200;
const DEFAULT_EVENTS: usize = 8_000;

/// An audit sink that keeps nothing (the bench measures pacing, not the log).
struct Discard;

#[async_trait]
impl AuditSink for Discard {
    async fn record(&self, _: &AuditRecord) -> Result<(), BoxError> {
        Ok(())
    }
    async fn flush(&self) -> Result<(), BoxError> {
        Ok(())
    }
}

struct Opts {
    events: usize,
    only: Option<String>,
}

fn opts() -> Opts {
    let mut o = Opts {
        events: DEFAULT_EVENTS,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--events" => {
                o.events = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--events N");
            }
            "--only" => o.only = args.next(),
            _ => {} // cargo bench passes `--bench`
        }
    }
    o
}

fn client(emu: &EmulatorHandle, concurrency: usize) -> Client {
    Client::builder()
        .base_url(emu.base_url())
        .client_credentials(
            emu.client_id(),
            SecretString::from(emu.client_secret().to_string()),
        )
        .max_connections(concurrency)
        .build()
        .expect("client")
}

/// What one run gives the tables.
struct Run {
    summary: RunSummary,
    /// Why the run stopped early, if it did.
    stopped: Option<String>,
    elapsed: Duration,
    /// Progress samples: (seconds since start, accepted so far, pace).
    samples: Arc<Mutex<Vec<(f64, u64, f64)>>>,
    /// The client's 429 count one second into the run.
    throttled_at_1s: u64,
    /// Client 429 counts sampled every 250 ms: (seconds, count).
    throttles: Vec<(f64, u64)>,
}

async fn run(
    emu: &EmulatorHandle,
    pace: Option<Pace>,
    concurrency: usize,
    mut at: impl FnMut(f64),
) -> Run {
    let c = client(emu, concurrency);
    c.authenticate().await.expect("token");
    let samples = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(AtomicU64::new(0));
    let mut b = Replayer::builder()
        .topic(TOPIC)
        .source(c.clone())
        .target(c.clone())
        .audit(Discard)
        .concurrency(concurrency);
    if let Some(p) = pace {
        b = b.pacing(p);
    }
    let t0 = Instant::now();
    {
        let samples = Arc::clone(&samples);
        let accepted = Arc::clone(&accepted);
        b = b.on_progress(move |p| {
            let ok = p.counts.success + p.counts.duplicate;
            accepted.store(ok, Ordering::Relaxed);
            samples.lock().expect("samples").push((
                t0.elapsed().as_secs_f64(),
                ok,
                p.pace.unwrap_or(0.0),
            ));
        });
    }
    let replay = tokio::spawn(b.build().expect("replayer").run());
    let mut throttled_at_1s = None;
    let mut throttles = Vec::new();
    let (summary, stopped) = loop {
        if replay.is_finished() {
            break match replay.await.expect("join") {
                Ok(s) => (s, None),
                Err(e) => (
                    e.summary()
                        .cloned()
                        .expect("a run that started has a summary"),
                    Some(e.to_string()),
                ),
            };
        }
        let now = t0.elapsed().as_secs_f64();
        at(now);
        let throttled = c.throttling().throttled;
        throttles.push((now, throttled));
        if now >= 1.0 && throttled_at_1s.is_none() {
            throttled_at_1s = Some(throttled);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    Run {
        summary,
        stopped,
        elapsed: t0.elapsed(),
        samples,
        throttled_at_1s: throttled_at_1s.unwrap_or(0),
        throttles,
    }
}

fn emulator(events: usize) -> EmulatorBuilder {
    Emulator::builder().events(events).page_max(100)
}

async fn accuracy(events: usize) {
    println!("\n### Fixed rates, emulator at zero latency, concurrency 64\n");
    println!("| --rate | events | achieved (sends/s) | error |");
    println!("|---:|---:|---:|---:|");
    for rate in [100.0_f64, 500.0, 2_000.0, 5_000.0] {
        // Ten seconds of sends at each rate (a stall of a few tens of milliseconds is then
        // under 1%), or fewer with a small --events.
        let n = events.max(1_000).min((rate * 10.0) as usize);
        let emu = emulator(n).start().await.expect("emulator");
        let r = run(&emu, Some(Pace::Fixed(rate)), 64, |_| {}).await;
        let achieved = {
            let s = r.samples.lock().expect("samples");
            let (first, last) = (
                s.first().map_or(0.0, |x| x.0),
                s.last().map_or(0.0, |x| x.0),
            );
            (s.len() as f64 - 1.0) / (last - first)
        };
        println!(
            "| {rate:.0} | {n} | {achieved:.1} | {:+.2}% |",
            (achieved / rate - 1.0) * 100.0
        );
        emu.shutdown().await;
    }
}

fn put_429s(emu: &EmulatorHandle) -> (u64, u64) {
    let l = emu.ledger();
    let puts = l.requests_on(ROUTE_PUT);
    (puts - l.accepted_total() - l.duplicates, puts)
}

async fn limit(events: usize, headers: bool, only_auto: bool) {
    if headers {
        println!(
            "\n### `--rate-limit {LIMIT} --latency-ms 20 --rate-limit-headers`, {events} events, concurrency 64\n"
        );
    } else {
        println!("\n### `--rate-limit {LIMIT} --latency-ms 20`, {events} events, concurrency 64\n");
    }
    println!(
        "| pacing | elapsed | accepted/s (× limit) | PUTs answered 429 | 429s after 1 s | held | failed | pace at end |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut notes = Vec::new();
    let cases: Vec<(&str, Option<Pace>)> = if only_auto {
        vec![("--rate auto", Some(Pace::adaptive()))]
    } else {
        vec![
            ("none", None),
            ("--rate 200", Some(Pace::Fixed(f64::from(LIMIT)))),
            ("--rate auto", Some(Pace::adaptive())),
        ]
    };
    for (name, pace) in cases {
        let emu = emulator(events)
            .latency(Duration::from_millis(20), Duration::ZERO)
            .rate_limit(RateLimit::new(LIMIT))
            .rate_limit_headers(headers)
            .start()
            .await
            .expect("emulator");
        let r = run(&emu, pace, 64, |_| {}).await;
        let s = &r.summary;
        let ok = s.counts.success + s.counts.duplicate;
        let rate = ok as f64 / r.elapsed.as_secs_f64();
        let (put429, puts) = put_429s(&emu);
        if let Some(why) = &r.stopped {
            notes.push(format!(
                "{name}: stopped after {} of {events} events: {why}",
                s.seen
            ));
        }
        println!(
            "| {name}{} | {:.1} s | {rate:.1} ({:.2}) | {put429} of {puts} ({:.2}%) | {} | {:.1} s | {} | {} |",
            if r.stopped.is_some() {
                " (stopped)"
            } else {
                ""
            },
            r.elapsed.as_secs_f64(),
            rate / f64::from(LIMIT),
            put429 as f64 * 100.0 / puts.max(1) as f64,
            s.rate_limited.saturating_sub(r.throttled_at_1s),
            s.held_ms as f64 / 1000.0,
            s.counts.failed,
            s.pace_per_second
                .map_or_else(|| "-".to_string(), |p| format!("{p:.1}/s")),
        );
        emu.shutdown().await;
    }
    for n in notes {
        println!("\n{n}");
    }
}

async fn change(events: usize) {
    println!(
        "\n### `--rate auto`, limit {LIMIT} → 100 at 10 s → {LIMIT} at 25 s, latency 20 ms, {events} events\n"
    );
    let emu = emulator(events)
        .latency(Duration::from_millis(20), Duration::ZERO)
        .rate_limit(RateLimit::new(LIMIT))
        .start()
        .await
        .expect("emulator");
    let changes = [(10.0, 100u32), (25.0, LIMIT)];
    let mut applied = 0;
    let r = run(&emu, Some(Pace::adaptive()), 64, |now| {
        if applied < changes.len() && now >= changes[applied].0 {
            emu.set_rate_limit(Some(RateLimit::new(changes[applied].1)))
                .expect("limit");
            applied += 1;
        }
    })
    .await;
    let samples = r.samples.lock().expect("samples").clone();
    let accepted_at = |t: f64| {
        samples
            .iter()
            .take_while(|s| s.0 <= t)
            .last()
            .map_or(0, |s| s.1)
    };
    let throttled_at = |t: f64| {
        r.throttles
            .iter()
            .take_while(|s| s.0 <= t)
            .last()
            .map_or(0, |s| s.1)
    };
    println!("| second | accepted/s | 429s | pace |");
    println!("|---:|---:|---:|---:|");
    let end = r.elapsed.as_secs_f64().floor();
    let mut t = 0.0;
    while t < end {
        let pace = samples
            .iter()
            .take_while(|s| s.0 <= t + 1.0)
            .last()
            .map_or(0.0, |s| s.2);
        println!(
            "| {t:.0} | {} | {} | {pace:.0} |",
            accepted_at(t + 1.0) - accepted_at(t),
            throttled_at(t + 1.0) - throttled_at(t)
        );
        t += 1.0;
    }
    for (i, (at, to)) in changes.iter().enumerate() {
        let until = changes.get(i + 1).map_or(end, |c| c.0);
        let mut found = None;
        let mut start = *at;
        while start + 3.0 <= until {
            let rate = (accepted_at(start + 3.0) - accepted_at(start)) as f64 / 3.0;
            let ok = (0.8 * f64::from(*to)..=1.02 * f64::from(*to)).contains(&rate);
            if ok && throttled_at(start + 3.0) == throttled_at(start) {
                found = Some(start - at);
                break;
            }
            start += 0.25;
        }
        match found {
            Some(d) => println!("\nlimit → {to} at {at:.0} s: re-converged after {d:.2} s"),
            None => println!("\nlimit → {to} at {at:.0} s: not re-converged before {until:.0} s"),
        }
    }
    emu.shutdown().await;
}

fn main() {
    let o = opts();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "pacing bench: {} events per run; load average {}",
        o.events,
        load.trim()
    );
    let want = |name: &str| o.only.as_deref().is_none_or(|w| w == name);
    rt.block_on(async {
        if want("accuracy") {
            // Ten seconds at each rate unless --events asks for fewer.
            let n = if o.events == DEFAULT_EVENTS {
                usize::MAX
            } else {
                o.events
            };
            accuracy(n).await;
        }
        if want("limit") {
            limit(o.events, false, false).await;
        }
        if o.only.as_deref() == Some("auto") {
            limit(o.events, false, true).await;
        }
        if want("headers") {
            limit(o.events, true, true).await;
        }
        if want("change") {
            change(o.events).await;
        }
    });
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\nload average at the end {}", load.trim());
}
