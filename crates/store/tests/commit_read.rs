//! Committing blocks and reading everything back: blocks, heads, the chain index, the entry
//! indexes, certificates, payloads; and all of it surviving a close and reopen.
// Helpers outside #[test] functions unwrap and panic too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use medchain_protocol::*;
use medchain_store::{Store, tamper};
use medchain_testkit::blocks::*;
use medchain_testkit::stored::*;

/// Chain A: genesis with two creates; block 1 amends record A/0/0 and derives from both genesis
/// records. Chain B: genesis deriving across chains from A's entries and records.
fn two_chains() -> (Chain, Chain) {
    let mut a = Chain::new(1);
    a.push_creates(2);
    let rec00 = RecordId::derive(&a.id, 0, 0);
    let rec01 = RecordId::derive(&a.id, 0, 1);
    a.push(vec![
        amend(rec00, patient(1), a.at(0, 0), b"v2"),
        derive(
            a.id,
            1,
            1,
            vec![Parent::Entry(a.at(0, 0)), Parent::Record(rec01)],
        ),
    ]);
    let mut b = Chain::new(2);
    let b_id = b.id;
    b.push(vec![derive(
        b_id,
        0,
        0,
        vec![Parent::Entry(a.at(1, 0)), Parent::Record(rec01)],
    )]);
    (a, b)
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn check_everything(store: &Store, a: &Chain, b: &Chain) {
    let (a0, a1, b0) = (&a.blocks[0], &a.blocks[1], &b.blocks[0]);
    // blocks by hash, by position, by range
    assert_eq!(store.block(&a1.hash()).unwrap().as_ref(), Some(a1));
    assert_eq!(store.block(&BlockHash([9; 32])).unwrap(), None);
    assert_eq!(store.block_at(&a.id, 0).unwrap().as_ref(), Some(a0));
    assert_eq!(store.block_at(&a.id, 2).unwrap(), None);
    assert_eq!(
        store.blocks_range(&a.id, 0, 10).unwrap(),
        vec![a0.clone(), a1.clone()]
    );
    assert_eq!(store.blocks_range(&a.id, 1, 1).unwrap(), vec![a1.clone()]);
    assert_eq!(store.blocks_range(&a.id, 0, 1).unwrap(), vec![a0.clone()]);
    assert!(store.blocks_range(&a.id, 0, 0).unwrap().is_empty());
    assert!(store.blocks_range(&a.id, 5, 10).unwrap().is_empty());
    assert_eq!(store.blocks_range(&b.id, 0, 10).unwrap(), vec![b0.clone()]);
    assert_eq!(
        store.raw_block_bytes(&a0.hash()).unwrap(),
        Some(a0.encode())
    );
    // heads and chain index
    assert_eq!(store.head(&a.id).unwrap(), Some(head_of(a1)));
    assert_eq!(store.head(&ChainId([0; 32])).unwrap(), None);
    assert_eq!(
        store.heads().unwrap(),
        sorted(vec![head_of(a1), head_of(b0)])
    );
    assert_eq!(
        store.chain_index(&a.id).unwrap(),
        vec![(0, a0.hash()), (1, a1.hash())]
    );
    assert_eq!(store.block_hash_at(&b.id, 0).unwrap(), Some(b0.hash()));
    assert_eq!(store.block_hash_at(&b.id, 1).unwrap(), None);
    // entry indexes
    let rec00 = RecordId::derive(&a.id, 0, 0);
    let rec01 = RecordId::derive(&a.id, 0, 1);
    assert_eq!(
        store.record_entries(&rec00).unwrap(),
        vec![a.at(0, 0), a.at(1, 0)]
    );
    assert_eq!(store.record_entries(&rec01).unwrap(), vec![a.at(0, 1)]);
    assert!(store.record_entries(&RecordId([0; 16])).unwrap().is_empty());
    assert_eq!(
        store.patient_entries(&patient(1)).unwrap(),
        vec![a.at(0, 0), a.at(0, 1), a.at(1, 0)]
    );
    assert_eq!(
        store.patient_entries(&patient(2)).unwrap(),
        sorted(vec![a.at(1, 1), b.at(0, 0)])
    );
    assert_eq!(
        store.parents_of(&a.at(1, 0)).unwrap(),
        vec![Parent::Entry(a.at(0, 0))]
    );
    assert_eq!(
        store.parents_of(&a.at(1, 1)).unwrap(),
        vec![Parent::Entry(a.at(0, 0)), Parent::Record(rec01)]
    );
    assert!(store.parents_of(&a.at(0, 0)).unwrap().is_empty());
    assert_eq!(
        store.children_of(&Parent::Entry(a.at(0, 0))).unwrap(),
        vec![a.at(1, 0), a.at(1, 1)]
    );
    assert_eq!(
        store.children_of(&Parent::Record(rec01)).unwrap(),
        sorted(vec![a.at(1, 1), b.at(0, 0)])
    );
    assert_eq!(
        store.children_of(&Parent::Entry(a.at(1, 0))).unwrap(),
        vec![b.at(0, 0)]
    );
    // certificates, carried by the genesis blocks
    let cert_a = a.certificate.clone();
    assert_eq!(
        store.certificate(&CertHash::of(&cert_a)).unwrap(),
        Some(cert_a)
    );
    assert_eq!(store.certificate(&CertHash([0; 32])).unwrap(), None);
    // nothing the blocks imply is missing
    assert_indexed(store, [a0, a1, b0]);
}

#[test]
fn commit_then_read_back() {
    let mut store = Store::open_temporary().unwrap();
    let (a, b) = two_chains();
    commit(&mut store, &a.blocks);
    commit(&mut store, &b.blocks);
    check_everything(&store, &a, &b);
    assert_eq!(store.block_count(), 3);
}

#[test]
fn one_batch_across_chains() {
    let mut store = Store::open_temporary().unwrap();
    let (a, b) = two_chains();
    let all: Vec<Block> = a.blocks.iter().chain(&b.blocks).cloned().collect();
    commit(&mut store, &all);
    check_everything(&store, &a, &b);
}

#[test]
fn payloads_are_content_addressed() {
    let mut store = Store::open_temporary().unwrap();
    let hashes = store
        .put_payloads(&[b"{\"a\":1}", b"second", b"second"])
        .unwrap();
    assert_eq!(hashes[0], PayloadHash::of(b"{\"a\":1}"));
    assert_eq!(hashes[1], hashes[2]);
    assert_eq!(store.payload(&hashes[1]).unwrap(), Some(b"second".to_vec()));
    assert!(store.has_payload(&hashes[0]).unwrap());
    assert_eq!(store.payload_count(), 2);
    let absent = PayloadHash::of(b"never stored");
    assert!(!store.has_payload(&absent).unwrap());
    assert_eq!(store.payload(&absent).unwrap(), None);
    // Idempotent, and storing the right bytes again repairs damaged ones.
    tamper::overwrite_payload(&mut store, &hashes[0], b"forged").unwrap();
    assert!(store.payload(&hashes[0]).is_err());
    assert_eq!(
        store.put_payloads(&[b"{\"a\":1}"]).unwrap(),
        vec![hashes[0]]
    );
    assert_eq!(
        store.payload(&hashes[0]).unwrap(),
        Some(b"{\"a\":1}".to_vec())
    );
}

#[test]
fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = two_chains();
    let payload = {
        let mut store = Store::open(dir.path()).unwrap();
        let payload = store.put_payloads(&[b"kept"]).unwrap()[0];
        commit(&mut store, &a.blocks);
        commit(&mut store, &b.blocks);
        payload
    };
    let store = Store::open(dir.path()).unwrap();
    check_everything(&store, &a, &b);
    assert_eq!(store.payload(&payload).unwrap(), Some(b"kept".to_vec()));
    assert!(store.size_on_disk().unwrap() > 0);
}

#[test]
fn heads_never_go_down() {
    let mut store = Store::open_temporary().unwrap();
    let mut c = Chain::new(3);
    for _ in 0..4 {
        c.push_creates(1);
    }
    // The top block first, then the ones below it: the head stays at the top.
    commit(&mut store, &c.blocks[3..]);
    assert_eq!(store.head(&c.id).unwrap(), Some(head_of(&c.blocks[3])));
    commit(&mut store, &c.blocks[..3]);
    assert_eq!(store.head(&c.id).unwrap(), Some(head_of(&c.blocks[3])));
    // Within one batch, in descending order.
    let mut store = Store::open_temporary().unwrap();
    let reversed: Vec<Block> = c.blocks.iter().rev().cloned().collect();
    commit(&mut store, &reversed);
    assert_eq!(store.head(&c.id).unwrap(), Some(head_of(&c.blocks[3])));
    assert_eq!(store.blocks_range(&c.id, 0, 100).unwrap(), c.blocks);
}

#[test]
fn recommitting_a_stored_block_is_a_no_op() {
    let mut store = Store::open_temporary().unwrap();
    let mut c = Chain::new(4);
    c.push_creates(2);
    c.push_creates(1);
    commit(&mut store, &c.blocks);
    // Damage an index entry: re-committing the stored block must not touch (so not repair) it.
    let rec = RecordId::derive(&c.id, 0, 1);
    tamper::remove_record_index(&mut store, &rec, &c.at(0, 1)).unwrap();
    commit(&mut store, &c.blocks[..1]);
    commit(&mut store, &[c.blocks[0].clone(), c.blocks[0].clone()]);
    assert!(store.record_entries(&rec).unwrap().is_empty());
    assert_eq!(store.head(&c.id).unwrap(), Some(head_of(&c.blocks[1])));
    assert_eq!(store.block_count(), 2);
    // An empty batch is fine too.
    store.commit_blocks(&[]).unwrap();
}

#[test]
fn a_batch_with_the_same_block_twice_stores_it_once() {
    let mut store = Store::open_temporary().unwrap();
    let mut c = Chain::new(5);
    let g = c.push_creates(1);
    commit(&mut store, &[g.clone(), g.clone()]);
    assert_eq!(store.block_count(), 1);
    assert_eq!(
        store
            .record_entries(&RecordId::derive(&c.id, 0, 0))
            .unwrap(),
        vec![c.at(0, 0)]
    );
}

#[test]
fn readers_share_the_writers_database() {
    let mut store = Store::open_temporary().unwrap();
    let reader = store.reader();
    let mut c = Chain::new(6);
    commit(&mut store, &[c.push_creates(1)]);
    assert_eq!(reader.head(&c.id).unwrap(), Some(head_of(&c.blocks[0])));
    let handle = std::thread::spawn(move || reader.heads().unwrap().len());
    assert_eq!(handle.join().unwrap(), 1);
}

/// One writer commits while readers on other threads read: every read sees whole blocks.
#[test]
fn reads_run_concurrently_with_the_writer() {
    let mut store = Store::open_temporary().unwrap();
    let chains: Vec<Chain> = (10..14u8)
        .map(|seed| {
            let mut c = Chain::new(seed);
            for _ in 0..8 {
                c.push_creates(2);
            }
            c
        })
        .collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for c in &chains {
            let reader = store.reader();
            let done = &done;
            scope.spawn(move || {
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    // Whatever is visible is a prefix of whole, checked blocks.
                    let held = reader.blocks_range(&c.id, 0, 100).unwrap();
                    assert_eq!(held[..], c.blocks[..held.len()]);
                }
            });
        }
        for height in 0..8 {
            for c in &chains {
                commit(&mut store, std::slice::from_ref(&c.blocks[height]));
            }
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    for c in &chains {
        assert_eq!(store.blocks_range(&c.id, 0, 100).unwrap(), c.blocks);
    }
    assert_eq!(store.heads().unwrap().len(), chains.len());
}

/// The writer moves between the node's tasks; readers are shared and cloned freely.
#[test]
fn writer_is_send_and_sync_and_readers_clone() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    fn assert_clone<T: Clone + Send + Sync + 'static>() {}
    assert_send_sync::<Store>();
    assert_clone::<medchain_store::StoreReader>();
}

#[test]
fn a_long_run_commits_whole_across_several_transactions() {
    // 40 blocks of 8 creates each imply 640 index entries: more than one transaction's worth.
    let mut store = Store::open_temporary().unwrap();
    let mut chain = Chain::new(7);
    for _ in 0..40 {
        chain.push_creates(8);
    }
    commit(&mut store, &chain.blocks);
    assert_eq!(
        store.head(&chain.id).unwrap(),
        chain.blocks.last().map(head_of)
    );
    assert_eq!(store.blocks_range(&chain.id, 0, 100).unwrap(), chain.blocks);
    assert_indexed(&store, &chain.blocks);
}

#[test]
fn many_payloads_are_stored_across_several_batches() {
    let mut store = Store::open_temporary().unwrap();
    let bodies: Vec<Vec<u8>> = (0..300u32).map(|i| i.to_be_bytes().repeat(8)).collect();
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let hashes = store.put_payloads(&refs).unwrap();
    assert_eq!(hashes.len(), 300);
    for (hash, body) in hashes.iter().zip(&bodies) {
        assert_eq!(store.payload(hash).unwrap().as_ref(), Some(body));
    }
}
