//! `medchain proof verify`: checks an offline proof with no node and no network, and says in
//! plain words what it proves (exit 0), why it is invalid (exit 1), or why it cannot be checked
//! (exit 2).

use std::process::ExitCode;

use anyhow::{Context, Result};
use medchain_protocol::identity::Consortium;
use medchain_protocol::proof::{self, ProofError, Proven, Revocation};

use super::ca::{read_cert, read_crl, rfc3339};
use crate::cli::{ProofCommand, ProofVerify};

/// Exit code of an invalid proof (unusable input is 2, as every command's error).
const INVALID: u8 = 1;

/// Runs `proof ...`.
pub fn run(command: ProofCommand) -> Result<ExitCode> {
    match command {
        ProofCommand::Verify(args) => verify(&args),
    }
}

fn verify(args: &ProofVerify) -> Result<ExitCode> {
    let root = read_cert(&args.ca)?;
    let crls = match &args.crl {
        Some(path) => vec![read_crl(path)?],
        None => Vec::new(),
    };
    let consortium = Consortium::new(root, crls)
        .context("the CA certificate or revocation list is not usable")?;
    // Read through a limit (a FIFO or a device reports no size): one byte more than a proof
    // may be is enough to refuse it.
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, proof::MAX_PROOF_BYTES as u64 + 1),
        &mut bytes,
    )
    .with_context(|| format!("cannot read {}", args.file.display()))?;
    match proof::verify(&bytes, &consortium) {
        Ok(proven) => {
            print!("{}", describe(&proven));
            Ok(ExitCode::SUCCESS)
        }
        Err(ProofError::Invalid(reason)) => {
            println!("INVALID: {reason}");
            Ok(ExitCode::from(INVALID))
        }
        Err(ProofError::Unusable(reason)) => {
            Err(anyhow::Error::new(reason).context(format!("{}", args.file.display())))
        }
    }
}

/// What a valid proof shows, in words.
fn describe(proven: &Proven) -> String {
    let entry = &proven.entry;
    let position = &proven.position;
    let mut out = String::from("VALID\n");
    out += &format!(
        "  consortium root   sha256:{}\n",
        hex::encode(proven.root_fingerprint)
    );
    out += &format!(
        "  entry             {} of record {}\n",
        entry.kind, entry.record
    );
    out += &format!(
        "  at                chain {} height {} entry {}\n",
        position.chain, position.height, position.index
    );
    out += &format!("  actor             {}\n", entry.actor);
    out += &format!("  patient pseudonym {}\n", entry.patient);
    if let Some(payload) = &entry.payload {
        out += &format!(
            "  payload           {} bytes sealed, {}, hash {}\n",
            payload.len, payload.content_type, payload.hash
        );
    }
    out += &format!(
        "  signed by         {} ({} certificate, serial {})\n",
        proven.signer.org,
        proven.signer.role,
        hex::encode(&proven.signer.serial)
    );
    out += &format!(
        "  block time        {} (as the signer stated it)\n",
        time_of(proven.time_ms)
    );
    out += &format!("  block hash        {}\n", proven.block_hash);
    out += &format!("  revocation        {}\n", revocation(proven.revocation));
    if proven.witnesses.is_empty() {
        out += "  witnesses         none: no other member's block in this proof commits to it\n";
    }
    for witness in &proven.witnesses {
        out += &format!(
            "  witnessed by      {}: its block {} ({}) commits to height {} of this chain; revocation: {}\n",
            witness.signer.org,
            witness.head.height,
            time_of(witness.time_ms),
            witness.witnessed_height,
            revocation(witness.revocation)
        );
    }
    out += &format!(
        "This proves that {} signed this entry into block {} of its chain, under a certificate \
         the consortium root issued, valid at the time the block states (its signer's own \
         word){}.\n",
        proven.signer.org,
        position.height,
        if proven.witnesses.is_empty() {
            String::new()
        } else {
            format!(
                ", and that {} other member(s) signed blocks committing to it, so it existed by \
                 their blocks' times and cannot have been replaced since without their keys",
                proven.witnesses.len()
            )
        }
    );
    out += "It does not show the payload's content: only its hash, which the content must match.\n";
    out
}

fn revocation(revocation: Revocation) -> String {
    match revocation {
        Revocation::NotChecked => "not checked (no --crl given)".to_owned(),
        Revocation::NotRevoked => "not revoked by the list given".to_owned(),
        Revocation::RevokedLater(at) => {
            format!(
                "revoked at {}, after this block (the block stands)",
                rfc3339(at)
            )
        }
    }
}

fn time_of(time_ms: u64) -> String {
    rfc3339(i64::try_from(time_ms / 1000).unwrap_or(i64::MAX))
}
