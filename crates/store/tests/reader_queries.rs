//! The named queries the node's network glue runs on the read handle: the height a chain's next
//! block takes here, and the payloads its blocks reference that the store does not hold.
#![allow(clippy::unwrap_used)]

use medchain_protocol::ChainId;
use medchain_store::Store;
use medchain_testkit::blocks::*;
use medchain_testkit::stored::*;

#[test]
fn next_height_is_one_above_the_head_and_zero_for_a_chain_not_held() {
    let mut store = Store::open_temporary().unwrap();
    let mut a = Chain::new(1);
    a.push_creates(1);
    a.push_creates(1);
    commit(&mut store, &a.blocks);
    let reader = store.reader();
    assert_eq!(reader.next_height(&a.id).unwrap(), 2);
    assert_eq!(reader.next_height(&ChainId([9; 32])).unwrap(), 0);
}

#[test]
fn missing_payloads_names_each_unheld_payload_once_from_the_height_asked() {
    let mut store = Store::open_temporary().unwrap();
    let mut a = Chain::new(1);
    // Height 0: two records; height 1: one record whose payload repeats one at height 0.
    a.push_creates(2);
    let repeated = create(a.id, 1, 0, b"body 0/1");
    let fresh = create(a.id, 1, 1, b"fresh");
    a.push(vec![repeated, fresh]);
    commit(&mut store, &a.blocks);
    store.put_payloads(&[b"body 0/0"]).unwrap();
    let reader = store.reader();

    let from_genesis = reader.missing_payloads(&a.id, 0, 16).unwrap();
    let unheld = |body: &[u8]| medchain_protocol::PayloadHash::of(body);
    assert_eq!(from_genesis, vec![unheld(b"body 0/1"), unheld(b"fresh")]);
    // From height 1 on only: the repeated payload is still unheld, and named once.
    assert_eq!(
        reader.missing_payloads(&a.id, 1, 16).unwrap(),
        vec![unheld(b"body 0/1"), unheld(b"fresh")]
    );
    // At most `limit` blocks are looked at.
    assert_eq!(
        reader.missing_payloads(&a.id, 0, 1).unwrap(),
        vec![unheld(b"body 0/1")]
    );
    store.put_payloads(&[b"body 0/1", b"fresh"]).unwrap();
    assert!(
        store
            .reader()
            .missing_payloads(&a.id, 0, 16)
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .reader()
            .missing_payloads(&ChainId([9; 32]), 0, 16)
            .unwrap()
            .is_empty()
    );
}
