//! Raw damage to the files of a stopped node's store, as a failing disk or an attacker with the
//! repository would do it, below every check medchain makes: flipped bytes, a 4 KiB page of
//! zeros, a truncated file, a deleted file. Targets are the files sled keeps in `data/store`:
//! `db` (the log and pages), `conf`, `blobs/<n>` (large values) and `snap.<n>` (snapshots).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::rng::Rng;

/// What is done to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Harm {
    /// 1 to 16 bytes at random offsets, each XORed with a random non-zero mask.
    FlipBytes,
    /// One 4 KiB-aligned page overwritten with zeros.
    ZeroPage,
    /// Cut at a random length below its size.
    Truncate,
    /// Removed.
    Delete,
}

impl Harm {
    /// Every kind, in the order trials cycle through them.
    pub const ALL: [Harm; 4] = [
        Harm::FlipBytes,
        Harm::ZeroPage,
        Harm::Truncate,
        Harm::Delete,
    ];

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Harm::FlipBytes => "flipped bytes",
            Harm::ZeroPage => "zeroed 4 KiB page",
            Harm::Truncate => "truncated",
            Harm::Delete => "deleted",
        }
    }
}

/// Which of the store's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `db`.
    Db,
    /// `conf`.
    Conf,
    /// A file under `blobs/`.
    Blob,
    /// A `snap.*` file.
    Snapshot,
}

impl FileKind {
    /// Every kind, in the order trials cycle through them.
    pub const ALL: [FileKind; 4] = [
        FileKind::Db,
        FileKind::Conf,
        FileKind::Blob,
        FileKind::Snapshot,
    ];

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            FileKind::Db => "db",
            FileKind::Conf => "conf",
            FileKind::Blob => "blobs/*",
            FileKind::Snapshot => "snap.*",
        }
    }

    fn matches(self, relative: &str) -> bool {
        match self {
            FileKind::Db => relative == "db",
            FileKind::Conf => relative == "conf",
            FileKind::Blob => relative.starts_with("blobs/"),
            FileKind::Snapshot => relative.starts_with("snap."),
        }
    }
}

/// Every regular file under `store`, as paths relative to it, sorted.
pub fn files(store: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![store.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file()
                && let Ok(relative) = entry.path().strip_prefix(store)
            {
                found.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// A file of `kind` in `store` (a random one when there are several); `None` if there is none.
pub fn pick(store: &Path, kind: FileKind, rng: &Rng) -> Result<Option<String>> {
    let candidates: Vec<String> = files(store)?
        .into_iter()
        .filter(|f| kind.matches(f))
        .collect();
    Ok((!candidates.is_empty()).then(|| candidates[rng.index(candidates.len())].clone()))
}

/// Does `harm` to `store/relative`; answers what exactly was done.
pub fn apply(store: &Path, relative: &str, harm: Harm, rng: &Rng) -> Result<String> {
    let path: PathBuf = store.join(relative);
    let size = std::fs::metadata(&path)
        .with_context(|| format!("cannot stat {}", path.display()))?
        .len();
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))
    };
    let done = match harm {
        Harm::FlipBytes => {
            if size == 0 {
                bail!("{relative} is empty: no byte to flip");
            }
            let mut file = open()?;
            let count = 1 + rng.below(16);
            let mut offsets = Vec::new();
            for _ in 0..count {
                let offset = rng.below(size);
                let mask = 1 + rng.below(255) as u8;
                let mut byte = [0u8];
                file.seek(SeekFrom::Start(offset))?;
                file.read_exact(&mut byte)?;
                byte[0] ^= mask;
                file.seek(SeekFrom::Start(offset))?;
                file.write_all(&byte)?;
                offsets.push(offset);
            }
            file.sync_all()?;
            offsets.sort_unstable();
            format!(
                "{count} bytes flipped at offsets {} (of {size})",
                offsets
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        Harm::ZeroPage => {
            let pages = size.div_ceil(4096).max(1);
            let offset = rng.below(pages) * 4096;
            let length = size.saturating_sub(offset).min(4096);
            let mut file = open()?;
            file.seek(SeekFrom::Start(offset))?;
            file.write_all(&vec![0u8; usize::try_from(length).unwrap_or(4096)])?;
            file.sync_all()?;
            format!("{length} bytes zeroed at offset {offset} (of {size})")
        }
        Harm::Truncate => {
            let length = rng.below(size.max(1));
            let file = open()?;
            file.set_len(length)?;
            file.sync_all()?;
            format!("cut to {length} bytes (of {size})")
        }
        Harm::Delete => {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            format!("removed ({size} bytes)")
        }
    };
    Ok(format!("{relative} {done}"))
}
