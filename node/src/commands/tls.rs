//! `medchain tls ...`: a local CA for the API's TLS (`ca`) and server certificates from it
//! (`issue`), made with `tls::local_ca`. Keys are written mode 0600 and never overwritten.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{TlsCa, TlsCommand, TlsIssue};
use crate::files::{ensure_dir, read_text, refuse_existing, write_public, write_secret};
use crate::tls::local_ca;

/// The local CA's certificate file name.
pub const CA_CERT: &str = "api-ca.pem";
/// The local CA's key file name.
const CA_KEY: &str = "api-ca.key";
/// A server certificate's file name.
pub const SERVER_CERT: &str = "api.pem";
/// A server key's file name.
pub const SERVER_KEY: &str = "api.key";

/// Runs one tls subcommand.
pub fn run(command: TlsCommand) -> Result<ExitCode> {
    match command {
        TlsCommand::Ca(args) => ca(&args),
        TlsCommand::Issue(args) => issue(&args),
    }
}

fn ca(args: &TlsCa) -> Result<ExitCode> {
    ensure_dir(&args.out)?;
    let (cert, key) = (args.out.join(CA_CERT), args.out.join(CA_KEY));
    refuse_existing(&[&cert, &key])?;
    let made = local_ca::make_ca(&args.name, args.days)?;
    write_secret(&key, made.key_pem.as_bytes())?;
    write_public(&cert, made.cert_pem.as_bytes())?;
    println!(
        "API CA certificate  {} (clients trust it: --api-ca)",
        cert.display()
    );
    println!("API CA key          {} (mode 0600)", key.display());
    Ok(ExitCode::SUCCESS)
}

fn issue(args: &TlsIssue) -> Result<ExitCode> {
    ensure_dir(&args.out)?;
    let (cert, key) = (args.out.join(SERVER_CERT), args.out.join(SERVER_KEY));
    refuse_existing(&[&cert, &key])?;
    let ca_key_path = args.ca.join(CA_KEY);
    crate::files::check_private(&ca_key_path)?;
    let ca_cert = read_text(&args.ca.join(CA_CERT))?;
    let ca_key = zeroize::Zeroizing::new(read_text(&ca_key_path)?);
    let issued = local_ca::issue_server(&ca_cert, &ca_key, &args.hosts, args.days)?;
    write_secret(&key, issued.key_pem.as_bytes())?;
    write_public(&cert, issued.cert_pem.as_bytes())?;
    println!(
        "API certificate  {} (for {})",
        cert.display(),
        args.hosts.join(", ")
    );
    println!("API key          {} (mode 0600)", key.display());
    Ok(ExitCode::SUCCESS)
}
