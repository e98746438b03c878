//! Key backups kept by peers: a copy a peer sends never brings back a key erased here, and a
//! rebuilt store finds the stretches of its chain whose backups it still lacks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::backup::{BackupGaps, check_key_backups, key_backup_gaps};
use medchain_chain::{Author, Ledger};
use medchain_protocol::identity::{EncryptionKey, MemberKey, Role};
use medchain_protocol::key_backup::KeyBackup;
use medchain_protocol::{ChainId, EntryKind, EntryRef};
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::ledgers::chain_blocks;
use medchain_testkit::pki::*;

/// Checks `sent` against `ledger`'s store, then keeps what passed; how many were kept.
fn keep(ledger: &mut Ledger, chain: &ChainId, sent: &[KeyBackup]) -> usize {
    let checked = check_key_backups(ledger.store(), chain, sent).unwrap();
    ledger.keep_key_backups(checked).unwrap()
}

/// The backups `ledger` holds of `chain`, decoded.
fn backups(ledger: &Ledger, chain: &ChainId) -> Vec<KeyBackup> {
    ledger
        .store()
        .key_backups_from(chain, 0, 1000)
        .unwrap()
        .into_iter()
        .map(|(_, bytes)| KeyBackup::decode(&bytes).unwrap())
        .collect()
}

/// A provider backing its keys up to a recovery key, with three blocks of two records each and
/// a fourth erasing the first record of the second block.
fn owner() -> (TestCa, Ledger, ChainId, EntryRef) {
    let c = TestCa::new("Consortium");
    let member = c.member(Role::Provider, "Hospital A");
    let recovery = EncryptionKey::derive(&[7; 32]).public_key();
    let author = Author::new(
        MemberKey::from_pkcs8_der(&member.key_pkcs8_der).unwrap(),
        member.cert_der.clone(),
        keyring().with_recovery_key(recovery),
    )
    .unwrap();
    let mut ledger = c.ledger();
    let body = r#"{"resourceType":"Observation"}"#;
    let mut refs = Vec::new();
    for _ in 0..3 {
        let written = ledger
            .author(
                &author,
                vec![create("MRN-1", body), create("MRN-1", body)],
                now_ms(),
            )
            .unwrap();
        refs.push(written[0].refs[0]);
    }
    ledger
        .author(
            &author,
            vec![terms(EntryKind::Erase, refs[1], None, false)],
            now_ms(),
        )
        .unwrap();
    (c, ledger, refs[0].chain, refs[1])
}

#[test]
fn a_peer_s_untrimmed_copy_does_not_bring_an_erased_key_back() {
    let (c, owner, chain, erased) = owner();
    let sent = backups(&owner, &chain);
    assert_eq!(sent.len(), 3, "one per block with payloads");
    let mut peer = c.ledger();
    let (_, failure) = peer.ingest_range(chain_blocks(&owner, &chain), now_ms());
    assert!(failure.is_none(), "{failure:?}");

    // The erase is in the peer's copy of the chain: the erased key is left out as the copies
    // are kept, and a complete copy sent again does not replace the trimmed one.
    assert_eq!(keep(&mut peer, &chain, &sent), 3);
    let held = backups(&peer, &chain);
    assert_eq!(held[1].held_keys(), 1, "the erased entry's key left out");
    assert_eq!(held[0].held_keys(), 2);
    assert_eq!(keep(&mut peer, &chain, &sent), 0);
    let held = backups(&peer, &chain);
    assert_eq!(held[1].held_keys(), 1);
    assert!(
        held[1]
            .keys
            .iter()
            .any(|k| k.index == erased.index && k.wrapped.is_none()),
        "its digest stays, so the signature holds"
    );
    assert!(held[1].is_signed_by(&owner_key(&owner, &chain)));
}

#[test]
fn a_rebuilt_store_finds_the_stretches_of_its_chain_without_backups() {
    let (c, owner, chain, _) = owner();
    let sent = backups(&owner, &chain);
    let mut rebuilt = c.ledger();
    assert_eq!(
        key_backup_gaps(rebuilt.store(), &chain, 0, 64, |_, _| true).unwrap(),
        BackupGaps::default(),
        "no block held: nothing to ask for"
    );
    let (_, failure) = rebuilt.ingest_range(chain_blocks(&owner, &chain), now_ms());
    assert!(failure.is_none(), "{failure:?}");
    let gaps = key_backup_gaps(rebuilt.store(), &chain, 0, 64, |_, _| true).unwrap();
    assert_eq!(
        gaps.runs,
        vec![(0, 3)],
        "the erase-only block has none to lack"
    );
    assert_eq!(gaps.whole_below, 0);

    // With the first backup back, the stretch starts after it; a walk may start there.
    keep(&mut rebuilt, &chain, &sent[..1]);
    let gaps = key_backup_gaps(rebuilt.store(), &chain, 0, 64, |_, _| true).unwrap();
    assert_eq!(gaps.runs, vec![(1, 2)]);
    assert_eq!(gaps.whole_below, 1);
    assert_eq!(
        key_backup_gaps(rebuilt.store(), &chain, 1, 64, |_, _| true).unwrap(),
        gaps
    );
    // Stretches the caller leaves out (asked lately) are not listed, but the gap stays known
    // and a walk soon after may start past them.
    let left_out = key_backup_gaps(rebuilt.store(), &chain, 0, 64, |_, _| false).unwrap();
    assert!(left_out.runs.is_empty());
    assert_eq!((left_out.whole_below, left_out.resume_at), (1, 4));
    // One hole left between two held backups.
    keep(&mut rebuilt, &chain, &sent[2..]);
    let gaps = key_backup_gaps(rebuilt.store(), &chain, 0, 1, |_, _| true).unwrap();
    assert_eq!(gaps.runs, vec![(1, 1)]);
    keep(&mut rebuilt, &chain, &sent[1..2]);
    let gaps = key_backup_gaps(rebuilt.store(), &chain, 0, 64, |_, _| true).unwrap();
    assert!(gaps.runs.is_empty(), "{gaps:?}");
    assert_eq!(gaps.whole_below, 4, "after the last block held");
}

fn owner_key(ledger: &Ledger, chain: &ChainId) -> [u8; 32] {
    medchain_chain::Reads::new(ledger.store().clone())
        .owner_key(chain)
        .unwrap()
        .unwrap()
}
