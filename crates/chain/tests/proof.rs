//! Proofs built from a ledger (`medchain_chain::proof`): the entry's block, and for each other
//! member's chain the first of its blocks naming the entry's chain at or above it (found by
//! bisection), with the headers linking back; a second key of the entry's own organisation is
//! no witness. Every proof built verifies offline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use medchain_chain::proof;
use medchain_protocol::EntryRef;
use medchain_protocol::proof::verify;
use medchain_testkit::ledgers::{grow, reads};
use medchain_testkit::pki::TestCa;

#[test]
fn the_first_witnessing_block_of_each_other_member_is_found_and_verifies() {
    let c = TestCa::new("Consortium");
    let (a, b) = (c.provider("Hospital A"), c.provider("Hospital B"));
    let a_again = c.provider("Hospital A");
    let mut ledger = c.ledger();
    grow(&mut ledger, &a, 3, "a"); // A0..A2
    grow(&mut ledger, &b, 1, "b"); // B0 names A2
    grow(&mut ledger, &a, 3, "a2"); // A3..A5
    grow(&mut ledger, &b, 2, "b2"); // B1, B2 name A5
    grow(&mut ledger, &a_again, 1, "x"); // A's second key names A5: the same member
    let trust = c.trust();
    let reads = reads(&ledger);
    let at = |height| EntryRef {
        chain: a.chain(),
        height,
        index: 0,
    };

    for (height, witness_height, named) in [(1, 0, 2), (4, 1, 5), (5, 1, 5)] {
        let bundle = proof::build(&reads, &trust, at(height)).unwrap();
        let proven = verify(&bundle.to_canonical_json(), &c.consortium).unwrap();
        assert_eq!(proven.position, at(height));
        assert_eq!(proven.signer.org, "Hospital A");
        assert_eq!(proven.witnesses.len(), 1, "height {height}: {proven:?}");
        let witness = &proven.witnesses[0];
        assert_eq!(witness.signer.org, "Hospital B");
        assert_eq!(witness.head.chain, b.chain());
        assert_eq!(
            (witness.head.height, witness.witnessed_height),
            (witness_height, named),
            "height {height}"
        );
        assert_eq!(bundle.witnesses[0].links.len() as u64, named - height);
    }

    // B's last block: nothing later commits to it but A's second key, which is A itself.
    let last_b = EntryRef {
        chain: b.chain(),
        height: 2,
        index: 0,
    };
    let bundle = proof::build(&reads, &trust, last_b).unwrap();
    let proven = verify(&bundle.to_canonical_json(), &c.consortium).unwrap();
    assert_eq!(proven.witnesses.len(), 1);
    assert_eq!(proven.witnesses[0].signer.org, "Hospital A");

    // An entry not held.
    let beyond = EntryRef {
        chain: a.chain(),
        height: 99,
        index: 0,
    };
    assert!(matches!(
        proof::build(&reads, &trust, beyond),
        Err(proof::ProofBuildError::NotHeld(_))
    ));
}
