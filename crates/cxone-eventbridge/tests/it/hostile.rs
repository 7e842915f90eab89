//! Against a hostile server (`cxone-hostile-server`): huge bodies, endless empty pages, error
//! bodies that echo our credentials, tokens that expire at once, odd 2xx bodies, 401 forever,
//! reflected request ids. Each test names the break it pins down.

use crate::support::*;
use cxone_eventbridge::runtime::testing::{ManualClock, RecordingSleeper};
use cxone_eventbridge::{
    Auth, Client, ClientBuilder, DEFAULT_MAX_EMPTY_PAGES, DEFAULT_MAX_TOKEN_BODY, Error,
    MAX_ERROR_BODY, PutOutcome, Setting,
};
use cxone_hostile_server::{HostileServer, Huge, Mode, Route, SERVER_REASON, issued_token};
use cxone_replay_domain::FailureClass;
use futures::TryStreamExt;
use secrecy::SecretString;
use std::time::Duration;

const BODY: &[u8] = br#"{"eventId":"evt-1"}"#;

struct Hostile {
    server: HostileServer,
    clock: ManualClock,
    sleeper: RecordingSleeper,
}

impl Hostile {
    async fn start(mode: Mode) -> Hostile {
        Hostile::with(HostileServer::builder().mode(mode)).await
    }

    async fn with(b: cxone_hostile_server::HostileServerBuilder) -> Hostile {
        let clock = ManualClock::new(t0());
        Hostile {
            server: b.start().await.expect("hostile server"),
            sleeper: RecordingSleeper::advancing(clock.clone()),
            clock,
        }
    }

    fn builder(&self) -> ClientBuilder {
        builder_for(self.server.base_url(), &self.clock, &self.sleeper)
    }

    fn client(&self) -> Client {
        self.builder().build().expect("valid client")
    }
}

fn huge(route: Route, status: u16, len: Option<u64>, declare_length: bool) -> Mode {
    Mode::HugeBody(Huge {
        route,
        status,
        len,
        declare_length,
    })
}

async fn first_page(client: &Client) -> Result<cxone_replay_domain::DlqPage, Error> {
    let mut pages = std::pin::pin!(client.dlq(TOPIC).pages());
    pages.try_next().await.map(|p| p.expect("a page"))
}

fn assert_too_large(err: &Error, setting: Setting, limit: usize) {
    assert_eq!(err.class(), FailureClass::BodyTooLarge, "{err:?}");
    assert!(!err.is_retryable());
    match err {
        Error::BodyTooLarge {
            setting: s,
            limit: l,
            attempts,
            ..
        } => {
            assert_eq!((*s, *l, *attempts), (setting, limit, 1), "{err}");
        }
        other => panic!("not BodyTooLarge: {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(setting.as_str()), "{text}");
    assert!(text.contains(&limit.to_string()), "{text}");
}

// ---- 2. Unbounded memory from the server ----

#[tokio::test]
async fn a_dlq_page_over_its_cap_is_body_too_large_and_not_retried() {
    let cap: usize = 256 * 1024;
    for declare_length in [false, true] {
        let h = Hostile::start(huge(Route::Dlq, 200, Some(10 * cap as u64), declare_length)).await;
        let client = h.builder().max_page_body(cap).build().unwrap();
        let err = first_page(&client).await.unwrap_err();
        assert_too_large(&err, Setting::MaxPageBody, cap);
        match &err {
            Error::BodyTooLarge { declared, .. } => {
                assert_eq!(*declared, declare_length.then_some(10 * cap as u64));
            }
            _ => unreachable!(),
        }
        assert_eq!(h.server.count(Route::Dlq), 1, "not retried");
        assert!(h.sleeper.sleeps().is_empty());
    }
}

#[tokio::test]
async fn a_page_just_under_its_cap_is_read() {
    let cap: usize = 256 * 1024;
    let h = Hostile::start(huge(Route::Dlq, 200, Some(cap as u64), false)).await;
    let client = h.builder().max_page_body(cap).build().unwrap();
    // Read in full (it is filler, not JSON): a decode error, not BODY_TOO_LARGE.
    let err = first_page(&client).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn an_endless_token_response_is_cut_at_64_kib() {
    let h = Hostile::start(huge(Route::Token, 200, None, false)).await;
    let err = h.client().authenticate().await.unwrap_err();
    assert_too_large(&err, Setting::MaxTokenBody, DEFAULT_MAX_TOKEN_BODY);
    assert_eq!(h.server.count(Route::Token), 1);
}

#[tokio::test]
async fn a_huge_put_answer_is_cut_at_the_response_cap() {
    let h = Hostile::start(huge(Route::Put, 201, None, false)).await;
    let client = h.builder().max_response_body(4096).build().unwrap();
    let err = client
        .put_body(TOPIC, &key("replay-evt-1-v2"), BODY.to_vec())
        .await
        .unwrap_err();
    assert_too_large(&err, Setting::MaxResponseBody, 4096);
    assert_eq!(h.server.count(Route::Put), 1);
}

#[tokio::test]
async fn an_endless_error_body_is_kept_to_4_kib_and_the_call_ends() {
    let h = Hostile::start(huge(Route::Put, 503, None, false)).await;
    let err = h
        .client()
        .put_body(TOPIC, &key("replay-evt-1-v2"), BODY.to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.class(), FailureClass::MaxRetriesExceeded);
    assert_eq!(err.last_class(), FailureClass::ServerTransient);
    assert_eq!(err.attempts(), 5);
    assert_eq!(err.body().map(str::len), Some(MAX_ERROR_BODY));
    assert_eq!(h.server.count(Route::Put), 5);
}

#[tokio::test]
async fn body_caps_are_checked_settings() {
    let h = Hostile::start(Mode::Normal).await;
    for (b, setting) in [
        (h.builder().max_page_body(0), Setting::MaxPageBody),
        (h.builder().max_token_body(0), Setting::MaxTokenBody),
        (h.builder().max_response_body(0), Setting::MaxResponseBody),
        (h.builder().max_empty_pages(0), Setting::MaxEmptyPages),
    ] {
        match b.build() {
            Err(cxone_eventbridge::BuildError::InvalidSetting { setting: s, .. }) => {
                assert_eq!(s, setting);
            }
            other => panic!("{setting}: {other:?}"),
        }
    }
}

// ---- 3. Endless empty pages ----

#[tokio::test]
async fn endless_empty_pages_stop_after_the_setting() {
    let h = Hostile::start(Mode::EndlessEmptyPages).await;
    let client = h.builder().max_empty_pages(7).build().unwrap();
    let events: Result<Vec<_>, _> = client.dlq(TOPIC).events().try_collect().await;
    match events.unwrap_err() {
        Error::EmptyPages { topic, count } => {
            assert_eq!((topic.as_str(), count), (TOPIC, 7));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(h.server.count(Route::Dlq), 7);
}

#[tokio::test]
async fn the_default_empty_page_limit_is_100() {
    assert_eq!(DEFAULT_MAX_EMPTY_PAGES, 100);
    let h = Hostile::start(Mode::EndlessEmptyPages).await;
    let err = h
        .client()
        .dlq(TOPIC)
        .pages()
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(TOPIC) && text.contains("100") && text.contains("max_empty_pages"),
        "{text}"
    );
    assert_eq!(h.server.count(Route::Dlq), 100);
}

// ---- 6. The server's reason, without our credentials ----

fn assert_no_credentials(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{s} leaked into:\n{text}");
    }
}

#[tokio::test]
async fn an_error_body_keeps_the_reason_and_redacts_the_echoed_credentials() {
    let h = Hostile::start(Mode::EchoCredentials {
        route: Route::Put,
        status: 422,
    })
    .await;
    let err = h
        .client()
        .put_body(TOPIC, &key("replay-evt-1-v2"), BODY.to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.class(), FailureClass::SchemaViolation);
    let body = err.body().expect("the server's text");
    assert!(body.contains(SERVER_REASON), "{body}");
    assert!(body.contains("[redacted]"), "{body}");
    let token = issued_token(1);
    let everything = format!("{body}\n{err}\n{err:?}");
    assert_no_credentials(&everything, &[&token, SECRET]);
}

#[tokio::test]
async fn a_token_error_echoing_the_form_and_basic_auth_is_redacted() {
    // A secret that changes under form and JSON encoding.
    let secret = r#"p@ss "w0rd"/+&=\x"#;
    let access = "AKS-very/secret+key";
    let h = Hostile::start(Mode::EchoCredentials {
        route: Route::Token,
        status: 400,
    })
    .await;
    for auth in [
        Auth::ClientCredentials {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(secret),
        },
        Auth::CxoneAccessKey {
            client_id: CLIENT_ID.into(),
            client_secret: SecretString::from(secret),
            access_key_id: "AKID".into(),
            access_key_secret: SecretString::from(access),
            issuer: None,
        },
    ] {
        let err = h
            .builder()
            .auth(auth)
            .build()
            .unwrap()
            .authenticate()
            .await
            .unwrap_err();
        assert_eq!(err.class(), FailureClass::Unauthorized);
        let body = err.body().expect("the server's text").to_string();
        assert!(body.contains(SERVER_REASON), "{body}");
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        let json = serde_json::to_string(secret).unwrap();
        let json = &json[1..json.len() - 1];
        let basic = base64_basic(CLIENT_ID, secret);
        let access_encoded: String =
            url::form_urlencoded::byte_serialize(access.as_bytes()).collect();
        assert_no_credentials(
            &format!("{body}\n{err:?}"),
            &[secret, &encoded, json, &basic, access, &access_encoded],
        );
    }
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
}

// ---- 7. Smaller ones ----

#[tokio::test]
async fn a_token_that_expires_at_once_is_kept_for_the_floor() {
    let h = Hostile::with(HostileServer::builder().token_expires_in(0)).await;
    let client = h.client();
    for _ in 0..3 {
        client
            .put_body(TOPIC, &key("replay-evt-1-v2"), BODY.to_vec())
            .await
            .unwrap();
    }
    assert_eq!(h.server.count(Route::Token), 1, "one token for three calls");
    // Treated as 30 s, shorter than the 60 s margin: refreshed half-way.
    h.clock.advance(Duration::from_secs(14));
    client
        .put_body(TOPIC, &key("replay-evt-1-v2"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(h.server.count(Route::Token), 1);
    h.clock.advance(Duration::from_secs(1));
    client
        .put_body(TOPIC, &key("replay-evt-1-v2"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(h.server.count(Route::Token), 2);
}

#[tokio::test]
async fn a_401_forever_on_the_dlq_is_unauthorized_with_one_paced_refresh() {
    let h = Hostile::start(Mode::DlqUnauthorized).await;
    let err = first_page(&h.client()).await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert_eq!(err.class(), FailureClass::Unauthorized);
    assert_eq!(err.attempts(), 2);
    assert_eq!(h.server.count(Route::Dlq), 2);
    assert_eq!(h.server.count(Route::Token), 2, "one refresh");
    // The refresh came right after the first token: it waited out the one-second spacing.
    assert_eq!(h.sleeper.sleeps(), [Duration::from_secs(1)]);
    let seen = h.server.seen();
    let auths: Vec<_> = seen
        .iter()
        .filter(|s| s.route == Route::Dlq)
        .map(|s| s.authorization.clone().unwrap())
        .collect();
    assert_eq!(
        auths,
        [
            format!("Bearer {}", issued_token(1)),
            format!("Bearer {}", issued_token(2))
        ]
    );
}

#[tokio::test]
async fn a_2xx_put_with_a_body_that_is_not_json_is_accepted() {
    let h = Hostile::start(Mode::PutNotJson).await;
    let report = h
        .client()
        .put_body(TOPIC, &key("replay-evt-1-v2"), BODY.to_vec())
        .await
        .unwrap();
    assert_eq!(report.outcome, PutOutcome::Accepted(None));
    assert_eq!((report.status, report.attempts), (201, 1));
}

#[tokio::test]
async fn a_request_id_that_reflects_the_authorization_header_is_dropped() {
    let h = Hostile::start(Mode::ReflectAuthorizationAsRequestId).await;
    let err = h
        .client()
        .put_body(TOPIC, &key("replay-evt-1-v2"), BODY.to_vec())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert_eq!(err.request_id(), None);
    assert_no_credentials(&format!("{err}\n{err:?}"), &[&issued_token(1)]);
}
