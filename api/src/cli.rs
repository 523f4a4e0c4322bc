//! Command line: `tranche serve | migrate | seller create --name N [--origin URL]... | scheduler run --as-of DATE | demo`.

use std::process::ExitCode;

use anyhow::Context;

use crate::config::Settings;
use crate::db::Db;
use crate::startup::Application;

const USAGE: &str =
    "usage: tranche <serve | migrate | seller create --name NAME [--origin URL]... | scheduler run --as-of DATE | demo>";

pub fn main() -> ExitCode {
    init_tracing();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRANCHE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

async fn run(args: &[String]) -> anyhow::Result<()> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["serve"] | [] => {
            let settings = Settings::load()?;
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), public_url = %app.state().public_base, "tranche listening");
            app.run_until_stopped().await
        }
        ["migrate"] => {
            let settings = Settings::load()?;
            Db::connect(settings.database_url.expose(), 1).await?;
            println!("migrations applied");
            Ok(())
        }
        ["seller", "create", rest @ ..] => seller_create(rest).await,
        ["scheduler", "run", "--as-of", date] => scheduler_run(date).await,
        ["demo", rest @ ..] => crate::demo::run(rest).await,
        _ => anyhow::bail!("{USAGE}"),
    }
}

/// One scheduler pass as of `date`; the logic is `scheduler::run_as_of`.
async fn scheduler_run(date: &str) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let app = Application::build(Settings {
        addr: "127.0.0.1:0".to_owned(),
        ..settings
    })
    .await?;
    let report = crate::scheduler::run_as_of(app.state(), date).await?;
    println!(
        "scheduler pass as of {date}: {} invoices looked at, {} reminders queued, {} superseded, {} installments missed, {} late fees applied",
        report.invoices, report.reminders_sent, report.reminders_superseded, report.installments_missed, report.fees_applied
    );
    Ok(())
}

async fn seller_create(rest: &[&str]) -> anyhow::Result<()> {
    let mut name = None;
    let mut origins = Vec::new();
    let mut i = 0;
    while i < rest.len() {
        match (rest[i], rest.get(i + 1)) {
            ("--name", Some(v)) => name = Some((*v).to_owned()),
            ("--origin", Some(v)) => origins.push((*v).to_owned()),
            _ => anyhow::bail!("{USAGE}"),
        }
        i += 2;
    }
    let name = name.context("--name is required")?;
    let settings = Settings::load()?;
    let app = Application::build(Settings {
        addr: "127.0.0.1:0".to_owned(),
        ..settings
    })
    .await?;
    let (id, key) = crate::routes::parties::insert_seller(app.state(), &name, &origins)
        .await
        .map_err(|e| anyhow::anyhow!("creating the seller: {e}"))?;
    println!(
        "seller id:  {id}\nsecret key: {key}\n(the key is shown once; store it in your secrets manager)"
    );
    Ok(())
}
