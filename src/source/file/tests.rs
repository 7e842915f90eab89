use super::*;
use futures::TryStreamExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// An in-memory reader that counts the bytes handed out.
struct Counting {
    data: Vec<u8>,
    pos: usize,
    read: Arc<AtomicU64>,
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min(self.data.len() - self.pos);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

fn event_line(topic: &str, id: &str) -> String {
    format!(r#"{{"eventId":"{id}","topicId":"{topic}","payload":{{"n":1.10}},"retryCount":1}}"#)
}

/// A page stream over `text` read through a `capacity`-byte buffer, and its byte counter.
fn stream_over(
    text: String,
    wanted: &[&str],
    page_size: usize,
    capacity: usize,
    max_line: usize,
) -> (TopicPageStream, Arc<AtomicU64>) {
    let read = Arc::new(AtomicU64::new(0));
    let reader = BufReader::with_capacity(
        capacity,
        Counting {
            data: text.into_bytes(),
            pos: 0,
            read: Arc::clone(&read),
        },
    );
    let wanted = wanted.iter().map(|t| Arc::from(*t)).collect();
    let s = pages(
        Lines::new(reader, max_line),
        wanted,
        page_size,
        PathBuf::from("mem.jsonl"),
    );
    (s, read)
}

fn ids(page: &DlqPage) -> Vec<&str> {
    page.events.iter().map(|e| e.event_id.as_str()).collect()
}

#[tokio::test]
async fn reads_only_as_far_as_the_page_being_built() {
    let line = event_line("a", "evt_0000");
    let n = 1_000;
    let text: String = (0..n)
        .map(|i| event_line("a", &format!("evt_{i:04}")) + "\n")
        .collect();
    let (mut s, read) = stream_over(text, &["a"], 2, 256, DEFAULT_MAX_LINE_BYTES);
    // nothing is read before the first poll
    assert_eq!(read.load(Ordering::Relaxed), 0);
    let (topic, page) = s.try_next().await.unwrap().unwrap();
    assert_eq!(&*topic, "a");
    assert_eq!(ids(&page), ["evt_0000", "evt_0001"]);
    let after_one = read.load(Ordering::Relaxed);
    // two lines, plus at most one buffer ahead
    assert!(
        after_one <= 2 * (line.len() as u64 + 1) + 256,
        "{after_one} bytes read for a page of 2"
    );
    let (_, page) = s.try_next().await.unwrap().unwrap();
    assert_eq!(ids(&page), ["evt_0002", "evt_0003"]);
    assert!(read.load(Ordering::Relaxed) <= 4 * (line.len() as u64 + 1) + 256);
    // and the rest, in order, every event once
    let mut count = 4;
    while let Some((_, page)) = s.try_next().await.unwrap() {
        count += page.events.len();
    }
    assert_eq!(count, n);
}

#[tokio::test]
async fn pages_end_where_the_topic_changes_and_other_topics_are_passed_over() {
    let text = [
        event_line("a", "a1"),
        event_line("a", "a2"),
        event_line("x", "x1"), // not asked for
        event_line("b", "b1"),
        event_line("a", "a3"),
    ]
    .join("\n");
    let (s, _) = stream_over(text, &["a", "b"], 10, 64, DEFAULT_MAX_LINE_BYTES);
    let pages: Vec<(Arc<str>, DlqPage)> = s.try_collect().await.unwrap();
    let got: Vec<(&str, Vec<&str>)> = pages.iter().map(|(t, p)| (&**t, ids(p))).collect();
    assert_eq!(
        got,
        [
            ("a", vec!["a1", "a2"]),
            ("b", vec!["b1"]),
            ("a", vec!["a3"])
        ]
    );
    assert!(pages.iter().all(|(_, p)| p.next_page_token.is_none()));
}

#[tokio::test]
async fn invalid_lines_become_defects_with_their_line_numbers() {
    let text = [
        event_line("a", "a1"),                          // 1
        "   ".to_string(),                              // 2 blank: not an event
        "{\"eventId\":\"cut".to_string(),               // 3 torn
        r#"{"eventId":"nt","payload":{}}"#.to_string(), // 4 no topic
        r#"{"eventId":"e5","topicId":"a","payload":{},"retryCount":-1}"#.to_string(), // 5
        event_line("a", "a6"),                          // 6
    ]
    .join("\r\n");
    let (s, _) = stream_over(text, &["a"], 10, 64, DEFAULT_MAX_LINE_BYTES);
    let pages: Vec<(Arc<str>, DlqPage)> = s.try_collect().await.unwrap();
    let flat: Vec<(&str, &DlqEvent)> = pages
        .iter()
        .flat_map(|(t, p)| p.events.iter().map(move |e| (&**t, e)))
        .collect();
    assert_eq!(flat.len(), 5, "every line but the blank one");
    assert_eq!((flat[0].0, flat[0].1.event_id.as_str()), ("a", "a1"));
    assert!(flat[0].1.defect.is_none());
    let defect = |i: usize| flat[i].1.defect.clone().expect("a defect");
    // unreadable lines have no topic: they come under ""
    assert_eq!(flat[1].0, "");
    assert!(
        defect(1).problem.starts_with("is not JSON"),
        "{:?}",
        defect(1)
    );
    assert!(defect(1).problem.ends_with("(line 3)"));
    assert_eq!(flat[2].0, "");
    assert_eq!(defect(2).field, "topicId");
    assert!(defect(2).problem.ends_with("(line 4)"));
    assert_eq!(flat[3].0, "a");
    assert_eq!(defect(3).field, "retryCount");
    assert!(defect(3).problem.ends_with("(line 5)"));
    assert_eq!(flat[4].1.event_id, "a6");
    assert!(
        flat[4].1.defect.is_none(),
        "a CRLF line is read without its CR"
    );
    // the domain audits them INVALID_EVENT, the line number in the message
    let plan = cxone_replay_domain::plan(
        flat[1].1,
        flat[1].0,
        &cxone_replay_domain::ReplayPolicy::default(),
        &cxone_replay_domain::EventFilter::default(),
        chrono::DateTime::UNIX_EPOCH,
    );
    match plan {
        cxone_replay_domain::Decision::Skip(s) => {
            assert_eq!(s.reason, cxone_replay_domain::SkipReason::InvalidEvent);
            assert!(s.detail.contains("(line 3)"), "{}", s.detail);
        }
        cxone_replay_domain::Decision::Replay(_) => panic!("replayed a line that is not JSON"),
    }
}

#[tokio::test]
async fn an_overlong_line_is_skipped_without_being_held() {
    let long = format!(
        r#"{{"eventId":"big","topicId":"a","payload":{{"pad":"{}"}}}}"#,
        "x".repeat(10_000)
    );
    let text = [event_line("a", "a1"), long.clone(), event_line("a", "a3")].join("\n");
    let (s, _) = stream_over(text, &["a"], 10, 128, 200);
    let pages: Vec<(Arc<str>, DlqPage)> = s.try_collect().await.unwrap();
    assert_eq!(pages.len(), 3);
    assert_eq!(ids(&pages[0].1), ["a1"]);
    assert_eq!(&*pages[1].0, "", "the long line's topic was never read");
    let d = pages[1].1.events[0].defect.clone().unwrap();
    assert_eq!(
        d.problem,
        format!(
            "is {} bytes long, over the limit of 200 (line 2)",
            long.len()
        )
    );
    assert_eq!(ids(&pages[2].1), ["a3"]);
    // the line buffer never grew to the long line
    let mut lines = Lines::new(BufReader::with_capacity(128, long.as_bytes()), 200);
    assert_eq!(
        lines.next().await.unwrap(),
        Some(LineKind::TooLong(long.len() as u64))
    );
    assert!(lines.buf.capacity() <= 400, "{}", lines.buf.capacity());
}

#[tokio::test]
async fn file_source_lists_topics_and_streams_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlq.jsonl");
    let text = [
        event_line("b", "b1"),
        event_line("a", "a1"),
        "garbage".to_string(),
        event_line("b", "b2"),
        String::new(),
    ]
    .join("\n");
    std::fs::write(&path, text).unwrap();
    let source = FileSource::new(&path);
    let found = source.topics().await.unwrap();
    assert_eq!(found.topics, ["b", "a"]);
    assert_eq!((found.lines, found.unattributed), (4, 1));
    // `pages(topic)`: that topic's lines and the unreadable ones
    let pages: Vec<DlqPage> = source.pages("b", 100, None).try_collect().await.unwrap();
    let all: Vec<&str> = pages.iter().flat_map(ids).collect();
    assert_eq!(all, ["b1", "", "b2"]);
    // a start token means nothing to a file
    let err = source
        .pages("b", 100, Some("tok".into()))
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no page tokens"), "{err}");
    // a missing file is an I/O error naming it
    let missing = FileSource::new(dir.path().join("nope.jsonl"));
    let err = missing.topics().await.unwrap_err();
    assert!(
        matches!(err, EngineError::Io { what: "open", .. }),
        "{err:?}"
    );
    let err = missing
        .topic_pages(&[Arc::from("a")], 10, None)
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(&*err.0, "a");
}
