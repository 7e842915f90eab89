//! `GET /api/v2/eventbridge/dlq/events`: the seeded DLQ, paged by opaque, topic-bound tokens.

use crate::data;
use crate::routes::ROUTE_DLQ;
use crate::routes::gate;
use crate::server::listener::ConnTag;
use crate::server::reject::{Reject, json_response};
use crate::server::state::AppState;
use crate::server::tokens::Scope;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

/// The page size when `limit` is absent.
const DEFAULT_LIMIT: usize = 50;

pub(crate) async fn dlq(
    State(state): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnTag>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    state.ledger().request(ROUTE_DLQ);
    let admitted = match gate::admit(&state, &conn, &headers, Scope::Read).await {
        Ok(a) => a,
        Err(resp) => return resp,
    };
    admitted.stamp(match page(&state, &uri) {
        Ok(body) => json_response(&state, StatusCode::OK, body),
        Err(r) => r.respond(&state, "GET dlq/events"),
    })
}

/// The JSON text of the page the query asks for.
fn page(state: &AppState, uri: &Uri) -> Result<String, Reject> {
    let bad = |field: &str, msg: String| {
        Reject::field(StatusCode::BAD_REQUEST, "invalid_request", field, msg)
    };
    let Query(params) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|e| bad("query", format!("malformed query string: {e}")))?;
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let topic = get("topicId")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("topicId", "topicId is required".into()))?;
    let limit = match get("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(bad(
                    "limit",
                    format!("limit must be a whole number >= 1, got `{l}`"),
                ));
            }
        },
    }
    .min(state.cfg.page_max);
    let offset = match get("nextPageToken") {
        None => 0,
        Some(t) => decode_page_token(t, topic).ok_or_else(|| {
            bad(
                "nextPageToken",
                "nextPageToken is not one this topic issued".into(),
            )
        })?,
    };
    let entries = state
        .data
        .topics
        .get(topic)
        .map_or(&[][..], |t| &t.entries[..]);
    let start = offset.min(entries.len());
    let end = start.saturating_add(limit).min(entries.len());
    let next = (end < entries.len()).then(|| encode_page_token(topic, end));
    Ok(data::page_json(&entries[start..end], next.as_deref()))
}

fn encode_page_token(topic: &str, offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{offset}:{topic}"))
}

fn decode_page_token(token: &str, topic: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let rest = text.strip_prefix("v1:")?;
    let (offset, t) = rest.split_once(':')?;
    (t == topic).then_some(())?;
    offset.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Emulator;
    use crate::routes::testkit::{Kit, get};
    use cxone_replay_domain::DlqPage;

    const TOPIC: &str = "topic_pub_conversations";

    fn uri(query: &str) -> String {
        format!("/api/v2/eventbridge/dlq/events?{query}")
    }

    #[test]
    fn page_tokens_are_opaque_and_topic_bound() {
        let t = encode_page_token("topic_a", 50);
        assert!(!t.contains("50"));
        assert_eq!(decode_page_token(&t, "topic_a"), Some(50));
        assert_eq!(decode_page_token(&t, "topic_b"), None);
        assert_eq!(decode_page_token("garbage!", "topic_a"), None);
    }

    #[tokio::test]
    async fn pages_follow_the_seeded_order_until_no_token() {
        let k = Kit::new(Emulator::builder().events(7).seed(3));
        let tok = k.token(Some("eventbridge:read")).await;
        let mut ids = Vec::new();
        let mut sizes = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut q = format!("topicId={TOPIC}&limit=3");
            if let Some(t) = &next {
                q.push_str(&format!("&nextPageToken={t}"));
            }
            let r = k.send(get(&uri(&q), &tok)).await;
            assert_eq!(r.status, StatusCode::OK);
            assert!(r.header("x-request-id").is_some());
            let page = DlqPage::from_slice(&r.body).expect("a DLQ page");
            sizes.push(page.events.len());
            ids.extend(page.events.into_iter().map(|e| e.event_id));
            match page.next_page_token {
                Some(t) => next = Some(t),
                None => break,
            }
        }
        assert_eq!(sizes, vec![3, 3, 1]);
        let seeded: Vec<String> = k.events(TOPIC).into_iter().map(|e| e.event_id).collect();
        assert_eq!(ids, seeded);
        assert_eq!(k.ledger().requests_on(ROUTE_DLQ), 3);
    }

    #[tokio::test]
    async fn limit_defaults_to_50_and_is_capped_at_page_max() {
        let k = Kit::new(Emulator::builder().events(120).page_max(60));
        let tok = k.token(None).await;
        let count = |r: crate::routes::testkit::Reply| r.json()["events"].as_array().map(Vec::len);
        assert_eq!(
            count(k.send(get(&uri(&format!("topicId={TOPIC}")), &tok)).await),
            Some(50)
        );
        assert_eq!(
            count(
                k.send(get(&uri(&format!("topicId={TOPIC}&limit=1000")), &tok))
                    .await
            ),
            Some(60)
        );
    }

    #[tokio::test]
    async fn an_unknown_topic_is_an_empty_queue() {
        let k = Kit::new(Emulator::builder().events(3));
        let tok = k.token(None).await;
        let r = k.send(get(&uri("topicId=nobody"), &tok)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body.as_ref(), br#"{"events":[]}"#);
    }

    #[tokio::test]
    async fn bad_queries_are_400_naming_the_parameter() {
        let k = Kit::new(Emulator::builder().events(5).topics(["a", "b"]));
        let tok = k.token(None).await;
        let foreign = encode_page_token("b", 1);
        let cases = [
            ("limit=5".to_string(), "topicId"),
            ("topicId=".to_string(), "topicId"),
            ("topicId=a&limit=0".to_string(), "limit"),
            ("topicId=a&limit=x".to_string(), "limit"),
            ("topicId=a&limit=-1".to_string(), "limit"),
            (
                format!("topicId=a&nextPageToken={foreign}"),
                "nextPageToken",
            ),
            (
                "topicId=a&nextPageToken=garbage".to_string(),
                "nextPageToken",
            ),
        ];
        for (q, field) in &cases {
            let r = k.send(get(&uri(q), &tok)).await;
            assert_eq!(r.expect_error(400, Some(field))["error"], "invalid_request");
        }
        let l = k.ledger();
        assert_eq!(l.rejections.get(&400), Some(&(cases.len() as u64)));
        assert_eq!(l.violations_total, cases.len() as u64);
        assert!(
            l.violations[0].starts_with("GET dlq/events: 400 `topicId`"),
            "{:?}",
            l.violations
        );
    }
}
