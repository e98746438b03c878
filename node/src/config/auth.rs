//! `[auth]`: users signed in at the hospital's identity provider (OpenID Connect / OAuth 2).
//!
//! With this section, `/v1` also takes the provider's bearer JWTs: signed with a key from the
//! provider's JWKS (fetched from `jwks_url` and cached), issued by `issuer` for `audience`, not
//! expired, with an algorithm from `algorithms`. The token's `actor_claim` (default `sub`) is the
//! actor recorded in access entries and audit logs, and its `medchain.*` scopes say what the user
//! may do. Without it, only the static API token is taken.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// Algorithms taken when `algorithms` is not set: the asymmetric ones identity providers sign
/// with (a node holds no shared secret, so no HMAC).
pub const DEFAULT_ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// The identity provider's issuer (`iss`), exactly as in its tokens.
    pub issuer: String,
    /// The audience (`aud`) tokens must be issued for: this node's client ID at the provider.
    pub audience: String,
    /// Where the provider publishes its signing keys (JWKS): https, or http on loopback only.
    pub jwks_url: String,
    /// The claim naming the user in access entries and logs.
    #[serde(default = "default_actor_claim")]
    pub actor_claim: String,
    /// The signature algorithms taken (JWS names).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// A CA certificate (PEM) for the provider's TLS (its keys and, for the dashboard's sign-in,
    /// its token endpoint), when not in the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_ca: Option<PathBuf>,
    /// How long fetched keys are used before they are fetched again, seconds.
    #[serde(default = "default_jwks_cache_secs")]
    pub jwks_cache_secs: u64,
    /// `[auth.sign_in]`: the dashboard signs users in at the provider (authorization code with
    /// PKCE). Absent: the dashboard takes the API token only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in: Option<SignInSection>,
}

/// `[auth.sign_in]`: the dashboard's sign-in at the identity provider (OAuth 2 authorization code
/// flow with PKCE, RFC 7636). The access token the provider returns is checked as every bearer
/// token is (issuer, audience, keys, expiry, algorithm), and its subject becomes the session's
/// actor; the session lives in the node's memory behind an HttpOnly cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInSection {
    /// The provider's authorization endpoint (the browser is sent there).
    pub authorization_url: String,
    /// The provider's token endpoint (the node exchanges the code there).
    pub token_url: String,
    /// The dashboard's client ID at the provider.
    pub client_id: String,
    /// Where the provider sends the browser back: this node's public URL + `/ui/callback`,
    /// exactly as registered at the provider.
    pub redirect_url: String,
    /// The scopes asked for (space-separated).
    #[serde(default = "default_sign_in_scopes")]
    pub scopes: String,
    /// A file holding the client secret, for a provider that registers the dashboard as a
    /// confidential client (mode 0600). Absent: a public client, PKCE alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// Life of a dashboard session, seconds. The provider's token is checked at sign-in only: a
    /// user disabled at the provider keeps an open session until it ends.
    #[serde(default = "default_session_secs")]
    pub session_secs: u64,
}

fn default_sign_in_scopes() -> String {
    "openid medchain.read".to_owned()
}

fn default_session_secs() -> u64 {
    8 * 3600
}

impl SignInSection {
    /// Checks what TOML types cannot.
    pub fn check(&self) -> Result<()> {
        check_provider_url("auth.sign_in.authorization_url", &self.authorization_url)?;
        check_provider_url("auth.sign_in.token_url", &self.token_url)?;
        check_provider_url("auth.sign_in.redirect_url", &self.redirect_url)?;
        if !self.redirect_url.ends_with("/ui/callback") {
            bail!(
                "auth.sign_in.redirect_url must be this node's URL followed by /ui/callback, not {:?}",
                self.redirect_url
            );
        }
        if self.client_id.trim().is_empty() {
            bail!("auth.sign_in.client_id must not be empty");
        }
        if !self.scopes.split(' ').any(|s| s == "medchain.read") {
            bail!("auth.sign_in.scopes must ask for medchain.read: the dashboard reads");
        }
        if !(300..=86_400).contains(&self.session_secs) {
            bail!("auth.sign_in.session_secs must be 300 to 86400");
        }
        Ok(())
    }
}

fn default_actor_claim() -> String {
    "sub".to_owned()
}

fn default_algorithms() -> Vec<String> {
    DEFAULT_ALGORITHMS.iter().map(|a| (*a).to_owned()).collect()
}

fn default_jwks_cache_secs() -> u64 {
    300
}

impl AuthSection {
    /// Checks what TOML types cannot.
    pub fn check(&self) -> Result<()> {
        if self.issuer.trim().is_empty() || self.audience.trim().is_empty() {
            bail!("auth.issuer and auth.audience must not be empty");
        }
        if self.actor_claim.trim().is_empty() {
            bail!("auth.actor_claim must name a claim");
        }
        check_provider_url("auth.jwks_url", &self.jwks_url)?;
        if let Some(sign_in) = &self.sign_in {
            sign_in.check()?;
        }
        if self.algorithms.is_empty() {
            bail!("auth.algorithms must name at least one algorithm");
        }
        for name in &self.algorithms {
            match name.parse::<jsonwebtoken::Algorithm>() {
                Ok(
                    jsonwebtoken::Algorithm::HS256
                    | jsonwebtoken::Algorithm::HS384
                    | jsonwebtoken::Algorithm::HS512,
                ) => bail!(
                    "auth.algorithms: {name} needs a secret shared with the identity provider; use an asymmetric algorithm ({})",
                    DEFAULT_ALGORITHMS.join(", ")
                ),
                Ok(_) => {}
                Err(_) => bail!("auth.algorithms: {name:?} is not a JWS algorithm name"),
            }
        }
        if !(10..=86_400).contains(&self.jwks_cache_secs) {
            bail!("auth.jwks_cache_secs must be 10 to 86400");
        }
        Ok(())
    }
}

/// https, or http to a loopback host (a test's provider, or a local proxy).
fn check_provider_url(setting: &str, url: &str) -> Result<()> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("{setting} must be an https:// URL, not {url:?}");
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("{setting}: plain http is taken only on loopback; use https for {url:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section() -> AuthSection {
        AuthSection {
            issuer: "https://idp.hospital.example/realms/staff".into(),
            audience: "medchain".into(),
            jwks_url: "https://idp.hospital.example/realms/staff/certs".into(),
            actor_claim: default_actor_claim(),
            algorithms: default_algorithms(),
            jwks_ca: None,
            jwks_cache_secs: 300,
            sign_in: None,
        }
    }

    fn sign_in() -> SignInSection {
        SignInSection {
            authorization_url: "https://idp.hospital.example/realms/staff/auth".into(),
            token_url: "https://idp.hospital.example/realms/staff/token".into(),
            client_id: "medchain-dashboard".into(),
            redirect_url: "https://node.hospital.example:8443/ui/callback".into(),
            scopes: default_sign_in_scopes(),
            client_secret_file: None,
            session_secs: default_session_secs(),
        }
    }

    /// Asserts `section` is refused, saying `says`.
    fn refused(section: AuthSection, says: &str) {
        let error = section.check().unwrap_err().to_string();
        assert!(error.contains(says), "{error}");
    }

    #[test]
    fn sign_in_settings_are_checked() {
        let with = |s: SignInSection| AuthSection {
            sign_in: Some(s),
            ..section()
        };
        with(sign_in()).check().unwrap();
        let refused = |s: SignInSection, says: &str| refused(with(s), says);
        let plain = "http://idp.hospital.example/token".to_owned();
        refused(
            SignInSection {
                token_url: plain,
                ..sign_in()
            },
            "auth.sign_in.token_url: plain http",
        );
        refused(
            SignInSection {
                redirect_url: "https://node.hospital.example/elsewhere".into(),
                ..sign_in()
            },
            "/ui/callback",
        );
        refused(
            SignInSection {
                scopes: "openid".into(),
                ..sign_in()
            },
            "medchain.read",
        );
        refused(
            SignInSection {
                session_secs: 10,
                ..sign_in()
            },
            "session_secs",
        );
    }

    #[test]
    fn a_provider_over_https_or_loopback_http_is_taken() {
        section().check().unwrap();
        for url in [
            "http://127.0.0.1:9000/jwks",
            "http://localhost/jwks",
            "http://[::1]:80/jwks",
        ] {
            AuthSection {
                jwks_url: url.into(),
                ..section()
            }
            .check()
            .unwrap();
        }
    }

    #[test]
    fn insecure_or_malformed_settings_are_refused() {
        let plain = "http://idp.hospital.example/certs".to_owned();
        refused(
            AuthSection {
                jwks_url: plain,
                ..section()
            },
            "only on loopback",
        );
        refused(
            AuthSection {
                jwks_url: "ftp://x".into(),
                ..section()
            },
            "https://",
        );
        refused(
            AuthSection {
                algorithms: vec!["HS256".into()],
                ..section()
            },
            "secret",
        );
        refused(
            AuthSection {
                algorithms: vec!["none".into()],
                ..section()
            },
            "not a JWS",
        );
        refused(
            AuthSection {
                algorithms: vec![],
                ..section()
            },
            "at least one",
        );
        refused(
            AuthSection {
                issuer: " ".into(),
                ..section()
            },
            "issuer",
        );
        refused(
            AuthSection {
                jwks_cache_secs: 1,
                ..section()
            },
            "jwks_cache_secs",
        );
    }
}
