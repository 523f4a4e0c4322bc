//! The command line, by clap: `tranche serve | migrate | seller create | config check | health |
//! scheduler run | demo`, each with
//! `--help`, and `tranche --version`. Settings never come from flags: they are layered in `config.rs`
//! (defaults < `tranche.toml` < `TRANCHE_*`), so a flag cannot drift from the environment variable a
//! container sets.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::db::Db;
use crate::startup::Application;

/// Tranche: a self-hostable checkout for B2B invoices, paid in full or in part.
///
/// Every setting is read from `tranche.toml` (or the file named by TRANCHE_CONFIG) and then from
/// TRANCHE_* environment variables; `tranche config check` shows the result. See ARCHITECTURE.md for
/// the list of settings.
#[derive(Debug, Parser)]
#[command(name = "tranche", version, about, long_about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API, the hosted pay page, the widget files, the relay and the reconciler (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Manage sellers.
    #[command(subcommand)]
    Seller(SellerCommand),
    /// Inspect the settings.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Time-based rules (payment-plan reminders, missed installments, late fees).
    #[command(subcommand)]
    Scheduler(SchedulerCommand),
    /// Ask the server on TRANCHE_ADDR for /readyz (the database answers); exit 0 when ready, 1 otherwise.
    /// For container health checks, where no HTTP client is installed.
    Health,
    /// A fresh demo on embedded SQLite (data/demo.db): a seller, invoices in four currencies, a seller
    /// site on another origin and an ERP receiver; prints the links. Configure with TRANCHE_ADDR and
    /// TRANCHE_PUBLIC_URL.
    Demo,
}

#[derive(Debug, Subcommand)]
enum SellerCommand {
    /// Create a seller and print its secret key (shown once).
    Create {
        /// The seller's display name.
        #[arg(long)]
        name: String,
        /// An origin allowed to embed the checkout (`https://shop.example`); repeat for several.
        #[arg(long = "origin", value_name = "URL")]
        origins: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SchedulerCommand {
    /// Run one scheduler pass as of DATE (YYYY-MM-DD), for backfills and tests; passes are idempotent, so
    /// running one again (or beside the server's own) sends nothing twice. At most 400 days from today.
    Run {
        #[arg(long = "as-of", value_name = "DATE")]
        as_of: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective settings (secrets masked) and what production would refuse; exit 1 when the
    /// settings cannot be read, or when TRANCHE_ENV=production and something would be refused.
    Check,
}

pub fn main() -> ExitCode {
    // Parsed before anything else: `--help` and `--version` print and exit without settings or logs.
    let cli = Cli::parse();
    crate::logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve))) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve => {
            let settings = Settings::load()?;
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), public_url = %app.state().public_base, "tranche listening");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let settings = Settings::load()?;
            Db::connect(settings.database_url.expose(), 1).await?;
            println!("migrations applied");
        }
        Command::Seller(SellerCommand::Create { name, origins }) => seller_create(&name, &origins).await?,
        Command::Config(ConfigCommand::Check) => return config_check(),
        Command::Demo => crate::demo::run(&[]).await?,
        Command::Health => return health().await,
        Command::Scheduler(SchedulerCommand::Run { as_of }) => scheduler_run(&as_of).await?,
    }
    Ok(ExitCode::SUCCESS)
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

async fn seller_create(name: &str, origins: &[String]) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let app = Application::build(Settings {
        addr: "127.0.0.1:0".to_owned(),
        ..settings
    })
    .await?;
    let (id, key) = crate::routes::parties::insert_seller(app.state(), name, origins)
        .await
        .map_err(|e| anyhow::anyhow!("creating the seller: {e}"))?;
    println!(
        "seller id:  {id}\nsecret key: {key}\n(the key is shown once; store it in your secrets manager)"
    );
    Ok(())
}

/// `tranche health`: `GET /readyz` on the configured listen address (an unspecified address such as
/// `0.0.0.0` is asked on loopback), 5 seconds at most.
async fn health() -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    let addr: std::net::SocketAddr = settings
        .addr
        .parse()
        .with_context(|| format!("TRANCHE_ADDR {:?} is not host:port", settings.addr))?;
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => std::net::IpAddr::from([127, 0, 0, 1]),
        ip if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}/readyz", std::net::SocketAddr::new(host, addr.port()));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .context("building the HTTP client")?;
    match client.get(&url).send().await {
        Ok(response) if response.status().is_success() => {
            println!("ready: {url}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(response) => {
            println!("not ready: {url} answered {}", response.status());
            Ok(ExitCode::FAILURE)
        }
        Err(error) => {
            println!("not ready: {url}: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `tranche config check`: the settings as the server would run with them, as TOML (secrets print as
/// `***` through their `Serialize`), then production's findings. Touches no database and no port.
fn config_check() -> anyhow::Result<ExitCode> {
    let settings = Settings::load()?;
    let text = toml::to_string_pretty(&settings).context("printing the settings")?;
    println!("# effective settings (defaults < config file < TRANCHE_* environment); secrets masked\n{text}");
    match crate::widget_files::WidgetFiles::current() {
        crate::widget_files::WidgetFiles::Embedded => println!("# widget: built into this binary"),
        crate::widget_files::WidgetFiles::Dir(dir) => println!("# widget: read from {}", dir.display()),
    }
    let findings = crate::production::findings(&settings);
    if findings.is_empty() {
        println!("# production check: nothing would be refused");
        return Ok(ExitCode::SUCCESS);
    }
    println!("# production check: TRANCHE_ENV=production would refuse to start:");
    for finding in &findings {
        println!("#   - {finding}");
    }
    Ok(
        if settings.environment == crate::production::Environment::Production {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_has_help() {
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                assert!(sub.get_about().is_some(), "`{name}` has no help text");
                walk(sub, &name);
            }
        }
        walk(&Cli::command(), "tranche");
    }

    #[test]
    fn no_subcommand_means_serve() {
        let cli = Cli::try_parse_from(["tranche"]).expect("parses");
        assert!(cli.command.is_none());
        let cli = Cli::try_parse_from([
            "tranche",
            "seller",
            "create",
            "--name",
            "Acme",
            "--origin",
            "https://a.example",
        ])
        .expect("parses");
        match cli.command {
            Some(Command::Seller(SellerCommand::Create { name, origins })) => {
                assert_eq!(name, "Acme");
                assert_eq!(origins, ["https://a.example"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(
            Cli::try_parse_from(["tranche", "seller", "create"]).is_err(),
            "--name is required"
        );
    }
}
