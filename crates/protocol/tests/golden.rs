//! Golden vectors: the exact bytes and hashes of sample objects. If one of these fails, the wire
//! or hash format changed: that must be deliberate, versioned, and written in docs/protocol.md.

use medchain_protocol::hash::Domain;
use medchain_protocol::message::{SyncRequest, WireMessage};
use medchain_protocol::*;
use medchain_testkit::blocks::*;

/// The Figure-3-like sample: provider key seed 0x01, one create entry in a genesis block.
fn sample_block() -> Block {
    let k = key(1);
    let chain = chain_of(&k);
    genesis(
        &k,
        vec![create_for(
            PatientRef([0x11; 32]),
            chain,
            0,
            0,
            b"{\"resourceType\":\"Observation\"}",
        )],
    )
}

fn check(name: &str, actual: &[u8], expected_hex: &str) {
    let actual_hex = hex::encode(actual);
    assert_eq!(actual_hex, expected_hex, "golden vector {name} changed");
}

#[test]
fn chain_id() {
    check("chain id", chain_of(&key(1)).as_bytes(), GOLDEN_CHAIN_ID);
}

#[test]
fn entry_bytes_and_hash() {
    let block = sample_block();
    check("entry bytes", &block.entries[0].encode(), GOLDEN_ENTRY);
    check("entry hash", &block.entries[0].hash(), GOLDEN_ENTRY_HASH);
}

#[test]
fn header_bytes_hash_and_signature() {
    let block = sample_block();
    check("header bytes", &block.header.encode(), GOLDEN_HEADER);
    check("block hash", block.hash().as_bytes(), GOLDEN_BLOCK_HASH);
    check("signature", &block.signature.0, GOLDEN_SIGNATURE);
}

#[test]
fn whole_block_hash() {
    // The full block is long; pin its hash in a neutral domain instead of all its bytes.
    let bytes = sample_block().encode();
    check(
        "block bytes digest",
        &Domain::Payload.hash(&bytes),
        GOLDEN_BLOCK_BYTES_DIGEST,
    );
    assert_eq!(bytes.len(), GOLDEN_BLOCK_LEN);
}

#[test]
fn small_vectors() {
    check(
        "payload hash of \"\"",
        PayloadHash::of(b"").as_bytes(),
        GOLDEN_EMPTY_PAYLOAD_HASH,
    );
    check(
        "record id (chain 0x00.., 7, 3)",
        RecordId::derive(&ChainId([0; 32]), 7, 3).as_bytes(),
        GOLDEN_RECORD_ID,
    );
    let pseudonym =
        PatientRef::pseudonymise(&PseudonymKey::from_bytes([0x42; 32]), "MRN-0042").unwrap();
    check("patient ref", &pseudonym.0, GOLDEN_PATIENT_REF);
    let request = SyncRequest::Blocks {
        chain: ChainId([0xab; 32]),
        from: 300,
        limit: 64,
    };
    check(
        "sync blocks request",
        &request.to_wire(),
        GOLDEN_SYNC_BLOCKS_REQUEST,
    );
}

const GOLDEN_CHAIN_ID: &str = "d2ad5f63acd099342de0ab3c11376e0dd49b3189e007633578fcffdb54b14354";
const GOLDEN_ENTRY: &str = "005a156176de1f5c3c5ac2f06854bcb51f11111111111111111111111111111111111111111111111111111111111111110964722d3430313534320109289619d050485353194fa2e9f1e829d6d6558d36c87c5cd7f4f9135e025e591e156170706c69636174696f6e2f666869722b6a736f6e0000";
const GOLDEN_ENTRY_HASH: &str = "2179bd530819b2e26ba3f92a13dcbc769629b3779892aa272fe6e61221d4b1ca";
const GOLDEN_HEADER: &str = "02d2ad5f63acd099342de0ab3c11376e0dd49b3189e007633578fcffdb54b1435400000000000000000000000000000000000000000000000000000000000000000080d095ffbc31fef861719b69556fdf8fafda288886ef093454860cab3231a67da7c07a475bf02179bd530819b2e26ba3f92a13dcbc769629b3779892aa272fe6e61221d4b1ca0100";
const GOLDEN_BLOCK_HASH: &str = "3b2fc276985b73b5be38080f77189501d6d22678852dc86f413e96ae81003f26";
const GOLDEN_SIGNATURE: &str = "c9f6c16d0c8eb9d3a390059529684f7e6588b01425f1ba5361075e636919c7c026e9191098a0be55fc38de89d31865c471de76d3ca726539fe8c411ad674f40c";
const GOLDEN_BLOCK_BYTES_DIGEST: &str =
    "9b228a9543e91011ad94e1e01912c1d5de57b7e14d8e1ead9b0440bb9840422c";
const GOLDEN_BLOCK_LEN: usize = 347;
const GOLDEN_EMPTY_PAYLOAD_HASH: &str =
    "573eafcebeca53acea71d945698cb5f7994ce6004145e0aadb33bf484ebc4791";
const GOLDEN_RECORD_ID: &str = "06c84079c3c9dceae1479ec2bde35884";
const GOLDEN_PATIENT_REF: &str = "81f522fc9c84d7b7ff153a1199174ae595690b8402b3db8338606a84ac1a7f7f";
const GOLDEN_SYNC_BLOCKS_REQUEST: &str =
    "0202ababababababababababababababababababababababababababababababababac0240";
