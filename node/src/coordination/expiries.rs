//! When the certificates and the revocation list the node depends on expire, as the expiry watch
//! (`daemon::expiry`) last read them: `/v1/status` and the dashboard show them.

use serde::Serialize;

/// When each thing the node depends on expires (unix seconds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Expiries {
    /// The member certificate's notAfter.
    pub member: Option<i64>,
    /// The consortium root's notAfter.
    pub ca: Option<i64>,
    /// The API's TLS certificate's notAfter (none on plain HTTP).
    pub api_tls: Option<i64>,
    /// The revocation list's nextUpdate (none without a list).
    pub crl_next_update: Option<i64>,
}

impl Expiries {
    /// Each item with its name.
    pub fn items(&self) -> [(&'static str, Option<i64>); 4] {
        [
            ("member", self.member),
            ("ca", self.ca),
            ("api_tls", self.api_tls),
            ("crl", self.crl_next_update),
        ]
    }
}
