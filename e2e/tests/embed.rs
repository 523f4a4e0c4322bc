//! The embed-snippets, run (a snippet nobody runs rots): token minting in Node, Python and PHP against a
//! live API, whose tokens `GET /v1/checkout` accepts; the React and Vue examples built with vite from npm,
//! served, and paid through in Chromium; the `:not(:defined)` placeholder CSS of the plain snippet.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tranche_e2e::{skip, widget_dir, Harness};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A tool the snippets need, or `None` (skipped with a message; required under `cargo xtask test`, which
/// installs node, npm's tools and PHP first).
fn tool(path: PathBuf, how: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("TRANCHE_REQUIRE_BROWSER").is_none(),
        "{} missing: {how}",
        path.display()
    );
    eprintln!("skipped: {} missing ({how})", path.display());
    None
}

fn loader_integrity() -> String {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(widget_dir().join("manifest.json")).unwrap()).unwrap();
    manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "tranche.js")
        .unwrap()["integrity"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs a minting snippet; returns the token it printed.
fn mint(program: &Path, args: &[&str], script: &str, h: &Harness, invoice: &str) -> String {
    let out = Command::new(program)
        .args(args)
        .arg(root().join("embed-snippets/mint").join(script))
        .arg(invoice)
        .arg("3600")
        .env("TRANCHE_API", &h.api)
        .env("TRANCHE_SECRET_KEY", &h.key)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script}: {e}: {stdout}"));
    assert!(link["url"].as_str().unwrap().contains("/pay/"), "{link}");
    link["token"].as_str().unwrap().to_owned()
}

/// Runs a minting snippet against an invoice that does not exist: it must fail with the problem's code.
fn mint_fails(program: &Path, args: &[&str], script: &str, h: &Harness) {
    let out = Command::new(program)
        .args(args)
        .arg(root().join("embed-snippets/mint").join(script))
        .arg("inv_missing")
        .env("TRANCHE_API", &h.api)
        .env("TRANCHE_SECRET_KEY", &h.key)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{script} succeeded for a missing invoice");
    assert!(stderr.contains("404"), "{script}: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minting_snippets_in_node_python_and_php_make_tokens_the_checkout_accepts() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (invoice_id, _) = h.invoice("MINT-1", "120.00").await.unwrap();
    let mut tokens = Vec::new();
    let node = tool(
        PathBuf::from("/usr/bin/node"),
        "cargo xtask node-tools installs nodejs",
    );
    let php = tool(PathBuf::from("/usr/bin/php"), "cargo xtask test installs php-cli");
    let python = PathBuf::from("python3");
    if let Some(node) = &node {
        tokens.push(("node", mint(node, &[], "mint-token.mjs", &h, &invoice_id)));
        mint_fails(node, &[], "mint-token.mjs", &h);
    }
    tokens.push(("python", mint(&python, &[], "mint_token.py", &h, &invoice_id)));
    mint_fails(&python, &[], "mint_token.py", &h);
    if let Some(php) = &php {
        tokens.push(("php", mint(php, &[], "mint-token.php", &h, &invoice_id)));
        mint_fails(php, &[], "mint-token.php", &h);
    }
    for (language, token) in &tokens {
        let r = h
            .http
            .get(format!("{}/v1/checkout", h.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{language}'s token");
        let view: Value = r.json().await.unwrap();
        assert_eq!(view["invoice"]["id"], invoice_id.as_str(), "{language}");
    }
    // Three different links for one invoice.
    let mut distinct: Vec<&String> = tokens.iter().map(|(_, t)| t).collect();
    distinct.dedup();
    assert_eq!(distinct.len(), tokens.len());
    h.close().await;
}

/// Builds `embed-snippets/{app}` with vite for the API at `api`; returns the output folder.
fn build_app(app: &str, api: &str) -> Option<PathBuf> {
    let tools = root().join("target/tools/node");
    let vite = tool(
        tools.join("node_modules/vite/bin/vite.js"),
        "cargo xtask node-tools",
    )?;
    // Inside the tools folder, so the app's imports (react, vue) resolve to its node_modules.
    let src = tools.join("examples").join(app);
    let out = root().join(format!("target/embed-examples/{app}"));
    std::fs::create_dir_all(&src).unwrap();
    for entry in std::fs::read_dir(root().join("embed-snippets").join(app)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), src.join(entry.file_name())).unwrap();
    }
    let status = Command::new("node")
        .arg(vite)
        .arg("build")
        .arg(&src)
        .arg("--outDir")
        .arg(&out)
        .args(["--emptyOutDir", "--logLevel", "warn"])
        .env("VITE_TRANCHE_API", api)
        .env("VITE_TRANCHE_VERSION", tranche_api::routes::pages::WIDGET_VERSION)
        .env("VITE_TRANCHE_INTEGRITY", loader_integrity())
        .status()
        .unwrap();
    assert!(status.success(), "vite build of {app}");
    Some(out)
}

/// Builds the `app` example, serves it as the seller's site and pays the invoice in full through it.
async fn pay_through(app: &str) {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let Some(dist) = build_app(app, &h.api) else {
        h.close().await;
        return;
    };
    let (invoice_id, token) = h.invoice(&format!("{app}-1"), "640.00").await.unwrap();
    let index = std::fs::read_to_string(dist.join("index.html")).unwrap();
    assert!(index.contains(&format!(
        "/widget/{}/tranche.js",
        tranche_api::routes::pages::WIDGET_VERSION
    )));
    h.serve_page(index, Some(dist)).unwrap();
    h.open(&format!("{}/?token={token}", h.site)).await.unwrap();

    h.shadow_text(0, "[data-testid=balance-due]", "$640.00")
        .await
        .unwrap();
    h.click(0, "[data-testid=full]").await.unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.expect_paid(0, "$640.00", "$640.00", "$0.00").await.unwrap();
    // The framework heard the element's event and rendered its detail.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let text = h
            .browser
            .execute(
                "return document.querySelector('[data-testid=app-paid]')?.textContent ?? ''",
                vec![],
            )
            .await
            .unwrap();
        if text
            .as_str()
            .unwrap()
            .contains("Received 640.00 USD; 0.00 left to pay.")
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{app} app shows {text}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(h.invoice_state(&invoice_id).await.unwrap()["status"], "paid");
    let errors = h.console_errors().await.unwrap();
    assert!(errors.is_empty(), "{app}: {errors:?}");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_react_example_builds_and_pays() {
    pay_through("react").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vue_example_builds_and_pays() {
    pay_through("vue").await;
}

/// The plain snippet's placeholder: before the loader defines the element it keeps its space, after it
/// the widget lays itself out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_snippets_placeholder_holds_the_space_until_the_element_is_defined() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (_, token) = h.invoice("PH-1", "90.00").await.unwrap();
    let snippet = std::fs::read_to_string(root().join("embed-snippets/snippet.html")).unwrap();
    let start = snippet
        .find("<style>")
        .expect("the snippet documents the placeholder CSS");
    let style = &snippet[start..start + snippet[start..].find("</style>").unwrap() + 8];
    assert!(style.contains("tranche-checkout:not(:defined)"), "{style}");
    // No loader yet: the element is undefined and the placeholder holds the space.
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">{style}</head><body>\
         <tranche-checkout token=\"{token}\"></tranche-checkout><p id=\"after\">after</p></body></html>"
    );
    h.open_page(page, None).await.unwrap();
    let height = |h: &Harness| {
        let b = h.browser.clone();
        async move {
            b.execute(
                "return [document.querySelector('tranche-checkout').getBoundingClientRect().height, \
                         !!customElements.get('tranche-checkout')]",
                vec![],
            )
            .await
            .unwrap()
        }
    };
    let before = height(&h).await;
    assert_eq!(before[1], false);
    assert!(before[0].as_f64().unwrap() >= 400.0, "{before}");
    // Now the loader arrives: defined, the placeholder rule no longer applies, the widget renders.
    h.browser
        .execute(
            "const s = document.createElement('script'); s.type = 'module'; s.src = arguments[0]; document.head.append(s);",
            vec![json!(format!("{}/widget/v1/tranche.js", h.api))],
        )
        .await
        .unwrap();
    h.shadow(0, "[data-testid=balance-due]").await.unwrap();
    let after = height(&h).await;
    assert_eq!(after[1], true);
    let matches = h
        .browser
        .execute(
            "return document.querySelector('tranche-checkout').matches(':not(:defined)')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(matches, false);
    h.close().await;
}
