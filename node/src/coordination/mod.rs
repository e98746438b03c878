//! The daemon's coordination: what its tasks, the reads and the API signal to one another
//! about the store's health, apart from the ledger itself.
//!
//! - [`Integrity`]: whether the store can be vouched for (reads refuse to serve when not), and
//!   the wake-ups for a scan soon or a rebuild from peers.
//! - [`WantedPayloads`]: payloads found damaged or missing, to fetch by hash.
//! - [`WantedKeys`]: data keys a grant opens to this node, to ask their owners for.
//! - the repair wake-up: fetch quarantined ranges from peers now, not at the next anti-entropy
//!   round.
//! - the publish queue: every block this node authors, for the network glue to gossip.
//!
//! The daemon's start-up creates one per run and hands it to the service (whose reads consult
//! and wake it), the network glue, the verifier schedule and the API. It knows none of them.

mod expiries;
mod integrity;
mod wanted_keys;
mod wanted_payloads;

use medchain_protocol::BlockMessage;

pub use expiries::Expiries;
pub use integrity::{Integrity, MAX_REPAIRS_IN_PLACE, RETRY_UNVERIFIED, Unvouched, Verdict};
pub use wanted_keys::{BACKUP_REQUEST_INTERVAL, WantedKeys};
pub use wanted_payloads::WantedPayloads;

/// One run's coordination (see the module's header).
#[derive(Debug, Default)]
pub struct Coordination {
    /// Blocks we author, to gossip (none without a network, as in tests).
    publisher: Option<tokio::sync::mpsc::Sender<BlockMessage>>,
    integrity: Integrity,
    wanted_payloads: WantedPayloads,
    wanted_keys: WantedKeys,
    /// Wakes the network glue when the verifier has quarantined something (or a read met a
    /// damaged payload), so the range is fetched from peers now.
    repair_wanted: tokio::sync::Notify,
    /// Certificate and revocation-list expiries, as last read.
    expiries: std::sync::Mutex<Expiries>,
    /// This member's certificate (DER) in force: the one loaded at start, or a renewal taken
    /// since.
    member_certificate: std::sync::Mutex<Vec<u8>>,
}

impl Coordination {
    /// A run's coordination whose authored blocks go to `publisher` (the network glue gossips
    /// them).
    pub fn with_publisher(publisher: tokio::sync::mpsc::Sender<BlockMessage>) -> Self {
        Self {
            publisher: Some(publisher),
            ..Self::default()
        }
    }

    /// Certificate and revocation-list expiries, as last read.
    pub fn expiries(&self) -> Expiries {
        self.expiries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// This member's certificate in force.
    pub fn member_certificate(&self) -> Vec<u8> {
        self.member_certificate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keeps the member certificate now in force.
    pub fn set_member_certificate(&self, certificate: Vec<u8>) {
        *self
            .member_certificate
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = certificate;
    }

    /// Keeps what the expiry watch read.
    pub fn set_expiries(&self, expiries: Expiries) {
        *self.expiries.lock().unwrap_or_else(|p| p.into_inner()) = expiries;
    }

    /// Hands a block we authored to the network glue. Never waits: a full queue only delays
    /// replication, as peers fetch the block by sync.
    pub fn publish(&self, message: BlockMessage) {
        let Some(publisher) = &self.publisher else {
            return;
        };
        let height = message.block.header.height;
        if publisher.try_send(message).is_err() {
            tracing::warn!(
                height,
                "publish queue full; peers will fetch the block by sync"
            );
        }
    }

    /// The store's integrity state.
    pub fn integrity(&self) -> &Integrity {
        &self.integrity
    }

    /// Payloads to fetch by hash from peers.
    pub fn wanted_payloads(&self) -> &WantedPayloads {
        &self.wanted_payloads
    }

    /// Data keys to ask their owners for.
    pub fn wanted_keys(&self) -> &WantedKeys {
        &self.wanted_keys
    }

    /// Asks the network glue to fetch quarantined ranges and wanted payloads from peers now.
    /// Callable from any thread; requests made while none is waited for are kept (one wake-up
    /// for all of them).
    pub fn request_repair(&self) {
        self.repair_wanted.notify_one();
    }

    /// Resolves at the next [`Coordination::request_repair`] (at once if one is pending).
    pub async fn repair_requested(&self) {
        self.repair_wanted.notified().await;
    }
}
