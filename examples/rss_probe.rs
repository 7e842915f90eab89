//! Measures the peak memory of a dry-run replay of N small events, generated lazily by an
//! in-memory DLQ source (no network), and prints one JSON line with `VmHWM`/`VmRSS` from
//! `/proc/self/status` (Linux).
//!
//! ```sh
//! cargo run --release --example rss_probe -- 100000
//! cargo run --release --example rss_probe -- 1000000
//! cargo run --release --example rss_probe -- 1000000 /tmp/audit.jsonl   # with a JSONL log
//! ```

use async_trait::async_trait;
use cxone_dlq_replay::domain::{AuditRecord, DlqEvent, DlqPage};
use cxone_dlq_replay::{AuditSink, BoxError, DlqSource, JsonlAuditLog, PageStream, Replayer};
use futures::StreamExt;
use serde_json::value::RawValue;
use std::sync::atomic::{AtomicU64, Ordering};

/// A DLQ of `n` small events, made page by page as the engine asks for them.
struct Generated {
    n: usize,
}

impl DlqSource for Generated {
    fn pages(&self, _topic: &str, page_size: u32, start: Option<String>) -> PageStream {
        let n = self.n;
        let first = start.and_then(|s| s.parse().ok()).unwrap_or(0usize);
        futures::stream::unfold(Some(first), move |pos| async move {
            let pos = pos?;
            if pos >= n {
                return None;
            }
            let end = (pos + page_size as usize).min(n);
            let events = (pos..end)
                .filter_map(|i| {
                    let json = format!(
                        r#"{{"eventId":"evt-{i:09}","payload":{{"conversationId":"conv_{i}","type":"conversation:start"}},"retryCount":{},"failureReason":"HTTP 502"}}"#,
                        i % 3
                    );
                    RawValue::from_string(json)
                        .ok()
                        .map(|raw| DlqEvent::from_raw(&raw))
                })
                .collect();
            let next = (end < n).then(|| end.to_string());
            Some((
                Ok(DlqPage {
                    events,
                    next_page_token: next,
                }),
                (end < n).then_some(end),
            ))
        })
        .boxed()
    }
}

/// Counts records (the default: measures the engine, not the disk).
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

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs the dry-run replay of `n` generated events (auditing to a JSONL log at `log` if given)
/// and returns the JSON line with the process's memory figures.
pub async fn probe(n: usize, log: Option<&str>) -> Result<String, Box<dyn std::error::Error>> {
    let b = Replayer::builder()
        .topic("topic_pub_conversations")
        .source(Generated { n })
        .dry_run(true)
        .concurrency(64)
        .page_size(100);
    let b = match log {
        Some(p) => b.audit(JsonlAuditLog::open(p)?),
        None => b.audit(Count::default()),
    };
    let t = std::time::Instant::now();
    let s = b.build()?.run().await?;
    Ok(format!(
        r#"{{"events":{n},"seen":{},"dry_run":{},"audit":"{}","vm_hwm_kib":{},"vm_rss_kib":{},"elapsed_ms":{}}}"#,
        s.seen,
        s.counts.dry_run,
        if log.is_some() { "jsonl" } else { "count" },
        status_kib("VmHWM:"),
        status_kib("VmRSS:"),
        t.elapsed().as_millis()
    ))
}

#[allow(dead_code)] // also compiled as a module of `benches/memory.rs`, which has its own main
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().as_deref().unwrap_or("1000000").parse()?;
    let log = args.next();
    println!("{}", probe(n, log.as_deref()).await?);
    Ok(())
}
