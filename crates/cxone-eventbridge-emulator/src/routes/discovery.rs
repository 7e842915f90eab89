//! `GET /.well-known/openid-configuration`: OpenID discovery, pointing to the token endpoint.
//! Served in every mode (it is public on a real tenant too) and never gated.

use crate::routes::ROUTE_DISCOVERY;
use crate::server::reject::json_response;
use crate::server::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

/// The discovery document of the emulator as reached through the request's `Host`.
pub(crate) async fn openid_configuration(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    state.ledger().request(ROUTE_DISCOVERY);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| is_authority(h));
    let Some(host) = host else {
        state.ledger().reject(400);
        let body = json!({ "error": "invalid_request", "message": "a Host header is needed" });
        return json_response(&state, StatusCode::BAD_REQUEST, body.to_string());
    };
    let issuer = format!("http://{host}");
    let mut grants = vec!["client_credentials"];
    if state.cfg.access_key.is_some() {
        grants.push("password");
    }
    let body = json!({
        "issuer": issuer,
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "grant_types_supported": grants,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
    });
    json_response(&state, StatusCode::OK, body.to_string())
}

/// `host[:port]` with nothing that could bend the URL built from it.
fn is_authority(h: &str) -> bool {
    !h.is_empty()
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Emulator;
    use crate::routes::testkit::Kit;
    use axum::body::Body;
    use axum::http::Request;

    fn discovery(host: Option<&str>) -> Request<Body> {
        let mut b = Request::get("/.well-known/openid-configuration");
        if let Some(h) = host {
            b = b.header(header::HOST, h);
        }
        b.body(Body::empty()).expect("request")
    }

    #[tokio::test]
    async fn points_to_the_token_endpoint_without_a_token() {
        let k = Kit::new(Emulator::builder().events(0).access_key("k", "s"));
        let reply = k.send(discovery(Some("127.0.0.1:4711"))).await;
        assert_eq!(reply.status, StatusCode::OK);
        let v = reply.json();
        assert_eq!(v["issuer"], "http://127.0.0.1:4711");
        assert_eq!(v["token_endpoint"], "http://127.0.0.1:4711/oauth2/token");
        assert_eq!(
            v["grant_types_supported"],
            json!(["client_credentials", "password"])
        );
        assert_eq!(k.ledger().requests_on(ROUTE_DISCOVERY), 1);
        // without access-key mode: client credentials only
        let k = Kit::new(Emulator::builder().events(0));
        let v = k.send(discovery(Some("localhost:1"))).await.json();
        assert_eq!(v["grant_types_supported"], json!(["client_credentials"]));
    }

    #[tokio::test]
    async fn a_missing_or_odd_host_is_a_400() {
        let k = Kit::new(Emulator::builder().events(0));
        for host in [None, Some("evil.example.com/x?"), Some("a b")] {
            let reply = k.send(discovery(host)).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{host:?}");
        }
        assert_eq!(k.ledger().rejections.get(&400), Some(&3));
    }
}
