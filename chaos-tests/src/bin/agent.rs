//! The agent under test: the very `main` of the `tr069-client` binary, linked into this package so
//! the scenario tests can run it as a child process (`CARGO_BIN_EXE_agent`) — Cargo only exposes
//! the binaries of a test's own package.

fn main() -> std::process::ExitCode {
    tr069_client::cli::main()
}
