//! Never equivocate: a provider's ledger signs only when its head is confirmed, never a second
//! genesis, declares a fork only on a block signed by its key, and the pause survives in the
//! signing record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::{
    Author, AuthorError, Confirmation, Decoded, Ledger, OwnClaim, PauseKind, PeerReport, Signing,
    SigningError, ViolationKind,
};
use medchain_protocol::ChainHead;
use medchain_store::{SigningRecord, Store};
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::ledgers::*;
use medchain_testkit::pki::*;

/// A provider's ledger over `store` with the signing record at `dir/signing.json`.
fn provider_ledger(c: &TestCa, author: &Author, store: Store, dir: &std::path::Path) -> Ledger {
    let path = dir.join("signing.json");
    let record = match SigningRecord::load(&path, author.chain()).unwrap() {
        Some(record) => record,
        None => SigningRecord::create_fresh(&path, author.chain()).unwrap(),
    };
    let holds = store.head(&author.chain()).unwrap().is_some();
    let signing = Signing::at_start(author.chain(), record, holds, now_ms()).unwrap();
    Ledger::new(store, c.trust()).with_signing(signing)
}

fn write(ledger: &mut Ledger, author: &Author, tag: &str) -> Result<(), Box<AuthorError>> {
    ledger
        .author(
            author,
            vec![create(tag, r#"{"resourceType":"Observation"}"#)],
            now_ms(),
        )
        .map(drop)
        .map_err(Box::new)
}

fn paused_kind(ledger: &Ledger) -> Option<String> {
    ledger.writes_paused().map(|p| p.kind.clone())
}

fn head(ledger: &Ledger, author: &Author) -> ChainHead {
    ledger.store().head(&author.chain()).unwrap().unwrap()
}

/// One confirmation round with `reports`, asked at the ledger's current epoch.
fn confirm(ledger: &mut Ledger, reports: &[PeerReport]) -> Confirmation {
    let epoch = ledger.signing_epoch().unwrap();
    ledger.confirm_own_head(reports, epoch).unwrap()
}

/// A fresh node pauses too (an `init` with an old key would otherwise sign a second genesis
/// before asking anyone); it signs its genesis once every admitted peer answered without its
/// chain, and the record then remembers it had a chain.
/// A provider that never had a chain, confirmed by one peer that lacks it: writable.
fn writable_provider(c: &TestCa, a: &Author, store: Store, dir: &std::path::Path) -> Ledger {
    let mut ledger = provider_ledger(c, a, store, dir);
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Lacks]),
        Confirmation::Resumed
    );
    ledger
}

#[test]
fn a_fresh_node_signs_its_genesis_once_its_peers_hold_none_of_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut ledger = provider_ledger(&c, &a, Store::open_temporary().unwrap(), dir.path());
    assert_eq!(paused_kind(&ledger).as_deref(), Some("started"));
    assert!(write(&mut ledger, &a, "MRN-1").is_err());
    for waiting in [vec![], vec![PeerReport::Lacks, PeerReport::Failed]] {
        assert!(matches!(
            confirm(&mut ledger, &waiting),
            Confirmation::Waiting(_)
        ));
    }
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Lacks, PeerReport::Lacks]),
        Confirmation::Resumed
    );
    write(&mut ledger, &a, "MRN-1").unwrap();
    let record = SigningRecord::load(&dir.path().join("signing.json"), a.chain())
        .unwrap()
        .unwrap();
    assert!(record.state().had_chain);
}

/// A fresh record for a key whose chain the network holds (a new data directory for an old
/// key): the peers' answers show the chain, which is fetched before anything is signed.
#[test]
fn a_fresh_record_for_a_key_the_network_knows_fetches_first() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut network = c.ledger();
    grow(&mut network, &a, 3, "old");
    let mut ledger = provider_ledger(&c, &a, Store::open_temporary().unwrap(), dir.path());
    let theirs = head(&network, &a);
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Holds(theirs)]),
        Confirmation::FetchFirst { peer: 0, height: 2 }
    );
    let (done, _) = ledger.ingest_range(chain_blocks(&network, &a.chain()), now_ms());
    assert_eq!(done.len(), 3);
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Holds(theirs)]),
        Confirmation::Resumed
    );
    write(&mut ledger, &a, "MRN-new").unwrap();
    assert_eq!(head(&ledger, &a).height, 3);
}

#[test]
fn a_node_that_had_a_chain_never_signs_a_new_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    {
        let mut ledger = writable_provider(&c, &a, Store::open_temporary().unwrap(), dir.path());
        write(&mut ledger, &a, "MRN-1").unwrap();
    }
    // The store is lost (moved aside, a new disk): the record says there was a chain.
    let mut ledger = provider_ledger(&c, &a, Store::open_temporary().unwrap(), dir.path());
    assert_eq!(paused_kind(&ledger).as_deref(), Some("started"));
    // Nobody holds the chain: no confirmation, and the operator cannot lift it into a genesis.
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Lacks]),
        Confirmation::Waiting("no admitted peer holds this node's chain")
    );
    assert!(matches!(
        ledger.lift_pause("ops", "drill", now_ms()),
        Err(SigningError::NoNewGenesis)
    ));
    assert!(matches!(
        write(&mut ledger, &a, "MRN-2").map_err(|e| *e),
        Err(AuthorError::Signing(SigningError::Paused(_)))
    ));
}

/// Builds A's chain of `n` blocks on a store in `store_dir`, held by `peer` too, and reopens it
/// as a restarted provider (paused).
fn restarted(
    c: &TestCa,
    a: &Author,
    n: usize,
    store_dir: &std::path::Path,
    dir: &std::path::Path,
    peer: &mut Ledger,
) -> Ledger {
    {
        let mut ledger = writable_provider(c, a, Store::open(store_dir).unwrap(), dir);
        for i in 0..n {
            write(&mut ledger, a, &format!("MRN-{i}")).unwrap();
        }
        let (done, failure) = peer.ingest_range(chain_blocks(&ledger, &a.chain()), now_ms());
        assert!(failure.is_none() && done.len() == n);
    }
    provider_ledger(c, a, Store::open(store_dir).unwrap(), dir)
}

#[test]
fn a_restart_pauses_until_every_admitted_peer_answers_and_one_confirms() {
    let (dir, store_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut peer = c.ledger();
    let mut ledger = restarted(&c, &a, 3, store_dir.path(), dir.path(), &mut peer);
    assert_eq!(paused_kind(&ledger).as_deref(), Some("started"));
    assert!(write(&mut ledger, &a, "refused").is_err());
    let ours = head(&ledger, &a);
    // An empty answer, or a peer that did not answer, confirms nothing.
    for reports in [
        vec![PeerReport::Lacks],
        vec![PeerReport::Holds(ours), PeerReport::Failed],
        vec![],
    ] {
        assert!(matches!(
            confirm(&mut ledger, &reports),
            Confirmation::Waiting(_)
        ));
    }
    // A peer behind us (holding our block at its height) and none ahead: confirmed.
    let behind = ChainHead {
        height: 1,
        hash: ledger
            .store()
            .block_hash_at(&a.chain(), 1)
            .unwrap()
            .unwrap(),
        chain: a.chain(),
    };
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Lacks, PeerReport::Holds(behind)]),
        Confirmation::Resumed
    );
    write(&mut ledger, &a, "MRN-3").unwrap();
}

/// A round that asked its peers before a newer observation came decides nothing: the newer
/// pause is never cleared by the older round.
#[test]
fn a_round_older_than_the_last_pause_decides_nothing() {
    let (dir, store_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut peer = c.ledger();
    let mut ledger = restarted(&c, &a, 3, store_dir.path(), dir.path(), &mut peer);
    let ours = head(&ledger, &a);
    let epoch = ledger.signing_epoch().unwrap();
    // While the round asks its peers, another peer shows our chain above our head.
    let above = ChainHead {
        height: ours.height + 5,
        ..ours
    };
    assert_eq!(
        ledger.observe_own_head(&above, now_ms()).unwrap(),
        Some(OwnClaim::Ahead)
    );
    assert!(matches!(
        ledger.confirm_own_head(&[PeerReport::Holds(ours)], epoch),
        Ok(Confirmation::Waiting(_))
    ));
    assert_eq!(paused_kind(&ledger).as_deref(), Some("peer_ahead"));
}

/// A claim of another block at a height we hold is only a claim: no pause, and a round asks
/// for the block. A block really signed by our key there is a fork, paused for good until an
/// operator lifts it.
#[test]
fn a_fork_is_declared_on_a_block_signed_by_our_key_never_on_a_claim() {
    let (dir, store_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut peer = c.ledger();
    let mut ledger = restarted(&c, &a, 3, store_dir.path(), dir.path(), &mut peer);
    let ours = head(&ledger, &a);
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Holds(ours)]),
        Confirmation::Resumed
    );
    let claimed = ChainHead {
        hash: medchain_protocol::BlockHash([9; 32]),
        ..ours
    };
    assert_eq!(
        ledger.observe_own_head(&claimed, now_ms()).unwrap(),
        Some(OwnClaim::Differs)
    );
    assert_eq!(paused_kind(&ledger), None, "a claim alone pauses nothing");
    ledger
        .pause_writes(PauseKind::Started, "restarted", now_ms())
        .unwrap();
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Holds(claimed)]),
        Confirmation::VerifyFork {
            peer: 0,
            height: ours.height
        }
    );
    // A twin instance signs another block at our head's height: that one is proof.
    let mut twin = c.ledger();
    let blocks = chain_blocks(&ledger, &a.chain());
    twin.ingest_range(blocks[..blocks.len() - 1].to_vec(), now_ms());
    write(&mut twin, &a, "MRN-twin").unwrap();
    let other = chain_blocks(&twin, &a.chain()).pop().unwrap();
    let _ = ledger.ingest(Decoded::from_block(other, vec![]), now_ms());
    assert_eq!(paused_kind(&ledger).as_deref(), Some("forked"));
    assert!(matches!(
        confirm(&mut ledger, &[PeerReport::Holds(ours)]),
        Confirmation::Waiting(_)
    ));
    // Only an operator lifts it, and the record keeps who and why.
    let lifted = ledger
        .lift_pause("ops-jane", "fork investigated: test data", now_ms())
        .unwrap();
    assert_eq!(lifted.kind, "forked");
    let record = ledger.signing().unwrap();
    assert_eq!(
        record.lifts().last().map(|l| l.by.as_str()),
        Some("ops-jane")
    );
    write(&mut ledger, &a, "MRN-after").unwrap();
}

/// A block of our own chain arriving from a peer (a twin instance with our key), whether it
/// fits our head or waits ahead of it, pauses signing.
#[test]
fn a_block_of_our_own_chain_from_a_peer_pauses_signing() {
    for ahead in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let c = TestCa::new("Consortium");
        let a = c.provider("Hospital A");
        let mut ledger = writable_provider(&c, &a, Store::open_temporary().unwrap(), dir.path());
        write(&mut ledger, &a, "MRN-0").unwrap();
        let mut twin = c.ledger();
        twin.ingest_range(chain_blocks(&ledger, &a.chain()), now_ms());
        write(&mut twin, &a, "MRN-twin-1").unwrap();
        write(&mut twin, &a, "MRN-twin-2").unwrap();
        let twin_blocks = chain_blocks(&twin, &a.chain());
        let block = twin_blocks[if ahead { 2 } else { 1 }].clone();
        let _ = ledger.ingest(Decoded::from_block(block, vec![]), now_ms());
        assert_eq!(
            paused_kind(&ledger).as_deref(),
            Some("peer_ahead"),
            "{ahead}"
        );
        assert!(write(&mut ledger, &a, "MRN-1").is_err());
    }
}

#[test]
fn a_quarantine_of_our_own_chain_pauses_until_restored_and_confirmed() {
    let (dir, store_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut peer = c.ledger();
    let mut ledger = restarted(&c, &a, 4, store_dir.path(), dir.path(), &mut peer);
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Holds(head(&peer, &a))]),
        Confirmation::Resumed
    );
    let violation = medchain_chain::Violation {
        chain: a.chain(),
        height: 1,
        kind: ViolationKind::HashMismatch,
        detail: "test".into(),
        payload: None,
        to_height: 1,
    };
    ledger.quarantine(&violation, now_ms()).unwrap();
    assert_eq!(
        paused_kind(&ledger).as_deref(),
        Some("own_chain_quarantined")
    );
    // A peer lagging at a height inside the hole is no fork: the round waits for the repair.
    let lagging = ChainHead {
        height: 1,
        hash: chain_blocks(&peer, &a.chain())[1].hash(),
        chain: a.chain(),
    };
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Holds(lagging)]),
        Confirmation::Waiting("this node's chain has a hole below its head")
    );
    ledger.ingest_range(chain_blocks(&peer, &a.chain())[1..2].to_vec(), now_ms());
    assert_eq!(ledger.complete_restores(now_ms()).unwrap().len(), 1);
    assert_eq!(
        confirm(&mut ledger, &[PeerReport::Holds(head(&peer, &a))]),
        Confirmation::Resumed
    );
}

#[test]
fn the_pause_survives_a_restart_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let store_dir = tempfile::tempdir().unwrap();
    {
        let mut ledger =
            provider_ledger(&c, &a, Store::open(store_dir.path()).unwrap(), dir.path());
        assert_eq!(
            confirm(&mut ledger, &[PeerReport::Lacks]),
            Confirmation::Resumed
        );
        write(&mut ledger, &a, "MRN-0").unwrap();
        ledger
            .pause_writes(PauseKind::Rebuilt, "store moved aside", now_ms())
            .unwrap();
        // Readers see the pause without the ledger's lock.
        let shared = ledger.signing().unwrap().shared_pause();
        assert_eq!(
            shared.read().unwrap().as_ref().map(|p| p.kind.as_str()),
            Some("rebuilt")
        );
    }
    let ledger = provider_ledger(&c, &a, Store::open(store_dir.path()).unwrap(), dir.path());
    assert_eq!(paused_kind(&ledger).as_deref(), Some("rebuilt"));
}
