//! Telling a refused server certificate apart from a network failure: a certificate failure
//! is permanent (the same server presents the same certificate), a network failure is not.

use crate::error::TlsReason;
use std::error::Error as StdError;

/// Why the TLS handshake of `e` failed because of the server's certificate, if it did.
///
/// Walks the error's `source()` chain. With rustls, the chain reaches `rustls::Error` (inside
/// an `io::Error`, whose own `source()` skips it, so its `get_ref()` is looked at too) and its
/// `CertificateError` tells the reason exactly; otherwise (native-tls) the verifier's message
/// is matched.
pub(crate) fn refused_certificate(e: &reqwest::Error) -> Option<TlsReason> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    let mut by_text = None;
    while let Some(err) = cur {
        if let Some(reason) = typed(err) {
            return Some(reason);
        }
        if let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            let inner: &(dyn StdError + 'static) = inner;
            if let Some(reason) = typed(inner) {
                return Some(reason);
            }
            by_text = by_text.or_else(|| from_text(&inner.to_string()));
        }
        by_text = by_text.or_else(|| from_text(&err.to_string()));
        cur = err.source();
    }
    by_text
}

#[cfg(feature = "rustls")]
fn typed(err: &(dyn StdError + 'static)) -> Option<TlsReason> {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(c) = err.downcast_ref::<rustls::Error>()? else {
        return None;
    };
    Some(match c {
        C::UnknownIssuer => TlsReason::UnknownIssuer,
        C::Expired | C::ExpiredContext { .. } => TlsReason::Expired,
        C::NotValidYet | C::NotValidYetContext { .. } => TlsReason::NotValidYet,
        C::NotValidForName | C::NotValidForNameContext { .. } => TlsReason::NameMismatch,
        C::Revoked => TlsReason::Revoked,
        _ => TlsReason::Other,
    })
}

#[cfg(not(feature = "rustls"))]
fn typed(_: &(dyn StdError + 'static)) -> Option<TlsReason> {
    None
}

/// The reason in a verifier's message (OpenSSL's, through native-tls, or rustls' own text).
fn from_text(text: &str) -> Option<TlsReason> {
    let t = text.to_ascii_lowercase();
    let certificate_failure = t.contains("certificate verify failed")
        || t.contains("invalid peer certificate")
        || t.contains("certificate is not trusted");
    if !certificate_failure {
        return None;
    }
    let has = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    Some(
        if has(&[
            "unknown issuer",
            "unknownissuer",
            "local issuer",
            "self signed",
            "self-signed",
        ]) {
            TlsReason::UnknownIssuer
        } else if has(&["expired"]) {
            TlsReason::Expired
        } else if has(&["not yet valid", "not valid yet", "notvalidyet"]) {
            TlsReason::NotValidYet
        } else if has(&["hostname mismatch", "not valid for name", "notvalidforname"]) {
            TlsReason::NameMismatch
        } else if has(&["revoked"]) {
            TlsReason::Revoked
        } else {
            TlsReason::Other
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_messages_are_recognised() {
        let ssl = |detail: &str| {
            from_text(&format!(
                "error:0A000086:SSL routines:tls_post_process_server_certificate:certificate \
                 verify failed:../ssl/statem/statem_clnt.c:1889: ({detail})"
            ))
        };
        assert_eq!(
            ssl("unable to get local issuer certificate"),
            Some(TlsReason::UnknownIssuer)
        );
        assert_eq!(
            ssl("self-signed certificate"),
            Some(TlsReason::UnknownIssuer)
        );
        assert_eq!(ssl("certificate has expired"), Some(TlsReason::Expired));
        assert_eq!(
            ssl("certificate is not yet valid"),
            Some(TlsReason::NotValidYet)
        );
        assert_eq!(ssl("Hostname mismatch"), Some(TlsReason::NameMismatch));
        assert_eq!(ssl("certificate revoked"), Some(TlsReason::Revoked));
        assert_eq!(ssl("unsupported purpose"), Some(TlsReason::Other));
        assert_eq!(from_text("connection refused"), None);
        assert_eq!(
            from_text("certificate expired"),
            None,
            "not a verifier's verdict"
        );
    }
}
