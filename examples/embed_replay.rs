//! Embedding the replay engine with a custom audit sink.
//!
//! Starts a local emulator of the CXone EventBridge API with a few hundred failed events,
//! replays them with the CXone client, and audits into a sink of our own that keeps counts by
//! status and prints failures, next to the standard JSONL log.
//!
//! ```sh
//! cargo run --example embed_replay
//! ```

use async_trait::async_trait;
use cxone_dlq_replay::client::Client;
use cxone_dlq_replay::domain::{AuditRecord, ReplayStatus};
use cxone_dlq_replay::{AuditSink, BoxError, JsonlAuditLog, Replayer};
use cxone_eventbridge_emulator::Emulator;
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Our own audit sink: forwards every record to the JSONL log and keeps counts in memory.
struct CountingSink {
    log: JsonlAuditLog,
    counts: Mutex<BTreeMap<ReplayStatus, u64>>,
}

#[async_trait]
impl AuditSink for CountingSink {
    async fn record(&self, record: &AuditRecord) -> Result<(), BoxError> {
        self.log.record(record).await?;
        if record.status == ReplayStatus::Failed {
            eprintln!(
                "failed: {} ({:?}, http {:?})",
                record.event_id, record.error_classification, record.http_status
            );
        }
        let mut c = self.counts.lock().map_err(|_| "counts poisoned")?;
        *c.entry(record.status).or_default() += 1;
        Ok(())
    }

    async fn flush(&self) -> Result<(), BoxError> {
        self.log.flush().await
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder()
        .events(300)
        .fail_5xx(0.05)
        .exhausted_fraction(0.05)
        .latency(Duration::from_millis(5), Duration::from_millis(5))
        .start()
        .await?;
    let client = Client::builder()
        .base_url(emu.base_url())
        .client_credentials(
            emu.client_id(),
            SecretString::from(emu.client_secret().to_string()),
        )
        .max_connections(16)
        .build()?;
    client.authenticate().await?; // fail fast on bad credentials

    let dir = std::env::temp_dir().join(format!("embed-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sink = Arc::new(CountingSink {
        log: JsonlAuditLog::open(dir.join("audit.jsonl"))?,
        counts: Mutex::default(),
    });

    let summary = Replayer::builder()
        .topic("topic_pub_conversations")
        .source(client.clone())
        .target(client)
        .audit(Arc::clone(&sink))
        .concurrency(16)
        .on_progress(|p| {
            if p.seen % 100 == 0 {
                eprintln!("{} events, {:.0}/s", p.seen, p.current_rate);
            }
        })
        .build()?
        .run()
        .await?;

    println!("{}", serde_json::to_string_pretty(&summary)?);
    println!(
        "by status (custom sink): {:?}",
        sink.counts.lock().map_err(|_| "poisoned")?
    );
    println!("audit log: {}", dir.join("audit.jsonl").display());
    emu.shutdown().await;
    Ok(())
}
