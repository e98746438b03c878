//! `[store.objects]`: the node's payloads in S3-compatible object storage instead of the
//! segment files beside its store (docs/operations.md, "Payloads in object storage"), and the
//! `medchain init` flags that write the section.
//!
//! The credentials stay in a file of their own, mode 0600, that the section names:
//!
//! ```toml
//! access_key_id = "..."
//! secret_access_key = "..."
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use medchain_store::ObjectStoreSettings;
use serde::{Deserialize, Serialize};

/// `[store.objects]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectsSection {
    /// The S3 endpoint: `https://host[:port]`, or `http://` with `allow_http`.
    pub endpoint: String,
    /// The bucket (it must exist and take this node's writes).
    pub bucket: String,
    /// Prepended to every object's name: one prefix per node. Empty (a bucket of the node's
    /// own), or ending in `/`; required, so a section written by hand says which.
    pub prefix: String,
    /// The signing region.
    #[serde(default = "default_region")]
    pub region: String,
    /// The access key's file (TOML: `access_key_id`, `secret_access_key`), mode 0600.
    pub credentials_file: PathBuf,
    /// Allow a plain-HTTP endpoint (loopback, or a TLS proxy in front of it).
    #[serde(default)]
    pub allow_http: bool,
    /// A PEM CA certificate to trust for the endpoint, besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
}

fn default_region() -> String {
    "us-east-1".into()
}

/// The credentials file's contents.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    access_key_id: String,
    secret_access_key: String,
}

impl ObjectsSection {
    /// Checks what TOML types cannot express.
    pub fn check(&self) -> Result<()> {
        let plain = self.endpoint.starts_with("http://");
        if !plain && !self.endpoint.starts_with("https://") {
            bail!(
                "store.objects.endpoint must be an https:// URL (or http:// with allow_http), not {:?}",
                self.endpoint
            );
        }
        if plain && !self.allow_http {
            bail!(
                "store.objects.endpoint is plain HTTP: set store.objects.allow_http = true only for loopback or a TLS proxy"
            );
        }
        if self.bucket.is_empty() {
            bail!("store.objects.bucket must not be empty");
        }
        if !(self.prefix.is_empty() || self.prefix.ends_with('/')) || self.prefix.starts_with('/') {
            bail!(
                "store.objects.prefix must be empty or end in '/' (and not start with it), not {:?}",
                self.prefix
            );
        }
        Ok(())
    }

    /// The store's settings: the credentials read from their file (refused unless mode 0600).
    pub fn settings(&self) -> Result<ObjectStoreSettings> {
        let credentials = read_credentials(&self.credentials_file)?;
        let ca_cert_pem = match &self.ca_cert {
            Some(path) => Some(std::fs::read(path).with_context(|| {
                format!("cannot read store.objects.ca_cert {}", path.display())
            })?),
            None => None,
        };
        Ok(ObjectStoreSettings {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            region: self.region.clone(),
            access_key_id: credentials.access_key_id,
            secret_access_key: credentials.secret_access_key,
            allow_http: self.allow_http,
            ca_cert_pem,
        })
    }
}

fn read_credentials(path: &Path) -> Result<Credentials> {
    crate::files::check_private(path)?;
    let text = crate::files::read_text(path)?;
    // Not the parser's message: it quotes the offending line, which may be the secret.
    let credentials: Credentials = toml::from_str(&text).map_err(|error| {
        let line = error.span().map_or(0, |span| {
            let end = span.start.min(text.len());
            text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
        });
        anyhow::anyhow!(
            "{} (line {line}) is not valid: it must hold access_key_id and secret_access_key, as TOML strings, and nothing else",
            path.display()
        )
    })?;
    if credentials.access_key_id.is_empty() || credentials.secret_access_key.is_empty() {
        bail!(
            "{}: the access key ID and secret must not be empty",
            path.display()
        );
    }
    Ok(credentials)
}

/// `medchain init`'s object storage flags: with `--s3-endpoint`, the node's payloads go to the
/// bucket instead of the segment files beside its store.
#[derive(Debug, Args)]
pub struct ObjectStoreArgs {
    /// Keep payloads in S3-compatible object storage at this endpoint (https://host[:port]).
    #[arg(long, requires_all = ["s3_bucket", "s3_credentials", "s3_prefix"])]
    pub s3_endpoint: Option<String>,
    /// The bucket (it must exist).
    #[arg(long, requires = "s3_endpoint")]
    pub s3_bucket: Option<String>,
    /// Prepended to every object's name, ending in '/' (e.g. the node's name): one per node
    /// sharing a bucket, since a node deletes and replaces objects under its own. Empty only for
    /// a bucket of the node's own.
    #[arg(long, requires = "s3_endpoint")]
    pub s3_prefix: Option<String>,
    /// The signing region.
    #[arg(long, requires = "s3_endpoint", default_value = "us-east-1")]
    pub s3_region: String,
    /// The access key's file (TOML: access_key_id, secret_access_key), mode 0600.
    #[arg(long, requires = "s3_endpoint")]
    pub s3_credentials: Option<PathBuf>,
    /// Allow a plain-HTTP endpoint: loopback, or a TLS proxy in front of it.
    #[arg(long, requires = "s3_endpoint")]
    pub s3_allow_http: bool,
    /// A PEM CA certificate to trust for the endpoint, besides the system's.
    #[arg(long, requires = "s3_endpoint")]
    pub s3_ca: Option<PathBuf>,
}

impl ObjectStoreArgs {
    /// The section these flags describe (`None` without `--s3-endpoint`); the credentials file
    /// is read now, so a wrong one shows at set-up.
    pub fn section(&self) -> Result<Option<ObjectsSection>> {
        let (Some(endpoint), Some(bucket), Some(credentials), Some(prefix)) = (
            &self.s3_endpoint,
            &self.s3_bucket,
            &self.s3_credentials,
            &self.s3_prefix,
        ) else {
            return Ok(None);
        };
        read_credentials(credentials)?;
        let absolute = |path: &Path| {
            std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
        };
        let section = ObjectsSection {
            endpoint: endpoint.clone(),
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            region: self.s3_region.clone(),
            credentials_file: absolute(credentials)?,
            allow_http: self.s3_allow_http,
            ca_cert: self.s3_ca.as_deref().map(absolute).transpose()?,
        };
        section.check()?;
        Ok(Some(section))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn section(credentials_file: PathBuf) -> ObjectsSection {
        ObjectsSection {
            endpoint: "https://s3.hospital.example".into(),
            bucket: "medchain".into(),
            prefix: "hospital-1/".into(),
            region: default_region(),
            credentials_file,
            allow_http: false,
            ca_cert: None,
        }
    }

    #[test]
    fn the_section_round_trips_in_the_configuration() {
        let mut config = crate::config::tests::sample();
        config.store.objects = Some(section("/etc/medchain/s3.credentials".into()));
        let text = config.to_documented_toml().unwrap();
        assert!(text.contains("[store.objects]"), "{text}");
        assert!(text.contains("# Payloads in S3-compatible object storage"));
        let back: crate::config::Config = toml::from_str(&text).unwrap();
        assert_eq!(back, config);
        back.check().unwrap();
    }

    #[test]
    fn bad_sections_are_refused() {
        let good = section("/nowhere".into());
        good.check().unwrap();
        let refused = |edit: fn(&mut ObjectsSection), needle: &str| {
            let mut s = good.clone();
            edit(&mut s);
            let error = s.check().unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
        };
        refused(|s| s.endpoint = "s3.hospital.example".into(), "https://");
        refused(
            |s| s.endpoint = "http://127.0.0.1:8333".into(),
            "allow_http",
        );
        refused(|s| s.bucket.clear(), "bucket");
        refused(|s| s.prefix = "hospital-1".into(), "prefix");
        refused(|s| s.prefix = "/hospital-1/".into(), "prefix");
        let mut plain = good.clone();
        plain.endpoint = "http://127.0.0.1:8333".into();
        plain.allow_http = true;
        plain.check().unwrap();
    }

    #[test]
    fn credentials_must_be_private_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.credentials");
        let write = |text: &str, mode: u32| {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        let good = "access_key_id = \"AKIA1\"\nsecret_access_key = \"s3cr3t\"\n";
        write(good, 0o644);
        let error = section(path.clone()).settings().unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
        write("access_key_id = \"AKIA1\"\n", 0o600);
        assert!(section(path.clone()).settings().is_err());
        // A secret copied in unquoted: the error names the line, never the secret.
        write(
            "access_key_id = \"AKIA1\"\nsecret_access_key = wJalrXUtnFEMI\n",
            0o600,
        );
        let error = format!("{:#}", section(path.clone()).settings().unwrap_err());
        assert!(error.contains("line 2"), "{error}");
        assert!(!error.contains("wJalr"), "{error}");
        write("access_key_id = \"\"\nsecret_access_key = \"x\"\n", 0o600);
        assert!(section(path.clone()).settings().is_err());
        write(good, 0o600);
        let settings = section(path).settings().unwrap();
        assert_eq!(settings.access_key_id, "AKIA1");
        assert_eq!(settings.secret_access_key, "s3cr3t");
        // The secret is never printed.
        assert!(!format!("{settings:?}").contains("s3cr3t"));
    }
}
