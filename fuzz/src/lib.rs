//! What every fuzz target shares: an allocation limit.
//!
//! libFuzzer's `-malloc_limit_mb` works only through a sanitizer's allocator hooks, and the
//! targets are built without a sanitizer on the stable toolchain (see scripts/fuzz.sh), where the
//! flag is accepted and does nothing. So the targets install this global allocator instead: one
//! allocation (or reallocation) larger than the limit prints its size and aborts, which libFuzzer
//! reports as a crash and saves the input as an artifact. The limit is `FUZZ_MALLOC_LIMIT_MB`
//! (scripts/fuzz.sh sets it), else [`DEFAULT_LIMIT_MB`], read once by [`init`] before fuzzing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The limit when `FUZZ_MALLOC_LIMIT_MB` is not set, in MiB.
pub const DEFAULT_LIMIT_MB: usize = 256;

static LIMIT_BYTES: AtomicUsize = AtomicUsize::new(DEFAULT_LIMIT_MB << 20);

/// Reads `FUZZ_MALLOC_LIMIT_MB`; every target calls it from libFuzzer's init hook.
pub fn init() {
    if let Some(mb) = std::env::var("FUZZ_MALLOC_LIMIT_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&mb| mb > 0)
    {
        LIMIT_BYTES.store(mb.saturating_mul(1 << 20), Ordering::Relaxed);
    }
}

/// The system allocator, refusing single allocations over the limit.
pub struct LimitedAlloc;

fn check(size: usize) {
    let limit = LIMIT_BYTES.load(Ordering::Relaxed);
    if size > limit {
        // No allocation here: the message is built on the stack.
        let mut line = [0u8; 96];
        let mut cursor = std::io::Cursor::new(&mut line[..]);
        let _ = writeln!(
            cursor,
            "==fuzz== malloc({size}) exceeds limit of {limit} bytes"
        );
        let end = usize::try_from(cursor.position()).unwrap_or(0);
        let _ = std::io::stderr().write_all(&line[..end]);
        std::process::abort();
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the only addition is a size
// check that aborts before anything is allocated.
unsafe impl GlobalAlloc for LimitedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: LimitedAlloc = LimitedAlloc;
