//! `ConnectionArgs`: how to reach and log in to the API, for the commands that connect.

use super::parse_secret;
use clap::parser::ValueSource;
use clap::{Args, ValueEnum};
use secrecy::SecretString;
use std::path::PathBuf;

/// Where `--region` and `--base-url` came from (a flag wins over the environment).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sources {
    /// `--region` was given on the command line.
    pub region_flag: bool,
    /// `--base-url` was given on the command line.
    pub base_url_flag: bool,
}

impl Sources {
    /// Reads the value sources of the endpoint options from the matches of the command that
    /// has them: the top-level matches or any subcommand's, however deep.
    pub fn from_matches(m: &clap::ArgMatches) -> Self {
        let flag = |id: &str| {
            let mut cur = Some(m);
            while let Some(mm) = cur {
                // `try_` because a command without connection options has no such argument.
                if mm.try_contains_id(id).unwrap_or(false)
                    && mm.value_source(id) == Some(ValueSource::CommandLine)
                {
                    return true;
                }
                cur = mm.subcommand().map(|(_, s)| s);
            }
            false
        };
        Sources {
            region_flag: flag("region"),
            base_url_flag: flag("base_url"),
        }
    }
}

/// How the client logs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// The OAuth2 client-credentials grant (client id and secret in the form).
    #[default]
    ClientCredentials,
    /// A CXone access key: the password grant with the access key id and secret, the client
    /// id and secret as HTTP Basic client authentication, the token endpoint from --token-url
    /// or discovered from --issuer.
    AccessKey,
}

/// The connection options: credentials and endpoint. Flattened into every command that talks
/// to the API (`replay`, `dlq ...`); each also reads its environment variable.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// How to log in.
    #[arg(
        long,
        env = "CXONE_AUTH",
        value_enum,
        default_value_t = AuthMode::ClientCredentials,
        value_name = "MODE"
    )]
    pub auth: AuthMode,

    /// OAuth2 client id (with --auth access-key: the application's, sent as HTTP Basic).
    #[arg(long, env = "CXONE_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,

    /// OAuth2 client secret (prefer the environment: flags show up in `ps`).
    #[arg(
        long,
        env = "CXONE_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "S",
        value_parser = parse_secret
    )]
    pub client_secret: Option<SecretString>,

    /// CXone access key id (--auth access-key).
    #[arg(long, env = "CXONE_ACCESS_KEY_ID", value_name = "ID")]
    pub access_key_id: Option<String>,

    /// CXone access key secret (--auth access-key; prefer the environment).
    #[arg(
        long,
        env = "CXONE_ACCESS_KEY_SECRET",
        hide_env_values = true,
        value_name = "S",
        value_parser = parse_secret
    )]
    pub access_key_secret: Option<SecretString>,

    /// OpenID issuer to discover the token endpoint from (--auth access-key; --token-url wins).
    #[arg(long, env = "CXONE_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,

    /// API host; the base URL becomes https://HOST [default: api.nicecxone.com].
    #[arg(long, env = "CXONE_REGION", value_name = "HOST")]
    pub region: Option<String>,

    /// Explicit API base URL, instead of --region (plain http only to loopback hosts).
    #[arg(long, env = "CXONE_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,

    /// OAuth2 token endpoint [default: BASE/oauth2/token].
    #[arg(long, env = "CXONE_TOKEN_URL", value_name = "URL")]
    pub token_url: Option<String>,

    /// Also trust the CA certificates of this PEM file, for this command only (a corporate
    /// proxy's or a private CA's); SSL_CERT_FILE instead replaces the system's CAs.
    #[arg(long, env = "CXONE_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Where `--region` and `--base-url` came from; set after parsing.
    #[arg(skip)]
    pub sources: Sources,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::CommandFactory;

    fn sources(args: &[&str]) -> Sources {
        let m = Cli::command()
            .try_get_matches_from(args)
            .expect("the arguments parse");
        Sources::from_matches(&m)
    }

    #[test]
    fn flags_are_found_in_the_subcommand_that_has_them() {
        let s = sources(&["cxone-replay", "dlq", "list", "--region", "eu.example.com"]);
        assert_eq!(
            s,
            Sources {
                region_flag: true,
                base_url_flag: false
            }
        );
        let s = sources(&[
            "cxone-replay",
            "replay",
            "--base-url",
            "https://api.example.com",
        ]);
        assert!(s.base_url_flag && !s.region_flag);
        // a command without connection options: nothing, and no panic
        let s = sources(&["cxone-replay", "audit", "summary", "log.jsonl"]);
        assert_eq!(s, Sources::default());
    }
}
