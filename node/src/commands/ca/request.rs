//! `medchain ca request` (the member's side: its keys and a certificate request; the keys never
//! leave it) and `medchain ca issue --csr` (the CA's side: a certificate for the request's keys,
//! with the role and organisation of the operator's flags). Renewal is a request for the keys a
//! member has: the certificate changes, its chain (the hash of the key) does not.

use std::process::ExitCode;

use anyhow::{Context, Result};
use medchain_protocol::ChainId;
use medchain_protocol::identity::{
    self, EncryptionKey, MemberKey, SystemRandom, pem_to_der_csr, pem_to_der_key,
};

use super::{CA_CERT, ENCRYPTION_KEY, MEMBER_CERT, MEMBER_KEY, load_ca, now_unix, peer_id};
use crate::cli::{CaIssue, CaRequest};
use crate::files::{ensure_dir, read_text, refuse_existing, write_public, write_secret};

/// The request file a member sends its CA.
pub const MEMBER_CSR: &str = "member.csr";

/// `ca request`.
pub fn request(args: &CaRequest) -> Result<ExitCode> {
    ensure_dir(&args.out)?;
    let csr_path = args.out.join(MEMBER_CSR);
    refuse_existing(&[&csr_path])?;
    let (key, encryption, renewal) = match (&args.key, &args.encryption_key) {
        (Some(key), Some(encryption)) => {
            let key_der = pem_to_der_key(&zeroize::Zeroizing::new(read_text(key)?))
                .with_context(|| format!("{} is not a PKCS#8 key", key.display()))?;
            let member = MemberKey::from_pkcs8_der(&key_der)
                .with_context(|| format!("{} is not an Ed25519 member key", key.display()))?;
            let encryption_der =
                pem_to_der_key(&zeroize::Zeroizing::new(read_text(encryption)?))
                    .with_context(|| format!("{} is not a PKCS#8 key", encryption.display()))?;
            let encryption = EncryptionKey::from_pkcs8_der(&encryption_der).map_err(|_| {
                anyhow::anyhow!("{} is not an X25519 encryption key", encryption.display())
            })?;
            (member, encryption, true)
        }
        _ => {
            let (key_path, encryption_path) =
                (args.out.join(MEMBER_KEY), args.out.join(ENCRYPTION_KEY));
            refuse_existing(&[&key_path, &encryption_path])?;
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            let mut ikm = zeroize::Zeroizing::new([0u8; 32]);
            let rng = SystemRandom::new();
            identity::Randomness::fill(&rng, &mut seed[..])?;
            identity::Randomness::fill(&rng, &mut ikm[..])?;
            let member = MemberKey::from_seed(&seed).context("cannot make the member key")?;
            let encryption = EncryptionKey::derive(&ikm);
            write_secret(&key_path, member.to_pkcs8_pem().as_bytes())?;
            write_secret(&encryption_path, encryption.to_pkcs8_pem().as_bytes())?;
            println!(
                "  private key  {} (mode 0600: it never leaves this machine)",
                key_path.display()
            );
            println!(
                "  encryption   {} (X25519, mode 0600)",
                encryption_path.display()
            );
            (member, encryption, false)
        }
    };
    let (_, pem) = identity::make_request(&key, &encryption.public_key(), &args.name)
        .context("cannot make the certificate request")?;
    write_public(&csr_path, pem.as_bytes())?;
    println!(
        "certificate request {} for {:?} ({}): send it to the consortium CA's operator",
        csr_path.display(),
        args.name,
        if renewal {
            "renewal: same keys, same chain"
        } else {
            "new keys"
        }
    );
    println!(
        "  chain id     {}",
        ChainId::from_public_key(&key.public_key())
    );
    println!("  peer id      {}", peer_id(&key)?);
    Ok(ExitCode::SUCCESS)
}

/// `ca issue --csr`.
pub fn issue(args: &CaIssue) -> Result<ExitCode> {
    let Some(csr) = &args.csr else {
        anyhow::bail!("ca issue --csr needs the request file");
    };
    let ca = load_ca(&args.ca)?;
    let csr_der = pem_to_der_csr(&read_text(csr)?)
        .with_context(|| format!("{} is not a PEM certificate request", csr.display()))?;
    let (cert, root) = (args.out.join(MEMBER_CERT), args.out.join(CA_CERT));
    ensure_dir(&args.out)?;
    refuse_existing(&[&cert])?;
    let issued = identity::issue_from_request(
        &ca.cert_der,
        &ca.key_der,
        &csr_der,
        args.role.into(),
        &args.org,
        now_unix(),
        args.days,
        &SystemRandom::new(),
    )
    .with_context(|| format!("cannot issue from {}", csr.display()))?;
    write_public(&cert, issued.cert_pem.as_bytes())?;
    if !root.exists() {
        write_public(&root, ca.cert_pem.as_bytes())?;
    }
    println!(
        "issued {} certificate for {:?} from the request {} (labelled {:?})",
        identity::Role::from(args.role),
        args.org,
        csr.display(),
        issued.requested.label.as_deref().unwrap_or("")
    );
    println!(
        "  compare the chain ID below with the one the member's `ca request` printed, over a channel you trust: a request proves who holds the key, not who sent it"
    );
    println!("  certificate  {}", cert.display());
    println!("  serial       {}", hex::encode(&issued.serial));
    println!(
        "  chain id     {}",
        ChainId::from_public_key(&issued.requested.public_key)
    );
    Ok(ExitCode::SUCCESS)
}
