//! `cargo xtask bench`: widget size (raw, gzip, brotli) here, then the release `tranche-bench` binary for
//! throughput against the raw database, the read path against a hello-world route, ERP latency, peak RSS and
//! widget start in Chromium. Writes `target/bench/report.json` and `target/bench/report.md` and prints the
//! table. Each figure sits next to its baseline from the same run and its goal (docs/benchmarks.md).

// Floats here are sizes, timings and ratios, never money.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use std::fs;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{postgres, sh, widget};

/// Raw bytes and the served `.gz`/`.br` sizes of each critical-path file, measured from the files on disk.
fn widget_sizes() -> Result<serde_json::Value> {
    let dist = widget::dist_dir();
    let manifest: serde_json::Value = serde_json::from_str(&fs::read_to_string(dist.join("manifest.json"))?)?;
    let mut files = Vec::new();
    let (mut raw, mut gz, mut br) = (0u64, 0u64, 0u64);
    let size = |p: String| fs::metadata(dist.join(&p)).map(|m| m.len()).with_context(|| p);
    for f in manifest["files"].as_array().context("manifest files")? {
        let path = f["path"].as_str().context("path")?;
        let (r, g, b) = (
            size(path.to_owned())?,
            size(format!("{path}.gz"))?,
            size(format!("{path}.br"))?,
        );
        raw += r;
        gz += g;
        br += b;
        files.push(serde_json::json!({"file": path, "raw": r, "gzip": g, "brotli": b}));
    }
    Ok(serde_json::json!({"files": files, "total_raw": raw, "total_gzip": gz, "total_brotli": br}))
}

pub fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let root = sh::root();
    let out_dir = root.join("target/bench");
    fs::create_dir_all(&out_dir)?;

    eprintln!("==> widget size");
    widget::build()?;
    let sizes = widget_sizes()?;

    eprintln!("==> release builds");
    sh::run(Command::new(sh::cargo()).current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "tranche-api",
        "--bin",
        "tranche",
        "-p",
        "tranche-e2e",
        "--bin",
        "tranche-bench",
    ]))?;
    crate::ensure_system_packages(&crate::TestOptions {
        postgres: true,
        browser: true,
    })?;
    let pg = postgres::TempPostgres::start()?;
    let pgbench = postgres::find_bin().map(|b| b.join("pgbench"));
    let measurements = out_dir.join("measurements.json");
    let mut cmd = Command::new(root.join("target/release/tranche-bench"));
    cmd.arg("--tranche")
        .arg(root.join("target/release/tranche"))
        .arg("--out")
        .arg(&measurements)
        .args(["--postgres", &pg.url])
        .env("TRANCHE_WIDGET_DIR", widget::dist_dir());
    if let Some(p) = &pgbench {
        cmd.arg("--pgbench").arg(p);
    }
    if quick {
        cmd.arg("--quick");
    }
    sh::run(&mut cmd)?;
    drop(pg);
    let m: serde_json::Value = serde_json::from_str(&fs::read_to_string(&measurements)?)?;

    let machine = machine_description();
    let report = serde_json::json!({
        "machine": machine,
        "quick": quick,
        "widget_size": sizes,
        "measurements": m,
    });
    fs::write(
        out_dir.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let md = markdown(&report);
    fs::write(out_dir.join("report.md"), &md)?;
    println!("{md}");
    eprintln!("written: {} and report.md", out_dir.join("report.json").display());
    Ok(())
}

fn machine_description() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

fn f(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "n/a".into(),
        serde_json::Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "meets",
        Some(false) => "**misses**",
        None => "n/a",
    }
}

fn markdown(r: &serde_json::Value) -> String {
    let m = &r["measurements"];
    let s = &r["widget_size"];
    let gz = s["total_gzip"].as_u64().unwrap_or(0);
    let mut rows: Vec<[String; 4]> = Vec::new();
    rows.push([
        "Widget critical path, gzip (loader+glue+wasm+CSS)".into(),
        format!(
            "{gz} B (raw {}, brotli {})",
            f(&s["total_raw"]),
            f(&s["total_brotli"])
        ),
        "Hyperswitch web SDK ~499 KB gzip (published); ratio ".to_owned()
            + &format!("{:.2}", gz as f64 / 499_000.0),
        format!("<= 100 KB: {}", verdict(Some(gz <= 100_000))),
    ]);
    for (name, key) in [
        ("hosted page", "hosted_page"),
        ("seller-site embed", "seller_site_embed"),
    ] {
        let w = &m["widget_start"][key];
        let med = w["to_ready"]["p50_ms"].as_f64();
        rows.push([
            format!("Widget start, {name}: navigation -> tranche:ready / -> interactive input (median, p95)"),
            format!(
                "{} / {} ms (p95 {} / {})",
                f(&w["to_ready"]["p50_ms"]),
                f(&w["to_interactive"]["p50_ms"]),
                f(&w["to_ready"]["p95_ms"]),
                f(&w["to_interactive"]["p95_ms"])
            ),
            format!(
                "page's own DOMContentLoaded {} ms; ready/DCL {} ({} loads)",
                f(&w["page_dom_content_loaded"]["p50_ms"]),
                f(&w["ratio_ready_over_page"]),
                f(&w["loads"])
            ),
            format!("median <= 150 ms: {}", verdict(med.map(|v| v <= 150.0))),
        ]);
    }
    for (name, key) in [
        ("SQLite", "throughput_sqlite"),
        ("PostgreSQL", "throughput_postgres"),
    ] {
        let t = &m[key];
        let levels: Vec<String> = t["api"]["levels"]
            .as_array()
            .map(|ls| {
                ls.iter()
                    .map(|l| {
                        format!(
                            "{}c {}/s p50 {} p99 {} ms",
                            f(&l["clients"]),
                            f(&l["payments_per_s"]),
                            f(&l["latency"]["p50_ms"]),
                            f(&l["latency"]["p99_ms"])
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ratio = t["ratio_api_over_raw_32"].as_f64();
        rows.push([
            format!("Payments/s, {name} (1, 8, 32 clients)"),
            levels.join("; "),
            format!(
                "raw write at 32 clients {}/s; API/raw {}",
                f(&t["raw_32_clients_per_s"]),
                f(&t["ratio_api_over_raw_32"])
            ),
            if key == "throughput_postgres" {
                format!("ratio >= 0.6: {}", verdict(ratio.map(|v| v >= 0.6)))
            } else {
                "(reported)".into()
            },
        ]);
        let h = &t["api"]["half_peak"];
        let p99 = h["latency"]["p99_ms"].as_f64();
        rows.push([
            format!("{name}: latency at half the peak rate (paced)"),
            format!(
                "{}/s: p50 {} ms, p99 {} ms",
                f(&h["achieved_per_s"]),
                f(&h["latency"]["p50_ms"]),
                f(&h["latency"]["p99_ms"])
            ),
            format!("target {}/s", f(&h["target_per_s"])),
            format!("p99 <= 20 ms: {}", verdict(p99.map(|v| v <= 20.0))),
        ]);
    }
    let rp = &m["read_path"];
    rows.push([
        "GET /v1/checkout requests/s (32 clients)".into(),
        f(&rp["checkout_per_s"]),
        format!(
            "hello-world /livez {}/s; ratio {}",
            f(&rp["hello_world_per_s"]),
            f(&rp["ratio"])
        ),
        format!(
            "ratio >= 0.5: {}",
            verdict(rp["ratio"].as_f64().map(|v| v >= 0.5))
        ),
    ]);
    let e = &m["erp_latency"];
    rows.push([
        "ERP latency: 201 -> webhook arrival".into(),
        format!(
            "p50 {} ms, p99 {} ms",
            f(&e["latency"]["p50_ms"]),
            f(&e["latency"]["p99_ms"])
        ),
        format!(
            "{} of {} payments delivered",
            f(&e["delivered"]),
            f(&e["payments"])
        ),
        format!(
            "p99 <= 500 ms: {}",
            verdict(e["latency"]["p99_ms"].as_f64().map(|v| v <= 500.0))
        ),
    ]);
    rows.push([
        "Peak RSS of the API (throughput runs)".into(),
        format!("{} KiB", f(&m["peak_rss_kib"])),
        String::new(),
        "(reported)".into(),
    ]);
    let mut md = format!(
        "# cargo xtask bench\n\nMachine: {}{}\n\n| Figure | Result | Baseline (same run) | Goal |\n| --- | --- | --- | --- |\n",
        r["machine"].as_str().unwrap_or(""),
        if r["quick"].as_bool() == Some(true) { " (quick run)" } else { "" }
    );
    for [a, b, c, d] in rows {
        md.push_str(&format!("| {a} | {b} | {c} | {d} |\n"));
    }
    md
}
