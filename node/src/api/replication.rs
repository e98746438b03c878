//! Waiting until peers hold a block (`POST /v1/records?ack=replicated&min=N`).

use std::time::{Duration, Instant};

use medchain_net::Client;
use medchain_protocol::{ChainId, SyncResponse};

/// Asks the admitted peers for their heads until `min` of them hold `chain` up to `height`, or
/// `timeout_ms` passes. Returns how many did.
pub async fn wait_for_peers(
    client: &Client,
    chain: ChainId,
    height: u64,
    min: usize,
    timeout_ms: u64,
) -> usize {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    loop {
        let mut held = 0;
        if let Ok(peers) = client.admitted_peers().await {
            for (peer, _) in peers {
                if let Ok(SyncResponse::Heads(heads)) = client.heads(peer).await
                    && heads.iter().any(|h| h.chain == chain && h.height >= height)
                {
                    held += 1;
                }
            }
        }
        if held >= min || Instant::now() >= deadline {
            return held;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
