//! Replay throughput against the emulator over real sockets.
//!
//! - `latency_20ms/{1,16,64}`: 20 ms per API request; the Little's-law bound is
//!   `concurrency / 20 ms` events/s. Prints the measured rate and its ratio to the bound.
//! - `client_alone_20ms/64`: the baseline without the engine: 64 tasks looping over
//!   `Client::put_body` with the same emulator settings.
//! - `cpu_bound/64`: zero latency, JSONL audit log on: what the engine, client and emulator do
//!   on this machine's cores.
//! - `cpu_per_event/{multi,current}_thread`: the cost of the replay alone, as issue 13 measures
//!   it: 20,000 events of ~1 KiB at concurrency 64, zero latency, JSONL audit log on, the
//!   emulator in a child process (this bench binary re-run with `THROUGHPUT_EMULATOR_EVENTS`
//!   set), so that the CPU time and the allocations counted are the replay's only; on a
//!   multi-thread runtime (2 workers) and on a current-thread one. Then the floor under it, on
//!   one thread, with the same child emulator and the same PUTs (read and planned before the
//!   measured part): `client_put_loop`, 64 tasks calling `Client::put_body`, and
//!   `reqwest_put_loop`, the same requests by a bare reqwest client configured as ours, and
//!   `hyper_put_loop`, by hyper-util's pooled client (the layer under reqwest). The differences
//!   are what the engine (DLQ reading, planning, audit log), the client's own layer and reqwest
//!   cost on top of hyper and the kernel.
//!
//! Every row prints events/s, CPU µs per event (user + system of this process, `getrusage`) and
//! allocations per event (a counting global allocator); in the rows other than `cpu_per_event`
//! the emulator runs in this process, so its share is included.
//!
//! Run: `cargo bench --bench throughput -- --quick` (`-- --quick cpu_per_event` for the last
//! rows only).

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_group};
use cxone_dlq_replay::client::Client;
use cxone_dlq_replay::domain::{
    AuditRecord, Decision, DlqEvent, EventFilter, IdempotencyKey, ReplayPolicy, plan,
};
use cxone_dlq_replay::{AuditSink, BoxError, JsonlAuditLog, Replayer};
use cxone_eventbridge_emulator::{Emulator, EmulatorHandle};
use futures::StreamExt;
use nix::sys::resource::{UsageWho, getrusage};
use secrecy::SecretString;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const TOPIC: &str = "topic_pub_conversations";

/// Set in the child process that serves the emulator for `cpu_per_event`: its number of events.
const EMULATOR_ENV: &str = "THROUGHPUT_EMULATOR_EVENTS";

/// User + system CPU time of this process so far.
fn cpu_time() -> Duration {
    let u = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let d = |t: nix::sys::time::TimeVal| {
        Duration::new(
            u64::try_from(t.tv_sec()).unwrap_or(0),
            u32::try_from(t.tv_usec()).unwrap_or(0) * 1000,
        )
    };
    d(u.user_time()) + d(u.system_time())
}

/// What some runs cost: wall time, CPU time and allocations, over their events.
#[derive(Default)]
struct Cost {
    events: u64,
    wall: Duration,
    cpu: Duration,
    allocations: u64,
    bytes: u64,
    /// CPU µs per event of each run, for the median.
    per_run: Vec<f64>,
}

impl Cost {
    /// Runs `f` (which returns its events and wall time) and adds what it cost.
    fn measure(&mut self, f: impl FnOnce() -> (u64, Duration)) -> Duration {
        let region = Region::new(GLOBAL);
        let cpu0 = cpu_time();
        let (events, wall) = f();
        let cpu = cpu_time().saturating_sub(cpu0);
        let stats = region.change();
        self.events += events;
        self.wall += wall;
        self.cpu += cpu;
        self.allocations += stats.allocations as u64 + stats.reallocations as u64;
        self.bytes += stats.bytes_allocated as u64;
        self.per_run
            .push(cpu.as_secs_f64() * 1e6 / events.max(1) as f64);
        wall
    }

    /// `N events/s; X µs CPU/event (median of runs A, range B–C); Y allocations/event (Z bytes)`.
    fn line(&mut self) -> Option<String> {
        if self.events == 0 {
            return None; // not run (filtered out)
        }
        let n = self.events.max(1) as f64;
        self.per_run.sort_by(f64::total_cmp);
        let median = self
            .per_run
            .get(self.per_run.len() / 2)
            .copied()
            .unwrap_or(0.0);
        Some(format!(
            "{:.0} events/s; {:.1} µs CPU/event (median of {} runs {median:.1}, range {:.1}–{:.1}); \
             {:.1} allocations/event ({:.0} bytes/event)",
            n / self.wall.as_secs_f64(),
            self.cpu.as_secs_f64() * 1e6 / n,
            self.per_run.len(),
            self.per_run.first().copied().unwrap_or(0.0),
            self.per_run.last().copied().unwrap_or(0.0),
            self.allocations as f64 / n,
            self.bytes as f64 / n,
        ))
    }
}

#[derive(Default)]
struct Count(AtomicU64);

#[async_trait]
impl AuditSink for Count {
    async fn record(&self, _: &AuditRecord) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    async fn flush(&self) -> Result<(), BoxError> {
        Ok(())
    }
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

/// Replays the emulator's DLQ once; returns the events seen, the time taken and the p50 latency.
async fn one_run(
    c: &Client,
    concurrency: usize,
    log: Option<&std::path::Path>,
) -> (u64, Duration, f64) {
    let b = Replayer::builder()
        .topic(TOPIC)
        .source(c.clone())
        .target(c.clone())
        .concurrency(concurrency);
    let b = match log {
        Some(p) => b.audit(JsonlAuditLog::open(p).expect("log")),
        None => b.audit(Count::default()),
    };
    let r = b.build().expect("replayer");
    let t = Instant::now();
    let s = r.run().await.expect("run");
    (s.seen, t.elapsed(), s.latency_ms.p50)
}

fn latency_20ms(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut g = c.benchmark_group("latency_20ms");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for conc in [1usize, 16, 64] {
        // about 2 s of ideal work per run, so that start-up (token, first page) is amortized
        let events = conc * 100;
        let emu = rt.block_on(
            Emulator::builder()
                .events(events)
                .payload_bytes(256)
                .latency(Duration::from_millis(20), Duration::ZERO)
                .start(),
        );
        let emu = emu.expect("emulator");
        let cl = client(&emu, conc);
        rt.block_on(cl.authenticate()).expect("token");
        let (mut cost, mut p50) = (Cost::default(), Vec::new());
        g.throughput(Throughput::Elements(events as u64));
        g.bench_function(conc.to_string(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += cost.measure(|| {
                        let (seen, d, p) = rt.block_on(one_run(&cl, conc, None));
                        p50.push(p);
                        (seen, d)
                    });
                }
                total
            });
        });
        let line = cost.line();
        rt.block_on(emu.shutdown());
        let Some(line) = line else { continue };
        let rate = cost.events as f64 / cost.wall.as_secs_f64();
        let bound = conc as f64 / 0.020;
        p50.sort_by(f64::total_cmp);
        let p50 = p50.get(p50.len() / 2).copied().unwrap_or(20.0);
        let measured_bound = conc as f64 / (p50 / 1000.0);
        println!(
            "latency_20ms/{conc}: {rate:.0} events/s; Little's-law bound {bound:.0}/s (nominal 20 ms): {:.1}%; \
             bound at the measured p50 of {p50:.1} ms: {measured_bound:.0}/s: {:.1}%\n  \
             with the emulator in process: {line}",
            100.0 * rate / bound,
            100.0 * rate / measured_bound,
        );
    }
    g.finish();
}

/// The PUTs of `events`, planned as the engine plans them: each replay's key and body.
fn planned_puts<'a>(
    events: impl IntoIterator<Item = &'a DlqEvent>,
) -> Vec<(IdempotencyKey, Vec<u8>)> {
    let policy = ReplayPolicy::default();
    events
        .into_iter()
        .filter_map(|e| {
            match plan(
                e,
                TOPIC,
                &policy,
                &EventFilter::default(),
                chrono::Utc::now(),
            ) {
                Decision::Replay(p) => Some((p.idempotency_key().clone(), p.body)),
                Decision::Skip(_) => None,
            }
        })
        .collect()
}

/// One way of sending a planned PUT, for the loops that measure a client without the engine.
trait Put: Clone + Send + Sync + 'static {
    /// Sends `body` with `key`, and reads the answer whole; the outcome is not looked at.
    fn put(&self, key: &IdempotencyKey, body: Vec<u8>) -> impl Future<Output = ()> + Send;
}

impl Put for Client {
    async fn put(&self, key: &IdempotencyKey, body: Vec<u8>) {
        let _ = self.put_body(TOPIC, key, body).await;
    }
}

/// `concurrency` tasks sending with `via`, each every `concurrency`-th planned PUT, until every
/// planned PUT is sent; the PUTs sent and the time taken.
async fn put_loop(
    via: impl Put,
    planned: Arc<Vec<(IdempotencyKey, Vec<u8>)>>,
    concurrency: usize,
) -> (u64, Duration) {
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (via, planned) = (via.clone(), planned.clone());
        tasks.spawn(async move {
            for (key, body) in planned.iter().skip(w).step_by(concurrency) {
                via.put(key, body.clone()).await;
            }
        });
    }
    tasks.join_all().await;
    (planned.len() as u64, t.elapsed())
}

fn client_alone_20ms(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut g = c.benchmark_group("client_alone_20ms");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    let conc = 64;
    let events = conc * 100;
    let emu = rt
        .block_on(
            Emulator::builder()
                .events(events)
                .payload_bytes(256)
                .latency(Duration::from_millis(20), Duration::ZERO)
                .start(),
        )
        .expect("emulator");
    let cl = client(&emu, conc);
    rt.block_on(cl.authenticate()).expect("token");
    let (mut n, mut t) = (0u64, Duration::ZERO);
    g.throughput(Throughput::Elements(events as u64));
    g.bench_function(conc.to_string(), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let planned = Arc::new(planned_puts(emu.events(TOPIC).iter()));
                let (sent, d) = rt.block_on(put_loop(cl.clone(), planned, conc));
                total += d;
                n += sent;
                t += d;
            }
            total
        });
    });
    rt.block_on(emu.shutdown());
    g.finish();
    if n > 0 {
        let rate = n as f64 / t.as_secs_f64();
        println!(
            "client_alone_20ms/{conc}: {rate:.0} events/s; {:.1}% of the Little's-law bound {:.0}/s",
            100.0 * rate / (conc as f64 / 0.020),
            conc as f64 / 0.020
        );
    }
}

fn cpu_bound(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut g = c.benchmark_group("cpu_bound");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(6));
    let conc = 64;
    let events = 5000;
    let emu = rt
        .block_on(
            Emulator::builder()
                .events(events)
                .payload_bytes(512)
                .start(),
        )
        .expect("emulator");
    let cl = client(&emu, conc);
    rt.block_on(cl.authenticate()).expect("token");
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut cost, mut i) = (Cost::default(), 0u64);
    g.throughput(Throughput::Elements(events as u64));
    g.bench_function("64_with_audit_log", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i += 1;
                let log = dir.path().join(format!("audit-{i}.jsonl"));
                total += cost.measure(|| {
                    let (seen, d, _) = rt.block_on(one_run(&cl, conc, Some(&log)));
                    (seen, d)
                });
                let _ = std::fs::remove_file(&log);
            }
            total
        });
    });
    if let Some(line) = cost.line() {
        println!("cpu_bound/64 (audit log on, emulator in process): {line}");
    }
    rt.block_on(emu.shutdown());
    g.finish();
}

/// The child process of `cpu_per_event`: serves an emulator of `events` events (1 KiB payloads,
/// no latency), prints its base URL, and stops when its standard input closes.
fn serve_emulator(events: usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt
        .block_on(
            Emulator::builder()
                .events(events)
                .payload_bytes(1024)
                .start(),
        )
        .expect("emulator");
    println!("{}", emu.base_url());
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    rt.block_on(emu.shutdown());
}

/// An emulator in a child process; stopped when dropped.
struct ChildEmulator {
    child: Child,
    base_url: String,
}

impl ChildEmulator {
    fn start(events: usize) -> Self {
        let mut child = Command::new(std::env::current_exe().expect("current exe"))
            .env(EMULATOR_ENV, events.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the emulator child");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the emulator's base URL");
        ChildEmulator {
            child,
            base_url: line.trim().to_string(),
        }
    }
}

impl Drop for ChildEmulator {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // EOF: the child shuts down
        let _ = self.child.wait();
    }
}

/// A client of the emulator in the child process.
fn child_client(emu: &ChildEmulator, concurrency: usize) -> Client {
    Client::builder()
        .base_url(&emu.base_url)
        .client_credentials(
            cxone_eventbridge_emulator::DEFAULT_CLIENT_ID,
            SecretString::from(cxone_eventbridge_emulator::DEFAULT_CLIENT_SECRET.to_string()),
        )
        .max_connections(concurrency)
        .build()
        .expect("client")
}

/// The runtime of a `cpu_per_event` row.
fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
    if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("runtime")
}

/// The PUTs of the child emulator's DLQ, read through `c` and planned (not measured).
async fn read_and_plan(c: &Client) -> Arc<Vec<(IdempotencyKey, Vec<u8>)>> {
    let events: Vec<DlqEvent> = c
        .dlq(TOPIC)
        .events()
        .map(|e| e.expect("DLQ event"))
        .collect()
        .await;
    Arc::new(planned_puts(&events))
}

/// A bare reqwest client, configured as `Client::builder()` configures its own: no redirects,
/// no retries, the same default headers, time-outs and pool.
fn bare_client(concurrency: usize) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    reqwest::Client::builder()
        .user_agent(cxone_dlq_replay::client::USER_AGENT)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("reqwest client")
}

/// The bearer header of a client-credentials token from the emulator, asked by hand.
async fn bare_bearer(http: &reqwest::Client, base: &str) -> reqwest::header::HeaderValue {
    let answer: serde_json::Value = http
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", cxone_eventbridge_emulator::DEFAULT_CLIENT_ID),
            (
                "client_secret",
                cxone_eventbridge_emulator::DEFAULT_CLIENT_SECRET,
            ),
            ("scope", cxone_dlq_replay::client::DEFAULT_SCOPES),
        ])
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("token")
        .json()
        .await
        .expect("token JSON");
    let token = answer["access_token"].as_str().expect("access_token");
    let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
    v.set_sensitive(true);
    v
}

/// The floor under `Client::put_body`: the same requests (URL, headers, bodies) by a bare
/// reqwest client.
#[derive(Clone)]
struct BareReqwest {
    http: reqwest::Client,
    url: reqwest::Url,
    bearer: reqwest::header::HeaderValue,
}

impl Put for BareReqwest {
    async fn put(&self, key: &IdempotencyKey, body: Vec<u8>) {
        let answer = self
            .http
            .put(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key.as_str())
            .header(reqwest::header::AUTHORIZATION, self.bearer.clone())
            .body(body)
            .send()
            .await;
        if let Ok(r) = answer {
            let _ = r.bytes().await;
        }
    }
}

/// Below reqwest: the same PUTs by hyper-util's pooled HTTP/1 client (the layer reqwest is built
/// on), headers as reqwest sends them.
#[derive(Clone)]
struct BareHyper {
    client: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    uri: http::Uri,
    bearer: reqwest::header::HeaderValue,
}

impl BareHyper {
    fn new(base: &str, bearer: reqwest::header::HeaderValue, concurrency: usize) -> Self {
        BareHyper {
            client: hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .pool_max_idle_per_host(concurrency)
            .build_http(),
            uri: put_url(base).as_str().parse().expect("uri"),
            bearer,
        }
    }
}

impl Put for BareHyper {
    async fn put(&self, key: &IdempotencyKey, body: Vec<u8>) {
        use http_body_util::BodyExt;
        let request = http::Request::put(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", key.as_str())
            .header(http::header::AUTHORIZATION, self.bearer.clone())
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                cxone_dlq_replay::client::USER_AGENT,
            )
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .expect("request");
        if let Ok(r) = self.client.request(request).await {
            let _ = r.into_body().collect().await;
        }
    }
}

/// The topic's PUT URL on the emulator at `base`.
fn put_url(base: &str) -> reqwest::Url {
    reqwest::Url::parse(&format!(
        "{base}{}/topics/{TOPIC}/events",
        cxone_dlq_replay::client::DEFAULT_API_PREFIX
    ))
    .expect("url")
}

/// The rows of `cpu_per_event`: the engine on two runtimes, then the floor under it on one
/// thread (the same PUTs by `Client::put_body` alone, by a bare reqwest client, and by
/// hyper-util's client without reqwest).
const CPU_ROWS: [&str; 5] = [
    "multi_thread",
    "current_thread",
    "client_put_loop",
    "reqwest_put_loop",
    "hyper_put_loop",
];

fn cpu_per_event(c: &mut Criterion) {
    let mut g = c.benchmark_group("cpu_per_event");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(10));
    let (conc, events) = (64usize, 20_000usize);
    let dir = tempfile::tempdir().expect("tempdir");
    g.throughput(Throughput::Elements(events as u64));
    for row in CPU_ROWS {
        let rt = runtime(row == "multi_thread");
        let (mut cost, mut i) = (Cost::default(), 0u64);
        g.bench_function(row, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // A fresh emulator each run: every PUT is accepted (201), none a 409.
                    let emu = ChildEmulator::start(events);
                    let cl = child_client(&emu, conc);
                    total += match row {
                        "client_put_loop" => {
                            let planned = rt.block_on(read_and_plan(&cl));
                            cost.measure(|| rt.block_on(put_loop(cl.clone(), planned, conc)))
                        }
                        "reqwest_put_loop" | "hyper_put_loop" => {
                            let planned = rt.block_on(read_and_plan(&cl));
                            let http = bare_client(conc);
                            let bearer = rt.block_on(bare_bearer(&http, &emu.base_url));
                            if row == "hyper_put_loop" {
                                let via = BareHyper::new(&emu.base_url, bearer, conc);
                                cost.measure(|| rt.block_on(put_loop(via, planned, conc)))
                            } else {
                                let url = put_url(&emu.base_url);
                                let via = BareReqwest { http, url, bearer };
                                cost.measure(|| rt.block_on(put_loop(via, planned, conc)))
                            }
                        }
                        _ => {
                            i += 1;
                            let log = dir.path().join(format!("audit-{i}.jsonl"));
                            let d = cost.measure(|| {
                                let (seen, d, _) = rt.block_on(one_run(&cl, conc, Some(&log)));
                                (seen, d)
                            });
                            let _ = std::fs::remove_file(&log);
                            d
                        }
                    };
                }
                total
            });
        });
        if let Some(line) = cost.line() {
            println!(
                "cpu_per_event/{row} (20,000 events of 1 KiB, C=64, emulator in a child process{}): {line}",
                if row.ends_with("_thread") {
                    ", audit log on"
                } else {
                    "; PUTs only, planned before"
                }
            );
        }
    }
    g.finish();
}

criterion_group!(
    benches,
    latency_20ms,
    client_alone_20ms,
    cpu_bound,
    cpu_per_event
);

fn main() {
    if let Ok(n) = std::env::var(EMULATOR_ENV) {
        serve_emulator(n.parse().expect("a number of events"));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
