//! Day-2 verbs beside Docker Compose v2's on the same project and engine: `top`, `images`
//! (table, `--format json`, `-q`), `pause`/`unpause`, `kill -s`, `events` (`--json`, a window
//! of the engine's history), `wait` (and `--down-project`). Where the verb changes something, each tool acts on a twin service of its
//! own and the engine is asked what happened (`docker inspect`); outputs are compared with the
//! twin's name put back.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hoist_testkit::TestProject;

const SLEEPER: &str = r#"image: debian:bookworm-slim
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]"#;

/// Reads two lines, answers on both streams, exits 4.
const READER: &str = r#"image: debian:bookworm-slim
    stdin_open: true
    command: ["sh", "-c", "read a; read b; echo \"got $$a $$b\"; echo to-err >&2; exit 4"]"#;
/// Talks after a pause (time for both tools to attach), exits 2.
const TALKER: &str = r#"image: debian:bookworm-slim
    command: ["sh", "-c", "sleep 4; echo one; sleep 0.3; echo two; exit 2"]"#;

fn compose_file() -> String {
    format!(
        "services:\n  web:\n    {SLEEPER}\n  ours:\n    {SLEEPER}\n  theirs:\n    {SLEEPER}\n\
         \x20 ends_ours:\n    image: debian:bookworm-slim\n    command: [\"sh\", \"-c\", \"sleep 2; exit 3\"]\n\
         \x20 ends_theirs:\n    image: debian:bookworm-slim\n    command: [\"sh\", \"-c\", \"sleep 2; exit 3\"]\n\
         \x20 reader_ours:\n    {READER}\n  reader_theirs:\n    {READER}\n\
         \x20 talker_ours:\n    {TALKER}\n  talker_theirs:\n    {TALKER}\n"
    )
}

struct Tools<'a> {
    dir: &'a Path,
    project: &'a str,
}

impl Tools<'_> {
    fn hoist(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hoist"))
            .current_dir(self.dir)
            .env_remove("DOCKER_HOST")
            .env_remove("COMPOSE_PROJECT_NAME")
            .args(["-p", self.project])
            .args(args)
            .output()
            .unwrap()
    }

    fn compose(&self, args: &[&str]) -> Output {
        Command::new(hoist_testkit::compose_v2())
            .current_dir(self.dir)
            .env_remove("DOCKER_HOST")
            .env_remove("COMPOSE_PROJECT_NAME")
            .args(["-p", self.project])
            .args(args)
            .output()
            .unwrap()
    }

    /// `docker inspect -f FORMAT` of the project's container of `service`.
    fn inspect(&self, service: &str, format: &str) -> String {
        let out = Command::new("docker")
            .env_remove("DOCKER_HOST")
            .args([
                "inspect",
                "-f",
                format,
                &format!("{}-{service}-1", self.project),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stderr with the twin's name made the same and hoist's `error: ` prefix dropped.
fn stderr_as(out: &Output, twin: &str, service: &str) -> String {
    String::from_utf8_lossy(&out.stderr)
        .replace(twin, service)
        .lines()
        .map(|l| l.strip_prefix("error: ").unwrap_or(l).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn day_two_verbs_agree_with_compose_v2() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let project = TestProject::new("day2", &[&cd]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), compose_file()).unwrap();
    let t = Tools {
        dir: dir.path(),
        project: &project.name,
    };
    let out = t.hoist(&["up", "-d", "web", "ours", "theirs"]);
    assert!(out.status.success(), "up: {}", text(&out));

    // `top`: the same table, but for the processes' CPU share (column C), which moves.
    let cells = |out: &Output| -> Vec<Vec<String>> {
        stdout(out)
            .lines()
            .map(|l| {
                let mut cells: Vec<String> = l
                    .split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(String::from)
                    .collect();
                if cells.len() > 5 && cells[5].chars().all(|c| c.is_ascii_digit()) {
                    cells[5] = "C".into();
                }
                cells
            })
            .collect()
    };
    for args in [vec!["top"], vec!["top", "web"]] {
        let (ours, theirs) = (t.hoist(&args), t.compose(&args));
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(stdout(&ours).lines().next(), stdout(&theirs).lines().next());
        assert_eq!(cells(&ours), cells(&theirs), "{args:?}");
    }
    // Read-only verbs: the same bytes.
    for args in [vec!["images"], vec!["images", "-q"], vec!["images", "web"]] {
        let (ours, theirs) = (t.hoist(&args), t.compose(&args));
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(stdout(&ours), stdout(&theirs), "{args:?}");
    }
    let json = |out: &Output| {
        let mut list: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)));
        list.sort_by_key(|v| v["ContainerName"].as_str().unwrap_or_default().to_string());
        list
    };
    assert_eq!(
        json(&t.hoist(&["images", "--format", "json"])),
        json(&t.compose(&["images", "--format", "json"]))
    );

    // pause, pause again (an error), unpause, unpause again.
    for (verb, state) in [
        ("pause", "paused"),
        ("pause", "paused"),
        ("unpause", "running"),
        ("unpause", "running"),
    ] {
        let ours = t.hoist(&[verb, "ours"]);
        let theirs = t.compose(&[verb, "theirs"]);
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{verb}: {}",
            text(&ours)
        );
        if ours.status.success() {
            assert_eq!(
                stderr_as(&ours, "ours", "svc"),
                stderr_as(&theirs, "theirs", "svc"),
                "{verb}"
            );
        }
        assert_eq!(t.inspect("ours", "{{.State.Status}}"), state, "{verb}");
        assert_eq!(t.inspect("theirs", "{{.State.Status}}"), state, "{verb}");
    }

    // kill -s TERM: the trap exits 0; then nothing is left to kill.
    for _ in 0..2 {
        let ours = t.hoist(&["kill", "-s", "TERM", "ours"]);
        let theirs = t.compose(&["kill", "-s", "TERM", "theirs"]);
        assert_eq!(ours.status.code(), theirs.status.code(), "{}", text(&ours));
        assert_eq!(
            stderr_as(&ours, "ours", "svc"),
            stderr_as(&theirs, "theirs", "svc")
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while t.inspect("ours", "{{.State.Status}}") != "exited"
            || t.inspect("theirs", "{{.State.Status}}") != "exited"
        {
            assert!(Instant::now() < deadline, "kill -s TERM did not stop them");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(t.inspect("ours", "{{.State.ExitCode}}"), "0");
        assert_eq!(t.inspect("theirs", "{{.State.ExitCode}}"), "0");
    }

    // stats --no-stream: the same containers, columns and JSON fields (the numbers move).
    for args in [
        vec!["stats", "--no-stream"],
        vec!["stats", "--no-stream", "-a", "web"],
        vec!["stats", "--no-stream", "--format", "json"],
    ] {
        let (ours, theirs) = (t.hoist(&args), t.compose(&args));
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{args:?}: {}",
            text(&ours)
        );
        let shape = |out: &Output| -> Vec<String> {
            stdout(out)
                .lines()
                .map(|l| match serde_json::from_str::<serde_json::Value>(l) {
                    Ok(v) => {
                        let o = v.as_object().unwrap();
                        format!(
                            "{:?} {} {}",
                            o.keys().collect::<Vec<_>>(),
                            o["Name"],
                            o["ID"]
                        )
                    }
                    // The header, and each row's id and name.
                    // (Column widths follow the numbers, which move: cells compared.)
                    Err(_) if l.starts_with("CONTAINER ID") => l
                        .split("  ")
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .collect::<Vec<_>>()
                        .join("|"),
                    Err(_) => l.split_whitespace().take(2).collect::<Vec<_>>().join(" "),
                })
                .collect()
        };
        assert_eq!(shape(&ours), shape(&theirs), "{args:?}");
        assert!(
            shape(&ours).len() >= 2 || args.contains(&"json"),
            "{args:?}"
        );
    }

    // events: the same window of the engine's history (`--since`/`--until`), as JSON and as text.
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for verb in ["pause", "unpause"] {
        let out = t.hoist(&[verb, "web"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    // The window closes before the tools ask, so both replay it and stop.
    std::thread::sleep(Duration::from_secs(3));
    let (since, until) = (start.to_string(), (start + 2).to_string());
    for json in [true, false] {
        let mut args = vec!["events", "--since", &since, "--until", &until];
        if json {
            args.push("--json");
        }
        let (ours, theirs) = std::thread::scope(|s| {
            let ours = s.spawn(|| t.hoist(&args));
            let theirs = s.spawn(|| t.compose(&args));
            (ours.join().unwrap(), theirs.join().unwrap())
        });
        // Where the window ends, Compose v2.40 reports the end of the stream as an error
        // (`EOF`, exit 1); hoist ends as a finished listing does.
        assert_eq!(ours.status.code(), Some(0), "{}", text(&ours));
        assert_eq!(theirs.status.code(), Some(1), "{}", text(&theirs));
        assert_eq!(String::from_utf8_lossy(&theirs.stderr).trim(), "EOF");
        let lines = |out: &Output| -> Vec<String> {
            let mut lines: Vec<String> = stdout(out)
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| match json {
                    true => serde_json::from_str::<serde_json::Value>(l)
                        .unwrap()
                        .to_string(),
                    // Compose prints the attributes in Go's map order, which varies: sorted here.
                    false => {
                        let (head, attributes) = l.split_once(" (").unwrap_or((l, ""));
                        let mut attributes: Vec<&str> =
                            attributes.trim_end_matches(')').split(", ").collect();
                        attributes.sort();
                        format!("{head} ({})", attributes.join(", "))
                    }
                })
                .collect();
            lines.sort();
            lines
        };
        let ours_lines = lines(&ours);
        assert!(
            ours_lines.iter().any(|l| l.contains("pause")),
            "{ours_lines:#?}"
        );
        assert_eq!(ours_lines, lines(&theirs), "events json={json}");
    }

    // attach: stdin fed to a reader, then a talker with --no-stdin; a stopped service refused.
    let out = t.hoist(&[
        "up",
        "-d",
        "reader_ours",
        "reader_theirs",
        "talker_ours",
        "talker_theirs",
    ]);
    assert!(out.status.success(), "up: {}", text(&out));
    let feed = |program: &str, service: &str, extra: &[&str]| -> Output {
        let mut cmd = Command::new(program);
        cmd.current_dir(t.dir)
            .env_remove("DOCKER_HOST")
            .args(["-p", t.project, "attach"])
            .args(extra)
            .arg(service)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::{Read, Write};
        let mut input = child.stdin.take().unwrap();
        if extra.is_empty() {
            input.write_all(b"x\ny\n").unwrap();
        }
        // Stdin stays open until the container exits: the engine closes an attachment's
        // output once its input ends (moby's attach), for either tool.
        let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let reading = std::thread::spawn(move || {
            let mut buf = Vec::new();
            err.read_to_end(&mut buf).unwrap();
            buf
        });
        let mut stdout = Vec::new();
        out.read_to_end(&mut stdout).unwrap();
        let status = child.wait().unwrap();
        drop(input);
        Output {
            status,
            stdout,
            stderr: reading.join().unwrap(),
        }
    };
    let compose_program = hoist_testkit::compose_v2();
    let compose_program = compose_program.to_str().unwrap();
    for (service, extra) in [("reader", vec![]), ("talker", vec!["--no-stdin"])] {
        let (ours, theirs) = std::thread::scope(|s| {
            let ours = s.spawn(|| {
                feed(
                    env!("CARGO_BIN_EXE_hoist"),
                    &format!("{service}_ours"),
                    &extra,
                )
            });
            let theirs = s.spawn(|| feed(compose_program, &format!("{service}_theirs"), &extra));
            (ours.join().unwrap(), theirs.join().unwrap())
        });
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{service}: {}",
            text(&ours)
        );
        assert_eq!(stdout(&ours), stdout(&theirs), "{service}");
        assert!(!stdout(&ours).is_empty(), "{service}: {}", text(&ours));
    }
    let (ours, theirs) = (
        t.hoist(&["attach", "reader_ours"]),
        t.compose(&["attach", "reader_theirs"]),
    );
    assert_eq!(ours.status.code(), theirs.status.code(), "{}", text(&ours));
    assert_eq!(
        stderr_as(&ours, "reader_ours", "svc"),
        stderr_as(&theirs, "reader_theirs", "svc")
    );

    // wait: each tool waits for its twin, which exits 3 after two seconds.
    let out = t.hoist(&["up", "-d", "ends_ours", "ends_theirs"]);
    assert!(out.status.success(), "up: {}", text(&out));
    let (id_ours, id_theirs) = (
        t.inspect("ends_ours", "{{.Id}}"),
        t.inspect("ends_theirs", "{{.Id}}"),
    );
    let (ours, theirs) = std::thread::scope(|s| {
        let ours = s.spawn(|| t.hoist(&["wait", "ends_ours"]));
        let theirs = s.spawn(|| t.compose(&["wait", "ends_theirs"]));
        (ours.join().unwrap(), theirs.join().unwrap())
    });
    assert_eq!(ours.status.code(), Some(3), "{}", text(&ours));
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(
        stdout(&ours).replace(&id_ours, "ID"),
        stdout(&theirs).replace(&id_theirs, "ID")
    );
    assert_eq!(
        stdout(&ours).replace(&id_ours, "ID"),
        "container \"ID\" exited with status code 3\n"
    );
    // Nothing runs any more for them: both refuse the same way.
    let (ours, theirs) = (
        t.hoist(&["wait", "ends_ours"]),
        t.compose(&["wait", "ends_theirs"]),
    );
    assert_eq!(ours.status.code(), theirs.status.code(), "{}", text(&ours));
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_down_project_removes_the_project_once_its_containers_stopped() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let project = TestProject::new("day2-down", &[&cd]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), compose_file()).unwrap();
    let t = Tools {
        dir: dir.path(),
        project: &project.name,
    };
    let out = t.hoist(&["up", "-d", "ends_ours"]);
    assert!(out.status.success(), "up: {}", text(&out));
    let out = t.hoist(&["wait", "--down-project", "ends_ours"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let ps = t.hoist(&["ps", "-a", "-q"]);
    assert_eq!(stdout(&ps), "", "the project is gone: {}", text(&ps));
    assert!(
        !hoist_testkit::network_exists(&cd, &format!("{}_default", project.name)).await,
        "its network too"
    );
}

/// Services that each say who they are once both tools had time to attach, then end.
const SAYERS: &str = "services:\n  db:\n    image: debian:bookworm-slim\n    command: [\"sh\", \"-c\", \"sleep 1; echo from-db\"]\n\
\x20 app:\n    image: debian:bookworm-slim\n    command: [\"sh\", \"-c\", \"sleep 1; echo from-app\"]\n    depends_on: [db]\n\
\x20 quiet:\n    image: debian:bookworm-slim\n    command: [\"sh\", \"-c\", \"sleep 1; echo from-quiet\"]\n    attach: false\n";

/// Each service's container and its state (`created`, `exited`, ...), as the engine has them.
fn states(project: &str) -> Vec<String> {
    let out = Command::new("docker")
        .env_remove("DOCKER_HOST")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--format",
            "{{.Label \"com.docker.compose.service\"}} {{.State}}",
        ])
        .output()
        .unwrap();
    let mut lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
    lines.sort();
    lines
}

/// Which services' output an attached `up` showed (`from-X` lines), and its `Attaching to` list
/// without the project's name.
fn attached(out: &Output, project: &str) -> (Vec<String>, String) {
    let all = text(out);
    let mut said: Vec<String> = all
        .lines()
        .filter_map(|l| l.split("from-").nth(1))
        .map(|s| s.trim().to_string())
        .collect();
    said.sort();
    said.dedup();
    let attaching = all
        .lines()
        .find(|l| l.starts_with("Attaching to"))
        .unwrap_or_default()
        .replace(&format!("{project}-"), "");
    (said, attaching)
}

#[tokio::test(flavor = "multi_thread")]
async fn create_no_start_and_the_attach_choices_agree_with_compose_v2() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let (p_ours, p_theirs) = (
        TestProject::new("day2-create", &[&cd]),
        TestProject::new("day2-create", &[&cd]),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), SAYERS).unwrap();
    let ours = Tools {
        dir: dir.path(),
        project: &p_ours.name,
    };
    let theirs = Tools {
        dir: dir.path(),
        project: &p_theirs.name,
    };

    // `up --no-start SERVICE`: the service and what it depends on, made, not started.
    let (a, b) = (
        ours.hoist(&["up", "--no-start", "app"]),
        theirs.compose(&["up", "--no-start", "app"]),
    );
    assert_eq!(
        a.status.code(),
        b.status.code(),
        "{}\n{}",
        text(&a),
        text(&b)
    );
    assert_eq!(
        states(&p_ours.name),
        ["app created", "db created"],
        "{}",
        text(&a)
    );
    assert_eq!(states(&p_ours.name), states(&p_theirs.name));
    // `create`: every service; the ones made already are left as they are.
    let (a, b) = (ours.hoist(&["create"]), theirs.compose(&["create"]));
    assert_eq!(
        a.status.code(),
        b.status.code(),
        "{}\n{}",
        text(&a),
        text(&b)
    );
    assert_eq!(
        states(&p_ours.name),
        ["app created", "db created", "quiet created"]
    );
    assert_eq!(states(&p_ours.name), states(&p_theirs.name));
    // `create --force-recreate` makes them again, still not started.
    let id = |p: &str| {
        stdout(
            &Command::new("docker")
                .env_remove("DOCKER_HOST")
                .args(["inspect", "-f", "{{.Id}}", &format!("{p}-app-1")])
                .output()
                .unwrap(),
        )
    };
    let before = id(&p_ours.name);
    let a = ours.hoist(&["create", "--force-recreate", "app"]);
    assert!(a.status.success(), "{}", text(&a));
    assert_ne!(id(&p_ours.name), before, "app was made again");
    assert_eq!(
        states(&p_ours.name),
        ["app created", "db created", "quiet created"]
    );

    // Attached `up`: by default every started service but those marked `attach: false`;
    // `--attach` chooses; `--no-attach` leaves out. Run one after the other for each tool.
    for (args, shown) in [
        (vec!["up"], vec!["app", "db"]),
        (vec!["up", "--attach", "quiet"], vec!["quiet"]),
        (vec!["up", "--no-attach", "db"], vec!["app"]),
        (
            vec![
                "up",
                "--attach",
                "app",
                "--attach",
                "db",
                "--no-attach",
                "db",
            ],
            vec!["app"],
        ),
    ] {
        let (a, b) = (ours.hoist(&args), theirs.compose(&args));
        assert_eq!(
            attached(&a, &p_ours.name).0,
            shown,
            "{args:?}: {}",
            text(&a)
        );
        assert_eq!(
            a.status.code(),
            b.status.code(),
            "{args:?}: {}\n{}",
            text(&a),
            text(&b)
        );
        assert_eq!(
            attached(&a, &p_ours.name),
            attached(&b, &p_theirs.name),
            "{args:?}:\nhoist: {}\ncompose: {}",
            text(&a),
            text(&b)
        );
    }
    // What cannot be attached to, or combined: refused the same way.
    for args in [
        vec!["up", "--attach", "nowhere"],
        vec!["up", "--attach", "app", "--attach-dependencies"],
        vec!["up", "-d", "--attach", "app"],
        vec!["up", "--wait", "--attach", "app"],
    ] {
        let (a, b) = (ours.hoist(&args), theirs.compose(&args));
        assert_eq!(
            a.status.code(),
            b.status.code(),
            "{args:?}: {}\n{}",
            text(&a),
            text(&b)
        );
        let why = |out: &Output| {
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .trim_start_matches("Error response from daemon: ")
                .to_string()
        };
        assert_eq!(why(&a), why(&b), "{args:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_streams_samples_until_stopped_and_shows_a_container_started_meanwhile() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let project = TestProject::new("day2-stats", &[&cd]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), compose_file()).unwrap();
    let t = Tools {
        dir: dir.path(),
        project: &project.name,
    };
    let out = t.hoist(&["up", "-d", "web"]);
    assert!(out.status.success(), "up: {}", text(&out));
    let mut stats = std::process::Command::new(env!("CARGO_BIN_EXE_hoist"))
        .current_dir(dir.path())
        .env_remove("DOCKER_HOST")
        .args(["-p", &project.name, "stats", "--format", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Lines arrive as they are written, read on a thread of their own.
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let stdout = stats.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str(&line)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });
    let web = format!("{}-web-1", project.name);
    let ours = format!("{}-ours-1", project.name);
    let mut seen_web = 0;
    let mut seen_ours = false;
    let mut started_ours = false;
    let deadline = Instant::now() + Duration::from_secs(40);
    while Instant::now() < deadline && !(seen_web >= 3 && seen_ours) {
        let Ok(sample) = rx.recv_timeout(Duration::from_secs(5)) else {
            continue;
        };
        for key in [
            "ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs",
        ] {
            assert!(sample.get(key).is_some(), "{key} in {sample}");
        }
        match sample["Name"].as_str() {
            Some(n) if n == web => seen_web += 1,
            Some(n) if n == ours => seen_ours = true,
            _ => {}
        }
        // After the first samples, a second service starts: the stream picks it up.
        if seen_web == 2 && !started_ours {
            started_ours = true;
            let out = t.hoist(&["up", "-d", "ours"]);
            assert!(out.status.success(), "up: {}", text(&out));
        }
    }
    let _ = stats.kill();
    let _ = stats.wait();
    assert!(seen_web >= 3, "samples keep coming: {seen_web}");
    assert!(seen_ours, "the container started meanwhile is shown");
}
