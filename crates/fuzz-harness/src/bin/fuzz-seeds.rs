//! `fuzz-seeds`: writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/`.
//!
//! Usage (from the repository root):
//!   cargo run -p medchain-fuzz-harness --bin fuzz-seeds                # seeds from the kept PKI
//!   cargo run -p medchain-fuzz-harness --bin fuzz-seeds -- --new-pki   # new test PKI first
//!
//! A seed is written as `seed-<name>` unless a file with the same bytes is already in the
//! directory (after `cargo fuzz cmin` the kept files are named by their hash), so running it
//! again changes nothing. `--new-pki` makes a new test PKI into `crates/fuzz-harness/fixtures/`
//! (the harnesses compile it in: rebuild, and replace the old certificate seeds, after it).

use std::fs;
use std::path::{Path, PathBuf};

use medchain_fuzz_harness::pki::{PKI_FILES, Pki};
use medchain_fuzz_harness::seeds::{self, SeedError};

fn main() -> Result<(), SeedError> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    let pki = if std::env::args().any(|arg| arg == "--new-pki") {
        let pki = Pki::generate()?;
        let dir = manifest.join("fixtures");
        fs::create_dir_all(&dir)?;
        for (name, bytes) in PKI_FILES.iter().zip(pki.files()) {
            fs::write(dir.join(name), bytes)?;
        }
        println!("wrote a new test PKI to {}", dir.display());
        pki
    } else {
        Pki::embedded()
    };
    let mut written = 0;
    let mut kept = 0;
    for seed in seeds::all(&pki)? {
        let dir = root.join("fuzz/corpus").join(seed.target);
        fs::create_dir_all(&dir)?;
        if holds(&dir, &seed.bytes)? {
            kept += 1;
            continue;
        }
        fs::write(dir.join(format!("seed-{}", seed.name)), &seed.bytes)?;
        written += 1;
    }
    println!("seeds: {written} written, {kept} already in the corpus");
    Ok(())
}

/// Whether a file in `dir` has exactly these bytes.
fn holds(dir: &Path, bytes: &[u8]) -> Result<bool, SeedError> {
    for entry in fs::read_dir(dir)? {
        let path: PathBuf = entry?.path();
        if path.is_file() && fs::read(&path)? == bytes {
            return Ok(true);
        }
    }
    Ok(false)
}
