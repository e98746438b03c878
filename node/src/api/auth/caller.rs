//! Who calls: a user signed in at the identity provider (acting as themselves, with the
//! `medchain.*` scopes of their token), or a machine client holding the API token (acting on
//! behalf of the actor it names, and recorded so). And which scope each route needs.

use axum::http::{Method, StatusCode};
use medchain_protocol::limits::MAX_ACTOR_LEN;

use crate::api::error::{ApiError, ApiResult};

/// What a caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read records (audited), chains, blocks, reports, status.
    Read,
    /// Write records.
    Write,
    /// Grant and revoke access.
    Grant,
    /// Erase records.
    Erase,
    /// Run the verifier, lift a pause of writes, submit signed blocks.
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 5] = [
        Scope::Read,
        Scope::Write,
        Scope::Grant,
        Scope::Erase,
        Scope::Admin,
    ];

    /// The OAuth 2 scope name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "medchain.read",
            Scope::Write => "medchain.write",
            Scope::Grant => "medchain.grant",
            Scope::Erase => "medchain.erase",
            Scope::Admin => "medchain.admin",
        }
    }

    /// The scope named `name`, if it is one of ours.
    pub fn parse(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The scope a `/v1` route needs (`route` as matched, with or without `/v1`); a route not
    /// listed needs `admin`, so a new route is closed until it is placed here.
    pub fn required(method: &Method, route: &str) -> Scope {
        let route = route.strip_prefix("/v1").unwrap_or(route);
        match (method.as_str(), route) {
            ("GET" | "HEAD", _) => Scope::Read,
            ("POST", "/patients/records") => Scope::Read,
            ("POST", "/records" | "/records/batch") => Scope::Write,
            ("POST", "/records/{id}/grants") | ("DELETE", "/records/{id}/grants/{org}") => {
                Scope::Grant
            }
            ("POST", "/records/{id}/erase") => Scope::Erase,
            _ => Scope::Admin,
        }
    }
}

/// Prefix of the actor recorded for a machine client.
pub const MACHINE_ACTOR_PREFIX: &str = "machine client on behalf of ";

/// Longest actor a machine client names: with the prefix, within an entry's actor.
pub const MAX_NAMED_ACTOR_LEN: usize = MAX_ACTOR_LEN - MACHINE_ACTOR_PREFIX.len();

/// Whether `named` is an actor a client may name: printable ASCII without surrounding space, 1 to
/// [`MAX_NAMED_ACTOR_LEN`] characters (the API document's pattern `^[!-~]([ -~]{0,98}[!-~])?$`;
/// ASCII, so characters and bytes agree and the document's length is the entry's).
pub fn is_named_actor(named: &str) -> bool {
    let bytes = named.as_bytes();
    (1..=MAX_NAMED_ACTOR_LEN).contains(&bytes.len())
        && bytes.iter().all(|b| (b' '..=b'~').contains(b))
        && bytes.first() != Some(&b' ')
        && bytes.last() != Some(&b' ')
}

/// The authenticated caller of a request (a request extension set by the auth middleware).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A user, by the configured claim of their token.
    User {
        /// Who they are (recorded as the actor).
        actor: String,
        /// The `medchain.*` scopes their token grants.
        scopes: Vec<Scope>,
    },
    /// A machine client holding the node's API token: every scope, acting on behalf of the
    /// actor it names in each request.
    Machine,
}

impl Caller {
    /// Whether the caller holds `scope`.
    pub fn may(&self, scope: Scope) -> bool {
        match self {
            Caller::User { scopes, .. } => scopes.contains(&scope),
            Caller::Machine => true,
        }
    }

    /// The actor to record for a request that names `named` (the `X-Medchain-Actor` header or
    /// a body's `actor`; `None` or empty when it names none). A user acts as themselves: naming
    /// anyone else is refused. A machine client must name who it acts for, and is recorded as
    /// acting on their behalf, so the trail never shows a name the node could not check as if
    /// it had.
    pub fn acting(&self, named: Option<&str>) -> ApiResult<String> {
        let named = named.filter(|n| !n.is_empty());
        match (self, named) {
            (Caller::User { actor, .. }, None) => Ok(actor.clone()),
            (Caller::User { actor, .. }, Some(named)) if named == actor => Ok(actor.clone()),
            (Caller::User { actor, .. }, Some(_)) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "signed in as {actor}: a user acts as themselves, so the actor named must be {actor} or absent"
                ),
            )),
            (Caller::Machine, None) => Err(ApiError::bad_request(
                "reads and writes are audited: a machine client names the user it acts for in the X-Medchain-Actor header (or the body's actor)",
            )),
            (Caller::Machine, Some(named)) => {
                if !is_named_actor(named) {
                    return Err(ApiError::bad_request(format!(
                        "the actor a machine client names must be 1 to {MAX_NAMED_ACTOR_LEN} printable ASCII characters, without surrounding space"
                    )));
                }
                Ok(format!("{MACHINE_ACTOR_PREFIX}{named}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_scope_of_what_they_do() {
        let post = Method::POST;
        assert_eq!(
            Scope::required(&Method::GET, "/v1/records/{id}"),
            Scope::Read
        );
        assert_eq!(Scope::required(&post, "/v1/patients/records"), Scope::Read);
        assert_eq!(Scope::required(&post, "/v1/records"), Scope::Write);
        assert_eq!(Scope::required(&post, "/v1/records/batch"), Scope::Write);
        assert_eq!(
            Scope::required(&post, "/v1/records/{id}/grants"),
            Scope::Grant
        );
        let revoke = Scope::required(&Method::DELETE, "/v1/records/{id}/grants/{org}");
        assert_eq!(revoke, Scope::Grant);
        assert_eq!(
            Scope::required(&post, "/v1/records/{id}/erase"),
            Scope::Erase
        );
        assert_eq!(Scope::required(&post, "/v1/verify"), Scope::Admin);
        assert_eq!(
            Scope::required(&post, "/v1/admin/writes/resume"),
            Scope::Admin
        );
        assert_eq!(Scope::required(&post, "/v1/blocks"), Scope::Admin);
        assert_eq!(Scope::required(&Method::PUT, "/v1/records"), Scope::Admin);
    }

    #[test]
    fn users_act_as_themselves_and_machines_on_behalf_of_someone() {
        let user = Caller::User {
            actor: "dr-house".into(),
            scopes: vec![Scope::Read],
        };
        assert_eq!(user.acting(None).unwrap(), "dr-house");
        assert_eq!(user.acting(Some("")).unwrap(), "dr-house");
        assert_eq!(user.acting(Some("dr-house")).unwrap(), "dr-house");
        assert!(user.acting(Some("dr-wilson")).is_err());
        assert!(user.may(Scope::Read) && !user.may(Scope::Write));
        let machine = Caller::Machine;
        assert!(machine.acting(None).is_err());
        assert_eq!(
            machine.acting(Some("dr-house")).unwrap(),
            "machine client on behalf of dr-house"
        );
        assert!(machine.acting(Some(&"x".repeat(101))).is_err());
        assert!(
            machine.acting(Some("dr-müller")).is_err(),
            "ASCII only, as documented"
        );
        assert!(machine.acting(Some(" dr")).is_err() && machine.acting(Some("dr\t")).is_err());
        assert!(machine.acting(Some(&"x".repeat(100))).unwrap().len() <= MAX_ACTOR_LEN);
        assert!(Scope::ALL.iter().all(|s| machine.may(*s)));
    }
}
