//! The process's allocator, set for the importer's 128 MB of Lambda memory.

/// Makes every allocation of 256 KiB or more its own mapping, given back to the system
/// when freed. glibc otherwise raises that threshold after each large free (up to
/// 32 MiB), so the buffers of large headers and indexes come from its heaps, stay
/// resident once freed, and add up across threads: judging three 28 MB headers and a
/// 53 MB index peaked at 144 MB of RSS that way, 87 MB with this. Call it first in
/// `main`, before any thread starts. No effect outside glibc.
pub fn return_large_frees_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any other
    // thread exists, so no allocation races with it.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
