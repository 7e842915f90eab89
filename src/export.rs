//! [`export`]: a DLQ streamed to the DLQ file format ([`source::write_line`](crate::source::write_line)),
//! page by page, as `dlq export` does.

use crate::error::EngineError;
use crate::ports::DlqSource;
use crate::selection::Selection;
use crate::source::write_line;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// What an export wrote. Its JSON names are stable (`dlq export --json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ExportSummary {
    /// Events written (one line each).
    pub written: u64,
    /// DLQ events read, before the filter.
    pub read: u64,
    /// Events written per topic.
    pub by_topic: BTreeMap<String, u64>,
}

/// Streams the DLQs of `topics` from `source` to `out`, one line per event that `selection`
/// admits, in DLQ order (topic after topic). Each page is written with one `write_all` as it
/// arrives (memory: one page); `on_page` sees the counts after each. `out` is flushed at the
/// end; making it durable (and complete-looking only when complete) is the caller's job.
///
/// A malformed event is written with its defect (see [`source`](crate::source)) when the
/// selection admits it, so that a replay of the file audits it as the DLQ would have.
///
/// # Errors
/// [`EngineError::ExportRead`] if the source fails (what was written before stays written);
/// [`EngineError::ExportWrite`] if `out` does.
pub async fn export<W: AsyncWrite + Unpin>(
    source: &dyn DlqSource,
    topics: &[String],
    page_size: u32,
    selection: &Selection,
    out: &mut W,
    mut on_page: impl FnMut(&ExportSummary),
) -> Result<ExportSummary, EngineError> {
    let topics: Vec<Arc<str>> = topics.iter().map(|t| Arc::from(t.as_str())).collect();
    let mut pages = source.topic_pages(&topics, page_size, None);
    let mut summary = ExportSummary::default();
    let mut buf = Vec::new();
    while let Some(next) = pages.next().await {
        let (topic, page) = next.map_err(|(topic, source)| EngineError::ExportRead {
            topic: topic.to_string(),
            written: summary.written,
            source,
        })?;
        buf.clear();
        let mut written = 0u64;
        for event in page.events.iter().filter(|e| selection.matches(&topic, e)) {
            write_line(&mut buf, &topic, event).map_err(|e| EngineError::ExportWrite {
                written: summary.written,
                source: std::io::Error::other(e),
            })?;
            written += 1;
        }
        out.write_all(&buf)
            .await
            .map_err(|source| EngineError::ExportWrite {
                written: summary.written,
                source,
            })?;
        summary.read += page.events.len() as u64;
        summary.written += written;
        if written > 0 {
            *summary.by_topic.entry(topic.to_string()).or_default() += written;
        }
        on_page(&summary);
    }
    out.flush()
        .await
        .map_err(|source| EngineError::ExportWrite {
            written: summary.written,
            source,
        })?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileSource;
    use cxone_replay_domain::EventFilter;
    use futures::TryStreamExt;

    #[tokio::test]
    async fn export_then_read_back_gives_the_same_events() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src.jsonl");
        std::fs::write(
            &src,
            concat!(
                r#"{"eventId":"a1","topicId":"a","payload":{"n":1.10},"retryCount":1}"#,
                "\n",
                r#"{"eventId":"b1","topicId":"b","payload":{"t":"x"},"failureReason":"HTTP 502"}"#,
                "\n",
                r#"{"eventId":"a2","topicId":"a","payload":{"n":2},"retryCount":"bad"}"#,
                "\n",
            ),
        )
        .unwrap();
        let source = FileSource::new(&src);
        let mut out: Vec<u8> = Vec::new();
        let mut pages_seen = 0;
        let s = export(
            &source,
            &["a".to_string(), "b".to_string()],
            10,
            &Selection::default(),
            &mut out,
            |_| pages_seen += 1,
        )
        .await
        .unwrap();
        assert_eq!((s.written, s.read), (3, 3));
        assert_eq!(s.by_topic["a"], 2);
        assert_eq!(pages_seen, 3, "a page per run of one topic");
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains(r#""payload":{"n":1.10}"#), "{text}");
        // read back: the same ids, the malformed one still malformed
        let back = dir.path().join("back.jsonl");
        std::fs::write(&back, &out).unwrap();
        let pages: Vec<_> = FileSource::new(&back)
            .topic_pages(&[Arc::from("a"), Arc::from("b")], 10, None)
            .try_collect()
            .await
            .unwrap();
        let ids: Vec<(String, String, bool)> = pages
            .iter()
            .flat_map(|(t, p)| {
                p.events
                    .iter()
                    .map(move |e| (t.to_string(), e.event_id.clone(), e.defect.is_some()))
            })
            .collect();
        assert_eq!(
            ids,
            [
                ("a".to_string(), "a1".to_string(), false),
                ("b".to_string(), "b1".to_string(), false),
                ("a".to_string(), "a2".to_string(), true),
            ]
        );
        // a filter writes only what it admits, and still counts what was read
        let mut out = Vec::new();
        let s = export(
            &source,
            &["a".to_string()],
            10,
            &Selection {
                filter: EventFilter::default().event_ids(["a2", "b1"]),
                only: Some([("a", "a2"), ("a", "b1")].into_iter().collect()),
            },
            &mut out,
            |_| {},
        )
        .await
        .unwrap();
        assert_eq!((s.written, s.read), (1, 2));
    }
}
