//! [`ClientBuilder`] and [`Auth`]: validated client configuration.

use crate::auth::{Auth, check_auth};
use crate::body::{
    BodyLimit, DEFAULT_MAX_PAGE_BODY, DEFAULT_MAX_RESPONSE_BODY, DEFAULT_MAX_TOKEN_BODY,
};
use crate::client::{Client, Inner, TokenEndpoint};
use crate::runtime::{Clock, Jitter, RandomJitter, Sleeper, SystemClock, TokioSleeper};
use crate::setting::{BuildError, Setting};
use crate::token::TokenCache;
use cxone_replay_domain::{
    RetryBudget, RetryPolicy, TransportError, check_credential_url, redact_userinfo,
};
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use secrecy::SecretString;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use url::Url;

/// The default region host: `https://api.nicecxone.com`.
pub const DEFAULT_REGION: &str = "api.nicecxone.com";
/// The default API path prefix.
pub const DEFAULT_API_PREFIX: &str = "/api/v2/eventbridge";
/// The default OAuth2 scopes of the client-credentials grant.
pub const DEFAULT_SCOPES: &str = "eventbridge:read eventbridge:write";
/// The default of [`ClientBuilder::max_empty_pages`]: 100.
pub const DEFAULT_MAX_EMPTY_PAGES: u32 = 100;
/// The `User-Agent` the client sends.
pub const USER_AGENT: &str = concat!("cxone-eventbridge/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, Clone)]
enum Endpoint {
    Region(String),
    BaseUrl(String),
}

/// Builds a [`Client`]; every setting is checked by [`build`](ClientBuilder::build).
///
/// ```
/// use cxone_eventbridge::{BuildError, Client, Setting};
/// use secrecy::SecretString;
///
/// let client = Client::builder()
///     .region("api.nicecxone.com")
///     .client_credentials("my-id", SecretString::from("my-secret"))
///     .build()
///     .unwrap();
/// assert!(!format!("{client:?}").contains("my-secret"));
///
/// // Bearer tokens never travel in clear text:
/// let refused = Client::builder()
///     .base_url("http://example.com")
///     .client_credentials("my-id", SecretString::from("my-secret"))
///     .build();
/// assert!(matches!(refused, Err(BuildError::InsecureUrl { setting: Setting::BaseUrl, .. })));
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    endpoint: Endpoint,
    token_url: Option<String>,
    api_prefix: String,
    auth: Option<Auth>,
    scopes: Option<String>,
    retry: RetryPolicy,
    budget: RetryBudget,
    connect_timeout: Duration,
    request_timeout: Duration,
    max_connections: usize,
    refresh_margin: Duration,
    min_refresh_interval: Duration,
    max_page_body: usize,
    max_token_body: usize,
    max_response_body: usize,
    max_empty_pages: u32,
    /// PEM bundles of extra trusted CAs.
    root_certificates: Vec<Vec<u8>>,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    jitter: Arc<dyn Jitter>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("token_url", &self.token_url)
            .field("api_prefix", &self.api_prefix)
            .field("auth", &self.auth)
            .field("scopes", &self.scopes)
            .field("retry", &self.retry)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_connections", &self.max_connections)
            .field("refresh_margin", &self.refresh_margin)
            .field("min_refresh_interval", &self.min_refresh_interval)
            .field("max_page_body", &self.max_page_body)
            .field("max_token_body", &self.max_token_body)
            .field("max_response_body", &self.max_response_body)
            .field("max_empty_pages", &self.max_empty_pages)
            .field("root_certificates", &self.root_certificates.len())
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            endpoint: Endpoint::Region(DEFAULT_REGION.into()),
            token_url: None,
            api_prefix: DEFAULT_API_PREFIX.into(),
            auth: None,
            scopes: None,
            retry: RetryPolicy::default(),
            budget: RetryBudget::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 32,
            refresh_margin: Duration::from_secs(60),
            min_refresh_interval: crate::MIN_TOKEN_REFRESH_INTERVAL,
            max_page_body: DEFAULT_MAX_PAGE_BODY,
            max_token_body: DEFAULT_MAX_TOKEN_BODY,
            max_response_body: DEFAULT_MAX_RESPONSE_BODY,
            max_empty_pages: DEFAULT_MAX_EMPTY_PAGES,
            root_certificates: Vec::new(),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            jitter: Arc::new(RandomJitter),
        }
    }
}

impl ClientBuilder {
    /// A builder with the defaults: region `api.nicecxone.com`, prefix `/api/v2/eventbridge`,
    /// scopes `eventbridge:read eventbridge:write`, 5 attempts (200 ms base, 20 s cap, full
    /// jitter), 10 s connect and 30 s request time-outs, 32 pooled connections per host, token
    /// refresh 60 s before expiry, body caps of 32 MiB (DLQ page), 64 KiB (token) and 1 MiB
    /// (other answers), at most 100 empty DLQ pages in a row, the platform's trusted CAs.
    /// Credentials have no default.
    #[must_use]
    pub fn new() -> Self {
        ClientBuilder::default()
    }

    /// The API host: the base URL becomes `https://{host}`. Replaces an earlier
    /// [`base_url`](Self::base_url).
    #[must_use]
    pub fn region(mut self, host: impl Into<String>) -> Self {
        self.endpoint = Endpoint::Region(host.into());
        self
    }

    /// An explicit base URL (`https://...`; plain `http` only to loopback hosts). Replaces an
    /// earlier [`region`](Self::region).
    #[must_use]
    pub fn base_url(mut self, url: impl AsRef<str>) -> Self {
        self.endpoint = Endpoint::BaseUrl(url.as_ref().to_string());
        self
    }

    /// The token endpoint (default `{base}/oauth2/token`; same http rule as the base URL).
    #[must_use]
    pub fn token_url(mut self, url: impl AsRef<str>) -> Self {
        self.token_url = Some(url.as_ref().to_string());
        self
    }

    /// The API path prefix (default `/api/v2/eventbridge`; the contract is unverified against a
    /// live tenant, so it is configurable). `""` puts the routes at the base URL's path.
    #[must_use]
    pub fn api_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.api_prefix = prefix.into();
        self
    }

    /// Shorthand for [`Auth::ClientCredentials`].
    #[must_use]
    pub fn client_credentials(self, id: impl Into<String>, secret: SecretString) -> Self {
        self.auth(Auth::ClientCredentials {
            client_id: id.into(),
            client_secret: secret,
        })
    }

    /// How to obtain the bearer token.
    #[must_use]
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The OAuth2 scopes, space-separated (default `eventbridge:read eventbridge:write` for
    /// client credentials; the access-key grant sends a scope only if one is set here).
    #[must_use]
    pub fn scopes(mut self, scopes: impl Into<String>) -> Self {
        self.scopes = Some(scopes.into());
        self
    }

    /// How often and how patiently each call retries.
    #[must_use]
    pub fn retry_policy(mut self, p: RetryPolicy) -> Self {
        self.retry = p;
        self
    }

    /// The client-wide retry budget (default: 500 tokens, 5 per retry, 10 per time-out retry).
    #[must_use]
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The TCP/TLS connect time-out (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// The time-out of one HTTP request, body included (default 30 s).
    #[must_use]
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// The most idle connections kept per host (default 32). Pass at least the number of
    /// concurrent calls, so that no request waits for a connection after the hold check.
    #[must_use]
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// How long before its expiry a token is refreshed (default 60 s).
    #[must_use]
    pub fn token_refresh_margin(mut self, d: Duration) -> Self {
        self.refresh_margin = d;
        self
    }

    /// The least time between two token requests (default [`MIN_TOKEN_REFRESH_INTERVAL`],
    /// 1 s). A refresh due sooner — a token answered with a 401 again right after it was fetched,
    /// or one the server revokes after a few uses — keeps the current token while it is valid,
    /// or waits for the interval to pass, so a server that refuses every token is not asked for
    /// a new one per request. Lower it only against a local server such as the emulator.
    ///
    /// [`MIN_TOKEN_REFRESH_INTERVAL`]: crate::MIN_TOKEN_REFRESH_INTERVAL
    #[must_use]
    pub fn min_token_refresh_interval(mut self, d: Duration) -> Self {
        self.min_refresh_interval = d;
        self
    }

    /// The most bytes of a DLQ page body (default [`DEFAULT_MAX_PAGE_BODY`], 32 MiB). A larger
    /// page (by its `Content-Length`, or as it arrives) fails with
    /// [`Error::BodyTooLarge`](crate::Error::BodyTooLarge), is not retried, and its connection
    /// is dropped; a smaller `page_size` is the way to read such a queue.
    #[must_use]
    pub fn max_page_body(mut self, bytes: usize) -> Self {
        self.max_page_body = bytes;
        self
    }

    /// The most bytes of a token (or OIDC discovery) response body (default
    /// [`DEFAULT_MAX_TOKEN_BODY`], 64 KiB); over it, as [`max_page_body`](Self::max_page_body).
    #[must_use]
    pub fn max_token_body(mut self, bytes: usize) -> Self {
        self.max_token_body = bytes;
        self
    }

    /// The most bytes of any other success body, a PUT's answer (default
    /// [`DEFAULT_MAX_RESPONSE_BODY`], 1 MiB); over it, as [`max_page_body`](Self::max_page_body).
    /// Error bodies are never read much past [`MAX_ERROR_BODY`](crate::MAX_ERROR_BODY).
    #[must_use]
    pub fn max_response_body(mut self, bytes: usize) -> Self {
        self.max_response_body = bytes;
        self
    }

    /// How many DLQ pages in a row may come with no event but a new `nextPageToken` before a
    /// DLQ stream gives up with [`Error::EmptyPages`](crate::Error::EmptyPages) (default
    /// [`DEFAULT_MAX_EMPTY_PAGES`], 100): a server that does that forever would otherwise keep
    /// a run busy forever.
    #[must_use]
    pub fn max_empty_pages(mut self, n: u32) -> Self {
        self.max_empty_pages = n;
        self
    }

    /// Trusts the CA certificates of a PEM bundle too, for this client only (the platform's
    /// trusted CAs, and `SSL_CERT_FILE`, still count): for a corporate TLS proxy or a private
    /// CA. May be called more than once.
    #[must_use]
    pub fn add_root_certificate(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.root_certificates.push(pem.as_ref().to_vec());
        self
    }

    /// The clock (default [`SystemClock`]).
    #[must_use]
    pub fn clock(mut self, c: Arc<dyn Clock>) -> Self {
        self.clock = c;
        self
    }

    /// The sleeper (default [`TokioSleeper`]).
    #[must_use]
    pub fn sleeper(mut self, s: Arc<dyn Sleeper>) -> Self {
        self.sleeper = s;
        self
    }

    /// The jitter source (default [`RandomJitter`]).
    #[must_use]
    pub fn jitter(mut self, j: Arc<dyn Jitter>) -> Self {
        self.jitter = j;
        self
    }

    /// Checks the settings and builds the client.
    ///
    /// # Errors
    /// - [`BuildError::Missing`] without credentials;
    /// - [`BuildError::InvalidSetting`] for an empty client id or secret, a bad region host or
    ///   API prefix, zero time-outs, connections, body caps or empty-page limit;
    /// - [`BuildError::Certificate`] for a root certificate that is not a PEM bundle;
    /// - [`BuildError::InvalidUrl`] / [`BuildError::InsecureUrl`] for a base URL, token URL or
    ///   issuer that is not a URL, has user-info, a query or fragment, or is plain `http` to a
    ///   host that is not loopback;
    /// - [`BuildError::Http`] if the HTTP client cannot be built.
    pub fn build(self) -> Result<Client, BuildError> {
        let auth = self.auth.ok_or(BuildError::Missing {
            setting: Setting::Credentials,
            hint: "call client_credentials(id, secret) or auth(..)",
        })?;
        check_auth(&auth)?;
        let base = match &self.endpoint {
            Endpoint::Region(host) => {
                check_host(host)?;
                parse_url(Setting::Region, &format!("https://{host}"))?
            }
            Endpoint::BaseUrl(url) => parse_url(Setting::BaseUrl, url)?,
        };
        let api_prefix = normalize_prefix(&self.api_prefix)?;
        let token_endpoint = match (&self.token_url, &auth) {
            (Some(url), _) => TokenEndpoint::Fixed(parse_url(Setting::TokenUrl, url)?),
            (
                None,
                Auth::CxoneAccessKey {
                    issuer: Some(issuer),
                    ..
                },
            ) => {
                let issuer = parse_url(Setting::Issuer, issuer)?;
                let mut discovery = issuer.clone();
                discovery
                    .path_segments_mut()
                    .map_err(|()| BuildError::InvalidSetting {
                        setting: Setting::Issuer,
                        problem: "cannot have a path".into(),
                    })?
                    .pop_if_empty()
                    .extend([".well-known", "openid-configuration"]);
                TokenEndpoint::Discover {
                    discovery,
                    found: tokio::sync::OnceCell::new(),
                }
            }
            (None, _) => TokenEndpoint::Fixed(join(&base, &["oauth2", "token"])),
        };
        if self.connect_timeout.is_zero() {
            return Err(BuildError::InvalidSetting {
                setting: Setting::ConnectTimeout,
                problem: "must be more than zero".into(),
            });
        }
        if self.request_timeout.is_zero() {
            return Err(BuildError::InvalidSetting {
                setting: Setting::RequestTimeout,
                problem: "must be more than zero".into(),
            });
        }
        for (value, setting) in [
            (self.max_connections, Setting::MaxConnections),
            (self.max_page_body, Setting::MaxPageBody),
            (self.max_token_body, Setting::MaxTokenBody),
            (self.max_response_body, Setting::MaxResponseBody),
            (self.max_empty_pages as usize, Setting::MaxEmptyPages),
        ] {
            if value == 0 {
                return Err(BuildError::InvalidSetting {
                    setting,
                    problem: "must be at least 1".into(),
                });
            }
        }
        let roots = root_certificates(&self.root_certificates)?;
        let scopes = match (&auth, self.scopes) {
            (_, Some(s)) => Some(s),
            (Auth::ClientCredentials { .. }, None) => Some(DEFAULT_SCOPES.to_string()),
            (_, None) => None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            // Our retry loop retries (and counts) every attempt; no retry in reqwest, and so no
            // copy of each request kept for one.
            .retry(reqwest::retry::never().max_retries_per_request(0))
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .pool_max_idle_per_host(self.max_connections)
            .tls_certs_merge(roots)
            .build()
            .map_err(|source| BuildError::Http { source })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                api_prefix,
                token_endpoint,
                auth,
                scopes,
                retry: self.retry,
                budget: Mutex::new(self.budget),
                clock: self.clock,
                sleeper: self.sleeper,
                jitter: self.jitter,
                throttling: Mutex::default(),
                tokens: TokenCache::new(self.refresh_margin, self.min_refresh_interval),
                page_limit: BodyLimit {
                    bytes: self.max_page_body,
                    setting: Setting::MaxPageBody,
                },
                token_limit: BodyLimit {
                    bytes: self.max_token_body,
                    setting: Setting::MaxTokenBody,
                },
                response_limit: BodyLimit {
                    bytes: self.max_response_body,
                    setting: Setting::MaxResponseBody,
                },
                max_empty_pages: self.max_empty_pages,
                put_url: Mutex::default(),
                observer: RwLock::default(),
            }),
        })
    }
}

/// The certificates of every PEM bundle; a bundle that is not PEM, or holds none, is refused.
fn root_certificates(bundles: &[Vec<u8>]) -> Result<Vec<reqwest::Certificate>, BuildError> {
    let refused = |problem, source| BuildError::Certificate {
        setting: Setting::RootCertificate,
        problem,
        source,
    };
    let mut all = Vec::new();
    for pem in bundles {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| refused("is not a PEM certificate bundle", Some(e)))?;
        if certs.is_empty() {
            return Err(refused("holds no PEM certificate", None));
        }
        all.extend(certs);
    }
    Ok(all)
}

fn check_host(host: &str) -> Result<(), BuildError> {
    let bad = host.is_empty()
        || host.contains("://")
        || host
            .chars()
            .any(|c| c == '/' || c == '@' || c == '?' || c == '#' || c.is_whitespace());
    if bad {
        return Err(BuildError::InvalidSetting {
            setting: Setting::Region,
            problem: format!("`{host}` is not a host name (give e.g. `api.nicecxone.com`)"),
        });
    }
    Ok(())
}

/// Parses and checks a URL setting: the domain's transport rule
/// ([`check_credential_url`]: no user-info, a host, https or http to loopback), then no query or
/// fragment.
pub(crate) fn parse_url(setting: Setting, input: &str) -> Result<Url, BuildError> {
    let url = Url::parse(input.trim()).map_err(|source| BuildError::InvalidUrl {
        setting,
        url: redact_userinfo(input),
        source,
    })?;
    check_credential_url(&url).map_err(|rule| match rule {
        TransportError::InsecureHttp => BuildError::InsecureUrl {
            setting,
            url: url.to_string(),
        },
        other => BuildError::InvalidSetting {
            setting,
            problem: other.to_string(),
        },
    })?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BuildError::InvalidSetting {
            setting,
            problem: "must not have a query or fragment".into(),
        });
    }
    Ok(url)
}

fn normalize_prefix(prefix: &str) -> Result<Vec<String>, BuildError> {
    if prefix.contains(['?', '#']) || prefix.chars().any(char::is_whitespace) {
        return Err(BuildError::InvalidSetting {
            setting: Setting::ApiPrefix,
            problem: format!("`{prefix}` is not a URL path"),
        });
    }
    Ok(prefix
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// `base` with `segments` appended to its path (each percent-encoded as one segment).
pub(crate) fn join<S: AsRef<str>>(base: &Url, segments: &[S]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        path.extend(segments.iter().map(AsRef::as_ref));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_rule() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://[::1]:1",
            "http://localhost",
            "http://LOCALHOST.:9",
            "https://example.com",
        ] {
            assert!(parse_url(Setting::BaseUrl, ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "http://128.0.0.1",
            "http://localhost.example.com",
            "http://[::2]",
        ] {
            assert!(
                matches!(
                    parse_url(Setting::TokenUrl, bad),
                    Err(BuildError::InsecureUrl {
                        setting: Setting::TokenUrl,
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn url_shapes_refused() {
        assert!(matches!(
            parse_url(Setting::BaseUrl, "not a url"),
            Err(BuildError::InvalidUrl { .. })
        ));
        let problem = |input: &str| match parse_url(Setting::Issuer, input) {
            Err(BuildError::InvalidSetting {
                setting: Setting::Issuer,
                problem,
            }) => problem,
            other => panic!("{input}: {other:?}"),
        };
        assert_eq!(
            problem("ftp://example.com"),
            "scheme `ftp` is not http or https"
        );
        assert_eq!(problem("file:///etc/passwd"), "has no host");
        assert!(problem("https://user:hunter2@example.com").contains("user-info"));
        let e = parse_url(Setting::BaseUrl, "https://user:hunter2@example.com").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2"));
        assert_eq!(
            problem("https://example.com/?a=1"),
            "must not have a query or fragment"
        );
        assert_eq!(
            problem("https://example.com/#top"),
            "must not have a query or fragment"
        );
        // The transport rule is checked first: an insecure URL is reported as such.
        assert!(matches!(
            parse_url(Setting::BaseUrl, "http://example.com/?a=1"),
            Err(BuildError::InsecureUrl { .. })
        ));
        assert!(check_host("api.nicecxone.com").is_ok());
        assert!(check_host("https://api.nicecxone.com").is_err());
        assert!(check_host("").is_err());
        // A password with an `@` in it is redacted whole.
        let e = parse_url(Setting::BaseUrl, "not a url://u:p@ss@h/x").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("ss@"), "{e}");
    }

    #[test]
    fn join_encodes_segments() {
        let base = Url::parse("https://h/base/").unwrap();
        let prefix = normalize_prefix("/api/v2/eventbridge/").unwrap();
        let mut segs: Vec<&str> = prefix.iter().map(String::as_str).collect();
        segs.extend(["topics", "a/b c", "events"]);
        assert_eq!(
            join(&base, &segs).as_str(),
            "https://h/base/api/v2/eventbridge/topics/a%2Fb%20c/events"
        );
        assert!(normalize_prefix("").unwrap().is_empty());
        assert!(normalize_prefix("/x?y").is_err());
    }
}
