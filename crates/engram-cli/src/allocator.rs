//! How the process's allocator treats large blocks.
//!
//! A training step allocates and frees tensors of tens of megabytes (the `[T, B, N]` activations
//! and their gradients). glibc serves blocks above its mmap threshold (at most 32 MiB, adjusted
//! at run time) with fresh `mmap`s and unmaps them when freed, and trims the top of its heap
//! when more than 128 KiB is free, so every step pays page faults and the kernel's zeroing of
//! each page again (about a fifth of a BDH training step here). Raising both thresholds keeps
//! the freed blocks in the process for the next step. glibc offers this through `mallopt`
//! only; other allocators are left as they are.

/// Largest mmap threshold glibc accepts on 64-bit targets (`DEFAULT_MMAP_THRESHOLD_MAX`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Keeps large freed blocks in the process (see the module header).
pub fn keep_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread
    // exists. A refused value (return 0) leaves glibc's default, which is still correct.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}
