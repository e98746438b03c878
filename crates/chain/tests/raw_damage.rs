//! Raw damage to the store's files (the paper's scenario 2 attacker, byte by byte): whatever
//! sled makes of it, the node never panics, never serves a block other than the one signed,
//! and a scan that says "clean" means every block up to the head it reports is there.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::path::Path;

use medchain_chain::Ledger;
use medchain_protocol::{Block, ChainId};
use medchain_store::{Store, StoreError};
use medchain_testkit::clock::*;
use medchain_testkit::drafts::*;
use medchain_testkit::ledgers::*;
use medchain_testkit::pki::*;

/// A store on disk holding chains A and B, grown until sled has written several segments
/// (damage in an early one is then read back as corrupt, not rolled back); the clean blocks.
fn filled(dir: &Path) -> (TestCa, Vec<(ChainId, Vec<Block>)>) {
    let mut w = world();
    let body = format!(
        r#"{{"resourceType":"Observation","note":"{}"}}"#,
        "x".repeat(2000)
    );
    for i in 0..150 {
        w.clean
            .author(&w.a, vec![create(&format!("MRN-{i}"), &body); 8], now_ms())
            .unwrap();
    }
    let mut node = Ledger::new(Store::open(dir).unwrap(), w.c.trust());
    let mut chains = Vec::new();
    for chain in [w.a.chain(), w.b.chain()] {
        let blocks = chain_blocks(&w.clean, &chain);
        for range in blocks.chunks(64) {
            let (done, failure) = node.ingest_range(range.to_vec(), now_ms());
            assert!(failure.is_none() && !done.is_empty());
        }
        copy_payloads(&w.clean, &mut node, &chain);
        chains.push((chain, blocks));
    }
    // Opened once more, sled writes a snapshot of its page table: from then on it reads pages
    // where they lie instead of replaying its log, as a long-running node's store does, so
    // damage in an old part of the file is met by a read, not rolled back at open.
    drop(node);
    drop(Store::open(dir).unwrap());
    (w.c, chains)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// One trial on a copy of the clean store with `damage` applied to its `db` file.
fn trial(
    clean: &Path,
    c: &TestCa,
    chains: &[(ChainId, Vec<Block>)],
    damage: &dyn Fn(&mut Vec<u8>),
) -> &'static str {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(clean, dir.path());
    let db = dir.path().join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    damage(&mut bytes);
    std::fs::write(&db, &bytes).unwrap();
    let store = match Store::open(dir.path()) {
        Err(StoreError::Unopenable { .. }) => return "unopenable",
        Err(other) => panic!("damage is Unopenable, never {other}"),
        Ok(store) => store,
    };
    let mut ledger = Ledger::new(store, c.trust());
    let outcome = match ledger.verify(now_ms(), now_ms) {
        Err(e) => {
            assert!(
                e.is_corruption(),
                "a damaged store's scan fails as corruption: {e}"
            );
            "scan failed as corruption"
        }
        Ok(report) if report.is_clean() && report.damaged_payloads.is_empty() => {
            // Clean: every block up to each head is there and is the one signed (sled may
            // have rolled back to an older state: fewer blocks, each whole).
            let mut rolled_back = false;
            for (chain, blocks) in chains {
                let head = ledger.store().head(chain).unwrap();
                let held = head.map_or(0, |h| h.height as usize + 1);
                rolled_back |= held < blocks.len();
                for block in &blocks[..held] {
                    let read = ledger.store().block_at(chain, block.header.height).unwrap();
                    assert_eq!(read.as_ref(), Some(block));
                }
            }
            if rolled_back {
                "clean, rolled back"
            } else {
                "clean"
            }
        }
        Ok(_) => "damage found",
    };
    // Whatever the scan said, no read returns a block other than the one signed.
    for (chain, blocks) in chains {
        for block in blocks {
            if let Ok(Some(held)) = ledger.store().block_at(chain, block.header.height) {
                assert_eq!(&held, block, "a damaged block was served");
            }
        }
    }
    outcome
}

#[test]
fn flipped_zeroed_and_truncated_bytes_are_found_or_refused_never_served() {
    let clean = tempfile::tempdir().unwrap();
    let (c, chains) = filled(clean.path());
    let len = std::fs::metadata(clean.path().join("db")).unwrap().len() as usize;
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    let trials = 48;
    for i in 0..trials {
        let at = (i * len / trials + 17) % len;
        let outcome = match i % 4 {
            0 | 1 => trial(clean.path(), &c, &chains, &|b| b[at] ^= 0x5a),
            2 => trial(clean.path(), &c, &chains, &|b| {
                let end = (at + 4096).min(b.len());
                b[at..end].fill(0);
            }),
            _ => trial(clean.path(), &c, &chains, &|b| b.truncate(at.max(1))),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    println!("{trials} trials on a {len}-byte db: {outcomes:?}");
    assert_eq!(outcomes.values().sum::<usize>(), trials);
}
