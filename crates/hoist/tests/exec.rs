//! `hoist exec` beside Docker Compose v2's, on the same containers of the same engine: exit
//! codes, output streams, stdin, `-e`/`-u`/`-w`/`--index`/`-d`/`--privileged`, and the errors
//! for a service that does not run. Then a real terminal (tmux) drives `exec` with a TTY on a
//! remote engine: a prompt, a command, a window resize the shell sees, Ctrl+D returning the
//! shell's exit code.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hoist_testkit::TestProject;

const COMPOSE: &str = r#"services:
  web:
    image: debian:bookworm-slim
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
  multi:
    image: debian:bookworm-slim
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
    scale: 2
  idle:
    image: debian:bookworm-slim
    command: ["true"]
"#;

fn hoist(dir: &Path, host: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
    cmd.current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("COMPOSE_PROJECT_NAME")
        .args(host);
    cmd
}

fn compose_v2(dir: &Path) -> Command {
    let mut cmd = Command::new(hoist_testkit::compose_v2());
    cmd.current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("COMPOSE_PROJECT_NAME");
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` with `stdin` written to it (then closed), stdout and stderr captured.
fn with_stdin(cmd: &mut Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// What a run shows, for comparing: exit code, stdout, and stderr without hoist's `error: `
/// prefix on its own messages (Compose prints them bare).
fn seen(out: &Output) -> (Option<i32>, String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr
        .lines()
        .map(|l| l.strip_prefix("error: ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_agrees_with_compose_v2_on_codes_streams_stdin_flags_and_errors() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let project = TestProject::new("exec-diff", &[&cd]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).unwrap();
    let p = ["-p", project.name.as_str()];
    let out = hoist(dir.path(), &p).args(["up", "-d"]).output().unwrap();
    assert!(out.status.success(), "up: {}", text(&out));
    // `idle` has exited once `up` returns? Wait for it, so both tools see it stopped.
    let deadline = Instant::now() + Duration::from_secs(20);
    while hoist(dir.path(), &p)
        .args(["exec", "-T", "idle", "true"])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "idle never exited");
        std::thread::sleep(Duration::from_millis(200));
    }

    let cases: &[(&[&str], &[u8])] = &[
        (&["web", "sh", "-c", "echo out; echo err >&2; exit 3"], b""),
        (&["-T", "web", "cat"], b"piped\nstdin\n"),
        (&["web", "sh", "-c", "wc -c"], b"12345"),
        (
            &[
                "-e",
                "FROM_HOIST",
                "-e",
                "UNSET_HERE",
                "-e",
                "BAR=1",
                "-u",
                "nobody",
                "-w",
                "/tmp",
                "web",
                "sh",
                "-c",
                "echo \"$FROM_HOIST|${UNSET_HERE-unset}|$BAR|$(id -u)|$PWD\"",
            ],
            b"",
        ),
        (&["--index", "2", "multi", "cat", "/etc/hostname"], b""),
        (&["--index", "3", "multi", "true"], b""),
        (&["idle", "true"], b""),
        (&["nosuch", "true"], b""),
        (&["web", "no-such-program"], b""),
        (&["--privileged", "web", "true"], b""),
        (&["web", "sh", "-c", "kill -9 $$"], b""),
    ];
    for (args, stdin) in cases {
        let mut ours = hoist(dir.path(), &p);
        ours.arg("exec").args(*args).env("FROM_HOIST", "given");
        let mut theirs = compose_v2(dir.path());
        theirs
            .args(p)
            .arg("exec")
            .args(*args)
            .env("FROM_HOIST", "given");
        let (ours, theirs) = (with_stdin(&mut ours, stdin), with_stdin(&mut theirs, stdin));
        assert_eq!(seen(&ours), seen(&theirs), "exec {args:?}");
    }

    // `-d`: the command runs on after exec returned, and exec prints nothing.
    for (tool, file) in [("hoist", "/tmp/by-hoist"), ("compose", "/tmp/by-compose")] {
        let script = format!("sleep 1; echo done > {file}");
        let args = ["exec", "-d", "web", "sh", "-c", script.as_str()];
        let started = Instant::now();
        let out = match tool {
            "hoist" => hoist(dir.path(), &p).args(args).output().unwrap(),
            _ => compose_v2(dir.path()).args(p).args(args).output().unwrap(),
        };
        assert!(out.status.success(), "{tool}: {}", text(&out));
        assert_eq!(text(&out), "", "{tool}");
        assert!(started.elapsed() < Duration::from_secs(1), "{tool} waited");
    }
    std::thread::sleep(Duration::from_millis(1500));
    let out = hoist(dir.path(), &p)
        .args(["exec", "web", "cat", "/tmp/by-hoist", "/tmp/by-compose"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "done\ndone\n",
        "{}",
        text(&out)
    );
}

/// A tmux session of its own, for driving a program through a real terminal.
struct Tmux {
    name: String,
}

impl Tmux {
    fn start(name: &str, command: &str, cwd: &Path) -> Tmux {
        let out = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "80",
                "-y",
                "24",
                "-c",
            ])
            .arg(cwd)
            .arg(command)
            .output()
            .expect("tmux (scripts/install-deps installs it)");
        assert!(out.status.success(), "tmux: {}", text(&out));
        Tmux { name: name.into() }
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(args[..1].iter())
            .args(["-t", &self.name])
            .args(&args[1..])
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p"]).stdout).into_owned()
    }

    /// Waits until the screen's text (its lines joined) contains `want`.
    fn wait_for(&self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(want) {
                return screen;
            }
            assert!(Instant::now() < deadline, "waiting for {want:?}:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "{}", text(&out));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-session"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_with_a_tty_gives_a_prompt_follows_resizes_and_returns_the_shells_code() {
    let Some(prod) = hoist_testkit::engine("prod").await else {
        return;
    };
    let project = TestProject::new("exec-tty", &[&prod]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).unwrap();
    let host = [
        "-H",
        "tcp://10.200.0.2:2375",
        "--trust-insecure-host",
        "10.200.0.2",
        "-p",
        project.name.as_str(),
    ];
    let out = hoist(dir.path(), &host)
        .args(["up", "-d", "web"])
        .output()
        .unwrap();
    assert!(out.status.success(), "up: {}", text(&out));

    let exit_file = dir.path().join("exit");
    let command = format!(
        "{} {} exec web bash --norc -i; echo \"exit=$?\" > {}; sleep 60",
        env!("CARGO_BIN_EXE_hoist"),
        host.join(" "),
        exit_file.display()
    );
    let term = Tmux::start(&project.name, &command, dir.path());
    // The shell's prompt (root's ends in `#`), then a command's answer.
    term.wait_for("#");
    term.keys(&["echo tty=$(tty) answer=$((6 * 7))", "Enter"]);
    let screen = term.wait_for("answer=42");
    assert!(
        screen.contains("tty=/dev/pts/"),
        "a pseudo-terminal:\n{screen}"
    );
    term.keys(&["stty size", "Enter"]);
    term.wait_for("24 80");
    // The window grows: the shell's terminal follows.
    term.tmux(&["resize-window", "-x", "120", "-y", "40"]);
    std::thread::sleep(Duration::from_millis(300));
    term.keys(&["stty size", "Enter"]);
    term.wait_for("40 120");
    // Ctrl+C reaches the remote shell's foreground command, not hoist.
    term.keys(&["sleep 30", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    term.keys(&["C-c"]);
    term.keys(&["echo after-interrupt", "Enter"]);
    term.wait_for("\nafter-interrupt\n");
    // Ctrl+D ends the shell; hoist exits with its code (the last command's).
    term.keys(&["(exit 5)", "Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    term.keys(&["C-d"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Ok(code) = std::fs::read_to_string(&exit_file) {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "hoist did not exit:\n{}",
            term.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code.trim(), "exit=5", "{}", term.screen());
}
