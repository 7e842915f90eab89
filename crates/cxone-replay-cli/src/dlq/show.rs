//! `dlq show`: one DLQ event, found by paging through the topic's DLQ.

use super::{defect_text, failed_at};
use crate::config::api_error;
use crate::error::CliError;
use crate::pretty::pretty_json;
use crate::table::{Align, Table, age};
use chrono::{DateTime, Utc};
use cxone_dlq_replay::DEFAULT_PAGE_SIZE;
use cxone_eventbridge::Client;
use cxone_replay_domain::DlqEvent;
use futures::TryStreamExt;

/// Pages through the DLQ of `topic` until the event `event_id` (the first one with that id).
///
/// # Errors
/// Exit 1 when the DLQ ends without it (saying how many events were read); the API error that
/// stopped the reading.
pub async fn show(client: &Client, topic: &str, event_id: &str) -> Result<DlqEvent, CliError> {
    let mut stream = std::pin::pin!(client.dlq(topic).page_size(DEFAULT_PAGE_SIZE).events());
    let mut read = 0u64;
    while let Some(e) = stream
        .try_next()
        .await
        .map_err(|e| api_error("reading the DLQ", &e))?
    {
        if e.event_id == event_id {
            return Ok(e);
        }
        read += 1;
    }
    Err(CliError::failed(format!(
        "no event `{event_id}` in the DLQ of topic {topic} ({read} events read, to the end)"
    ))
    .hint("check the event id and the topic (`dlq list` shows what is there)"))
}

/// The event for a terminal: its metadata, then its payload re-indented with every token as
/// received.
pub fn render_show(topic: &str, e: &DlqEvent, now: DateTime<Utc>) -> String {
    let mut kv = Table::new(&[("", Align::Left), ("", Align::Left)]);
    let dash = || "-".to_string();
    kv.row(["event id".to_string(), e.event_id.clone()]);
    kv.row(["topic".to_string(), topic.to_string()]);
    kv.row(["type".to_string(), e.event_type().unwrap_or_else(dash)]);
    kv.row([
        "failure reason".to_string(),
        e.failure_reason.clone().unwrap_or_else(dash),
    ]);
    kv.row(["retry count".to_string(), e.retry_count().to_string()]);
    let when = |ts: &Option<String>| match ts {
        Some(t) => t.clone(),
        None => dash(),
    };
    kv.row([
        "first failure".to_string(),
        when(&e.first_failure_timestamp),
    ]);
    kv.row(["last failure".to_string(), when(&e.last_failure_timestamp)]);
    if let Some(t) = failed_at(e) {
        kv.row(["age".to_string(), age(now - t)]);
    }
    if let Some(d) = defect_text(e) {
        kv.row(["malformed".to_string(), d]);
    }
    let mut out = kv.render_rows(0);
    match &e.payload {
        Some(p) => {
            out.push_str(&format!(
                "\npayload ({} bytes as received; re-indented, every value as sent):\n",
                p.get().len()
            ));
            out.push_str(&pretty_json(p.get()));
            out.push('\n');
        }
        None => out.push_str("\npayload: none\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::tests::ev;
    use chrono::TimeZone;

    #[test]
    fn metadata_then_the_payload_as_received() {
        let now = Utc.with_ymd_and_hms(2024, 5, 4, 1, 0, 0).unwrap();
        let e = ev(
            r#"{"eventId":"e1","payload":{"type":"a","n":1.10},"failureReason":"HTTP 502",
                "retryCount":2,"firstFailureTimestamp":"2024-05-01T00:00:00Z"}"#,
        );
        let text = render_show("t", &e, now);
        assert!(
            text.starts_with("event id        e1\ntopic           t\n"),
            "{text}"
        );
        assert!(text.contains("retry count     2\n"), "{text}");
        assert!(text.contains("age             3d 1h\n"), "{text}");
        assert!(
            text.ends_with("{\n  \"type\": \"a\",\n  \"n\": 1.10\n}\n"),
            "{text}"
        );
        let bad = ev(r#"{"eventId":"e2","retryCount":"x"}"#);
        let text = render_show("t", &bad, now);
        assert!(text.contains("malformed"), "{text}");
        assert!(text.ends_with("payload: none\n"), "{text}");
    }
}
