//! The `dlq` commands: read-only views of one or more topics' dead letter queues.
//!
//! `list` pages by hand (a page token per topic, `--limit` events read); `stats` and `show`
//! stream the whole DLQ through the client's lazy page stream; `export` streams it to a file
//! through the engine's `export`.

mod export;
mod show;
mod stats;

pub use show::{render_show, show};
pub use stats::{render_stats, stats};

use crate::cli::{ConnectionArgs, DlqCommand};
use crate::config::{self, api_error};
use crate::error::{CliError, EXIT_OK};
use crate::output::{out, out_json};
use crate::progress::{Settings, Ui};
use crate::table::{Align, Table, age, truncate};
use chrono::{DateTime, Utc};
use cxone_dlq_replay::DEFAULT_PAGE_SIZE;
use cxone_dlq_replay::Selection;
use cxone_eventbridge::Client;
use cxone_replay_domain::{DlqEvent, DlqPage};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Runs a `dlq` command; `now` is the command's one "now" (relative times, ages).
///
/// # Errors
/// Exit 2 for usage, configuration and authentication errors; exit 1 for a failed read or an
/// event that is not there.
pub async fn run(cmd: DlqCommand, ui: Ui, now: DateTime<Utc>) -> Result<u8, CliError> {
    match cmd {
        DlqCommand::List(a) => {
            let topics = a.topics.required()?;
            if a.page_token.is_some() && topics.len() > 1 {
                return Err(CliError::usage(
                    "--page-token continues one topic's DLQ: pass a single --topic with it",
                ));
            }
            let selection = a.filter.selection(now)?;
            let client = connect(&a.connection).await?;
            let listing = list(&client, &topics, &selection, a.limit, a.page_token, now).await?;
            if a.json {
                out_json(&listing)?;
            } else {
                out(&render_list(&listing, !selection.is_empty()))?;
            }
        }
        DlqCommand::Stats(a) => {
            let topics = a.topics.required()?;
            let selection = a.filter.selection(now)?;
            let client = connect(&a.connection).await?;
            let s = stats(&client, &topics, &selection).await?;
            if a.json {
                out_json(&s)?;
            } else {
                out(&render_stats(&s, !selection.is_empty()))?;
            }
        }
        DlqCommand::Export(a) => {
            export::check(&a)?;
            let topics = a.topics.required()?;
            let selection = a.filter.selection(now)?;
            let client = connect(&a.connection).await?;
            let progress = Settings::new(&a.progress, ui.quiet, ui.json_logs);
            export::run(&a, &client, &topics, &selection, progress).await?;
        }
        DlqCommand::Show(a) => {
            let topic = single_topic(a.topic.as_deref())?;
            let client = connect(&a.connection).await?;
            let event = show(&client, &topic, &a.event_id).await?;
            if a.json {
                // the `dlq export` line of the event
                let mut line = Vec::new();
                cxone_dlq_replay::source::write_line(&mut line, &topic, &event)
                    .map_err(|e| CliError::failed(format!("cannot serialize the event: {e}")))?;
                out(&String::from_utf8_lossy(&line))?;
            } else {
                out(&render_show(&topic, &event, now))?;
            }
        }
    }
    Ok(EXIT_OK)
}

/// A client for `c`, with a token already fetched (bad credentials fail first).
///
/// # Errors
/// Exit 2 for a refused configuration or refused credentials; exit 1 when the token endpoint
/// cannot be reached.
pub async fn connect(c: &ConnectionArgs) -> Result<Client, CliError> {
    let client = config::build(config::client_builder(c)?)?;
    config::authenticate(&client, c.auth).await?;
    Ok(client)
}

/// The one topic of a command that reads one.
fn single_topic(topic: Option<&str>) -> Result<String, CliError> {
    let topic = topic
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| CliError::usage("missing topic: pass --topic or set CXONE_TOPIC_ID"))?;
    if topic.contains(',') {
        return Err(CliError::usage(format!(
            "`{topic}` names several topics; this command reads one: pass --topic ID"
        )));
    }
    Ok(topic.to_string())
}

/// One event of `dlq list --json`.
#[derive(Debug, Serialize)]
pub struct ListedEvent {
    /// The topic whose DLQ holds it.
    pub topic: String,
    /// The event id.
    pub event_id: String,
    /// The payload's `type`.
    pub event_type: Option<String>,
    /// Why delivery failed.
    pub failure_reason: Option<String>,
    /// Delivery attempts so far.
    pub retry_count: u32,
    /// First failure (as sent by the server).
    pub first_failure_timestamp: Option<String>,
    /// Last failure (as sent by the server).
    pub last_failure_timestamp: Option<String>,
    /// Seconds since the first (else the last) failure.
    pub age_seconds: Option<i64>,
    /// Why the event is malformed, if it is.
    pub defect: Option<String>,
}

/// `dlq list --json`.
#[derive(Debug, Serialize)]
pub struct Listing {
    /// The topics read, in order.
    pub topics: Vec<String>,
    /// The events that match the filters, topic after topic, in DLQ order.
    pub events: Vec<ListedEvent>,
    /// `events.len()`.
    pub count: usize,
    /// DLQ events read (before the filters), over all topics.
    pub read: u64,
    /// Whether a DLQ holds more events than were read.
    pub truncated: bool,
    /// Per topic with more events: the page token that continues after what was read.
    pub next_page_tokens: BTreeMap<String, String>,
}

/// When an event failed: first, else last failure.
pub(crate) fn failed_at(e: &DlqEvent) -> Option<DateTime<Utc>> {
    e.first_failure_at().or_else(|| e.last_failure_at())
}

fn listed(topic: &str, e: DlqEvent, now: DateTime<Utc>) -> ListedEvent {
    ListedEvent {
        topic: topic.to_string(),
        event_type: e.event_type(),
        retry_count: e.retry_count(),
        age_seconds: failed_at(&e).map(|t| (now - t).num_seconds()),
        defect: defect_text(&e),
        event_id: e.event_id,
        failure_reason: e.failure_reason,
        first_failure_timestamp: e.first_failure_timestamp,
        last_failure_timestamp: e.last_failure_timestamp,
    }
}

/// `field: problem` of a malformed event.
pub(crate) fn defect_text(e: &DlqEvent) -> Option<String> {
    e.defect
        .as_ref()
        .map(|d| format!("{}: {}", d.field, d.problem))
}

/// One page of `topic`'s DLQ, `size` events at most, at `token`.
async fn page(
    client: &Client,
    topic: &str,
    size: u32,
    token: Option<String>,
) -> Result<DlqPage, CliError> {
    let mut pages = std::pin::pin!(client.dlq(topic).page_size(size).start_token(token).pages());
    match pages.next().await {
        Some(Ok(p)) => Ok(p),
        Some(Err(e)) => Err(api_error("reading the DLQ", &e)),
        None => Ok(DlqPage::default()),
    }
}

/// Reads up to `limit` DLQ events of each topic (from `start` for a single topic), page by
/// page, and keeps those that `selection` admits. Stops on a page boundary, so the next page token
/// continues exactly after what was read.
///
/// # Errors
/// The API error that stopped the reading (exit 2 for credentials or an unknown topic, else 1);
/// a page token the server hands out twice (exit 1).
pub async fn list(
    client: &Client,
    topics: &[String],
    selection: &Selection,
    limit: u64,
    start: Option<String>,
    now: DateTime<Utc>,
) -> Result<Listing, CliError> {
    let mut listing = Listing {
        topics: topics.to_vec(),
        events: Vec::new(),
        count: 0,
        read: 0,
        truncated: false,
        next_page_tokens: BTreeMap::new(),
    };
    for topic in topics {
        let mut token = start.clone();
        let mut seen: HashSet<String> = token.iter().cloned().collect();
        let mut read = 0u64;
        loop {
            // never more than the rest of the limit: the page ends where the listing does
            let size = (limit - read).min(u64::from(DEFAULT_PAGE_SIZE));
            let size = u32::try_from(size).unwrap_or(DEFAULT_PAGE_SIZE);
            let p = page(client, topic, size, token.take()).await?;
            read += p.events.len() as u64;
            listing.events.extend(
                p.events
                    .into_iter()
                    .filter(|e| selection.matches(topic, e))
                    .map(|e| listed(topic, e, now)),
            );
            token = p.next_page_token;
            if let Some(t) = &token
                && !seen.insert(t.clone())
            {
                return Err(CliError::failed(format!(
                    "reading the DLQ of topic {topic}: the server repeated the page token `{t}`"
                )));
            }
            if token.is_none() || read >= limit {
                break;
            }
        }
        listing.read += read;
        if let Some(t) = token {
            listing.truncated = true;
            listing.next_page_tokens.insert(topic.clone(), t);
        }
    }
    listing.count = listing.events.len();
    Ok(listing)
}

/// `dlq list` as text: a table (with a TOPIC column for several topics), then a count and, per
/// topic with more events, how to continue.
pub fn render_list(l: &Listing, filtered: bool) -> String {
    let several = l.topics.len() > 1;
    let topics = format!(
        "topic{} {}",
        if several { "s" } else { "" },
        l.topics.join(", ")
    );
    let mut out = String::new();
    if l.events.is_empty() {
        out.push_str(&format!(
            "No event{} in the {} event(s) read from the DLQ of {topics}.\n",
            if filtered { " matches the filters" } else { "" },
            l.read
        ));
    } else {
        let mut columns = vec![
            ("EVENT ID", Align::Left),
            ("TYPE", Align::Left),
            ("REASON", Align::Left),
            ("RETRIES", Align::Right),
            ("AGE", Align::Right),
        ];
        if several {
            columns.insert(0, ("TOPIC", Align::Left));
        }
        let mut t = Table::new(&columns);
        for e in &l.events {
            let reason = match (&e.defect, &e.failure_reason) {
                (Some(d), _) => format!("(malformed: {d})"),
                (None, Some(r)) => r.clone(),
                (None, None) => "-".into(),
            };
            let mut row = vec![
                e.event_id.clone(),
                e.event_type.clone().unwrap_or_else(|| "-".into()),
                truncate(&reason, 60),
                e.retry_count.to_string(),
                e.age_seconds
                    .map(|s| age(chrono::TimeDelta::seconds(s)))
                    .unwrap_or_else(|| "-".into()),
            ];
            if several {
                row.insert(0, e.topic.clone());
            }
            t.row(row);
        }
        out.push_str(&t.render(0));
        out.push_str(&format!(
            "\n{} event(s) of {topics}{}\n",
            l.count,
            if filtered {
                format!(" matching the filters, of {} read", l.read)
            } else {
                String::new()
            }
        ));
    }
    for (topic, token) in &l.next_page_tokens {
        out.push_str(&format!(
            "more in the DLQ of {topic}: continue with --topic {topic} --page-token {token}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    pub(super) fn ev(json: &str) -> DlqEvent {
        DlqEvent::from_slice(json.as_bytes()).unwrap()
    }

    #[test]
    fn list_renders_age_reason_and_the_next_page() {
        let now = Utc.with_ymd_and_hms(2024, 5, 4, 1, 0, 0).unwrap();
        let e = listed(
            "t",
            ev(
                r#"{"eventId":"e1","payload":{"type":"a"},"failureReason":"HTTP 502","retryCount":1,
                "firstFailureTimestamp":"2024-05-01T00:00:00Z"}"#,
            ),
            now,
        );
        assert_eq!(e.age_seconds, Some(3 * 86_400 + 3600));
        let l = Listing {
            topics: vec!["t".into()],
            count: 1,
            read: 5,
            events: vec![e],
            truncated: true,
            next_page_tokens: [("t".to_string(), "tok-2".to_string())].into(),
        };
        let text = render_list(&l, true);
        assert!(text.starts_with("EVENT ID"), "{text}");
        assert!(text.contains("e1"), "{text}");
        assert!(text.contains("3d 1h"), "{text}");
        assert!(
            text.contains("1 event(s) of topic t matching the filters, of 5 read"),
            "{text}"
        );
        assert!(
            text.ends_with("more in the DLQ of t: continue with --topic t --page-token tok-2\n"),
            "{text}"
        );
        let mut two = l;
        two.topics.push("u".into());
        assert!(render_list(&two, false).starts_with("TOPIC"));
    }
}
