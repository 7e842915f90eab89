//! `plan` (which builds, checks and serializes the PUT body) for a 1 KiB and a 200 KiB payload.
//!
//! Target: at most 5 µs per 1 KiB event on a 2-core machine. Run with
//! `cargo bench -p cxone-replay-domain --bench domain`.

use chrono::{TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use cxone_replay_domain::{Decision, DlqEvent, DlqPage, EventFilter, ReplayPolicy, plan};
use std::hint::black_box;

fn event_with_payload(bytes: usize) -> DlqEvent {
    let head = r#"{"conversationId":"conv_123","type":"conversation:start","timestamp":"2024-05-10T14:30:00Z","amount":12345.678901234567890,"note":""#;
    let pad = bytes.saturating_sub(head.len() + 2);
    let payload = format!("{head}{}\"}}", "é".repeat(pad / 2));
    let json = format!(
        r#"{{"eventId":"evt_8f3a2b1c-9d4e-5f6a-7b8c-9d0e1f2a3b4c","topicId":"topic_pub_conversations","payload":{payload},"failureReason":"HTTP 502 Bad Gateway","retryCount":3,"firstFailureTimestamp":"2024-05-10T14:30:05Z","lastFailureTimestamp":"2024-05-10T14:35:00Z"}}"#
    );
    DlqEvent::from_slice(json.as_bytes()).expect("bench event parses")
}

fn bench_plan(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2024, 5, 11, 9, 15, 22).unwrap();
    let policy = ReplayPolicy::default();
    let filter = EventFilter::default();
    let mut group = c.benchmark_group("plan_and_serialize");
    for (name, size) in [("1KiB", 1024usize), ("200KiB", 200 * 1024)] {
        let event = event_with_payload(size);
        assert!(matches!(
            plan(&event, "t", &policy, &filter, now),
            Decision::Replay(_)
        ));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &event, |b, e| {
            b.iter(|| match plan(black_box(e), "t", &policy, &filter, now) {
                Decision::Replay(r) => r.body.len(),
                Decision::Skip(_) => 0,
            })
        });
    }
    group.finish();

    // Reading a page of 50 1-KiB events off the wire, for scale.
    let one = event_with_payload(1024);
    let event_json = serde_json::to_string(&one).unwrap();
    let page = format!(
        "{{\"events\":[{}],\"nextPageToken\":\"t\"}}",
        vec![event_json; 50].join(",")
    );
    c.bench_function("parse_page_50x1KiB", |b| {
        b.iter(|| DlqPage::from_slice(black_box(page.as_bytes())).map(|p| p.events.len()))
    });
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
