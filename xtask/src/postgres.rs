//! A throwaway PostgreSQL cluster for the tests: Debian's server binaries (installed with apt when missing),
//! a fresh data directory, a free loopback port, durability off (tests do not need it, and it halves run time),
//! TLS on with a certificate from a private CA made for this cluster (so `sslmode=require|verify-full` is
//! tested; plain connections still work), stopped and deleted when dropped.

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
    /// The PEM file of the CA that issued the server's certificate (`sslrootcert` for `verify-full`).
    pub ca: PathBuf,
}

/// Files of the cluster's TLS setup, all in the cluster's base folder.
struct TlsFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A CA and a server certificate for `127.0.0.1` and `localhost` signed by it. rcgen rather than the
/// `openssl` command: nothing beyond the Rust toolchain has to be on the machine.
fn write_tls_files(base: &Path) -> Result<TlsFiles> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Tranche test PostgreSQL CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let server_cert = server_params.signed_by(&server_key, &issuer)?;
    let files = TlsFiles {
        ca: base.join("ca.crt"),
        cert: base.join("server.crt"),
        key: base.join("server.key"),
    };
    std::fs::write(&files.ca, ca_cert.pem())?;
    std::fs::write(&files.cert, server_cert.pem())?;
    std::fs::write(&files.key, server_key.serialize_pem())?;
    // PostgreSQL refuses a key that group or others can read.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(files)
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
        let tls = write_tls_files(&base).context("making the cluster's TLS certificate")?;
        if let Some(user) = &run_as {
            sh::run(Command::new("chown").args(["-R", user]).arg(&base))?;
        }
        let mut pg = TempPostgres {
            bin,
            data: data.clone(),
            base: base.clone(),
            run_as,
            url: String::new(),
            ca: tls.ca.clone(),
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
             -c full_page_writes=off -c max_connections=300 -c shared_buffers=128MB \
             -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}",
            sock = base.display(),
            cert = tls.cert.display(),
            key = tls.key.display(),
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
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        // The tools' progress chatter goes to stderr: stdout carries only what xtask itself prints
        // (`cargo xtask pg`'s variables, meant to be read by a shell).
        c.stdout(std::process::Stdio::from(std::io::stderr()));
        c
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
