//! The `tranche` binary: see `tranche --help` (`cli.rs`).

fn main() -> std::process::ExitCode {
    tranche_api::cli::main()
}
