//! Which endpoints may carry credentials: the one transport rule every crate applies.
//!
//! Bearer tokens, client secrets and signed webhook bodies travel only over `https`, or over
//! plain `http` to a loopback host (127.0.0.0/8, `::1`, `localhost`), where nothing crosses a
//! network. Anything else is a configuration error.

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

/// Whether `url` may carry credentials: `https` with a host, or `http` to a loopback host.
///
/// ```
/// use cxone_replay_domain::is_secure_transport;
/// use url::Url;
/// assert!(is_secure_transport(&Url::parse("https://api.nicecxone.com").unwrap()));
/// assert!(is_secure_transport(&Url::parse("http://127.0.0.1:8080/").unwrap()));
/// assert!(is_secure_transport(&Url::parse("http://[::1]/").unwrap()));
/// assert!(!is_secure_transport(&Url::parse("http://api.example.com/").unwrap()));
/// assert!(!is_secure_transport(&Url::parse("ftp://127.0.0.1/").unwrap()));
/// ```
#[must_use]
pub fn is_secure_transport(url: &Url) -> bool {
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(host)) => is_loopback_host(&host),
        _ => false,
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
        let table = [
            ("https://h.example", true),
            ("https://h.example:8443/x", true),
            ("http://localhost:1/", true),
            ("http://127.0.0.1/", true),
            ("http://127.200.0.1/", true),
            ("http://[::1]:9/", true),
            ("http://128.0.0.1/", false),
            ("http://10.0.0.1/", false),
            ("http://[::2]/", false),
            ("http://localhost.evil.example/", false),
            ("ws://localhost/", false),
            ("file:///etc/passwd", false),
        ];
        for (input, want) in table {
            assert_eq!(
                is_secure_transport(&Url::parse(input).unwrap()),
                want,
                "{input}"
            );
        }
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
