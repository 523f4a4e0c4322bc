//! `cargo xtask <command>`: the project's one entry point for building, demoing, testing and benchmarking.
//!
//! Everything a fresh machine lacks beyond the Rust toolchain (the wasm target, PostgreSQL, Chromium, the
//! wasm-bindgen CLI) is installed here, so `.ci/run` and a new contributor run exactly the same steps.

mod postgres;
mod sh;
mod widget;

use std::process::{Command, ExitCode};

use anyhow::{bail, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  demo [--port N]       build everything and run the demo on embedded SQLite (default port 8080)
  build-widget          build the wasm widget into target/widget/dist (hashed files, SRI manifest)
  test [--no-postgres]  fmt, clippy, every test (SQLite and a throwaway PostgreSQL), wasm32 build of the domain
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("demo") => demo(&args[1..]),
        Some("build-widget") => widget::build().map(|_| ()),
        Some("-h" | "--help" | "help") | None => {
            eprint!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(anyhow::anyhow!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\x1b[1;31merror:\x1b[0m {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> Command {
    let mut c = Command::new(sh::cargo());
    c.current_dir(sh::root());
    c
}

const WASM_TARGET: &str = "wasm32-unknown-unknown";

pub(crate) fn ensure_wasm_target() -> Result<()> {
    let installed = sh::output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !installed.lines().any(|l| l.trim() == WASM_TARGET) {
        sh::run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    Ok(())
}

struct TestOptions {
    postgres: bool,
}

fn parse_test_options(args: &[String]) -> Result<TestOptions> {
    let mut opts = TestOptions { postgres: true };
    for arg in args {
        match arg.as_str() {
            "--no-postgres" => opts.postgres = false,
            other => bail!("unknown option `{other}` for test\n\n{USAGE}"),
        }
    }
    Ok(opts)
}

fn test(args: &[String]) -> Result<()> {
    let opts = parse_test_options(args)?;
    let mut p = sh::Pipeline::default();
    let ok = p.step("cargo fmt --check", || {
        sh::run(cargo().args(["fmt", "--all", "--check"]))
    }) && p.step("cargo clippy --workspace --all-targets -- -D warnings", || {
        sh::run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
    }) && p.step("wasm32 target installed", ensure_wasm_target)
        && p.step(
            "cargo check -p tranche-domain --target wasm32-unknown-unknown",
            || sh::run(cargo().args(["check", "-p", "tranche-domain", "--target", WASM_TARGET])),
        );
    if ok {
        let mut pg: Option<postgres::TempPostgres> = None;
        let pg_ok = if opts.postgres {
            p.step("PostgreSQL test cluster", || {
                let cluster = postgres::TempPostgres::start()?;
                eprintln!(
                    "PostgreSQL ready at {} (data {})",
                    cluster.url,
                    cluster.data_dir().display()
                );
                pg = Some(cluster);
                Ok(())
            })
        } else {
            p.skipped("PostgreSQL test cluster", "--no-postgres");
            true
        };
        if pg_ok {
            p.step("cargo test --workspace (SQLite + PostgreSQL)", || {
                let mut cmd = cargo();
                cmd.args(["test", "--workspace", "--no-fail-fast"]);
                match &pg {
                    Some(cluster) => {
                        postgres::check_url(&cluster.url)?;
                        cmd.env("TRANCHE_TEST_POSTGRES_URL", &cluster.url)
                            .env("TRANCHE_REQUIRE_POSTGRES", "1");
                    }
                    None => {
                        cmd.env_remove("TRANCHE_TEST_POSTGRES_URL");
                    }
                }
                sh::run(&mut cmd)
            });
        }
        drop(pg);
    }
    p.finish("cargo xtask test")
}

fn demo(args: &[String]) -> Result<()> {
    let mut port = "8080".to_owned();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--port" => match it.next() {
                Some(p) if p.parse::<u16>().is_ok() => port = p.clone(),
                _ => bail!("--port needs a port number"),
            },
            other => bail!("unknown option `{other}` for demo\n\n{USAGE}"),
        }
    }
    sh::run(
        cargo()
            .args(["run", "-p", "tranche-api", "--bin", "tranche", "--", "demo"])
            .env("TRANCHE_ADDR", format!("127.0.0.1:{port}")),
    )
}
