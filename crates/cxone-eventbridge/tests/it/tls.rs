//! TLS failures are permanent, classified `TLS` with the reason, and never retried; a CA added
//! with `add_root_certificate` is trusted by this client.

use crate::support::*;
use cxone_eventbridge::runtime::testing::{ManualClock, RecordingSleeper};
use cxone_eventbridge::{BuildError, Error, Setting, TlsReason};
use cxone_hostile_server::{HostileServer, Route, TestCa, Validity};
use cxone_replay_domain::FailureClass;

async fn tls_server(cert: cxone_hostile_server::ServerCert) -> HostileServer {
    HostileServer::builder()
        .tls(cert)
        .start()
        .await
        .expect("TLS server")
}

fn doubles() -> (ManualClock, RecordingSleeper) {
    let clock = ManualClock::new(t0());
    (clock.clone(), RecordingSleeper::advancing(clock))
}

async fn refused(server: &HostileServer, ca: Option<&TestCa>) -> (Error, RecordingSleeper) {
    let (clock, sleeper) = doubles();
    let mut b = builder_for(server.base_url(), &clock, &sleeper);
    if let Some(ca) = ca {
        b = b.add_root_certificate(ca.pem());
    }
    let err = b.build().unwrap().authenticate().await.unwrap_err();
    (err, sleeper)
}

fn assert_tls(err: &Error, reason: TlsReason) {
    assert_eq!(err.class(), FailureClass::Tls, "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.attempts(), 1, "not retried: {err}");
    match err {
        Error::Tls { reason: r, .. } => assert_eq!(*r, reason, "{err}"),
        other => panic!("not a TLS error: {other:?}"),
    }
    assert!(err.to_string().contains(&reason.to_string()), "{err}");
}

#[tokio::test]
async fn an_unknown_issuer_is_a_permanent_tls_failure() {
    let ca = TestCa::new("private CA").unwrap();
    let server = tls_server(ca.issue(&["127.0.0.1"], Validity::Current).unwrap()).await;
    let (err, sleeper) = refused(&server, None).await;
    assert_tls(&err, TlsReason::UnknownIssuer);
    assert!(
        sleeper.sleeps().is_empty(),
        "no backoff: {:?}",
        sleeper.sleeps()
    );
    assert_eq!(server.count(Route::Token), 0);
}

#[tokio::test]
async fn an_expired_certificate_is_named_as_such() {
    let ca = TestCa::new("private CA").unwrap();
    let server = tls_server(ca.issue(&["127.0.0.1"], Validity::Expired).unwrap()).await;
    let (err, _) = refused(&server, Some(&ca)).await;
    assert_tls(&err, TlsReason::Expired);
}

#[tokio::test]
async fn a_certificate_for_another_host_is_a_name_mismatch() {
    let ca = TestCa::new("private CA").unwrap();
    let server = tls_server(ca.issue(&["wrong.example"], Validity::Current).unwrap()).await;
    let (err, _) = refused(&server, Some(&ca)).await;
    assert_tls(&err, TlsReason::NameMismatch);
}

#[tokio::test]
async fn an_added_root_certificate_is_trusted() {
    let ca = TestCa::new("private CA").unwrap();
    let server = tls_server(ca.issue(&["127.0.0.1"], Validity::Current).unwrap()).await;
    let (clock, sleeper) = doubles();
    let client = builder_for(server.base_url(), &clock, &sleeper)
        .add_root_certificate(ca.pem())
        .build()
        .unwrap();
    client.authenticate().await.unwrap();
    let mut pages = std::pin::pin!(client.dlq(TOPIC).pages());
    let page = futures::TryStreamExt::try_next(&mut pages)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.events.len(), 3);
}

#[test]
fn a_root_certificate_that_is_not_pem_is_refused_naming_the_setting() {
    for bad in [
        &b"not a certificate"[..],
        b"",
        b"-----BEGIN CERTIFICATE-----\nAA\n",
    ] {
        let e = cxone_eventbridge::Client::builder()
            .base_url("https://127.0.0.1:1")
            .client_credentials(CLIENT_ID, secrecy::SecretString::from(SECRET))
            .add_root_certificate(bad)
            .build()
            .unwrap_err();
        match &e {
            BuildError::Certificate { setting, .. } => {
                assert_eq!(*setting, Setting::RootCertificate);
            }
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("root_certificate"), "{e}");
    }
}
