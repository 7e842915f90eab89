//! The client's own credentials as text to look for: redacting them out of what a server sends
//! back (an error body that echoes the request), and refusing a request id that carries one.

use crate::auth::Auth;
use crate::error::{ERROR_SCAN, MAX_ERROR_BODY};
use base64::Engine;
use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

/// The most characters of a server request id that is kept (see
/// [`Error::request_id`](crate::Error::request_id)).
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// What replaces a credential in a server's text.
pub(crate) const REDACTED: &str = "[redacted]";

/// The shortest part of a credential recognised on its own (a request id inside a token, the
/// start of a token cut off at the end of a kept body).
const MIN_FRAGMENT: usize = 8;

/// The credentials a request of this client can carry, in every form it carries them.
pub(crate) struct Secrets {
    /// Longest first, so that a credential inside another is not half-replaced.
    needles: Vec<String>,
}

impl Secrets {
    /// The credentials of `auth` and the access `tokens` (current and previous).
    pub(crate) fn new(auth: &Auth, tokens: &[SecretString]) -> Self {
        let mut raw: Vec<String> = tokens
            .iter()
            .map(|t| t.expose_secret().to_string())
            .collect();
        match auth {
            Auth::ClientCredentials { client_secret, .. } => {
                raw.push(client_secret.expose_secret().to_string());
            }
            Auth::CxoneAccessKey {
                client_id,
                client_secret,
                access_key_secret,
                ..
            } => {
                raw.push(client_secret.expose_secret().to_string());
                raw.push(access_key_secret.expose_secret().to_string());
                // The HTTP Basic client authentication of the token request.
                raw.push(
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{client_id}:{}", client_secret.expose_secret())),
                );
            }
        }
        let mut needles = Vec::new();
        for s in raw.into_iter().filter(|s| !s.is_empty()) {
            // As sent in a form body, and as a server writes it back inside a JSON string.
            let form: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
            let json = serde_json::to_string(&s).unwrap_or_default();
            let json = json
                .strip_prefix('"')
                .and_then(|j| j.strip_suffix('"'))
                .unwrap_or_default()
                .to_string();
            needles.extend([form, json, s]);
        }
        needles.retain(|n| !n.is_empty());
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Secrets { needles }
    }

    /// `text` with every credential replaced by `[redacted]`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), REDACTED);
            }
        }
        out
    }

    /// Whether `text` holds a credential, or a fragment of one (at least 8 characters).
    fn reveals(&self, text: &str) -> bool {
        self.needles
            .iter()
            .any(|n| text.contains(n.as_str()) || (text.len() >= MIN_FRAGMENT && n.contains(text)))
    }

    /// A response body as an error keeps it: lossy UTF-8, credentials redacted, then at most
    /// [`MAX_ERROR_BODY`] bytes cut on a character boundary, without the start of a credential
    /// that the cut left at the end; `None` if empty.
    pub(crate) fn error_body(&self, raw: &[u8]) -> Option<String> {
        if raw.is_empty() {
            return None;
        }
        let raw = &raw[..raw.len().min(ERROR_SCAN)];
        let mut text = self.redact(&String::from_utf8_lossy(raw));
        if text.len() > MAX_ERROR_BODY {
            let mut end = MAX_ERROR_BODY;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            let cut = self
                .needles
                .iter()
                .filter_map(|n| {
                    (MIN_FRAGMENT.min(n.len())..n.len())
                        .rev()
                        .find(|&k| n.is_char_boundary(k) && text.ends_with(&n[..k]))
                })
                .max();
            if let Some(k) = cut {
                text.truncate(text.len() - k);
                text.push_str(REDACTED);
            }
        }
        Some(text)
    }

    /// The request or correlation id a server sent, if any is fit to keep: at most
    /// [`MAX_REQUEST_ID_LEN`] visible ASCII characters (no spaces), not an `Authorization`
    /// value, and holding no credential of this client (a server that reflects the request's
    /// headers must not plant the bearer token in the audit log).
    pub(crate) fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        const NAMES: [&str; 6] = [
            "x-request-id",
            "x-correlation-id",
            "x-amzn-requestid",
            "x-amz-request-id",
            "request-id",
            "x-trace-id",
        ];
        NAMES.iter().find_map(|name| {
            let v = headers.get(*name)?.to_str().ok()?;
            let fit = !v.is_empty()
                && v.len() <= MAX_REQUEST_ID_LEN
                && v.bytes().all(|b| b.is_ascii_graphic())
                && !looks_like_authorization(v)
                && !self.reveals(v);
            fit.then(|| v.to_string())
        })
    }
}

fn looks_like_authorization(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    ["bearer", "basic", "digest", "negotiate"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn secrets() -> Secrets {
        Secrets::new(
            &Auth::CxoneAccessKey {
                client_id: "app".into(),
                client_secret: SecretString::from(r#"cl/"sec"+ret"#),
                access_key_id: "AKID".into(),
                access_key_secret: SecretString::from("ak-secret-value"),
                issuer: None,
            },
            &[
                SecretString::from("tok-current-123456"),
                SecretString::from("tok-old-9876543"),
            ],
        )
    }

    #[test]
    fn every_encoding_of_every_credential_is_redacted() {
        let s = secrets();
        let basic = base64::engine::general_purpose::STANDARD.encode(r#"app:cl/"sec"+ret"#);
        let text = format!(
            r#"{{"auth":"Bearer tok-current-123456","old":"tok-old-9876543","form":"password=ak-secret-value&x=cl%2F%22sec%22%2Bret","json":"cl/\"sec\"+ret","basic":"Basic {basic}","raw":"cl/"sec"+ret"}}"#
        );
        let out = s.redact(&text);
        for leak in ["tok-current", "tok-old", "ak-secret", "sec", basic.as_str()] {
            assert!(!out.contains(leak), "{leak} in {out}");
        }
        assert!(out.contains(r#""auth":"Bearer [redacted]""#), "{out}");
        assert_eq!(s.redact("nothing to see"), "nothing to see");
    }

    #[test]
    fn error_bodies_are_bounded_without_a_cut_off_credential() {
        let s = secrets();
        assert_eq!(s.error_body(b""), None);
        assert_eq!(s.error_body(b"oops").as_deref(), Some("oops"));
        let big = "é".repeat(5000);
        let kept = s.error_body(big.as_bytes()).unwrap();
        assert_eq!(kept.len(), MAX_ERROR_BODY);
        assert!(kept.chars().all(|c| c == 'é'));
        assert_eq!(s.error_body(&[0xff, b'a']).as_deref(), Some("\u{fffd}a"));
        // A token that straddles the cut: its start is not kept either.
        let mut body = "x".repeat(MAX_ERROR_BODY - 10);
        body.push_str("tok-current-123456 and more");
        let kept = s.error_body(body.as_bytes()).unwrap();
        assert!(!kept.contains("tok-curr"), "{}", &kept[kept.len() - 20..]);
        assert!(kept.ends_with(REDACTED));
    }

    #[test]
    fn request_ids_that_look_like_credentials_are_dropped() {
        let s = secrets();
        let id = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-request-id", HeaderValue::from_str(v).unwrap());
            s.request_id(&h)
        };
        assert_eq!(id("req-1f2e").as_deref(), Some("req-1f2e"));
        assert_eq!(id(&"a".repeat(128)).map(|v| v.len()), Some(128));
        for bad in [
            "Bearer tok-current-123456",
            "bearer:x",
            "Basic YWJj",
            "tok-current-123456",
            "id-tok-old-9876543",
            "current-123456", // a fragment of a token
            "has space",
            "tab\there",
            "",
        ] {
            assert_eq!(id(bad), None, "{bad}");
        }
        assert_eq!(id(&"a".repeat(129)), None);
        let mut h = HeaderMap::new();
        assert_eq!(s.request_id(&h), None);
        h.insert("x-correlation-id", HeaderValue::from_static("corr-1"));
        assert_eq!(s.request_id(&h).as_deref(), Some("corr-1"));
        h.insert("x-request-id", HeaderValue::from_static("req-1"));
        assert_eq!(s.request_id(&h).as_deref(), Some("req-1"));
    }
}
