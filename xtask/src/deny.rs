//! Supply chain: `cargo deny check` (advisories, bans, licenses, sources) as a step of `cargo xtask test`,
//! and `cargo xtask advisories --from <advisory-db>` to refresh the committed RustSec snapshot it checks against.
//!
//! CI reaches crates.io but not GitHub, so the RustSec advisory database cannot be fetched at test time. Instead
//! `supply-chain/advisory-db/` holds a dated copy: the advisories of every crate name in our lock files, plus
//! `snapshot.json` naming the advisory-db commit, its date and the crate names it covered. The check fails when
//! a lock file names a crate the snapshot did not cover, so a new dependency forces a refresh.
//!
//! cargo-deny 0.20 (read from its source, `src/advisories/helpers/db.rs` and `src/git.rs`): with `--offline` it
//! opens `<db-path>/advisory-db-<xxhash64 of the url>/`, loads every `crates/**/*.md` and judges staleness by the
//! mtime of `.git/FETCH_HEAD` (falling back to `git show HEAD`), refusing a database older than
//! `maximum-db-staleness`. It needs no git repository beyond that file, so the snapshot is materialised into
//! `target/advisory-dbs/` with a `FETCH_HEAD` dated at the snapshot's commit: cargo-deny's staleness rule then
//! judges the snapshot's real age, and the test machine needs no git at all.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::sh;

/// Pinned exactly: the snapshot loading above depends on this version's layout and staleness rule.
const CARGO_DENY_VERSION: &str = "0.20.2";
/// Must match `db-urls` in deny.toml: cargo-deny derives the database directory from it.
const DB_URL: &str = "https://github.com/rustsec/advisory-db";
const SNAPSHOT_DIR: &str = "supply-chain/advisory-db";
/// A scratch project locking smallvec 1.6.0, which RUSTSEC-2021-0003 (heap overflow in `insert_many`) affects:
/// the advisories check must fail on it, or the check is not really looking.
const CANARY_DIR: &str = "supply-chain/canary";
const CANARY_ADVISORY: &str = "RUSTSEC-2021-0003";
/// Past this age the step still passes (cargo-deny's own limit is `maximum-db-staleness` in deny.toml) but
/// says loudly that the snapshot wants a refresh.
const WARN_AFTER_DAYS: u64 = 90;

/// What `snapshot.json` records about the copy in `supply-chain/advisory-db/crates`.
struct Snapshot {
    commit: String,
    commit_date: String,
    commit_unix: u64,
    advisories: usize,
    crates: BTreeSet<String>,
}

impl Snapshot {
    fn load(root: &Path) -> Result<Self> {
        let path = root.join(SNAPSHOT_DIR).join("snapshot.json");
        let text = fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let field = |name: &str| {
            v.get(name)
                .with_context(|| format!("{} has no `{name}`", path.display()))
        };
        let string = |name: &str| -> Result<String> {
            field(name)?
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("`{name}` in {} is not a string", path.display()))
        };
        let number = |name: &str| -> Result<u64> {
            field(name)?
                .as_u64()
                .with_context(|| format!("`{name}` in {} is not a number", path.display()))
        };
        let crates = field("crates")?
            .as_array()
            .context("`crates` in snapshot.json is not an array")?
            .iter()
            .map(|c| c.as_str().map(str::to_owned))
            .collect::<Option<BTreeSet<_>>>()
            .context("`crates` in snapshot.json holds a non-string")?;
        Ok(Self {
            commit: string("commit")?,
            commit_date: string("commit_date")?,
            commit_unix: number("commit_unix")?,
            advisories: usize::try_from(number("advisories")?)?,
            crates,
        })
    }

    fn age_days(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        now.saturating_sub(self.commit_unix) / 86_400
    }

    /// "2026-08-21 (commit bf5c0d2, 100 days old, 61 advisories over 451 crate names)"
    fn describe(&self) -> String {
        format!(
            "{} (advisory-db commit {}, {} days old, {} advisories over {} crate names)",
            self.commit_date.get(..10).unwrap_or(&self.commit_date),
            self.commit.get(..10).unwrap_or(&self.commit),
            self.age_days(),
            self.advisories,
            self.crates.len()
        )
    }
}

/// Names of the crates.io packages in a Cargo.lock. Advisories are keyed by crate name (and crates.io as the
/// source), so workspace members and path crates need no coverage. The lock format is line-oriented and
/// stable (`[[package]]` tables of `name`, `version`, `source`), which a line reader handles without a TOML
/// parser in the xtask.
fn registry_crate_names(lock: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for package in lock.split("[[package]]").skip(1) {
        let value = |key: &str| {
            package.lines().find_map(|l| {
                l.trim()
                    .strip_prefix(key)
                    .and_then(|r| r.trim_start().strip_prefix('='))
                    .map(|r| r.trim().trim_matches('"').to_owned())
            })
        };
        let from_registry = value("source").is_some_and(|s| s.starts_with("registry+"));
        if let (Some(name), true) = (value("name"), from_registry) {
            names.insert(name);
        }
    }
    names
}

fn lock_files(root: &Path) -> [PathBuf; 2] {
    [root.join("Cargo.lock"), root.join(CANARY_DIR).join("Cargo.lock")]
}

/// Every crates.io crate name in our lock files (the workspace and the canary).
fn crates_to_cover(root: &Path) -> Result<BTreeSet<String>> {
    let mut all = BTreeSet::new();
    for lock in lock_files(root) {
        let text = fs::read_to_string(&lock).with_context(|| format!("reading {}", lock.display()))?;
        all.extend(registry_crate_names(&text));
    }
    Ok(all)
}

/// `target/tools/bin/cargo-deny` at the pinned version, installed from crates.io when missing or different.
///
/// Its own release profile is fat LTO with one codegen unit (about twice the build time on 2 cores for a tool
/// that runs for seconds), so the install overrides both; `--locked` builds exactly the published lock file.
fn ensure_cargo_deny(root: &Path) -> Result<PathBuf> {
    let tools = root.join("target/tools");
    let exe = tools.join("bin/cargo-deny");
    let installed = sh::output(Command::new(&exe).arg("--version")).unwrap_or_default();
    if installed.split_whitespace().nth(1) == Some(CARGO_DENY_VERSION) {
        return Ok(exe);
    }
    eprintln!(
        "installing cargo-deny {CARGO_DENY_VERSION} into {}",
        tools.display()
    );
    sh::run(
        Command::new(sh::cargo())
            .args([
                "install",
                "cargo-deny",
                "--version",
                &format!("={CARGO_DENY_VERSION}"),
                "--locked",
                "--force",
                "--root",
            ])
            .arg(&tools)
            .env("CARGO_PROFILE_RELEASE_LTO", "off")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
    )?;
    Ok(exe)
}

/// The directory cargo-deny 0.20 opens for `url` under `db-path` (its `url_to_db_path`): the url's last path
/// segment, a dash and the xxhash64 (seed 0xca80de71) of the lowercased url, in 16 hex digits.
fn db_dir_name(url: &str) -> String {
    let url = url.to_lowercase();
    let name = url.rsplit('/').next().unwrap_or("empty_");
    let hash = twox_hash::XxHash64::oneshot(0xca80_de71, url.as_bytes());
    format!("{name}-{hash:016x}")
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target).with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Lays the snapshot out where cargo-deny looks (see the module comment); returns the `db-path` root.
fn materialise(root: &Path, snapshot: &Snapshot) -> Result<PathBuf> {
    let db_root = root.join("target/advisory-dbs");
    let db = db_root.join(db_dir_name(DB_URL));
    if db.exists() {
        fs::remove_dir_all(&db).with_context(|| format!("removing {}", db.display()))?;
    }
    copy_tree(&root.join(SNAPSHOT_DIR).join("crates"), &db.join("crates"))?;
    // The shape of a git directory (HEAD, objects/, refs/), so that git never mistakes it for a stray folder
    // and walks up to the Tranche checkout: were cargo-deny ever pointed here with fetching on, its
    // `git reset --hard` must fail in this empty repository, not reset the project.
    let git = db.join(".git");
    fs::create_dir_all(git.join("objects"))?;
    fs::create_dir_all(git.join("refs/heads"))?;
    fs::write(git.join("HEAD"), "ref: refs/heads/main\n")?;
    let fetch_head = git.join("FETCH_HEAD");
    fs::write(
        &fetch_head,
        format!(
            "{}\t\tbranch 'main' of {DB_URL} (tranche snapshot)\n",
            snapshot.commit
        ),
    )?;
    fs::File::options()
        .write(true)
        .open(&fetch_head)?
        .set_modified(UNIX_EPOCH + Duration::from_secs(snapshot.commit_unix))
        .context("dating FETCH_HEAD at the snapshot's commit")?;
    Ok(db_root)
}

/// deny.toml with `db-path` set to `db_root`, inserted under `[advisories]`. deny.toml itself leaves `db-path`
/// at cargo-deny's default so that a run by hand uses the usual, fetched database in `$CARGO_HOME`.
fn offline_config(deny_toml: &str, db_root: &Path) -> Result<String> {
    if deny_toml.lines().any(|l| l.trim_start().starts_with("db-path")) {
        bail!("deny.toml sets db-path: leave it to the xtask (docs/supply-chain.md)");
    }
    // A JSON string of a path is a valid TOML basic string.
    let path = serde_json::to_string(&db_root.to_string_lossy())?;
    let mut out = String::with_capacity(deny_toml.len() + path.len() + 16);
    let mut inserted = false;
    for line in deny_toml.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim() == "[advisories]" {
            out.push_str(&format!("db-path = {path}\n"));
            inserted = true;
        }
    }
    if !inserted {
        bail!("deny.toml has no [advisories] table");
    }
    Ok(out)
}

fn deny(exe: &Path, root: &Path, config: &Path) -> Command {
    let mut c = Command::new(exe);
    c.current_dir(root)
        // The database and the crate index stay local: see the module comment.
        .args(["--offline", "--locked", "--config"])
        .arg(config);
    c
}

/// The `cargo xtask test` step.
pub fn check() -> Result<()> {
    let root = sh::root();
    let snapshot = Snapshot::load(&root)?;
    let missing: Vec<_> = crates_to_cover(&root)?
        .difference(&snapshot.crates)
        .cloned()
        .collect();
    if !missing.is_empty() {
        bail!(
            "Cargo.lock has crates the advisory snapshot of {} did not cover: {}\n\
             refresh it: cargo xtask advisories --from <advisory-db checkout or git dir> (docs/supply-chain.md)",
            snapshot.commit_date,
            missing.join(", ")
        );
    }
    let exe = ensure_cargo_deny(&root)?;
    // cargo-deny runs `cargo metadata --offline`, which needs every locked crate downloaded; a fresh machine
    // has not built anything yet at this step. Fetching reaches crates.io only.
    sh::run(
        Command::new(sh::cargo())
            .current_dir(&root)
            .args(["fetch", "--locked"]),
    )?;
    sh::run(
        Command::new(sh::cargo())
            .current_dir(&root)
            .args(["fetch", "--locked", "--manifest-path"])
            .arg(root.join(CANARY_DIR).join("Cargo.toml")),
    )?;
    let db_root = materialise(&root, &snapshot)?;
    let config = db_root.join("deny.toml");
    let deny_toml = fs::read_to_string(root.join("deny.toml")).context("reading deny.toml")?;
    fs::write(&config, offline_config(&deny_toml, &db_root)?)?;
    eprintln!("advisories: RustSec snapshot of {}", snapshot.describe());

    sh::run(deny(&exe, &root, &config).arg("check")).with_context(|| {
        format!(
            "against the advisory snapshot of {} (when cargo-deny calls the repository stale, \
                 refresh it: cargo xtask advisories --from <advisory-db>, docs/supply-chain.md)",
            snapshot.describe()
        )
    })?;

    // The canary: the same advisories configuration over a lock file with a known-vulnerable crate must fail.
    let mut canary = deny(&exe, &root, &config);
    canary
        .args(["--manifest-path"])
        .arg(root.join(CANARY_DIR).join("Cargo.toml"))
        .args(["check", "advisories"]);
    eprintln!("canary (must fail with {CANARY_ADVISORY}): smallvec 1.6.0 in {CANARY_DIR}/Cargo.lock");
    let out = canary
        .output()
        .context("could not start cargo-deny on the canary")?;
    let report = String::from_utf8_lossy(&out.stderr);
    if out.status.success() || !report.contains(CANARY_ADVISORY) {
        eprintln!("{report}");
        bail!(
            "the advisories check did not flag {CANARY_ADVISORY} in {CANARY_DIR}: it is not checking anything"
        );
    }
    eprintln!("canary caught: {CANARY_ADVISORY} (smallvec 1.6.0)");

    let age = snapshot.age_days();
    if age > WARN_AFTER_DAYS {
        eprintln!(
            "\x1b[1;33mwarning:\x1b[0m the advisory snapshot is {age} days old: refresh it with \
             `cargo xtask advisories --from <advisory-db>` (docs/supply-chain.md)"
        );
    }
    eprintln!(
        "cargo deny: advisories, bans, licenses, sources ok against the RustSec snapshot of {}",
        snapshot.describe()
    );
    Ok(())
}

fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(repo);
    c
}

/// `cargo xtask advisories --from <path>`: rewrites `supply-chain/advisory-db` from the `HEAD` commit of an
/// advisory-db git repository (a clone's work tree or a bare git dir), keeping the advisories of every crate
/// name in our lock files.
pub fn refresh(args: &[String]) -> Result<()> {
    let from = match args {
        [flag, path] if flag == "--from" => PathBuf::from(path),
        _ => bail!(
            "usage: cargo xtask advisories --from <advisory-db checkout or git dir>\n\
             (a clone of {DB_URL}; see docs/supply-chain.md)"
        ),
    };
    let root = sh::root();
    let head = sh::output(git(&from).args(["show", "-s", "--format=%H%n%cI%n%ct", "HEAD"]))
        .with_context(|| format!("{} is not an advisory-db git repository", from.display()))?;
    let [commit, commit_date, commit_unix] = head.lines().collect::<Vec<_>>()[..] else {
        bail!("unexpected `git show` output: {head}");
    };
    let commit_unix: u64 = commit_unix.parse().context("commit time")?;

    let covered = crates_to_cover(&root)?;
    let listing = sh::output(git(&from).args(["ls-tree", "-r", "--name-only", "HEAD", "--", "crates/"]))?;
    let files: Vec<&str> = listing
        .lines()
        .filter(|p| p.ends_with(".md"))
        .filter(|p| p.split('/').nth(1).is_some_and(|name| covered.contains(name)))
        .collect();

    if files.is_empty() {
        bail!(
            "{} has no advisories under crates/ for our crates: is it a clone of {DB_URL}?",
            from.display()
        );
    }
    let out = root.join(SNAPSHOT_DIR);
    let crates_dir = out.join("crates");
    if crates_dir.exists() {
        fs::remove_dir_all(&crates_dir)?;
    }
    for file in &files {
        // Byte for byte: `sh::output` would trim the text.
        let blob = git(&from)
            .args(["cat-file", "blob", &format!("HEAD:{file}")])
            .output()
            .context("could not start git")?;
        if !blob.status.success() {
            bail!("git could not read {file} from {}", from.display());
        }
        let dest = out.join(file);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&dest, blob.stdout)?;
    }
    let manifest = serde_json::json!({
        "source": DB_URL,
        "commit": commit,
        "commit_date": commit_date,
        "commit_unix": commit_unix,
        "refreshed_with": "cargo xtask advisories --from <advisory-db>",
        "advisories": files.len(),
        "crates": covered,
    });
    fs::write(
        out.join("snapshot.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    let snapshot = Snapshot::load(&root)?;
    eprintln!("wrote {}: snapshot of {}", out.display(), snapshot.describe());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_crates_io_packages_need_advisories() {
        let lock = r#"
version = 4

[[package]]
name = "smallvec"
version = "1.6.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "1a55ca5f3b68e41c979bf8c46a6f1da892ca4db8f94023ce0bd32407573b1ac0"

[[package]]
name = "tranche-domain"
version = "0.1.0"
dependencies = [
 "smallvec",
]

[[package]]
name = "time"
version = "0.3.55"
source = "registry+https://github.com/rust-lang/crates.io-index"
"#;
        let names: Vec<_> = registry_crate_names(lock).into_iter().collect();
        assert_eq!(names, ["smallvec", "time"]);
    }

    /// The directory cargo-deny 0.20.2 opened for our `db-urls` (it fails with "failed to find expected
    /// `crates` directory" when the name is wrong): pinned so a change of URL or hash shows here first.
    #[test]
    fn database_directory_is_the_one_cargo_deny_opens() {
        assert_eq!(db_dir_name(DB_URL), "advisory-db-3157b0e258782691");
    }

    #[test]
    fn the_offline_config_points_cargo_deny_at_the_snapshot() {
        let config = "[graph]\ntargets = []\n\n[advisories]\nyanked = \"deny\"\n";
        let out = offline_config(config, Path::new("/w/target/advisory-dbs")).unwrap();
        assert_eq!(
            out,
            "[graph]\ntargets = []\n\n[advisories]\ndb-path = \"/w/target/advisory-dbs\"\nyanked = \"deny\"\n"
        );
        assert!(offline_config("[advisories]\ndb-path = \"x\"\n", Path::new("/w")).is_err());
    }

    #[test]
    fn deny_toml_names_the_same_database() {
        let config = fs::read_to_string(sh::root().join("deny.toml")).unwrap();
        assert!(config.contains(&format!("db-urls = [\"{DB_URL}\"]")));
    }

    /// The committed snapshot covers every crate in the committed lock files (the same rule as the step, so
    /// a plain `cargo test` catches a dependency added without a refresh).
    #[test]
    fn snapshot_covers_the_lock_files() {
        let root = sh::root();
        let snapshot = Snapshot::load(&root).unwrap();
        let missing: Vec<_> = crates_to_cover(&root)
            .unwrap()
            .difference(&snapshot.crates)
            .cloned()
            .collect();
        assert!(missing.is_empty(), "not in the advisory snapshot: {missing:?}");
    }
}
