//! `cargo xtask bench`: widget size (raw, gzip, brotli) here, then the release `tranche-bench` binary for
//! throughput against the raw database, the read path against a hello-world route, ERP latency, peak RSS and
//! widget start in Chromium. Writes `target/bench/report.json` and `target/bench/report.md` and prints the
//! table. Each figure sits next to its baseline from the same run and its goal (docs/benchmarks.md); the ratio
//! figures come from interleaved rounds, judged on their median, with the spread rule's word next to them.

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

/// A rate to the whole unit, with thousands separators: "12,345".
fn rate(v: &serde_json::Value) -> String {
    let Some(x) = v.as_f64() else {
        return "n/a".into();
    };
    let whole = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 {
        out.insert(0, '-');
    }
    out
}

/// A ratio to two places.
fn ratio2(v: &serde_json::Value) -> String {
    v.as_f64().map_or("n/a".into(), |x| format!("{x:.2}"))
}

fn round_count(ix: &serde_json::Value) -> usize {
    ix["rounds"].as_array().map_or(0, Vec::len)
}

/// One field of every interleaved round, in the order they ran: "210 / 222 / 230".
fn per_round(ix: &serde_json::Value, field: &str, show: fn(&serde_json::Value) -> String) -> String {
    ix["rounds"]
        .as_array()
        .map(|rs| rs.iter().map(|r| show(&r[field])).collect::<Vec<_>>().join(" / "))
        .unwrap_or_default()
}

/// The median ratio of the interleaved rounds, its min-max and each round's, and the spread rule's word on it.
fn ratio_cell(ix: &serde_json::Value, label: &str) -> String {
    let r = &ix["ratio"];
    if r.is_null() {
        return format!("{label} n/a (no baseline)");
    }
    let (min, max) = (ratio2(&r["min"]), ratio2(&r["max"]));
    let trust = if r["trusted"].as_bool() == Some(true) {
        format!("spread {} <= {}", f(&r["spread"]), f(&r["spread_limit"]))
    } else {
        format!(
            "**spread too wide to trust: {min}-{max}** (spread {} > {})",
            f(&r["spread"]),
            f(&r["spread_limit"])
        )
    };
    format!(
        "{label} median {}, min-max {min}-{max} (rounds {}); {trust}",
        ratio2(&r["median"]),
        per_round(ix, "ratio", ratio2)
    )
}

/// A ratio goal judged on the median; "inconclusive (spread)" when the rounds' min and max fall on either side.
fn ratio_goal(ix: &serde_json::Value, goal: f64) -> String {
    let r = &ix["ratio"];
    let word = match (r["median"].as_f64(), r["min"].as_f64(), r["max"].as_f64()) {
        (Some(_), Some(min), Some(max)) if (min >= goal) != (max >= goal) => format!(
            "inconclusive (spread): {min:.2}-{max:.2} straddles {goal}, median {}",
            ratio2(&r["median"])
        ),
        (Some(med), _, _) => verdict(Some(med >= goal)).into(),
        _ => verdict(None).into(),
    };
    format!("median ratio >= {goal}: {word}")
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
                            rate(&l["payments_per_s"]),
                            f(&l["latency"]["p50_ms"]),
                            f(&l["latency"]["p99_ms"])
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        rows.push([
            format!("Payments/s, {name} (1, 8, 32 clients, one sweep)"),
            levels.join("; "),
            "-".into(),
            "(reported)".into(),
        ]);
        let ix = &t["interleaved"];
        rows.push([
            format!(
                "Payments/s at 32 clients, {name}: {} interleaved rounds, API then raw write",
                round_count(ix)
            ),
            format!(
                "API median {}/s (rounds {})",
                rate(&ix["median_a_per_s"]),
                per_round(ix, "a_per_s", rate)
            ),
            format!(
                "raw write median {}/s (rounds {}); {}",
                rate(&ix["median_b_per_s"]),
                per_round(ix, "b_per_s", rate),
                ratio_cell(ix, "API/raw")
            ),
            ratio_goal(ix, 0.35),
        ]);
        let h = &t["api"]["half_peak"];
        let p99 = h["latency"]["p99_ms"].as_f64();
        rows.push([
            format!("{name}: latency at half the peak rate (paced)"),
            format!(
                "{}/s: p50 {} ms, p99 {} ms",
                rate(&h["achieved_per_s"]),
                f(&h["latency"]["p50_ms"]),
                f(&h["latency"]["p99_ms"])
            ),
            format!(
                "target {}/s (half the rounds' median API rate)",
                rate(&h["target_per_s"])
            ),
            format!("p99 <= 20 ms: {}", verdict(p99.map(|v| v <= 20.0))),
        ]);
    }
    let rp = &m["read_path"];
    let ix = &rp["interleaved"];
    rows.push([
        format!(
            "GET /v1/checkout requests/s (32 clients): {} interleaved rounds of {} s, checkout then /livez",
            round_count(ix),
            f(&rp["seconds_per_side"])
        ),
        format!(
            "median {}/s (rounds {})",
            rate(&rp["checkout_per_s"]),
            per_round(ix, "a_per_s", rate)
        ),
        format!(
            "hello-world /livez median {}/s (rounds {}); {}",
            rate(&rp["hello_world_per_s"]),
            per_round(ix, "b_per_s", rate),
            ratio_cell(ix, "ratio")
        ),
        ratio_goal(ix, 0.5),
    ]);
    let e = &m["erp_latency"];
    let (p50, p99) = (e["latency"]["p50_ms"].as_f64(), e["latency"]["p99_ms"].as_f64());
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
            "p50 <= 50 ms: {}; p99 <= 250 ms: {}",
            verdict(p50.map(|v| v <= 50.0)),
            verdict(p99.map(|v| v <= 250.0))
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
    md.push_str(
        "\nRatios are the median of the per-round A/B of interleaved rounds (A, then its baseline B, round after \
         round). A ratio whose rounds spread by more than the limit, (max - min) / median, is marked too wide to \
         trust. A goal is judged on the median ratio, and is inconclusive (spread) when the rounds' min and max \
         fall on either side of it.\n",
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounds(ratios: &[f64], trusted: bool) -> serde_json::Value {
        let rs: Vec<_> = ratios
            .iter()
            .map(|r| serde_json::json!({"a_per_s": 100.0, "b_per_s": 100.0 / r, "ratio": r}))
            .collect();
        serde_json::json!({"rounds": rs, "ratio": {"median": ratios[1], "min": ratios[0], "max": ratios[2],
                                                   "spread": 0.5, "spread_limit": 0.25, "trusted": trusted}})
    }

    #[test]
    fn rates_have_thousands_separators() {
        assert_eq!(rate(&serde_json::json!(1234567.4)), "1,234,567");
        assert_eq!(rate(&serde_json::json!(999.5)), "1,000");
        assert_eq!(rate(&serde_json::json!(12)), "12");
        assert_eq!(rate(&serde_json::Value::Null), "n/a");
    }

    #[test]
    fn a_goal_between_min_and_max_is_inconclusive() {
        let ix = rounds(&[0.30, 0.36, 0.40], false);
        assert!(ratio_goal(&ix, 0.35).contains("inconclusive (spread): 0.30-0.40"));
        assert!(ratio_cell(&ix, "API/raw").contains("spread too wide to trust: 0.30-0.40"));
        assert_eq!(ratio_goal(&ix, 0.25), "median ratio >= 0.25: meets");
        assert_eq!(ratio_goal(&ix, 0.5), "median ratio >= 0.5: **misses**");
    }

    #[test]
    fn a_trusted_ratio_has_no_warning() {
        let ix = rounds(&[0.20, 0.21, 0.22], true);
        let cell = ratio_cell(&ix, "ratio");
        assert!(cell.starts_with("ratio median 0.21, min-max 0.20-0.22 (rounds 0.20 / 0.21 / 0.22)"));
        assert!(!cell.contains("too wide"));
    }
}
