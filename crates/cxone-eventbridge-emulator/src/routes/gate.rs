//! What every API request passes before its route's own checks, in this order:
//!
//! 1. the seeded latency;
//! 2. the rate limit (`rate_limit`): a token from the bucket, or 429 with `Retry-After: 1`;
//! 3. the seeded fault schedule: a 429, a dropped connection or a 5xx;
//! 4. the bearer token: present, known, not expired or used up (401), with the route's scope
//!    (403).
//!
//! [`admit`] is the one place the API routes share, so a check that must apply to all of them
//! (another way to authenticate) is one more step here. With `rate_limit_headers`, every answer
//! of an API route carries the `RateLimit-Policy`/`RateLimit` fields: [`admit`]'s own answers
//! here, the route's through [`Admitted::stamp`].

use crate::faults::Fault;
use crate::limit::Verdict;
use crate::server::listener::ConnTag;
use crate::server::reject::Reject;
use crate::server::state::AppState;
use crate::server::tokens::{Scope, TokenProblem};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// A request that passed [`admit`]: what its route's answer must carry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admitted {
    /// The rate limit's verdict, when its header fields are to be sent.
    fields: Option<Verdict>,
}

impl Admitted {
    /// Adds the rate-limit header fields (if sent) to an API answer.
    pub(crate) fn stamp(&self, mut resp: Response) -> Response {
        if let Some(v) = &self.fields {
            let (policy, limit) = v.fields();
            let h = resp.headers_mut();
            h.insert(RATELIMIT_POLICY, policy);
            h.insert(RATELIMIT, limit);
        }
        resp
    }
}

/// Runs the API pre-checks for a request needing `need`; `Err` is the answer to send.
///
/// # Errors
/// The rate limit's 429, the injected fault's answer, or the 401/403 of a missing, invalid or
/// under-scoped token.
pub(crate) async fn admit(
    state: &AppState,
    conn: &ConnTag,
    headers: &HeaderMap,
    need: Scope,
) -> Result<Admitted, Response> {
    let n = state.next_api_request();
    if !state.faults.is_quiet() {
        let latency = state.faults.latency(n);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
    let verdict = state.take_token();
    let admitted = Admitted {
        fields: verdict.filter(|_| state.cfg.rate_limit_headers),
    };
    if let Some(v) = verdict.filter(|v| !v.admitted) {
        state.ledger().ledger.rate_limited += 1;
        let resp = Reject::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "rate limit of {} requests per second exceeded",
                v.limit.per_second()
            ),
        )
        .header(header::RETRY_AFTER, "1")
        .respond(state, "rate limit");
        return Err(admitted.stamp(resp));
    }
    if let Some(resp) = inject(state, conn, n) {
        return Err(admitted.stamp(resp));
    }
    authorize(state, headers, need).map_err(|r| admitted.stamp(r.respond(state, "auth")))?;
    Ok(admitted)
}

/// Applies the seeded fault of request `n`; `Some` is the response to send.
fn inject(state: &AppState, conn: &ConnTag, n: u64) -> Option<Response> {
    if state.faults.is_quiet() {
        return None;
    }
    match state.faults.fault(n) {
        Fault::None => None,
        Fault::Drop => {
            state.ledger().ledger.dropped += 1;
            conn.kill();
            // Never written: the connection fails first.
            Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        Fault::RateLimited { retry_after_secs } => Some(
            Reject::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests",
            )
            .header(header::RETRY_AFTER, &retry_after_secs.to_string())
            .respond(state, "fault"),
        ),
        Fault::ServerError(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            Some(
                Reject::new(status, "server_error", "injected server error")
                    .respond(state, "fault"),
            )
        }
    }
}

/// The bearer token of `Authorization`, if the header holds one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    let token = rest.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn authorize(state: &AppState, headers: &HeaderMap, need: Scope) -> Result<(), Reject> {
    let unauthorized = |code: &'static str, msg: &str, challenge: &str| {
        Reject::new(StatusCode::UNAUTHORIZED, code, msg).header(header::WWW_AUTHENTICATE, challenge)
    };
    let token = bearer(headers)
        .ok_or_else(|| unauthorized("unauthorized", "a Bearer token is required", "Bearer"))?;
    match state.tokens.check(token, need, state.clock.now()) {
        Ok(()) => Ok(()),
        Err(TokenProblem::Invalid) => Err(unauthorized(
            "invalid_token",
            "the access token is invalid or expired",
            "Bearer error=\"invalid_token\"",
        )),
        Err(TokenProblem::MissingScope(scope)) => Err(Reject::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("the token lacks scope {}", scope.as_str()),
        )
        .header(
            header::WWW_AUTHENTICATE,
            &format!(
                "Bearer error=\"insufficient_scope\", scope=\"{}\"",
                scope.as_str()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Emulator;
    use crate::routes::testkit::{Kit, get};
    use axum::body::Body;
    use axum::http::Request;
    use std::time::Duration;

    const PAGE: &str = "/api/v2/eventbridge/dlq/events?topicId=topic_pub_conversations&limit=1";

    #[test]
    fn bearer_parsing() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().expect("header value"));
            h
        };
        assert_eq!(bearer(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&with("Bearer ")), None);
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn no_unknown_and_under_scoped_tokens_are_refused() {
        let k = Kit::new(Emulator::builder().events(2));
        let req = Request::get(PAGE).body(Body::empty()).expect("request");
        let r = k.send(req).await;
        r.expect_error(401, None);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        let r = k.send(get(PAGE, "emu.1.forged")).await;
        assert_eq!(r.expect_error(401, None)["error"], "invalid_token");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
        let write_only = k.token(Some("eventbridge:write")).await;
        let r = k.send(get(PAGE, &write_only)).await;
        assert_eq!(r.expect_error(403, None)["error"], "insufficient_scope");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer error=\"insufficient_scope\", scope=\"eventbridge:read\"")
        );
        let l = k.ledger();
        assert_eq!(l.rejections.get(&401), Some(&2));
        assert_eq!(l.rejections.get(&403), Some(&1));
        assert!(l.violations.is_empty(), "auth failures are not violations");
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_expires_when_tokios_clock_passes_its_ttl() {
        let k = Kit::new(
            Emulator::builder()
                .events(2)
                .token_ttl(Duration::from_secs(60)),
        );
        let tok = k.token(None).await;
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(k.send(get(PAGE, &tok)).await.status, StatusCode::OK);
        tokio::time::advance(Duration::from_secs(1)).await;
        let r = k.send(get(PAGE, &tok)).await;
        assert_eq!(r.expect_error(401, None)["error"], "invalid_token");
    }

    #[tokio::test]
    async fn a_token_is_used_up_after_max_uses() {
        let k = Kit::new(Emulator::builder().events(2).token_max_uses(2));
        let tok = k.token(None).await;
        for _ in 0..2 {
            assert_eq!(k.send(get(PAGE, &tok)).await.status, StatusCode::OK);
        }
        k.send(get(PAGE, &tok)).await.expect_error(401, None);
    }

    #[tokio::test]
    async fn a_dropped_request_kills_its_connection_and_is_counted() {
        let k = Kit::new(Emulator::builder().events(2).drop_fraction(1.0));
        let tok = k.token(None).await;
        assert!(!k.conn.is_killed(), "the token route never faults");
        let r = k.send(get(PAGE, &tok)).await;
        assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(k.conn.is_killed());
        let l = k.ledger();
        assert_eq!(l.dropped, 1);
        assert!(l.rejections.is_empty(), "a dropped request answers nothing");
    }

    #[tokio::test]
    async fn every_kth_request_is_a_429_with_retry_after_before_auth() {
        let k = Kit::new(Emulator::builder().events(2).rate_limit_every(2, 7));
        let tok = k.token(None).await;
        assert_eq!(k.send(get(PAGE, &tok)).await.status, StatusCode::OK);
        // The fault comes first: even a request without a valid token gets the 429.
        let r = k.send(get(PAGE, "not-a-token")).await;
        assert_eq!(r.expect_error(429, None)["error"], "rate_limited");
        assert_eq!(r.header("retry-after"), Some("7"));
        k.send(get(PAGE, "not-a-token"))
            .await
            .expect_error(401, None);
        let l = k.ledger();
        assert_eq!(l.rejections.get(&429), Some(&1));
        assert_eq!(l.rejections.get(&401), Some(&1));
    }

    #[tokio::test]
    async fn injected_5xx() {
        let k = Kit::new(Emulator::builder().events(2).fail_5xx(1.0));
        let tok = k.token(None).await;
        let r = k.send(get(PAGE, &tok)).await;
        assert!(r.status.is_server_error(), "{}", r.status);
        assert_eq!(r.json()["error"], "server_error");
        assert_eq!(k.ledger().rejections_total(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_is_slept_on_tokios_clock() {
        let k = Kit::new(
            Emulator::builder()
                .events(2)
                .latency(Duration::from_millis(250), Duration::ZERO),
        );
        let tok = k.token(None).await;
        let before = tokio::time::Instant::now();
        assert_eq!(k.send(get(PAGE, &tok)).await.status, StatusCode::OK);
        assert_eq!(before.elapsed(), Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_allows_its_burst_then_answers_429_with_retry_after_until_refilled() {
        let limit = crate::RateLimit::new(10).with_burst(2);
        let k = Kit::new(Emulator::builder().events(2).rate_limit(limit));
        let tok = k.token(None).await;
        for _ in 0..2 {
            let r = k.send(get(PAGE, &tok)).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.header("ratelimit"), None, "no fields unless asked for");
        }
        // Empty: a 429 before anything else, even for a request without a valid token.
        let r = k.send(get(PAGE, "not-a-token")).await;
        assert_eq!(r.expect_error(429, None)["error"], "rate_limited");
        assert_eq!(r.header("retry-after"), Some("1"));
        // The token route and OpenID discovery are not limited.
        k.token(None).await;
        let discovery = Request::get("/.well-known/openid-configuration")
            .header(axum::http::header::HOST, "127.0.0.1:1")
            .body(Body::empty())
            .expect("request");
        assert_eq!(k.send(discovery).await.status, StatusCode::OK);
        // One token per 100 ms.
        tokio::time::advance(Duration::from_millis(99)).await;
        k.send(get(PAGE, &tok)).await.expect_error(429, None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(k.send(get(PAGE, &tok)).await.status, StatusCode::OK);
        let l = k.ledger();
        assert_eq!(l.rate_limited, 2);
        assert_eq!(l.rejections.get(&429), Some(&2));
    }

    #[tokio::test(start_paused = true)]
    async fn with_headers_every_api_answer_carries_the_ratelimit_fields() {
        let k = Kit::new(
            Emulator::builder()
                .events(2)
                .rate_limit(crate::RateLimit::new(200).with_burst(3))
                .rate_limit_headers(true),
        );
        let tok = k.token(None).await;
        let policy = Some("\"default\";q=200;w=1");
        let r = k.send(get(PAGE, &tok)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("ratelimit-policy"), policy);
        assert_eq!(r.header("ratelimit"), Some("\"default\";r=2"));
        // A route's own error, an auth error and the limit's 429 carry them too.
        let r = k.send(get("/api/v2/eventbridge/dlq/events", &tok)).await;
        r.expect_error(400, Some("topicId"));
        assert_eq!(r.header("ratelimit"), Some("\"default\";r=1"));
        let r = k.send(get(PAGE, "forged")).await;
        r.expect_error(401, None);
        assert_eq!(r.header("ratelimit"), Some("\"default\";r=0"));
        let r = k.send(get(PAGE, &tok)).await;
        r.expect_error(429, None);
        assert_eq!(r.header("ratelimit-policy"), policy);
        assert_eq!(r.header("ratelimit"), Some("\"default\";r=0"));
        // A PUT too (a 422 here: the body is not a replay).
        tokio::time::advance(Duration::from_millis(10)).await;
        let put =
            crate::routes::testkit::put("topic_pub_conversations", &tok, Some("k"), "{}".into());
        let r = k.send(put).await;
        assert_eq!(r.status.as_u16(), 422);
        assert_eq!(r.header("ratelimit-policy"), policy);
        // The token route never does.
        let r = k
            .send(crate::routes::testkit::token_request(
                "grant_type=client_credentials&client_id=demo&client_secret=demo-secret",
            ))
            .await;
        assert_eq!(r.header("ratelimit"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_can_change_while_running() {
        let k = Kit::new(
            Emulator::builder()
                .events(2)
                .rate_limit(crate::RateLimit::new(1)),
        );
        let tok = k.token(None).await;
        assert_eq!(k.send(get(PAGE, &tok)).await.status, StatusCode::OK);
        k.send(get(PAGE, &tok)).await.expect_error(429, None);
        k.state
            .set_rate_limit(Some(crate::RateLimit::new(1000).with_burst(1)));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(k.send(get(PAGE, &tok)).await.status, StatusCode::OK);
        k.state.set_rate_limit(None);
        for _ in 0..10 {
            assert_eq!(k.send(get(PAGE, &tok)).await.status, StatusCode::OK);
        }
        assert_eq!(k.ledger().rate_limited, 1);
    }
}
