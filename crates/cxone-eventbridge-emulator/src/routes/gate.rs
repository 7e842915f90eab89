//! What every API request passes before its route's own checks, in this order:
//!
//! 1. the seeded fault schedule: latency, then a 429, a dropped connection or a 5xx;
//! 2. the bearer token: present, known, not expired or used up (401), with the route's scope
//!    (403).
//!
//! [`admit`] is the one place the API routes share, so a check that must apply to all of them
//! (a rate limit, another way to authenticate) is one more step here.

use crate::faults::Fault;
use crate::server::listener::ConnTag;
use crate::server::reject::Reject;
use crate::server::state::AppState;
use crate::server::tokens::{Scope, TokenProblem};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};

/// Runs the API pre-checks for a request needing `need`; `Err` is the answer to send.
///
/// # Errors
/// The injected fault's answer, or the 401/403 of a missing, invalid or under-scoped token.
pub(crate) async fn admit(
    state: &AppState,
    conn: &ConnTag,
    headers: &HeaderMap,
    need: Scope,
) -> Result<(), Response> {
    if let Some(resp) = inject(state, conn).await {
        return Err(resp);
    }
    authorize(state, headers, need).map_err(|r| r.respond(state, "auth"))
}

/// Applies latency and the seeded fault of this request; `Some` is the response to send.
async fn inject(state: &AppState, conn: &ConnTag) -> Option<Response> {
    let n = state.next_api_request();
    if state.faults.is_quiet() {
        return None;
    }
    let latency = state.faults.latency(n);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
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
}
