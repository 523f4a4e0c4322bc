//! Running child processes with the command echoed, so a CI log shows exactly what failed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The workspace root (the parent of `xtask/`), whatever directory cargo was invoked from.
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn describe(cmd: &Command) -> String {
    let mut out = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        out.push(' ');
        out.push_str(&arg.to_string_lossy());
    }
    out
}

/// Runs `cmd` to completion, inheriting stdio; an unsuccessful exit is an error naming the command.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = describe(cmd);
    eprintln!("\x1b[1m$ {line}\x1b[0m");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` and returns its trimmed stdout; stderr is passed through.
pub fn output(cmd: &mut Command) -> Result<String> {
    let line = describe(cmd);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    if !out.status.success() {
        bail!("`{line}` failed ({})", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn is_root() -> bool {
    output(Command::new("id").arg("-u"))
        .map(|s| s == "0")
        .unwrap_or(false)
}

/// Installs Debian packages with apt (through sudo when not root).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let sudo = !is_root();
    let mk = |args: &[&str]| {
        let mut c = if sudo {
            Command::new("sudo")
        } else {
            Command::new("apt-get")
        };
        if sudo {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(&mut mk(&["update", "-qq"]))?;
    let mut install = mk(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(packages);
    run(&mut install)
}

/// One named step of a pipeline, timed for the summary.
pub struct Step {
    pub name: String,
    pub elapsed: Duration,
    pub outcome: Result<(), String>,
}

#[derive(Default)]
pub struct Pipeline {
    pub steps: Vec<Step>,
}

impl Pipeline {
    /// Runs a step; returns false (and records the failure) when it fails, so callers stop early.
    pub fn step(&mut self, name: &str, f: impl FnOnce() -> Result<()>) -> bool {
        eprintln!("\n\x1b[1;34m==> {name}\x1b[0m");
        let start = Instant::now();
        let outcome = f().map_err(|e| format!("{e:#}"));
        let ok = outcome.is_ok();
        self.steps.push(Step {
            name: name.to_owned(),
            elapsed: start.elapsed(),
            outcome,
        });
        ok
    }

    pub fn skipped(&mut self, name: &str, why: &str) {
        eprintln!("\n\x1b[1;33m==> {name}: skipped ({why})\x1b[0m");
        self.steps.push(Step {
            name: format!("{name} (skipped: {why})"),
            elapsed: Duration::ZERO,
            outcome: Ok(()),
        });
    }

    /// Prints the summary table and returns an error when any step failed.
    pub fn finish(self, title: &str) -> Result<()> {
        eprintln!("\n\x1b[1m{title} summary\x1b[0m");
        let mut failed = Vec::new();
        for step in &self.steps {
            let (mark, detail) = match &step.outcome {
                Ok(()) => ("ok  ", String::new()),
                Err(e) => ("FAIL", format!("  {e}")),
            };
            eprintln!(
                "  [{mark}] {:<58} {:>7.1}s{detail}",
                step.name,
                step.elapsed.as_secs_f64()
            );
            if step.outcome.is_err() {
                failed.push(step.name.clone());
            }
        }
        if failed.is_empty() {
            eprintln!("\x1b[1;32m{title}: all steps passed\x1b[0m");
            Ok(())
        } else {
            bail!("{title} failed at: {}", failed.join(", "))
        }
    }
}
