//! The server does what each mode says (checked with a plain reqwest client).

use super::*;

const DLQ: &str = "/api/v2/eventbridge/dlq/events?topicId=t";

async fn token_form(client: &reqwest::Client, base: &str) -> reqwest::Response {
    client
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "id"),
            ("client_secret", "the secret&more"),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn normal_mode_issues_numbered_tokens_and_one_page() {
    let server = HostileServer::builder()
        .events(2)
        .token_expires_in(0)
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let t: serde_json::Value = token_form(&http, server.base_url())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["access_token"], issued_token(1));
    assert_eq!(t["expires_in"], 0);
    let page: serde_json::Value = http
        .get(format!("{}{DLQ}", server.base_url()))
        .bearer_auth("x")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    assert!(page.get("nextPageToken").is_none());
    assert_eq!(server.count(Route::Token), 1);
    assert_eq!(server.seen()[1].authorization.as_deref(), Some("Bearer x"));
    assert_eq!(server.issued_tokens(), [issued_token(1)]);
}

#[tokio::test]
async fn a_huge_body_has_exactly_its_length() {
    let len = 3 * 64 * 1024 + 5;
    let server = HostileServer::builder()
        .mode(Mode::HugeBody(Huge {
            route: Route::Dlq,
            status: 200,
            len: Some(len),
            declare_length: true,
        }))
        .start()
        .await
        .unwrap();
    let r = reqwest::get(format!("{}{DLQ}", server.base_url()))
        .await
        .unwrap();
    assert_eq!(r.content_length(), Some(len));
    assert_eq!(r.bytes().await.unwrap().len() as u64, len);
}

#[tokio::test]
async fn empty_pages_never_end_and_never_repeat_a_token() {
    let server = HostileServer::builder()
        .mode(Mode::EndlessEmptyPages)
        .start()
        .await
        .unwrap();
    let mut tokens = std::collections::HashSet::new();
    for _ in 0..5 {
        let page: serde_json::Value = reqwest::get(format!("{}{DLQ}", server.base_url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["events"], serde_json::json!([]));
        assert!(tokens.insert(page["nextPageToken"].as_str().unwrap().to_string()));
    }
}

#[tokio::test]
async fn echo_mode_plants_the_credentials_in_the_error_body() {
    let server = HostileServer::builder()
        .mode(Mode::EchoCredentials {
            route: Route::Put,
            status: 422,
        })
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    token_form(&http, server.base_url()).await;
    let r = http
        .put(format!(
            "{}/api/v2/eventbridge/topics/t/events",
            server.base_url()
        ))
        .bearer_auth("tok")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let text = r.text().await.unwrap();
    assert!(text.contains(SERVER_REASON), "{text}");
    assert!(text.contains("Bearer tok"), "{text}");
    assert!(text.contains("the secret&more"), "{text}");
}

#[tokio::test]
async fn reflect_mode_and_put_modes() {
    let server = HostileServer::builder()
        .mode(Mode::ReflectAuthorizationAsRequestId)
        .start()
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .put(format!(
            "{}/api/v2/eventbridge/topics/t/events",
            server.base_url()
        ))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["x-request-id"], "Bearer tok");

    let server = HostileServer::builder()
        .mode(Mode::PutNotJson)
        .start()
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .put(format!(
            "{}/api/v2/eventbridge/topics/t/events",
            server.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.bytes().await.unwrap()).is_err());

    let server = HostileServer::builder()
        .mode(Mode::DlqUnauthorized)
        .start()
        .await
        .unwrap();
    let r = reqwest::get(format!("{}{DLQ}", server.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

fn trusting(ca: &TestCa) -> reqwest::Client {
    let roots = reqwest::Certificate::from_pem_bundle(ca.pem().as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .build()
        .unwrap()
}

#[tokio::test]
async fn tls_serves_with_a_trusted_current_certificate_only() {
    let ca = TestCa::new("hostile test CA").unwrap();
    let good = ca
        .issue(&["127.0.0.1", "localhost"], Validity::Current)
        .unwrap();
    let server = HostileServer::builder().tls(good).start().await.unwrap();
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    let ok = token_form(&trusting(&ca), server.base_url()).await;
    assert_eq!(ok.status(), 200);

    let other = TestCa::new("someone else").unwrap();
    let untrusted = trusting(&other)
        .get(format!("{}{DLQ}", server.base_url()))
        .send()
        .await;
    assert!(untrusted.unwrap_err().is_connect());

    for cert in [
        ca.issue(&["127.0.0.1"], Validity::Expired).unwrap(),
        ca.issue(&["wrong.example"], Validity::Current).unwrap(),
    ] {
        let server = HostileServer::builder().tls(cert).start().await.unwrap();
        let refused = trusting(&ca)
            .get(format!("{}{DLQ}", server.base_url()))
            .send()
            .await;
        assert!(refused.unwrap_err().is_connect());
        assert_eq!(server.count(Route::Dlq), 0, "no request got through");
    }
}
