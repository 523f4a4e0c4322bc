//! `cargo xtask <command>`: the project's one entry point for building, demoing, testing and benchmarking.
//!
//! Everything a fresh machine lacks beyond the Rust toolchain (the wasm target, PostgreSQL, Chromium, the
//! wasm-bindgen CLI) is installed here, so `.ci/run` and a new contributor run exactly the same steps.

mod bench;
mod compress;
mod deny;
mod dist;
mod node_tools;
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
  dist                  the release artifact: the widget, then target/release/tranche with the widget inside
                        (what the Dockerfile runs)
  node-tools            npm-install tsc and vite (React, Vue) into target/tools/node for the front-end tests
  bench [--quick]       widget size, widget start, payment throughput vs the raw database, read path,
                        ERP latency, peak RSS -> target/bench/report.{json,md} (not part of test)
  soak                  the long reliability runs: 200 concurrent rounds, 20,000 model sequences, on SQLite
                        and PostgreSQL (release build), then each cargo-fuzz target for 60 s
  pg                    start a throwaway PostgreSQL (TLS on), print its URL and CA file, stop it when
                        stdin ends or a line is entered (for running PostgreSQL tests by hand)
  test [--no-postgres] [--no-browser]
                        fmt, clippy (native and wasm32), cargo deny, the widget build, every test on SQLite
                        and a throwaway PostgreSQL, and the browser tests in headless Chromium
  deny                  the supply-chain step of test alone: cargo deny check against the advisory snapshot
  advisories --from <advisory-db checkout or git dir>
                        refresh the RustSec snapshot in supply-chain/advisory-db (docs/supply-chain.md)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(&args[1..]),
        Some("demo") => demo(&args[1..]),
        Some("build-widget") => widget::build().map(|_| ()),
        Some("dist") => dist::dist(),
        Some("node-tools") => node_tools::ensure().map(|_| ()),
        Some("bench") => bench::run(&args[1..]),
        Some("soak") => soak(),
        Some("pg") => pg(),
        Some("advisories") => deny::refresh(&args[1..]),
        Some("deny") => deny::check(),
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

/// `cargo` in the workspace root. Once the widget is built, every build of the API embeds it
/// (`api/build.rs` reads `TRANCHE_EMBED_WIDGET_DIR`): the same value in every step, so one step's build is
/// not undone by the next one's.
fn cargo() -> Command {
    let mut c = Command::new(sh::cargo());
    c.current_dir(sh::root());
    let dist = widget::dist_dir();
    if dist.join("manifest.json").is_file() {
        c.env("TRANCHE_EMBED_WIDGET_DIR", dist);
    }
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

pub(crate) struct TestOptions {
    pub(crate) postgres: bool,
    pub(crate) browser: bool,
}

fn parse_test_options(args: &[String]) -> Result<TestOptions> {
    let mut opts = TestOptions {
        postgres: true,
        browser: true,
    };
    for arg in args {
        match arg.as_str() {
            "--no-postgres" => opts.postgres = false,
            "--no-browser" => opts.browser = false,
            other => bail!("unknown option `{other}` for test\n\n{USAGE}"),
        }
    }
    Ok(opts)
}

/// Installs schemathesis and openapi-spec-validator from PyPI into `target/tools/venv` (once) and runs
/// `xtask/schemathesis_run.py` (which validates the document, then fuzzes the API against it).
fn schemathesis() -> Result<()> {
    let root = sh::root();
    let venv = root.join("target/tools/venv");
    let st = venv.join("bin/st");
    // Reinstalled when either pinned tool is missing (an older venv had schemathesis only).
    if !st.exists() || !venv.join("bin/openapi-spec-validator").exists() {
        sh::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        sh::run(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "schemathesis==4.32.5",
            "openapi-spec-validator==0.7.2",
        ]))?;
    }
    sh::run(cargo().args(["build", "-p", "tranche-api", "--bin", "tranche"]))?;
    sh::run(
        Command::new(venv.join("bin/python"))
            .arg(root.join("xtask/schemathesis_run.py"))
            .arg(root.join("target/debug/tranche"))
            .arg(&st),
    )
}

/// Installs, in one apt transaction, the system packages this run needs and lacks.
pub(crate) fn ensure_system_packages(opts: &TestOptions) -> Result<()> {
    let mut missing = Vec::new();
    if opts.postgres && postgres::find_bin().is_none() {
        missing.push("postgresql");
    }
    if opts.browser {
        if !std::path::Path::new("/usr/bin/chromium").exists() {
            missing.push("chromium");
        }
        if !std::path::Path::new("/usr/bin/chromedriver").exists() {
            missing.push("chromium-driver");
        }
        // The PHP token-minting snippet is run by the embed tests.
        if !std::path::Path::new("/usr/bin/php").exists() {
            missing.push("php-cli");
        }
    }
    if missing.is_empty() {
        eprintln!("all present");
        return Ok(());
    }
    sh::apt_install(&missing)
}

fn test(args: &[String]) -> Result<()> {
    let opts = parse_test_options(args)?;
    let mut p = sh::Pipeline::default();
    let ok = p.step("cargo fmt --check", || {
        sh::run(cargo().args(["fmt", "--all", "--check"]))
    }) && p.step("cargo clippy --workspace --all-targets -- -D warnings", || {
        sh::run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
    }) && p.step(
        "cargo deny (advisories offline, licenses, bans, sources)",
        deny::check,
    ) && p.step(
        "Dockerfile and compose.yaml (hadolint, the xtask's release steps, real settings)",
        dist::check_container_files,
    ) && p.step("wasm32 target installed", ensure_wasm_target)
        && p.step(
            "cargo check -p tranche-domain --target wasm32-unknown-unknown",
            || sh::run(cargo().args(["check", "-p", "tranche-domain", "--target", WASM_TARGET])),
        )
        && p.step(
            "cargo clippy -p tranche-widget --target wasm32-unknown-unknown -- -D warnings",
            || {
                sh::run(cargo().args([
                    "clippy",
                    "-p",
                    "tranche-widget",
                    "--target",
                    WASM_TARGET,
                    "--",
                    "-D",
                    "warnings",
                ]))
            },
        )
        && p.step(
            "system packages (PostgreSQL, Chromium, ChromeDriver, PHP)",
            || ensure_system_packages(&opts),
        )
        && (!opts.browser
            || p.step(
                "node tools (tsc, vite, React, Vue, axe-core) into target/tools/node",
                || node_tools::ensure().map(|_| ()),
            ))
        && p.step("cargo xtask build-widget (and its size budget)", || {
            // A size regression fails CI like any other: the budget is a promise to sellers (issue 5).
            let critical = widget::build()?;
            if critical > widget::CRITICAL_PATH_BUDGET {
                bail!(
                    "widget critical path is {critical} bytes gzip, over the {} budget",
                    widget::CRITICAL_PATH_BUDGET
                );
            }
            Ok(())
        });
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
        if !opts.browser {
            p.skipped("browser tests", "--no-browser");
        }
        if pg_ok {
            p.step("cargo test --workspace (SQLite, PostgreSQL, Chromium)", || {
                let mut cmd = cargo();
                cmd.args(["test", "--workspace", "--no-fail-fast"]);
                cmd.env("TRANCHE_WIDGET_DIR", widget::dist_dir())
                    // The widget is built by now: the lone-binary test must find it inside the binary.
                    .env("TRANCHE_REQUIRE_WIDGET", "1");
                match &pg {
                    Some(cluster) => {
                        postgres::check_url(&cluster.url)?;
                        cmd.env("TRANCHE_TEST_POSTGRES_URL", &cluster.url)
                            .env("TRANCHE_TEST_POSTGRES_CA", &cluster.ca)
                            .env("TRANCHE_REQUIRE_POSTGRES", "1");
                    }
                    None => {
                        cmd.env_remove("TRANCHE_TEST_POSTGRES_URL")
                            .env_remove("TRANCHE_TEST_POSTGRES_CA");
                    }
                }
                if opts.browser {
                    cmd.env("TRANCHE_REQUIRE_BROWSER", "1");
                } else {
                    cmd.env("TRANCHE_SKIP_BROWSER", "1");
                }
                sh::run(&mut cmd)
            });
            p.step("schemathesis against /openapi.json", schemathesis);
        }
        drop(pg);
    }
    p.finish("cargo xtask test")
}

/// `cargo xtask pg`: the test cluster on its own, for running PostgreSQL tests by hand. Prints
/// `TRANCHE_TEST_POSTGRES_URL=...` and `TRANCHE_TEST_POSTGRES_CA=...` on stdout (everything else goes to
/// stderr); the cluster is stopped and deleted when stdin ends or a line is entered.
fn pg() -> Result<()> {
    use std::io::Write;
    let cluster = postgres::TempPostgres::start()?;
    let mut out = std::io::stdout();
    writeln!(out, "TRANCHE_TEST_POSTGRES_URL={}", cluster.url)?;
    writeln!(out, "TRANCHE_TEST_POSTGRES_CA={}", cluster.ca.display())?;
    out.flush()?;
    eprintln!("PostgreSQL is running (TLS on); it stops when stdin ends or a line is entered");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    drop(cluster);
    Ok(())
}

const FUZZ_TARGETS: [&str; 4] = [
    "money_parse",
    "payment_request",
    "checkout_token",
    "webhook_signature",
];

/// Runs one cargo-fuzz target for `seconds`. cargo-fuzz needs nightly flags (sanitizers); the machines have
/// one stable toolchain, so `RUSTC_BOOTSTRAP=1` unlocks them. A crash fails the step and leaves its input in
/// `fuzz/artifacts/<target>/`, to be turned into a unit test.
fn fuzz(target: &str, seconds: u32) -> Result<()> {
    let tools = sh::root().join("target/tools");
    if !tools.join("bin/cargo-fuzz").exists() {
        sh::run(
            Command::new(sh::cargo())
                .args(["install", "cargo-fuzz", "--version", "0.13.2", "--root"])
                .arg(&tools),
        )?;
    }
    let path = format!(
        "{}:{}",
        tools.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    sh::run(
        cargo()
            .args(["fuzz", "run", target, "--", &format!("-max_total_time={seconds}")])
            .env("PATH", path)
            .env("RUSTC_BOOTSTRAP", "1"),
    )
}

fn soak() -> Result<()> {
    let opts = TestOptions {
        postgres: true,
        browser: false,
    };
    let mut p = sh::Pipeline::default();
    if p.step("system packages (PostgreSQL)", || ensure_system_packages(&opts)) {
        let mut pg: Option<postgres::TempPostgres> = None;
        if p.step("PostgreSQL test cluster", || {
            pg = Some(postgres::TempPostgres::start()?);
            Ok(())
        }) {
            p.step("reliability and ERP suites, long settings (release)", || {
                let url = pg.as_ref().map(|c| c.url.clone()).unwrap_or_default();
                sh::run(
                    cargo()
                        .args([
                            "test",
                            "--release",
                            "-p",
                            "tranche-api",
                            "--test",
                            "reliability",
                            "--test",
                            "erp",
                        ])
                        .env("TRANCHE_SOAK_ROUNDS", "200")
                        .env("TRANCHE_MODEL_CASES", "20000")
                        .env("TRANCHE_TEST_POSTGRES_URL", url)
                        .env("TRANCHE_REQUIRE_POSTGRES", "1"),
                )
            });
        }
        drop(pg);
    }
    for target in FUZZ_TARGETS {
        p.step(&format!("cargo fuzz run {target} (60 s)"), || fuzz(target, 60));
    }
    p.finish("cargo xtask soak")
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
    widget::build()?;
    sh::run(
        cargo()
            .args(["run", "-p", "tranche-api", "--bin", "tranche", "--", "demo"])
            .env("TRANCHE_WIDGET_DIR", widget::dist_dir())
            .env("TRANCHE_ADDR", format!("127.0.0.1:{port}")),
    )
}
