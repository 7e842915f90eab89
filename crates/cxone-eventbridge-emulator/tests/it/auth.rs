//! Token endpoint and bearer/scope rules.

use crate::common::*;
use cxone_eventbridge_emulator::Emulator;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

async fn token_form(
    emu: &cxone_eventbridge_emulator::EmulatorHandle,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http()
        .post(emu.token_url())
        .form(form)
        .send()
        .await
        .expect("token request")
}

async fn oauth_error(resp: reqwest::Response, status: u16, code: &str) {
    assert_eq!(resp.status().as_u16(), status);
    let v: Value = resp.json().await.expect("JSON error");
    assert_eq!(v["error"], code, "{v}");
    assert!(v["error_description"].is_string());
}

#[tokio::test]
async fn wrong_credentials_get_401_json() {
    let emu = start(
        Emulator::builder()
            .events(1)
            .credentials("id-1", "s3cret-xyz"),
    )
    .await;
    let cases: [&[(&str, &str)]; 3] = [
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "id-1"),
            ("client_secret", "nope"),
        ],
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "other"),
            ("client_secret", "s3cret-xyz"),
        ],
        &[("grant_type", "client_credentials")],
    ];
    for form in cases {
        oauth_error(token_form(&emu, form).await, 401, "invalid_client").await;
    }
    let l = emu.ledger();
    assert_eq!(l.rejections.get(&401), Some(&3));
    assert_eq!(l.tokens_issued, 0);
    assert_eq!(l.token_requests, 3);
}

#[tokio::test]
async fn bad_token_requests_get_400() {
    let emu = small().await;
    let id = emu.client_id().to_string();
    let secret = emu.client_secret().to_string();
    let base = [
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let mut no_grant = base.to_vec();
    no_grant.push(("scope", "eventbridge:read"));
    oauth_error(token_form(&emu, &no_grant).await, 400, "invalid_request").await;
    let mut wrong_grant = base.to_vec();
    wrong_grant.push(("grant_type", "password"));
    oauth_error(
        token_form(&emu, &wrong_grant).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    let mut bad_scope = base.to_vec();
    bad_scope.push(("grant_type", "client_credentials"));
    bad_scope.push(("scope", "eventbridge:read admin:all"));
    oauth_error(token_form(&emu, &bad_scope).await, 400, "invalid_scope").await;
    // Not a form.
    let resp = http()
        .post(emu.token_url())
        .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}))
        .send()
        .await
        .expect("request");
    oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn basic_auth_credentials_and_default_scope() {
    let emu = small().await;
    let resp = http()
        .post(emu.token_url())
        .basic_auth(emu.client_id(), Some(emu.client_secret()))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.expect("JSON");
    assert_eq!(v["scope"], "eventbridge:read eventbridge:write");
}

#[tokio::test]
async fn api_calls_need_a_valid_bearer() {
    let emu = small().await;
    let event = emu.events(TOPIC)[0].clone();
    let body = Body::for_event(&event);
    // No Authorization header at all.
    let resp = http()
        .get(format!(
            "{}/api/v2/eventbridge/dlq/events?topicId={TOPIC}",
            emu.base_url()
        ))
        .send()
        .await
        .expect("request");
    assert!(resp.headers().get("www-authenticate").is_some());
    expect_error(resp, 401, None).await;
    let resp = get_page(&emu, "not-a-token", &[("topicId", TOPIC)]).await;
    let v = expect_error(resp, 401, None).await;
    assert_eq!(v["error"], "invalid_token");
    expect_error(put(&emu, "not-a-token", TOPIC, &body).await, 401, None).await;
    let l = emu.ledger();
    assert_eq!(l.rejections.get(&401), Some(&3));
    assert!(
        l.violations.is_empty(),
        "auth failures are not contract violations"
    );
    assert!(l.accepted.is_empty());
}

#[tokio::test]
async fn scopes_are_enforced_with_403() {
    let emu = small().await;
    let event = emu.events(TOPIC)[0].clone();
    let body = Body::for_event(&event);
    let read_only = token_with(&emu, Some("eventbridge:read")).await;
    let write_only = token_with(&emu, Some("eventbridge:write")).await;
    assert_eq!(
        get_page(&emu, &read_only, &[("topicId", TOPIC)])
            .await
            .status(),
        StatusCode::OK
    );
    let v = expect_error(put(&emu, &read_only, TOPIC, &body).await, 403, None).await;
    assert_eq!(v["error"], "insufficient_scope");
    expect_error(
        get_page(&emu, &write_only, &[("topicId", TOPIC)]).await,
        403,
        None,
    )
    .await;
    assert_eq!(
        put(&emu, &write_only, TOPIC, &body).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(emu.ledger().rejections.get(&403), Some(&2));
}

#[tokio::test]
async fn tokens_expire_after_their_ttl() {
    let ttl = Duration::from_millis(50);
    let emu = start(Emulator::builder().events(3).token_ttl(ttl)).await;
    let resp = token_form(
        &emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "demo"),
            ("client_secret", "demo-secret"),
        ],
    )
    .await;
    let v: Value = resp.json().await.expect("JSON");
    assert_eq!(v["expires_in"], 1, "sub-second TTLs round up");
    let tok = v["access_token"].as_str().expect("token").to_string();
    // Move the runtime's clock past the TTL (no wall-clock wait): the emulator reads tokio's.
    tokio::time::pause();
    tokio::time::advance(ttl + Duration::from_millis(1)).await;
    tokio::time::resume();
    let v = expect_error(get_page(&emu, &tok, &[("topicId", TOPIC)]).await, 401, None).await;
    assert_eq!(v["error"], "invalid_token");
}

#[tokio::test]
async fn token_expires_mid_run_after_max_uses_and_on_demand() {
    let emu = start(Emulator::builder().events(3).token_max_uses(2)).await;
    let tok = token(&emu).await;
    for _ in 0..2 {
        assert_eq!(
            get_page(&emu, &tok, &[("topicId", TOPIC)]).await.status(),
            StatusCode::OK
        );
    }
    expect_error(get_page(&emu, &tok, &[("topicId", TOPIC)]).await, 401, None).await;
    let tok = token(&emu).await;
    assert_eq!(
        get_page(&emu, &tok, &[("topicId", TOPIC)]).await.status(),
        StatusCode::OK
    );
    emu.expire_tokens();
    expect_error(get_page(&emu, &tok, &[("topicId", TOPIC)]).await, 401, None).await;
}

#[tokio::test]
async fn secrets_do_not_leak_into_debug_output() {
    let emu = start(
        Emulator::builder()
            .events(1)
            .credentials("id", "very-secret-value-42"),
    )
    .await;
    let tok = token(&emu).await;
    let shown = format!("{emu:?} {:?}", emu.ledger());
    assert!(!shown.contains("very-secret-value-42"));
    assert!(!shown.contains(&tok));
    // The ledger never holds tokens or secrets either.
    let _ = get_page(&emu, &tok, &[("limit", "x")]).await;
    let text = serde_json::to_string(&emu.ledger()).expect("JSON");
    assert!(!text.contains(&tok) && !text.contains("very-secret-value-42"));
}
