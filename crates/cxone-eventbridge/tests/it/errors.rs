//! Error outcomes: 409, permanent statuses, odd bodies, configuration refusals, redaction.

use crate::support::*;
use cxone_eventbridge::{Auth, BuildError, Client, GaveUp, MAX_ERROR_BODY, PutOutcome, Setting};
use cxone_replay_domain::FailureClass;
use httpmock::prelude::*;
use secrecy::SecretString;

const BODY: &[u8] = br#"{"eventId":"e1"}"#;

#[tokio::test]
async fn a_409_is_a_duplicate_not_a_failure() {
    let env = Env::start().await;
    env.token_mock().await;
    let put = env
        .server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(409).body(r#"{"error":"duplicate"}"#);
        })
        .await;
    let report = env
        .client()
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(report.outcome, PutOutcome::Duplicate);
    assert_eq!(report.status, 409);
    assert_eq!(report.attempts, 1);
    put.assert_calls_async(1).await;
}

#[tokio::test]
async fn permanent_statuses_are_not_retried() {
    for (status, class) in [
        (400, FailureClass::SchemaViolation),
        (413, FailureClass::PayloadTooLarge),
        (422, FailureClass::SchemaViolation),
        (403, FailureClass::Forbidden),
        (404, FailureClass::NotFound),
    ] {
        let env = Env::start().await;
        env.token_mock().await;
        let put = env
            .server
            .mock_async(|when, then| {
                when.method(PUT).path(put_path(TOPIC));
                then.status(status).body("no");
            })
            .await;
        let err = env
            .client()
            .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
            .await
            .unwrap_err();
        put.assert_calls_async(1).await;
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.class(), class, "{status}");
        assert_eq!(err.attempts(), 1);
        assert_eq!(err.gave_up(), GaveUp::Permanent);
        assert!(!err.is_retryable());
        assert!(env.sleeper.sleeps().is_empty());
    }
}

#[tokio::test]
async fn a_non_json_error_body_is_kept_bounded() {
    let env = Env::start().await;
    env.token_mock().await;
    let html = format!("<html><body>{}</body></html>", "Bad Gateway ".repeat(1000));
    env.server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(400)
                .header("content-type", "text/html")
                .header("x-request-id", "req-42")
                .body(html.clone());
        })
        .await;
    let err = env
        .client()
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    let body = err.body().unwrap();
    assert!(body.starts_with("<html><body>Bad Gateway"));
    assert_eq!(body.len(), MAX_ERROR_BODY);
    assert_eq!(err.request_id(), Some("req-42"));
    assert_eq!(
        err.to_string(),
        "topic PUT: HTTP 400 (SCHEMA_VIOLATION) after 1 attempt(s)"
    );
}

#[tokio::test]
async fn a_2xx_put_whose_body_is_not_the_receipt_is_still_accepted() {
    let env = Env::start().await;
    env.token_mock().await;
    env.server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(201)
                .header("x-request-id", "r-1")
                .body("created!");
        })
        .await;
    let report = env
        .client()
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(report.outcome, PutOutcome::Accepted(None));
    assert_eq!((report.status, report.attempts), (201, 1));
}

#[test]
fn plain_http_to_a_non_loopback_host_is_refused() {
    let creds = |b: cxone_eventbridge::ClientBuilder| {
        b.client_credentials(CLIENT_ID, SecretString::from(SECRET))
    };
    let err = creds(Client::builder().base_url("http://api.example.com"))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            BuildError::InsecureUrl {
                setting: Setting::BaseUrl,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("base_url"));
    let err = creds(
        Client::builder()
            .base_url("http://127.0.0.1:8080")
            .token_url("http://auth.example.com/token"),
    )
    .build()
    .unwrap_err();
    assert!(matches!(
        err,
        BuildError::InsecureUrl {
            setting: Setting::TokenUrl,
            ..
        }
    ));
    let err = Client::builder()
        .auth(Auth::CxoneAccessKey {
            client_id: "app".into(),
            client_secret: SecretString::from("app-secret"),
            access_key_id: "ak".into(),
            access_key_secret: SecretString::from("ak-secret"),
            issuer: Some("http://cxone.example.com".into()),
        })
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        BuildError::InsecureUrl {
            setting: Setting::Issuer,
            ..
        }
    ));
    for ok in [
        "http://127.0.0.1:1",
        "http://[::1]:1",
        "http://localhost:1",
        "https://h",
    ] {
        assert!(
            creds(Client::builder().base_url(ok)).build().is_ok(),
            "{ok}"
        );
    }
}

#[test]
fn missing_or_empty_credentials_are_refused() {
    let err = Client::builder().build().unwrap_err();
    assert!(matches!(
        err,
        BuildError::Missing {
            setting: Setting::Credentials,
            ..
        }
    ));
    let err = Client::builder()
        .client_credentials("", SecretString::from(SECRET))
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        BuildError::InvalidSetting {
            setting: Setting::ClientId,
            ..
        }
    ));
    let err = Client::builder()
        .client_credentials(CLIENT_ID, SecretString::from(""))
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        BuildError::InvalidSetting {
            setting: Setting::ClientSecret,
            ..
        }
    ));
    let err = Client::builder()
        .region("https://api.nicecxone.com")
        .client_credentials(CLIENT_ID, SecretString::from(SECRET))
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        BuildError::InvalidSetting {
            setting: Setting::Region,
            ..
        }
    ));
}

#[tokio::test]
async fn debug_and_display_never_show_secrets_or_tokens() {
    let env = Env::start().await;
    env.token_mock().await;
    env.server
        .mock_async(|when, then| {
            when.method(PUT).path(put_path(TOPIC));
            then.status(401);
        })
        .await;
    let builder = env.builder();
    let client = builder.clone().build().unwrap();
    client.authenticate().await.unwrap();
    let err = client
        .put_body(TOPIC, &key("replay-e1-v1"), BODY.to_vec())
        .await
        .unwrap_err();
    let auth = Auth::ClientCredentials {
        client_id: CLIENT_ID.into(),
        client_secret: SecretString::from(SECRET),
    };
    let shown = [
        format!("{builder:?}"),
        format!("{client:?}"),
        format!("{client:#?}"),
        format!("{auth:?}"),
        format!("{err:?}"),
        format!("{err}"),
    ];
    for s in &shown {
        assert!(!s.contains(SECRET), "secret leaked: {s}");
        assert!(!s.contains(TOKEN), "token leaked: {s}");
    }
    assert!(
        shown[1].contains(CLIENT_ID),
        "the client id is not a secret"
    );
}
