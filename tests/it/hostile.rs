//! The engine with the CXone client against a hostile server (`cxone-hostile-server`): what
//! reaches the audit log when the server echoes our credentials, answers oddly, or never ends.

use cxone_dlq_replay::client::{Client, Error as ClientError};
use cxone_dlq_replay::domain::{FailureClass, MAX_MESSAGE_EXCERPT, ReplayStatus};
use cxone_dlq_replay::{AuditLog, EngineError, JsonlAuditLog, Replayer};
use cxone_hostile_server::{HostileServer, Huge, Mode, Route, SERVER_REASON, TOPIC, issued_token};
use secrecy::SecretString;

const SECRET: &str = "Sx-engine-hostile-secret-77";

async fn server(mode: Mode) -> HostileServer {
    HostileServer::builder()
        .mode(mode)
        .events(3)
        .start()
        .await
        .unwrap()
}

fn client(s: &HostileServer) -> cxone_dlq_replay::client::ClientBuilder {
    Client::builder()
        .base_url(s.base_url())
        .client_credentials("engine-test", SecretString::from(SECRET))
}

/// Replays the server's DLQ into a fresh audit log; returns the run's result and the records.
async fn replay(
    c: Client,
) -> (
    Result<cxone_dlq_replay::RunSummary, EngineError>,
    Vec<cxone_dlq_replay::domain::AuditRecord>,
) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let result = Replayer::builder()
        .topic(TOPIC)
        .source(c.clone())
        .target(c)
        .audit(JsonlAuditLog::open(&log).unwrap())
        .build()
        .unwrap()
        .run()
        .await;
    let records = AuditLog::read(&log).unwrap().records;
    (result, records)
}

#[tokio::test]
async fn a_rejected_replay_keeps_the_servers_reason_without_our_credentials() {
    let s = server(Mode::EchoCredentials {
        route: Route::Put,
        status: 422,
    })
    .await;
    let (result, records) = replay(client(&s).build().unwrap()).await;
    let summary = result.unwrap();
    assert_eq!(summary.counts.failed, 3);
    assert_eq!(records.len(), 3);
    let prefix = "topic PUT: HTTP 422 (SCHEMA_VIOLATION) after 1 attempt(s)";
    for r in &records {
        assert_eq!(r.status, ReplayStatus::Failed);
        assert_eq!(r.error_classification, Some(FailureClass::SchemaViolation));
        let m = r.message.as_deref().unwrap();
        assert!(m.starts_with(prefix), "{m}");
        assert!(m.contains(SERVER_REASON), "{m}");
        assert!(m.contains("[redacted]"), "{m}");
        assert!(
            m.len() <= prefix.len() + MAX_MESSAGE_EXCERPT + 32,
            "{}",
            m.len()
        );
        assert!(!m.contains('\n'));
        for secret in [SECRET.to_string(), issued_token(1)] {
            assert!(!m.contains(&secret), "{secret} in {m}");
        }
    }
}

#[tokio::test]
async fn a_request_id_reflecting_the_bearer_token_is_not_audited() {
    let s = server(Mode::ReflectAuthorizationAsRequestId).await;
    let (result, records) = replay(client(&s).build().unwrap()).await;
    assert_eq!(result.unwrap().counts.failed, 3);
    for r in &records {
        let m = r.message.as_deref().unwrap();
        assert!(!m.contains(&issued_token(1)), "{m}");
        assert!(!m.contains("request id"), "{m}");
    }
}

#[tokio::test]
async fn a_2xx_put_whose_body_is_not_json_is_a_success() {
    let s = server(Mode::PutNotJson).await;
    let (result, records) = replay(client(&s).build().unwrap()).await;
    assert_eq!(result.unwrap().counts.success, 3);
    assert!(records.iter().all(|r| r.status == ReplayStatus::Success));
    assert_eq!(s.count(Route::Put), 3);
}

fn fetch_cause(e: &EngineError) -> &ClientError {
    let EngineError::Fetch {
        source, summary, ..
    } = e
    else {
        panic!("not a fetch error: {e:?}");
    };
    assert_eq!(summary.seen, 0);
    source
        .downcast_ref::<ClientError>()
        .expect("the client's error")
}

#[tokio::test]
async fn endless_empty_pages_end_the_run_with_a_fetch_error() {
    let s = server(Mode::EndlessEmptyPages).await;
    let (result, records) = replay(client(&s).max_empty_pages(5).build().unwrap()).await;
    let e = result.unwrap_err();
    assert!(matches!(
        fetch_cause(&e),
        ClientError::EmptyPages { count: 5, .. }
    ));
    assert!(records.is_empty());
    assert_eq!(s.count(Route::Dlq), 5);
}

#[tokio::test]
async fn an_oversized_page_ends_the_run_with_body_too_large() {
    let s = server(Mode::HugeBody(Huge {
        route: Route::Dlq,
        status: 200,
        len: None,
        declare_length: false,
    }))
    .await;
    let (result, _) = replay(client(&s).max_page_body(1 << 20).build().unwrap()).await;
    let e = result.unwrap_err();
    assert_eq!(fetch_cause(&e).class(), FailureClass::BodyTooLarge);
    assert_eq!(s.count(Route::Dlq), 1);
}
