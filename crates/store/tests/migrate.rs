//! A store of schema version 1 (access entries in every entry index) is migrated when opened:
//! access entries end in `accesses` only, and nothing else changes.
// Helpers outside #[test] functions unwrap and panic too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use medchain_protocol::*;
use medchain_store::{Store, tamper};
use medchain_testkit::blocks::*;
use medchain_testkit::stored::*;

/// An access entry (an audited read) of `record`'s version at `version`.
fn access(record: RecordId, version: EntryRef) -> Entry {
    Entry {
        kind: EntryKind::Access,
        record,
        patient: patient(1),
        actor: "nurse-7".into(),
        payload: None,
        parents: vec![Parent::Entry(version)],
    }
}

#[test]
fn a_version_1_store_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Chain::new(9);
    let created = c.push_creates(1);
    let version = c.at(0, 0);
    let record = created.entries[0].record;
    c.push(vec![access(record, version), access(record, version)]);
    let reads = [c.at(1, 0), c.at(1, 1)];
    {
        let mut store = Store::open(dir.path()).unwrap();
        commit(&mut store, &c.blocks);
        assert_eq!(store.access_count(&record, 100).unwrap(), 2);
        assert_eq!(store.record_entries(&record).unwrap(), vec![version]);
        // Rewrite it as version 1 wrote it: accesses in every entry index, none of their own.
        for at in reads {
            let record_key = [&record.0[..], &entry_key(&at)].concat();
            tamper::plant_raw(&mut store, "accesses", &record_key, None).unwrap();
            tamper::plant_raw(&mut store, "records", &record_key, Some(b"")).unwrap();
            let patient_key = [&patient(1).0[..], &entry_key(&at)].concat();
            tamper::plant_raw(&mut store, "patients", &patient_key, Some(b"")).unwrap();
            let down = [&[0u8][..], &entry_key(&version), &entry_key(&at)].concat();
            tamper::plant_raw(&mut store, "prov_down", &down, Some(b"")).unwrap();
            let up = [&entry_key(&at)[..], &[0u8], &entry_key(&version)].concat();
            tamper::plant_raw(&mut store, "prov_up", &up, Some(b"")).unwrap();
        }
        tamper::plant_raw(
            &mut store,
            "meta",
            b"schema_version",
            Some(&1u32.to_be_bytes()),
        )
        .unwrap();
        assert_eq!(store.access_count(&record, 100).unwrap(), 0);
        assert_eq!(store.record_entries(&record).unwrap().len(), 3);
    }
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(store.access_count(&record, 100).unwrap(), 2);
    // Counting stops at the bound asked for (a record read a million times costs no more).
    assert_eq!(store.access_count(&record, 1).unwrap(), 1);
    assert_eq!(
        store.access_entries(&record, None, 10).unwrap(),
        reads.to_vec()
    );
    assert_eq!(
        store.access_entries(&record, Some(&reads[0]), 10).unwrap(),
        vec![reads[1]]
    );
    assert_eq!(store.record_entries(&record).unwrap(), vec![version]);
    assert_eq!(store.patient_entries(&patient(1)).unwrap(), vec![version]);
    assert!(
        store
            .children_of(&Parent::Entry(version))
            .unwrap()
            .is_empty()
    );
    assert_indexed(&store, &c.blocks);
}

/// chain ‖ height BE ‖ index BE, as the store keys an entry.
fn entry_key(at: &EntryRef) -> Vec<u8> {
    [
        &at.chain.as_bytes()[..],
        &at.height.to_be_bytes(),
        &at.index.to_be_bytes(),
    ]
    .concat()
}
