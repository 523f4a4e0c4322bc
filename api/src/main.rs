//! The `tranche` binary: `serve`, `migrate`, `seller create --name N`, `demo`.

fn main() -> std::process::ExitCode {
    tranche_api::cli::main()
}
