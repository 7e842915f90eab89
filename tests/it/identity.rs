//! Resume identity, key schemes and duplicates within a run (issue 15, item 1), with in-memory
//! fakes. `FakeSource` serves the same event ids in every topic (a fan-out); `FakeTarget`
//! answers like a server that dedupes keys across topics.

use crate::fakes::*;
use cxone_dlq_replay::domain::{
    AuditRecord, FailureClass, KeyScheme, ReplayPolicy, ReplayStatus, SkipReason,
};
use cxone_dlq_replay::{
    AuditLog, EngineError, JsonlAuditLog, Replayer, RunSummary, SendOutcome, Setting,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

fn policy(scheme: KeyScheme) -> ReplayPolicy {
    ReplayPolicy::default().key_scheme(scheme)
}

async fn run_topics(
    topics: &[&str],
    scheme: KeyScheme,
    log: &Path,
    resume: bool,
    target: &FakeTarget,
) -> RunSummary {
    Replayer::builder()
        .topics(topics.iter().copied())
        .policy(policy(scheme))
        .source(FakeSource::new(10))
        .target(target.clone())
        .audit(JsonlAuditLog::open(log).unwrap())
        .resume(resume)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap()
}

/// Sends per topic.
fn sends_by_topic(t: &FakeTarget) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (topic, _) in t.sent.lock().unwrap().iter() {
        *m.entry(topic.clone()).or_default() += 1;
    }
    m
}

#[tokio::test(start_paused = true)]
async fn resume_over_two_topics_sends_every_event_of_the_second_topic() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let first = run_topics(
        &["t1"],
        KeyScheme::EventScoped,
        &log,
        false,
        &FakeTarget::default(),
    )
    .await;
    assert_eq!(first.counts.success, 10);

    // Before the fix, every t2 event was taken for delivered (`already_replayed` 20) and
    // nothing was sent to t2.
    let tgt = FakeTarget::default();
    let second = run_topics(&["t1", "t2"], KeyScheme::EventScoped, &log, true, &tgt).await;
    assert_eq!(second.already_replayed, 10, "t1 only");
    assert_eq!(second.seen, 10);
    assert_eq!(second.counts.success, 10, "{second:?}");
    assert_eq!(
        sends_by_topic(&tgt),
        BTreeMap::from([("t2".to_string(), 10)])
    );
    let report = AuditLog::read(&log).unwrap();
    let t2: Vec<&AuditRecord> = report
        .records
        .iter()
        .filter(|r| r.topic_id == "t2")
        .collect();
    assert_eq!(t2.len(), 10);
    assert!(t2.iter().all(|r| r.status == ReplayStatus::Success));

    // A third run has nothing left in either topic.
    let tgt = FakeTarget::default();
    let third = run_topics(&["t1", "t2"], KeyScheme::EventScoped, &log, true, &tgt).await;
    assert_eq!((third.already_replayed, third.seen), (20, 0));
    assert_eq!(tgt.total_sends(), 0);
}

#[tokio::test(start_paused = true)]
async fn topic_scoped_keys_keep_a_fan_out_apart_on_a_server_that_dedupes_across_topics() {
    let dir = tempfile::tempdir().unwrap();
    // The tutorial's key: the second topic's replays carry the first's keys, and this server
    // answers 409 for them (recorded DUPLICATE: the server says it has them).
    let tgt = FakeTarget::default();
    let s = run_topics(
        &["t1", "t2"],
        KeyScheme::EventScoped,
        &dir.path().join("a"),
        false,
        &tgt,
    )
    .await;
    assert_eq!((s.counts.success, s.counts.duplicate), (10, 10));
    let sent = tgt.sent.lock().unwrap().clone();
    assert_eq!(
        sent[0],
        ("t1".to_string(), "replay-evt-0000000-v1".to_string())
    );
    assert_eq!(
        sent[10],
        ("t2".to_string(), "replay-evt-0000000-v1".to_string())
    );

    // Topic-scoped keys: every replay is its own, all twenty accepted.
    let tgt = FakeTarget::default();
    let log = dir.path().join("b");
    let s = run_topics(&["t1", "t2"], KeyScheme::TopicScoped, &log, false, &tgt).await;
    assert_eq!((s.counts.success, s.counts.duplicate), (20, 0));
    let sent = tgt.sent.lock().unwrap().clone();
    assert_eq!(
        sent[0],
        ("t1".to_string(), "replay-t1-evt-0000000-v1".to_string())
    );
    assert_eq!(
        sent[10],
        ("t2".to_string(), "replay-t2-evt-0000000-v1".to_string())
    );
    let report = AuditLog::read(&log).unwrap();
    assert!(report.records.iter().all(|r| {
        r.idempotency_key
            .as_deref()
            .unwrap()
            .starts_with(&format!("replay-{}-", r.topic_id))
    }));
}

#[tokio::test(start_paused = true)]
async fn changing_the_key_scheme_before_a_resume_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    run_topics(
        &["t1"],
        KeyScheme::EventScoped,
        &log,
        false,
        &FakeTarget::default(),
    )
    .await;
    let tgt = FakeTarget::default();
    let s = run_topics(&["t1"], KeyScheme::TopicScoped, &log, true, &tgt).await;
    assert_eq!((s.already_replayed, s.seen), (10, 0));
    assert_eq!(
        tgt.total_sends(),
        0,
        "new keys would have delivered them again"
    );
}

#[tokio::test(start_paused = true)]
async fn on_resume_a_repeat_of_a_delivered_event_is_counted_once_and_recorded_as_a_repeat() {
    // The first run delivers e1 and e2; on resume the DLQ serves e1 twice and e2 once, then
    // e3 (new).
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let run = |pages: Vec<Vec<_>>, resume: bool, tgt: &FakeTarget| {
        Replayer::builder()
            .topic("t1")
            .source(ScriptedSource::default().topic("t1", pages))
            .target(tgt.clone())
            .audit(JsonlAuditLog::open(&log).unwrap())
            .resume(resume)
            .concurrency(1)
            .build()
            .unwrap()
            .run()
    };
    let first = run(
        vec![vec![event_with("e1", 0, 1), event_with("e2", 0, 2)]],
        false,
        &FakeTarget::default(),
    )
    .await
    .unwrap();
    assert_eq!(first.counts.success, 2);
    let tgt = FakeTarget::default();
    let second = run(
        vec![
            vec![event_with("e1", 0, 1), event_with("e2", 0, 2)],
            vec![event_with("e1", 0, 1), event_with("e3", 0, 3)],
        ],
        true,
        &tgt,
    )
    .await
    .unwrap();
    // Before the fix, the repeat of e1 counted as delivered a second time (3).
    assert_eq!(second.already_replayed, 2, "{second:?}");
    assert_eq!(second.skips.get(&SkipReason::DuplicateInRun), Some(&1));
    assert_eq!(second.counts.success, 1);
    assert_eq!(second.seen, 2, "the repeat's record and e3's");
    let keys: Vec<String> = tgt
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, k)| k.clone())
        .collect();
    assert_eq!(keys, ["replay-e3-v1"]);
    let records = AuditLog::read(&log).unwrap().records;
    let repeat: Vec<(&str, Option<SkipReason>)> = records[2..]
        .iter()
        .map(|r| (r.event_id.as_str(), r.skip_reason))
        .collect();
    assert_eq!(
        repeat,
        [("e1", Some(SkipReason::DuplicateInRun)), ("e3", None)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_repeat_within_a_run_is_sent_once_and_recorded_duplicate_in_run() {
    // A server that repeats events across pages: e1 and e2 come back on page 2, e2 with a
    // higher retry count (still the same event); e9 is exhausted (skipped) on both pages; t2
    // holds e1 too (another topic: not a repeat).
    let src = ScriptedSource::default()
        .topic(
            "t1",
            vec![
                vec![
                    event_with("e1", 0, 1),
                    event_with("e2", 1, 2),
                    event_with("e9", 7, 9),
                ],
                vec![
                    event_with("e2", 2, 2),
                    event_with("e3", 0, 3),
                    event_with("e1", 0, 1),
                ],
                vec![event_with("e9", 7, 9), event_with("e1", 0, 1)],
            ],
        )
        .topic("t2", vec![vec![event_with("e1", 0, 1)]]);
    let tgt = FakeTarget::default();
    let audit = MemoryAudit::default();
    let s = Replayer::builder()
        .topics(["t1", "t2"])
        .policy(policy(KeyScheme::TopicScoped))
        .source(src.clone())
        .target(tgt.clone())
        .audit(audit.clone())
        .concurrency(1)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    let sent = tgt.sent.lock().unwrap().clone();
    let keys: Vec<&str> = sent.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "replay-t1-e1-v1",
            "replay-t1-e2-v2",
            "replay-t1-e3-v1",
            "replay-t2-e1-v1"
        ]
    );
    assert_eq!(s.seen, 9);
    assert_eq!(s.counts.success, 4);
    assert_eq!(s.counts.skipped, 5);
    assert_eq!(s.skips.get(&SkipReason::DuplicateInRun), Some(&3));
    assert_eq!(
        s.skips.get(&SkipReason::RetryWindowExceeded),
        Some(&2),
        "skips are not repeats"
    );
    let repeats: Vec<AuditRecord> = audit
        .records()
        .into_iter()
        .filter(|r| r.skip_reason == Some(SkipReason::DuplicateInRun))
        .collect();
    let summary: Vec<(&str, &str, Option<&str>, Option<u32>)> = repeats
        .iter()
        .map(|r| {
            (
                r.topic_id.as_str(),
                r.event_id.as_str(),
                r.idempotency_key.as_deref(),
                r.attempt,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("t1", "e2", Some("replay-t1-e2-v3"), Some(3)),
            ("t1", "e1", Some("replay-t1-e1-v1"), Some(1)),
            ("t1", "e1", Some("replay-t1-e1-v1"), Some(1)),
        ]
    );
    for r in &repeats {
        assert_eq!(r.status, ReplayStatus::Skipped);
        assert_eq!(r.http_attempts, 0);
        let m = r.message.as_deref().unwrap();
        assert!(
            m.contains("came up again") && m.contains(&r.event_id),
            "{m}"
        );
    }

    // A dry run treats repeats the same way.
    let audit = MemoryAudit::default();
    let s = Replayer::builder()
        .topics(["t1", "t2"])
        .source(src)
        .audit(audit.clone())
        .dry_run(true)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(
        (s.counts.dry_run, s.skips.get(&SkipReason::DuplicateInRun)),
        (4, Some(&3))
    );
}

#[tokio::test(start_paused = true)]
async fn a_repeat_never_hides_the_events_outcome_in_the_log_summary() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let src = ScriptedSource::default().topic(
        "t",
        vec![
            vec![event_with("ok", 0, 1), event_with("bad", 0, 2)],
            vec![event_with("bad", 0, 2), event_with("ok", 0, 1)],
        ],
    );
    let tgt = FakeTarget {
        script: Some(Arc::new(|key: &str| {
            (key == "replay-bad-v1")
                .then(|| SendOutcome::failed(FailureClass::SchemaViolation, Some(422), 1, "422"))
        })),
        ..FakeTarget::default()
    };
    let s = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt)
        .audit(JsonlAuditLog::open(&log).unwrap())
        .concurrency(1)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!(
        (s.counts.success, s.counts.failed, s.counts.skipped),
        (1, 1, 2)
    );
    let summary = AuditLog::summary(&log).unwrap();
    assert_eq!(summary.events, 2);
    assert_eq!(summary.final_counts.success, 1);
    assert_eq!(
        summary.final_counts.failed, 1,
        "the repeat did not turn FAILED into SKIPPED"
    );
    assert_eq!(summary.final_counts.skipped, 0);
    assert_eq!(summary.events_with_several_records, 2);
}

#[test]
fn a_topic_too_long_for_a_topic_scoped_key_is_refused_at_build() {
    let build = |topic: &str, scheme| {
        Replayer::builder()
            .topic(topic)
            .policy(policy(scheme))
            .source(FakeSource::new(1))
            .target(FakeTarget::default())
            .audit(MemoryAudit::default())
            .build()
    };
    let long = "t".repeat(250);
    assert!(build(&long, KeyScheme::EventScoped).is_ok());
    let err = build(&long, KeyScheme::TopicScoped).unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Setting {
                setting: Setting::Topics,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("topic-scoped idempotency key") && text.contains("250 bytes"),
        "{text}"
    );
    let err = build("has space", KeyScheme::TopicScoped).unwrap_err();
    assert!(err.to_string().contains("visible ASCII"), "{err}");
}
