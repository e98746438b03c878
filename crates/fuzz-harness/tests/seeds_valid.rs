//! The seeds are what they claim to be: valid blocks, messages, frames, certificates and CRLs
//! that get through the node's checks (a seed that failed early would start the fuzzer far from
//! the deep code), and the kept test PKI is coherent.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use medchain_fuzz_harness::pki::{AT_UNIX, NETWORK, Pki, fixtures};
use medchain_fuzz_harness::seeds::{self, Seed};
use medchain_fuzz_harness::target;
use medchain_net::membership::{Refusal, check_hello};
use medchain_protocol::identity::{CertError, Consortium, Role, pem_to_der_cert, pem_to_der_crl};
use medchain_protocol::message::{SyncRequest, SyncResponse, WireMessage};
use medchain_protocol::{Block, BlockMessage, ChainId, EquivocationEvidence};

fn seeds_of(target_name: &str) -> Vec<Seed> {
    let all = seeds::all(&Pki::embedded()).expect("seeds build");
    let some: Vec<Seed> = all
        .into_iter()
        .filter(|s| s.target == target_name)
        .collect();
    assert!(!some.is_empty(), "no seeds for {target_name}");
    some
}

/// A block that passes structure, certificate (as a provider at its time), chain and signature.
fn assert_valid_block(block: &Block, certificate: &[u8]) {
    block.check_structure().expect("structure");
    let consortium = &fixtures().expect("fixtures").consortium;
    let at = block.header.time_ms / 1000;
    let member = consortium
        .verify(certificate, at, Some(Role::Provider))
        .expect("provider certificate");
    assert_eq!(
        ChainId::from_public_key(&member.public_key),
        block.header.chain
    );
    assert!(block.verify_signature(&member.public_key));
}

#[test]
fn every_seed_has_a_target_and_a_unique_name() {
    let all = seeds::all(&Pki::embedded()).unwrap();
    let mut names = std::collections::HashSet::new();
    for seed in &all {
        assert!(target(seed.target).is_some(), "{}", seed.target);
        assert!(
            names.insert((seed.target, seed.name.clone())),
            "{}",
            seed.name
        );
    }
}

#[test]
fn block_and_message_seeds_are_valid() {
    let provider = &fixtures().unwrap().pki.provider;
    for seed in seeds_of("block") {
        assert_valid_block(&Block::decode(&seed.bytes).unwrap(), provider);
    }
    for seed in seeds_of("block_message") {
        let message = BlockMessage::from_wire(&seed.bytes).unwrap();
        assert_valid_block(&message.block, provider);
        assert_eq!(
            message.check_payloads().unwrap().len(),
            message.payloads.len()
        );
    }
}

#[test]
fn evidence_seeds_prove_an_equivocation() {
    let member = fixtures()
        .unwrap()
        .consortium
        .verify(&fixtures().unwrap().pki.provider, AT_UNIX, None)
        .unwrap();
    for seed in seeds_of("evidence") {
        let evidence = EquivocationEvidence::from_wire(&seed.bytes).unwrap();
        assert_eq!(evidence.first.header.height, evidence.second.header.height);
        assert_ne!(evidence.first.header.hash(), evidence.second.header.hash());
        assert!(evidence.first.verify_signature(&member.public_key));
        assert!(evidence.second.verify_signature(&member.public_key));
    }
}

#[test]
fn message_and_frame_seeds_decode() {
    for seed in seeds_of("sync_request") {
        SyncRequest::from_wire(&seed.bytes).unwrap();
    }
    for seed in seeds_of("sync_response") {
        SyncResponse::from_wire(&seed.bytes).unwrap();
    }
    for (target_name, broken) in [
        ("sync_frame_request", "truncated"),
        ("sync_frame_response", "oversized"),
    ] {
        for seed in seeds_of(target_name)
            .into_iter()
            .filter(|s| s.name != broken)
        {
            let len = u32::from_be_bytes(seed.bytes[..4].try_into().unwrap()) as usize;
            assert_eq!(len + 4, seed.bytes.len(), "{}", seed.name);
            let body = &seed.bytes[4..];
            if target_name == "sync_frame_request" {
                SyncRequest::from_wire(body).unwrap();
            } else {
                SyncResponse::from_wire(body).unwrap();
            }
        }
    }
}

#[test]
fn hello_seeds_meet_the_membership_check_as_expected() {
    let f = fixtures().unwrap();
    for seed in seeds_of("hello") {
        let Ok(SyncRequest::Hello(hello)) = SyncRequest::from_wire(&seed.bytes) else {
            panic!("{} is not a hello", seed.name);
        };
        let result = check_hello(&f.consortium, NETWORK, &hello, &f.provider_peer, AT_UNIX);
        match seed.name.as_str() {
            "provider" => assert_eq!(result.unwrap().role, Role::Provider),
            "auditor" => assert!(matches!(result, Err(Refusal::KeyMismatch))),
            "revoked" => assert!(matches!(
                result,
                Err(Refusal::Certificate(CertError::Revoked))
            )),
            "foreign" => assert!(matches!(
                result,
                Err(Refusal::Certificate(CertError::UnknownIssuer))
            )),
            "root" => assert!(result.is_err()),
            other => panic!("unexpected hello seed {other}"),
        }
    }
}

#[test]
fn certificate_and_crl_seeds_are_what_they_claim() {
    let f = fixtures().unwrap();
    let verify = |der: &[u8]| f.consortium.verify(der, AT_UNIX, None);
    for seed in seeds_of("cert_der") {
        let pem = seeds_of("cert_pem")
            .into_iter()
            .find(|s| s.name == seed.name)
            .expect("a PEM seed for every DER seed");
        let pem = String::from_utf8(pem.bytes).unwrap();
        assert_eq!(pem_to_der_cert(&pem).unwrap(), seed.bytes);
        let result = verify(&seed.bytes);
        match seed.name.as_str() {
            "provider" | "auditor" => assert!(result.is_ok(), "{}: {result:?}", seed.name),
            "revoked" => assert!(matches!(result, Err(CertError::Revoked))),
            _ => assert!(result.is_err(), "{}", seed.name),
        }
    }
    let pems = seeds_of("crl_pem");
    for seed in seeds_of("crl_der") {
        let consortium = Consortium::new(f.pki.root.clone(), vec![seed.bytes.clone()]).unwrap();
        let revoked = consortium.revoked_at(&f.pki.revoked).is_some();
        assert_eq!(revoked, seed.name != "empty", "{}", seed.name);
        let pem = pems.iter().find(|s| s.name == seed.name).unwrap();
        let pem = std::str::from_utf8(&pem.bytes).unwrap();
        assert_eq!(pem_to_der_crl(pem).unwrap(), seed.bytes);
    }
}

#[test]
fn api_body_seeds_reach_the_entry_rules() {
    use medchain_protocol::{EntryRef, PseudonymKey};
    use medchain_requests::{NewRecord, NewRecords, RequestError};
    let key = PseudonymKey::from_bytes([1; 32]);
    let position = EntryRef {
        chain: ChainId([2; 32]),
        height: 1,
        index: 0,
    };
    let mut accepted = 0;
    for seed in seeds_of("api_bodies") {
        let (selector, json) = seed.bytes.split_first().unwrap();
        match (*selector, seed.name.as_str()) {
            (0, "record-access") => {
                let request: NewRecord = serde_json::from_slice(json).unwrap();
                assert_eq!(
                    request.into_draft(&key).unwrap_err(),
                    RequestError::AccessSubmitted
                );
            }
            (0, _) => {
                let request: NewRecord = serde_json::from_slice(json).unwrap();
                let (entry, _) = request
                    .into_draft(&key)
                    .unwrap()
                    .sealed_at(position, &medchain_testkit::pki::keyring())
                    .unwrap();
                entry.check_structure(position).unwrap();
                accepted += 1;
            }
            (1, "batch-empty") => {
                let batch: NewRecords = serde_json::from_slice(json).unwrap();
                assert_eq!(batch.into_records().unwrap_err(), RequestError::BatchSize);
            }
            (1, _) => {
                let batch: NewRecords = serde_json::from_slice(json).unwrap();
                assert_eq!(batch.into_records().unwrap().len(), 4);
            }
            (2, _) => {
                let query: medchain_requests::PatientQuery = serde_json::from_slice(json).unwrap();
                query.pseudonym(&key).unwrap();
            }
            _ => {
                let resume: medchain_requests::Resume = serde_json::from_slice(json).unwrap();
                resume.check().unwrap();
            }
        }
        // And the harness itself takes every seed without complaint.
        target("api_bodies").unwrap()(&seed.bytes);
    }
    assert_eq!(accepted, 4, "the four record seeds");
}
