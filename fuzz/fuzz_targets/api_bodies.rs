//! Fuzz target `api_bodies`: runs `medchain_fuzz_harness::api_bodies` (see crates/fuzz-harness) on each input,
//! under the allocation limit of `medchain_fuzz` (fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(init: medchain_fuzz::init(), |data: &[u8]| {
    medchain_fuzz_harness::api_bodies(data)
});
