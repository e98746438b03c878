//! Signing a dashboard user in at the hospital's identity provider: the OAuth 2 authorization code
//! flow with PKCE (RFC 6749 section 4.1, RFC 7636, S256). The browser is sent to the provider
//! with a random `state` and the verifier's challenge; the provider sends it back to
//! `/ui/callback` with a code, which the node exchanges, with the verifier, for an access token at
//! the token endpoint. That token is then checked like any bearer token (see `auth::users`).
//!
//! Hand-written rather than the `oauth2` crate: that crate's HTTP client is a second reqwest;
//! the flow is two requests, and the token endpoint is reached with the same ureq agent setup
//! (and TLS roots) as the provider's keys.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Deserialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::SignInSection;

/// Bound on the token endpoint's answer.
const MAX_TOKEN_RESPONSE_BYTES: u64 = 64 * 1024;

/// Bound on one exchange at the token endpoint.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Code exchanges at once: each holds a blocking thread for up to [`EXCHANGE_TIMEOUT`], and
/// anyone may begin a sign-in.
pub const MAX_EXCHANGES: usize = 4;

/// Why a code exchange gave no token.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// No answer from the token endpoint.
    #[error("the token endpoint cannot be reached: {0}")]
    Unreachable(String),
    /// An answer that cannot be read (too large, cut short).
    #[error("the token endpoint's answer cannot be read: {0}")]
    Unreadable(String),
    /// The provider's refusal (RFC 6749 section 5.2), as it words it (bounded).
    #[error("the identity provider refused the code: {0}")]
    Refused(String),
    /// Neither a token nor a refusal.
    #[error("the token endpoint answered {0} without a token")]
    NoToken(u16),
}

/// The provider's endpoints and this node's client registration there.
pub struct ProviderSignIn {
    section: SignInSection,
    client_secret: Option<String>,
    agent: ureq::Agent,
    exchanges: Arc<Semaphore>,
}

/// The token endpoint's answer (RFC 6749 section 5.1 and 5.2).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl ProviderSignIn {
    /// The sign-in `section` describes; `ca`: a CA for the provider's TLS, if not a system root.
    pub fn new(section: &SignInSection, ca: Option<&std::path::Path>) -> Result<Self> {
        let client_secret = match &section.client_secret_file {
            Some(path) => {
                crate::files::check_private(path)?;
                Some(crate::files::read_text(path)?.trim().to_owned())
            }
            None => None,
        };
        let agent = ureq::Agent::config_builder()
            .tls_config(crate::tls::client_config(ca)?)
            .timeout_global(Some(EXCHANGE_TIMEOUT))
            .max_redirects(0)
            // The provider's error body says why; read it rather than a bare status.
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            section: section.clone(),
            client_secret,
            agent,
            exchanges: Arc::new(Semaphore::new(MAX_EXCHANGES)),
        })
    }

    /// Where to send the browser: the authorization endpoint with this sign-in's parameters.
    pub fn authorization_redirect(&self, state: &str, challenge: &str) -> Result<String> {
        let mut url = url::Url::parse(&self.section.authorization_url)
            .context("auth.sign_in.authorization_url is not a URL")?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.section.client_id)
            .append_pair("redirect_uri", &self.section.redirect_url)
            .append_pair("scope", &self.section.scopes)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Where the provider sends browsers back (this node's URL + `/ui/callback`).
    pub fn redirect_url(&self) -> &str {
        &self.section.redirect_url
    }

    /// How long a session may last at most.
    pub fn session_life(&self) -> Duration {
        Duration::from_secs(self.section.session_secs)
    }

    /// A slot to exchange a code in, if one of [`MAX_EXCHANGES`] is free.
    pub fn exchange_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.exchanges.clone().try_acquire_owned().ok()
    }

    /// Exchanges `code` (with the sign-in's PKCE `verifier`) for an access token; blocking.
    pub fn exchange(&self, code: &str, verifier: &str) -> Result<String, ExchangeError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.section.redirect_url.as_str()),
            ("client_id", self.section.client_id.as_str()),
            ("code_verifier", verifier),
        ];
        if let Some(secret) = &self.client_secret {
            form.push(("client_secret", secret.as_str()));
        }
        let mut response = self
            .agent
            .post(&self.section.token_url)
            .header("Accept", "application/json")
            .send_form(form)
            .map_err(|e| ExchangeError::Unreachable(e.to_string()))?;
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_TOKEN_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| ExchangeError::Unreadable(e.to_string()))?;
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| ExchangeError::NoToken(status.as_u16()))?;
        match (answer.access_token, answer.error) {
            (Some(token), None) if status.is_success() => Ok(token),
            (_, Some(error)) => {
                let description = answer.error_description.unwrap_or_default();
                let said: String = format!("{error} {description}").chars().take(200).collect();
                Err(ExchangeError::Refused(format!("{:?}", said.trim_end())))
            }
            _ => Err(ExchangeError::NoToken(status.as_u16())),
        }
    }
}
