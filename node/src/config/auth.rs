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
    /// A CA certificate (PEM) for the provider's TLS, when not in the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_ca: Option<PathBuf>,
    /// How long fetched keys are used before they are fetched again, seconds.
    #[serde(default = "default_jwks_cache_secs")]
    pub jwks_cache_secs: u64,
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
        check_jwks_url(&self.jwks_url)?;
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
fn check_jwks_url(url: &str) -> Result<()> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("auth.jwks_url must be an https:// URL, not {url:?}");
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
        bail!("auth.jwks_url: plain http is taken only on loopback; use https for {url:?}");
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
        }
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
        let refused = |s: AuthSection, says: &str| {
            let error = s.check().unwrap_err().to_string();
            assert!(error.contains(says), "{error}");
        };
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
