//! The `tranche` binary as an operator meets it: `--help` on every command, `--version`, `config check`
//! (secrets masked, production findings), and JSON logs whose handler lines carry the request id and the
//! caller's W3C trace id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn tranche() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tranche"));
    // Only what each test sets: no tranche.toml, no inherited TRANCHE_* from the developer's shell.
    for (key, _) in std::env::vars() {
        if key.starts_with("TRANCHE_") {
            command.env_remove(key);
        }
    }
    command.env("TRANCHE_CONFIG", "/nonexistent/tranche.toml");
    command
}

/// Starts `command` with its stdout read line by line on a thread (stderr dropped), so a test can wait for a
/// line with a timeout.
fn spawn_with_lines(command: &mut Command) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, lines)
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = tranche().args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_documents_every_command_and_version_is_the_crate_version() {
    let (ok, top, _) = run(&["--help"]);
    assert!(ok);
    for command in ["serve", "migrate", "seller", "config", "health", "demo"] {
        assert!(
            top.lines().any(|l| l.trim_start().starts_with(command)),
            "{command} in:\n{top}"
        );
    }
    for path in [
        &["serve", "--help"][..],
        &["migrate", "--help"],
        &["seller", "--help"],
        &["seller", "create", "--help"],
        &["config", "check", "--help"],
        &["demo", "--help"],
        &["health", "--help"],
    ] {
        let (ok, text, err) = run(path);
        assert!(ok, "{path:?}: {err}");
        assert!(text.contains("Usage: tranche"), "{path:?}: {text}");
    }
    let (_, create, _) = run(&["seller", "create", "--help"]);
    assert!(
        create.contains("--name") && create.contains("--origin"),
        "{create}"
    );
    let (ok, version, _) = run(&["--version"]);
    assert!(ok);
    assert_eq!(version.trim(), format!("tranche {}", env!("CARGO_PKG_VERSION")));
    // A wrong command is a usage error (exit 2) naming what exists, never a server start.
    let out = tranche().arg("serv").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("serve"));
}

#[test]
fn config_check_prints_effective_settings_with_secrets_masked() {
    let out = tranche()
        .args(["config", "check"])
        .env(
            "TRANCHE_OPERATOR_TOKEN",
            "op_secret_value_that_must_not_print_0123456789",
        )
        .env(
            "TRANCHE_DATABASE_URL",
            "postgres://tranche:db-password-xyz@db.internal/tranche",
        )
        .env("TRANCHE_ERP_MAX_IN_FLIGHT", "7")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "development: findings are shown, not fatal");
    assert!(
        !stdout.contains("op_secret_value") && !stdout.contains("db-password-xyz"),
        "{stdout}"
    );
    assert!(stdout.contains("operator_token = \"***\""), "{stdout}");
    assert!(
        stdout.contains("max_in_flight = 7"),
        "the environment wins over defaults: {stdout}"
    );
    assert!(
        stdout.contains("TRANCHE_MASTER_KEY is not set"),
        "production findings listed: {stdout}"
    );
    // In production the same findings fail the check, so a deploy pipeline can gate on it.
    let out = tranche()
        .args(["config", "check"])
        .env("TRANCHE_ENV", "production")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_log_lines_from_a_handler_carry_the_request_id_and_trace_id() {
    let dir = std::env::temp_dir().join(format!("tranche-logs-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (mut child, lines) = spawn_with_lines(
        tranche()
            .arg("serve")
            .env("TRANCHE_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "TRANCHE_DATABASE_URL",
                format!("sqlite://{}", dir.join("t.db").display()),
            )
            .env("TRANCHE_METRICS_ADDR", "127.0.0.1:0")
            .env("TRANCHE_LOG_FORMAT", "json")
            .env("TRANCHE_LOG", "info"),
    );
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client
        .get(format!("http://127.0.0.1:{port}/livez"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client
        .get(format!("http://127.0.0.1:{port}/v1/checkout"))
        .bearer_auth("not-a-token")
        .header("x-request-id", "req-logs-1")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // The handler's own line ("checkout token refused") and the completion line, both in the request span.
    let mut handler_line = None;
    let mut completion_line = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while (handler_line.is_none() || completion_line.is_none()) && Instant::now() < deadline {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let json: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if json["span"]["request_id"] != "req-logs-1" {
            continue;
        }
        assert_eq!(json["span"]["trace_id"], trace, "{line}");
        match json["message"].as_str() {
            Some("checkout token refused") => handler_line = Some(json),
            Some("request") => completion_line = Some(json),
            _ => {}
        }
    }
    // The container health check: ready while the server runs, not once it is gone.
    let health = || {
        tranche()
            .arg("health")
            .env("TRANCHE_ADDR", format!("0.0.0.0:{port}"))
            .output()
            .unwrap()
    };
    let ready = health();
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stdout)
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(health().status.code(), Some(1));
    let handler_line = handler_line.expect("the handler's line carries the request id");
    assert_eq!(handler_line["level"], "INFO");
    let completion_line = completion_line.expect("one completion line per request");
    assert_eq!(completion_line["status"], 401);
    assert_eq!(completion_line["route"], "/v1/checkout");
    assert!(
        !completion_line.to_string().contains("not-a-token"),
        "the bearer token is never logged"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One binary, nothing beside it: copied to an empty directory with no `TRANCHE_*` settings, `tranche demo`
/// serves the hosted pay page and the widget from inside itself, and a payment goes through that page's API.
/// Needs a binary built after the widget (`cargo xtask test` and `cargo xtask dist` set
/// `TRANCHE_EMBED_WIDGET_DIR`); elsewhere it is skipped unless `TRANCHE_REQUIRE_WIDGET` is set.
#[tokio::test(flavor = "multi_thread")]
async fn the_lone_binary_serves_a_payable_hosted_page() {
    let dir = std::env::temp_dir().join(format!("tranche-lone-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("tranche");
    std::fs::copy(env!("CARGO_BIN_EXE_tranche"), &binary).unwrap();
    let lone = |args: &[&str]| {
        let mut command = Command::new(&binary);
        command
            .args(args)
            .current_dir(&dir)
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        command
    };
    let check = lone(&["config", "check"]).output().unwrap();
    let check = String::from_utf8_lossy(&check.stdout).into_owned();
    if !check.contains("# widget: built into this binary") {
        assert!(
            std::env::var_os("TRANCHE_REQUIRE_WIDGET").is_none(),
            "the binary has no widget inside (TRANCHE_REQUIRE_WIDGET is set): {check}"
        );
        eprintln!(
            "skipped: this test binary was built without the widget inside (run `cargo xtask build-widget`)"
        );
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (mut child, lines) = spawn_with_lines(
        lone(&["demo"])
            .env("TRANCHE_ADDR", format!("127.0.0.1:{port}"))
            .env("TRANCHE_METRICS_ADDR", "127.0.0.1:0")
            .env("TRANCHE_DEMO_SITE_ADDR", "127.0.0.1:0")
            .env("TRANCHE_DEMO_ERP_ADDR", "127.0.0.1:0")
            .env("TRANCHE_LOG", "warn"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let mut link = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while link.is_none() && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            if line.contains("INV-1001") {
                link = line
                    .split_whitespace()
                    .find(|w| w.starts_with(&format!("{base}/pay/")))
                    .map(str::to_owned);
            }
        }
    }
    let link = link.expect("the demo printed INV-1001's pay link");
    let token = link.rsplit('/').next().unwrap().to_owned();
    let client = reqwest::Client::new();
    let page = client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/widget/v1/tranche.js") && html.contains("integrity=\"sha384-"),
        "{html}"
    );
    // Every file of the build the page needs, from the binary (the directory holds only the binary and
    // the demo's data).
    let manifest: Value = client
        .get(format!("{base}/widget/v1/manifest.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut served = 0;
    for file in manifest["files"].as_array().expect("manifest files") {
        let name = file["path"].as_str().expect("file path");
        let r = client
            .get(format!("{base}/widget/v1/{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
        served += 1;
    }
    assert!(served >= 3, "loader, glue, wasm and css: {manifest}");
    let entries: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !entries.iter().any(|e| e == "target"),
        "nothing but the binary and its data: {entries:?}"
    );
    // Payable: the page's own calls, as the widget makes them.
    let card: Value = client
        .post(format!("{base}/sandbox/v1/tokens"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paid = client
        .post(format!("{base}/v1/checkout/payments"))
        .bearer_auth(&token)
        .header("idempotency-key", "lone-1")
        .json(&serde_json::json!({"amount": "603.00", "payment_token": card["token"]}))
        .send()
        .await
        .unwrap();
    let status = paid.status();
    let body = paid.text().await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 201, "{body}");
    let _ = std::fs::remove_dir_all(&dir);
}
