//! The command line, as clap derive types. Each variant's doc comment is its `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use medchain_protocol::identity::Role;

mod record;
mod tls;

pub use record::*;
pub use tls::*;

/// medchain: tamper-evident sharing of medical records between hospitals.
#[derive(Debug, Parser)]
#[command(name = "medchain", version, about, long_about = None)]
pub struct Cli {
    /// Log format of the daemon and of commands that log: text (default) or json.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The consortium certificate authority: create it, issue and revoke member certificates,
    /// verify a certificate.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Write a node configuration (and its API token) for a member issued by `ca issue`.
    Init(Box<Init>),
    /// Run the node daemon until SIGINT or SIGTERM.
    Run(Run),
    /// Records, through a node's API.
    #[command(subcommand)]
    Record(RecordCommand),
    /// Offline proofs of entries (`record proof` saves one): checked with no node and no
    /// network.
    #[command(subcommand)]
    Proof(ProofCommand),
    /// Chains held by a node, and its verifier.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// A node's status.
    Status(Connect),
    /// A node's peers.
    Peers(Connect),
    /// A provider node's writes: they pause at every start and after a rebuild or a repair of
    /// its own chain until a peer confirms its head; `resume` lifts a pause by hand.
    #[command(subcommand)]
    Writes(WritesCommand),
    /// Attack simulation on a stopped node's store (the paper's scenario 2): rewrites stored
    /// bytes past every check, as an attacker with access to the repository would.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
    /// The hospital's offline recovery key: make it, and restore a lost data directory's keys.
    #[command(subcommand)]
    Recovery(RecoveryCommand),
    /// TLS for the API: a local CA and server certificates from it (for a testnet, or a
    /// hospital without a PKI of its own).
    #[command(subcommand)]
    Tls(TlsCommand),
}

/// `medchain proof ...`
#[derive(Debug, Subcommand)]
pub enum ProofCommand {
    /// Check a proof against the consortium root (and, if given, its revocation list), with no
    /// node and no network. Exits 0 if it is valid (and says what it proves), 1 if it is invalid
    /// (and says why), 2 if the input cannot be used (not a proof, unreadable files).
    Verify(ProofVerify),
}

/// Arguments of `proof verify`.
#[derive(Debug, Args)]
pub struct ProofVerify {
    /// The proof file (`medchain record proof`, or `GET /v1/records/{id}/proof`).
    pub file: PathBuf,
    /// The consortium root certificate (PEM), obtained out of band.
    #[arg(long)]
    pub ca: PathBuf,
    /// The consortium's revocation list (PEM); without it revocation is not checked.
    #[arg(long)]
    pub crl: Option<PathBuf>,
}

/// `medchain recovery ...`
#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Make the hospital's recovery key: DIR/recovery.key (mode 0600; keep it offline, like the
    /// CA key) and DIR/recovery.pub (for `[keys] recovery_public`).
    Init(RecoveryInit),
    /// With the node stopped, after it rebuilt its store and fetched its key backups from
    /// peers: restore its data keys from them with the recovery key.
    Restore(RecoveryRestore),
}

/// Arguments of `recovery init`.
#[derive(Debug, Args)]
pub struct RecoveryInit {
    /// Where to write recovery.key and recovery.pub (created if missing).
    #[arg(long)]
    pub out: PathBuf,
}

/// Arguments of `recovery restore`.
#[derive(Debug, Args)]
pub struct RecoveryRestore {
    /// The node's configuration file.
    #[arg(long)]
    pub config: PathBuf,
    /// The private recovery key (recovery.key).
    #[arg(long)]
    pub recovery_key: PathBuf,
}

/// `medchain maintenance ...`: work on a stopped node's files (key rotation), and attack
/// simulation for demonstrations and drills.
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Flip one byte of the stored block at (chain, height): the verifier must find it.
    TamperBlock(TamperBlock),
    /// Replace the node key by a fresh one, re-wrapping every data key under it and destroying
    /// the old key (the node must be stopped). Deleted data keys then cannot be recovered from
    /// the store engine's old log segments.
    RotateNodeKey(RotateNodeKey),
}

/// Arguments of `maintenance rotate-node-key`.
#[derive(Debug, Args)]
pub struct RotateNodeKey {
    /// The node's configuration file (names the node key and the data directory).
    #[arg(long)]
    pub config: PathBuf,
}

/// Arguments of `maintenance tamper-block`.
#[derive(Debug, Args)]
pub struct TamperBlock {
    /// The node's data directory (the node must be stopped).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The chain ID (64 hex characters).
    #[arg(long)]
    pub chain: String,
    /// The height of the block to alter.
    #[arg(long)]
    pub height: u64,
    /// Which byte to flip, counted from the end of the stored block (default 3: inside the last
    /// entry, so the header still hashes right and only the entries root exposes it).
    #[arg(long, default_value_t = 3)]
    pub from_end: usize,
    /// How many consecutive blocks to alter, from `--height` on (default 1).
    #[arg(long, default_value_t = 1)]
    pub count: u64,
}

/// How a client command reaches a node's API: its configuration file (API address and token
/// file), or the address and token file given directly.
#[derive(Debug, Clone, Args)]
pub struct Connect {
    /// The node's configuration file (gives the API address and token).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// The API's base URL, e.g. https://127.0.0.1:8080 (instead of --config).
    #[arg(long, global = true)]
    pub api: Option<String>,
    /// The API token file (instead of --config).
    #[arg(long, global = true)]
    pub token_file: Option<PathBuf>,
    /// The CA certificate (PEM) to trust for the API's TLS (default: the configuration's
    /// `api.tls_ca`, else the web PKI's roots).
    #[arg(long, global = true)]
    pub api_ca: Option<PathBuf>,
}

/// `medchain writes ...`
#[derive(Debug, Subcommand)]
pub enum WritesCommand {
    /// Lift a pause of writes by hand, recorded with who and why. Only for when no peer that
    /// holds this node's chain can confirm its head (its only other holder is offline) and you
    /// know this node holds the newest block of its chain: signing a height a peer holds forks
    /// the chain for good. Refused while part of the chain awaits repair.
    Resume(WritesResume),
}

/// Arguments of `writes resume`.
#[derive(Debug, Args)]
pub struct WritesResume {
    /// How to reach the node.
    #[command(flatten)]
    pub connect: Connect,
    /// Who decides (recorded in the signing record and the node's log).
    #[arg(long)]
    pub actor: String,
    /// Why (recorded).
    #[arg(long)]
    pub reason: String,
}

/// `medchain chain ...`
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Every chain the node holds.
    List(Connect),
    /// Run the node's verifier now and print its report; exit status 1 on a violation.
    Verify(Connect),
}

/// Arguments of `init`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("api_tls").required(true).args(["api_tls_cert", "api_plain_http"])))]
pub struct Init {
    /// The node's role; must match the member certificate's.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// The consortium CA directory or a copy of its public files (ca.pem, crl.pem).
    #[arg(long)]
    pub ca: PathBuf,
    /// The member directory written by `ca issue` (member.pem, member.key, pseudonym.key).
    #[arg(long)]
    pub member: PathBuf,
    /// Where the node keeps its store, token and logs (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Network name: peers on another network are refused.
    #[arg(long, default_value = "medchain-local")]
    pub network: String,
    /// API address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub api_listen: std::net::SocketAddr,
    /// The API's TLS certificate chain (PEM, its own certificate first; `medchain tls issue`
    /// makes one from a local CA).
    #[arg(long, requires = "api_tls_key")]
    pub api_tls_cert: Option<PathBuf>,
    /// The API certificate's private key (PEM, mode 0600).
    #[arg(long, requires = "api_tls_cert")]
    pub api_tls_key: Option<PathBuf>,
    /// The CA certificate that `medchain ... --config` trusts for this node's API (default: the
    /// web PKI's roots).
    #[arg(long, requires = "api_tls_cert")]
    pub api_tls_ca: Option<PathBuf>,
    /// The URL clients reach the API at, by the name its certificate bears (default: the listen
    /// address); `medchain ... --config` uses it.
    #[arg(long)]
    pub api_url: Option<String>,
    /// Serve the API over plain HTTP, not TLS: only on loopback or behind a TLS proxy.
    #[arg(long, conflicts_with_all = ["api_tls_cert", "api_tls_key", "api_tls_ca"])]
    pub api_plain_http: bool,
    /// Peer-to-peer listen multiaddress (repeatable).
    #[arg(long = "p2p-listen", default_value = "/ip4/127.0.0.1/tcp/7000")]
    pub p2p_listen: Vec<String>,
    /// Bootstrap peer multiaddress with /p2p/<peer id> (repeatable).
    #[arg(long)]
    pub bootstrap: Vec<String>,
    /// Seconds between verifier scans (0 = only on demand).
    #[arg(long, default_value_t = 300)]
    pub verifier_interval: u64,
    /// Configuration file to write (default: DATA_DIR/medchain.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The node key (the key-wrapping key of the data keys in the store), outside the data
    /// directory; created (mode 0600) if missing (default: MEMBER/node.key).
    #[arg(long)]
    pub node_key: Option<PathBuf>,
    /// The public half of the hospital's recovery key (recovery.pub, from `medchain recovery
    /// init`): every block's data keys are backed up to it. Without it a lost data directory
    /// loses the keys of this provider's records.
    #[arg(long)]
    pub recovery_public: Option<PathBuf>,
    /// A provider's own patient-pseudonym secret; created (mode 0600) if missing (default:
    /// MEMBER/pseudonym.key). Auditors have none.
    #[arg(long)]
    pub pseudonym_key: Option<PathBuf>,
    /// Payloads in S3-compatible object storage (default: segment files beside the store).
    #[command(flatten)]
    pub objects: crate::object_storage::ObjectStoreArgs,
}

/// Arguments of `run`.
#[derive(Debug, Args)]
pub struct Run {
    /// The configuration file written by `medchain init`.
    #[arg(long)]
    pub config: PathBuf,
}

/// `medchain ca ...`
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the consortium root CA: DIR/ca.pem (certificate), DIR/ca.key (PKCS#8, mode 0600)
    /// and an empty revocation list DIR/crl.pem.
    Init(CaInit),
    /// Issue a member certificate binding an organisation and a role. With --csr, for the keys of
    /// a member's request (`ca request`: its keys never leave it): writes OUT/member.pem and
    /// OUT/ca.pem. Without, for a new Ed25519 key (also the node's libp2p identity) made here:
    /// also OUT/member.key and OUT/encryption.key (0600). Prints the chain ID and PeerId.
    Issue(CaIssue),
    /// On the member's side: make its keys (or take the ones it has, to renew) and a certificate
    /// request for the CA. Writes OUT/member.csr, and OUT/member.key and OUT/encryption.key
    /// (0600) when new; send only member.csr to the CA operator.
    Request(CaRequest),
    /// Revoke a member certificate: adds it to the CA's revocation list DIR/crl.pem.
    Revoke(CaRevoke),
    /// Re-sign the revocation list DIR/crl.pem with the same entries and fresh dates (its
    /// nextUpdate is 30 days out: refresh it before then and redistribute it).
    Crl(CaCrl),
    /// Verify a member certificate against the consortium: prints "valid" and the member, or the
    /// exact reason it is not valid and exits with status 1.
    Verify(CaVerify),
}

/// Arguments of `ca init`.
#[derive(Debug, Args)]
pub struct CaInit {
    /// The consortium's name (the CA certificate's subject).
    #[arg(long)]
    pub name: String,
    /// Directory to write the CA into (created if missing; existing CA files are never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Validity of the root certificate in days.
    #[arg(long, default_value_t = 3650)]
    pub days: u32,
}

/// Arguments of `ca issue`.
#[derive(Debug, Args)]
pub struct CaIssue {
    /// The CA directory (with ca.pem and ca.key).
    #[arg(long)]
    pub ca: PathBuf,
    /// The member's role: a provider publishes records, an auditor only reads.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// The member organisation's name (the certificate's O=).
    #[arg(long)]
    pub org: String,
    /// Directory to write the member's files into (existing files are never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Validity in days.
    #[arg(long, default_value_t = 365)]
    pub days: u32,
    /// A member's certificate request (PEM, from `ca request`): issue for its keys. The role
    /// and organisation are these flags', never the request's.
    #[arg(long)]
    pub csr: Option<PathBuf>,
}

/// Arguments of `ca request`.
#[derive(Debug, Args)]
pub struct CaRequest {
    /// A label for the CA's operator (the organisation asking); the certificate's organisation
    /// is the operator's choice.
    #[arg(long)]
    pub name: String,
    /// Directory to write into (existing files are never overwritten).
    #[arg(long)]
    pub out: PathBuf,
    /// Renew: the member key to request a new certificate for (keeps the chain).
    #[arg(long, requires = "encryption_key")]
    pub key: Option<PathBuf>,
    /// Renew: the member's X25519 encryption key.
    #[arg(long, requires = "key")]
    pub encryption_key: Option<PathBuf>,
}

/// Arguments of `ca revoke`.
#[derive(Debug, Args)]
pub struct CaRevoke {
    /// The CA directory (with ca.pem, ca.key, and crl.pem which is updated).
    #[arg(long)]
    pub ca: PathBuf,
    /// The member certificate (PEM) to revoke.
    #[arg(long)]
    pub cert: PathBuf,
}

/// Arguments of `ca crl`.
#[derive(Debug, Args)]
pub struct CaCrl {
    /// The CA directory (with ca.pem, ca.key and crl.pem).
    #[arg(long)]
    pub ca: PathBuf,
}

/// Arguments of `ca verify`.
#[derive(Debug, Args)]
pub struct CaVerify {
    /// The CA directory (its ca.pem is the trust anchor; its crl.pem is used unless --crl is given).
    #[arg(long)]
    pub ca: PathBuf,
    /// The certificate (PEM) to verify.
    #[arg(long)]
    pub cert: PathBuf,
    /// A revocation list (PEM) to check against instead of the CA directory's crl.pem.
    #[arg(long)]
    pub crl: Option<PathBuf>,
    /// Require this role.
    #[arg(long, value_enum)]
    pub role: Option<RoleArg>,
}

/// A member role on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// May publish records.
    Provider,
    /// May only read.
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::Provider => Role::Provider,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}
