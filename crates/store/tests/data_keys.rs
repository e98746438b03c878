//! Wrapped data keys: stored with no flush of their own, read back, paged in entry order and
//! deleted for good from the tree.
#![allow(clippy::unwrap_used)]

use medchain_protocol::{ChainId, EntryRef};
use medchain_store::Store;

fn at(height: u64, index: u32) -> EntryRef {
    EntryRef {
        chain: ChainId([4; 32]),
        height,
        index,
    }
}

#[test]
fn data_keys_are_kept_paged_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let keys: Vec<(EntryRef, Vec<u8>)> = (0..10u32)
        .map(|i| (at(u64::from(i / 3), i % 3), vec![i as u8; 64]))
        .collect();
    store.put_data_keys(&keys).unwrap();
    store.flush().unwrap();
    drop(store);

    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.data_key_count(), 10);
    assert_eq!(store.data_key(&at(2, 1)).unwrap(), Some(vec![7; 64]));
    assert_eq!(store.data_key(&at(9, 0)).unwrap(), None);
    let first = store.data_keys_after(None, 4).unwrap();
    assert_eq!(first, keys[..4].to_vec());
    let rest = store.data_keys_after(Some(&first[3].0), 100).unwrap();
    assert_eq!(rest, keys[4..].to_vec());

    store.delete_data_keys(&[at(2, 1), at(9, 9)]).unwrap();
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.data_key(&at(2, 1)).unwrap(), None);
    assert_eq!(store.data_key_count(), 9);
}
