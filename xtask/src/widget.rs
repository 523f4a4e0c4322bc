//! `cargo xtask build-widget`: the wasm widget, bound with wasm-bindgen at exactly the version the crate
//! pins, written to `target/widget/dist` as content-hashed files plus `manifest.json` with each file's SRI
//! hash and sizes. Only crates.io tools: the wasm-bindgen CLI is `cargo install`ed into `target/tools`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use sha2::{Digest, Sha384};

use crate::sh;

/// gzip bytes a buyer downloads before the widget works: loader + glue + wasm + CSS.
pub const CRITICAL_PATH_BUDGET: u64 = 150_000;
const WASM_TARGET: &str = "wasm32-unknown-unknown";

pub fn dist_dir() -> PathBuf {
    sh::root().join("target/widget/dist")
}

/// The `wasm-bindgen` version in Cargo.lock: the CLI must match the library byte for byte.
fn locked_wasm_bindgen_version() -> Result<String> {
    let lock = fs::read_to_string(sh::root().join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_owned());
            }
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

/// `target/tools/bin/wasm-bindgen` at `version`, installed from crates.io when missing or different.
fn ensure_wasm_bindgen(version: &str) -> Result<PathBuf> {
    let root = sh::root().join("target/tools");
    let exe = root.join("bin/wasm-bindgen");
    let installed = sh::output(Command::new(&exe).arg("--version")).unwrap_or_default();
    if installed.split_whitespace().nth(1) == Some(version) {
        return Ok(exe);
    }
    eprintln!("installing wasm-bindgen-cli {version} into {}", root.display());
    // Not --locked: the published lock file of 0.2.130 misses a pin (see docs/widget.md).
    sh::run(
        Command::new(sh::cargo())
            .args([
                "install",
                "wasm-bindgen-cli",
                "--version",
                &format!("={version}"),
                "--force",
                "--root",
            ])
            .arg(&root),
    )?;
    Ok(exe)
}

fn sha384_sri(bytes: &[u8]) -> (String, String) {
    let digest = Sha384::digest(bytes);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    (
        format!(
            "sha384-{}",
            base64::engine::general_purpose::STANDARD.encode(digest)
        ),
        hex,
    )
}

/// Size at gzip level 9 (the figure budgets and benchmarks use).
pub fn gzip_len(bytes: &[u8]) -> Result<u64> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)?;
    Ok(enc.finish()?.len() as u64)
}

struct Built {
    name: &'static str,
    path: String,
    integrity: String,
    bytes: u64,
    gzip: u64,
}

fn write_hashed(dist: &Path, name: &'static str, stem: &str, ext: &str, bytes: &[u8]) -> Result<Built> {
    let (integrity, hex) = sha384_sri(bytes);
    let path = format!("{stem}-{hex}.{ext}");
    fs::write(dist.join(&path), bytes)?;
    Ok(Built {
        name,
        path,
        integrity,
        bytes: bytes.len() as u64,
        gzip: gzip_len(bytes)?,
    })
}

/// Builds the widget; returns the critical-path gzip size in bytes.
pub fn build() -> Result<u64> {
    crate::ensure_wasm_target()?;
    let root = sh::root();
    sh::run(Command::new(sh::cargo()).current_dir(&root).args([
        "build",
        "-p",
        "tranche-widget",
        "--lib",
        "--target",
        WASM_TARGET,
        "--profile",
        "wasm-release",
    ]))?;
    let version = locked_wasm_bindgen_version()?;
    let bindgen = ensure_wasm_bindgen(&version)?;
    let input = root.join(format!("target/{WASM_TARGET}/wasm-release/tranche_widget.wasm"));
    let out = root.join("target/widget/bindgen");
    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    sh::run(
        Command::new(&bindgen)
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--remove-name-section",
                "--remove-producers-section",
            ])
            .arg("--out-dir")
            .arg(&out)
            .arg(&input),
    )?;

    let dist = dist_dir();
    if dist.exists() {
        fs::remove_dir_all(&dist)?;
    }
    fs::create_dir_all(&dist)?;
    let read = |p: PathBuf| fs::read(&p).with_context(|| format!("reading {}", p.display()));
    let wasm = write_hashed(
        &dist,
        "tranche_widget_bg.wasm",
        "tranche_widget_bg",
        "wasm",
        &read(out.join("tranche_widget_bg.wasm"))?,
    )?;
    let glue = write_hashed(
        &dist,
        "tranche_widget.js",
        "tranche_widget",
        "js",
        &read(out.join("tranche_widget.js"))?,
    )?;
    let css = write_hashed(
        &dist,
        "tranche.css",
        "tranche",
        "css",
        &read(root.join("widget/assets/tranche.css"))?,
    )?;

    let loader_src = fs::read_to_string(root.join("widget/loader/tranche.js"))?;
    let marker = "/*TRANCHE_FILES*/";
    let start = loader_src
        .find(marker)
        .ok_or_else(|| anyhow!("loader has no {marker}"))?;
    let end = loader_src[start..]
        .find("};")
        .map(|i| start + i + 1)
        .ok_or_else(|| anyhow!("loader FILES object not terminated"))?;
    let files = format!(
        "{{ glue: \"{}\", wasm: \"{}\", css: \"{}\" }}",
        glue.path, wasm.path, css.path
    );
    let loader = format!("{}{}{}", &loader_src[..start], files, &loader_src[end..]);
    let (integrity, _) = sha384_sri(loader.as_bytes());
    fs::write(dist.join("tranche.js"), &loader)?;
    let loader = Built {
        name: "tranche.js",
        path: "tranche.js".into(),
        integrity,
        bytes: loader.len() as u64,
        gzip: gzip_len(loader.as_bytes())?,
    };

    let all = [loader, glue, wasm, css];
    let critical: u64 = all.iter().map(|f| f.gzip).sum();
    let entries: Vec<String> = all
        .iter()
        .map(|f| {
            format!(
                "    {{\"name\": \"{}\", \"path\": \"{}\", \"integrity\": \"{}\", \"bytes\": {}, \"gzip_bytes\": {}}}",
                f.name, f.path, f.integrity, f.bytes, f.gzip
            )
        })
        .collect();
    let manifest = format!(
        "{{\n  \"wasm_bindgen\": \"{version}\",\n  \"critical_path_gzip_bytes\": {critical},\n  \"budget_gzip_bytes\": {CRITICAL_PATH_BUDGET},\n  \"files\": [\n{}\n  ]\n}}\n",
        entries.join(",\n")
    );
    fs::write(dist.join("manifest.json"), manifest)?;

    eprintln!("\nwidget built into {}", dist.display());
    for f in &all {
        eprintln!("  {:<40} {:>9} bytes  {:>8} gzip", f.path, f.bytes, f.gzip);
    }
    eprintln!("  critical path (gzip): {critical} bytes of a {CRITICAL_PATH_BUDGET} budget");
    if critical > CRITICAL_PATH_BUDGET {
        // Reported, not fatal: `cargo xtask bench` tracks it against the budget (docs/benchmarks.md).
        eprintln!(
            "\x1b[1;33m  warning: over the critical-path budget by {} bytes\x1b[0m",
            critical - CRITICAL_PATH_BUDGET
        );
    }
    Ok(critical)
}
