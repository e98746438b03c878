//! The dashboard's sessions: a random 256-bit value in an HttpOnly, SameSite=Strict cookie (Secure
//! when the API serves TLS), mapped in the node's memory to the signed-in caller until the
//! session's end. Only the value's SHA-256 is kept, so a memory dump shows no usable cookie.
//! Sessions do not survive a restart: the user signs in again.
//!
//! Also the sign-ins under way at the identity provider: their `state` and PKCE verifier, for 10
//! minutes. Both maps are bounded; when full, the session nearest its end (or the oldest sign-in)
//! makes room.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

use crate::api::auth::Caller;

/// The session cookie's name.
pub const COOKIE: &str = "medchain_session";

/// Most sessions held at once.
pub const MAX_SESSIONS: usize = 1024;

/// Most sign-ins under way at once.
pub const MAX_PENDING: usize = 256;

/// How long a sign-in at the provider may take.
pub const PENDING_LIFE: Duration = Duration::from_secs(600);

/// One signed-in session.
struct Session {
    caller: Caller,
    ends: Instant,
}

/// One sign-in under way at the provider.
struct Pending {
    verifier: String,
    started: Instant,
}

#[derive(Default)]
struct Held {
    sessions: HashMap<[u8; 32], Session>,
    pending: HashMap<String, Pending>,
}

/// The dashboard's sessions and sign-ins under way.
pub struct Sessions {
    held: Mutex<Held>,
    random: SystemRandom,
    /// Whether cookies carry `Secure` (the API serves TLS).
    secure: bool,
}

impl Sessions {
    /// No sessions yet; `secure` when the API serves TLS.
    pub fn new(secure: bool) -> Self {
        Self {
            held: Mutex::default(),
            random: SystemRandom::new(),
            secure,
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// 32 random bytes, base64url; `None` if the system's generator fails.
    fn random_value(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes).ok()?;
        Some(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Opens a session for `caller` lasting `life`; answers the cookie value.
    pub fn open(&self, caller: Caller, life: Duration) -> Option<String> {
        let value = self.random_value()?;
        let now = Instant::now();
        let mut held = self.held();
        held.sessions.retain(|_, s| s.ends > now);
        if held.sessions.len() >= MAX_SESSIONS {
            let nearest_end = held
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.ends)
                .map(|(k, _)| *k);
            if let Some(key) = nearest_end {
                held.sessions.remove(&key);
            }
        }
        let ends = now + life;
        held.sessions
            .insert(key_of(&value), Session { caller, ends });
        Some(value)
    }

    /// The caller of the session `value` names, while it lasts.
    pub fn caller(&self, value: &str) -> Option<Caller> {
        let key = key_of(value);
        let mut held = self.held();
        let session = held.sessions.get(&key)?;
        if session.ends <= Instant::now() {
            held.sessions.remove(&key);
            return None;
        }
        Some(session.caller.clone())
    }

    /// Ends the session `value` names.
    pub fn close(&self, value: &str) {
        self.held().sessions.remove(&key_of(value));
    }

    /// Starts a sign-in at the provider: answers its `state` and PKCE verifier.
    pub fn begin_sign_in(&self) -> Option<(String, String)> {
        let (state, verifier) = (self.random_value()?, self.random_value()?);
        let now = Instant::now();
        let mut held = self.held();
        held.pending
            .retain(|_, p| now.duration_since(p.started) < PENDING_LIFE);
        if held.pending.len() >= MAX_PENDING {
            let oldest = held
                .pending
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone());
            if let Some(key) = oldest {
                held.pending.remove(&key);
            }
        }
        held.pending.insert(
            state.clone(),
            Pending {
                verifier: verifier.clone(),
                started: now,
            },
        );
        Some((state, verifier))
    }

    /// Ends the sign-in `state` names (once): answers its PKCE verifier, if it is under way.
    pub fn finish_sign_in(&self, state: &str) -> Option<String> {
        let pending = self.held().pending.remove(state)?;
        (pending.started.elapsed() < PENDING_LIFE).then_some(pending.verifier)
    }

    /// The `Set-Cookie` value opening session `value` for `life`.
    pub fn set_cookie(&self, value: &str, life: Duration) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            life.as_secs()
        ))
        .ok()
    }

    /// The `Set-Cookie` value removing the session cookie.
    pub fn clear_cookie(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("medchain_session=; Path=/; Max-Age=0"))
    }
}

/// The PKCE challenge (S256) of `verifier` (RFC 7636 section 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

/// The session cookie's value in `headers`, if sent.
pub fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

fn key_of(value: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, value.as_bytes()).as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(actor: &str) -> Caller {
        Caller::User {
            actor: actor.into(),
            scopes: vec![crate::api::auth::Scope::Read],
        }
    }

    #[test]
    fn a_session_lasts_until_it_ends_or_is_closed() {
        let sessions = Sessions::new(true);
        let value = sessions.open(user("a"), Duration::from_secs(60)).unwrap();
        assert_eq!(sessions.caller(&value), Some(user("a")));
        assert_eq!(sessions.caller("not-a-session"), None);
        sessions.close(&value);
        assert_eq!(sessions.caller(&value), None);
        let short = sessions.open(user("b"), Duration::ZERO).unwrap();
        assert_eq!(sessions.caller(&short), None, "ended");
        let cookie = sessions
            .set_cookie(&value, Duration::from_secs(60))
            .unwrap();
        let cookie = cookie.to_str().unwrap();
        for flag in ["HttpOnly", "SameSite=Strict", "Secure", "Max-Age=60"] {
            assert!(cookie.contains(flag), "{cookie}");
        }
    }

    #[test]
    fn sessions_and_sign_ins_are_bounded() {
        let sessions = Sessions::new(false);
        let first = sessions
            .open(user("first"), Duration::from_secs(1))
            .unwrap();
        let values: Vec<String> = (0..MAX_SESSIONS)
            .map(|_| sessions.open(user("x"), Duration::from_secs(60)).unwrap())
            .collect();
        assert_eq!(sessions.held().sessions.len(), MAX_SESSIONS);
        assert_eq!(sessions.caller(&first), None, "the nearest end made room");
        assert!(sessions.caller(&values[0]).is_some());
        let (state, verifier) = sessions.begin_sign_in().unwrap();
        for _ in 0..MAX_PENDING {
            sessions.begin_sign_in().unwrap();
        }
        assert_eq!(sessions.held().pending.len(), MAX_PENDING);
        assert_eq!(
            sessions.finish_sign_in(&state),
            None,
            "the oldest made room"
        );
        let (state, verifier_2) = sessions.begin_sign_in().unwrap();
        assert_ne!(verifier, verifier_2);
        assert_eq!(sessions.finish_sign_in(&state), Some(verifier_2));
        assert_eq!(sessions.finish_sign_in(&state), None, "once");
    }

    #[test]
    fn the_cookie_is_found_among_others_and_pkce_matches_rfc_7636() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("x=y; medchain_session=abc"),
        );
        assert_eq!(cookie_of(&headers).as_deref(), Some("abc"));
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
