//! The power-cut filesystem daemon: `lazyfs <backing-dir> <mountpoint>` (see
//! `chaos_tests::lazyfs`). Writes are held in memory until fsync; SIGKILL of this process is the
//! power cut.

fn main() -> std::process::ExitCode {
    chaos_tests::lazyfs::daemon_main()
}
