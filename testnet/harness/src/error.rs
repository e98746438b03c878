//! What can go wrong reading or driving a testnet, with the node and file it concerns. The
//! underlying error is each variant's `source` (the tools print the chain with `{:#}`).

use std::path::PathBuf;
use std::time::Duration;

/// An error of the testnet library.
#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// The state directory holds no `nodes/`.
    #[error("no testnet at {} (run `scripts/testnet.sh up`)", dir.display())]
    NoTestnet {
        /// The directory looked in.
        dir: PathBuf,
        /// Why it could not be listed.
        source: std::io::Error,
    },
    /// A file the script writes for each node cannot be read.
    #[error("{node}: cannot read {}", file.display())]
    NodeFile {
        /// The node.
        node: String,
        /// The file, relative to the node's directory (or absolute).
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A node's configuration is not TOML.
    #[error("{node}: medchain.toml does not parse")]
    Config {
        /// The node.
        node: String,
        /// The parser's finding.
        source: toml::de::Error,
    },
    /// A node's configuration names no API token file.
    #[error("{node}: its medchain.toml has no api.token_file")]
    NoTokenFile {
        /// The node.
        node: String,
    },
    /// The testnet's API CA file cannot be read.
    #[error("the API CA {} cannot be read: {reason}", file.display())]
    ApiCa {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
    /// No node of that name.
    #[error("no node {0} in the testnet")]
    NoNode(String),
    /// The testnet is smaller than the tool needs.
    #[error(
        "this needs at least {providers} providers and {auditors} auditor(s) (scripts/testnet.sh up)"
    )]
    TooSmall {
        /// Providers needed.
        providers: usize,
        /// Auditors needed.
        auditors: usize,
    },
    /// An output directory cannot be created.
    #[error("cannot create {}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A node's API cannot be reached (refused, timed out, not HTTP).
    #[error("cannot reach {node} at {api}")]
    Unreachable {
        /// The node.
        node: String,
        /// Its API address.
        api: String,
        /// The client's error (boxed: it is large).
        source: Box<ureq::Error>,
    },
    /// A node's answer could not be read (cut off, or over 64 MiB).
    #[error("cannot read {node}'s answer")]
    Answer {
        /// The node.
        node: String,
        /// The client's error.
        source: Box<ureq::Error>,
    },
    /// A node answered with another status than the call needs.
    #[error("{node} {request}: {status} {body}")]
    Status {
        /// The node.
        node: String,
        /// Method and path.
        request: String,
        /// The status it answered.
        status: u16,
        /// Its body, as text.
        body: String,
    },
    /// A program cannot be started.
    #[error("cannot run {}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A program exited with failure.
    #[error("{command} failed: {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its standard error.
        stderr: String,
    },
    /// A condition did not hold in time.
    #[error("timed out after {limit:?} waiting for {what}")]
    TimedOut {
        /// What was waited for.
        what: String,
        /// How long.
        limit: Duration,
    },
}
