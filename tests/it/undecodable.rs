//! One undecodable event must not block its topic (issue 15, item 4): with fakes, and end to
//! end with the CXone client against a small HTTP server (httpmock) that serves one page with
//! an invalid-UTF-8 element between two good ones.

use crate::fakes::*;
use cxone_dlq_replay::client::Client;
use cxone_dlq_replay::domain::{
    AuditRecord, DlqPage, ReplayStatus, RetryBudget, RetryPolicy, SkipReason,
};
use cxone_dlq_replay::{AuditLog, JsonlAuditLog, Replayer};
use httpmock::prelude::*;
use secrecy::SecretString;
use std::time::Duration;

/// A page with a good event, one whose payload holds invalid UTF-8, and another good one.
fn hostile_page(next: Option<&str>) -> Vec<u8> {
    let mut body =
        br#"{"events":[{"eventId":"evt_1","topicId":"t","payload":{"n":1},"retryCount":1},"#
            .to_vec();
    body.extend_from_slice(br#"{"eventId":"evt_2","topicId":"t","payload":{"text":"caf"#);
    body.extend_from_slice(&[0xe9, 0xff]); // Latin-1 and a byte no encoding uses
    body.extend_from_slice(br#""},"retryCount":0},"#);
    body.extend_from_slice(
        br#"{"eventId":"evt_3","topicId":"t","payload":{"n":3},"retryCount":0}]"#,
    );
    if let Some(t) = next {
        body.extend_from_slice(format!(r#","nextPageToken":"{t}""#).as_bytes());
    }
    body.push(b'}');
    body
}

fn assert_invalid_event_record(r: &AuditRecord) {
    assert_eq!(r.event_id, "evt_2");
    assert_eq!(r.status, ReplayStatus::Skipped);
    assert_eq!(r.skip_reason, Some(SkipReason::InvalidEvent));
    assert_eq!((r.http_attempts, r.idempotency_key.as_deref()), (0, None));
    let m = r.message.as_deref().unwrap();
    assert!(
        m.contains("cannot be decoded (invalid UTF-8 at byte 55)"),
        "{m}"
    );
    assert!(m.contains(r#""text":"caf\xe9\xff""#), "{m}");
}

#[tokio::test(start_paused = true)]
async fn the_rest_of_the_page_and_the_next_pages_are_replayed() {
    let first = DlqPage::from_slice(&hostile_page(Some("p2"))).unwrap();
    assert_eq!(first.next_page_token.as_deref(), Some("p2"));
    let src =
        ScriptedSource::default().topic("t", vec![first.events, vec![event_with("evt_4", 0, 4)]]);
    let tgt = FakeTarget::default();
    let audit = MemoryAudit::default();
    let s = Replayer::builder()
        .topic("t")
        .source(src)
        .target(tgt.clone())
        .audit(audit.clone())
        .concurrency(1)
        .build()
        .unwrap()
        .run()
        .await
        .unwrap();
    assert_eq!((s.seen, s.counts.success, s.counts.skipped), (4, 3, 1));
    assert_eq!(s.skips.get(&SkipReason::InvalidEvent), Some(&1));
    let keys: Vec<String> = tgt
        .sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, k)| k.clone())
        .collect();
    assert_eq!(
        keys,
        ["replay-evt_1-v2", "replay-evt_3-v1", "replay-evt_4-v1"]
    );
    let records = audit.records();
    assert_eq!(records.len(), 4);
    let invalid: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.status == ReplayStatus::Skipped)
        .collect();
    assert_eq!(invalid.len(), 1, "audited once");
    assert_invalid_event_record(invalid[0]);
}

async fn hostile_server() -> MockServer {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/oauth2/token");
            then.status(200).json_body(serde_json::json!({
                "access_token": "tok-undecodable", "token_type": "Bearer", "expires_in": 3600
            }));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v2/eventbridge/dlq/events")
                .query_param("topicId", "t");
            then.status(200)
                .header("content-type", "application/json")
                .body(hostile_page(None));
        })
        .await;
    server
}

fn client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(server.base_url())
        .client_credentials("id", SecretString::from("secret"))
        .retry_policy(
            RetryPolicy::new(2, Duration::from_millis(1), Duration::from_millis(5)).unwrap(),
        )
        .retry_budget(RetryBudget::new(1_000, 1, 1, 1))
        .build()
        .unwrap()
}

#[tokio::test]
async fn end_to_end_exactly_the_two_good_events_are_delivered() {
    let server = hostile_server().await;
    let put = |key: &'static str| {
        let server = &server;
        async move {
            server
                .mock_async(|when, then| {
                    when.method(PUT)
                        .path("/api/v2/eventbridge/topics/t/events")
                        .header("idempotency-key", key);
                    then.status(201).json_body(serde_json::json!({
                        "eventId": "x", "status": "queued"
                    }));
                })
                .await
        }
    };
    let put_1 = put("replay-evt_1-v2").await;
    let put_3 = put("replay-evt_3-v1").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let c = client(&server);
    let s = Replayer::builder()
        .topic("t")
        .source(c.clone())
        .target(c)
        .audit(JsonlAuditLog::open(&log).unwrap())
        .build()
        .unwrap()
        .run()
        .await
        .expect("the page no longer fails the run");
    assert_eq!((s.seen, s.counts.success, s.counts.skipped), (3, 2, 1));
    assert_eq!(s.counts.failed, 0);
    put_1.assert_calls_async(1).await;
    put_3.assert_calls_async(1).await;
    let report = AuditLog::read(&log).unwrap();
    let invalid: Vec<&AuditRecord> = report
        .records
        .iter()
        .filter(|r| r.skip_reason == Some(SkipReason::InvalidEvent))
        .collect();
    assert_eq!(invalid.len(), 1);
    assert_invalid_event_record(invalid[0]);
    // The log stays valid JSON Lines: the excerpt is escaped text.
    assert!(report.malformed.is_empty() && report.torn_tail.is_none());
}
