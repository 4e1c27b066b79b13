//! Runs one scenario of Docker Compose's end-to-end suite twice on the local engine, once with
//! Docker Compose v2 and once with hoist, and compares the two runs.
//!
//! A scenario is the Rust transcription of one upstream test function
//! (`docker/compose` v2.40.3, `pkg/e2e/*_test.go`): the same commands, the same fixture files and
//! the same assertions. Assertions never panic here: they are recorded, so that the two runs can
//! be compared step by step. After every compose command the engine's state of the scenario's
//! projects is captured (`snapshot.rs`). The verdict:
//!
//! - Compose fails one of the upstream assertions on this machine: reported, not compared.
//! - Otherwise hoist must pass every assertion, exit with the same code on every command and
//!   leave the engine in the same state after every command. A scenario that declares a
//!   deliberate difference prints what differs and why, and does not fail.

#![allow(dead_code)] // a toolbox: not every scenario uses every step

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::snapshot::{self, Snapshot};

/// Which tool answers the `compose` commands of a run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tool {
    Compose,
    Hoist,
}

impl Tool {
    fn program(self) -> PathBuf {
        match self {
            Tool::Compose => hoist_testkit::compose_v2(),
            Tool::Hoist => PathBuf::from(env!("CARGO_BIN_EXE_hoist")),
        }
    }
}

/// The result of one command, as the upstream suite's `icmd.Result` exposes it.
#[derive(Clone, Debug, Default)]
pub struct Res {
    pub exit: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Res {
    pub fn stdout(&self) -> &str {
        &self.stdout
    }
    pub fn stderr(&self) -> &str {
        &self.stderr
    }
    /// stdout then stderr (upstream interleaves them; no assertion here depends on the order).
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// `strings.Split(strings.TrimSpace(output), "\n")`, as upstream's `Lines`.
pub fn lines(output: &str) -> Vec<&str> {
    output.trim().split('\n').collect()
}

/// One thing a run did or checked, in order.
#[derive(Clone, Debug)]
enum Step {
    Command {
        shown: String,
        exit: i32,
        snapshot: Option<Snapshot>,
        stdout: String,
        stderr: String,
    },
    Check {
        what: String,
        pass: bool,
        detail: String,
    },
}

/// The recorded run of one tool through a scenario.
#[derive(Debug, Default)]
struct Record {
    steps: Vec<Step>,
}

impl Record {
    fn failed_checks(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Check {
                    what,
                    pass: false,
                    detail,
                } => Some(format!("{what}\n        {}", clip(detail, 1200))),
                _ => None,
            })
            .collect()
    }
}

/// What a scenario's body drives: the upstream `*CLI` for one tool.
pub struct Cli {
    tool: Tool,
    dir: PathBuf,
    home: tempfile::TempDir,
    config: tempfile::TempDir,
    env: Vec<(String, String)>,
    projects: Vec<String>,
    record: Record,
}

impl Cli {
    fn new(tool: Tool, dir: &Path, projects: &[&str]) -> Cli {
        Cli {
            tool,
            dir: dir.to_path_buf(),
            home: tempfile::tempdir().expect("home dir"),
            config: tempfile::tempdir().expect("docker config dir"),
            env: Vec::new(),
            projects: projects.iter().map(|p| p.to_string()).collect(),
            record: Record::default(),
        }
    }

    /// Which tool this run drives (for the rare step that must differ, e.g. a binary's name).
    pub fn tool(&self) -> Tool {
        self.tool
    }

    /// The scenario's working directory (the fixtures are in `fixtures/` below it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `WithEnv(...)`: variables given to every later command.
    pub fn with_env(&mut self, vars: &[&str]) {
        for var in vars {
            let (k, v) = var.split_once('=').expect("KEY=VALUE");
            self.env.push((k.to_string(), v.to_string()));
        }
    }

    /// Also capture this project's state after each command (its name is only known late).
    pub fn track_project(&mut self, name: &str) {
        self.projects.push(name.to_string());
    }

    fn base_command(&self, program: &Path, dir: &Path, extra_env: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env_clear()
            .env("HOME", self.home.path())
            .env(
                "USER",
                std::env::var("USER").unwrap_or_else(|_| "root".into()),
            )
            .env("DOCKER_CONFIG", self.config.path())
            .env("KUBECONFIG", "invalid")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for var in extra_env {
            let (k, v) = var.split_once('=').expect("KEY=VALUE");
            cmd.env(k, v);
        }
        cmd
    }

    fn exec(&self, mut cmd: Command, timeout: Duration) -> Res {
        let out = run_with_timeout(&mut cmd, timeout);
        out.unwrap_or_else(|err| Res {
            exit: -1,
            stdout: String::new(),
            stderr: format!("could not run: {err}"),
        })
    }

    fn compose_in(&mut self, dir: &Path, env: &[&str], args: &[&str], check: bool) -> Res {
        let program = self.tool.program();
        let mut cmd = self.base_command(&program, dir, env);
        cmd.args(args);
        let res = self.exec(cmd, Duration::from_secs(180));
        let snapshot = Some(snapshot::capture(&self.projects));
        self.record.steps.push(Step::Command {
            shown: format!("compose {}", args.join(" ")),
            exit: res.exit,
            snapshot,
            stdout: res.stdout.clone(),
            stderr: res.stderr.clone(),
        });
        if check {
            self.check_success(&res, args);
        }
        res
    }

    fn check_success(&mut self, res: &Res, args: &[&str]) {
        self.check(
            res.exit == 0,
            &format!("`compose {}` succeeds", args.join(" ")),
            &format!("exit {}\n{}", res.exit, res.combined()),
        );
    }

    /// `RunDockerComposeCmd`: the command must succeed.
    pub fn compose(&mut self, args: &[&str]) -> Res {
        let dir = self.dir.clone();
        self.compose_in(&dir, &[], args, true)
    }

    /// `RunDockerComposeCmdNoCheck`.
    pub fn compose_no_check(&mut self, args: &[&str]) -> Res {
        let dir = self.dir.clone();
        self.compose_in(&dir, &[], args, false)
    }

    /// `NewDockerComposeCmd` + `WithEnv` style: extra variables for this command only.
    pub fn compose_env(&mut self, env: &[&str], args: &[&str]) -> Res {
        let dir = self.dir.clone();
        self.compose_in(&dir, env, args, false)
    }

    /// `RunCmdInDir` with the compose binary: run from another directory (relative to `dir()`).
    pub fn compose_in_dir(&mut self, sub: &str, env: &[&str], args: &[&str]) -> Res {
        let dir = self.dir.join(sub);
        self.compose_in(&dir, env, args, false)
    }

    /// `RunDockerOrExitError`: the docker CLI (the same for both runs), result not checked.
    pub fn docker_no_check(&mut self, args: &[&str]) -> Res {
        let mut cmd = self.base_command(Path::new("docker"), &self.dir.clone(), &[]);
        cmd.args(args);
        self.exec(cmd, Duration::from_secs(120))
    }

    /// `RunDockerCmd`: the docker CLI; must succeed.
    pub fn docker(&mut self, args: &[&str]) -> Res {
        let res = self.docker_no_check(args);
        self.check(
            res.exit == 0,
            &format!("`docker {}` succeeds", args.join(" ")),
            &format!("exit {}\n{}", res.exit, res.combined()),
        );
        res
    }

    /// `assert.Assert(t, cond, detail)` and friends: recorded, never panics.
    pub fn check(&mut self, pass: bool, what: &str, detail: &str) -> bool {
        self.record.steps.push(Step::Check {
            what: what.to_string(),
            pass,
            detail: detail.to_string(),
        });
        pass
    }

    /// `strings.Contains(haystack, needle)` asserted.
    pub fn contains(&mut self, haystack: &str, needle: &str) -> bool {
        self.check(
            haystack.contains(needle),
            &format!("output contains {needle:?}"),
            haystack,
        )
    }

    /// `!strings.Contains(haystack, needle)` asserted.
    pub fn not_contains(&mut self, haystack: &str, needle: &str) -> bool {
        self.check(
            !haystack.contains(needle),
            &format!("output does not contain {needle:?}"),
            haystack,
        )
    }

    /// `testify.Regexp` / `assert.Assert(regexp.MatchString(...))`.
    pub fn matches(&mut self, haystack: &str, pattern: &str) -> bool {
        let re = regex::Regex::new(pattern).expect("scenario regex");
        self.check(
            re.is_match(haystack),
            &format!("output matches /{pattern}/"),
            haystack,
        )
    }

    /// `assert.Equal(t, got, want)` on strings.
    pub fn equal(&mut self, got: &str, want: &str) -> bool {
        self.check(
            got == want,
            &format!("{got:?} equals {want:?}"),
            &format!("got: {got:?}\nwant: {want:?}"),
        )
    }

    /// `res.Assert(t, icmd.Expected{ExitCode: n})`.
    pub fn exit_code(&mut self, res: &Res, want: i32) -> bool {
        self.check(
            res.exit == want,
            &format!("exit code is {want}"),
            &format!("exit {}\n{}", res.exit, res.combined()),
        )
    }

    /// `WaitForCmdResult` / `poll.WaitOn`: repeats `probe` until it returns true; records one check.
    /// Commands run while polling are not recorded (their number depends on timing).
    pub fn poll(
        &mut self,
        what: &str,
        timeout: Duration,
        delay: Duration,
        mut probe: impl FnMut(&mut Cli) -> bool,
    ) -> bool {
        let start = Instant::now();
        let mark = self.record.steps.len();
        let mut pass = false;
        while start.elapsed() < timeout {
            if probe(self) {
                pass = true;
                break;
            }
            self.record.steps.truncate(mark);
            std::thread::sleep(delay);
        }
        self.record.steps.truncate(mark);
        self.check(pass, what, &format!("not met within {timeout:?}"))
    }

    /// `res.Assert(t, icmd.Expected{Out: want})`: exit 0 and `want` in stdout.
    pub fn expect_out(&mut self, res: &Res, want: &str) -> bool {
        let code = self.exit_code(res, 0);
        let out = self.contains(res.stdout(), want);
        code && out
    }

    /// `res.Assert(t, icmd.Expected{ExitCode: code, Err: want})`.
    pub fn expect_err(&mut self, res: &Res, code: i32, want: &str) -> bool {
        let c = self.exit_code(res, code);
        let e = self.contains(res.stderr(), want);
        c && e
    }

    /// A scenario's step that runs a compose command in the background (`StartCmd`), e.g. an
    /// attached `up` stopped later. Returns the child; stop it with `finish`.
    pub fn compose_start(&mut self, args: &[&str]) -> Background {
        let program = self.tool.program();
        let dir = self.dir.clone();
        let mut cmd = self.base_command(&program, &dir, &[]);
        cmd.args(args);
        Background::start(cmd, format!("compose {}", args.join(" ")))
    }

    /// Waits for a background command (sending `signal` first if given) and records it.
    pub fn finish(&mut self, bg: Background, signal: Option<i32>, timeout: Duration) -> Res {
        let shown = bg.shown.clone();
        let res = bg.finish(signal, timeout);
        let snapshot = Some(snapshot::capture(&self.projects));
        self.record.steps.push(Step::Command {
            shown,
            exit: res.exit,
            snapshot,
            stdout: res.stdout.clone(),
            stderr: res.stderr.clone(),
        });
        res
    }

    /// An HTTP GET with retries, as upstream's `HTTPGetWithRetry` (body, or empty).
    pub fn http_get(&mut self, url: &str, status: u16, timeout: Duration) -> String {
        let got = hoist_testkit::http::wait_for_status(url, status, timeout);
        let pass = got.is_ok();
        self.check(
            pass,
            &format!("GET {url} answers {status}"),
            &got.as_ref().err().cloned().unwrap_or_default(),
        );
        got.map(|r| r.body).unwrap_or_default()
    }
}

/// A command running in the background.
pub struct Background {
    child: std::process::Child,
    shown: String,
    live: std::sync::Arc<Mutex<Vec<u8>>>,
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
}

impl Background {
    fn start(mut cmd: Command, shown: String) -> Background {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start background command");
        let live = std::sync::Arc::new(Mutex::new(Vec::new()));
        let out = live_reader(child.stdout.take().expect("stdout"), live.clone());
        let err = reader(child.stderr.take().expect("stderr"));
        Background {
            child,
            shown,
            live,
            out,
            err,
        }
    }

    /// What the command has written to stdout so far (upstream polls `res.Stdout()` of a
    /// started command).
    pub fn stdout_so_far(&self) -> impl Fn() -> String + use<> {
        let live = self.live.clone();
        move || {
            String::from_utf8_lossy(&live.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
        }
    }

    /// The process id (to signal it from the scenario).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn finish(mut self, signal: Option<i32>, timeout: Duration) -> Res {
        if let Some(sig) = signal {
            // The harness's own child, by its PID.
            let _ = Command::new("kill")
                .args(["-s", &sig.to_string(), &self.child.id().to_string()])
                .status();
        }
        let exit = wait_timeout(&mut self.child, timeout);
        Res {
            exit,
            stdout: self.out.join().unwrap_or_default(),
            stderr: self.err.join().unwrap_or_default(),
        }
    }
}

fn reader<R: std::io::Read + Send + 'static>(mut r: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Waits for `child` up to `timeout`, killing it after; the exit code as a shell shows it.
fn wait_timeout(child: &mut std::process::Child, timeout: Duration) -> i32 {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return exit_code(status),
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let status = child.wait().ok();
                return status.map(exit_code).unwrap_or(-1);
            }
        }
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> std::io::Result<Res> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let out = reader(child.stdout.take().expect("stdout"));
    let err = reader(child.stderr.take().expect("stderr"));
    let exit = wait_timeout(&mut child, timeout);
    Ok(Res {
        exit,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// How a scenario is run.
#[derive(Clone, Copy, Default)]
pub struct Opts {
    /// Projects whose engine state is captured after each command (more via `track_project`).
    pub projects: &'static [&'static str],
    /// The scenario publishes fixed host ports or lists every project: it runs alone.
    pub exclusive: bool,
    /// hoist differs on purpose; why. The differences are printed, the scenario does not fail.
    pub deliberate: Option<&'static str>,
    /// hoist does not agree yet, for the cause named (open work of issue 23): the differences are
    /// printed and counted as `open`; the scenario does not fail. Once it agrees, it fails until
    /// this is removed, so the count cannot go stale.
    pub open: Option<&'static str>,
}

/// Scenarios hoist does not agree with yet, and what it lacks (open work of issue 23); read when
/// the scenario's own `Opts::open` is not set.
const OPEN: &[(&str, &str)] = &[];

/// Scenarios that publish fixed host ports take this exclusively; the others share it.
static ENGINE: RwLock<()> = RwLock::new(());
/// Where the summary lines go (one per scenario), for `scripts/compose-e2e`.
static SUMMARY: Mutex<()> = Mutex::new(());

/// Where the upstream fixtures are: `HOIST_COMPOSE_E2E` or `/work/shared/compose-e2e`.
fn fixtures_root() -> Option<PathBuf> {
    let dir = std::env::var_os("HOIST_COMPOSE_E2E")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/compose-e2e"));
    dir.join("fixtures").is_dir().then_some(dir)
}

/// Runs the scenario `upstream` (`file.go:TestName`) with both tools and judges it.
pub fn scenario(upstream: &str, mut opts: Opts, body: impl Fn(&mut Cli)) {
    if opts.open.is_none() {
        opts.open = OPEN
            .iter()
            .find(|(name, _)| *name == upstream)
            .map(|(_, cause)| *cause);
    }
    if hoist_testkit::SkipPolicy::from_env().may_skip() && !docker_available() {
        eprintln!("skipping {upstream}: no local engine");
        return;
    }
    let root = fixtures_root().unwrap_or_else(|| {
        panic!(
            "Docker Compose's e2e fixtures are missing: set HOIST_COMPOSE_E2E to the folder that \
             holds fixtures/ (default /work/shared/compose-e2e)"
        )
    });
    let _guard = if opts.exclusive {
        Guard::Write(ENGINE.write().unwrap_or_else(|e| e.into_inner()))
    } else {
        Guard::Read(ENGINE.read().unwrap_or_else(|e| e.into_inner()))
    };
    // Two upstream tests may use one project name (`env_file`): they take turns.
    let _projects = ProjectsInUse::take(opts.projects);
    let work = tempfile::Builder::new()
        .prefix("hoist-e2e-")
        .tempdir()
        .expect("work dir");
    copy_tree(&root.join("fixtures"), &work.path().join("fixtures")).expect("copy fixtures");

    let started = Instant::now();
    let compose = run_once(Tool::Compose, work.path(), opts, &body);
    let compose_time = started.elapsed();
    let started = Instant::now();
    let hoist = run_once(Tool::Hoist, work.path(), opts, &body);
    let hoist_time = started.elapsed();

    let verdict = judge(&compose, &hoist);
    let line = match (&verdict, opts.deliberate, opts.open) {
        (Verdict::ComposeFails(_), _, _) => "compose-fails-here",
        (Verdict::Agree, _, None) => "agree",
        (Verdict::Agree, _, Some(_)) => "agree-but-marked-open",
        (Verdict::Differ(_), Some(_), _) => "deliberate",
        (Verdict::Differ(_), None, Some(_)) => "open",
        (Verdict::Differ(_), None, None) => "differ",
    };
    {
        let _s = SUMMARY.lock().unwrap_or_else(|e| e.into_inner());
        println!(
            "e2e-result: {line} {upstream} (compose {:.1}s, hoist {:.1}s)",
            compose_time.as_secs_f64(),
            hoist_time.as_secs_f64()
        );
    }
    match verdict {
        Verdict::Agree => {
            if let Some(cause) = opts.open {
                panic!("{upstream} agrees now: remove its `open` mark ({cause})");
            }
        }
        Verdict::ComposeFails(why) => {
            println!("{upstream}: Docker Compose itself fails here, not compared:\n{why}");
        }
        Verdict::Differ(why) => match (opts.deliberate, opts.open) {
            (Some(reason), _) => println!("{upstream}: deliberate difference ({reason}):\n{why}"),
            (None, Some(cause)) => println!("{upstream}: open difference ({cause}):\n{why}"),
            (None, None) => panic!("{upstream}: hoist and Docker Compose v2 disagree:\n{why}"),
        },
    }
}

/// The projects scenarios running now act on.
static PROJECTS: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());
static PROJECTS_FREED: Condvar = Condvar::new();

/// Holds a scenario's projects until it ends; a scenario waits for one that holds any of them.
struct ProjectsInUse(&'static [&'static str]);

impl ProjectsInUse {
    fn take(projects: &'static [&'static str]) -> ProjectsInUse {
        let mut in_use = PROJECTS.lock().unwrap_or_else(|e| e.into_inner());
        while projects.iter().any(|p| in_use.contains(p)) {
            in_use = PROJECTS_FREED
                .wait(in_use)
                .unwrap_or_else(|e| e.into_inner());
        }
        in_use.extend(projects.iter().copied());
        ProjectsInUse(projects)
    }
}

impl Drop for ProjectsInUse {
    fn drop(&mut self) {
        let mut in_use = PROJECTS.lock().unwrap_or_else(|e| e.into_inner());
        for p in self.0 {
            in_use.remove(p);
        }
        PROJECTS_FREED.notify_all();
    }
}

enum Guard<'a> {
    Read(#[allow(dead_code)] std::sync::RwLockReadGuard<'a, ()>),
    Write(#[allow(dead_code)] std::sync::RwLockWriteGuard<'a, ()>),
}

fn docker_available() -> bool {
    Command::new("docker")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run_once(tool: Tool, dir: &Path, opts: Opts, body: &dyn Fn(&mut Cli)) -> Record {
    clean(opts.projects);
    let mut cli = Cli::new(tool, dir, opts.projects);
    body(&mut cli);
    let projects: Vec<String> = cli.projects.clone();
    let refs: Vec<&str> = projects.iter().map(String::as_str).collect();
    clean(&refs);
    ensure_standins();
    cli.record
}

/// The stand-in images `scripts/e2e-images` builds. Upstream's `down --rmi all` steps remove the
/// ones a scenario used; they are rebuilt (from the builder's cache, in seconds) before the next
/// run needs them. Scenarios with such steps are `exclusive`, so no other scenario runs meanwhile.
const STANDINS: &[&str] = &[
    "busybox:1.35.0",
    "busybox:latest",
    "alpine:latest",
    "bash:latest",
    "nginx:latest",
    "nginx:alpine",
    "hello-world:latest",
    "mariadb:latest",
    "gtardif/sentences-db:latest",
    "gtardif/sentences-api:latest",
    "gtardif/sentences-web:latest",
];

fn ensure_standins() {
    let present = Command::new("docker")
        .args(["image", "inspect"])
        .args(STANDINS)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/e2e-images");
    let status = Command::new(&script).stdout(Stdio::null()).status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "rebuilding the stand-in images with {} failed",
        script.display()
    );
}

/// Removes whatever a run left of `projects` on the engine (containers, networks, volumes), so
/// that the next run starts from nothing. Uses the docker CLI: it must not depend on either tool.
fn clean(projects: &[&str]) {
    for project in projects {
        let label = format!("label=com.docker.compose.project={project}");
        let ids = docker_lines(&["ps", "-aq", "--filter", &label]);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-fv"];
            args.extend(ids.iter().map(String::as_str));
            docker_lines(&args);
        }
        for kind in ["network", "volume"] {
            let names = docker_lines(&[kind, "ls", "-q", "--filter", &label]);
            if !names.is_empty() {
                let mut args = vec![kind, "rm"];
                args.extend(names.iter().map(String::as_str));
                docker_lines(&args);
            }
        }
    }
}

pub(crate) fn docker_lines(args: &[&str]) -> Vec<String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(out) => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path())?;
            std::os::unix::fs::symlink(target, dest)?;
        } else {
            std::fs::copy(entry.path(), dest)?;
        }
    }
    Ok(())
}

enum Verdict {
    Agree,
    ComposeFails(String),
    Differ(String),
}

/// Compares the two runs: Compose's own assertions first, then hoist's, then every command's
/// exit code and the engine state after it.
fn judge(compose: &Record, hoist: &Record) -> Verdict {
    let failed = compose.failed_checks();
    if !failed.is_empty() {
        return Verdict::ComposeFails(format!("  - {}", failed.join("\n  - ")));
    }
    let mut why = String::new();
    for failed in hoist.failed_checks() {
        let _ = writeln!(why, "  - hoist fails: {failed}");
    }
    let a = commands(compose);
    let b = commands(hoist);
    if a.len() != b.len() {
        let _ = writeln!(
            why,
            "  - compose ran {} commands, hoist {}",
            a.len(),
            b.len()
        );
    }
    let mut previous = String::new();
    for (x, y) in a.iter().zip(b.iter()) {
        compare_command(x, y, &mut why, &mut previous);
    }
    if why.is_empty() {
        Verdict::Agree
    } else {
        Verdict::Differ(why)
    }
}

struct Cmd<'a> {
    shown: &'a str,
    exit: i32,
    snapshot: Option<&'a Snapshot>,
    stdout: &'a str,
    stderr: &'a str,
}

fn commands(record: &Record) -> Vec<Cmd<'_>> {
    record
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Command {
                shown,
                exit,
                snapshot,
                stdout,
                stderr,
            } => Some(Cmd {
                shown,
                exit: *exit,
                snapshot: snapshot.as_ref(),
                stdout,
                stderr,
            }),
            Step::Check { .. } => None,
        })
        .collect()
}

/// Adds how the two runs differ after one command; an engine difference already shown after the
/// previous command is not repeated.
fn compare_command(compose: &Cmd<'_>, hoist: &Cmd<'_>, why: &mut String, previous: &mut String) {
    let shown = compose.shown;
    if compose.exit != hoist.exit {
        let _ = writeln!(
            why,
            "  - `{shown}`: compose exits {}, hoist {}\n      compose: {}\n      hoist:   {}",
            compose.exit,
            hoist.exit,
            clip(&format!("{}{}", compose.stdout, compose.stderr), 600),
            clip(&format!("{}{}", hoist.stdout, hoist.stderr), 600),
        );
    }
    if let (Some(a), Some(b)) = (compose.snapshot, hoist.snapshot) {
        let only_a: BTreeSet<&String> = a.lines.difference(&b.lines).collect();
        let only_b: BTreeSet<&String> = b.lines.difference(&a.lines).collect();
        let mut diff = String::new();
        for l in only_a {
            let _ = writeln!(diff, "      compose only: {l}");
        }
        for l in only_b {
            let _ = writeln!(diff, "      hoist only:   {l}");
        }
        if diff.is_empty() {
            previous.clear();
        } else if diff == *previous {
            let _ = writeln!(why, "  - after `{shown}` the engine differs as above");
        } else {
            let _ = writeln!(why, "  - after `{shown}` the engine differs:\n{diff}");
            *previous = diff;
        }
    }
}

fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.replace('\n', "\n        ");
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end]).replace('\n', "\n        ")
}

/// Like `reader`, and also copies what it reads into `live` as it arrives.
fn live_reader<R: std::io::Read + Send + 'static>(
    mut r: R,
    live: std::sync::Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => live
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&chunk[..n]),
            }
        }
        let buf = live.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Decodes a stream of JSON values (`json.NewDecoder(...).More()/Decode` upstream).
pub fn json_stream(text: &str) -> Result<Vec<serde_json::Value>, String> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}
