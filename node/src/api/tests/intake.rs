//! Blocks from outside the network (`POST` of a block in wire form) are judged like gossip: the
//! API's block intake over a real service and ledger.

use super::*;

async fn call_bytes(app: &Router, method: &str, uri: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/octet-stream")
        .body(Body::from(body))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

/// A properly signed genesis block with one create entry, from a member of `ca`.
fn genesis_block_of(ca: &medchain_testkit::pki::TestCa, role: Role) -> Vec<u8> {
    use medchain_protocol::message::WireMessage;
    use medchain_protocol::*;
    let now_ms = crate::service::tests::now_ms();
    let (certificate, key) = ca.cert_and_key(role, "Outsider Clinic");
    let chain = medchain_testkit::blocks::chain_of(&key);
    let payload = br#"{"resourceType":"Observation"}"#.to_vec();
    let entry = medchain_testkit::blocks::create_for(PatientRef([7; 32]), chain, 0, 0, &payload);
    let block = BlockDraft {
        chain,
        height: 0,
        prev: BlockHash::ZERO,
        time_ms: now_ms,
        certificate,
        carry_certificate: true,
        witnesses: vec![],
        entries: vec![entry],
    }
    .seal(&key);
    BlockMessage {
        block,
        payloads: vec![payload.into()],
    }
    .to_wire()
}

#[tokio::test]
async fn blocks_from_outside_are_judged_like_gossip() {
    let app = app(Role::Provider);
    let body = json!({"kind": "create", "patient": "MRN-1", "payload": {"resourceType": "Observation"}, "actor": "dr-1"});
    let (status, _) = call(&app, "POST", "/v1/records", Some(body), true).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, text) = call(&app, "GET", "/v1/chains", None, true).await;
    let chains = json_of(&text);
    let own = chains[0]["chain"].as_str().unwrap().to_owned();

    // Our own block, exported and handed back: already held.
    let (status, wire) = call_bytes(
        &app,
        "GET",
        &format!("/v1/chains/{own}/blocks/0/wire"),
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = call_bytes(&app, "POST", "/v1/blocks", wire).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(
        json_of(&String::from_utf8_lossy(&answer))["outcome"],
        "duplicate"
    );
    let (status, _) = call_bytes(
        &app,
        "GET",
        &format!("/v1/chains/{own}/blocks/9/wire"),
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An outsider's CA of the same name: refused as unknown issuer, stored nowhere.
    let outsider = consortium();
    let (status, answer) = call_bytes(
        &app,
        "POST",
        "/v1/blocks",
        genesis_block_of(&outsider, Role::Provider),
    )
    .await;
    let answer = json_of(&String::from_utf8_lossy(&answer));
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["reason"], "unknown_issuer");
    assert!(
        answer["error"].as_str().unwrap().contains("unknown issuer"),
        "{answer}"
    );
    let outsider_chain = answer["chain"].as_str().unwrap().to_owned();
    let (_, text) = call(&app, "GET", "/v1/chains", None, true).await;
    assert!(!text.contains(&outsider_chain));
    assert_eq!(json_of(&text).as_array().unwrap().len(), 1);

    // Not a block at all.
    let (status, answer) = call_bytes(&app, "POST", "/v1/blocks", b"garbage".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        json_of(&String::from_utf8_lossy(&answer))["reason"],
        "malformed"
    );
}
