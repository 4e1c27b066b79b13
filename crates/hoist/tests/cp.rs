//! `hoist cp` beside `docker compose cp` (v2) on the same container: files and directories each
//! way, `SRC/.`, new names, tars through stdin and stdout, and the errors; then 1 GiB each way
//! on a remote engine with hoist's peak memory measured (GNU time's `%M`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use hoist_testkit::TestProject;

const COMPOSE: &str = r#"services:
  web:
    image: debian:bookworm-slim
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"]
"#;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir` (relative path → bytes), directories as empty entries.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.map_while(Result::ok) {
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            if path.is_dir() {
                found.insert(format!("{rel}/"), Vec::new());
                todo.push(path);
            } else {
                found.insert(rel, std::fs::read(&path).unwrap_or_default());
            }
        }
    }
    found
}

struct Side {
    name: &'static str,
    program: PathBuf,
    /// Where this tool's local copies go; the container's paths get the same name.
    out: PathBuf,
}

#[tokio::test(flavor = "multi_thread")]
async fn cp_agrees_with_compose_v2_both_ways() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let project = TestProject::new("cp-diff", &[&cd]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).unwrap();
    // A local tree to copy in: nested, an empty directory, a mode, a symbolic link.
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub/empty")).unwrap();
    std::fs::write(src.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(src.join("sub/b.bin"), [0u8, 1, 2, 255]).unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    let run = |program: &Path, args: &[&str], stdin: Option<&[u8]>| -> Output {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir.path())
            .env_remove("DOCKER_HOST")
            .env_remove("COMPOSE_PROJECT_NAME")
            .args(["-p", &project.name])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    };
    let hoist = PathBuf::from(env!("CARGO_BIN_EXE_hoist"));
    let out = run(&hoist, &["up", "-d"], None);
    assert!(out.status.success(), "up: {}", text(&out));
    let container = format!("{}-web-1", project.name);
    let exec = |script: &str| -> String {
        let out = Command::new("docker")
            .env_remove("DOCKER_HOST")
            .args(["exec", &container, "sh", "-c", script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    exec(
        "mkdir -p /data/d/inner && printf one > /data/d/1 && printf two > /data/d/inner/2 && ln -s 1 /data/d/l && chmod 750 /data/d/inner",
    );

    let sides = [
        Side {
            name: "hoist",
            program: hoist.clone(),
            out: dir.path().join("hoist"),
        },
        Side {
            name: "compose",
            program: hoist_testkit::compose_v2(),
            out: dir.path().join("compose"),
        },
    ];
    let tar_in = {
        let mut b = tar::Builder::new(Vec::new());
        b.append_dir_all("fromtar", &src).unwrap();
        b.into_inner().unwrap()
    };
    let mut results = Vec::new();
    for side in &sides {
        let o = side.out.display().to_string();
        std::fs::create_dir_all(side.out.join("existing")).unwrap();
        let n = side.name;
        let steps: Vec<(Vec<String>, Option<&[u8]>)> = vec![
            // Out of the container.
            (vec!["web:/data/d/1".into(), format!("{o}/file-copy")], None),
            (vec!["web:/data/d".into(), format!("{o}/existing")], None),
            (vec!["web:/data/d/.".into(), format!("{o}/contents")], None),
            (vec!["web:/data/d".into(), format!("{o}/renamed")], None),
            (
                vec!["-L".into(), "web:/data/d/l".into(), format!("{o}/followed")],
                None,
            ),
            // Into it.
            (
                vec![format!("{}", src.display()), format!("web:/in-{n}/")],
                None,
            ),
            (
                vec![format!("{}", src.display()), format!("web:/new-{n}")],
                None,
            ),
            (
                vec![format!("{}/.", src.display()), format!("web:/dot-{n}")],
                None,
            ),
            (
                vec![
                    format!("{}/a.txt", src.display()),
                    format!("web:/file-{n}.txt"),
                ],
                None,
            ),
            (vec!["-".into(), "web:/tmp".into()], Some(&tar_in)),
        ];
        let _ = exec(&format!("mkdir -p /in-{n}"));
        let mut codes = Vec::new();
        for (args, stdin) in &steps {
            let args: Vec<&str> = std::iter::once("cp")
                .chain(args.iter().map(String::as_str))
                .collect();
            let out = run(&side.program, &args, *stdin);
            codes.push((
                args.join(" ").replace(&o, "OUT").replace(n, "TOOL"),
                out.status.code(),
            ));
            assert!(out.status.success(), "{n} {args:?}: {}", text(&out));
        }
        // The container's side of what came in.
        let inside = exec(&format!(
            "cd / && find in-{n} new-{n} dot-{n} file-{n}.txt tmp/fromtar | sort | while read p; do \
             if [ -f \"$p\" ]; then echo \"$p $(stat -c '%a %u' \"$p\") $(md5sum < \"$p\")\"; \
             else echo \"$p $(stat -c '%F %a' \"$p\")\"; fi; done"
        ))
        .replace(n, "TOOL");
        let _ = exec("rm -rf /tmp/fromtar");
        // A tar on stdout.
        let out = run(&side.program, &["cp", "web:/data/d", "-"], None);
        assert!(out.status.success(), "{n}: {}", text(&out));
        let mut names: Vec<String> = tar::Archive::new(out.stdout.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        results.push((codes, tree(&side.out), inside, names));
    }
    let (hoist_result, compose_result) = (&results[0], &results[1]);
    assert_eq!(hoist_result.0, compose_result.0, "exit codes");
    assert_eq!(hoist_result.1, compose_result.1, "what landed here");
    assert_eq!(
        hoist_result.2, compose_result.2,
        "what landed in the container"
    );
    assert_eq!(hoist_result.3, compose_result.3, "the tar on stdout");
    assert!(
        hoist_result.1.contains_key("existing/d/inner/2"),
        "{:?}",
        hoist_result.1.keys()
    );
    assert_eq!(hoist_result.1["followed"], b"one");

    // The same refusals.
    for args in [
        vec!["cp", "web:/no/such/file", "x"],
        vec!["cp", "nosuch:/etc/hostname", "x"],
        vec!["cp", "web:/etc/hostname", "web:/tmp"],
        vec!["cp", "web:/etc", "compose.yaml"],
    ] {
        let (ours, theirs) = (
            run(&hoist, &args, None),
            run(&sides[1].program, &args, None),
        );
        assert_eq!(
            ours.status.code(),
            theirs.status.code(),
            "{args:?}: {}",
            text(&ours)
        );
        assert!(!ours.status.success(), "{args:?}");
    }
}

/// Runs `program args` under GNU time and returns how it ended and its peak resident memory in
/// KiB (`%M`, the kernel's count for that process from `wait4`).
fn peak_rss(cmd: &Command) -> (bool, u64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(cmd.get_current_dir().unwrap())
        .env_remove("DOCKER_HOST")
        .stdout(Stdio::null())
        .status()
        .expect("GNU time (scripts/install-deps installs it)");
    let kib = std::fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("time's report");
    (status.success(), kib)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gibibyte_each_way_streams_in_a_few_mebibytes() {
    let Some(prod) = hoist_testkit::engine("prod").await else {
        return;
    };
    let project = TestProject::new("cp-big", &[&prod]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("compose.yaml"), COMPOSE).unwrap();
    let hoist = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.current_dir(dir.path())
            .env_remove("DOCKER_HOST")
            .args([
                "-H",
                "tcp://10.200.0.2:2375",
                "--trust-insecure-host",
                "10.200.0.2",
            ])
            .args(["-p", &project.name])
            .args(args);
        cmd
    };
    let out = hoist(&["up", "-d"]).output().unwrap();
    assert!(out.status.success(), "up: {}", text(&out));
    let sum = |args: &[&str]| {
        let out = hoist(args).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    // 1 GiB that is not all zeros, made in the container.
    let made = hoist(&[
        "exec",
        "-T",
        "web",
        "sh",
        "-c",
        "yes hoist-cp-0123456789 | head -c 1073741824 > /big && sha256sum /big",
    ])
    .output()
    .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let remote = String::from_utf8_lossy(&made.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();

    let local = dir.path().join("big");
    let (copied, out_kib) = peak_rss(&hoist(&["cp", "web:/big", local.to_str().unwrap()]));
    assert!(copied);
    assert_eq!(std::fs::metadata(&local).unwrap().len(), 1 << 30);
    let here = Command::new("sha256sum").arg(&local).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&here.stdout)
            .split_whitespace()
            .next()
            .unwrap(),
        remote
    );

    let (copied, in_kib) = peak_rss(&hoist(&["cp", local.to_str().unwrap(), "web:/back"]));
    assert!(copied);
    assert_eq!(sum(&["exec", "-T", "web", "sha256sum", "/back"]), remote);
    eprintln!("peak RSS: out {out_kib} KiB, in {in_kib} KiB");
    assert!(out_kib < 50 * 1024, "out of the container: {out_kib} KiB");
    assert!(in_kib < 50 * 1024, "into the container: {in_kib} KiB");
}
