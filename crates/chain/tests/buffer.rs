//! The out-of-order buffer against a member gone rogue: a revoked key's new block never enters
//! as history, one sender cannot take everyone's room, and blocks nobody completes expire.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::buffer::{
    BUFFER_TTL_MS, MAX_BUFFERED_PER_ORIGIN, Origin, OutOfOrder, Pending, Waiting,
};
use medchain_chain::{Admission, Decoded, Ingested};
use medchain_protocol::identity::{self, Role};
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::ledgers::*;
use medchain_testkit::pki::*;

/// A revoked provider signs a new block, backdated before its revocation, that waits for an
/// earlier gap on a node that has not seen its chain yet. When the gap is filled by a synced
/// range (history), the buffered block is still judged as new: refused, never committed.
#[test]
fn a_revoked_keys_new_block_never_enters_as_history() {
    let c = TestCa::new("Consortium");
    let member = c.member(Role::Provider, "Hospital R");
    let provider = author_of(&member);
    let mut source = c.ledger();
    let before = now_ms() - 60_000;
    let mut blocks = Vec::new();
    for i in 0..3u64 {
        let authored = source
            .author(
                &provider,
                vec![create(&format!("MRN-{i}"), "{}")],
                before + i * 1000,
            )
            .unwrap();
        blocks.push(authored[0].block.block().clone());
    }
    let crl = identity::revoke(
        &c.issued.cert_der,
        &c.issued.key_pkcs8_der,
        None,
        &member.cert_der,
        (before / 1000) as i64 + 30,
    )
    .unwrap();
    let mut node = c.ledger();
    node.set_trust(c.trust_with_crl(crl));
    // Block 2 (backdated before the revocation) arrives by gossip first: its chain is unknown,
    // so it can only wait, unverified.
    let late = Decoded::from_block(blocks[2].clone(), vec![]);
    match node
        .ingest_from(late, Origin::named("rogue"), now_ms())
        .unwrap()
    {
        Ingested::Buffered(gap) => assert_eq!((gap.from, gap.to), (0, 2)),
        other => panic!("expected it to wait, got {other:?}"),
    }
    // The gap is filled by a synced range (history, accepted: signed before the revocation).
    let (done, _) = node.ingest_range(blocks[..2].to_vec(), now_ms());
    assert_eq!(done.len(), 2);
    // The buffered block was released and judged as the new block it is: refused.
    let head = node.store().head(&provider.chain()).unwrap().unwrap();
    assert_eq!(
        head.height, 1,
        "the revoked key's new block entered as history"
    );
    assert_eq!(node.buffered(), 0);
}

fn waiting(block: medchain_protocol::Block, origin: Origin, since_ms: u64) -> Waiting {
    let structured = Decoded::from_block(block, vec![])
        .check_structure()
        .unwrap();
    Waiting {
        pending: Pending::Unverified(structured),
        admission: Admission::New,
        origin,
        since_ms,
    }
}

/// A structurally valid block of `member`'s chain at `height` (no entries: nothing in it depends
/// on its position), as a rogue could send many of.
fn filler(member: &identity::IssuedMember, height: u64) -> medchain_protocol::Block {
    let key = identity::MemberKey::from_pkcs8_der(&member.key_pkcs8_der).unwrap();
    medchain_protocol::BlockDraft {
        chain: medchain_protocol::ChainId::from_public_key(&key.public_key()),
        height,
        prev: medchain_protocol::BlockHash([1; 32]),
        time_ms: now_ms(),
        certificate: member.cert_der.clone(),
        carry_certificate: false,
        witnesses: vec![],
        entries: vec![],
    }
    .seal(&key)
}

/// One sender fills its share; another sender still gets room; blocks expire.
#[test]
fn one_origin_cannot_take_everyones_room_and_blocks_expire() {
    let c = TestCa::new("Consortium");
    let members: Vec<_> = (0..3)
        .map(|i| c.member(Role::Provider, &format!("Hospital {i}")))
        .collect();
    let mut buffer = OutOfOrder::default();
    let now = now_ms();
    let rogue = Origin::named("rogue");
    let mut accepted = 0;
    for i in 0..(MAX_BUFFERED_PER_ORIGIN as u64 + 8) {
        let block = filler(&members[(i % 3) as usize], 1 + i);
        if buffer.insert(waiting(block, rogue, now), now).is_ok() {
            accepted += 1;
        }
    }
    assert_eq!(accepted, MAX_BUFFERED_PER_ORIGIN);
    let honest = Origin::named("honest");
    assert!(
        buffer
            .insert(waiting(filler(&members[0], 9_999), honest, now), now)
            .is_ok()
    );
    assert!(buffer.bytes() > 0);
    // Past the time to live, everything is dropped and the bytes are given back.
    buffer.expire(now + BUFFER_TTL_MS + 1);
    assert!(buffer.is_empty());
    assert_eq!(buffer.bytes(), 0);
}

/// A range answer must be the consecutive heights of the chain asked for, from the height asked
/// for: anything else is refused whole, nothing of it committed.
#[test]
fn a_range_answer_of_another_shape_is_refused_whole() {
    let c = TestCa::new("Consortium");
    let (a, b) = (c.provider("Hospital A"), c.provider("Hospital B"));
    let mut source = c.ledger();
    grow(&mut source, &a, 3, "a");
    grow(&mut source, &b, 1, "b");
    let message = |block: medchain_protocol::Block| medchain_protocol::BlockMessage {
        block,
        payloads: vec![],
    };
    let a_blocks: Vec<_> = chain_blocks(&source, &a.chain());
    let b_genesis = chain_blocks(&source, &b.chain()).remove(0);
    let mut node = c.ledger();
    for (bad, from) in [
        // Another chain slipped in.
        (
            vec![message(a_blocks[0].clone()), message(b_genesis.clone())],
            0,
        ),
        // Heights skipped.
        (
            vec![message(a_blocks[0].clone()), message(a_blocks[2].clone())],
            0,
        ),
        // Not from the height asked for.
        (vec![message(a_blocks[1].clone())], 0),
    ] {
        let (done, failure) = node.ingest_range_answer(a.chain(), from, bad, now_ms());
        assert!(done.is_empty());
        assert_eq!(failure.map(|f| f.reason()), Some("range_shape"));
    }
    let good = a_blocks.iter().cloned().map(message).collect();
    let (done, failure) = node.ingest_range_answer(a.chain(), 0, good, now_ms());
    assert!(failure.is_none() && done.len() == 3);
}

/// Heights at the end of the range, from a peer or a damaged head record, overflow nothing: a
/// block at u64::MAX waits like any early block, and a head record planted there makes the
/// author refuse instead of wrapping around to a second genesis.
#[test]
fn heights_at_the_end_of_the_range_overflow_nothing() {
    let c = TestCa::new("Consortium");
    let member = c.member(Role::Provider, "Hospital A");
    let a = author_of(&member);
    let mut node = c.ledger();
    grow(&mut node, &a, 2, "a");
    let last = filler(&member, u64::MAX);
    let outcome = node.ingest(Decoded::from_block(last, vec![]), now_ms());
    assert!(
        matches!(outcome, Ok(Ingested::Buffered(_)) | Err(_)),
        "{outcome:?}"
    );
    let head = node.store().head(&a.chain()).unwrap().unwrap();
    medchain_store::tamper::set_head(node.store_for_tampering(), &a.chain(), u64::MAX, &head.hash)
        .unwrap();
    let err = node
        .author(&a, vec![create("MRN-9", "{}")], now_ms())
        .unwrap_err();
    assert!(
        matches!(err, medchain_chain::AuthorError::ChainFull),
        "{err}"
    );
    // And a verifier scan of such a store reports it rather than walking every height.
    let report = node.verify(now_ms(), now_ms).unwrap();
    assert!(!report.violations.is_empty());
}
