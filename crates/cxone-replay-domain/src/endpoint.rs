//! Which endpoints may carry credentials: the one transport rule every crate applies.
//!
//! Bearer tokens, client secrets and signed webhook bodies travel only over `https`, or over
//! plain `http` to a loopback host (127.0.0.0/8, `::1`, `localhost`), where nothing crosses a
//! network, and never as user-info in the URL itself. [`check_credential_url`] is that rule;
//! every crate calls it and maps its [`TransportError`] into its own error type.

use url::{Host, Url};

/// Whether `host` is a loopback host: 127.0.0.0/8, `::1` or `localhost` (any case, with or
/// without a trailing dot).
///
/// ```
/// use cxone_replay_domain::is_loopback_host;
/// use url::Host;
/// assert!(is_loopback_host(&Host::Domain("LocalHost.")));
/// assert!(is_loopback_host(&Host::Ipv4([127, 9, 9, 9].into())));
/// assert!(!is_loopback_host(&Host::Domain("localhost.example.com")));
/// ```
#[must_use]
pub fn is_loopback_host(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Which part of the transport rule a URL broke (see [`check_credential_url`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL carries a user name or password: credentials never go in a URL.
    #[error("must not carry a user name or password (user-info)")]
    UserInfo,
    /// The scheme is neither `https` nor `http`.
    #[error("scheme `{scheme}` is not http or https")]
    UnsupportedScheme {
        /// The scheme, as parsed (lower case).
        scheme: String,
    },
    /// The URL has no host.
    #[error("has no host")]
    NoHost,
    /// Plain `http` to a host that is not loopback: credentials would cross a network in clear
    /// text.
    #[error(
        "uses plain http to a non-loopback host; use https \
         (http is only allowed to 127.0.0.0/8, ::1 and localhost)"
    )]
    InsecureHttp,
}

/// The one transport rule for a URL that may carry credentials (bearer tokens, client secrets,
/// signed webhook bodies): `https` with a host, or plain `http` to a loopback host, and never a
/// user name or password in the URL itself.
///
/// The rules are checked in this order, and the first one broken is returned: user-info, a
/// host, the scheme, plain http to a non-loopback host. Callers map the error into their own
/// error type, naming the setting.
///
/// # Errors
/// The [`TransportError`] naming the rule the URL broke.
///
/// ```
/// use cxone_replay_domain::{check_credential_url, TransportError};
/// use url::Url;
/// let check = |s: &str| check_credential_url(&Url::parse(s).unwrap());
/// assert_eq!(check("https://api.nicecxone.com"), Ok(()));
/// assert_eq!(check("http://127.0.0.1:8080/"), Ok(()));
/// assert_eq!(check("http://api.example.com/"), Err(TransportError::InsecureHttp));
/// assert_eq!(check("https://u:p@api.example.com/"), Err(TransportError::UserInfo));
/// assert!(matches!(check("ftp://127.0.0.1/"), Err(TransportError::UnsupportedScheme { .. })));
/// ```
pub fn check_credential_url(url: &Url) -> Result<(), TransportError> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TransportError::UserInfo);
    }
    let Some(host) = url.host() else {
        return Err(TransportError::NoHost);
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&host) => Ok(()),
        "http" => Err(TransportError::InsecureHttp),
        other => Err(TransportError::UnsupportedScheme {
            scheme: other.to_string(),
        }),
    }
}

/// Whether `url` may carry credentials: [`check_credential_url`] finds nothing wrong.
///
/// ```
/// use cxone_replay_domain::is_secure_transport;
/// use url::Url;
/// assert!(is_secure_transport(&Url::parse("https://api.nicecxone.com").unwrap()));
/// assert!(is_secure_transport(&Url::parse("http://127.0.0.1:8080/").unwrap()));
/// assert!(is_secure_transport(&Url::parse("http://[::1]/").unwrap()));
/// assert!(!is_secure_transport(&Url::parse("http://api.example.com/").unwrap()));
/// assert!(!is_secure_transport(&Url::parse("ftp://127.0.0.1/").unwrap()));
/// assert!(!is_secure_transport(&Url::parse("https://user:pw@api.nicecxone.com").unwrap()));
/// ```
#[must_use]
pub fn is_secure_transport(url: &Url) -> bool {
    check_credential_url(url).is_ok()
}

/// How a URL that may itself be a credential (a webhook: Slack and Teams put the secret in the
/// path) is shown anywhere (logs, errors, `Debug`, prompts): its scheme, host and port only.
/// Text that does not parse as a URL shows as `[invalid url]`.
///
/// ```
/// use cxone_replay_domain::scheme_and_host;
/// let hook = "https://hooks.slack.com/services/T000/B000/XXXXsecret?x=1#y";
/// assert_eq!(scheme_and_host(hook), "https://hooks.slack.com");
/// assert_eq!(scheme_and_host("http://u:p@127.0.0.1:8080/a"), "http://127.0.0.1:8080");
/// assert_eq!(scheme_and_host("not a url /secret"), "[invalid url]");
/// ```
#[must_use]
pub fn scheme_and_host(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "[invalid url]".into(),
    }
}

/// Replaces the user-info of a URL-ish string with `***`, so that an error message or a log line
/// never echoes a password. Works on text that does not parse as a URL too.
///
/// ```
/// use cxone_replay_domain::redact_userinfo;
/// assert_eq!(redact_userinfo("https://u:p@ss@h.example/a@b"), "https://***@h.example/a@b");
/// assert_eq!(redact_userinfo("https://h.example/a@b"), "https://h.example/a@b");
/// ```
#[must_use]
pub fn redact_userinfo(input: &str) -> String {
    let Some(scheme_end) = input.find("://") else {
        return input.to_string();
    };
    let after = &input[scheme_end + 3..];
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    match after[..authority_end].rfind('@') {
        Some(at) => format!("{}://***@{}", &input[..scheme_end], &after[at + 1..]),
        None => input.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_table() {
        use TransportError::*;
        let scheme = |s: &str| UnsupportedScheme {
            scheme: s.to_string(),
        };
        let table = [
            ("https://h.example", Ok(())),
            ("https://h.example:8443/x", Ok(())),
            ("HTTPS://H.EXAMPLE/", Ok(())),
            ("https://10.0.0.1/", Ok(())),
            ("http://localhost:1/", Ok(())),
            ("http://LocalHost./", Ok(())),
            ("http://127.0.0.1/", Ok(())),
            ("http://127.200.0.1/", Ok(())),
            ("http://[::1]:9/", Ok(())),
            ("http://128.0.0.1/", Err(InsecureHttp)),
            ("http://10.0.0.1/", Err(InsecureHttp)),
            ("http://[::2]/", Err(InsecureHttp)),
            ("http://localhost.evil.example/", Err(InsecureHttp)),
            ("http://h.example/", Err(InsecureHttp)),
            ("https://user@h.example/", Err(UserInfo)),
            ("https://user:pw@h.example/", Err(UserInfo)),
            ("https://:pw@h.example/", Err(UserInfo)),
            ("http://user:pw@127.0.0.1/", Err(UserInfo)),
            // User-info is reported before the other rules it also breaks.
            ("http://user:pw@h.example/", Err(UserInfo)),
            ("ftp://u:p@h.example/", Err(UserInfo)),
            ("ws://localhost/", Err(scheme("ws"))),
            ("ftp://127.0.0.1/", Err(scheme("ftp"))),
            ("ftp://h.example/", Err(scheme("ftp"))),
            ("file://h.example/etc/passwd", Err(scheme("file"))),
            ("file:///etc/passwd", Err(NoHost)),
            ("mailto:ops@h.example", Err(NoHost)),
            ("unix:/run/api.sock", Err(NoHost)),
        ];
        for (input, want) in table {
            let url = Url::parse(input).unwrap();
            assert_eq!(check_credential_url(&url), want, "{input}");
            assert_eq!(is_secure_transport(&url), want.is_ok(), "{input}");
        }
    }

    #[test]
    fn messages_name_the_rule_and_never_the_url() {
        assert_eq!(
            TransportError::UserInfo.to_string(),
            "must not carry a user name or password (user-info)"
        );
        assert_eq!(
            TransportError::UnsupportedScheme {
                scheme: "ftp".into()
            }
            .to_string(),
            "scheme `ftp` is not http or https"
        );
        assert_eq!(TransportError::NoHost.to_string(), "has no host");
        assert!(
            TransportError::InsecureHttp
                .to_string()
                .starts_with("uses plain http to a non-loopback host; use https")
        );
    }

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(
            redact_userinfo("https://u:secret@h.example/x@y"),
            "https://***@h.example/x@y"
        );
        assert_eq!(
            redact_userinfo("https://h.example/p"),
            "https://h.example/p"
        );
        assert_eq!(redact_userinfo("no scheme @ all"), "no scheme @ all");
        assert_eq!(redact_userinfo("https://u@h?q=a@b"), "https://***@h?q=a@b");
    }
}
