//! `medchain ca ...`: the consortium certificate authority on the command line.
//!
//! The cryptography is `medchain_protocol::identity`; this module only reads and writes files and
//! prints. File names are fixed so that other tools (the testnet script, operators) can rely on
//! them: in a CA directory `ca.pem`, `ca.key`, `crl.pem`; in a member directory `member.pem`,
//! `member.key`, `ca.pem`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use medchain_protocol::ChainId;
use medchain_protocol::identity::{self, Consortium, Member, MemberKey};

use crate::cli::{CaCommand, CaCrl, CaInit, CaIssue, CaRevoke, CaVerify};

mod request;
use crate::files::{ensure_dir, read_text, refuse_existing, write_public, write_secret};

/// Certificate file of a CA directory.
pub const CA_CERT: &str = "ca.pem";
/// Private key file of a CA directory.
pub const CA_KEY: &str = "ca.key";
/// Revocation list of a CA directory.
pub const CA_CRL: &str = "crl.pem";
/// Certificate file of a member directory.
pub const MEMBER_CERT: &str = "member.pem";
/// Private key file of a member directory.
pub const MEMBER_KEY: &str = "member.key";
/// The member's X25519 encryption key (PKCS#8, mode 0600): data keys are released to it.
pub const ENCRYPTION_KEY: &str = "encryption.key";
/// A provider's own patient-pseudonym secret (64 hex characters, mode 0600), made by
/// `medchain init` in the member directory: no other member, and not the CA, holds it.
pub const PSEUDONYM_KEY: &str = "pseudonym.key";

/// Runs one `ca` subcommand.
pub fn run(command: CaCommand) -> Result<ExitCode> {
    match command {
        CaCommand::Init(args) => init(&args),
        CaCommand::Issue(args) if args.csr.is_some() => request::issue(&args),
        CaCommand::Issue(args) => issue(&args),
        CaCommand::Request(args) => request::request(&args),
        CaCommand::Revoke(args) => revoke(&args),
        CaCommand::Crl(args) => refresh(&args),
        CaCommand::Verify(args) => verify(&args),
    }
}

pub(super) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn init(args: &CaInit) -> Result<ExitCode> {
    let (cert, key, crl) = (
        args.out.join(CA_CERT),
        args.out.join(CA_KEY),
        args.out.join(CA_CRL),
    );
    ensure_dir(&args.out)?;
    refuse_existing(&[&cert, &key, &crl])?;
    let now = now_unix();
    let ca = identity::create_root_ca(
        &args.name,
        now,
        args.days,
        &medchain_protocol::identity::SystemRandom::new(),
    )
    .context("cannot create the root CA")?;
    let empty_crl = identity::empty_crl(&ca.cert_der, &ca.key_pkcs8_der, now)
        .context("cannot create the revocation list")?;
    write_secret(&key, ca.key_pkcs8_pem.as_bytes())?;
    write_public(&cert, ca.cert_pem.as_bytes())?;
    write_public(&crl, identity::crl_to_pem(&empty_crl).as_bytes())?;
    println!("consortium CA {:?} created", args.name);
    println!("  certificate  {}", cert.display());
    println!(
        "  private key  {} (mode 0600: keep it offline)",
        key.display()
    );
    println!("  revocations  {}", crl.display());
    println!(
        "  fingerprint  {}",
        hex::encode(Consortium::fingerprint_of(&ca.cert_der))
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) struct LoadedCa {
    cert_der: Vec<u8>,
    cert_pem: String,
    key_der: zeroize::Zeroizing<Vec<u8>>,
}

pub(super) fn load_ca(dir: &Path) -> Result<LoadedCa> {
    let cert_pem = read_text(&dir.join(CA_CERT))?;
    let cert_der = identity::pem_to_der_cert(&cert_pem)
        .with_context(|| format!("{} is not a certificate", dir.join(CA_CERT).display()))?;
    let key_pem = zeroize::Zeroizing::new(read_text(&dir.join(CA_KEY))?);
    let key_der = identity::pem_to_der_key(&key_pem)
        .with_context(|| format!("{} is not a PKCS#8 key", dir.join(CA_KEY).display()))?;
    Ok(LoadedCa {
        cert_der,
        cert_pem,
        key_der,
    })
}

fn issue(args: &CaIssue) -> Result<ExitCode> {
    let ca = load_ca(&args.ca)?;
    let (cert, key, encryption, root) = (
        args.out.join(MEMBER_CERT),
        args.out.join(MEMBER_KEY),
        args.out.join(ENCRYPTION_KEY),
        args.out.join(CA_CERT),
    );
    ensure_dir(&args.out)?;
    refuse_existing(&[&cert, &key, &encryption])?;
    let member = identity::issue_member(
        &ca.cert_der,
        &ca.key_der,
        args.role.into(),
        &args.org,
        now_unix(),
        args.days,
        &medchain_protocol::identity::SystemRandom::new(),
    )
    .context("cannot issue the member certificate")?;
    write_secret(&key, member.key_pkcs8_pem.as_bytes())?;
    write_secret(&encryption, member.encryption_key.to_pkcs8_pem().as_bytes())?;
    write_public(&cert, member.cert_pem.as_bytes())?;
    write_public(&root, ca.cert_pem.as_bytes())?;
    let loaded = MemberKey::from_pkcs8_der(&member.key_pkcs8_der)
        .context("the new key does not load back")?;
    println!(
        "issued {} certificate for {:?}",
        identity::Role::from(args.role),
        args.org
    );
    println!("  certificate  {}", cert.display());
    println!("  private key  {} (mode 0600)", key.display());
    println!(
        "  encryption   {} (X25519, mode 0600; bound by the certificate)",
        encryption.display()
    );
    println!("  serial       {}", hex::encode(&member.serial));
    println!(
        "  chain id     {}",
        ChainId::from_public_key(&member.public_key)
    );
    println!("  peer id      {}", peer_id(&loaded)?);
    Ok(ExitCode::SUCCESS)
}

/// The libp2p PeerId of a member key: the key is also the node's network identity.
pub fn peer_id(key: &MemberKey) -> Result<libp2p_identity::PeerId> {
    let mut seed = key.secret_seed();
    let keypair = libp2p_identity::Keypair::ed25519_from_bytes(&mut *seed)
        .context("libp2p refuses the member key")?;
    Ok(keypair.public().to_peer_id())
}

fn revoke(args: &CaRevoke) -> Result<ExitCode> {
    let ca = load_ca(&args.ca)?;
    let crl_path = args.ca.join(CA_CRL);
    let existing = match crl_path.exists() {
        true => Some(read_crl(&crl_path)?),
        false => None,
    };
    let cert_der = read_cert(&args.cert)?;
    let crl = identity::revoke(
        &ca.cert_der,
        &ca.key_der,
        existing.as_deref(),
        &cert_der,
        now_unix(),
    )
    .context("cannot revoke")?;
    write_public(&crl_path, identity::crl_to_pem(&crl).as_bytes())?;
    println!(
        "revoked {} (serial {}); revocation list {} updated: distribute it to every node",
        args.cert.display(),
        identity::serial_of(&cert_der)
            .map(hex::encode)
            .unwrap_or_default(),
        crl_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn refresh(args: &CaCrl) -> Result<ExitCode> {
    let ca = load_ca(&args.ca)?;
    let crl_path = args.ca.join(CA_CRL);
    let crl = identity::refresh_crl(&ca.cert_der, &ca.key_der, &read_crl(&crl_path)?, now_unix())
        .context("cannot re-sign the revocation list")?;
    write_public(&crl_path, identity::crl_to_pem(&crl).as_bytes())?;
    println!(
        "revocation list {} re-signed, valid for {} days: distribute it to every node",
        crl_path.display(),
        identity::CRL_VALIDITY_DAYS
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn read_crl(path: &Path) -> Result<Vec<u8>> {
    identity::pem_to_der_crl(&read_text(path)?)
        .with_context(|| format!("{} is not a PEM revocation list", path.display()))
}

pub(super) fn read_cert(path: &Path) -> Result<Vec<u8>> {
    identity::pem_to_der_cert(&read_text(path)?)
        .with_context(|| format!("{} is not a PEM certificate", path.display()))
}

fn verify(args: &CaVerify) -> Result<ExitCode> {
    let root = read_cert(&args.ca.join(CA_CERT))?;
    let crl_path = args.crl.clone().unwrap_or_else(|| args.ca.join(CA_CRL));
    let crls = match crl_path.exists() {
        true => vec![read_crl(&crl_path)?],
        false if args.crl.is_some() => anyhow::bail!("{} does not exist", crl_path.display()),
        false => vec![],
    };
    let consortium = Consortium::new(root, crls).context("the consortium is misconfigured")?;
    let cert = read_cert(&args.cert)?;
    let now = u64::try_from(now_unix()).unwrap_or(0);
    match consortium.verify(&cert, now, args.role.map(Into::into)) {
        Ok(member) => {
            print_member(&member);
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("invalid: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_member(member: &Member) {
    println!("valid");
    println!("  organisation {}", member.org);
    println!("  role         {}", member.role);
    println!(
        "  chain id     {}",
        ChainId::from_public_key(&member.public_key)
    );
    println!("  serial       {}", hex::encode(&member.serial));
    println!("  valid from   {}", rfc3339(member.not_before));
    println!("  valid until  {}", rfc3339(member.not_after));
}

/// A Unix time as RFC 3339 UTC, or the raw number if it is out of range.
pub(super) fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("unix time {unix}"))
}
