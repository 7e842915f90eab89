//! The engine over a DLQ file: several topics in one pass, invalid lines audited.

use crate::fakes::{FakeTarget, MemoryAudit, assert_one_record_per_event};
use cxone_dlq_replay::{FileSource, Replayer};
use cxone_replay_domain::{ReplayStatus, SkipReason};

fn line(topic: &str, id: &str) -> String {
    format!(r#"{{"eventId":"{id}","topicId":"{topic}","payload":{{"n":1.10}},"retryCount":0}}"#)
}

#[tokio::test]
async fn a_file_with_several_topics_replays_in_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlq.jsonl");
    let mut lines = Vec::new();
    for i in 0..30usize {
        let topic = if i.is_multiple_of(3) { "b" } else { "a" };
        lines.push(line(topic, &format!("e{i:02}")));
    }
    lines.insert(10, "{oops".to_string()); // line 11
    lines.push(line("c", "c1")); // a topic the run does not ask for
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let target = FakeTarget::default();
    let audit = MemoryAudit::default();
    let summary = Replayer::builder()
        .topics(["a", "b"])
        .source(FileSource::new(&path))
        .target(target.clone())
        .audit(audit.clone())
        .page_size(4)
        .concurrency(3)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    let records = audit.records();
    assert_eq!(
        summary.seen, 31,
        "30 events of a and b, and the invalid line"
    );
    assert_eq!(summary.counts.success, 30);
    assert_eq!(summary.skips[&SkipReason::InvalidEvent], 1);
    assert_eq!(target.total_sends(), 30);
    assert_eq!(target.max_sends_per_key(), 1);
    assert_eq!(assert_one_record_per_event(&records), 31);
    for r in &records {
        if r.status == ReplayStatus::Success {
            let i: usize = r.event_id[1..].parse().unwrap();
            let want = if i.is_multiple_of(3) { "b" } else { "a" };
            assert_eq!(r.topic_id, want, "{r:?}");
        }
    }
    let bad = records
        .iter()
        .find(|r| r.status == ReplayStatus::Skipped)
        .unwrap();
    assert_eq!(bad.topic_id, "");
    assert!(
        bad.message
            .as_deref()
            .unwrap_or_default()
            .contains("(line 11)"),
        "{bad:?}"
    );
    assert!(!records.iter().any(|r| r.topic_id == "c"));
}

#[tokio::test]
async fn only_events_filters_by_topic_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlq.jsonl");
    let lines = [
        line("a", "e1"),
        line("b", "e1"),
        line("a", "e2"),
        "not json".to_string(),
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let target = FakeTarget::default();
    let audit = MemoryAudit::default();
    let only: cxone_dlq_replay::EventSet = [("b", "e1")].into_iter().collect();
    let summary = Replayer::builder()
        .topics(["a", "b"])
        .source(FileSource::new(&path))
        .target(target.clone())
        .audit(audit.clone())
        .only_events(only)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(summary.counts.success, 1);
    assert_eq!(summary.skips[&SkipReason::Filtered], 2);
    assert_eq!(
        summary.skips[&SkipReason::InvalidEvent],
        1,
        "still invalid, not filtered"
    );
    let sent = audit
        .records()
        .into_iter()
        .find(|r| r.status == ReplayStatus::Success)
        .unwrap();
    assert_eq!(
        (sent.topic_id.as_str(), sent.event_id.as_str()),
        ("b", "e1")
    );
    let filtered = audit
        .records()
        .into_iter()
        .find(|r| r.skip_reason == Some(SkipReason::Filtered))
        .unwrap();
    assert!(
        filtered.idempotency_key.is_some(),
        "the key it would have had"
    );
}

#[tokio::test]
async fn unparsable_lines_are_each_invalid_and_never_a_repeat_in_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dlq.jsonl");
    // Two lines that do not parse: both come under the empty topic with no eventId, so the
    // same (topic, eventId) twice; neither is taken for replay, so neither is a repeat.
    let lines = [
        "{oops".to_string(),
        line("a", "e1"),
        "not json".to_string(),
        line("a", "e1"), // a real repeat
    ];
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let target = FakeTarget::default();
    let audit = MemoryAudit::default();
    let summary = Replayer::builder()
        .topics(["a"])
        .source(FileSource::new(&path))
        .target(target.clone())
        .audit(audit.clone())
        .page_size(1)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    let records = audit.records();
    assert_eq!(records.len(), 4, "{records:?}");
    let invalid: Vec<_> = records
        .iter()
        .filter(|r| r.skip_reason == Some(SkipReason::InvalidEvent))
        .collect();
    assert_eq!(invalid.len(), 2, "{records:?}");
    for (r, line) in invalid.iter().zip(["(line 1)", "(line 3)"]) {
        assert_eq!((r.topic_id.as_str(), r.event_id.as_str()), ("", ""));
        assert!(
            r.message.as_deref().unwrap_or_default().contains(line),
            "{r:?}"
        );
    }
    let repeats: Vec<_> = records
        .iter()
        .filter(|r| r.skip_reason == Some(SkipReason::DuplicateInRun))
        .collect();
    assert_eq!(repeats.len(), 1, "only the real repeat: {records:?}");
    assert_eq!(
        (repeats[0].topic_id.as_str(), repeats[0].event_id.as_str()),
        ("a", "e1")
    );
    assert_eq!(summary.counts.success, 1);
    assert_eq!(summary.skips[&SkipReason::InvalidEvent], 2);
    assert_eq!(summary.skips[&SkipReason::DuplicateInRun], 1);
    assert_eq!(target.total_sends(), 1);
}
