//! Node tools the tests use, installed with npm into `target/tools/node` from the pinned
//! `xtask/node/package.json` and `package-lock.json`: `tsc` (type-checks the widget's `.d.ts`) and `vite`
//! with React and Vue (builds the framework embed examples), and axe-core (the browser tests' accessibility
//! scans). npm itself comes from Debian when missing.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result};

use crate::sh;

pub fn dir() -> PathBuf {
    sh::root().join("target/tools/node")
}

/// Installs the tools unless `target/tools/node` already holds exactly the locked set.
pub fn ensure() -> Result<PathBuf> {
    if Command::new("npm").arg("--version").output().is_err() {
        sh::apt_install(&["nodejs", "npm"])?;
    }
    let src = sh::root().join("xtask/node");
    let dir = dir();
    fs::create_dir_all(&dir)?;
    let lock = fs::read(src.join("package-lock.json")).context("reading xtask/node/package-lock.json")?;
    let installed = fs::read(dir.join("node_modules/.package-lock.json")).ok();
    let stamp = dir.join(".installed-lock");
    if installed.is_some() && fs::read(&stamp).ok().as_deref() == Some(&lock[..]) {
        eprintln!("node tools up to date in {}", dir.display());
        return Ok(dir);
    }
    fs::copy(src.join("package.json"), dir.join("package.json"))?;
    fs::write(dir.join("package-lock.json"), &lock)?;
    sh::run(
        Command::new("npm")
            .current_dir(&dir)
            .args(["ci", "--no-audit", "--no-fund"]),
    )?;
    fs::write(stamp, lock)?;
    Ok(dir)
}
