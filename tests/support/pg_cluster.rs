//! A throw-away PostgreSQL server for the tests of the `postgres` backend.
//!
//! [`server`] gives every test of a test binary one shared cluster: `initdb` into a fresh
//! temporary directory (as the `postgres` system user when running as root, since `initdb`
//! refuses root), listening only on a Unix socket in that directory (`listen_addresses =
//! ''`), stopped and removed when the test process exits (a watchdog process does it, also
//! after a crash). [`PgCluster::start`] gives a test its own cluster (for restarts), stopped
//! and removed on drop. Each test works in its own database ([`PgServer::database`]).
//!
//! `PIPELINE_DEPS_TEST_PG=postgres://…` uses that server instead (its user needs
//! `CREATEDB`). Without PostgreSQL the tests print a `SKIPPED` notice on the terminal
//! (past the test harness's capture) and pass; with `PIPELINE_DEPS_REQUIRE_PG=1` (set by
//! `.ci/run`) a missing PostgreSQL fails them.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The port number only names the socket file (`.s.PGSQL.5432`) inside the cluster's own
/// directory; nothing listens on a TCP port.
const PORT: u16 = 5432;
/// A role that must authenticate with a password, for the authentication tests.
pub const PASSWORD_USER: &str = "pd_password_user";
pub const PASSWORD: &str = "correct horse";

/// Where the tests' PostgreSQL comes from.
pub enum PgServer {
    /// A cluster these tests started.
    Owned(PgCluster),
    /// A server named by `PIPELINE_DEPS_TEST_PG`.
    External { url: String },
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl PgServer {
    /// A URL of the maintenance database `postgres`, as the superuser.
    pub fn admin_url(&self) -> String {
        match self {
            PgServer::Owned(cluster) => cluster.url("postgres"),
            PgServer::External { url } => url.clone(),
        }
    }

    /// Creates a new, empty database for one test and returns its URL.
    pub fn database(&self, test: &str) -> Result<String, String> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let slug: String = test
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(30)
            .collect();
        let name = format!("pd_{}_{n}_{slug}", std::process::id());
        let mut admin = postgres::Client::connect(&self.admin_url(), postgres::NoTls)
            .map_err(|e| format!("connecting to the test server: {e:?}"))?;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .map_err(|e| format!("creating database {name}: {e:?}"))?;
        Ok(match self {
            PgServer::Owned(cluster) => cluster.url(&name),
            PgServer::External { url } => with_database(url, &name),
        })
    }
}

/// `url` with its database replaced by `name` (for `PIPELINE_DEPS_TEST_PG`).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..authority_end])
}

/// The URL of a fresh database named after `test` on the shared server ([`server`]), or
/// `Ok(None)` (after printing a `SKIPPED` notice naming `test`) when there is no PostgreSQL
/// and it is not required.
pub fn database(test: &str) -> Result<Option<String>, String> {
    server(test)?
        .map(|server| server.database(test))
        .transpose()
}

/// The shared server of this test process, or `Ok(None)` (after printing a `SKIPPED`
/// notice naming `test`) when there is no PostgreSQL and it is not required.
pub fn server(test: &str) -> Result<Option<&'static PgServer>, String> {
    static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| {
        if let Ok(url) = std::env::var("PIPELINE_DEPS_TEST_PG")
            && !url.is_empty()
        {
            return Ok(PgServer::External { url });
        }
        PgCluster::start().map(PgServer::Owned)
    });
    match shared {
        Ok(server) => Ok(Some(server)),
        Err(reason) => skip(test, reason).map(|()| None),
    }
}

/// A fresh database owned by [`PASSWORD_USER`] on the tests' own cluster, with that cluster
/// and the database's name, or `Ok(None)` when the test is skipped (no PostgreSQL, or an
/// external server, whose roles the tests do not manage).
pub fn password_database(test: &str) -> Result<Option<(&'static PgCluster, String)>, String> {
    let Some(server) = server(test)? else {
        return Ok(None);
    };
    let PgServer::Owned(cluster) = server else {
        return skip(test, "needs a cluster started by the tests").map(|()| None);
    };
    let url = server.database(test)?;
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    let mut admin = postgres::Client::connect(&server.admin_url(), postgres::NoTls)
        .map_err(|e| format!("connecting to the test server: {e:?}"))?;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{name}\" OWNER TO {PASSWORD_USER}"
        ))
        .map_err(|e| format!("giving {name} to {PASSWORD_USER}: {e:?}"))?;
    Ok(Some((cluster, name)))
}

/// How many `pd_` tables (a registry's) the database at `url` holds: zero until something
/// created a registry there.
pub fn registry_tables(url: &str) -> Result<i64, String> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)
        .map_err(|e| format!("connecting to {url}: {e:?}"))?;
    let row = client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE tablename LIKE 'pd\\_%'",
            &[],
        )
        .map_err(|e| format!("counting the tables of {url}: {e:?}"))?;
    row.try_get(0).map_err(|e| format!("{e:?}"))
}

/// Whether at least `at_least` sessions of `held`'s database wait for a lock, asked again
/// every 50 ms for up to 30 s (other tests share the cluster, so only this database's
/// sessions count). A transaction sees the server's activity statistics as first read in
/// it unless told to read them again: without that, a session that connected later never
/// shows.
pub fn lock_waiters(held: &mut postgres::Transaction<'_>, at_least: i64) -> Result<bool, String> {
    for _ in 0..600 {
        let waiters = held
            .execute("SELECT pg_stat_clear_snapshot()", &[])
            .and_then(|_| {
                held.query_one(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE NOT l.granted AND a.datname = current_database()",
                    &[],
                )
            })
            .and_then(|row| row.try_get::<_, i64>(0))
            .map_err(|e| format!("counting the sessions waiting for a lock: {e:?}"))?;
        if waiters >= at_least {
            return Ok(true);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(false)
}

/// The throw-away cluster the tests start, for a test that makes roles of its own; `None`,
/// after [`skip`]'s notice, when there is none or the tests run against an existing server
/// (`PIPELINE_DEPS_TEST_PG`), whose roles they must not change.
pub fn owned_server(test: &str) -> Result<Option<&'static PgServer>, String> {
    match server(test)? {
        Some(server @ PgServer::Owned(_)) => Ok(Some(server)),
        Some(PgServer::External { .. }) => skip(
            test,
            "the test makes roles of its own; it needs the cluster it starts",
        )
        .map(|()| None),
        None => Ok(None),
    }
}

/// Fails when PostgreSQL is required, else prints the notice and lets the test pass.
pub fn skip(test: &str, reason: &str) -> Result<(), String> {
    if std::env::var("PIPELINE_DEPS_REQUIRE_PG").is_ok_and(|v| v == "1") {
        return Err(format!(
            "PostgreSQL is required (PIPELINE_DEPS_REQUIRE_PG=1) but unavailable: {reason}"
        ));
    }
    // Written to the stream directly, not with eprintln!, so the harness does not capture it.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: no PostgreSQL ({reason}); install PostgreSQL 15 server binaries or set PIPELINE_DEPS_TEST_PG=postgres://…"
    );
    Ok(())
}

/// A cluster started by the tests, stopped and removed on drop.
pub struct PgCluster {
    bin: PathBuf,
    dir: Option<tempfile::TempDir>,
    as_postgres: bool,
    /// The TCP port, or only the socket file's number for a cluster without TCP.
    port: u16,
}

impl PgCluster {
    /// `initdb` + `pg_ctl start` in a new temporary directory, without fsync (a restart,
    /// even `-m immediate`, loses nothing acknowledged; only a power loss could).
    pub fn start() -> Result<PgCluster, String> {
        PgCluster::start_with("")
    }

    /// A cluster that flushes its WAL on every commit as a production server does
    /// (`fsync = on`, `full_page_writes = on`): for benchmarks of durable writes.
    pub fn start_durable() -> Result<PgCluster, String> {
        PgCluster::start_with("fsync = on\nfull_page_writes = on\n")
    }

    /// Starts a cluster with `settings` appended to `postgresql.conf` (later lines win).
    pub fn start_with(settings: &str) -> Result<PgCluster, String> {
        PgCluster::start_full(settings, PORT, "", &[])
    }

    /// A cluster that also listens on a free TCP port of 127.0.0.1 ([`PgCluster::port`]),
    /// with TLS on (`cert_pem` and `key_pem` are the server's certificate chain and key) and
    /// every TCP connection without TLS rejected; the Unix socket works as usual.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Result<PgCluster, String> {
        let hba = "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n";
        PgCluster::start_tls_with(cert_pem, key_pem, hba)
    }

    /// As [`PgCluster::start_tls`], with `hba` as the rules for TCP connections.
    pub fn start_tls_with(cert_pem: &str, key_pem: &str, hba: &str) -> Result<PgCluster, String> {
        let port = free_port()?;
        let settings = "listen_addresses = '127.0.0.1'\nssl = on\n\
                        ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n";
        PgCluster::start_full(
            settings,
            port,
            hba,
            &[("server.crt", cert_pem), ("server.key", key_pem)],
        )
    }

    /// As [`PgCluster::start_tls_with`], trusting the client certificates that `client_ca_pem`
    /// signed (`ssl_ca_file`), for `hba` rules of the `cert` method.
    pub fn start_tls_with_client_ca(
        cert_pem: &str,
        key_pem: &str,
        client_ca_pem: &str,
        hba: &str,
    ) -> Result<PgCluster, String> {
        let settings = "listen_addresses = '127.0.0.1'\nssl = on\n\
                        ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
                        ssl_ca_file = 'client-ca.crt'\n";
        PgCluster::start_full(
            settings,
            free_port()?,
            hba,
            &[
                ("server.crt", cert_pem),
                ("server.key", key_pem),
                ("client-ca.crt", client_ca_pem),
            ],
        )
    }

    /// A cluster that also listens on a free TCP port of 127.0.0.1 without TLS (`ssl = off`).
    pub fn start_tcp_without_tls() -> Result<PgCluster, String> {
        let hba = "host all all 127.0.0.1/32 trust\n";
        PgCluster::start_full("listen_addresses = '127.0.0.1'\n", free_port()?, hba, &[])
    }

    /// The port (TCP, for the clusters of [`PgCluster::start_tls`] and
    /// [`PgCluster::start_tcp_without_tls`]).
    pub fn port(&self) -> u16 {
        self.port
    }

    fn start_full(
        settings: &str,
        port: u16,
        hba: &str,
        files: &[(&str, &str)],
    ) -> Result<PgCluster, String> {
        let bin = find_bin_dir()?;
        let as_postgres = is_root()?;
        let base = if std::env::temp_dir().as_os_str().len() < 40 {
            std::env::temp_dir()
        } else {
            PathBuf::from("/tmp")
        };
        let dir = tempfile::Builder::new()
            .prefix("pd-pg-")
            .tempdir_in(base)
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        let cluster = PgCluster {
            bin,
            dir: Some(dir),
            as_postgres,
            port,
        };
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(cluster.dir()))?;
        }
        cluster.init(settings, hba)?;
        for (name, text) in files {
            cluster.write_private(name, text)?;
        }
        cluster.watchdog()?;
        cluster.pg_ctl(&["start", "-w", "-t", "60"])?;
        cluster.create_password_user()?;
        Ok(cluster)
    }

    /// The cluster's directory: data in `data/`, the socket and the log beside it.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    fn data(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// A URL of database `name` as the superuser, over the Unix socket.
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@{}:{}/{name}",
            encode(self.dir()),
            self.port
        )
    }

    /// A URL of database `name` as the superuser over TCP to `host` (`localhost` or
    /// `127.0.0.1`), with `query` (`?sslmode=…`) appended.
    pub fn tcp_url(&self, host: &str, name: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/{name}{query}", self.port)
    }

    /// A URL of database `name` as `user` with `password`.
    pub fn url_as(&self, name: &str, user: &str, password: &str) -> String {
        format!(
            "postgres://{user}:{}@{}:{}/{name}",
            encode(Path::new(password)),
            encode(self.dir()),
            self.port
        )
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn init(&self, settings: &str, hba: &str) -> Result<(), String> {
        run(self
            .command("initdb")
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(self.data()))?;
        let conf = format!(
            "listen_addresses = ''\nunix_socket_directories = '{}'\nport = {}\n\
             fsync = off\nfull_page_writes = off\nmax_connections = 200\nshared_buffers = 32MB\n\
             log_min_messages = warning\n",
            self.dir().display(),
            self.port
        );
        append(&self.data().join("postgresql.conf"), &(conf + settings))?;
        let hba = format!("{hba}local all {PASSWORD_USER} scram-sha-256\nlocal all all trust\n");
        std::fs::write(self.data().join("pg_hba.conf"), hba)
            .map_err(|e| format!("writing pg_hba.conf: {e}"))
    }

    /// Writes `text` to `name` in the data directory, readable by the server's user only (as
    /// the server demands of its key).
    fn write_private(&self, name: &str, text: &str) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let path = self.data().join(name);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("setting the mode of {}: {e}", path.display()))?;
        if self.as_postgres {
            run(Command::new("chown").arg("postgres:").arg(&path))?;
        }
        Ok(())
    }

    fn create_password_user(&self) -> Result<(), String> {
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .map_err(|e| format!("connecting to the new cluster: {e:?}"))?;
        admin
            .batch_execute(&format!(
                "CREATE ROLE {PASSWORD_USER} LOGIN PASSWORD '{PASSWORD}'"
            ))
            .map_err(|e| format!("creating role {PASSWORD_USER}: {e:?}"))
    }

    /// Stops the server and removes the directory when this process is gone, whatever way
    /// it ends.
    fn watchdog(&self) -> Result<(), String> {
        let stop = format!(
            "{} {} stop -D '{}' -m immediate",
            if self.as_postgres {
                "runuser -u postgres --"
            } else {
                ""
            },
            self.bin.join("pg_ctl").display(),
            self.data().display()
        );
        let script = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{}'",
            std::process::id(),
            self.dir().display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|e| format!("starting the cleanup watchdog: {e}"))
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        run(self
            .command("pg_ctl")
            .args(args)
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir().join("server.log")))
    }

    /// `pg_ctl restart -m MODE` (`fast` or `immediate`); returns when the server accepts
    /// connections again.
    pub fn restart(&self, mode: &str) -> Result<(), String> {
        self.pg_ctl(&["restart", "-w", "-t", "60", "-m", mode])
    }

    /// `pg_ctl stop -m MODE`.
    pub fn stop(&self, mode: &str) -> Result<(), String> {
        self.pg_ctl(&["stop", "-w", "-m", mode])
    }

    /// `pg_ctl start`.
    pub fn start_again(&self) -> Result<(), String> {
        self.pg_ctl(&["start", "-w", "-t", "60"])
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.stop("immediate");
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// A TCP port of 127.0.0.1 that nothing listens on now.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn is_root() -> Result<bool, String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("running id -u: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// `PIPELINE_DEPS_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else
/// `pg_config --bindir`.
fn find_bin_dir() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("PIPELINE_DEPS_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .map_err(|_| "no /usr/lib/postgresql/*/bin/initdb and no pg_config on PATH".to_owned())?;
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if bin.join("initdb").exists() {
        Ok(bin)
    } else {
        Err(format!("no initdb in {}", bin.display()))
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Percent-encodes everything but unreserved characters (for a socket directory or a
/// password in a URL).
fn encode(path: &Path) -> String {
    path.to_string_lossy()
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
