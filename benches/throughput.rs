//! Replay throughput against the emulator over real sockets.
//!
//! - `latency_20ms/{1,16,64}`: 20 ms per API request; the Little's-law bound is
//!   `concurrency / 20 ms` events/s. Prints the measured rate and its ratio to the bound.
//! - `client_alone_20ms/64`: the baseline without the engine: 64 tasks looping over
//!   `Client::put_body` with the same emulator settings.
//! - `cpu_bound/64`: zero latency, JSONL audit log on: what the engine, client and emulator do
//!   on this machine's cores.
//!
//! Run: `cargo bench --bench throughput -- --quick`.

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cxone_dlq_replay::client::Client;
use cxone_dlq_replay::domain::{AuditRecord, Decision, EventFilter, ReplayPolicy, plan};
use cxone_dlq_replay::{AuditSink, BoxError, JsonlAuditLog, Replayer};
use cxone_eventbridge_emulator::{Emulator, EmulatorHandle};
use secrecy::SecretString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TOPIC: &str = "topic_pub_conversations";

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
        let (mut n, mut t, mut p50) = (0u64, Duration::ZERO, Vec::new());
        g.throughput(Throughput::Elements(events as u64));
        g.bench_function(conc.to_string(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (seen, d, p) = rt.block_on(one_run(&cl, conc, None));
                    p50.push(p);
                    total += d;
                    n += seen;
                    t += d;
                }
                total
            });
        });
        let rate = n as f64 / t.as_secs_f64();
        let bound = conc as f64 / 0.020;
        p50.sort_by(f64::total_cmp);
        let p50 = p50.get(p50.len() / 2).copied().unwrap_or(20.0);
        let measured_bound = conc as f64 / (p50 / 1000.0);
        println!(
            "latency_20ms/{conc}: {rate:.0} events/s; Little's-law bound {bound:.0}/s (nominal 20 ms): {:.1}%; \
             bound at the measured p50 of {p50:.1} ms: {measured_bound:.0}/s: {:.1}%",
            100.0 * rate / bound,
            100.0 * rate / measured_bound
        );
        rt.block_on(emu.shutdown());
    }
    g.finish();
}

async fn client_alone(c: &Client, emu: &EmulatorHandle, concurrency: usize) -> (u64, Duration) {
    let policy = ReplayPolicy::default();
    let planned: Vec<_> = emu
        .events(TOPIC)
        .iter()
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
        .collect();
    let planned = std::sync::Arc::new(planned);
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..concurrency {
        let (c, planned) = (c.clone(), planned.clone());
        tasks.spawn(async move {
            for (key, body) in planned.iter().skip(w).step_by(concurrency) {
                let _ = c.put_body(TOPIC, key, body.clone()).await;
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
                let (sent, d) = rt.block_on(client_alone(&cl, &emu, conc));
                total += d;
                n += sent;
                t += d;
            }
            total
        });
    });
    let rate = n as f64 / t.as_secs_f64();
    println!(
        "client_alone_20ms/{conc}: {rate:.0} events/s; {:.1}% of the Little's-law bound {:.0}/s",
        100.0 * rate / (conc as f64 / 0.020),
        conc as f64 / 0.020
    );
    rt.block_on(emu.shutdown());
    g.finish();
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
    let (mut n, mut t, mut i) = (0u64, Duration::ZERO, 0u64);
    g.throughput(Throughput::Elements(events as u64));
    g.bench_function("64_with_audit_log", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i += 1;
                let log = dir.path().join(format!("audit-{i}.jsonl"));
                let (seen, d, _) = rt.block_on(one_run(&cl, conc, Some(&log)));
                let _ = std::fs::remove_file(&log);
                total += d;
                n += seen;
                t += d;
            }
            total
        });
    });
    println!(
        "cpu_bound/64 (audit log on): {:.0} events/s",
        n as f64 / t.as_secs_f64()
    );
    rt.block_on(emu.shutdown());
    g.finish();
}

criterion_group!(benches, latency_20ms, client_alone_20ms, cpu_bound);
criterion_main!(benches);
