//! Payload repair: payloads the verifier found damaged or missing, and those a block fetched
//! from a peer referenced without carrying them inline, are fetched by hash from peers and put
//! back, whatever their size, without touching the blocks that reference them.
//!
//! Each anti-entropy round asks for the payloads that are due (each has its own backoff in
//! `WantedPayloads`, so one that no peer holds is asked for less and less often, then dropped
//! until a scan names it again: repair never loops). A peer's bytes are kept only if they hash
//! to the content address asked for.

use std::time::Instant;

use medchain_net::PeerId;
use medchain_protocol::{ChainId, PayloadHash, SyncRequest, SyncResponse};
use tracing::{debug, error, info, warn};

use crate::daemon::network::{Glue, blocking};

/// Most payloads asked for in one round.
const MAX_PAYLOADS_PER_ROUND: usize = 64;

impl Glue {
    /// Asks `peers`, in turn, for every wanted payload that is due; keeps what checks out.
    pub(in crate::daemon) async fn repair_payloads(&self, peers: &[PeerId]) {
        let wanted = self.coordination.wanted_payloads();
        let due = wanted.due(Instant::now(), MAX_PAYLOADS_PER_ROUND);
        for hash in due {
            let mut restored = false;
            for peer in peers {
                match self.fetch_payload(*peer, hash).await {
                    Some(bytes) => {
                        restored = self.put_back(hash, bytes).await;
                        break;
                    }
                    None => continue,
                }
            }
            if restored {
                wanted.fetched(&hash);
                info!(payload = %hash, "payload restored from a peer");
            } else {
                wanted.failed(&hash, Instant::now());
                debug!(payload = %hash, "no peer gave this payload this round");
            }
        }
    }

    /// The payload `peer` holds under `hash`, if it gives bytes that hash to it.
    pub(in crate::daemon) async fn fetch_payload(
        &self,
        peer: PeerId,
        hash: PayloadHash,
    ) -> Option<Vec<u8>> {
        match self.ask(peer, SyncRequest::Payload(hash)).await {
            Ok(SyncResponse::Payload(bytes)) if PayloadHash::of(&bytes) == hash => {
                Some(bytes.into_vec())
            }
            Ok(SyncResponse::Payload(_)) => {
                warn!(%peer, payload = %hash, "peer sent a payload that does not match its hash");
                None
            }
            _ => None,
        }
    }

    /// Stores fetched bytes under their hash (replacing a damaged copy); whether it worked. A
    /// store that cannot even be written there is damaged beyond repair in place.
    pub(in crate::daemon) async fn put_back(&self, hash: PayloadHash, bytes: Vec<u8>) -> bool {
        let service = self.service.clone();
        match blocking(move || service.restore_payload(&bytes)).await {
            Some(Ok(_)) => true,
            Some(Err(e)) if e.is_corruption() => {
                error!(payload = %hash, error = %e, "a payload cannot be put back in place: the store is rebuilt from peers");
                self.coordination
                    .integrity()
                    .request_rebuild(format!("payload {hash} cannot be rewritten: {e}"));
                false
            }
            _ => {
                warn!(payload = %hash, "payload could not be stored");
                false
            }
        }
    }
}

impl Glue {
    /// Fetches from `peer` the payloads of `chain` from height `from` that we do not hold.
    /// One `peer` does not give is wanted from every peer from the next round on: the peer that
    /// relayed a block may not hold its large payloads yet, and until some other node fetches
    /// them the author's copy is the only one.
    pub(in crate::daemon) async fn fetch_missing_payloads(
        &self,
        peer: PeerId,
        chain: ChainId,
        from: u64,
    ) {
        let service = self.service.clone();
        let missing = match blocking(move || service.missing_payloads(&chain, from)).await {
            Some(Ok(missing)) => missing,
            Some(Err(e)) => {
                warn!(%chain, from, error = %e, "cannot list the payloads these blocks lack: the next scan names them");
                return;
            }
            None => return,
        };
        let wanted = self.coordination.wanted_payloads();
        let mut not_given = Vec::new();
        for hash in missing {
            let stored = match self.fetch_payload(peer, hash).await {
                Some(bytes) => self.put_back(hash, bytes).await,
                None => false,
            };
            if stored {
                wanted.fetched(&hash);
            } else {
                debug!(%peer, payload = %hash, "payload not available from peer: asking every peer next round");
                not_given.push(hash);
            }
        }
        let left_out = wanted.add_not_relayed(not_given);
        if left_out > 0 {
            debug!(
                count = left_out,
                "payloads not relayed left for the next scan: too many wanted already"
            );
        }
    }
}
