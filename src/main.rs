//! The `tr069-client` binary; see [`tr069_client::cli`].

fn main() -> std::process::ExitCode {
    tr069_client::cli::main()
}
