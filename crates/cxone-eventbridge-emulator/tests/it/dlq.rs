//! DLQ listing: parameters, paging, stability.

use crate::common::*;
use cxone_eventbridge_emulator::{Emulator, EmulatorHandle};
use cxone_replay_domain::DlqPage;
use reqwest::StatusCode;

async fn page(emu: &EmulatorHandle, tok: &str, query: &[(&str, &str)]) -> DlqPage {
    let resp = get_page(emu, tok, query).await;
    assert_eq!(resp.status(), StatusCode::OK);
    DlqPage::from_slice(&resp.bytes().await.expect("body")).expect("page")
}

/// Walks a topic; between pages runs `between`.
async fn walk(emu: &EmulatorHandle, tok: &str, topic: &str, limit: &str) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = vec![("topicId", topic), ("limit", limit)];
        if let Some(t) = &next {
            q.push(("nextPageToken", t.as_str()));
        }
        let p = page(emu, tok, &q).await;
        pages += 1;
        ids.extend(p.events.iter().map(|e| e.event_id.clone()));
        match p.next_page_token {
            Some(t) => next = Some(t),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn topic_id_is_required() {
    let emu = small().await;
    let tok = token(&emu).await;
    expect_error(get_page(&emu, &tok, &[]).await, 400, Some("topicId")).await;
    expect_error(
        get_page(&emu, &tok, &[("topicId", "")]).await,
        400,
        Some("topicId"),
    )
    .await;
    let l = emu.ledger();
    assert_eq!(l.rejections.get(&400), Some(&2));
    assert_eq!(l.violations_total, 2);
    assert!(
        l.violations.iter().all(|v| v.contains("topicId")),
        "{:?}",
        l.violations
    );
}

#[tokio::test]
async fn limit_must_be_a_positive_number_and_is_capped() {
    let emu = start(Emulator::builder().events(40).page_max(10)).await;
    let tok = token(&emu).await;
    for bad in ["0", "-1", "abc", "1.5"] {
        expect_error(
            get_page(&emu, &tok, &[("topicId", TOPIC), ("limit", bad)]).await,
            400,
            Some("limit"),
        )
        .await;
    }
    let p = page(&emu, &tok, &[("topicId", TOPIC), ("limit", "1000")]).await;
    assert_eq!(p.events.len(), 10);
    let p = page(&emu, &tok, &[("topicId", TOPIC), ("limit", "3")]).await;
    assert_eq!(p.events.len(), 3);
    let p = page(&emu, &tok, &[("topicId", TOPIC)]).await;
    assert_eq!(p.events.len(), 10, "default limit 50 is capped too");
}

#[tokio::test]
async fn page_tokens_are_opaque_and_checked() {
    let emu = start(Emulator::builder().events(10).topics(["a", "b"])).await;
    let tok = token(&emu).await;
    let p = page(&emu, &tok, &[("topicId", "a"), ("limit", "2")]).await;
    let t = p.next_page_token.expect("more pages");
    assert!(t.parse::<u64>().is_err(), "not a plain offset: {t}");
    expect_error(
        get_page(&emu, &tok, &[("topicId", "a"), ("nextPageToken", "%%%")]).await,
        400,
        Some("nextPageToken"),
    )
    .await;
    expect_error(
        get_page(&emu, &tok, &[("topicId", "b"), ("nextPageToken", &t)]).await,
        400,
        Some("nextPageToken"),
    )
    .await;
}

#[tokio::test]
async fn walking_all_pages_lists_every_event_once_in_order() {
    let emu = start(
        Emulator::builder()
            .events(95)
            .topics(["a", "b"])
            .page_max(20),
    )
    .await;
    let tok = token(&emu).await;
    for topic in ["a", "b"] {
        let (ids, pages) = walk(&emu, &tok, topic, "20").await;
        let seeded: Vec<String> = emu.events(topic).into_iter().map(|e| e.event_id).collect();
        assert_eq!(ids, seeded);
        assert_eq!(pages, seeded.len().div_ceil(20));
    }
    // An exact multiple of the page size ends without a token, not with an empty page.
    let emu = start(Emulator::builder().events(40)).await;
    let tok = token(&emu).await;
    let (ids, pages) = walk(&emu, &tok, TOPIC, "20").await;
    assert_eq!((ids.len(), pages), (40, 2));
}

#[tokio::test]
async fn unknown_topic_is_an_empty_queue() {
    let emu = small().await;
    let tok = token(&emu).await;
    let p = page(&emu, &tok, &[("topicId", "nobody")]).await;
    assert!(p.events.is_empty());
    assert!(p.next_page_token.is_none());
}

#[tokio::test]
async fn pages_are_stable_while_replays_go_on() {
    let emu = start(Emulator::builder().events(30).page_max(10)).await;
    let tok = token(&emu).await;
    let seeded: Vec<String> = emu.events(TOPIC).into_iter().map(|e| e.event_id).collect();
    let mut ids = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut q = vec![("topicId", TOPIC), ("limit", "10")];
        if let Some(t) = &next {
            q.push(("nextPageToken", t.as_str()));
        }
        let p = page(&emu, &tok, &q).await;
        // Replay everything on this page before asking for the next one.
        for e in &p.events {
            let resp = put(&emu, &tok, TOPIC, &Body::for_event(e)).await;
            assert_eq!(resp.status(), StatusCode::CREATED);
        }
        ids.extend(p.events.iter().map(|e| e.event_id.clone()));
        match p.next_page_token {
            Some(t) => next = Some(t),
            None => break,
        }
    }
    assert_eq!(ids, seeded);
    assert_eq!(emu.ledger().accepted_total(), 30);
    // Replayed events are still listed.
    let p = page(&emu, &tok, &[("topicId", TOPIC), ("limit", "10")]).await;
    assert_eq!(p.events.len(), 10);
}
