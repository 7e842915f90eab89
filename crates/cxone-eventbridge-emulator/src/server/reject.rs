//! Error answers: the API's `{error, message, field}` and OAuth's `{error, error_description}`.
//! Both count their status in the ledger when they become a response.

use crate::server::state::AppState;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde_json::json;

/// A JSON response with `x-request-id`.
pub(crate) fn json_response(state: &AppState, status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(&state.request_id()) {
        h.insert("x-request-id", v);
    }
    resp
}

/// An API error being built; counted in the ledger (and, for a contract violation, described
/// there) when turned into a response.
#[derive(Debug)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    violation: bool,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Reject {
    /// An error that is not the client's contract violation (auth, faults).
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Reject {
            status,
            code,
            message: message.into(),
            field: None,
            violation: false,
            headers: Vec::new(),
        }
    }

    /// A client contract violation naming the field.
    pub(crate) fn field(
        status: StatusCode,
        code: &'static str,
        field: &str,
        message: impl Into<String>,
    ) -> Self {
        Reject {
            field: Some(field.to_string()),
            violation: true,
            ..Reject::new(status, code, message)
        }
    }

    /// A 422 `schema_violation` naming the field.
    pub(crate) fn schema(field: &str, message: impl Into<String>) -> Self {
        Reject::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            "schema_violation",
            field,
            message,
        )
    }

    /// Adds a response header (dropped if the value is not a valid header value).
    pub(crate) fn header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }

    /// The response; `context` (route and key) prefixes the ledger's violation text.
    pub(crate) fn respond(self, state: &AppState, context: &str) -> Response {
        {
            let mut l = state.ledger();
            l.reject(self.status.as_u16());
            if self.violation {
                let status = self.status.as_u16();
                let what = match &self.field {
                    Some(f) => format!("{context}: {status} `{f}`: {}", self.message),
                    None => format!("{context}: {status}: {}", self.message),
                };
                l.violation(what);
            }
        }
        let mut body = json!({ "error": self.code, "message": self.message });
        if let Some(f) = &self.field {
            body["field"] = json!(f);
        }
        let mut resp = json_response(state, self.status, body.to_string());
        for (k, v) in self.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}

/// An OAuth 2 token endpoint error (RFC 6749 §5.2), sent with `Cache-Control: no-store`.
#[derive(Debug)]
pub(crate) struct OAuthReject {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    description: String,
}

impl OAuthReject {
    /// A 400 with `code`.
    pub(crate) fn bad_request(code: &'static str, description: impl Into<String>) -> Self {
        OAuthReject {
            status: StatusCode::BAD_REQUEST,
            code,
            description: description.into(),
        }
    }

    /// A 401 `invalid_client`.
    pub(crate) fn invalid_client(description: impl Into<String>) -> Self {
        OAuthReject {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_client",
            description: description.into(),
        }
    }

    pub(crate) fn respond(self, state: &AppState) -> Response {
        state.ledger().reject(self.status.as_u16());
        let body = json!({ "error": self.code, "error_description": self.description });
        no_store(json_response(state, self.status, body.to_string()))
    }
}

/// Marks a token endpoint answer as not cacheable.
pub(crate) fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
