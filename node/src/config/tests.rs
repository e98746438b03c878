//! The configuration's round trip and its refusals.

use super::*;

pub(crate) fn sample() -> Config {
    Config {
        node: NodeSection {
            role: "provider".into(),
            network: "medchain-local".into(),
            data_dir: "/var/lib/medchain".into(),
        },
        identity: IdentitySection {
            ca_cert: "/etc/medchain/ca.pem".into(),
            crl: Some("/etc/medchain/crl.pem".into()),
            member_cert: "/etc/medchain/member.pem".into(),
            member_key: "/etc/medchain/member.key".into(),
            encryption_key: "/etc/medchain/encryption.key".into(),
            pseudonym_key: Some("/etc/medchain/pseudonym.key".into()),
        },
        keys: KeysSection {
            node_key: "/etc/medchain/node.key".into(),
            recovery_public: Some("/etc/medchain/recovery.pub".into()),
        },
        p2p: P2pSection {
            listen: vec!["/ip4/127.0.0.1/tcp/7000".into()],
            bootstrap: vec![],
        },
        api: ApiSection {
            listen: "127.0.0.1:8080".parse().unwrap(),
            token_file: "/var/lib/medchain/api.token".into(),
            tls_cert: Some("/etc/medchain/api.pem".into()),
            tls_key: Some("/etc/medchain/api.key".into()),
            tls_ca: None,
            plain_http: false,
            url: None,
        },
        verifier: VerifierSection { interval_secs: 300 },
        audit: AuditSection {
            reads: "on".into(),
            local_log: "/var/lib/medchain/audit.jsonl".into(),
        },
        batching: BatchingSection::default(),
        store: StoreSection::default(),
        auth: None,
    }
}

#[test]
fn documented_toml_round_trips() {
    let config = sample();
    let text = config.to_documented_toml().unwrap();
    assert!(text.contains("# role: provider"));
    let back: Config = toml::from_str(&text).unwrap();
    assert_eq!(back, config);
}

#[test]
fn bad_values_are_refused() {
    let mut c = sample();
    c.node.role = "admin".into();
    assert!(c.check().unwrap_err().to_string().contains("node.role"));
    let mut c = sample();
    c.node.network = "has space".into();
    assert!(c.check().is_err());
    let mut c = sample();
    c.audit.reads = "maybe".into();
    assert!(c.check().is_err());
    let mut c = sample();
    c.store.cache_mib = 2;
    assert!(
        c.check()
            .unwrap_err()
            .to_string()
            .contains("store.cache_mib")
    );
    let mut c = sample();
    c.api.tls_key = None;
    assert!(c.check().unwrap_err().to_string().contains("go together"));
    c.api.tls_cert = None;
    assert!(c.check().unwrap_err().to_string().contains("plain_http"));
    c.api.plain_http = true;
    c.check().unwrap();
    assert_eq!(c.api.local_url(), "http://127.0.0.1:8080");
    c.api.tls_cert = Some("/etc/medchain/api.pem".into());
    c.api.tls_key = Some("/etc/medchain/api.key".into());
    assert!(c.check().unwrap_err().to_string().contains("choose one"));
    c.api.plain_http = false;
    c.api.listen = "0.0.0.0:8443".parse().unwrap();
    assert_eq!(c.api.local_url(), "https://127.0.0.1:8443");
    c.api.url = Some("https://medchain.hospital.example:8443/".into());
    assert_eq!(c.api.local_url(), "https://medchain.hospital.example:8443");
    c.api.url = Some("medchain.hospital.example:8443".into());
    assert!(c.check().unwrap_err().to_string().contains("api.url"));
    c.api.url = Some("http://medchain.hospital.example:8443".into());
    assert!(c.check().unwrap_err().to_string().contains("https"));
    let mut c = sample();
    c.p2p.listen = vec!["/ip4/0.0.0.0/udp/7000/quic-v1".into()];
    assert!(c.check().unwrap_err().to_string().contains("QUIC"));
    c.p2p.listen = vec!["/dns4/quic-gw.hospital.example/tcp/7000".into()];
    c.check().unwrap();
    let text = sample()
        .to_documented_toml()
        .unwrap()
        .replace("[verifier]", "[verifier]\nsurprise = 1");
    assert!(toml::from_str::<Config>(&text).is_err());
}
