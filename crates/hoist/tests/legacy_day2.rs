//! A legacy v1 project keeps Compose 1.x's output where Compose 1.29 had the verb: `top`,
//! `images`, `pause`, `unpause`, `kill`, each run beside Debian's Compose 1.29 on a twin
//! project of the same file (project names of the same length, so that the tables' widths
//! agree) and compared with the twin's name put back.

use std::path::Path;
use std::process::{Command, Output};

use hoist_testkit::TestProject;

const FILE: &str = "web:\n  image: debian:bookworm-slim\n  command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; sleep infinity & wait\"]\n";

fn compose_1() -> Option<&'static str> {
    Command::new("docker-compose")
        .arg("version")
        .output()
        .ok()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("1.29"))
        .map(|_| "docker-compose")
}

fn run(program: &str, dir: &Path, project: &str, args: &[&str]) -> Output {
    Command::new(program)
        .current_dir(dir)
        .env_remove("DOCKER_HOST")
        .env_remove("COMPOSE_PROJECT_NAME")
        .args(["-p", project])
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The cells of a 1.x table line (three or more spaces apart).
fn cells(line: &str) -> Vec<String> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_legacy_project_s_day_two_output_is_compose_1_29_s() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let Some(compose) = compose_1() else {
        eprintln!("Compose 1.29 (Debian's docker-compose) is not installed; skipping");
        return;
    };
    let (p_ours, p_theirs) = (
        TestProject::new("legacy2", &[&cd]),
        TestProject::new("legacy2", &[&cd]),
    );
    assert_eq!(p_ours.name.len(), p_theirs.name.len());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("docker-compose.yml"), FILE).unwrap();
    let hoist = env!("CARGO_BIN_EXE_hoist");
    let ours = |args: &[&str]| run(hoist, dir.path(), &p_ours.name, args);
    let theirs = |args: &[&str]| run(compose, dir.path(), &p_theirs.name, args);
    let same = |a: &Output, b: &Output| {
        (
            text(a).replace(&p_ours.name, "P"),
            text(b).replace(&p_theirs.name, "P"),
        )
    };
    let (a, b) = (ours(&["up", "-d"]), theirs(&["up", "-d"]));
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));

    // `images`: the same bytes.
    let (a, b) = (ours(&["images"]), theirs(&["images"]));
    assert_eq!(a.status.code(), b.status.code());
    let (x, y) = same(&a, &b);
    assert_eq!(x, y);
    assert_eq!(
        cells(x.lines().next().unwrap_or_default()),
        ["Container", "Repository", "Tag", "Image Id", "Size"],
        "{x}"
    );

    // `top`: the container's name, then its processes; the same cells but the numbers that
    // differ between two containers, each table laid out by 1.x's rules.
    let (a, b) = (ours(&["top"]), theirs(&["top"]));
    assert_eq!(a.status.code(), b.status.code());
    let (x, y) = same(&a, &b);
    let shape = |t: &str| -> Vec<Vec<String>> {
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "P_web_1", "{t}");
        let width = lines[1].chars().count();
        assert_eq!(lines[2], "-".repeat(width), "{t}");
        for row in &lines[3..] {
            assert_eq!(
                row.chars().count(),
                width,
                "a row as wide as the header: {t}"
            );
        }
        lines[1..]
            .iter()
            .filter(|l| !l.starts_with('-'))
            .map(|l| {
                let mut c = cells(l);
                // PID, PPID, C, STIME and TIME are the process's own.
                for i in [1, 2, 3, 4, 6] {
                    if let Some(cell) = c.get_mut(i)
                        && l.starts_with("root")
                    {
                        *cell = "#".into();
                    }
                }
                c
            })
            .collect()
    };
    assert_eq!(shape(&x), shape(&y), "hoist:\n{x}\ncompose:\n{y}");

    // `pause`, `unpause`, `kill`: 1.x's progress lines, the same exit codes, the same effect.
    for (args, state) in [
        (vec!["pause"], "paused"),
        (vec!["unpause"], "running"),
        (vec!["kill", "-s", "SIGTERM"], "exited"),
    ] {
        let (a, b) = (ours(&args), theirs(&args));
        assert_eq!(a.status.code(), b.status.code(), "{args:?}");
        let (x, y) = same(&a, &b);
        assert_eq!(x, y, "{args:?}");
        for p in [&p_ours.name, &p_theirs.name] {
            let out = Command::new("docker")
                .env_remove("DOCKER_HOST")
                .args(["inspect", "-f", "{{.State.Status}}", &format!("{p}_web_1")])
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                state,
                "{args:?} {p}"
            );
        }
    }
}
