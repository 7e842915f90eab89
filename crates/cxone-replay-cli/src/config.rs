//! Connection options → a [`Client`]; client errors → plain messages with the right exit code.

use crate::cli::{AuthMode, ConnectionArgs};
use crate::error::{CliError, chain};
use cxone_eventbridge::{
    Auth, BuildError, Client, ClientBuilder, Error as ApiError, Setting, TlsReason,
};
use cxone_replay_domain::{FailureClass, RetryPolicy};
use secrecy::{ExposeSecret, SecretString};

/// The flag and the variable that configure a client setting; `None` for the settings the
/// command line does not expose (a refusal of one of those is a bug here, reported by name).
fn knob(setting: Setting) -> Option<(&'static str, &'static str)> {
    match setting {
        Setting::BaseUrl => Some(("--base-url", "CXONE_BASE_URL")),
        Setting::TokenUrl => Some(("--token-url", "CXONE_TOKEN_URL")),
        Setting::Region => Some(("--region", "CXONE_REGION")),
        Setting::ClientId => Some(("--client-id", "CXONE_CLIENT_ID")),
        Setting::ClientSecret => Some(("--client-secret", "CXONE_CLIENT_SECRET")),
        Setting::AccessKeyId => Some(("--access-key-id", "CXONE_ACCESS_KEY_ID")),
        Setting::AccessKeySecret => Some(("--access-key-secret", "CXONE_ACCESS_KEY_SECRET")),
        Setting::Issuer => Some(("--issuer", "CXONE_ISSUER")),
        Setting::RootCertificate => Some(("--ca-cert", "CXONE_CA_CERT")),
        Setting::Credentials
        | Setting::ApiPrefix
        | Setting::ConnectTimeout
        | Setting::RequestTimeout
        | Setting::MaxConnections
        | Setting::MaxPageBody
        | Setting::MaxTokenBody
        | Setting::MaxResponseBody
        | Setting::MaxEmptyPages => None,
        // A setting added to the client after this was written.
        _ => None,
    }
}

/// `--flag (VARIABLE)`, or the setting's name when no flag configures it.
fn described(setting: Setting) -> String {
    match knob(setting) {
        Some((flag, var)) => format!("{flag} ({var})"),
        None => format!("setting `{setting}`"),
    }
}

/// Checks the credentials and the endpoint and returns a builder with them set.
///
/// # Errors
/// Exit-2 errors naming the flag and the variable.
pub fn client_builder(g: &ConnectionArgs) -> Result<ClientBuilder, CliError> {
    let sources = g.sources;
    let mut b = Client::builder().auth(auth(g)?);
    let region = g.region.as_deref().filter(|s| !s.trim().is_empty());
    let base_url = g.base_url.as_deref().filter(|s| !s.trim().is_empty());
    match (region, base_url) {
        (Some(_), Some(_)) if sources.region_flag && sources.base_url_flag => {
            return Err(CliError::usage(
                "--region and --base-url both given: pass only one of them",
            ));
        }
        // A flag wins over the environment; with both from the environment the explicit base
        // URL is the more specific one.
        (Some(r), Some(_)) if sources.region_flag => b = b.region(r.trim()),
        (_, Some(u)) => b = b.base_url(u),
        (Some(r), None) => b = b.region(r.trim()),
        (None, None) => {}
    }
    if let Some(t) = g.token_url.as_deref().filter(|s| !s.trim().is_empty()) {
        b = b.token_url(t);
    }
    if let Some(path) = g.ca_cert.as_deref().filter(|p| !p.as_os_str().is_empty()) {
        let pem = std::fs::read(path).map_err(|e| {
            CliError::usage(format!(
                "cannot read {} {}: {e}",
                described(Setting::RootCertificate),
                path.display()
            ))
        })?;
        b = b.add_root_certificate(pem);
    }
    Ok(b)
}

/// A non-empty, trimmed text option.
fn text(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// A non-empty secret option.
fn secret(v: Option<&SecretString>) -> Option<SecretString> {
    v.filter(|s| !s.expose_secret().is_empty()).cloned()
}

/// The login of `g.auth`, with every credential it needs.
///
/// # Errors
/// Exit 2 naming the flag and the variable of what is missing, or of an access-key option
/// given without `--auth access-key`.
fn auth(g: &ConnectionArgs) -> Result<Auth, CliError> {
    let client_id = text(g.client_id.as_ref()).ok_or_else(|| {
        CliError::usage("missing client id: pass --client-id or set CXONE_CLIENT_ID")
    })?;
    let client_secret = secret(g.client_secret.as_ref()).ok_or_else(|| {
        CliError::usage("missing client secret: set CXONE_CLIENT_SECRET (or pass --client-secret)")
    })?;
    match g.auth {
        AuthMode::ClientCredentials => {
            let access_key_options = [
                (
                    g.access_key_id.is_some(),
                    "--access-key-id",
                    "CXONE_ACCESS_KEY_ID",
                ),
                (
                    g.access_key_secret.is_some(),
                    "--access-key-secret",
                    "CXONE_ACCESS_KEY_SECRET",
                ),
                (g.issuer.is_some(), "--issuer", "CXONE_ISSUER"),
            ];
            if let Some((_, flag, var)) = access_key_options.iter().find(|(set, ..)| *set) {
                return Err(CliError::usage(format!(
                    "{flag} ({var}) is an option of --auth access-key"
                ))
                .hint("pass --auth access-key (or set CXONE_AUTH=access-key), or drop it"));
            }
            Ok(Auth::ClientCredentials {
                client_id: client_id.to_string(),
                client_secret,
            })
        }
        AuthMode::AccessKey => {
            let access_key_id = text(g.access_key_id.as_ref()).ok_or_else(|| {
                CliError::usage(
                    "missing access key id: pass --access-key-id or set CXONE_ACCESS_KEY_ID",
                )
            })?;
            let access_key_secret = secret(g.access_key_secret.as_ref()).ok_or_else(|| {
                CliError::usage(
                    "missing access key secret: set CXONE_ACCESS_KEY_SECRET (or pass --access-key-secret)",
                )
            })?;
            Ok(Auth::CxoneAccessKey {
                client_id: client_id.to_string(),
                client_secret,
                access_key_id: access_key_id.to_string(),
                access_key_secret,
                issuer: text(g.issuer.as_ref()).map(str::to_string),
            })
        }
    }
}

/// The client's default retry policy with `--max-attempts` attempts.
pub fn retry_policy(max_attempts: u32) -> Result<RetryPolicy, CliError> {
    let default = RetryPolicy::default();
    RetryPolicy::new(max_attempts, default.base_delay(), default.max_delay())
        .map_err(|e| CliError::usage(format!("invalid --max-attempts: {e}")))
}

/// Builds the client, mapping a refused configuration to exit 2.
pub fn build(b: ClientBuilder) -> Result<Client, CliError> {
    b.build().map_err(|e| build_error(&e))
}

/// A plain message for a refused client configuration.
pub fn build_error(e: &BuildError) -> CliError {
    match e {
        BuildError::InsecureUrl { setting, url } => {
            let knob = match knob(*setting) {
                Some((flag, var)) => format!("{flag} / {var}"),
                None => format!("setting `{setting}`"),
            };
            CliError::usage(format!(
                "refusing plain http to a non-loopback host: {url} ({knob})"
            ))
            .hint("use https; http is only allowed to 127.0.0.0/8, ::1 and localhost")
        }
        BuildError::InvalidSetting { setting, problem } => {
            CliError::usage(format!("invalid {}: {problem}", described(*setting)))
        }
        BuildError::InvalidUrl { setting, url, .. } => CliError::usage(format!(
            "invalid {}: `{url}` is not a URL",
            described(*setting)
        )),
        BuildError::Certificate {
            setting, problem, ..
        } => CliError::usage(format!("invalid {}: {problem}", described(*setting))),
        other => CliError::usage(format!("invalid configuration: {}", chain(other))),
    }
}

/// Fetches a token now, so that bad credentials fail before anything else happens.
///
/// # Errors
/// Exit 2 when the credentials, scopes or endpoint are wrong; exit 1 when the server could not
/// be reached or kept failing.
pub async fn authenticate(client: &Client, mode: AuthMode) -> Result<(), CliError> {
    client
        .authenticate()
        .await
        .map_err(|e| auth_error(&e, mode))
}

/// A plain message for a failed authentication with `mode`.
pub fn auth_error(e: &ApiError, mode: AuthMode) -> CliError {
    if let Some(tls) = tls_error("cannot obtain an access token", e) {
        return tls;
    }
    let status = e
        .status()
        .map(|s| format!(" (HTTP {s})"))
        .unwrap_or_default();
    match (e.last_class(), mode) {
        (FailureClass::Unauthorized | FailureClass::Forbidden, AuthMode::ClientCredentials) => {
            CliError::usage(format!(
                "authentication failed{status}: the client id, the client secret or the scopes are wrong"
            ))
            .hint(
                "check --client-id/CXONE_CLIENT_ID and --client-secret/CXONE_CLIENT_SECRET, and that \
                 the client is granted the scopes eventbridge:read eventbridge:write",
            )
        }
        (FailureClass::Unauthorized | FailureClass::Forbidden, AuthMode::AccessKey) => {
            CliError::usage(format!(
                "authentication failed{status}: the access key, the client id or secret, or the scopes are wrong"
            ))
            .hint(
                "check --access-key-id/CXONE_ACCESS_KEY_ID, --access-key-secret/CXONE_ACCESS_KEY_SECRET \
                 and the application's --client-id/--client-secret (sent as HTTP Basic)",
            )
        }
        (FailureClass::NotFound, _) => CliError::usage(format!(
            "authentication failed{status}: the token endpoint was not found"
        ))
        .hint(
            "check --region/--base-url/--token-url/--issuer \
             (CXONE_REGION/CXONE_BASE_URL/CXONE_TOKEN_URL/CXONE_ISSUER)",
        ),
        _ => CliError::failed(format!("cannot obtain an access token: {}", chain(e)))
            .hint("check that the API is reachable (--region/--base-url/--issuer) and try again"),
    }
}

/// Exit 2 with what to do for a refused server certificate: a permanent failure that only a
/// change of configuration (or of the server) can fix.
fn tls_error(context: &str, e: &ApiError) -> Option<CliError> {
    let ApiError::Tls { reason, .. } = e else {
        return None;
    };
    let hint = match reason {
        TlsReason::UnknownIssuer => {
            "if a corporate proxy or a private CA signs the API's certificate, pass its CA \
             certificate (PEM) with --ca-cert FILE (CXONE_CA_CERT); SSL_CERT_FILE instead \
             replaces the system's CAs"
        }
        TlsReason::Expired => {
            "the server's certificate has expired: its operator must renew it (or this \
             machine's clock is wrong)"
        }
        TlsReason::NotValidYet => {
            "the server's certificate is not valid yet: check this machine's clock"
        }
        TlsReason::NameMismatch => {
            "the certificate is for another host name: check --region/--base-url/--token-url/\
             --issuer (CXONE_REGION/CXONE_BASE_URL/CXONE_TOKEN_URL/CXONE_ISSUER)"
        }
        _ => {
            "check the server's certificate; a private CA's certificate can be passed with \
             --ca-cert FILE (CXONE_CA_CERT)"
        }
    };
    Some(CliError::usage(format!("{context}: {e}")).hint(hint))
}

/// A plain message for a failed API call while reading the DLQ: exit 2 for what only a change
/// of configuration can fix (credentials, scopes, certificate, topic), exit 1 otherwise.
pub fn api_error(context: &str, e: &ApiError) -> CliError {
    if let Some(tls) = tls_error(context, e) {
        return tls;
    }
    match e.last_class() {
        FailureClass::Unauthorized | FailureClass::Forbidden => {
            CliError::usage(format!("{context}: {}", chain(e))).hint(
                "the credentials or the scopes are wrong (eventbridge:read eventbridge:write)",
            )
        }
        FailureClass::NotFound => CliError::usage(format!("{context}: {}", chain(e)))
            .hint("check the topic id and the base URL"),
        _ => CliError::failed(format!("{context}: {}", chain(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Sources;
    use secrecy::SecretString;

    fn global(region: Option<&str>, base_url: Option<&str>) -> ConnectionArgs {
        ConnectionArgs {
            auth: AuthMode::ClientCredentials,
            client_id: Some("id".into()),
            client_secret: Some(SecretString::from("Sx-unit-secret-42")),
            access_key_id: None,
            access_key_secret: None,
            issuer: None,
            region: region.map(Into::into),
            base_url: base_url.map(Into::into),
            token_url: None,
            ca_cert: None,
            sources: Sources::default(),
        }
    }

    fn with(g: &ConnectionArgs, sources: Sources) -> ConnectionArgs {
        ConnectionArgs {
            sources,
            ..g.clone()
        }
    }

    fn endpoint(g: &ConnectionArgs, s: Sources) -> String {
        let b = client_builder(&with(g, s)).unwrap();
        let dbg = format!("{b:?}");
        assert!(!dbg.contains("Sx-unit-secret-42"), "{dbg}");
        dbg
    }

    #[test]
    fn a_flag_wins_over_the_environment() {
        let both = global(Some("eu.example.com"), Some("https://api.example.com"));
        let region_flag = Sources {
            region_flag: true,
            base_url_flag: false,
        };
        assert!(endpoint(&both, region_flag).contains("Region(\"eu.example.com\")"));
        let url_flag = Sources {
            region_flag: false,
            base_url_flag: true,
        };
        assert!(endpoint(&both, url_flag).contains("BaseUrl(\"https://api.example.com\")"));
        // both from the environment: the explicit base URL
        assert!(endpoint(&both, Sources::default()).contains("BaseUrl("));
        let both_flags = Sources {
            region_flag: true,
            base_url_flag: true,
        };
        let e = client_builder(&with(&both, both_flags)).unwrap_err();
        assert_eq!(e.code, crate::error::EXIT_USAGE);
        assert!(e.to_string().contains("--region and --base-url"));
    }

    #[test]
    fn missing_or_empty_credentials_name_flag_and_variable() {
        let mut g = global(None, None);
        g.client_id = Some("  ".into());
        let e = client_builder(&g).unwrap_err();
        assert!(e.to_string().contains("--client-id") && e.to_string().contains("CXONE_CLIENT_ID"));
        let mut g = global(None, None);
        g.client_secret = Some(SecretString::from(""));
        let e = client_builder(&g).unwrap_err();
        assert!(
            e.to_string().contains("--client-secret")
                && e.to_string().contains("CXONE_CLIENT_SECRET")
        );
    }

    #[test]
    fn access_key_mode_needs_the_key_and_the_client() {
        let mut g = global(None, None);
        g.auth = AuthMode::AccessKey;
        let e = client_builder(&g).unwrap_err();
        assert_eq!(e.code, crate::error::EXIT_USAGE);
        assert!(
            e.to_string().contains("--access-key-id")
                && e.to_string().contains("CXONE_ACCESS_KEY_ID"),
            "{e}"
        );
        g.access_key_id = Some("key-1".into());
        let e = client_builder(&g).unwrap_err();
        assert!(
            e.to_string().contains("--access-key-secret")
                && e.to_string().contains("CXONE_ACCESS_KEY_SECRET"),
            "{e}"
        );
        g.access_key_secret = Some(SecretString::from("AK-unit-secret-77"));
        g.issuer = Some("https://cxone.example.com".into());
        let b = client_builder(&g).unwrap();
        let dbg = format!("{b:?}");
        assert!(dbg.contains("CxoneAccessKey"), "{dbg}");
        assert!(
            dbg.contains("key-1") && dbg.contains("cxone.example.com"),
            "{dbg}"
        );
        assert!(!dbg.contains("AK-unit-secret-77") && !dbg.contains("Sx-unit-secret-42"));
        // the application's client id is still required (HTTP Basic)
        g.client_id = None;
        let e = client_builder(&g).unwrap_err();
        assert!(e.to_string().contains("--client-id"), "{e}");
    }

    #[test]
    fn the_ca_cert_applies_in_either_auth_mode() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        for mode in [AuthMode::ClientCredentials, AuthMode::AccessKey] {
            let mut g = global(None, None);
            g.auth = mode;
            if mode == AuthMode::AccessKey {
                g.access_key_id = Some("key-1".into());
                g.access_key_secret = Some(SecretString::from("AK-unit-secret-77"));
            }
            g.ca_cert = Some(missing.clone());
            let e = client_builder(&g).unwrap_err();
            assert_eq!(e.code, crate::error::EXIT_USAGE);
            let text = e.to_string();
            assert!(
                text.contains("--ca-cert (CXONE_CA_CERT)") && text.contains("missing.pem"),
                "{text}"
            );
            g.ca_cert = Some(std::path::PathBuf::new());
            assert!(client_builder(&g).is_ok(), "an empty value is no CA file");
        }
    }

    #[test]
    fn access_key_options_without_access_key_mode_are_refused() {
        for set in [
            |g: &mut ConnectionArgs| g.access_key_id = Some("k".into()),
            |g: &mut ConnectionArgs| g.access_key_secret = Some(SecretString::from("s")),
            |g: &mut ConnectionArgs| g.issuer = Some("https://i.example.com".into()),
        ] {
            let mut g = global(None, None);
            set(&mut g);
            let e = client_builder(&g).unwrap_err();
            assert_eq!(e.code, crate::error::EXIT_USAGE);
            assert!(e.to_string().contains("--auth access-key"), "{e}");
        }
    }

    #[test]
    fn build_errors_are_plain() {
        let b = client_builder(&global(None, Some("http://example.com"))).unwrap();
        let e = build(b).unwrap_err();
        assert_eq!(e.code, crate::error::EXIT_USAGE);
        let text = e.to_string();
        assert!(
            text.contains("--base-url") && text.contains("CXONE_BASE_URL"),
            "{text}"
        );
        assert!(!text.contains("InsecureUrl"), "{text}");
    }

    #[test]
    fn refused_settings_name_their_flag_and_variable_or_the_setting() {
        let invalid = |setting| {
            build_error(&BuildError::InvalidSetting {
                setting,
                problem: "is wrong".into(),
            })
            .to_string()
        };
        assert_eq!(
            invalid(Setting::Region),
            "invalid --region (CXONE_REGION): is wrong"
        );
        assert_eq!(
            invalid(Setting::ClientSecret),
            "invalid --client-secret (CXONE_CLIENT_SECRET): is wrong"
        );
        // not a command-line option: named as the client names it, never as an empty flag
        assert_eq!(
            invalid(Setting::MaxConnections),
            "invalid setting `max_connections`: is wrong"
        );
        let insecure = build_error(&BuildError::InsecureUrl {
            setting: Setting::TokenUrl,
            url: "http://auth.example.com/".into(),
        });
        assert!(
            insecure
                .to_string()
                .contains("http://auth.example.com/ (--token-url / CXONE_TOKEN_URL)"),
            "{insecure}"
        );
        for setting in Setting::ALL {
            let text = invalid(setting);
            assert!(
                !text.contains("invalid  ") && !text.contains("()"),
                "{text}"
            );
            if let Some((flag, var)) = knob(setting) {
                assert!(text.contains(flag) && text.contains(var), "{text}");
            } else {
                assert!(text.contains(setting.as_str()), "{text}");
            }
        }
    }

    #[test]
    fn max_attempts_keeps_the_client_default_backoff() {
        let p = retry_policy(3).unwrap();
        let d = RetryPolicy::default();
        assert_eq!(p.max_attempts(), 3);
        assert_eq!(
            (p.base_delay(), p.max_delay(), p.retry_after_cap()),
            (d.base_delay(), d.max_delay(), d.retry_after_cap())
        );
        assert_eq!(retry_policy(0).unwrap_err().code, crate::error::EXIT_USAGE);
    }
}
