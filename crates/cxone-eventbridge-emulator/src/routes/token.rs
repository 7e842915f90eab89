//! `POST /oauth2/token`: the OAuth 2 token endpoint.
//!
//! A request is read into a [`TokenRequest`] (form body, optional HTTP Basic credentials),
//! dispatched on `grant_type` to the handler of that grant, which authenticates and returns
//! the [`Scopes`] to grant; [`issue`] then stores and answers the token. `client_credentials`
//! is always served; `password` (a CXone access key, with HTTP Basic client authentication)
//! in access-key mode ([`EmulatorBuilder::access_key`](crate::EmulatorBuilder::access_key)).

use crate::routes::ROUTE_TOKEN;
use crate::server::reject::{OAuthReject, json_response, no_store};
use crate::server::state::AppState;
use crate::server::tokens::Scopes;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret as _;
use serde_json::json;
use std::sync::Arc;

pub(crate) async fn token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    {
        let mut l = state.ledger();
        l.request(ROUTE_TOKEN);
        l.ledger.token_requests += 1;
    }
    match TokenRequest::read(&headers, &body).and_then(|req| grant(&state, &req)) {
        Ok(scopes) => issue(&state, scopes),
        Err(e) => e.respond(&state),
    }
}

/// A token request: the form's parameters and the HTTP Basic credentials, if any. It holds the
/// client secret, so it has no `Debug`.
struct TokenRequest {
    form: Vec<(String, String)>,
    basic: Option<(String, String)>,
}

impl TokenRequest {
    /// Reads a form-encoded token request.
    fn read(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthReject> {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(OAuthReject::bad_request(
                "invalid_request",
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        }
        let form = parse_form(body)
            .ok_or_else(|| OAuthReject::bad_request("invalid_request", "malformed form body"))?;
        Ok(TokenRequest {
            form,
            basic: basic_credentials(headers),
        })
    }

    /// The first value of a form parameter.
    fn get(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The client's id and secret: from the form if both are there, else from HTTP Basic.
    fn client(&self) -> Option<(&str, &str)> {
        match (self.get("client_id"), self.get("client_secret")) {
            (Some(id), Some(secret)) => Some((id, secret)),
            _ => self
                .basic
                .as_ref()
                .map(|(id, secret)| (id.as_str(), secret.as_str())),
        }
    }

    /// The scopes asked for; both when `scope` is absent.
    fn scopes(&self) -> Result<Scopes, OAuthReject> {
        match self.get("scope") {
            None => Ok(Scopes::ALL),
            Some(s) => Scopes::parse(s).map_err(|bad| {
                OAuthReject::bad_request("invalid_scope", format!("unknown scope `{bad}`"))
            }),
        }
    }
}

/// Runs the handler of the request's grant type.
fn grant(state: &AppState, req: &TokenRequest) -> Result<Scopes, OAuthReject> {
    match req.get("grant_type") {
        Some("client_credentials") => client_credentials(state, req),
        Some("password") if state.cfg.access_key.is_some() => password(state, req),
        Some(_) if state.cfg.access_key.is_some() => Err(OAuthReject::bad_request(
            "unsupported_grant_type",
            "only client_credentials and password are supported",
        )),
        Some(_) => Err(OAuthReject::bad_request(
            "unsupported_grant_type",
            "only client_credentials is supported",
        )),
        None => Err(OAuthReject::bad_request(
            "invalid_request",
            "grant_type is missing",
        )),
    }
}

/// The client credentials grant: the configured client id and secret, in the form or as
/// HTTP Basic.
fn client_credentials(state: &AppState, req: &TokenRequest) -> Result<Scopes, OAuthReject> {
    let (id, secret) = req
        .client()
        .ok_or_else(|| OAuthReject::invalid_client("client credentials are missing"))?;
    if id != state.cfg.client_id || secret != state.cfg.client_secret.expose_secret() {
        return Err(OAuthReject::invalid_client("client authentication failed"));
    }
    req.scopes()
}

/// The password grant of access-key mode: the client authenticates with HTTP Basic (required
/// here, as CXone does), then the access key id and secret come as `username` and `password`.
fn password(state: &AppState, req: &TokenRequest) -> Result<Scopes, OAuthReject> {
    let Some((key_id, key_secret)) = &state.cfg.access_key else {
        return Err(OAuthReject::bad_request(
            "unsupported_grant_type",
            "access-key mode is off",
        ));
    };
    let (id, secret) = req.basic.as_ref().ok_or_else(|| {
        OAuthReject::invalid_client("the password grant needs HTTP Basic client authentication")
    })?;
    if *id != state.cfg.client_id || secret != state.cfg.client_secret.expose_secret() {
        return Err(OAuthReject::invalid_client("client authentication failed"));
    }
    let (Some(user), Some(pass)) = (req.get("username"), req.get("password")) else {
        return Err(OAuthReject::bad_request(
            "invalid_request",
            "username and password are required",
        ));
    };
    if user != key_id || pass != key_secret.expose_secret() {
        return Err(OAuthReject::bad_request(
            "invalid_grant",
            "the access key id or secret is wrong",
        ));
    }
    req.scopes()
}

/// Stores a new token with `scopes` and answers it.
fn issue(state: &AppState, scopes: Scopes) -> Response {
    let access_token = state.tokens.issue(scopes, state.clock.now());
    state.ledger().ledger.tokens_issued += 1;
    let ttl = state.tokens.ttl();
    let expires_in = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scopes.to_string(),
    });
    no_store(json_response(state, StatusCode::OK, body.to_string()))
}

/// `Authorization: Basic base64(id:secret)`, decoded.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let decoded = STANDARD.decode(value.strip_prefix("Basic ")?.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Decodes `application/x-www-form-urlencoded` text; `None` if a percent escape or the UTF-8 is bad.
pub(crate) fn parse_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    fn decode(s: &[u8]) -> Option<String> {
        let mut out = Vec::with_capacity(s.len());
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = s.get(i + 1..i + 3)?;
                    // `from_str_radix` alone would take a sign: `%+1`.
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    let hex = std::str::from_utf8(hex).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    body.split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let k = decode(it.next().unwrap_or_default())?;
            let v = decode(it.next().unwrap_or_default())?;
            Some((k, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Emulator;
    use crate::routes::testkit::{Kit, token_request};
    use axum::body::Body;
    use axum::http::Request;
    use std::time::Duration;

    const SECRET: &str = "s3cret-xyz-never-shown";

    fn kit() -> Kit {
        Kit::new(Emulator::builder().events(1).credentials("id-1", SECRET))
    }

    fn assert_oauth_error(reply: &crate::routes::testkit::Reply, status: u16, code: &str) {
        assert_eq!(reply.status.as_u16(), status);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let v = reply.json();
        assert_eq!(v["error"], code, "{v}");
        assert!(v["error_description"].is_string(), "{v}");
        assert!(!String::from_utf8_lossy(&reply.body).contains(SECRET));
    }

    #[test]
    fn form_decoding() {
        let f = parse_form(
            b"grant_type=client_credentials&scope=eventbridge%3Aread+eventbridge:write&x=",
        )
        .expect("valid form");
        assert_eq!(f[0], ("grant_type".into(), "client_credentials".into()));
        assert_eq!(
            f[1],
            ("scope".into(), "eventbridge:read eventbridge:write".into())
        );
        assert_eq!(f[2], ("x".into(), String::new()));
        assert!(parse_form(b"a=%zz").is_none());
        assert!(parse_form(b"a=%4").is_none());
        assert!(parse_form(b"a=%+1").is_none(), "a sign is not a hex digit");
        assert!(parse_form(b"a=%ff").is_none(), "not UTF-8");
    }

    #[tokio::test]
    async fn client_credentials_in_the_form_get_a_token() {
        let k = kit();
        let reply = k
            .send(token_request(&format!(
                "grant_type=client_credentials&client_id=id-1&client_secret={SECRET}&scope=eventbridge:read"
            )))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.header("x-request-id"), Some("emu-1"));
        let v = reply.json();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
        assert_eq!(v["scope"], "eventbridge:read");
        assert!(
            v["access_token"]
                .as_str()
                .is_some_and(|t| t.starts_with("emu.1."))
        );
        let l = k.ledger();
        assert_eq!((l.token_requests, l.tokens_issued), (1, 1));
        assert_eq!(l.requests_on(ROUTE_TOKEN), 1);
        assert!(l.rejections.is_empty());
    }

    #[tokio::test]
    async fn http_basic_credentials_and_the_default_scope() {
        let k = kit();
        let basic = STANDARD.encode(format!("id-1:{SECRET}"));
        let req = Request::post("/oauth2/token")
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(header::AUTHORIZATION, format!("Basic {basic}"))
            .body(Body::from("grant_type=client_credentials"))
            .expect("request");
        let reply = k.send(req).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["scope"], "eventbridge:read eventbridge:write");
    }

    #[tokio::test]
    async fn expires_in_rounds_a_sub_second_ttl_up() {
        let k = Kit::new(
            Emulator::builder()
                .events(0)
                .token_ttl(Duration::from_millis(1500)),
        );
        let reply = k
            .send(token_request(
                "grant_type=client_credentials&client_id=demo&client_secret=demo-secret",
            ))
            .await;
        assert_eq!(reply.json()["expires_in"], 2);
    }

    #[tokio::test]
    async fn bad_requests_are_oauth_errors_and_issue_nothing() {
        let k = kit();
        let creds = format!("client_id=id-1&client_secret={SECRET}");
        let cases: Vec<(Request<Body>, u16, &str)> = vec![
            (
                Request::post("/oauth2/token")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(r#"{"grant_type":"client_credentials"}"#))
                    .expect("request"),
                400,
                "invalid_request",
            ),
            (token_request("grant_type=%zz"), 400, "invalid_request"),
            (token_request(&creds), 400, "invalid_request"),
            (
                token_request(&format!("grant_type=password&{creds}")),
                400,
                "unsupported_grant_type",
            ),
            (
                token_request("grant_type=client_credentials&client_id=id-1"),
                401,
                "invalid_client",
            ),
            (
                token_request("grant_type=client_credentials&client_id=id-1&client_secret=nope"),
                401,
                "invalid_client",
            ),
            (
                token_request(&format!(
                    "grant_type=client_credentials&client_id=other&client_secret={SECRET}"
                )),
                401,
                "invalid_client",
            ),
            (
                token_request(&format!(
                    "grant_type=client_credentials&{creds}&scope=eventbridge:read+admin:all"
                )),
                400,
                "invalid_scope",
            ),
        ];
        let n = cases.len() as u64;
        for (req, status, code) in cases {
            assert_oauth_error(&k.send(req).await, status, code);
        }
        let l = k.ledger();
        assert_eq!(l.token_requests, n);
        assert_eq!(l.tokens_issued, 0);
        assert_eq!(l.rejections.get(&400), Some(&5));
        assert_eq!(l.rejections.get(&401), Some(&3));
        assert!(
            l.violations.is_empty(),
            "token errors are not contract violations"
        );
    }

    const KEY_SECRET: &str = "ak-s3cret-never-shown";

    fn access_key_kit() -> Kit {
        Kit::new(
            Emulator::builder()
                .events(1)
                .credentials("id-1", SECRET)
                .access_key("key-1", KEY_SECRET),
        )
    }

    fn password_request(basic: Option<(&str, &str)>, form: &str) -> Request<Body> {
        let mut b = Request::post("/oauth2/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            let v = STANDARD.encode(format!("{id}:{secret}"));
            b = b.header(header::AUTHORIZATION, format!("Basic {v}"));
        }
        b.body(Body::from(form.to_string())).expect("request")
    }

    #[tokio::test]
    async fn access_key_mode_serves_the_password_grant_with_basic_client_auth() {
        let k = access_key_kit();
        let form = format!("grant_type=password&username=key-1&password={KEY_SECRET}");
        let reply = k
            .send(password_request(Some(("id-1", SECRET)), &form))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["scope"], "eventbridge:read eventbridge:write");
        // client credentials still work in access-key mode
        let reply = k
            .send(token_request(&format!(
                "grant_type=client_credentials&client_id=id-1&client_secret={SECRET}"
            )))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(k.ledger().tokens_issued, 2);
    }

    #[tokio::test]
    async fn the_password_grant_refuses_what_a_tenant_refuses() {
        let k = access_key_kit();
        let good = format!("grant_type=password&username=key-1&password={KEY_SECRET}");
        let cases: Vec<(Request<Body>, u16, &str)> = vec![
            // client credentials in the form only: Basic is required for this grant
            (
                token_request(&format!("{good}&client_id=id-1&client_secret={SECRET}")),
                401,
                "invalid_client",
            ),
            (
                password_request(Some(("id-1", "wrong")), &good),
                401,
                "invalid_client",
            ),
            (
                password_request(
                    Some(("id-1", SECRET)),
                    "grant_type=password&username=key-1&password=nope",
                ),
                400,
                "invalid_grant",
            ),
            (
                password_request(
                    Some(("id-1", SECRET)),
                    &format!("grant_type=password&username=key-2&password={KEY_SECRET}"),
                ),
                400,
                "invalid_grant",
            ),
            (
                password_request(Some(("id-1", SECRET)), "grant_type=password&username=key-1"),
                400,
                "invalid_request",
            ),
        ];
        for (req, status, code) in cases {
            let reply = k.send(req).await;
            assert_oauth_error(&reply, status, code);
            assert!(!String::from_utf8_lossy(&reply.body).contains(KEY_SECRET));
        }
        assert_eq!(k.ledger().tokens_issued, 0);
        // without access-key mode the grant does not exist
        let reply = kit()
            .send(password_request(Some(("id-1", SECRET)), &good))
            .await;
        assert_oauth_error(&reply, 400, "unsupported_grant_type");
    }

    #[tokio::test]
    async fn wrong_credentials_win_over_an_unknown_scope() {
        let k = kit();
        let reply = k
            .send(token_request(
                "grant_type=client_credentials&client_id=id-1&client_secret=nope&scope=admin:all",
            ))
            .await;
        assert_oauth_error(&reply, 401, "invalid_client");
    }
}
