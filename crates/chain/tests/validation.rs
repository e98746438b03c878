//! Validation: what a node accepts from peers and what it refuses, and how it tells the network.
//! The paper's scenario 1 (Figure 3) is `outsider_block_is_rejected_as_unknown_issuer`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::{Decoded, Ingested, Rejection, Verdict};
use medchain_protocol::identity::{self, CertError, Role};
use medchain_protocol::{BlockDraft, BlockHash, CertHash, ChainId, EntryKind};
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::ledgers::*;
use medchain_testkit::pki::*;

/// A block authored by `author` in a fresh ledger of consortium `c` (its genesis).
fn genesis_of(c: &TestCa, author: &medchain_chain::Author) -> medchain_protocol::Block {
    let mut source = c.ledger();
    let authored = source.author(
        author,
        vec![create("MRN-1", "{\"resourceType\":\"Patient\"}")],
        now_ms(),
    );
    authored.unwrap()[0].block.block().clone()
}

#[test]
fn member_block_is_accepted_and_stored() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let block = genesis_of(&c, &a);
    let mut node = c.ledger();
    let outcome = node
        .ingest(Decoded::from_block(block.clone(), vec![]), now_ms())
        .unwrap();
    let Ingested::Committed(committed) = outcome else {
        panic!("not committed: {outcome:?}")
    };
    assert_eq!(committed.len(), 1);
    assert_eq!(
        node.store().block(&block.hash()).unwrap(),
        Some(block.clone())
    );
    // The same block again is a duplicate, not an error of the sender.
    let again = node
        .ingest(Decoded::from_block(block, vec![]), now_ms())
        .unwrap_err();
    assert_eq!(again.verdict(), Verdict::Duplicate);
}

#[test]
fn outsider_block_is_rejected_as_unknown_issuer() {
    // The outsider holds a properly made X.509 certificate from its own CA, even with the same
    // consortium name, and signs a well-formed block with it.
    let c = TestCa::new("Consortium");
    let outsider_ca = TestCa::new("Consortium");
    let outsider = outsider_ca.provider("Outsider Clinic");
    let block = genesis_of(&outsider_ca, &outsider);
    let mut node = c.ledger();
    let err = node
        .ingest(Decoded::from_block(block.clone(), vec![]), now_ms())
        .unwrap_err();
    assert!(
        matches!(err, Rejection::Certificate(CertError::UnknownIssuer)),
        "{err}"
    );
    assert_eq!(err.verdict(), Verdict::Reject);
    assert_eq!(err.reason(), "unknown_issuer");
    assert!(node.store().block(&block.hash()).unwrap().is_none());
    assert!(node.store().heads().unwrap().is_empty());
}

#[test]
fn auditor_cannot_publish() {
    let c = TestCa::new("Consortium");
    let auditor = author_of(&c.member(Role::Auditor, "Auditors"));
    let mut own = c.ledger();
    // Even its own ledger refuses to author with an auditor certificate.
    let err = own
        .author(&auditor, vec![create("MRN-1", "{}")], now_ms())
        .unwrap_err();
    assert!(err.to_string().contains("wrong role"), "{err}");
    // A block built by hand with the auditor key is refused by everyone.
    let block = BlockDraft {
        chain: auditor.chain(),
        height: 0,
        prev: BlockHash::ZERO,
        time_ms: now_ms(),
        certificate: auditor.certificate().to_vec(),
        carry_certificate: true,
        witnesses: vec![],
        entries: vec![],
    };
    let member = c.member(Role::Auditor, "Auditors 2");
    let key = identity::MemberKey::from_pkcs8_der(&member.key_pkcs8_der).unwrap();
    let block = BlockDraft {
        chain: ChainId::from_public_key(&key.public_key()),
        certificate: member.cert_der.clone(),
        ..block
    }
    .seal(&key);
    let err = c
        .ledger()
        .ingest(Decoded::from_block(block, vec![]), now_ms())
        .unwrap_err();
    assert!(
        matches!(err, Rejection::Certificate(CertError::WrongRole { .. })),
        "{err}"
    );
    assert_eq!(err.verdict(), Verdict::Reject);
}

#[test]
fn revoked_provider_is_refused() {
    let c = TestCa::new("Consortium");
    let member = c.member(Role::Provider, "Hospital R");
    let revoked = author_of(&member);
    let block = genesis_of(&c, &revoked);
    let crl = identity::revoke(
        &c.issued.cert_der,
        &c.issued.key_pkcs8_der,
        None,
        &member.cert_der,
        now_ms() as i64 / 1000,
    )
    .unwrap();
    let mut node = c.ledger();
    node.set_trust(c.trust_with_crl(crl));
    let err = node
        .ingest(Decoded::from_block(block, vec![]), now_ms())
        .unwrap_err();
    assert!(
        matches!(err, Rejection::Certificate(CertError::Revoked)),
        "{err}"
    );
    assert_eq!(err.reason(), "revoked");
}

#[test]
fn forged_signature_and_foreign_key_are_refused() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let b_member = c.member(Role::Provider, "Hospital B");
    let b_key = identity::MemberKey::from_pkcs8_der(&b_member.key_pkcs8_der).unwrap();
    let mut block = genesis_of(&c, &a);
    // Re-signed by B's (valid member) key while claiming A's chain and certificate.
    block.signature = block.header.sign(&b_key);
    let err = c
        .ledger()
        .ingest(Decoded::from_block(block.clone(), vec![]), now_ms())
        .unwrap_err();
    assert!(matches!(err, Rejection::BadSignature), "{err}");
    // B's certificate on A's chain: the certificate does not own the chain.
    let mut stolen = block;
    stolen.certificate = Some(b_member.cert_der.clone());
    stolen.header.cert = CertHash::of(&b_member.cert_der);
    stolen.signature = stolen.header.sign(&b_key);
    let err = c
        .ledger()
        .ingest(Decoded::from_block(stolen, vec![]), now_ms())
        .unwrap_err();
    assert!(matches!(err, Rejection::ChainKeyMismatch(_)), "{err}");
}

#[test]
fn malformed_and_tampered_bytes_are_refused() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let bytes = genesis_of(&c, &a).encode();
    let mut node = c.ledger();
    let err = Decoded::from_bytes(&bytes[..bytes.len() - 3]).unwrap_err();
    assert_eq!(err.verdict(), Verdict::Reject);
    // Every single-byte flip is refused (or is a different, still-refused block), never stored.
    for at in (0..bytes.len()).step_by(7) {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x20;
        if let Ok(decoded) = Decoded::from_bytes(&flipped) {
            assert!(
                node.ingest(decoded, now_ms()).is_err(),
                "flip at {at} accepted"
            );
        }
    }
    assert!(node.store().heads().unwrap().is_empty());
}

#[test]
fn gap_waits_in_the_buffer_and_is_released() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut source = c.ledger();
    grow(&mut source, &a, 4, "g");
    let blocks = chain_blocks(&source, &a.chain());
    let mut node = c.ledger();
    for later in [3, 2] {
        let outcome = node
            .ingest(Decoded::from_block(blocks[later].clone(), vec![]), now_ms())
            .unwrap();
        let Ingested::Buffered(gap) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!((gap.from, gap.to), (0, later as u64));
    }
    node.ingest(Decoded::from_block(blocks[0].clone(), vec![]), now_ms())
        .unwrap();
    let Ingested::Committed(run) = node
        .ingest(Decoded::from_block(blocks[1].clone(), vec![]), now_ms())
        .unwrap()
    else {
        panic!("not committed")
    };
    assert_eq!(
        run.iter().map(|c| c.height).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(node.buffered(), 0);
    assert_eq!(chain_blocks(&node, &a.chain()), blocks);
}

#[test]
fn equivocation_keeps_the_first_block_and_the_evidence() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    // Two ledgers of A share genesis, then each writes a different height 1: an insider with
    // A's key re-signing a modified record (Figure 1).
    let mut honest = c.ledger();
    grow(&mut honest, &a, 1, "base");
    let genesis = chain_blocks(&honest, &a.chain())[0].clone();
    let mut insider = c.ledger();
    insider
        .ingest(Decoded::from_block(genesis, vec![]), now_ms())
        .unwrap();
    honest
        .author(&a, vec![create("MRN-9", "{\"v\":\"original\"}")], now_ms())
        .unwrap();
    insider
        .author(&a, vec![create("MRN-9", "{\"v\":\"forged\"}")], now_ms())
        .unwrap();
    let original = chain_blocks(&honest, &a.chain())[1].clone();
    let forged = chain_blocks(&insider, &a.chain())[1].clone();

    let Ingested::Equivocation { evidence, new } = honest
        .ingest(Decoded::from_block(forged.clone(), vec![]), now_ms())
        .unwrap()
    else {
        panic!("equivocation not detected")
    };
    assert!(new);
    assert_eq!(evidence.first.header.hash(), original.hash());
    assert_eq!(evidence.second.header.hash(), forged.hash());
    assert_eq!(
        chain_blocks(&honest, &a.chain())[1],
        original,
        "the first block stays"
    );
    assert_eq!(honest.store().evidence().unwrap().len(), 1);

    // A third node checks and keeps gossiped evidence once.
    let mut third = c.ledger();
    assert!(third.ingest_evidence(&evidence, now_ms()).unwrap());
    assert!(!third.ingest_evidence(&evidence, now_ms()).unwrap());
    // Evidence with a header altered after signing is refused by a node that holds none for
    // that height (one that does answers "not new" before checking any signature).
    let mut bad = (*evidence).clone();
    bad.second.header.time_ms += 1;
    assert!(!third.ingest_evidence(&bad, now_ms()).unwrap());
    let mut fourth = c.ledger();
    assert!(matches!(
        fourth.ingest_evidence(&bad, now_ms()),
        Err(Rejection::BadSignature)
    ));
    let mut same = (*evidence).clone();
    same.second = same.first.clone();
    assert!(fourth.ingest_evidence(&same, now_ms()).is_err());
    assert!(fourth.store().evidence().unwrap().is_empty());
}

#[test]
fn authoring_batches_and_derives_record_ids() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut node = c.ledger();
    let drafts = (0..1500)
        .map(|i| create(&format!("MRN-{i}"), "{}"))
        .collect();
    let authored = node.author(&a, drafts, now_ms()).unwrap();
    // 1500 entries make two blocks: 1024 + 476.
    assert_eq!(authored.len(), 2);
    assert_eq!(authored[0].refs.len(), 1024);
    assert_eq!(authored[1].refs[0].height, 1);
    assert_eq!(
        authored[1].records[0],
        medchain_protocol::RecordId::derive(&a.chain(), 1, 0)
    );
    // A bad draft refuses the whole batch and names it.
    let mut bad = vec![create("MRN-1", "{}"), create("MRN-2", "{}")];
    bad[1].kind = EntryKind::Amend;
    let err = node.author(&a, bad, now_ms()).unwrap_err();
    assert!(err.to_string().starts_with("entry 1"), "{err}");
    assert_eq!(node.store().head(&a.chain()).unwrap().unwrap().height, 1);
}

/// Revocation stops new blocks at once, but what the provider published before its revocation
/// date stays history: a node syncing it later accepts it, the verifier finds it clean, and a
/// block dated after the revocation is refused even inside a synced range.
#[test]
fn revocation_keeps_history_and_stops_new_blocks() {
    let c = TestCa::new("Consortium");
    let member = c.member(Role::Provider, "Hospital R");
    let provider = author_of(&member);
    let mut source = c.ledger();
    let before = now_ms() - 60_000;
    let mut history = Vec::new();
    for (i, at) in [before, before + 1000].into_iter().enumerate() {
        let authored = source
            .author(&provider, vec![create(&format!("MRN-{i}"), "{}")], at)
            .unwrap();
        history.push(authored[0].block.block().clone());
    }
    let crl = identity::revoke(
        &c.issued.cert_der,
        &c.issued.key_pkcs8_der,
        None,
        &member.cert_der,
        (before / 1000) as i64 + 30,
    )
    .unwrap();

    // A node that learns of the chain only now, with the revocation list.
    let mut late = c.ledger();
    late.set_trust(c.trust_with_crl(crl.clone()));
    let (committed, failure) = late.ingest_range(history.clone(), now_ms());
    assert!(failure.is_none(), "{failure:?}");
    assert_eq!(committed.len(), 2);
    let report = late.verify(now_ms(), now_ms).unwrap();
    assert!(report.violations.is_empty(), "{report:?}");
    assert!(report.revoked_chains.is_empty(), "{report:?}");

    // The same history arriving as new gossip is refused: the strict rule.
    let mut fresh = c.ledger();
    fresh.set_trust(c.trust_with_crl(crl.clone()));
    let err = fresh
        .ingest(Decoded::from_block(history[0].clone(), vec![]), now_ms())
        .unwrap_err();
    assert_eq!(err.reason(), "revoked");

    // A block signed after the revocation date is refused even in a synced range.
    let after = source
        .author(&provider, vec![create("MRN-9", "{}")], now_ms())
        .unwrap()[0]
        .block
        .block()
        .clone();
    let (committed, failure) = late.ingest_range(vec![after], now_ms());
    assert!(committed.is_empty());
    assert_eq!(failure.map(|f| f.reason()), Some("revoked"));
}

#[test]
fn a_synced_range_brings_its_payloads_and_a_stray_payload_stops_it() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut source = c.ledger();
    let mut messages = Vec::new();
    for i in 0..3 {
        let authored = source
            .author(
                &a,
                vec![create(&format!("MRN-{i}"), &format!("{{\"n\":{i}}}"))],
                now_ms(),
            )
            .unwrap();
        let block = authored[0].block.block().clone();
        let payloads = authored[0]
            .block
            .payloads()
            .iter()
            .cloned()
            .map(Into::into)
            .collect();
        messages.push(medchain_protocol::BlockMessage { block, payloads });
    }
    let hash_of =
        |m: &medchain_protocol::BlockMessage| m.block.entries[0].payload.as_ref().unwrap().hash;

    // Blocks and payloads arrive together and are stored in one go.
    let mut node = c.ledger();
    let (committed, failure) = node.ingest_messages(messages[..2].to_vec(), now_ms());
    assert!(failure.is_none(), "{failure:?}");
    assert_eq!(committed.len(), 2);
    for m in &messages[..2] {
        assert_eq!(
            node.store().payload(&hash_of(m)).unwrap().as_deref(),
            Some(&m.payloads[0][..])
        );
    }

    // A payload the block does not reference stops the range there: nothing of it is stored.
    let mut stray = messages[2].clone();
    stray.payloads = vec![b"{\"not\":\"referenced\"}".to_vec().into()];
    let (committed, failure) = node.ingest_messages(vec![stray], now_ms());
    assert!(committed.is_empty());
    assert_eq!(failure.map(|f| f.verdict()), Some(Verdict::Reject));
    assert!(
        node.store()
            .payload(&hash_of(&messages[2]))
            .unwrap()
            .is_none()
    );
    assert_eq!(node.store().head(&a.chain()).unwrap().unwrap().height, 1);
}
