//! `medchain init`: writes a node's configuration, its API token, its node key (the
//! key-wrapping key of its data keys, outside the data directory) if it has none, and, for a provider, its
//! signing record (which says this node has never had a chain: the one case in which it may sign
//! a genesis without a peer confirming anything; see `medchain_chain::signing`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use super::ca::{CA_CERT, CA_CRL, ENCRYPTION_KEY, MEMBER_CERT, MEMBER_KEY, PSEUDONYM_KEY};
use crate::cli::{Init, RoleArg};
use crate::config::{
    ApiSection, AuditSection, BatchingSection, Config, IdentitySection, KeysSection, NodeSection,
    P2pSection, VerifierSection,
};
use crate::files::{ensure_dir, random_hex, refuse_existing, write_public, write_secret};

/// The API token file in a data directory.
pub const API_TOKEN: &str = "api.token";

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

fn existing(path: PathBuf) -> Result<PathBuf> {
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    absolute(&path)
}

/// Runs `init`.
pub fn run(args: &Init) -> Result<ExitCode> {
    ensure_dir(&args.data_dir)?;
    let data_dir = absolute(&args.data_dir)?;
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| data_dir.join("medchain.toml"));
    let token_path = data_dir.join(API_TOKEN);
    let signing_path = data_dir.join(crate::daemon::startup::SIGNING_RECORD);
    refuse_existing(&[&config_path, &token_path, &signing_path])?;
    let crl = args.ca.join(CA_CRL);
    let node_key = absolute(
        &args
            .node_key
            .clone()
            .unwrap_or_else(|| args.member.join(crate::node_key::NODE_KEY)),
    )?;
    let config = Config {
        node: NodeSection {
            role: match args.role {
                RoleArg::Provider => "provider".into(),
                RoleArg::Auditor => "auditor".into(),
            },
            network: args.network.clone(),
            data_dir: data_dir.clone(),
        },
        identity: IdentitySection {
            ca_cert: existing(args.ca.join(CA_CERT))?,
            crl: if crl.exists() {
                Some(absolute(&crl)?)
            } else {
                None
            },
            member_cert: existing(args.member.join(MEMBER_CERT))?,
            member_key: existing(args.member.join(MEMBER_KEY))?,
            encryption_key: existing(args.member.join(ENCRYPTION_KEY))?,
            pseudonym_key: match args.role {
                RoleArg::Provider => Some(absolute(
                    &args
                        .pseudonym_key
                        .clone()
                        .unwrap_or_else(|| args.member.join(PSEUDONYM_KEY)),
                )?),
                RoleArg::Auditor => None,
            },
        },
        keys: KeysSection {
            node_key: node_key.clone(),
            recovery_public: match &args.recovery_public {
                Some(path) => {
                    crate::commands::recovery::load_public(path)?;
                    Some(absolute(path)?)
                }
                None => None,
            },
        },
        p2p: P2pSection {
            listen: args.p2p_listen.clone(),
            bootstrap: args.bootstrap.clone(),
        },
        api: ApiSection {
            listen: args.api_listen,
            token_file: token_path.clone(),
            tls_cert: args.api_tls_cert.clone().map(existing).transpose()?,
            tls_key: args.api_tls_key.clone().map(existing).transpose()?,
            tls_ca: args.api_tls_ca.clone().map(existing).transpose()?,
            plain_http: args.api_plain_http,
            url: args.api_url.clone(),
        },
        verifier: VerifierSection {
            interval_secs: args.verifier_interval,
        },
        audit: AuditSection {
            reads: "on".into(),
            local_log: data_dir.join("audit.jsonl"),
        },
        batching: BatchingSection::default(),
        store: crate::config::StoreSection {
            objects: args.objects.section()?,
            ..crate::config::StoreSection::default()
        },
        auth: None,
    };
    config.check()?;
    // The API's certificate and key are loaded now, so that a mismatch shows at set-up.
    if let (Some(cert), Some(key)) = (&config.api.tls_cert, &config.api.tls_key) {
        crate::tls::server_config(cert, key)?;
    }
    if let Some(ca) = &config.api.tls_ca {
        crate::tls::read_certificates(ca)?;
    }
    // An existing node key is kept (a node set up again keeps the key its store's data keys
    // are wrapped under); a missing one is made.
    let node_key_note = if node_key.exists() {
        crate::node_key::load(&node_key)?;
        "(existing, kept)"
    } else {
        crate::node_key::create(&node_key)?;
        "(new, mode 0600: back it up with the member key)"
    };
    // A provider's pseudonym key is its own: kept if it exists (a node set up again must keep
    // its patients' pseudonyms), made here otherwise, never by the CA.
    let pseudonym_note = match &config.identity.pseudonym_key {
        Some(path) if path.exists() => {
            crate::daemon::startup::read_pseudonym_key(path)?;
            Some((path.clone(), "(existing, kept)"))
        }
        Some(path) => {
            let secret = zeroize::Zeroizing::new(random_hex::<32>()?);
            write_secret(path, format!("{}\n", secret.as_str()).as_bytes())?;
            Some((
                path.clone(),
                "(new, this hospital's own, mode 0600: back it up with the member key)",
            ))
        }
        None => None,
    };
    let token = zeroize::Zeroizing::new(random_hex::<32>()?);
    write_secret(&token_path, format!("{}\n", token.as_str()).as_bytes())?;
    write_public(&config_path, config.to_documented_toml()?.as_bytes())?;
    if matches!(args.role, RoleArg::Provider) {
        let chain = own_chain(&config.identity.member_cert)?;
        medchain_store::SigningRecord::create_fresh(&signing_path, chain)
            .context("cannot write the signing record")?;
        println!(
            "signing       {} (this node has never had a chain)",
            signing_path.display()
        );
    }
    println!("node key      {} {node_key_note}", node_key.display());
    if let Some((path, note)) = pseudonym_note {
        println!("pseudonyms    {} {note}", path.display());
    }
    println!("configuration {}", config_path.display());
    println!("api token     {} (mode 0600)", token_path.display());
    println!("api           {}", config.api.local_url());
    println!(
        "start with:   medchain run --config {}",
        config_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The chain a member certificate's key owns.
fn own_chain(member_cert: &Path) -> Result<medchain_protocol::ChainId> {
    let pem = crate::files::read_text(member_cert)?;
    let der = medchain_protocol::identity::pem_to_der_cert(&pem)
        .with_context(|| format!("{} is not a certificate", member_cert.display()))?;
    let key = medchain_protocol::identity::public_key_of(&der)
        .with_context(|| format!("{} holds no Ed25519 key", member_cert.display()))?;
    Ok(medchain_protocol::ChainId::from_public_key(&key))
}
