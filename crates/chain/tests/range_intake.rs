//! A range answer in two steps: the precheck (no ledger, no store: what the node runs off the
//! ledger's lock) and the ingest of what it kept.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::{Rejection, precheck_range};
use medchain_protocol::BlockMessage;
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::pki::*;

/// Three consecutive blocks of `a`'s chain, each with its one payload inline.
fn three_blocks(c: &TestCa, a: &medchain_chain::Author) -> Vec<BlockMessage> {
    let mut source = c.ledger();
    (0..3)
        .map(|i| {
            let authored = source
                .author(
                    a,
                    vec![create(&format!("MRN-{i}"), &format!("{{\"n\":{i}}}"))],
                    now_ms(),
                )
                .unwrap();
            BlockMessage {
                block: authored[0].block.block().clone(),
                payloads: authored[0]
                    .block
                    .payloads()
                    .iter()
                    .cloned()
                    .map(Into::into)
                    .collect(),
            }
        })
        .collect()
}

#[test]
fn the_precheck_stops_at_a_stray_payload_and_the_prefix_before_it_commits() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let mut messages = three_blocks(&c, &a);
    let third = messages[2].block.entries[0].payload.as_ref().unwrap().hash;
    messages[2].payloads = vec![b"{\"not\":\"referenced\"}".to_vec().into()];

    let range = precheck_range(a.chain(), 0, messages);
    assert_eq!(
        range.len(),
        2,
        "the precheck keeps the blocks before the bad one"
    );
    assert_eq!(range.next_height(), Some(2));
    assert_eq!(
        range.failure().map(Rejection::reason),
        Some("inline_payloads")
    );

    let mut node = c.ledger();
    let (committed, failure) = node.ingest_prechecked(range, now_ms());
    assert_eq!(committed.len(), 2);
    assert_eq!(failure.map(|f| f.reason()), Some("inline_payloads"));
    assert_eq!(node.store().head(&a.chain()).unwrap().unwrap().height, 1);
    assert!(node.store().payload(&third).unwrap().is_none());
}

#[test]
fn the_precheck_refuses_a_range_of_the_wrong_shape_whole() {
    let c = TestCa::new("Consortium");
    let a = c.provider("Hospital A");
    let messages = three_blocks(&c, &a);

    // Asked from height 1, answered from 0: nothing is kept, not even the valid blocks.
    let range = precheck_range(a.chain(), 1, messages.clone());
    assert!(range.is_empty());
    assert_eq!(range.next_height(), None);
    assert_eq!(range.failure().map(Rejection::reason), Some("range_shape"));
    let mut node = c.ledger();
    let (committed, failure) = node.ingest_prechecked(range, now_ms());
    assert!(committed.is_empty());
    assert_eq!(failure.map(|f| f.reason()), Some("range_shape"));
    assert!(node.store().head(&a.chain()).unwrap().is_none());

    // The same blocks asked from 0: all three pass and commit.
    let range = precheck_range(a.chain(), 0, messages);
    assert_eq!((range.len(), range.next_height()), (3, Some(3)));
    assert!(range.failure().is_none());
    let (committed, failure) = node.ingest_prechecked(range, now_ms());
    assert!(failure.is_none(), "{failure:?}");
    assert_eq!(committed.len(), 3);
}
