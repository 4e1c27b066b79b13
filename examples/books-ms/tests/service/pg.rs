//! A throwaway PostgreSQL server for tests: Debian's `postgresql` package, a data directory in a
//! temporary folder, a free loopback port, no durability (it is deleted afterwards).
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI, the dev machine) the
//! server is started as the `postgres` user the package creates. It is a direct child of the test
//! process and is stopped by its PID.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    owner: Option<(u32, u32)>,
    child: Option<Child>,
}

impl Postgres {
    /// Initialises a new cluster and starts it on a free port.
    pub fn start() -> Postgres {
        Postgres::start_on(None)
    }

    /// Initialises a new cluster and starts it on `port` (or a free one).
    pub fn start_on(port: Option<u16>) -> Postgres {
        let bin = bin_dir();
        let owner = owner();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "books-ms-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).expect("create the PostgreSQL temp dir");
        if let Some((uid, gid)) = owner {
            chown(&dir, Some(uid), Some(gid)).expect("chown the temp dir");
            chown(dir.join("data"), Some(uid), Some(gid)).expect("chown the data dir");
        }
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .args(["--locale=C.UTF-8", "-D"])
            .arg(dir.join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut initdb, owner);
        let output = initdb.output().expect("run initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut pg = Postgres {
            bin,
            dir,
            port: port.unwrap_or(0),
            owner,
            child: None,
        };
        pg.launch(port.is_none());
        pg
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server again on the same data and port after [`Postgres::stop`].
    pub fn restart(&mut self) {
        self.launch(false);
    }

    fn launch(&mut self, pick_port: bool) {
        for _ in 0..5 {
            if pick_port {
                self.port = free_port();
            }
            let log = File::create(self.dir.join("server.log")).expect("create the server log");
            let mut postgres = Command::new(self.bin.join("postgres"));
            postgres
                .arg("-D")
                .arg(self.dir.join("data"))
                .args(["-p", &self.port.to_string(), "-k"])
                .arg(&self.dir)
                .args(["-c", "listen_addresses=127.0.0.1"])
                // Nothing here needs to survive a crash; skipping fsync keeps the tests fast.
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log handle"))
                .stderr(log);
            as_owner(&mut postgres, self.owner);
            let child = postgres.spawn().expect("start postgres");
            self.child = Some(child);
            if self.wait_ready() {
                return;
            }
            self.stop();
            if !pick_port {
                break;
            }
        }
        panic!(
            "PostgreSQL did not start on port {}; its log:\n{}",
            self.port,
            std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
        );
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().ok().flatten().is_some()
            {
                return false;
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops the server (fast shutdown: open sessions are ended) and waits for it to exit.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `sql` in database `db` of the server on `port`, as a client that is not books-ms would.
pub fn psql(port: u16, db: &str, sql: &str) {
    let output = Command::new(bin_dir().join("psql"))
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ])
        .args(["-p", &port.to_string(), "-d", db, "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// The newest installed server's `bin` directory (`/usr/lib/postgresql/N/bin` on Debian), or
/// `PG_BIN` when set.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "no PostgreSQL server under {}: install Debian's `postgresql` package \
             (apt-get install postgresql) or set PG_BIN",
            root.display()
        )
    })
}

/// The `postgres` user's ids when running as root (PostgreSQL will not run as root).
fn owner() -> Option<(u32, u32)> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("running as root needs the `postgres` user that Debian's postgresql package adds");
    let fields: Vec<&str> = line.split(':').collect();
    Some((
        fields[2].parse().expect("uid"),
        fields[3].parse().expect("gid"),
    ))
}

fn as_owner(command: &mut Command, owner: Option<(u32, u32)>) {
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
}
