//! `dlq list` and `dlq stats`: read-only views of a topic's dead letter queue.

use crate::config::api_error;
use crate::error::CliError;
use crate::table::{Align, Table, age, truncate};
use chrono::{DateTime, Utc};
use cxone_dlq_replay::DEFAULT_PAGE_SIZE;
use cxone_eventbridge::Client;
use cxone_replay_domain::DlqEvent;
use futures::TryStreamExt;
use serde::Serialize;
use std::collections::BTreeMap;

/// One event of `dlq list --json`.
#[derive(Debug, Serialize)]
pub struct ListedEvent {
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
    /// The topic.
    pub topic: String,
    /// The events, in DLQ order.
    pub events: Vec<ListedEvent>,
    /// `events.len()`.
    pub count: usize,
    /// Whether the DLQ holds more events than `--limit`.
    pub truncated: bool,
}

fn failed_at(e: &DlqEvent) -> Option<DateTime<Utc>> {
    e.first_failure_at().or_else(|| e.last_failure_at())
}

fn listed(e: DlqEvent, now: DateTime<Utc>) -> ListedEvent {
    ListedEvent {
        event_type: e.event_type(),
        retry_count: e.retry_count(),
        age_seconds: failed_at(&e).map(|t| (now - t).num_seconds()),
        defect: e
            .defect
            .as_ref()
            .map(|d| format!("{}: {}", d.field, d.problem)),
        event_id: e.event_id,
        failure_reason: e.failure_reason,
        first_failure_timestamp: e.first_failure_timestamp,
        last_failure_timestamp: e.last_failure_timestamp,
    }
}

/// Reads at most `limit` events (and one more, to know whether there are more).
pub async fn list(
    client: &Client,
    topic: &str,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Listing, CliError> {
    // One more than the limit (to know whether there are more), at most a default page.
    let page = u32::try_from(limit.saturating_add(1))
        .map_or(DEFAULT_PAGE_SIZE, |n| n.min(DEFAULT_PAGE_SIZE));
    let mut stream = std::pin::pin!(client.dlq(topic).page_size(page).events());
    let mut events = Vec::new();
    let mut truncated = false;
    while let Some(e) = stream
        .try_next()
        .await
        .map_err(|e| api_error("reading the DLQ", &e))?
    {
        if events.len() as u64 == limit {
            truncated = true;
            break;
        }
        events.push(listed(e, now));
    }
    Ok(Listing {
        topic: topic.to_string(),
        count: events.len(),
        events,
        truncated,
    })
}

/// `dlq list` as text.
pub fn render_list(l: &Listing) -> String {
    if l.events.is_empty() {
        return format!("The DLQ of topic {} is empty.\n", l.topic);
    }
    let mut t = Table::new(&[
        ("EVENT ID", Align::Left),
        ("TYPE", Align::Left),
        ("REASON", Align::Left),
        ("RETRIES", Align::Right),
        ("AGE", Align::Right),
    ]);
    for e in &l.events {
        let reason = match (&e.defect, &e.failure_reason) {
            (Some(d), _) => format!("(malformed: {d})"),
            (None, Some(r)) => r.clone(),
            (None, None) => "-".into(),
        };
        t.row([
            e.event_id.clone(),
            e.event_type.clone().unwrap_or_else(|| "-".into()),
            truncate(&reason, 60),
            e.retry_count.to_string(),
            e.age_seconds
                .map(|s| age(chrono::TimeDelta::seconds(s)))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let mut out = t.render(0);
    out.push_str(&format!(
        "\n{} event(s) of topic {}{}\n",
        l.count,
        l.topic,
        if l.truncated {
            " (more in the DLQ: raise --limit)"
        } else {
            ""
        }
    ));
    out
}

/// `dlq stats --json`.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// The topic.
    pub topic: String,
    /// Events in the DLQ.
    pub total: u64,
    /// By failure reason (`(none)` when absent).
    pub by_reason: BTreeMap<String, u64>,
    /// By payload type (`(none)` when absent).
    pub by_event_type: BTreeMap<String, u64>,
    /// By retry count.
    pub by_retry_count: BTreeMap<u32, u64>,
    /// Malformed events.
    pub malformed: u64,
    /// The earliest first failure.
    pub oldest_failure: Option<DateTime<Utc>>,
    /// The latest last failure.
    pub newest_failure: Option<DateTime<Utc>>,
}

const NONE: &str = "(none)";

impl Stats {
    fn add(&mut self, e: &DlqEvent) {
        self.total += 1;
        *self
            .by_reason
            .entry(e.failure_reason.clone().unwrap_or_else(|| NONE.into()))
            .or_default() += 1;
        *self
            .by_event_type
            .entry(e.event_type().unwrap_or_else(|| NONE.into()))
            .or_default() += 1;
        *self.by_retry_count.entry(e.retry_count()).or_default() += 1;
        if e.defect.is_some() {
            self.malformed += 1;
        }
        if let Some(t) = failed_at(e) {
            self.oldest_failure = Some(self.oldest_failure.map_or(t, |o| o.min(t)));
        }
        if let Some(t) = e.last_failure_at().or_else(|| e.first_failure_at()) {
            self.newest_failure = Some(self.newest_failure.map_or(t, |n| n.max(t)));
        }
    }
}

/// Reads the whole DLQ of `topic`, one page at a time, and counts.
pub async fn stats(client: &Client, topic: &str) -> Result<Stats, CliError> {
    let mut stream = std::pin::pin!(client.dlq(topic).page_size(DEFAULT_PAGE_SIZE).events());
    let mut s = Stats {
        topic: topic.to_string(),
        ..Stats::default()
    };
    while let Some(e) = stream
        .try_next()
        .await
        .map_err(|e| api_error("reading the DLQ", &e))?
    {
        s.add(&e);
    }
    Ok(s)
}

fn by_count<K: ToString>(title: &str, map: &BTreeMap<K, u64>, numeric_key: bool) -> String {
    let mut rows: Vec<(String, u64)> = map.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    if !numeric_key {
        // most frequent first, then by name
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    let align = if numeric_key {
        Align::Right
    } else {
        Align::Left
    };
    let mut t = Table::new(&[(title, align), ("EVENTS", Align::Right)]);
    for (k, v) in rows {
        t.row([truncate(&k, 70), v.to_string()]);
    }
    t.render(0)
}

/// `dlq stats` as text.
pub fn render_stats(s: &Stats) -> String {
    if s.total == 0 {
        return format!("The DLQ of topic {} is empty.\n", s.topic);
    }
    let mut out = format!("{} event(s) in the DLQ of topic {}", s.total, s.topic);
    if s.malformed > 0 {
        out.push_str(&format!(", {} malformed", s.malformed));
    }
    out.push('\n');
    if let (Some(o), Some(n)) = (s.oldest_failure, s.newest_failure) {
        out.push_str(&format!(
            "failures from {} to {}\n",
            o.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            n.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    out.push('\n');
    out.push_str(&by_count("FAILURE REASON", &s.by_reason, false));
    out.push('\n');
    out.push_str(&by_count("EVENT TYPE", &s.by_event_type, false));
    out.push('\n');
    out.push_str(&by_count("RETRY COUNT", &s.by_retry_count, true));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ev(json: &str) -> DlqEvent {
        DlqEvent::from_slice(json.as_bytes()).unwrap()
    }

    #[test]
    fn stats_count_and_render() {
        let mut s = Stats {
            topic: "t".into(),
            ..Stats::default()
        };
        s.add(&ev(
            r#"{"eventId":"e1","payload":{"type":"a"},"failureReason":"HTTP 502","retryCount":1,
                "firstFailureTimestamp":"2024-05-01T00:00:00Z","lastFailureTimestamp":"2024-05-02T00:00:00Z"}"#,
        ));
        s.add(&ev(
            r#"{"eventId":"e2","payload":{"type":"a"},"failureReason":"HTTP 502","retryCount":3}"#,
        ));
        s.add(&ev(
            r#"{"eventId":"e3","payload":{"type":"b"},"retryCount":1}"#,
        ));
        assert_eq!(s.total, 3);
        assert_eq!(s.by_reason["HTTP 502"], 2);
        assert_eq!(s.by_reason[NONE], 1);
        assert_eq!(s.by_event_type["a"], 2);
        assert_eq!(s.by_retry_count[&1], 2);
        let text = render_stats(&s);
        assert!(
            text.starts_with("3 event(s) in the DLQ of topic t\n"),
            "{text}"
        );
        assert!(text.contains("HTTP 502             2\n"), "{text}");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["by_retry_count"]["3"], 1);
    }

    #[test]
    fn list_renders_age_and_reason() {
        let now = Utc.with_ymd_and_hms(2024, 5, 4, 1, 0, 0).unwrap();
        let e = listed(
            ev(
                r#"{"eventId":"e1","payload":{"type":"a"},"failureReason":"HTTP 502","retryCount":1,
                "firstFailureTimestamp":"2024-05-01T00:00:00Z"}"#,
            ),
            now,
        );
        assert_eq!(e.age_seconds, Some(3 * 86_400 + 3600));
        let l = Listing {
            topic: "t".into(),
            count: 1,
            events: vec![e],
            truncated: true,
        };
        let text = render_list(&l);
        assert!(text.contains("e1"), "{text}");
        assert!(text.contains("3d 1h"), "{text}");
        assert!(text.contains("raise --limit"), "{text}");
    }
}
