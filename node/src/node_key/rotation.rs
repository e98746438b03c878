//! Replacing the node key: every live data key is re-wrapped under a fresh node key, then the
//! old key is overwritten and dropped. This is what makes deleting a data key final: sled's old
//! log segments may still hold a deleted key's wrapped bytes, but nothing can open them once the
//! node key they were wrapped under is gone.
//!
//! The steps, each durable before the next, so a crash at any point is finished at the next
//! start ([`resume`]):
//!
//! 1. the new key is written to `NODE_KEY.next` (0600, fsynced);
//! 2. the ring wraps new keys under it, and every stored key is re-wrapped (store flushed);
//! 3. the old file is overwritten with zeros (fsynced), then `NODE_KEY.next` is renamed over it
//!    and the directory fsynced.
//!
//! At start: a `.next` file beside the key means a rotation was under way. If the old key still
//! reads, the rotation is resumed from step 2; if it was already overwritten (step 3 was
//! reached), every key is under the new one and only the rename is left. A `.next` file that
//! does not parse was cut short in step 1, before any key used it: it is renamed aside (kept).
//!
//! Callers hold the store's lock (open the store first): two processes must never rotate, or
//! resume a rotation, at once.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use medchain_chain::{KeyRing, Ledger, Rewrapped};
use medchain_protocol::sealed::{SecretKey, WrappingKey};
use tracing::{info, warn};

use super::{load, parse, render};

/// The file a rotation writes the new key to, beside the key file.
pub fn next_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".next");
    path.with_file_name(name)
}

/// The ring for a node about to start, and whether a rotation must be finished once the store
/// is open ([`resume`]).
pub fn open_ring(path: &Path) -> Result<(KeyRing, bool)> {
    let next_file = next_path(path);
    if !next_file.exists() {
        return Ok((KeyRing::new(load(path)?), false));
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(&next_file)
            .with_context(|| format!("cannot read {}", next_file.display()))?,
    );
    if let Err(error) = parse(&text) {
        // Cut short while it was written (step 1), before anything was wrapped under it. Kept
        // aside rather than deleted: nothing on disk is destroyed on a guess.
        let aside = next_file.with_extension(format!(
            "next.unfinished-{}",
            crate::daemon::startup::now_ms() / 1000
        ));
        warn!(file = %next_file.display(), kept = %aside.display(), error = %format!("{error:#}"), "setting aside an unfinished node key from an interrupted rotation (it was never used)");
        std::fs::rename(&next_file, &aside)
            .with_context(|| format!("cannot move {} aside", next_file.display()))?;
        return Ok((KeyRing::new(load(path)?), false));
    }
    let next = load(&next_file)?;
    if is_overwritten(path)? {
        // Step 3 was reached: every key is under the new one; only the rename is left.
        warn!(
            "the old node key is already destroyed: completing the interrupted rotation's last step"
        );
        put_in_place(path, &next_file)?;
        return Ok((KeyRing::new(next), false));
    }
    match load(path) {
        Ok(current) => {
            if next.generation() != current.generation().wrapping_add(1) {
                bail!(
                    "{} (generation {}) does not follow {} (generation {}): move the wrong one away",
                    next_file.display(),
                    next.generation(),
                    path.display(),
                    current.generation()
                );
            }
            warn!(
                generation = next.generation(),
                "a node key rotation was interrupted: it is finished before the node serves"
            );
            let ring = KeyRing::new(current);
            ring.begin_rotation(next);
            Ok((ring, true))
        }
        // Not the zeros step 3 writes: the old key may still be needed. Stop, and say so.
        Err(error) => Err(error.context(format!(
            "a node key rotation was interrupted ({} exists) and the current key does not load",
            next_file.display()
        ))),
    }
}

/// Whether the key file holds only the zeros step 3 overwrites it with.
fn is_overwritten(path: &Path) -> Result<bool> {
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    Ok(!bytes.is_empty() && bytes.iter().all(|b| *b == 0))
}

/// Finishes a rotation [`open_ring`] found under way.
pub fn resume(path: &Path, ring: &KeyRing, ledger: &mut Ledger) -> Result<Rewrapped> {
    let done = ledger
        .rewrap_data_keys(ring)
        .context("the node key rotation stopped before destroying anything")?;
    complete(path, ring)?;
    Ok(done)
}

/// Replaces the node key at `path` by a fresh one of the next generation (see the module
/// header). The ledger is held throughout, so no block is authored meanwhile.
pub fn rotate(path: &Path, ring: &KeyRing, ledger: &mut Ledger) -> Result<Rewrapped> {
    let rng = ring::rand::SystemRandom::new();
    let next = WrappingKey::new(
        SecretKey::generate(&rng).context("the system random number generator failed")?,
        ring.generation().wrapping_add(1),
    );
    let next_file = next_path(path);
    crate::files::write_secret(&next_file, render(&next).as_bytes()).with_context(|| {
        format!(
            "cannot write the new node key (a {} left by an earlier rotation is finished at the next start)",
            next_file.display()
        )
    })?;
    // The new name must be durable before any key is wrapped under it.
    sync_parent(&next_file)?;
    // What is on disk is what the ring will wrap under.
    let written = parse(&zeroize::Zeroizing::new(
        std::fs::read_to_string(&next_file)
            .with_context(|| format!("cannot read {}", next_file.display()))?,
    ))?;
    if written.secret() != next.secret() || written.generation() != next.generation() {
        bail!(
            "{} does not hold the key just written to it",
            next_file.display()
        );
    }
    ring.begin_rotation(next);
    resume(path, ring, ledger)
}

/// Step 3: the old key overwritten, the new one put in its place, the ring moved over.
fn complete(path: &Path, ring: &KeyRing) -> Result<()> {
    let next_file = next_path(path);
    // Check that the file about to replace the key is the key the ring re-wrapped under.
    let text = std::fs::read_to_string(&next_file)
        .with_context(|| format!("cannot read {}", next_file.display()))?;
    let next = parse(&zeroize::Zeroizing::new(text))?;
    if !ring.is_rotating_to(&next) {
        bail!("{} is not the key being rotated to", next_file.display());
    }
    overwrite(path)?;
    put_in_place(path, &next_file)?;
    ring.finish_rotation();
    info!(
        generation = next.generation(),
        "node key rotated: the previous key is destroyed"
    );
    Ok(())
}

/// Overwrites the key file's bytes with zeros and syncs them.
fn overwrite(path: &Path) -> Result<()> {
    use std::io::Write;
    let len = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} to overwrite it", path.display()))?;
    file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)])
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot overwrite {}", path.display()))
}

/// Renames `next_file` over `path` and syncs the directory.
fn put_in_place(path: &Path, next_file: &Path) -> Result<()> {
    std::fs::rename(next_file, path).with_context(|| {
        format!(
            "cannot rename {} to {}",
            next_file.display(),
            path.display()
        )
    })?;
    sync_parent(path)
}

/// Syncs the directory holding `path`, so a new or renamed entry in it is durable.
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}

#[cfg(test)]
mod tests;
