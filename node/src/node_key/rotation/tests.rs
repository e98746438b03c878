//! Rotations, whole and cut short at each step.

use medchain_chain::{Author, KeyRing, Ledger};
use medchain_protocol::EntryRef;
use medchain_protocol::identity::Role;
use medchain_protocol::sealed::{SecretKey, WrappingKey};
use medchain_testkit::clock::now_ms;
use medchain_testkit::drafts::create;
use medchain_testkit::pki::{TestCa, author_of, keyring};

use super::*;

/// A key file holding the test kit's ring key (generation 1), a ledger with records of an
/// author using that ring, and their positions.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    ledger: Ledger,
    author: Author,
    refs: Vec<EntryRef>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let ca = TestCa::new("Consortium");
    let author = author_of(&ca.member(Role::Provider, "Hospital A"));
    let ring_key = WrappingKey::new(SecretKey::from_bytes([0x6b; 32]), 1);
    crate::files::write_secret(&path, render(&ring_key).as_bytes()).unwrap();
    let mut ledger = ca.ledger();
    let drafts = (0..3)
        .map(|i| create(&format!("MRN-{i}"), r#"{"resourceType":"Observation"}"#))
        .collect();
    let refs = ledger.author(&author, drafts, now_ms()).unwrap()[0]
        .refs
        .clone();
    Fixture {
        _dir: dir,
        path,
        ledger,
        author,
        refs,
    }
}

/// Every record of the fixture opens with `ring`.
fn all_open(f: &Fixture, ring: &KeyRing) {
    let store = f.ledger.store();
    for at in &f.refs {
        let block = store.block_at(&at.chain, at.height).unwrap().unwrap();
        let entry = &block.entries[at.index as usize];
        ring.open(store, at, entry).unwrap();
    }
}

#[test]
fn a_rotation_replaces_the_key_file_and_every_key_follows() {
    let mut f = fixture();
    let ring = f.author.keys().clone();
    let done = rotate(&f.path, &ring, &mut f.ledger).unwrap();
    assert_eq!((done.rewrapped, done.unreadable), (3, 0));
    assert!(!next_path(&f.path).exists());
    let on_disk = load(&f.path).unwrap();
    assert_eq!(on_disk.generation(), 2);
    assert_ne!(on_disk.secret().expose(), &[0x6b; 32]);
    assert_eq!(ring.generation(), 2);
    all_open(&f, &ring);
    ring.check_store(f.ledger.store()).unwrap();
    assert!(
        keyring().check_store(f.ledger.store()).is_err(),
        "the store names the new key"
    );
    // A ring from the file alone (a restart) opens them too; the old key opens none.
    all_open(&f, &KeyRing::new(load(&f.path).unwrap()));
    let store = f.ledger.store();
    let at = f.refs[0];
    let block = store.block_at(&at.chain, at.height).unwrap().unwrap();
    assert!(keyring().open(store, &at, &block.entries[0]).is_err());
}

#[test]
fn a_rotation_cut_short_is_finished_at_the_next_start() {
    // Cut after step 1 (and part of step 2): the new key is on disk, some keys moved.
    let mut f = fixture();
    let next = WrappingKey::new(SecretKey::from_bytes([0x44; 32]), 2);
    crate::files::write_secret(&next_path(&f.path), render(&next).as_bytes()).unwrap();
    let (ring, pending) = open_ring(&f.path).unwrap();
    assert!(pending);
    assert_eq!(ring.rotating_to(), Some(2));
    let done = resume(&f.path, &ring, &mut f.ledger).unwrap();
    assert_eq!(done.rewrapped, 3);
    assert_eq!(load(&f.path).unwrap().secret().expose(), &[0x44; 32]);
    all_open(&f, &ring);

    // Cut in step 3, after the old key was overwritten: only the rename is left.
    let third = WrappingKey::new(SecretKey::from_bytes([0x55; 32]), 3);
    crate::files::write_secret(&next_path(&f.path), render(&third).as_bytes()).unwrap();
    ring.begin_rotation(third);
    f.ledger.rewrap_data_keys(&ring).unwrap();
    overwrite(&f.path).unwrap();
    let (ring, pending) = open_ring(&f.path).unwrap();
    assert!(!pending);
    assert_eq!(ring.generation(), 3);
    assert!(!next_path(&f.path).exists());
    all_open(&f, &ring);
}

#[test]
fn an_unfinished_new_key_is_removed_and_a_broken_old_one_stops_the_start() {
    let f = fixture();
    crate::files::write_secret(&next_path(&f.path), b"medchain node key v1\n2 00").unwrap();
    let (ring, pending) = open_ring(&f.path).unwrap();
    assert!(!pending);
    assert_eq!(ring.generation(), 1);
    assert!(!next_path(&f.path).exists());
    let kept = std::fs::read_dir(f.path.parent().unwrap())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".next.unfinished-")
        })
        .count();
    assert_eq!(kept, 1, "the unfinished key is kept aside, not deleted");

    // A valid new key beside an old one that is neither loadable nor overwritten: stop.
    let next = WrappingKey::new(SecretKey::from_bytes([0x44; 32]), 2);
    crate::files::write_secret(&next_path(&f.path), render(&next).as_bytes()).unwrap();
    std::fs::write(&f.path, "damaged").unwrap();
    let error = format!("{:#}", open_ring(&f.path).err().unwrap());
    assert!(error.contains("rotation was interrupted"), "{error}");
    assert!(next_path(&f.path).exists(), "nothing is removed");
}

#[test]
fn a_wrong_node_key_stops_the_rotation_and_destroys_nothing() {
    let mut f = fixture();
    // The operator points the node at another key of the same generation.
    let wrong = WrappingKey::new(SecretKey::from_bytes([0x99; 32]), 1);
    std::fs::remove_file(&f.path).unwrap();
    crate::files::write_secret(&f.path, render(&wrong).as_bytes()).unwrap();
    let (ring, _) = open_ring(&f.path).unwrap();
    assert!(
        ring.check_store(f.ledger.store()).is_err(),
        "the start refuses it"
    );
    let error = format!("{:#}", rotate(&f.path, &ring, &mut f.ledger).unwrap_err());
    assert!(error.contains("before destroying anything"), "{error}");
    // Every key is still there and opens with the right key; the wrong key file is kept.
    assert_eq!(f.ledger.store().data_key_count(), 3);
    all_open(&f, &keyring());
    assert_eq!(load(&f.path).unwrap().secret(), wrong.secret());
}

#[test]
fn a_wrong_node_key_of_a_later_generation_is_refused_too() {
    let mut f = fixture();
    f.ledger.record_node_key(&keyring()).unwrap();
    // Another node's key file, of a later generation than any key in this store.
    let wrong = WrappingKey::new(SecretKey::from_bytes([0x77; 32]), 3);
    std::fs::remove_file(&f.path).unwrap();
    crate::files::write_secret(&f.path, render(&wrong).as_bytes()).unwrap();
    let (ring, _) = open_ring(&f.path).unwrap();
    assert!(matches!(
        ring.check_store(f.ledger.store()),
        Err(medchain_chain::RewrapError::WrongNodeKey)
    ));
    assert_eq!(f.ledger.store().data_key_count(), 3);
    all_open(&f, &keyring());
    // The right key passes, and after a rotation the store names the new key.
    let right = keyring();
    right.check_store(f.ledger.store()).unwrap();
}
