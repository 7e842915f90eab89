//! [`Auth`]: how the client obtains its bearer token, and the check of its credentials.

use crate::setting::{BuildError, Setting};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

/// How the client obtains its bearer token.
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// The contract's OAuth2 client-credentials grant: a form-encoded POST of
    /// `grant_type=client_credentials`, `client_id`, `client_secret` and `scope`.
    ClientCredentials {
        /// The OAuth2 client id.
        client_id: String,
        /// The OAuth2 client secret.
        client_secret: SecretString,
    },
    /// A real CXone tenant's access key: the password grant with the access key id and secret
    /// as `username`/`password`, and the OAuth2 client (application) id and secret as HTTP Basic
    /// client authentication. The token endpoint is the builder's
    /// [`token_url`](crate::ClientBuilder::token_url) if set, else discovered from
    /// `{issuer}/.well-known/openid-configuration` (`token_endpoint`) if `issuer` is set, else
    /// `{base}/oauth2/token`.
    CxoneAccessKey {
        /// The OAuth2 client (application) id.
        client_id: String,
        /// The OAuth2 client secret.
        client_secret: SecretString,
        /// The access key id.
        access_key_id: String,
        /// The access key secret.
        access_key_secret: SecretString,
        /// The OpenID issuer to discover the token endpoint from, e.g.
        /// `https://cxone.niceincontact.com`.
        issuer: Option<String>,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::ClientCredentials { client_id, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", &"[redacted]")
                .finish(),
            Auth::CxoneAccessKey {
                client_id,
                access_key_id,
                issuer,
                ..
            } => f
                .debug_struct("CxoneAccessKey")
                .field("client_id", client_id)
                .field("client_secret", &"[redacted]")
                .field("access_key_id", access_key_id)
                .field("access_key_secret", &"[redacted]")
                .field("issuer", issuer)
                .finish(),
        }
    }
}

pub(crate) fn check_auth(auth: &Auth) -> Result<(), BuildError> {
    let (id, secret) = match auth {
        Auth::ClientCredentials {
            client_id,
            client_secret,
        } => (client_id, client_secret),
        Auth::CxoneAccessKey {
            client_id,
            client_secret,
            access_key_id,
            access_key_secret,
            ..
        } => {
            if access_key_id.trim().is_empty() {
                return Err(BuildError::InvalidSetting {
                    setting: Setting::AccessKeyId,
                    problem: "is empty".into(),
                });
            }
            if access_key_secret.expose_secret().is_empty() {
                return Err(BuildError::InvalidSetting {
                    setting: Setting::AccessKeySecret,
                    problem: "is empty".into(),
                });
            }
            (client_id, client_secret)
        }
    };
    if id.trim().is_empty() {
        return Err(BuildError::InvalidSetting {
            setting: Setting::ClientId,
            problem: "is empty".into(),
        });
    }
    if secret.expose_secret().is_empty() {
        return Err(BuildError::InvalidSetting {
            setting: Setting::ClientSecret,
            problem: "is empty".into(),
        });
    }
    Ok(())
}
