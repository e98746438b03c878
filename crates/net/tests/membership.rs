//! Membership gating over loopback TCP: a non-member, a revoked member and a peer presenting
//! someone else's certificate are refused, disconnected and blocked within 5 s; an auditor is
//! admitted as a reader but what it publishes is Rejected before it reaches any node. A member
//! that renews its certificate says so to the peers already admitting it.

use std::sync::Arc;
use std::time::Duration;

use medchain_net::{Topic, start};
use medchain_protocol::identity::{Consortium, Role, revoke};
use medchain_protocol::message::SyncResponse;
use medchain_testkit::clock::now_s;
use medchain_testkit::net::{Store, config, eventually, spawn, start_member, test_config};
use medchain_testkit::pki::TestCa;

const LIMIT: Duration = Duration::from_secs(60);
/// The brief: refused within 5 s (plus a little for the test's polling).
const REFUSAL: Duration = Duration::from_millis(5500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_member_is_disconnected_and_blocked() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Consortium CA");
        let foreign = TestCa::new("Foreign CA");
        let member = start_member(&ca, Role::Provider, "Hospital M", &[], Store::default()).await;
        // The outsider trusts our root, so only its own certificate is at fault.
        let (cert, key) = foreign.cert_and_key(Role::Provider, "Outsider");
        let mut cfg = test_config(ca.consortium.clone(), cert, &key);
        cfg.bootstrap = vec![member.address.clone()];
        let outsider = spawn(cfg, Store::default()).await;
        eventually("outsider refused", REFUSAL, async || {
            member.refused(&outsider.peer_id).is_some()
        })
        .await;
        assert!(member.admitted(&outsider.peer_id).is_none());
        eventually(
            "outsider disconnected",
            Duration::from_secs(2),
            async || {
                !member
                    .client
                    .is_connected(outsider.peer_id)
                    .await
                    .unwrap_or(true)
            },
        )
        .await;
        // Blocked: a new dial is not even connected.
        let _ = outsider.client.dial(member.address.clone()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !member
                .client
                .is_connected(outsider.peer_id)
                .await
                .expect("state")
        );
        let admitted = member.client.admitted_peers().await.expect("peers");
        assert!(admitted.is_empty(), "{admitted:?}");
        member.shutdown().await;
        outsider.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_member_and_borrowed_certificate_are_refused() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Revoking CA");
        let (revoked_cert, revoked_key) = ca.cert_and_key(Role::Provider, "Revoked");
        let crl = revoke(
            &ca.issued.cert_der,
            &ca.issued.key_pkcs8_der,
            None,
            &revoked_cert,
            now_s(),
        )
        .expect("crl");
        let consortium =
            Arc::new(Consortium::new(ca.issued.cert_der.clone(), vec![crl]).expect("trust"));
        let (honest_cert, honest_key) = ca.cert_and_key(Role::Provider, "Honest");
        let member = spawn(
            test_config(consortium.clone(), honest_cert.clone(), &honest_key),
            Store::default(),
        )
        .await;

        let mut cfg = test_config(consortium.clone(), revoked_cert, &revoked_key);
        cfg.bootstrap = vec![member.address.clone()];
        let revoked = spawn(cfg, Store::default()).await;

        // A thief with the honest member's certificate but its own key.
        let (_, thief_key) = ca.cert_and_key(Role::Provider, "Thief");
        let mut cfg = test_config(consortium, honest_cert, &thief_key);
        cfg.bootstrap = vec![member.address.clone()];
        let thief = spawn(cfg, Store::default()).await;

        eventually("both refused", REFUSAL, async || {
            member.refused(&revoked.peer_id).is_some() && member.refused(&thief.peer_id).is_some()
        })
        .await;
        assert_eq!(
            member.refused(&thief.peer_id).as_deref(),
            Some("key mismatch")
        );
        assert!(
            member
                .client
                .admitted_peers()
                .await
                .expect("peers")
                .is_empty()
        );
        member.shutdown().await;
        revoked.shutdown().await;
        thief.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditor_is_admitted_but_cannot_publish() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Audit CA");
        let p2 = start_member(&ca, Role::Provider, "Hospital 2", &[], Store::default()).await;
        let p1 = start_member(&ca, Role::Provider, "Hospital 1", &[&p2], Store::default()).await;
        let auditor =
            start_member(&ca, Role::Auditor, "Audit Office", &[&p1], Store::default()).await;

        eventually("auditor admitted", Duration::from_secs(10), async || {
            p1.admitted(&auditor.peer_id) == Some(Role::Auditor)
                && p1.admitted(&p2.peer_id) == Some(Role::Provider)
        })
        .await;
        for node in [&p1, &p2, &auditor] {
            eventually("mesh formed", Duration::from_secs(20), async || {
                !node
                    .client
                    .mesh_peers(Topic::Blocks)
                    .await
                    .unwrap_or_default()
                    .is_empty()
            })
            .await;
        }

        // The auditor reads: sync requests are answered, provider gossip reaches it.
        let heads = auditor.client.heads(p1.peer_id).await.expect("heads");
        assert_eq!(heads, SyncResponse::Heads(Vec::new()));
        let from_provider = b"provider block".to_vec();
        p2.client
            .publish(Topic::Blocks, from_provider.clone())
            .await
            .expect("publish");
        eventually(
            "provider gossip delivered",
            Duration::from_secs(10),
            async || p1.got(&from_provider) && auditor.got(&from_provider),
        )
        .await;

        // The auditor publishes: Rejected at the first hop before the node sees it.
        let before = p1
            .client
            .peer_score(auditor.peer_id)
            .await
            .expect("score")
            .unwrap_or(0.0);
        let from_auditor = b"auditor block".to_vec();
        auditor
            .client
            .publish(Topic::Blocks, from_auditor.clone())
            .await
            .expect("publish");
        eventually("auditor penalised", Duration::from_secs(10), async || {
            let score = p1.client.peer_score(auditor.peer_id).await.ok().flatten();
            score.is_some_and(|s| s < before - 10.0)
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!p1.got(&from_auditor) && !p2.got(&from_auditor));
        auditor.shutdown().await;
        p1.shutdown().await;
        p2.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_without_listen_addresses_and_shuts_down() {
    // Starting with no listen address still yields a working client.
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Bare CA");
        let (mut cfg, _) = config(&ca, Role::Provider, "Hospital");
        cfg.listen.clear();
        let (client, _events, task) = start(cfg).expect("start");
        assert!(client.listen_addrs().await.expect("addrs").is_empty());
        client.shutdown().await.expect("shutdown");
        task.await.expect("task");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_revocation_list_refuses_an_admitted_peer() {
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Live CRL CA");
        let first = start_member(&ca, Role::Provider, "Hospital 1", &[], Store::default()).await;
        let (later_revoked_cert, key) = ca.cert_and_key(Role::Provider, "Hospital 2");
        let mut cfg = test_config(ca.consortium.clone(), later_revoked_cert.clone(), &key);
        cfg.bootstrap = vec![first.address.clone()];
        let second = spawn(cfg, Store::default()).await;
        let (cfg, _) = config(&ca, Role::Auditor, "Auditor");
        let mut third_cfg = cfg;
        third_cfg.bootstrap = vec![first.address.clone()];
        let third = spawn(third_cfg, Store::default()).await;
        eventually("both admitted", Duration::from_secs(10), async || {
            first.admitted(&second.peer_id).is_some() && first.admitted(&third.peer_id).is_some()
        })
        .await;

        let crl = revoke(
            &ca.issued.cert_der,
            &ca.issued.key_pkcs8_der,
            None,
            &later_revoked_cert,
            now_s(),
        )
        .expect("crl");
        let consortium =
            Arc::new(Consortium::new(ca.issued.cert_der.clone(), vec![crl]).expect("trust"));
        let refused = first.client.set_consortium(consortium).await.expect("set");
        assert_eq!(refused, vec![second.peer_id]);
        eventually("revoked peer disconnected", REFUSAL, async || {
            !first
                .client
                .is_connected(second.peer_id)
                .await
                .unwrap_or(true)
        })
        .await;
        assert!(first.refused(&second.peer_id).is_some());
        let admitted = first.client.admitted_peers().await.expect("peers");
        assert_eq!(admitted, vec![(third.peer_id, Role::Auditor)]);
        first.shutdown().await;
        second.shutdown().await;
        third.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_reaches_the_peers_already_admitting_it() {
    use medchain_protocol::identity::{
        MemberKey, SystemRandom, encryption_key_of, issue_from_request, make_request,
    };
    tokio::time::timeout(LIMIT, async {
        let ca = TestCa::new("Renewing CA");
        let issued = ca.member(Role::Provider, "Hospital A");
        let key = MemberKey::from_pkcs8_der(&issued.key_pkcs8_der).expect("key");
        let a = spawn(
            test_config(ca.consortium.clone(), issued.cert_der.clone(), &key),
            Store::default(),
        )
        .await;
        let b = start_member(&ca, Role::Provider, "Hospital B", &[&a], Store::default()).await;
        eventually("both admitted", LIMIT, async || {
            a.admitted(&b.peer_id).is_some() && b.admitted(&a.peer_id).is_some()
        })
        .await;
        // The certificate B holds A to, as A's next request to B shows it.
        let held_by_b = async || {
            let before = b.seen.lock().expect("lock").requesters.len();
            a.client.heads(b.peer_id).await.expect("heads");
            let seen = b.seen.lock().expect("lock");
            assert_eq!(seen.requesters.len(), before + 1, "the request reached B");
            seen.requesters.last().cloned().expect("a request")
        };
        assert_eq!(held_by_b().await[..], issued.cert_der[..]);

        // The same key, renewed for two years.
        let encryption = encryption_key_of(&issued.cert_der).expect("encryption key");
        let (csr, _) = make_request(&key, &encryption, "Hospital A").expect("request");
        let renewed = issue_from_request(
            &ca.issued.cert_der,
            &ca.issued.key_pkcs8_der,
            &csr,
            Role::Provider,
            "Hospital A",
            now_s(),
            730,
            &SystemRandom::new(),
        )
        .expect("renewal")
        .cert_der;
        // First another member's certificate (a key that is not A's): B checks and refuses it.
        // The renewal follows within B's 0.5 s between two checks (the tests' setting), so its
        // first hello is not checked: only the announcement repeated every second delivers it.
        let (other, _) = ca.cert_and_key(Role::Provider, "Hospital C");
        a.client.set_certificate(other).await.expect("set");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(held_by_b().await[..], issued.cert_der[..], "not taken");
        a.client
            .set_certificate(renewed.clone())
            .await
            .expect("set");
        eventually(
            "the renewal taken by the admitting peer",
            LIMIT,
            async || held_by_b().await[..] == renewed[..],
        )
        .await;
        assert!(b.admitted(&a.peer_id).is_some(), "still admitted");

        // The older certificate (it ends sooner) is not taken back, though announced again.
        tokio::time::sleep(Duration::from_millis(600)).await;
        a.client
            .set_certificate(issued.cert_der.clone())
            .await
            .expect("set");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(held_by_b().await[..], renewed[..], "the admission stays");
        a.shutdown().await;
        b.shutdown().await;
    })
    .await
    .expect("test timed out");
}
