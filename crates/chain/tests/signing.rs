//! Never equivocate: a provider's ledger signs only when its head is confirmed, never a second
//! genesis, and the pause survives in the signing record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod common;

use common::*;
use medchain_chain::{
    Author, AuthorError, Confirmation, Ledger, PauseKind, PeerReport, Signing, SigningError,
    ViolationKind,
};
use medchain_protocol::ChainHead;
use medchain_store::{SigningRecord, Store};

/// A provider's ledger over `store` with the signing record at `dir/signing.json`.
fn provider_ledger(c: &Consortia, author: &Author, store: Store, dir: &std::path::Path) -> Ledger {
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

#[test]
fn a_fresh_node_signs_its_genesis_and_the_record_remembers_it() {
    let dir = tempfile::tempdir().unwrap();
    let c = Consortia::new("Consortium");
    let a = c.provider("Hospital A");
    let mut ledger = provider_ledger(&c, &a, Store::open_temporary().unwrap(), dir.path());
    assert_eq!(paused_kind(&ledger), None);
    write(&mut ledger, &a, "MRN-1").unwrap();
    let record = SigningRecord::load(&dir.path().join("signing.json"), a.chain())
        .unwrap()
        .unwrap();
    assert!(record.state().had_chain);
}

/// A node that never had a chain, paused (its store was rebuilt, say), resumes once every
/// admitted peer answered without its chain: nothing of it exists to be signed twice.
#[test]
fn a_node_that_never_had_a_chain_resumes_when_no_peer_holds_one() {
    let dir = tempfile::tempdir().unwrap();
    let c = Consortia::new("Consortium");
    let a = c.provider("Hospital A");
    let mut ledger = provider_ledger(&c, &a, Store::open_temporary().unwrap(), dir.path());
    ledger
        .pause_writes(PauseKind::Rebuilt, "store moved aside", now_ms())
        .unwrap();
    for waiting in [vec![], vec![PeerReport::Lacks, PeerReport::Failed]] {
        assert!(matches!(
            ledger.confirm_own_head(&waiting, now_ms()).unwrap(),
            Confirmation::Waiting(_)
        ));
    }
    assert_eq!(
        ledger
            .confirm_own_head(&[PeerReport::Lacks, PeerReport::Lacks], now_ms())
            .unwrap(),
        Confirmation::Resumed
    );
    write(&mut ledger, &a, "MRN-1").unwrap();
}

#[test]
fn a_node_that_had_a_chain_never_signs_a_new_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let c = Consortia::new("Consortium");
    let a = c.provider("Hospital A");
    {
        let mut ledger = provider_ledger(&c, &a, Store::open_temporary().unwrap(), dir.path());
        write(&mut ledger, &a, "MRN-1").unwrap();
    }
    // The store is lost (moved aside, a new disk): the record says there was a chain.
    let mut ledger = provider_ledger(&c, &a, Store::open_temporary().unwrap(), dir.path());
    assert_eq!(paused_kind(&ledger).as_deref(), Some("started"));
    // Nobody holds the chain: no confirmation, and the operator cannot lift it into a genesis.
    assert_eq!(
        ledger
            .confirm_own_head(&[PeerReport::Lacks], now_ms())
            .unwrap(),
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

#[test]
fn a_restart_pauses_until_every_admitted_peer_answers_and_one_confirms() {
    let dir = tempfile::tempdir().unwrap();
    let c = Consortia::new("Consortium");
    let a = c.provider("Hospital A");
    let mut peer = c.ledger();
    let store_dir = tempfile::tempdir().unwrap();
    {
        let mut ledger =
            provider_ledger(&c, &a, Store::open(store_dir.path()).unwrap(), dir.path());
        for i in 0..3 {
            write(&mut ledger, &a, &format!("MRN-{i}")).unwrap();
        }
        let (done, failure) = peer.ingest_range(chain_blocks(&ledger, &a.chain()), now_ms());
        assert!(failure.is_none() && done.len() == 3);
    }
    let mut ledger = provider_ledger(&c, &a, Store::open(store_dir.path()).unwrap(), dir.path());
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
            ledger.confirm_own_head(&reports, now_ms()).unwrap(),
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
        ledger
            .confirm_own_head(&[PeerReport::Lacks, PeerReport::Holds(behind)], now_ms())
            .unwrap(),
        Confirmation::Resumed
    );
    write(&mut ledger, &a, "MRN-3").unwrap();
}

#[test]
fn a_peer_ahead_means_fetch_first_and_a_different_block_is_a_fork() {
    let dir = tempfile::tempdir().unwrap();
    let c = Consortia::new("Consortium");
    let a = c.provider("Hospital A");
    let mut network = c.ledger();
    grow(&mut network, &a, 4, "net");
    // This node holds only the first two blocks (a partial rebuild, a restored backup).
    let store_dir = tempfile::tempdir().unwrap();
    let blocks = chain_blocks(&network, &a.chain());
    {
        let mut staging = Ledger::new(Store::open(store_dir.path()).unwrap(), c.trust());
        let (done, _) = staging.ingest_range(blocks[..2].to_vec(), now_ms());
        assert_eq!(done.len(), 2);
    }
    let store = Store::open(store_dir.path()).unwrap();
    let mut ledger = provider_ledger(&c, &a, store, dir.path());
    let theirs = head(&network, &a);
    assert_eq!(
        ledger
            .confirm_own_head(&[PeerReport::Holds(theirs)], now_ms())
            .unwrap(),
        Confirmation::FetchFirst { peer: 0, height: 3 }
    );
    // Fetching it: the blocks of our own chain come from a peer (still paused).
    let (done, failure) = ledger.ingest_range(blocks[2..].to_vec(), now_ms());
    assert!(failure.is_none() && done.len() == 2);
    assert!(ledger.writes_paused().is_some());
    assert_eq!(
        ledger
            .confirm_own_head(&[PeerReport::Holds(theirs)], now_ms())
            .unwrap(),
        Confirmation::Resumed
    );
    // A peer holding another block at a height we hold: our key signed twice. Paused for good.
    let forged = ChainHead {
        hash: medchain_protocol::BlockHash([9; 32]),
        ..theirs
    };
    assert_eq!(
        ledger.observe_own_head(&forged, now_ms()).unwrap(),
        Some(PauseKind::Forked)
    );
    assert!(matches!(
        ledger
            .confirm_own_head(&[PeerReport::Holds(theirs)], now_ms())
            .unwrap(),
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

#[test]
fn a_block_of_our_own_chain_from_a_peer_pauses_signing() {
    let dir = tempfile::tempdir().unwrap();
    let c = Consortia::new("Consortium");
    let a = c.provider("Hospital A");
    let mut ledger = provider_ledger(&c, &a, Store::open_temporary().unwrap(), dir.path());
    write(&mut ledger, &a, "MRN-0").unwrap();
    // A second instance with our key signs the next block elsewhere; it reaches us.
    let mut twin = c.ledger();
    twin.ingest_range(chain_blocks(&ledger, &a.chain()), now_ms());
    write(&mut twin, &a, "MRN-twin").unwrap();
    let twin_block = chain_blocks(&twin, &a.chain()).pop().unwrap();
    let (done, _) = ledger.ingest_range(vec![twin_block], now_ms());
    assert_eq!(done.len(), 1);
    assert_eq!(paused_kind(&ledger).as_deref(), Some("peer_ahead"));
    assert!(write(&mut ledger, &a, "MRN-1").is_err());
}

#[test]
fn a_quarantine_of_our_own_chain_pauses_until_restored_and_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let c = Consortia::new("Consortium");
    let a = c.provider("Hospital A");
    let mut ledger = provider_ledger(&c, &a, Store::open_temporary().unwrap(), dir.path());
    for i in 0..4 {
        write(&mut ledger, &a, &format!("MRN-{i}")).unwrap();
    }
    let mut peer = c.ledger();
    peer.ingest_range(chain_blocks(&ledger, &a.chain()), now_ms());
    let violation = medchain_chain::Violation {
        chain: a.chain(),
        height: 2,
        kind: ViolationKind::HashMismatch,
        detail: "test".into(),
        payload: None,
        to_height: 3,
    };
    ledger.quarantine(&violation, now_ms()).unwrap();
    assert_eq!(
        paused_kind(&ledger).as_deref(),
        Some("own_chain_quarantined")
    );
    let theirs = head(&peer, &a);
    // The peer holds more than we do now: fetch first.
    assert!(matches!(
        ledger
            .confirm_own_head(&[PeerReport::Holds(theirs)], now_ms())
            .unwrap(),
        Confirmation::FetchFirst { .. }
    ));
    ledger.ingest_range(chain_blocks(&peer, &a.chain())[2..].to_vec(), now_ms());
    assert_eq!(ledger.complete_restores(now_ms()).unwrap().len(), 1);
    assert_eq!(
        ledger
            .confirm_own_head(&[PeerReport::Holds(theirs)], now_ms())
            .unwrap(),
        Confirmation::Resumed
    );
}

#[test]
fn the_pause_survives_a_restart_in_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let c = Consortia::new("Consortium");
    let a = c.provider("Hospital A");
    let store_dir = tempfile::tempdir().unwrap();
    {
        let mut ledger =
            provider_ledger(&c, &a, Store::open(store_dir.path()).unwrap(), dir.path());
        write(&mut ledger, &a, "MRN-0").unwrap();
        ledger
            .pause_writes(PauseKind::Rebuilt, "store moved aside", now_ms())
            .unwrap();
    }
    let ledger = provider_ledger(&c, &a, Store::open(store_dir.path()).unwrap(), dir.path());
    assert_eq!(paused_kind(&ledger).as_deref(), Some("rebuilt"));
}
