//! A throwaway PostgreSQL cluster for the tests: Debian's server binaries (installed with apt when missing),
//! a fresh data directory, a free loopback port, durability off (tests do not need it, and it halves run time),
//! stopped and deleted when dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use crate::sh;

const USER: &str = "tranche";
// A test-only password for a cluster that listens on loopback and lives for one run.
const PASSWORD: &str = "tranche-test";

pub struct TempPostgres {
    bin: PathBuf,
    data: PathBuf,
    base: PathBuf,
    run_as: Option<String>,
    pub url: String,
}

/// The newest `/usr/lib/postgresql/<major>/bin` with an `initdb`, if any.
pub fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// Finds the server binaries, installing Debian's `postgresql` package when they are missing.
pub fn ensure_installed() -> Result<PathBuf> {
    if let Some(bin) = find_bin() {
        return Ok(bin);
    }
    eprintln!("PostgreSQL server not found; installing Debian's postgresql package");
    sh::apt_install(&["postgresql"])?;
    find_bin().ok_or_else(|| anyhow!("installed postgresql but found no /usr/lib/postgresql/*/bin/initdb"))
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a probe socket")?;
    Ok(listener.local_addr()?.port())
}

impl TempPostgres {
    pub fn start() -> Result<Self> {
        let bin = ensure_installed()?;
        // initdb refuses to run as root: as root, run the server as Debian's `postgres` user.
        let run_as = sh::is_root().then(|| "postgres".to_owned());
        let base = std::env::temp_dir().join(format!("tranche-pg-{}", std::process::id()));
        if base.exists() {
            std::fs::remove_dir_all(&base).ok();
        }
        std::fs::create_dir_all(&base)?;
        let data = base.join("data");
        let pwfile = base.join("pw");
        std::fs::write(&pwfile, PASSWORD)?;
        if let Some(user) = &run_as {
            sh::run(Command::new("chown").args(["-R", user]).arg(&base))?;
        }
        let mut pg = TempPostgres {
            bin,
            data: data.clone(),
            base: base.clone(),
            run_as,
            url: String::new(),
        };
        pg.tool("initdb")
            .args([
                "--username",
                USER,
                "--auth",
                "md5",
                "--encoding",
                "UTF8",
                "--no-sync",
                "--pwfile",
            ])
            .arg(&pwfile)
            .arg("-D")
            .arg(&data)
            .status()
            .context("initdb")?
            .success()
            .then_some(())
            .ok_or_else(|| anyhow!("initdb failed"))?;
        let port = free_port()?;
        let options = format!(
            "-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB",
            sock = base.display()
        );
        sh::run(
            pg.tool("pg_ctl")
                .arg("start")
                .arg("-D")
                .arg(&data)
                .args(["-w", "-t", "60", "-o", &options, "-l"])
                .arg(base.join("server.log")),
        )
        .map_err(|e| {
            let log = std::fs::read_to_string(base.join("server.log")).unwrap_or_default();
            anyhow!("{e}\n{log}")
        })?;
        pg.url = format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres");
        Ok(pg)
    }

    fn tool(&self, name: &str) -> Command {
        let exe = self.bin.join(name);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let stopped = self
            .tool("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w"])
            .status();
        if let Err(e) = stopped {
            eprintln!("warning: could not stop the test PostgreSQL: {e}");
        }
        std::fs::remove_dir_all(&self.base).ok();
    }
}

/// Fails unless a server answers at the URL's port (used by `--postgres-url` sanity checks).
pub fn check_url(url: &str) -> Result<()> {
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        bail!("TRANCHE_TEST_POSTGRES_URL must be a postgres:// URL");
    }
    Ok(())
}
