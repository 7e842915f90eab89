//! `dlq stats`: counts over the whole DLQ of one or more topics, filters applied.

use super::failed_at;
use crate::config::api_error;
use crate::error::CliError;
use crate::table::{Align, Table, truncate};
use chrono::{DateTime, Utc};
use cxone_dlq_replay::{DEFAULT_PAGE_SIZE, Selection};
use cxone_eventbridge::Client;
use cxone_replay_domain::DlqEvent;
use futures::TryStreamExt;
use serde::Serialize;
use std::collections::BTreeMap;

/// `dlq stats --json`.
#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// The topics read, in order.
    pub topics: Vec<String>,
    /// DLQ events read, before the filters.
    pub read: u64,
    /// Events that match the filters (all of them without filters); the counts below are of
    /// these.
    pub total: u64,
    /// By topic.
    pub by_topic: BTreeMap<String, u64>,
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
    fn add(&mut self, topic: &str, e: &DlqEvent) {
        self.total += 1;
        *self.by_topic.entry(topic.to_string()).or_default() += 1;
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

/// Reads the whole DLQ of each topic, one page at a time, and counts the events `selection`
/// admits.
///
/// # Errors
/// The API error that stopped the reading.
pub async fn stats(
    client: &Client,
    topics: &[String],
    selection: &Selection,
) -> Result<Stats, CliError> {
    let mut s = Stats {
        topics: topics.to_vec(),
        ..Stats::default()
    };
    for topic in topics {
        let mut stream = std::pin::pin!(client.dlq(topic).page_size(DEFAULT_PAGE_SIZE).events());
        while let Some(e) = stream
            .try_next()
            .await
            .map_err(|e| api_error("reading the DLQ", &e))?
        {
            s.read += 1;
            if selection.matches(topic, &e) {
                s.add(topic, &e);
            }
        }
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
pub fn render_stats(s: &Stats, filtered: bool) -> String {
    let topics = format!(
        "topic{} {}",
        if s.topics.len() > 1 { "s" } else { "" },
        s.topics.join(", ")
    );
    let matching = if filtered {
        format!(" matching the filters, of {} read", s.read)
    } else {
        String::new()
    };
    if s.total == 0 {
        return if filtered {
            format!("No event in the DLQ of {topics}{matching}.\n")
        } else {
            format!("The DLQ of {topics} is empty.\n")
        };
    }
    let mut out = format!("{} event(s) in the DLQ of {topics}{matching}", s.total);
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
    if s.topics.len() > 1 {
        out.push_str(&by_count("TOPIC", &s.by_topic, false));
        out.push('\n');
    }
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
    use crate::dlq::tests::ev;

    #[test]
    fn stats_count_and_render() {
        let mut s = Stats {
            topics: vec!["t".into()],
            ..Stats::default()
        };
        s.add("t", &ev(
            r#"{"eventId":"e1","payload":{"type":"a"},"failureReason":"HTTP 502","retryCount":1,
                "firstFailureTimestamp":"2024-05-01T00:00:00Z","lastFailureTimestamp":"2024-05-02T00:00:00Z"}"#,
        ));
        s.add("t", &ev(
            r#"{"eventId":"e2","payload":{"type":"a"},"failureReason":"HTTP 502","retryCount":3}"#,
        ));
        s.add(
            "t",
            &ev(r#"{"eventId":"e3","payload":{"type":"b"},"retryCount":1}"#),
        );
        assert_eq!(s.total, 3);
        assert_eq!(s.by_reason["HTTP 502"], 2);
        assert_eq!(s.by_reason[NONE], 1);
        assert_eq!(s.by_event_type["a"], 2);
        assert_eq!(s.by_retry_count[&1], 2);
        let text = render_stats(&s, false);
        assert!(
            text.starts_with("3 event(s) in the DLQ of topic t\n"),
            "{text}"
        );
        assert!(text.contains("HTTP 502             2\n"), "{text}");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["by_retry_count"]["3"], 1);
    }
}
