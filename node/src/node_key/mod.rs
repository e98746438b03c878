//! The node key: the key-wrapping key under which every data key in the store is kept.
//!
//! It lives in a file of its own, mode 0600, outside the data directory (`[keys] node_key`): a
//! copy of the data directory alone (a backup, a stolen disk image of the store) opens no
//! payload. The file is text: a header line, then the key's generation and its 64 hex digits.
//!
//! ```text
//! medchain node key v1
//! 1 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! ```
//!
//! The generation rises each time the key is replaced (re-wrapping every live data key under a
//! fresh key, so that deleted keys left in the store engine's old log segments can no longer be
//! opened). This module is the seam for an HSM or a KMS: it hands the rest of the node a
//! [`WrappingKey`], wherever that comes from.

pub mod rotation;

use std::path::Path;

use anyhow::{Context, Result, bail};
use medchain_protocol::sealed::{KEY_BYTES, SecretKey, WrappingKey};
use zeroize::Zeroizing;

/// The first line of a node key file.
const HEADER: &str = "medchain node key v1";

/// The node key file a member directory holds by default.
pub const NODE_KEY: &str = "node.key";

/// Reads the node key at `path`, refusing a file others can read.
pub fn load(path: &Path) -> Result<WrappingKey> {
    crate::files::check_private(path)?;
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the node key {}", path.display()))?,
    );
    parse(&text).with_context(|| format!("{} is not a medchain node key", path.display()))
}

pub(crate) fn parse(text: &str) -> Result<WrappingKey> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        bail!("its first line is not {HEADER:?}");
    }
    let line = lines.next().context("it has no key line")?;
    let (generation, hex_key) = line
        .split_once(' ')
        .context("the key line is not \"GENERATION HEX\"")?;
    let generation: u32 = generation
        .parse()
        .context("the generation is not a number")?;
    let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
    hex::decode_to_slice(hex_key.trim(), &mut bytes[..]).context("the key is not 64 hex digits")?;
    if lines.any(|l| !l.trim().is_empty()) {
        bail!("it has lines after the key");
    }
    Ok(WrappingKey::new(SecretKey::from_bytes(*bytes), generation))
}

/// The file's text for `key`.
pub(crate) fn render(key: &WrappingKey) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "{HEADER}\n{} {}\n",
        key.generation(),
        hex::encode(key.secret().expose())
    ))
}

/// Creates a fresh node key (generation 1) at `path`, which must not exist.
pub fn create(path: &Path) -> Result<WrappingKey> {
    let rng = ring::rand::SystemRandom::new();
    let key = WrappingKey::new(
        SecretKey::generate(&rng).context("the system random number generator failed")?,
        1,
    );
    crate::files::write_secret(path, render(&key).as_bytes())?;
    rotation::sync_parent(path)?;
    Ok(key)
}

/// Refuses a node key inside the data directory (a copy of that directory must not carry the
/// key that opens what it holds).
pub fn check_outside(path: &Path, data_dir: &Path) -> Result<()> {
    let key = resolved(path);
    let data = resolved(data_dir);
    if key.starts_with(&data) {
        bail!(
            "the node key {} is inside the data directory {}: keep it apart (the member directory, say), so a copy of the data directory opens no payload",
            key.display(),
            data.display()
        );
    }
    Ok(())
}

/// `path` with symbolic links and `..` resolved as far as it exists (a key file not made yet
/// is resolved through its directory).
fn resolved(path: &Path) -> std::path::PathBuf {
    if let Ok(real) = std::fs::canonicalize(path) {
        return real;
    }
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => std::fs::canonicalize(dir)
            .map(|d| d.join(name))
            .unwrap_or(absolute.clone()),
        _ => absolute,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_loads_back_and_a_readable_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(NODE_KEY);
        let key = create(&path).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.generation(), 1);
        assert_eq!(loaded.secret(), key.secret());
        assert!(create(&path).is_err(), "an existing key is never replaced");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = load(&path).unwrap_err().to_string();
            assert!(error.contains("chmod 600"), "{error}");
        }
    }

    #[test]
    fn malformed_files_are_refused() {
        for text in [
            "",
            "medchain node key v2\n1 00\n",
            "medchain node key v1\n",
            "medchain node key v1\nx 00\n",
            "medchain node key v1\n1 zz\n",
            &format!("{HEADER}\n1 {}\nmore\n", "00".repeat(32)),
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        let key = parse(&format!("{HEADER}\n7 {}\n", "ab".repeat(32))).unwrap();
        assert_eq!(key.generation(), 7);
        assert_eq!(
            render(&key).as_str(),
            format!("{HEADER}\n7 {}\n", "ab".repeat(32))
        );
    }

    #[test]
    fn a_key_inside_the_data_directory_is_refused() {
        let data = Path::new("/srv/medchain/data");
        assert!(check_outside(&data.join("node.key"), data).is_err());
        assert!(check_outside(Path::new("/srv/medchain/member/node.key"), data).is_ok());
        // Through `..` or a symbolic link too.
        let dir = tempfile::tempdir().unwrap();
        let (data, member) = (dir.path().join("data"), dir.path().join("member"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::create_dir_all(&member).unwrap();
        assert!(check_outside(&member.join("../data/node.key"), &data).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&data, dir.path().join("link")).unwrap();
            assert!(check_outside(&dir.path().join("link/node.key"), &data).is_err());
        }
        assert!(check_outside(&member.join("node.key"), &data).is_ok());
    }
}
