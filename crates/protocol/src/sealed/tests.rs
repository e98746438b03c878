//! Sealing and wrapping: round trips, and every binding the associated data promises.

use ring::rand::SystemRandom;

use super::*;
use crate::ids::ChainId;

fn at(height: u64, index: u32) -> EntryRef {
    EntryRef {
        chain: ChainId([7; 32]),
        height,
        index,
    }
}

fn place_at(at: EntryRef, content_type: &str) -> PayloadPlace<'_> {
    PayloadPlace {
        at,
        record: RecordId([9; 16]),
        content_type,
    }
}

#[test]
fn a_payload_opens_only_with_its_key_at_its_place() {
    let rng = SystemRandom::new();
    let place = place_at(at(3, 1), "application/fhir+json");
    let (key, sealed) = seal_new_payload(&rng, &place, b"marker-1234").unwrap();
    assert_eq!(sealed.len(), 11 + SEALING_OVERHEAD);
    assert!(!sealed.windows(6).any(|w| w == b"marker"));
    assert_eq!(
        open_payload(&key, &place, &sealed).unwrap().as_slice(),
        b"marker-1234"
    );

    let other_key = DataKey::generate(&rng).unwrap();
    assert_eq!(
        open_payload(&other_key, &place, &sealed),
        Err(SealError::Open)
    );
    for moved in [
        place_at(at(4, 1), "application/fhir+json"),
        place_at(at(3, 2), "application/fhir+json"),
        place_at(at(3, 1), "application/json"),
        PayloadPlace {
            record: RecordId([8; 16]),
            ..place
        },
        PayloadPlace {
            at: EntryRef {
                chain: ChainId([6; 32]),
                ..place.at
            },
            ..place
        },
    ] {
        assert_eq!(open_payload(&key, &moved, &sealed), Err(SealError::Open));
    }
    let mut flipped = sealed.clone();
    flipped[0] ^= 1;
    assert_eq!(open_payload(&key, &place, &flipped), Err(SealError::Open));
    assert_eq!(
        open_payload(&key, &place, &sealed[..5]),
        Err(SealError::Open)
    );
}

#[test]
fn the_associated_data_is_as_documented() {
    let place = place_at(at(0x0102, 0x0304), "a/b");
    let aad = place.associated_data();
    let mut expected = b"medchain v2 payload".to_vec();
    expected.extend_from_slice(&[7; 32]);
    expected.extend_from_slice(&[9; 16]);
    expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
    expected.extend_from_slice(&[0, 0, 3, 4]);
    expected.push(3);
    expected.extend_from_slice(b"a/b");
    assert_eq!(aad, expected);
}

#[test]
fn a_wrapped_key_unwraps_only_for_its_entry_and_generation() {
    let rng = SystemRandom::new();
    let data = DataKey::generate(&rng).unwrap();
    let kek = WrappingKey::new(SecretKey::generate(&rng).unwrap(), 5);
    let wrapped = kek.wrap(&rng, &at(1, 2), &data).unwrap();
    assert_eq!(wrapped_generation(&wrapped), Ok(5));
    assert!(!wrapped.windows(8).any(|w| w == &data.expose()[..8]));
    assert_eq!(kek.unwrap(&at(1, 2), &wrapped).unwrap(), data);
    assert_eq!(kek.unwrap(&at(1, 3), &wrapped), Err(SealError::Open));

    let next = WrappingKey::new(SecretKey::generate(&rng).unwrap(), 6);
    assert_eq!(
        next.unwrap(&at(1, 2), &wrapped),
        Err(SealError::Generation {
            found: 5,
            expected: 6
        })
    );
    let mut forged = wrapped;
    forged[..4].copy_from_slice(&6u32.to_be_bytes());
    assert_eq!(next.unwrap(&at(1, 2), &forged), Err(SealError::Open));
    assert_eq!(
        kek.unwrap(&at(1, 2), &wrapped[1..]),
        Err(SealError::WrappedLength(WRAPPED_KEY_BYTES - 1))
    );
    // Two wraps of one key differ (random nonces).
    assert_ne!(kek.wrap(&rng, &at(1, 2), &data).unwrap(), wrapped);
}

#[test]
fn keys_print_nothing_of_themselves() {
    let key = SecretKey::from_bytes([0xab; 32]);
    assert_eq!(format!("{key:?}"), "SecretKey(..)");
    let kek = WrappingKey::new(key, 1);
    assert!(!format!("{kek:?}").contains("ab"));
}
