//! Block structure and signature rules: a forged or altered block is refused.

use medchain_protocol::limits::MAX_WITNESSES;
use medchain_protocol::*;
use medchain_testkit::blocks::*;

fn sample() -> (identity::MemberKey, Block) {
    let k = key(1);
    let chain = chain_of(&k);
    let block = genesis(
        &k,
        vec![
            create_for(
                PatientRef([0x11; 32]),
                chain,
                0,
                0,
                b"{\"resourceType\":\"Observation\"}",
            ),
            create_for(
                PatientRef([0x11; 32]),
                chain,
                0,
                1,
                b"{\"resourceType\":\"Patient\"}",
            ),
        ],
    );
    (k, block)
}

#[test]
fn sealed_block_is_sound() {
    let (k, block) = sample();
    block.check_structure().unwrap();
    assert!(block.verify_signature(&k.public_key()));
    assert!(block.signed_header().verify_signature(&k.public_key()));
}

#[test]
fn forged_signature_rejected() {
    let (k, mut block) = sample();
    // Signed by someone else's key: does not verify under the provider's key.
    block.signature = block.header.sign(&key(2));
    assert!(!block.verify_signature(&k.public_key()));
    // A flipped signature bit.
    let (_, mut block2) = sample();
    block2.signature.0[10] ^= 1;
    assert!(!block2.verify_signature(&k.public_key()));
}

#[test]
fn altered_header_or_entry_detected() {
    let (k, block) = sample();
    // Changing the header invalidates the signature (Figure 1's forgery needs the key).
    let mut later = block.clone();
    later.header.time_ms += 1;
    assert!(!later.verify_signature(&k.public_key()));
    // Changing an entry breaks the entries root even though the header is untouched.
    let mut altered = block.clone();
    altered.entries[1].actor = "intruder".into();
    assert!(altered.verify_signature(&k.public_key()));
    assert_eq!(
        altered.check_structure(),
        Err(BlockError::EntriesRootMismatch)
    );
    // Dropping an entry is caught by the count.
    let mut dropped = block;
    dropped.entries.pop();
    assert!(matches!(
        dropped.check_structure(),
        Err(BlockError::EntryCountMismatch { .. })
    ));
}

#[test]
fn genesis_rules() {
    let (_, mut block) = sample();
    block.certificate = None;
    assert_eq!(block.check_structure(), Err(BlockError::MissingCertificate));
    let (_, mut block) = sample();
    block.certificate = Some(b"another certificate".to_vec());
    assert_eq!(
        block.check_structure(),
        Err(BlockError::CertificateMismatch)
    );
    let (_, mut block) = sample();
    block.header.prev = BlockHash([1; 32]);
    assert_eq!(block.check_structure(), Err(BlockError::BadPrev));
    block.header.version = 1;
    assert_eq!(
        block.check_structure(),
        Err(BlockError::UnsupportedVersion(1))
    );
}

#[test]
fn witness_rules() {
    let k = key(1);
    let head = |c: u8| ChainHead {
        chain: ChainId([c; 32]),
        height: 1,
        hash: BlockHash([c; 32]),
    };
    let with = |witnesses: Vec<ChainHead>| {
        BlockDraft {
            chain: chain_of(&k),
            height: 0,
            prev: BlockHash::ZERO,
            time_ms: 1,
            certificate: b"c".to_vec(),
            carry_certificate: true,
            witnesses,
            entries: vec![],
        }
        .seal(&k)
        .check_structure()
    };
    assert_eq!(with(vec![head(1), head(2)]), Ok(()));
    assert_eq!(with(vec![head(2), head(1)]), Err(BlockError::WitnessOrder));
    assert_eq!(with(vec![head(2), head(2)]), Err(BlockError::WitnessOrder));
    let own = ChainHead {
        chain: chain_of(&k),
        ..head(3)
    };
    assert_eq!(with(vec![own]), Err(BlockError::WitnessOwnChain));
    let many: Vec<_> = (0..=MAX_WITNESSES as u8).map(head).collect();
    assert!(matches!(with(many), Err(BlockError::TooManyWitnesses(_))));
}

#[test]
fn entry_errors_name_the_entry() {
    let k = key(1);
    let chain = chain_of(&k);
    // Entry 1 claims the record ID of position 0: a stolen record ID.
    let mut entries = vec![
        create_for(PatientRef([0x11; 32]), chain, 0, 0, b"a"),
        create_for(PatientRef([0x11; 32]), chain, 0, 1, b"b"),
    ];
    entries[1].record = entries[0].record;
    let block = genesis(&k, entries);
    assert_eq!(
        block.check_structure(),
        Err(BlockError::Entry {
            index: 1,
            error: EntryError::RecordIdMismatch
        })
    );
}

#[test]
fn inline_payloads_must_be_referenced() {
    let body = b"{\"resourceType\":\"Observation\"}";
    let (_, block) = sample();
    let ok = BlockMessage {
        block: block.clone(),
        payloads: vec![body.to_vec().into()],
    };
    assert_eq!(ok.check_payloads().unwrap(), vec![PayloadHash::of(body)]);
    let stray = BlockMessage {
        block: block.clone(),
        payloads: vec![b"not in the block".to_vec().into()],
    };
    assert!(stray.check_payloads().is_err());
    let twice = BlockMessage {
        block,
        payloads: vec![body.to_vec().into(), body.to_vec().into()],
    };
    assert!(twice.check_payloads().is_err());
}

#[test]
fn hello_rules() {
    let hello = Hello {
        network: "testnet".into(),
        certificate: vec![1; 100],
        agent: "medchain/0.1.0".into(),
    };
    hello.check("testnet").unwrap();
    assert!(hello.check("prod").is_err());
    let empty = Hello {
        certificate: vec![],
        ..hello.clone()
    };
    assert!(empty.check("testnet").is_err());
    let agent = Hello {
        agent: "bad\nagent".into(),
        ..hello
    };
    assert!(agent.check("testnet").is_err());
}
