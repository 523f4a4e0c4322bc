//! The TypeScript declarations and the Custom Elements Manifest that ship with the widget: `tsc` accepts a
//! page's typical use and refuses a wrong one, and the manifest names exactly what the element exposes in
//! Chromium (attributes, properties, methods, events, CSS parts and properties).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tranche_e2e::{site, skip, widget_dir, Harness};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `tsc` from `cargo xtask node-tools`, or `None` (skipped with a message; required under `cargo xtask test`).
fn tsc() -> Option<PathBuf> {
    let tsc = root().join("target/tools/node/node_modules/typescript/bin/tsc");
    if tsc.exists() {
        return Some(tsc);
    }
    assert!(
        std::env::var_os("TRANCHE_REQUIRE_BROWSER").is_none(),
        "tsc missing: run cargo xtask node-tools"
    );
    eprintln!("skipped: tsc missing (cargo xtask node-tools)");
    None
}

/// Type-checks `source` (strict) against the shipped declarations; returns (success, tsc's output).
fn type_check(tsc: &Path, name: &str, source: &str) -> (bool, String) {
    let dir = root().join(format!("target/tools/types-check/{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    // The shipped file as a page would get it (build-widget copies it into dist).
    std::fs::copy(
        widget_dir().join("tranche-checkout.d.ts"),
        dir.join("tranche-checkout.d.ts"),
    )
    .unwrap();
    std::fs::write(dir.join("usage.ts"), source).unwrap();
    let out = Command::new("node")
        .arg(tsc)
        .args([
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2022,dom",
            "usage.ts",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const GOOD: &str = r#"
import type { TrancheCheckoutElement, TranchePaymentSucceededDetail, TrancheErrorCode } from "./tranche-checkout";

const el = document.createElement("tranche-checkout");
const same: TrancheCheckoutElement = el;
el.token = "ct_123";
el.locale = "de-DE";
el.theme = "auto";
el.api = null;
const done: Promise<void> = el.refresh();
el.addEventListener("tranche:payment-succeeded", (e) => {
  const d: TranchePaymentSucceededDetail = e.detail;
  const balance: string = d.balance_due;
  console.log(balance.length, d.status === "pending");
});
el.addEventListener("tranche:error", (e) => {
  const code: TrancheErrorCode = e.detail.code;
  console.log(code, e.detail.message);
});
document.addEventListener("tranche:amount-change", (e) => console.log(e.detail.amount ?? "none", e.detail.valid));
const found = document.querySelector("tranche-checkout");
found?.refresh();
console.log(same, done);
"#;

/// Each line is a mistake the declarations must catch.
const BAD: [&str; 4] = [
    "document.createElement('tranche-checkout').token = 5;",
    "document.createElement('tranche-checkout').theme = 'blue';",
    "document.createElement('tranche-checkout').addEventListener('tranche:payment-succeeded', (e) => { const n: number = e.detail.amount; console.log(n); });",
    "document.createElement('tranche-checkout').addEventListener('tranche:error', (e) => { const c: 'oops' = e.detail.code; console.log(c); });",
];

#[test]
fn the_declarations_type_check_a_real_use_and_refuse_mistakes() {
    if !widget_dir().join("tranche-checkout.d.ts").exists() {
        assert!(
            std::env::var_os("TRANCHE_REQUIRE_BROWSER").is_none(),
            "widget not built"
        );
        return;
    }
    let Some(tsc) = tsc() else { return };
    let (ok, out) = type_check(&tsc, "good", GOOD);
    assert!(ok, "tsc refused the typical use:\n{out}");
    for (i, bad) in BAD.iter().enumerate() {
        let source = format!("import type {{}} from \"./tranche-checkout\";\n{bad}\n");
        let (ok, out) = type_check(&tsc, &format!("bad{i}"), &source);
        assert!(!ok, "tsc accepted a mistake: {bad}\n{out}");
    }
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_names_what_the_element_exposes() {
    if skip() {
        return;
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(widget_dir().join("custom-elements.json")).unwrap())
            .unwrap();
    assert!(
        manifest["schemaVersion"].as_str().unwrap().starts_with("2."),
        "{}",
        manifest["schemaVersion"]
    );
    let module = &manifest["modules"][0];
    assert_eq!(module["kind"], "javascript-module");
    assert_eq!(module["path"], "tranche.js");
    let class = &module["declarations"][0];
    assert_eq!(class["kind"], "class");
    assert_eq!(class["customElement"], true);
    assert_eq!(class["tagName"], "tranche-checkout");
    assert_eq!(
        module["exports"][0],
        json!({"kind": "custom-element-definition", "name": "tranche-checkout",
               "declaration": {"name": "TrancheCheckout", "module": "tranche.js"}})
    );
    for attribute in class["attributes"].as_array().unwrap() {
        assert_eq!(attribute["name"], attribute["fieldName"], "{attribute}");
    }

    let h = Harness::start().await.unwrap();
    let (_, token) = h.invoice("CEM-1", "300.00").await.unwrap();
    let version = tranche_api::routes::pages::WIDGET_VERSION;
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">{}<script type=\"module\" src=\"{}/widget/{version}/tranche.js\"></script></head>\
         <body><tranche-checkout token=\"{token}\"></tranche-checkout></body></html>",
        site::EVENT_LOG,
        h.api
    );
    h.open_page(page, None).await.unwrap();
    h.shadow(0, "[data-testid=amount]").await.unwrap();
    // `_`-prefixed members are the loader's hooks for its own wasm (fields address, Stripe.js calls), not
    // the element's API: the manifest lists what a page may use.
    let real = h
        .browser
        .execute(
            "const C = customElements.get('tranche-checkout'); const p = C.prototype; \
             const own = Object.getOwnPropertyNames(p).filter(n => n !== 'constructor' && !n.startsWith('_')); \
             return { name: C.name, attributes: C.observedAttributes, \
                      fields: own.filter(n => Object.getOwnPropertyDescriptor(p, n).set), \
                      methods: own.filter(n => typeof Object.getOwnPropertyDescriptor(p, n).value === 'function' && !n.endsWith('Callback')) };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(class["name"], real["name"]);
    let set = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&class["attributes"]), set(&real["attributes"]));
    let members = class["members"].as_array().unwrap();
    let of_kind = |kind: &str| -> BTreeSet<String> {
        members
            .iter()
            .filter(|m| m["kind"] == kind)
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(of_kind("field"), set(&real["fields"]));
    assert_eq!(of_kind("method"), set(&real["methods"]));

    // Events: every one the element dispatched so far is listed (ready and amount-change on load).
    let listed = names(&class["events"]);
    for e in h.page_events().await {
        assert!(
            listed.contains(e["type"].as_str().unwrap()),
            "{e} not in the manifest"
        );
    }
    // The catalogue matches the declarations' event map.
    let dts = std::fs::read_to_string(widget_dir().join("tranche-checkout.d.ts")).unwrap();
    for event in &listed {
        assert!(
            dts.contains(&format!("\"{event}\": CustomEvent<")),
            "{event} not in the .d.ts"
        );
    }
    // CSS parts seen in the shadow root are all listed; CSS properties are the stylesheet's.
    let parts = h
        .browser
        .execute(
            "return [...document.querySelector('tranche-checkout').shadowRoot.querySelectorAll('[part]')] \
               .flatMap(e => e.getAttribute('part').split(/\\s+/))",
            vec![],
        )
        .await
        .unwrap();
    let listed_parts = names(&class["cssParts"]);
    for part in set(&parts) {
        assert!(listed_parts.contains(&part), "part {part} not in the manifest");
    }
    let css = std::fs::read_to_string(root().join("widget/assets/tranche.css")).unwrap();
    let mut used = BTreeSet::new();
    for (i, _) in css.match_indices("var(--tranche-") {
        let name: String = css[i + 4..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        used.insert(name);
    }
    assert_eq!(names(&class["cssProperties"]), used);
    h.close().await;
}
