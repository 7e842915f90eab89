//! The operator's workflow with the engine: export the DLQ to a file, replay a canary from the
//! file, resume the rest, then re-drive exactly what failed.
//!
//! Starts a local emulator whose PUTs fail now and then, replays with one attempt per event
//! (so some fail), reads the failures back from the audit log and re-drives only those with a
//! patient client.
//!
//! ```sh
//! cargo run --example export_and_redrive
//! ```

use cxone_dlq_replay::client::Client;
use cxone_dlq_replay::domain::RetryPolicy;
use cxone_dlq_replay::{
    AuditLog, FileSource, JsonlAuditLog, Replayer, RunSummary, Selection, export,
};
use cxone_eventbridge_emulator::Emulator;
use secrecy::SecretString;
use std::num::NonZeroU64;
use std::path::Path;
use std::time::Duration;

const TOPIC: &str = "topic_pub_conversations";

fn client(
    base: &str,
    id: &str,
    secret: &str,
    attempts: u32,
) -> Result<Client, Box<dyn std::error::Error>> {
    Ok(Client::builder()
        .base_url(base)
        .client_credentials(id, SecretString::from(secret.to_string()))
        .retry_policy(RetryPolicy::new(
            attempts,
            Duration::from_millis(5),
            Duration::from_millis(50),
        )?)
        .max_connections(8)
        .build()?)
}

fn line(what: &str, s: &RunSummary) {
    println!(
        "{what:<28} seen {:>3}  success {:>3}  failed {:>2}  skipped {:>3}  already {:>3}  limit reached: {}",
        s.seen,
        s.counts.success,
        s.counts.failed,
        s.counts.skipped,
        s.already_replayed,
        s.limit_reached
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = Emulator::builder()
        .events(120)
        .topics([TOPIC])
        .fail_5xx(0.15)
        .exhausted_fraction(0.05)
        .start()
        .await?;
    let (base, id, secret) = (
        emu.base_url(),
        emu.client_id().to_string(),
        emu.client_secret().to_string(),
    );
    let impatient = client(&base, &id, &secret, 1)?;
    let dir = std::env::temp_dir().join(format!("export-and-redrive-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (file, log) = (dir.join("dlq.jsonl"), dir.join("audit.jsonl"));

    // 1. A backup of the DLQ (the patient client: a 5xx while reading is retried).
    let reader = client(&base, &id, &secret, 10)?;
    let mut out = tokio::fs::File::create(&file).await?;
    let exported = export(
        &reader,
        &[TOPIC.to_string()],
        50,
        &Selection::default(),
        &mut out,
        |_| {},
    )
    .await?;
    println!("exported {} events to {}", exported.written, file.display());

    // 2. A canary of 10 sends from the file, then the rest with resume.
    let run = |limit: Option<u64>, resume: bool| -> Result<Replayer, Box<dyn std::error::Error>> {
        let mut b = Replayer::builder()
            .topic(TOPIC)
            .source(FileSource::new(&file))
            .target(impatient.clone())
            .audit(JsonlAuditLog::open(&log)?)
            .resume(resume);
        if let Some(n) = limit.and_then(NonZeroU64::new) {
            b = b.limit(n);
        }
        Ok(b.build()?)
    };
    line("canary (--limit 10)", &run(Some(10), false)?.run().await?);
    line("the rest (resume)", &run(None, true)?.run().await?);

    // 3. What failed, read back from the audit log, re-driven from the DLQ itself.
    let failed = AuditLog::failed(&log)?;
    println!(
        "failed: {} event(s), by class {:?}",
        failed.events.len(),
        failed.by_class()
    );
    let redrive = Replayer::builder()
        .topic(TOPIC)
        .source(reader.clone())
        .target(client(&base, &id, &secret, 20)?)
        .only_events(failed.event_set(None))
        .audit(JsonlAuditLog::open(&log)?)
        .build()?
        .run()
        .await?;
    line("re-drive (only failed)", &redrive);
    let after = AuditLog::summary(&log)?;
    println!(
        "audit log {}: {} runs, final status {:?}",
        Path::new(&log).display(),
        after.runs.len(),
        after.final_counts
    );
    emu.shutdown().await;
    Ok(())
}
