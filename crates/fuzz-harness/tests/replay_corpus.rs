//! Replays the kept fuzz corpora (`fuzz/corpus/<target>/`) and crash regressions
//! (`fuzz/regressions/<target>/`, optional) through the harness functions the fuzz targets run,
//! so every input fuzzing kept is checked again by `cargo test --workspace`.
//!
//! It fails when a target's corpus directory is missing or empty, or when a corpus or regression
//! directory names no target, so it can never silently test nothing.
#![allow(clippy::expect_used, clippy::panic)]

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use medchain_fuzz_harness::{TARGETS, frames, pki, target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files of `dir`, sorted (hidden files such as `.gitkeep` left out).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.is_file()
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs every file through its target's harness; returns how many ran, and every failure.
fn replay(target_name: &str, inputs: &[PathBuf]) -> (usize, Vec<String>) {
    let harness = target(target_name).expect("known target");
    let mut failures = Vec::new();
    for path in inputs {
        let data = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| harness(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{target_name}: {}: {message}", path.display()));
        }
    }
    (inputs.len(), failures)
}

/// Every directory under `dir` must be named after a target.
fn assert_only_targets(dir: &Path) {
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if path.is_dir() {
            assert!(
                target(&name).is_some(),
                "{} is not the directory of any fuzz target",
                path.display()
            );
        }
    }
}

#[test]
fn the_harnesses_have_their_fixtures() {
    assert!(pki::fixtures().is_some(), "the test PKI does not load");
    assert!(
        frames::runtime_available(),
        "no tokio runtime for the frames"
    );
}

#[test]
fn every_corpus_file_and_regression_runs_without_panicking() {
    let corpus = fuzz_dir().join("corpus");
    let regressions = fuzz_dir().join("regressions");
    assert_only_targets(&corpus);
    if regressions.is_dir() {
        assert_only_targets(&regressions);
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for (name, _) in TARGETS {
        let dir = corpus.join(name);
        assert!(
            dir.is_dir(),
            "corpus directory {} is missing",
            dir.display()
        );
        let inputs = files(&dir);
        assert!(!inputs.is_empty(), "corpus {} is empty", dir.display());
        let (ran, failed) = replay(name, &inputs);
        total += ran;
        failures.extend(failed);
        let dir = regressions.join(name);
        if dir.is_dir() {
            let (ran, failed) = replay(name, &files(&dir));
            total += ran;
            failures.extend(failed);
        }
    }
    println!("replayed {total} inputs over {} targets", TARGETS.len());
    assert!(
        failures.is_empty(),
        "{} inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
