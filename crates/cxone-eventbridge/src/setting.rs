//! [`Setting`]: the client's settings by name, and [`BuildError`]: a configuration
//! [`ClientBuilder::build`](crate::ClientBuilder::build) refused.

use std::fmt;

/// A setting of [`ClientBuilder`](crate::ClientBuilder), as named by a [`BuildError`].
/// [`Setting::as_str`] (and `Display`) give its name (the builder method's, or the
/// [`Auth`](crate::Auth) field's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Setting {
    /// The credentials as a whole ([`client_credentials`](crate::ClientBuilder::client_credentials)
    /// or [`auth`](crate::ClientBuilder::auth)): `credentials`.
    Credentials,
    /// [`region`](crate::ClientBuilder::region): `region`.
    Region,
    /// [`base_url`](crate::ClientBuilder::base_url): `base_url`.
    BaseUrl,
    /// [`token_url`](crate::ClientBuilder::token_url): `token_url`.
    TokenUrl,
    /// The OpenID issuer of [`Auth::CxoneAccessKey`](crate::Auth::CxoneAccessKey): `issuer`.
    Issuer,
    /// [`api_prefix`](crate::ClientBuilder::api_prefix): `api_prefix`.
    ApiPrefix,
    /// The OAuth2 client id: `client_id`.
    ClientId,
    /// The OAuth2 client secret: `client_secret`.
    ClientSecret,
    /// The access key id of [`Auth::CxoneAccessKey`](crate::Auth::CxoneAccessKey):
    /// `access_key_id`.
    AccessKeyId,
    /// The access key secret of [`Auth::CxoneAccessKey`](crate::Auth::CxoneAccessKey):
    /// `access_key_secret`.
    AccessKeySecret,
    /// [`connect_timeout`](crate::ClientBuilder::connect_timeout): `connect_timeout`.
    ConnectTimeout,
    /// [`request_timeout`](crate::ClientBuilder::request_timeout): `request_timeout`.
    RequestTimeout,
    /// [`max_connections`](crate::ClientBuilder::max_connections): `max_connections`.
    MaxConnections,
    /// [`max_page_body`](crate::ClientBuilder::max_page_body): `max_page_body`.
    MaxPageBody,
    /// [`max_token_body`](crate::ClientBuilder::max_token_body): `max_token_body`.
    MaxTokenBody,
    /// [`max_response_body`](crate::ClientBuilder::max_response_body): `max_response_body`.
    MaxResponseBody,
    /// [`max_empty_pages`](crate::ClientBuilder::max_empty_pages): `max_empty_pages`.
    MaxEmptyPages,
    /// [`add_root_certificate`](crate::ClientBuilder::add_root_certificate):
    /// `root_certificate`.
    RootCertificate,
}

impl Setting {
    /// Every setting, in declaration order.
    pub const ALL: [Setting; 18] = [
        Setting::Credentials,
        Setting::Region,
        Setting::BaseUrl,
        Setting::TokenUrl,
        Setting::Issuer,
        Setting::ApiPrefix,
        Setting::ClientId,
        Setting::ClientSecret,
        Setting::AccessKeyId,
        Setting::AccessKeySecret,
        Setting::ConnectTimeout,
        Setting::RequestTimeout,
        Setting::MaxConnections,
        Setting::MaxPageBody,
        Setting::MaxTokenBody,
        Setting::MaxResponseBody,
        Setting::MaxEmptyPages,
        Setting::RootCertificate,
    ];

    /// The setting's name, in `snake_case`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Setting::Credentials => "credentials",
            Setting::Region => "region",
            Setting::BaseUrl => "base_url",
            Setting::TokenUrl => "token_url",
            Setting::Issuer => "issuer",
            Setting::ApiPrefix => "api_prefix",
            Setting::ClientId => "client_id",
            Setting::ClientSecret => "client_secret",
            Setting::AccessKeyId => "access_key_id",
            Setting::AccessKeySecret => "access_key_secret",
            Setting::ConnectTimeout => "connect_timeout",
            Setting::RequestTimeout => "request_timeout",
            Setting::MaxConnections => "max_connections",
            Setting::MaxPageBody => "max_page_body",
            Setting::MaxTokenBody => "max_token_body",
            Setting::MaxResponseBody => "max_response_body",
            Setting::MaxEmptyPages => "max_empty_pages",
            Setting::RootCertificate => "root_certificate",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client configuration that [`ClientBuilder::build`](crate::ClientBuilder::build) refused.
///
/// Every variant names the [`Setting`] that was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A required setting is missing.
    #[error("missing setting `{setting}`: {hint}")]
    Missing {
        /// The setting.
        setting: Setting,
        /// How to provide it.
        hint: &'static str,
    },
    /// A setting has a value that cannot work.
    #[error("invalid setting `{setting}`: {problem}")]
    InvalidSetting {
        /// The setting.
        setting: Setting,
        /// What is wrong with it.
        problem: String,
    },
    /// A URL setting could not be parsed.
    #[error("invalid setting `{setting}`: `{url}` is not a URL")]
    InvalidUrl {
        /// The setting.
        setting: Setting,
        /// The URL as given.
        url: String,
        /// The parser's error.
        #[source]
        source: url::ParseError,
    },
    /// A URL would send bearer tokens or credentials in clear text.
    #[error(
        "insecure setting `{setting}`: `{url}` uses plain http to a non-loopback host; \
         use https (http is only allowed to 127.0.0.0/8, ::1 and localhost)"
    )]
    InsecureUrl {
        /// The setting.
        setting: Setting,
        /// The URL (without any user-info).
        url: String,
    },
    /// A CA certificate given to
    /// [`add_root_certificate`](crate::ClientBuilder::add_root_certificate) cannot be used.
    #[error("invalid setting `{setting}`: {problem}")]
    Certificate {
        /// The setting ([`Setting::RootCertificate`]).
        setting: Setting,
        /// What is wrong with it.
        problem: &'static str,
        /// The parser's error, if it gave one.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The underlying HTTP client could not be built (e.g. no TLS roots).
    #[error("the HTTP client could not be built")]
    Http {
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_names_are_distinct_and_displayed() {
        let names: std::collections::HashSet<&str> =
            Setting::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names.len(), Setting::ALL.len());
        for s in Setting::ALL {
            assert_eq!(s.to_string(), s.as_str());
        }
        let e = BuildError::InsecureUrl {
            setting: Setting::TokenUrl,
            url: "http://example.com/".into(),
        };
        assert!(
            e.to_string()
                .starts_with("insecure setting `token_url`: `http://example.com/`"),
            "{e}"
        );
    }
}
