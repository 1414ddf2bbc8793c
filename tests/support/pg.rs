//! A real PostgreSQL for the tests, from Debian's `postgresql` package:
//! `initdb` on a temporary directory, `pg_ctl` on a free port, one fresh
//! database per test app.
//!
//! [`Cluster::shared`] starts one server per test binary, lazily, on first
//! use; [`Cluster::start`] gives a test its own server to stop, crash and
//! restart. Each server is looked after by a small shell (its *keeper*)
//! that reads commands on its stdin: when the test process ends, however it
//! ends (tests passed, a panic, Ctrl-C, SIGKILL), that stdin closes and the
//! keeper stops PostgreSQL and deletes its directory. Statics are never
//! dropped, so nothing in this process could be trusted to do it.
//!
//! `initdb` refuses to run as root (CI runs as root): then every PostgreSQL
//! program runs as the `postgres` system user through `runuser`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

use parking_lot::Mutex;
use uuid::Uuid;

/// What a missing installation is told, instead of a silent skip.
const MISSING: &str = "PostgreSQL is not installed: the tests on PostgreSQL need initdb, \
pg_ctl and psql from Debian's `postgresql` package (`apt-get install postgresql`; \
.ci/run installs it when missing)";

/// The keeper: one command per line on stdin (`init`, `start PORT`,
/// `stop`, `kill`), one answer per line on stdout (`ok` or `failed`).
/// Everything PostgreSQL prints goes to files in the cluster's directory,
/// which the test reads back when something fails.
const KEEPER: &str = r#"
bin=$1 base=$2 owner=$3
pg() { if [ -n "$owner" ]; then runuser -u "$owner" -- "$@"; else "$@"; fi; }
answer() { if "$@" >>"$base/keeper.log" 2>&1; then echo ok; else echo failed; fi; }
cleanup() {
    pg "$bin/pg_ctl" -D "$base/data" -m immediate -w stop >/dev/null 2>&1
    rm -rf "$base"
}
# Ctrl-C and a closed terminal end the tests; this shell outlives them
# just long enough to see its stdin close and clean up.
trap '' INT HUP
trap 'exit 1' TERM
trap cleanup EXIT
while read -r command port; do
    case $command in
    init) answer pg "$bin/initdb" -D "$base/data" -U postgres -A trust -E UTF8 \
            --locale=C --no-sync --no-instructions ;;
    start) answer pg "$bin/pg_ctl" -D "$base/data" -l "$base/server.log" -w -t 60 \
            -o "-p $port -k $base -c listen_addresses=127.0.0.1 -c fsync=off \
                -c full_page_writes=off -c max_connections=300" start ;;
    stop) answer pg "$bin/pg_ctl" -D "$base/data" -m fast -w stop ;;
    kill) answer pg "$bin/pg_ctl" -D "$base/data" -m immediate -w stop ;;
    *) echo failed ;;
    esac
done
"#;

/// One PostgreSQL server (a "cluster" in PostgreSQL's words).
pub struct Cluster {
    base: PathBuf,
    bin: PathBuf,
    port: u16,
    keeper: Mutex<Keeper>,
}

struct Keeper {
    shell: Child,
    commands: Option<ChildStdin>,
    answers: BufReader<ChildStdout>,
}

/// One database of a cluster, made for one test (or for the instances
/// of one test that share it).
#[derive(Clone, Debug)]
pub struct Database {
    /// What `--db` takes: `postgres://postgres@127.0.0.1:PORT/NAME`.
    pub url: String,
    pub name: String,
    psql: PathBuf,
    socket_dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// The server every test of this binary shares, started on first use.
    /// If it cannot start, every test that asks for it fails with the
    /// reason.
    pub fn shared() -> &'static Cluster {
        static SHARED: OnceLock<Result<Cluster, String>> = OnceLock::new();
        match SHARED.get_or_init(Cluster::try_start) {
            Ok(cluster) => cluster,
            Err(why) => panic!("{why}"),
        }
    }

    /// A server of the test's own, stopped and deleted when dropped.
    pub fn start() -> Cluster {
        Cluster::try_start().unwrap_or_else(|why| panic!("{why}"))
    }

    fn try_start() -> Result<Cluster, String> {
        let bin = installation()?;
        let base = std::env::temp_dir().join(format!("hookscope-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir(&base).map_err(|e| format!("creating {}: {e}", base.display()))?;
        let owner = match hand_to_postgres(&base) {
            Ok(owner) => owner,
            Err(why) => {
                let _ = std::fs::remove_dir_all(&base);
                return Err(why);
            }
        };
        let mut shell = Command::new("sh")
            .args(["-c", KEEPER, "keeper"])
            .arg(&bin)
            .arg(&base)
            .arg(owner)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting sh for PostgreSQL: {e}"))?;
        let keeper = Keeper {
            commands: shell.stdin.take(),
            answers: BufReader::new(shell.stdout.take().expect("piped stdout")),
            shell,
        };
        // From here on, dropping the cluster (also on an early return)
        // closes the keeper's stdin and so deletes `base`.
        let mut cluster = Cluster {
            base,
            bin,
            port: 0,
            keeper: Mutex::new(keeper),
        };
        if !cluster.command("init") {
            return Err(format!("initdb failed:\n{}", cluster.log("keeper.log")));
        }
        // A free port can be taken by someone else before PostgreSQL binds
        // it; another one is tried then.
        for _ in 0..3 {
            cluster.port = free_port();
            if cluster.command(&format!("start {}", cluster.port)) {
                return Ok(cluster);
            }
        }
        Err(format!(
            "PostgreSQL did not start:\n{}\n{}",
            cluster.log("keeper.log"),
            cluster.log("server.log")
        ))
    }

    /// Sends one command to the keeper and waits for its answer.
    fn command(&self, command: &str) -> bool {
        let mut keeper = self.keeper.lock();
        let commands = keeper.commands.as_mut().expect("keeper running");
        writeln!(commands, "{command}").expect("the PostgreSQL keeper takes a command");
        commands.flush().expect("flush");
        let mut answer = String::new();
        keeper
            .answers
            .read_line(&mut answer)
            .expect("the PostgreSQL keeper answers");
        answer.trim() == "ok"
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.base.join(name)).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory with the data, the socket and the logs; deleted with
    /// the cluster.
    pub fn dir(&self) -> &Path {
        &self.base
    }

    /// Stops the server the clean way (`pg_ctl stop -m fast`): sessions
    /// are ended, the server shuts down.
    pub fn stop(&self) {
        assert!(
            self.command("stop"),
            "pg_ctl stop failed:\n{}",
            self.log("keeper.log")
        );
    }

    /// Stops the server as a crash would (`pg_ctl stop -m immediate`):
    /// no shutdown checkpoint; what was committed is recovered at the
    /// next start.
    pub fn kill(&self) {
        assert!(
            self.command("kill"),
            "pg_ctl stop -m immediate failed:\n{}",
            self.log("keeper.log")
        );
    }

    /// Starts a stopped server again, on the same port.
    pub fn restart(&self) {
        assert!(
            self.command(&format!("start {}", self.port)),
            "PostgreSQL did not start again:\n{}",
            self.log("server.log")
        );
    }

    /// A new, empty database on this server.
    pub async fn create_database(&self) -> Database {
        let name = format!("hookscope_{}", Uuid::new_v4().simple());
        let database = Database {
            url: format!("postgres://postgres@127.0.0.1:{}/{name}", self.port),
            name,
            psql: self.bin.join("psql"),
            socket_dir: self.base.clone(),
            port: self.port,
        };
        let create = format!("CREATE DATABASE {}", database.name);
        database.run_sql_on("postgres", &create).await;
        database
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let keeper = self.keeper.get_mut();
        drop(keeper.commands.take());
        let _ = keeper.shell.wait();
    }
}

impl Database {
    /// Runs `sql` in this database with `psql` and returns what it prints,
    /// unaligned and without headers (`psql -At`): one row per line,
    /// columns separated by `|`.
    pub async fn psql(&self, sql: &str) -> String {
        self.run_sql_on(&self.name, sql).await
    }

    async fn run_sql_on(&self, database: &str, sql: &str) -> String {
        let output = tokio::process::Command::new(&self.psql)
            .args([
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
            ])
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", &self.port.to_string(), "-d", database, "-c", sql])
            .output()
            .await
            .unwrap_or_else(|e| panic!("running {}: {e}", self.psql.display()));
        assert!(
            output.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("psql prints UTF-8")
    }
}

/// The directory with `initdb`, `pg_ctl` and `psql`: Debian keeps them in
/// `/usr/lib/postgresql/VERSION/bin` (newest wins), off the PATH; a PATH
/// entry is taken first, with symlinks followed to find its `psql`.
fn installation() -> Result<PathBuf, String> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "psql"]
            .iter()
            .all(|p| dir.join(p).is_file())
    };
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|dir| std::fs::canonicalize(dir.join("pg_ctl")).ok())
        .filter_map(|pg_ctl| pg_ctl.parent().map(Path::to_owned));
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    debian.sort_by_key(|(version, _)| std::cmp::Reverse(*version));
    on_path
        .chain(debian.into_iter().map(|(_, dir)| dir))
        .find(|dir| complete(dir))
        .ok_or_else(|| MISSING.to_owned())
}

/// The user PostgreSQL runs as: this one, or `postgres` (given `base`)
/// when this one is root.
fn hand_to_postgres(base: &Path) -> Result<&'static str, String> {
    let root = std::fs::metadata(base).map_err(|e| e.to_string())?.uid() == 0;
    if !root {
        return Ok("");
    }
    let (uid, gid) = postgres_user()?;
    std::os::unix::fs::chown(base, Some(uid), Some(gid))
        .map_err(|e| format!("giving {} to postgres: {e}", base.display()))?;
    Ok("postgres")
}

/// The `postgres` system user's uid and gid (the package creates it).
fn postgres_user() -> Result<(u32, u32), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let output = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("id {flag} postgres: {e}"))?;
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .map_err(|_| format!("running as root and there is no `postgres` user: {MISSING}"))
    };
    Ok((id("-u")?, id("-g")?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("a free port")
        .port()
}

/// Whether `--db` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}
