//! Offline proofs (`medchain_protocol::proof`): a bundle built from signed blocks verifies under
//! its consortium root, says who signed what and which later blocks commit to it, and fails on
//! any byte changed, on another root, on a broken link and on a certificate revoked before the
//! block. The committed test vector (tests/vectors/proof, docs/protocol.md section 11) verifies
//! to the values asserted here, and no single changed byte of it verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use medchain_protocol::identity::{
    self, Consortium, MemberKey, Role, pem_to_der_cert, pem_to_der_crl,
};
use medchain_protocol::proof::{self, Invalid, ProofBundle, ProofError, Revocation, Witness};
use medchain_protocol::{Block, BlockDraft, BlockHash, BlockHeader, ChainHead, ChainId, EntryKind};
use medchain_testkit::blocks::{chain_of, create};
use medchain_testkit::clock::now_s;
use medchain_testkit::pki::TestCa;

/// One provider's chain with real certificates and chosen witnesses.
struct Member {
    key: MemberKey,
    certificate: Vec<u8>,
    blocks: Vec<Block>,
}

impl Member {
    fn new(ca: &TestCa, org: &str) -> Self {
        let (certificate, key) = ca.cert_and_key(Role::Provider, org);
        Self {
            key,
            certificate,
            blocks: Vec::new(),
        }
    }

    fn chain(&self) -> ChainId {
        chain_of(&self.key)
    }

    fn head(&self) -> ChainHead {
        let last = self.blocks.last().unwrap();
        ChainHead {
            chain: self.chain(),
            height: last.header.height,
            hash: last.hash(),
        }
    }

    fn push(&mut self, creates: u32, time_s: i64, witnesses: Vec<ChainHead>) -> &Block {
        let height = self.blocks.len() as u64;
        let chain = self.chain();
        let block = BlockDraft {
            chain,
            height,
            prev: self.blocks.last().map_or(BlockHash::ZERO, Block::hash),
            time_ms: u64::try_from(time_s).unwrap() * 1000,
            certificate: self.certificate.clone(),
            carry_certificate: height == 0,
            witnesses,
            entries: (0..creates)
                .map(|i| create(chain, height, i, format!("body {height}/{i}").as_bytes()))
                .collect(),
        }
        .seal(&self.key);
        block.check_structure().unwrap();
        self.blocks.push(block);
        self.blocks.last().unwrap()
    }

    fn headers(&self, from: u64, to: u64) -> Vec<BlockHeader> {
        (from..=to)
            .map(|h| self.blocks[h as usize].header.clone())
            .collect()
    }
}

/// Hospital A's chain (3 blocks), B's block naming A's head 2, C's naming A's head 0; the
/// bundle proves entry 1 of A's block 0.
struct Fixture {
    ca: TestCa,
    a: Member,
    b: Member,
    c: Member,
    bundle: ProofBundle,
}

fn fixture(block_time: i64) -> Fixture {
    let ca = TestCa::new("Proof Consortium");
    let (mut a, mut b, mut c) = (
        Member::new(&ca, "Hospital A"),
        Member::new(&ca, "Hospital B"),
        Member::new(&ca, "Hospital C"),
    );
    a.push(3, block_time, vec![]);
    c.push(1, block_time + 1, sorted(vec![a.head()]));
    a.push(2, block_time + 2, vec![]);
    a.push(0, block_time + 3, vec![]);
    b.push(1, block_time + 4, sorted(vec![a.head(), c.head()]));
    let witnesses = vec![
        (
            b.chain(),
            Witness::new(&b.blocks[0], &b.certificate, &a.headers(1, 2)),
        ),
        (c.chain(), Witness::new(&c.blocks[0], &c.certificate, &[])),
    ];
    let bundle = ProofBundle::new(
        ca.consortium.root_fingerprint(),
        &a.blocks[0],
        &a.certificate,
        1,
        witnesses,
    )
    .unwrap();
    Fixture {
        ca,
        a,
        b,
        c,
        bundle,
    }
}

fn sorted(mut heads: Vec<ChainHead>) -> Vec<ChainHead> {
    heads.sort_by_key(|h| h.chain);
    heads
}

fn invalid(bytes: &[u8], consortium: &Consortium) -> Invalid {
    match proof::verify(bytes, consortium) {
        Err(ProofError::Invalid(invalid)) => invalid,
        other => panic!("expected an invalid proof, got {other:?}"),
    }
}

#[test]
fn a_bundle_proves_who_signed_the_entry_and_which_blocks_commit_to_it() {
    let f = fixture(now_s() - 60);
    let proven = proof::verify(&f.bundle.to_canonical_json(), &f.ca.consortium).unwrap();
    assert_eq!(proven.entry, f.a.blocks[0].entries[1]);
    assert_eq!(proven.entry.kind, EntryKind::Create);
    assert_eq!(
        proven.position,
        medchain_protocol::EntryRef {
            chain: f.a.chain(),
            height: 0,
            index: 1
        }
    );
    assert_eq!(proven.block_hash, f.a.blocks[0].hash());
    assert_eq!(proven.signer.org, "Hospital A");
    assert_eq!(proven.revocation, Revocation::NotChecked);
    assert_eq!(proven.witnesses.len(), 2);
    let by_org = |org: &str| {
        proven
            .witnesses
            .iter()
            .find(|w| w.signer.org == org)
            .unwrap()
    };
    assert_eq!(by_org("Hospital B").witnessed_height, 2);
    assert_eq!(by_org("Hospital B").head.hash, f.b.blocks[0].hash());
    assert_eq!(by_org("Hospital C").witnessed_height, 0);
    assert_eq!(by_org("Hospital C").head.chain, f.c.chain());
}

#[test]
fn a_proof_for_another_root_or_with_a_rewritten_root_fails() {
    let f = fixture(now_s() - 60);
    let bytes = f.bundle.to_canonical_json();
    let other = TestCa::new("Proof Consortium");
    assert!(matches!(
        invalid(&bytes, &other.consortium),
        Invalid::OtherConsortium { .. }
    ));
    // The attacker's root named in the bundle: the signers' certificates do not chain to it.
    let mut forged = f.bundle.clone();
    forged.consortium_root_sha256.0 = other.consortium.root_fingerprint();
    assert!(matches!(
        invalid(&forged.to_canonical_json(), &other.consortium),
        Invalid::Certificate { .. }
    ));
}

#[test]
fn rewritten_content_is_caught_by_the_hash_or_signature_that_covers_it() {
    let f = fixture(now_s() - 60);
    let consortium = &f.ca.consortium;
    // Another entry of the same block, or a changed entry, at the proven index.
    let mut other_entry = f.bundle.clone();
    other_entry.entry.0 = f.a.blocks[0].entries[2].encode();
    assert!(matches!(
        invalid(&other_entry.to_canonical_json(), consortium),
        Invalid::NotInBlock
    ));
    // A witness's linking header from another block of the chain.
    let mut relinked = f.bundle.clone();
    relinked.witnesses[usize::from(f.b.chain() > f.c.chain())].links[0].0 =
        f.a.blocks[2].header.encode();
    assert!(matches!(
        invalid(&relinked.to_canonical_json(), consortium),
        Invalid::BrokenLink { link: 0, .. }
    ));
    // A witness carrying fewer links than the heights it spans.
    let mut short = f.bundle.clone();
    short.witnesses[usize::from(f.b.chain() > f.c.chain())]
        .links
        .pop();
    assert!(matches!(
        invalid(&short.to_canonical_json(), consortium),
        Invalid::LinkCount { .. }
    ));
    // The witnesses' order is part of the one form.
    let mut reordered = f.bundle.clone();
    reordered.witnesses.reverse();
    assert!(matches!(
        invalid(&reordered.to_canonical_json(), consortium),
        Invalid::WitnessOrder(1)
    ));
    // Another member's certificate: not the one the header names.
    let mut recertified = f.bundle.clone();
    recertified.block.certificate.0 = f.b.certificate.clone();
    assert!(matches!(
        invalid(&recertified.to_canonical_json(), consortium),
        Invalid::CertificateNotNamed { .. }
    ));
    // White space is outside every hash, so the one byte form covers it.
    let mut spaced = f.bundle.to_canonical_json();
    spaced.insert(1, b' ');
    assert!(matches!(
        invalid(&spaced, consortium),
        Invalid::NotCanonical
    ));
}

#[test]
fn revocation_after_the_block_keeps_it_and_before_it_does_not() {
    let now = now_s();
    let f = fixture(now - 3600);
    let crl = identity::revoke(
        &f.ca.issued.cert_der,
        &f.ca.issued.key_pkcs8_der,
        None,
        &f.a.certificate,
        now,
    )
    .unwrap();
    let with_crl = Consortium::new(f.ca.issued.cert_der.clone(), vec![crl]).unwrap();
    let proven = proof::verify(&f.bundle.to_canonical_json(), &with_crl).unwrap();
    assert_eq!(proven.revocation, Revocation::RevokedLater(now));
    assert!(
        proven
            .witnesses
            .iter()
            .all(|w| w.revocation == Revocation::NotRevoked)
    );

    // Without a witness that is not revoked and timed before the revocation, the block's time
    // is only the revoked key's word: not enough.
    let mut alone = f.bundle.clone();
    alone.witnesses.clear();
    assert!(matches!(
        invalid(&alone.to_canonical_json(), &with_crl),
        Invalid::RevokedUnwitnessed { revoked_at } if revoked_at == now
    ));
    // Without the list, revocation is not checked, and the same proof stands.
    let proven = proof::verify(&alone.to_canonical_json(), &f.ca.consortium).unwrap();
    assert_eq!(proven.revocation, Revocation::NotChecked);

    // A block timed after the revocation is not covered.
    let late = fixture(now + 3600);
    let crl = identity::revoke(
        &late.ca.issued.cert_der,
        &late.ca.issued.key_pkcs8_der,
        None,
        &late.a.certificate,
        now,
    )
    .unwrap();
    let with_crl = Consortium::new(late.ca.issued.cert_der.clone(), vec![crl]).unwrap();
    assert!(matches!(
        invalid(&late.bundle.to_canonical_json(), &with_crl),
        Invalid::Certificate {
            error: identity::CertError::Revoked,
            ..
        }
    ));
}

#[test]
fn witnesses_must_be_other_members_naming_the_entry_s_chain() {
    let f = fixture(now_s() - 60);
    let consortium = &f.ca.consortium;
    // Hospital A's second key (a new chain, same organisation) cannot vouch for A.
    let mut a2 = Member::new(&f.ca, "Hospital A");
    a2.push(1, now_s() - 30, vec![f.a.head()]);
    let mut own = f.bundle.clone();
    own.witnesses = vec![Witness::new(
        &a2.blocks[0],
        &a2.certificate,
        &f.a.headers(1, 2),
    )];
    assert!(matches!(
        invalid(&own.to_canonical_json(), consortium),
        Invalid::WitnessSameMember(0)
    ));
    // A block of another member that names no head of the entry's chain.
    let mut d = Member::new(&f.ca, "Hospital D");
    d.push(1, now_s() - 30, vec![]);
    let mut unrelated = f.bundle.clone();
    unrelated.witnesses = vec![Witness::new(&d.blocks[0], &d.certificate, &[])];
    assert!(matches!(
        invalid(&unrelated.to_canonical_json(), consortium),
        Invalid::WitnessNamesNoHead(0)
    ));
    // Links that are A's real headers but stop short of the head the witness named.
    let mut e = Member::new(&f.ca, "Hospital E");
    e.push(1, now_s() - 30, vec![f.a.head()]);
    let mut short = f.bundle.clone();
    short.witnesses = vec![Witness::new(
        &e.blocks[0],
        &e.certificate,
        &f.a.headers(1, 1),
    )];
    assert!(matches!(
        invalid(&short.to_canonical_json(), consortium),
        Invalid::LinkCount {
            expected: 2,
            found: 1,
            ..
        }
    ));
    // A signed header that breaks the block rules (its witnesses out of order) proves nothing.
    let mut g = Member::new(&f.ca, "Hospital G");
    let mut heads = sorted(vec![f.a.head(), f.c.head()]);
    heads.reverse();
    g.blocks.push(
        BlockDraft {
            chain: g.chain(),
            height: 0,
            prev: BlockHash::ZERO,
            time_ms: u64::try_from(now_s() - 30).unwrap() * 1000,
            certificate: g.certificate.clone(),
            carry_certificate: true,
            witnesses: heads,
            entries: vec![],
        }
        .seal(&g.key),
    );
    let mut unruly = f.bundle.clone();
    unruly.witnesses = vec![Witness::new(
        &g.blocks[0],
        &g.certificate,
        &f.a.headers(1, 2),
    )];
    assert!(matches!(
        invalid(&unruly.to_canonical_json(), consortium),
        Invalid::HeaderRule { .. }
    ));
}

#[test]
fn input_that_is_no_proof_is_unusable_not_invalid() {
    let f = fixture(now_s() - 60);
    let consortium = &f.ca.consortium;
    for bytes in [
        &b""[..],
        b"{}",
        b"[1,2]",
        b"{\"format\":\"medchain-proof-v9\"}",
    ] {
        assert!(
            matches!(
                proof::verify(bytes, consortium),
                Err(ProofError::Unusable(_))
            ),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
    // The file's text in an error is escaped: no control sequence reaches the terminal.
    let hostile = b"{\"format\":\"medchain-proof-v1\",\"\x1b[2J\":1}";
    let error = proof::verify(hostile, consortium).unwrap_err().to_string();
    assert!(!error.contains('\x1b'), "{error}");
    let huge = vec![b' '; proof::MAX_PROOF_BYTES + 1];
    assert!(matches!(
        proof::verify(&huge, consortium),
        Err(ProofError::Unusable(_))
    ));
}

/// The committed vector: docs/protocol.md section 11 describes it.
fn vector() -> (Vec<u8>, Consortium, Consortium) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/proof");
    let bytes = std::fs::read(dir.join("proof.json")).unwrap();
    let root = pem_to_der_cert(&std::fs::read_to_string(dir.join("ca.pem")).unwrap()).unwrap();
    let crl = pem_to_der_crl(&std::fs::read_to_string(dir.join("crl.pem")).unwrap()).unwrap();
    (
        bytes,
        Consortium::new(root.clone(), vec![]).unwrap(),
        Consortium::new(root, vec![crl]).unwrap(),
    )
}

#[test]
fn the_committed_vector_verifies_to_its_documented_values() {
    let (bytes, consortium, with_crl) = vector();
    let proven = proof::verify(&bytes, &consortium).unwrap();
    assert_eq!(proven.signer.org, "Hospital A");
    assert_eq!(proven.position.height, 0);
    assert_eq!(proven.position.index, 1);
    assert_eq!(proven.entry.kind, EntryKind::Create);
    assert_eq!(proven.revocation, Revocation::NotChecked);
    let witnessed = |org: &str| {
        let found = proven.witnesses.iter().filter(|w| w.signer.org == org);
        found.map(|w| w.witnessed_height).collect::<Vec<_>>()
    };
    assert_eq!(proven.witnesses.len(), 2);
    assert_eq!(witnessed("Hospital B"), [2]);
    assert_eq!(witnessed("Hospital C"), [0]);
    // The vector's CRL revokes Hospital C's certificate after its block.
    let proven = proof::verify(&bytes, &with_crl).unwrap();
    assert_eq!(proven.revocation, Revocation::NotRevoked);
    let c = proven
        .witnesses
        .iter()
        .find(|w| w.signer.org == "Hospital C")
        .unwrap();
    assert!(matches!(c.revocation, Revocation::RevokedLater(_)));
}

#[test]
fn no_single_changed_byte_of_the_vector_verifies() {
    let (bytes, consortium, _) = vector();
    let mut changed = bytes.clone();
    for at in 0..bytes.len() {
        // Two changes per byte: a hex digit to another hex digit (stays canonical JSON wherever
        // the byte is a digit), and any other byte.
        for replacement in [
            if bytes[at] == b'0' { b'1' } else { b'0' },
            bytes[at] ^ 0x20,
        ] {
            if replacement == bytes[at] {
                continue;
            }
            changed[at] = replacement;
            assert!(
                proof::verify(&changed, &consortium).is_err(),
                "byte {at} changed to {replacement:#04x} still verifies"
            );
        }
        changed[at] = bytes[at];
    }
}

/// Writes tests/vectors/proof afresh: `cargo test -p medchain-protocol --test proof --
/// --ignored write_the_vector`, then update docs/protocol.md section 11 if its values changed.
#[test]
#[ignore = "writes the committed test vector"]
fn write_the_vector() {
    let now = now_s();
    let f = fixture(now - 120);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/proof");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("proof.json"), f.bundle.to_canonical_json()).unwrap();
    std::fs::write(
        dir.join("ca.pem"),
        identity::cert_to_pem(&f.ca.issued.cert_der),
    )
    .unwrap();
    let crl = identity::revoke(
        &f.ca.issued.cert_der,
        &f.ca.issued.key_pkcs8_der,
        None,
        &f.c.certificate,
        now,
    )
    .unwrap();
    std::fs::write(dir.join("crl.pem"), identity::crl_to_pem(&crl)).unwrap();
}
