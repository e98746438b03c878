//! Careful file handling for key material and certificates.
//!
//! Secret keys are created with mode 0600 and never overwritten: issuing into a directory that
//! already holds a key is an error, not a silent replacement of a hospital's identity.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Creates `dir` (and parents) if missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Fails if any of `paths` exists, naming it.
pub fn refuse_existing(paths: &[&Path]) -> Result<()> {
    for path in paths {
        if path.exists() {
            bail!(
                "{} already exists; refusing to overwrite it (move it away first)",
                path.display()
            );
        }
    }
    Ok(())
}

/// Writes a new secret file readable by its owner only. Fails if it exists.
pub fn write_secret(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes a public file (certificate, CRL), replacing it atomically if it exists.
pub fn write_public(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents)
        .and_then(|()| fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Refuses a key file that its group or others may read or write.
pub fn check_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} has mode {:o}: a secret must be readable by its owner only (chmod 600)",
                path.display(),
                mode & 0o777
            );
        }
    }
    Ok(())
}

/// Reads a text file (PEM), naming it in the error.
pub fn read_text(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `N` random bytes from the operating system, as lowercase hex (for secrets and tokens).
pub fn random_hex<const N: usize>() -> Result<String> {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = zeroize::Zeroizing::new([0u8; N]);
    SystemRandom::new()
        .fill(&mut bytes[..])
        .map_err(|_| anyhow::anyhow!("the system random number generator failed"))?;
    Ok(hex::encode(&bytes[..]))
}
