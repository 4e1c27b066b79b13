//! `pkg/e2e/logs_test.go`.

use std::io::Write as _;
use std::time::Duration;

use crate::harness::{Opts, scenario};

const LOGS: &str = "./fixtures/logs-test/compose.yaml";

#[test]
fn test_local_compose_logs() {
    const P: &str = "compose-e2e-logs";
    scenario(
        "logs_test.go:TestLocalComposeLogs",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            // up
            c.compose(&["-f", LOGS, "--project-name", P, "up", "-d"]);

            // logs
            let res = c.compose(&["--project-name", P, "logs"]);
            c.contains(res.stdout(), "PING localhost");
            c.contains(res.stdout(), "hello");

            // logs ping
            let res = c.compose(&["--project-name", P, "logs", "ping"]);
            c.contains(res.stdout(), "PING localhost");
            c.not_contains(res.stdout(), "hello");

            // logs hello
            let res = c.compose(&["--project-name", P, "logs", "hello", "ping"]);
            c.contains(res.stdout(), "PING localhost");
            c.contains(res.stdout(), "hello");

            // logs hello index
            let res = c.compose(&["--project-name", P, "logs", "--index", "2", "hello"]);
            c.not_contains(res.stdout(), "hello-1");
            c.contains(res.stdout(), "hello-2");

            // down
            c.compose(&["--project-name", P, "down"]);
        },
    );
}

#[test]
fn test_local_compose_logs_follow() {
    const P: &str = "compose-e2e-logs-follow";
    // Upstream uses the project name `compose-e2e-logs` here too; both tests run in parallel
    // in this tier, so this one gets its own name (the assertions look at service prefixes only).
    scenario(
        "logs_test.go:TestLocalComposeLogsFollow",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            c.with_env(&["REPEAT=20"]);
            c.compose(&["-f", LOGS, "--project-name", P, "up", "-d", "ping"]);

            let bg = c.compose_start(&["--project-name", P, "logs", "-f"]);
            let out = bg.stdout_so_far();
            c.poll(
                "`logs -f` shows ping-1",
                Duration::from_secs(1),
                Duration::from_millis(100),
                |_| out().contains("ping-1 "),
            );

            c.compose(&["-f", LOGS, "--project-name", P, "up", "-d"]);
            c.poll(
                "`logs -f` shows hello-1",
                Duration::from_secs(1),
                Duration::from_millis(100),
                |_| out().contains("hello-1 "),
            );

            c.compose(&[
                "-f",
                LOGS,
                "--project-name",
                P,
                "up",
                "-d",
                "--scale",
                "ping=2",
                "ping",
            ]);
            c.poll(
                "`logs -f` shows ping-2",
                Duration::from_secs(20),
                Duration::from_millis(100),
                |_| out().contains("ping-2 "),
            );

            // t.Cleanup: kill the follower, then down
            c.finish(bg, Some(9), Duration::from_secs(5));
            c.compose(&["--project-name", P, "down"]);
        },
    );
}

#[test]
fn test_local_compose_large_logs() {
    const P: &str = "compose-e2e-large_logs";
    scenario(
        "logs_test.go:TestLocalComposeLargeLogs",
        Opts {
            projects: &[P],
            ..Opts::default()
        },
        |c| {
            let file = c.dir().join("large.txt");
            let mut f = std::io::BufWriter::new(std::fs::File::create(&file).expect("large.txt"));
            for i in 0..300_000 {
                writeln!(f, "This is line {i} in a laaaarge text file").expect("write large.txt");
            }
            f.flush().expect("flush large.txt");
            drop(f);
            c.with_env(&[&format!("FILE={}", file.display())]);

            let res = c.compose_no_check(&[
                "-f",
                "./fixtures/logs-test/cat.yaml",
                "--project-name",
                P,
                "up",
                "--abort-on-container-exit",
                "--menu=false",
            ]);
            c.contains(res.stdout(), "test-1 exited with code 0");
            // t.Cleanup
            c.compose(&["--project-name", P, "down"]);
        },
    );
}
