//! Lists the events in a topic's dead letter queue.
//!
//! ```sh
//! CXONE_CLIENT_ID=... CXONE_CLIENT_SECRET=... CXONE_TOPIC_ID=topic_pub_conversations \
//!   CXONE_REGION=api.nicecxone.com cargo run --example list_dlq
//! ```
//!
//! `CXONE_BASE_URL` (e.g. `http://127.0.0.1:8080` for a local emulator) takes precedence over
//! `CXONE_REGION` (default `api.nicecxone.com`). `CXONE_PAGE_SIZE` sets the page size (default 100).

use cxone_eventbridge::Client;
use futures::TryStreamExt;
use secrecy::SecretString;
use std::process::ExitCode;

fn env(name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(format!("missing environment variable {name}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(count) => {
            eprintln!("{count} event(s)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<u64, Box<dyn std::error::Error>> {
    let client_id = env("CXONE_CLIENT_ID")?;
    let secret = SecretString::from(env("CXONE_CLIENT_SECRET")?);
    let topic = env("CXONE_TOPIC_ID")?;
    let page_size = match std::env::var("CXONE_PAGE_SIZE") {
        Ok(v) => v
            .parse::<u32>()
            .map_err(|e| format!("CXONE_PAGE_SIZE `{v}`: {e}"))?,
        Err(_) => 100,
    };
    let mut builder = Client::builder().client_credentials(client_id, secret);
    builder = match (env("CXONE_BASE_URL"), env("CXONE_REGION")) {
        (Ok(url), _) => builder.base_url(url),
        (Err(_), Ok(region)) => builder.region(region),
        (Err(_), Err(_)) => builder,
    };
    let client = builder.build()?;
    client.authenticate().await?;

    let mut events = std::pin::pin!(client.dlq(topic).page_size(page_size).events());
    let mut count = 0u64;
    while let Some(event) = events.try_next().await? {
        count += 1;
        match &event.defect {
            Some(defect) => println!(
                "{:<40} INVALID ({} {})",
                event.event_id, defect.field, defect.problem
            ),
            None => println!(
                "{:<40} retryCount={} type={} reason={}",
                event.event_id,
                event.retry_count(),
                event.event_type().as_deref().unwrap_or("-"),
                event.failure_reason.as_deref().unwrap_or("-"),
            ),
        }
    }
    Ok(count)
}
