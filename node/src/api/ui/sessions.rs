//! The dashboard's sessions: a random 256-bit value in an HttpOnly, SameSite=Strict cookie
//! (`__Host-` prefixed and Secure when browsers reach the node over TLS), mapped in the node's
//! memory to the signed-in caller until the session's end. Only the value's SHA-256 is kept, so
//! a memory dump shows no usable cookie. Sessions do not survive a restart: the user signs in
//! again. At most [`MAX_SESSIONS`]; when full, the session nearest its end makes room.
//!
//! A sign-in at the identity provider keeps nothing here: its `state` and PKCE verifier travel in
//! a cookie sealed with a key this process made (ChaCha20-Poly1305), set on the browser that
//! started it (SameSite=Lax, so the provider's redirect back brings it) and required at the
//! callback with the same `state`. So a callback link made for someone else's sign-in signs no
//! one in (login CSRF), and no number of sign-ins begun fills anything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

use crate::api::auth::Caller;

/// Most sessions held at once.
pub const MAX_SESSIONS: usize = 1024;

/// How long a sign-in at the provider may take.
pub const SIGN_IN_LIFE: Duration = Duration::from_secs(600);

/// One signed-in session.
struct Session {
    caller: Caller,
    ends: Instant,
}

/// The dashboard's sessions, and the key sealing sign-ins under way.
pub struct Sessions {
    held: Mutex<HashMap<[u8; 32], Session>>,
    random: SystemRandom,
    seal: LessSafeKey,
    /// Whether cookies carry `Secure` and the `__Host-` prefix (browsers use TLS).
    secure: bool,
}

impl Sessions {
    /// No sessions yet; `secure` when browsers reach the node over TLS. `None` if the system's
    /// generator fails.
    pub fn new(secure: bool) -> Option<Self> {
        let random = SystemRandom::new();
        let mut key = [0u8; 32];
        random.fill(&mut key).ok()?;
        let seal = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &key).ok()?);
        Some(Self {
            held: Mutex::default(),
            random,
            seal,
            secure,
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// 32 random bytes, base64url; `None` if the system's generator fails.
    fn random_value(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes).ok()?;
        Some(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The session cookie's name.
    pub fn session_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-medchain_session"
        } else {
            "medchain_session"
        }
    }

    /// The sign-in cookie's name.
    fn sign_in_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-medchain_signin"
        } else {
            "medchain_signin"
        }
    }

    /// Opens a session for `caller` lasting `life`; answers the cookie value.
    pub fn open(&self, caller: Caller, life: Duration) -> Option<String> {
        let value = self.random_value()?;
        let now = Instant::now();
        let mut held = self.held();
        held.retain(|_, s| s.ends > now);
        if held.len() >= MAX_SESSIONS {
            let nearest_end = held.iter().min_by_key(|(_, s)| s.ends).map(|(k, _)| *k);
            if let Some(key) = nearest_end {
                held.remove(&key);
            }
        }
        held.insert(
            key_of(&value),
            Session {
                caller,
                ends: now + life,
            },
        );
        Some(value)
    }

    /// The session cookie's value in `headers`: `None` when absent or sent twice (a cookie
    /// planted beside ours must not choose the session).
    pub fn value_in(&self, headers: &HeaderMap) -> Option<String> {
        only_cookie(headers, self.session_cookie())
    }

    /// Every value of the session cookie in `headers` (sign-out ends them all).
    pub fn values_in(&self, headers: &HeaderMap) -> Vec<String> {
        cookies(headers, self.session_cookie()).collect()
    }

    /// The caller of the session `value` names, while it lasts.
    pub fn caller(&self, value: &str) -> Option<Caller> {
        let key = key_of(value);
        let mut held = self.held();
        let session = held.get(&key)?;
        if session.ends <= Instant::now() {
            held.remove(&key);
            return None;
        }
        Some(session.caller.clone())
    }

    /// Ends the session `value` names.
    pub fn close(&self, value: &str) {
        self.held().remove(&key_of(value));
    }

    /// Starts a sign-in at the provider: its `state`, its PKCE verifier, and the `Set-Cookie`
    /// value carrying both, sealed, to the callback.
    pub fn begin_sign_in(&self) -> Option<(String, String, HeaderValue)> {
        let (state, verifier) = (self.random_value()?, self.random_value()?);
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        let mut sealed = format!("{} {state} {verifier}", unix_now()).into_bytes();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .ok()?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        let cookie = self.cookie(
            self.sign_in_cookie(),
            &URL_SAFE_NO_PAD.encode(bytes),
            "Lax",
            SIGN_IN_LIFE,
        )?;
        Some((state, verifier, cookie))
    }

    /// The PKCE verifier of the sign-in this browser began with `state`, if its sealed cookie
    /// is in `headers`, names that state, and is not older than [`SIGN_IN_LIFE`].
    pub fn finish_sign_in(&self, state: &str, headers: &HeaderMap) -> Option<String> {
        let sealed = URL_SAFE_NO_PAD
            .decode(only_cookie(headers, self.sign_in_cookie())?)
            .ok()?;
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let mut rest = rest.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let opened = self
            .seal
            .open_in_place(nonce, Aad::empty(), &mut rest)
            .ok()?;
        let text = std::str::from_utf8(opened).ok()?;
        let mut parts = text.split(' ');
        let (began, sealed_state, verifier) = (parts.next()?, parts.next()?, parts.next()?);
        // A clock stepped back past the sign-in's start makes it unusable, not ageless.
        let age = unix_now().checked_sub(began.parse().ok()?)?;
        (sealed_state == state && age <= SIGN_IN_LIFE.as_secs()).then(|| verifier.to_owned())
    }

    /// The `Set-Cookie` value ending a sign-in's cookie.
    pub fn clear_sign_in(&self) -> Option<HeaderValue> {
        self.cookie(self.sign_in_cookie(), "", "Lax", Duration::ZERO)
    }

    /// The `Set-Cookie` value opening session `value` for `life`.
    pub fn set_cookie(&self, value: &str, life: Duration) -> Option<HeaderValue> {
        self.cookie(self.session_cookie(), value, "Strict", life)
    }

    /// The `Set-Cookie` value removing the session cookie.
    pub fn clear_cookie(&self) -> Option<HeaderValue> {
        self.cookie(self.session_cookie(), "", "Strict", Duration::ZERO)
    }

    fn cookie(
        &self,
        name: &str,
        value: &str,
        same_site: &str,
        life: Duration,
    ) -> Option<HeaderValue> {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={}{secure}",
            life.as_secs()
        ))
        .ok()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The PKCE challenge (S256) of `verifier` (RFC 7636 section 4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()))
}

/// The values of the cookie `name` in `headers`.
fn cookies<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = String> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// The value of the cookie `name` in `headers`, if it is there exactly once.
fn only_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = cookies(headers, name);
    let first = found.next()?;
    found.next().is_none().then_some(first)
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

    fn with_cookie(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
        headers
    }

    #[test]
    fn a_session_lasts_until_it_ends_or_is_closed() {
        let sessions = Sessions::new(true).unwrap();
        let value = sessions.open(user("a"), Duration::from_secs(60)).unwrap();
        assert_eq!(sessions.caller(&value), Some(user("a")));
        assert_eq!(sessions.caller("not-a-session"), None);
        let cookie = sessions
            .set_cookie(&value, Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            sessions.value_in(&with_cookie(&cookie)),
            Some(value.clone())
        );
        let cookie = cookie.to_str().unwrap();
        for flag in [
            "__Host-medchain_session=",
            "HttpOnly",
            "SameSite=Strict",
            "Secure",
            "Max-Age=60",
            "Path=/",
        ] {
            assert!(cookie.contains(flag), "{cookie}");
        }
        sessions.close(&value);
        assert_eq!(sessions.caller(&value), None);
        let short = sessions.open(user("b"), Duration::ZERO).unwrap();
        assert_eq!(sessions.caller(&short), None, "ended");
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::new(false).unwrap();
        let first = sessions
            .open(user("first"), Duration::from_secs(1))
            .unwrap();
        let values: Vec<String> = (0..MAX_SESSIONS)
            .map(|_| sessions.open(user("x"), Duration::from_secs(60)).unwrap())
            .collect();
        assert_eq!(sessions.held().len(), MAX_SESSIONS);
        assert_eq!(sessions.caller(&first), None, "the nearest end made room");
        assert!(sessions.caller(&values[0]).is_some());
    }

    #[test]
    fn a_sign_in_finishes_only_in_the_browser_that_began_it() {
        let sessions = Sessions::new(false).unwrap();
        let (state, verifier, cookie) = sessions.begin_sign_in().unwrap();
        let cookie_text = cookie.to_str().unwrap();
        assert!(cookie_text.contains("SameSite=Lax") && cookie_text.contains("HttpOnly"));
        let browser = with_cookie(&cookie);
        assert_eq!(sessions.finish_sign_in(&state, &browser), Some(verifier));
        // Another browser (no cookie), another sign-in's state, another node's seal.
        assert_eq!(sessions.finish_sign_in(&state, &HeaderMap::new()), None);
        let (other_state, _, _) = sessions.begin_sign_in().unwrap();
        assert_eq!(sessions.finish_sign_in(&other_state, &browser), None);
        let elsewhere = Sessions::new(false).unwrap();
        assert_eq!(elsewhere.finish_sign_in(&state, &browser), None);
        // A cookie changed by one byte does not open.
        let mut bytes = URL_SAFE_NO_PAD
            .decode(only_cookie(&browser, "medchain_signin").unwrap())
            .unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        let mut changed = HeaderMap::new();
        let pair = format!("medchain_signin={}", URL_SAFE_NO_PAD.encode(bytes));
        changed.insert(header::COOKIE, HeaderValue::from_str(&pair).unwrap());
        assert_eq!(sessions.finish_sign_in(&state, &changed), None);
    }

    #[test]
    fn a_cookie_sent_twice_chooses_nothing_and_pkce_matches_rfc_7636() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("x=y; medchain_session=abc"),
        );
        assert_eq!(
            only_cookie(&headers, "medchain_session").as_deref(),
            Some("abc")
        );
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("medchain_session=planted"),
        );
        assert_eq!(only_cookie(&headers, "medchain_session"), None);
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
