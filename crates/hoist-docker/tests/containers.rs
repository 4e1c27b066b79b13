//! Working with running containers through the adapter on the dev environment: logs from both
//! streams (whole, tail, follow, with timestamps, and from a TTY container), exec with exit codes
//! and captured output, files written through the archive API and read back, and SIGHUP
//! delivered to the main process, as the pipeline drives nginx on prod.

mod common;

use std::time::{Duration, Instant};

use common::{BASE, run, wait_exited};
use futures_util::StreamExt;
use hoist_docker::{
    ArchiveError, Engine, ExecCommand, ExecError, FileUpload, LogLine, LogOptions, LogStream,
    LogsError,
};
use hoist_testkit::{TestProject, engine};

const BOTH_STREAMS: &str = "echo out1; echo err1 >&2; echo out2; echo err2 >&2";

async fn collect(engine: &Engine, container: &str, options: LogOptions) -> Vec<LogLine> {
    let stream = engine.logs(container, options).await.expect("logs");
    tokio::time::timeout(
        Duration::from_secs(30),
        stream.map(|l| l.expect("log line")).collect(),
    )
    .await
    .expect("the log stream ends")
}

fn texts(lines: &[LogLine], stream: LogStream) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.as_str())
        .collect()
}

#[tokio::test]
async fn logs_keep_stdout_and_stderr_apart_and_honour_tail() {
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("docker-logs", &[&prod]);
    let name = run(
        &prod,
        &project,
        "talker",
        BASE,
        &["sh", "-c", BOTH_STREAMS],
        false,
    )
    .await;
    wait_exited(&prod, &name).await;

    let all = collect(&prod, &name, LogOptions::default()).await;
    assert_eq!(texts(&all, LogStream::Stdout), ["out1", "out2"]);
    assert_eq!(texts(&all, LogStream::Stderr), ["err1", "err2"]);
    assert!(all.iter().all(|l| l.timestamp.is_none()));

    let tail = collect(
        &prod,
        &name,
        LogOptions {
            tail: Some(2),
            ..Default::default()
        },
    )
    .await;
    // The engine copies the two streams concurrently, so their relative order in the log is
    // not fixed; the tail is the last two lines of the whole log, whichever streams they are.
    assert_eq!(tail.as_slice(), &all[2..]);

    let stamped = collect(
        &prod,
        &name,
        LogOptions {
            timestamps: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(stamped.len(), 4);
    for line in &stamped {
        let ts = line.timestamp.as_deref().expect("timestamp");
        assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
        assert!(!line.text.contains(ts));
    }
}

#[tokio::test]
async fn follow_streams_new_lines_until_the_container_stops() {
    let Some(cd) = engine("cd").await else { return };
    let project = TestProject::new("docker-follow", &[&cd]);
    let script = "echo start; sleep 1; echo middle >&2; sleep 1; echo end";
    let name = run(&cd, &project, "slow", BASE, &["sh", "-c", script], false).await;
    let started = Instant::now();
    let lines = collect(
        &cd,
        &name,
        LogOptions {
            follow: true,
            ..Default::default()
        },
    )
    .await;
    let got: Vec<_> = lines.iter().map(|l| (l.stream, l.text.as_str())).collect();
    assert_eq!(
        got,
        [
            (LogStream::Stdout, "start"),
            (LogStream::Stderr, "middle"),
            (LogStream::Stdout, "end"),
        ]
    );
    // The stream waited for the lines written after it was opened.
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn tty_output_is_read_as_stdout_lines() {
    let Some(cd) = engine("cd").await else { return };
    let project = TestProject::new("docker-tty", &[&cd]);
    let name = run(
        &cd,
        &project,
        "tty",
        BASE,
        &["sh", "-c", BOTH_STREAMS],
        true,
    )
    .await;
    wait_exited(&cd, &name).await;
    let lines = collect(&cd, &name, LogOptions::default()).await;
    assert_eq!(
        texts(&lines, LogStream::Stdout),
        ["out1", "err1", "out2", "err2"]
    );
    let err = match cd
        .logs(&format!("{}-absent", project.name), LogOptions::default())
        .await
    {
        Err(err) => err,
        Ok(_) => panic!("logs of a missing container"),
    };
    assert!(matches!(err, LogsError::NoSuchContainer { .. }), "{err:?}");
}

#[tokio::test]
async fn exec_reports_exit_codes_and_both_outputs() {
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("docker-exec", &[&prod]);
    let name = run(&prod, &project, "box", BASE, &["sleep", "300"], false).await;

    let out = prod
        .exec(
            &name,
            &ExecCommand::new(["sh", "-c", "echo hi; echo oops >&2; exit 3"]),
        )
        .await
        .unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.stdout_text(), "hi\n");
    assert_eq!(out.stderr_text(), "oops\n");
    assert!(!out.success());

    let mut env_cmd = ExecCommand::new(["sh", "-c", "echo $GREETING from $(pwd) as $(id -u)"]);
    env_cmd.env = vec!["GREETING=hello".into()];
    env_cmd.working_dir = Some("/tmp".into());
    env_cmd.user = Some("nobody".into());
    let out = prod.exec(&name, &env_cmd).await.unwrap();
    assert!(out.success());
    assert_eq!(out.stdout_text(), "hello from /tmp as 65534\n");

    let out = prod
        .exec(&name, &ExecCommand::new(["no-such-program"]))
        .await
        .unwrap();
    assert!(out.exit_code == 126 || out.exit_code == 127, "{out:?}");

    let err = prod
        .exec(
            &format!("{}-absent", project.name),
            &ExecCommand::new(["true"]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::NoSuchContainer { .. }), "{err:?}");

    prod.signal(&name, "KILL").await.unwrap();
    wait_exited(&prod, &name).await;
    let err = prod
        .exec(&name, &ExecCommand::new(["true"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::NotRunning { .. }), "{err:?}");
}

#[tokio::test]
async fn uploaded_files_are_readable_in_the_container_and_downloadable() {
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("docker-archive", &[&prod]);
    let name = run(&prod, &project, "files", BASE, &["sleep", "300"], false).await;

    let conf = "server { listen 80; }\n";
    prod.upload_files(
        &name,
        &[
            FileUpload::new("/etc/hoist-test/conf.d/app.conf", conf, 0o640),
            FileUpload::new("/usr/local/bin/hello", "#!/bin/sh\necho hello\n", 0o755),
        ],
    )
    .await
    .expect("upload");

    let out = prod
        .exec(
            &name,
            &ExecCommand::new(["stat", "-c", "%a %u", "/etc/hoist-test/conf.d/app.conf"]),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "640 0\n");
    let out = prod
        .exec(
            &name,
            &ExecCommand::new(["cat", "/etc/hoist-test/conf.d/app.conf"]),
        )
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), conf);
    let out = prod
        .exec(&name, &ExecCommand::new(["hello"]))
        .await
        .unwrap();
    assert_eq!(out.stdout_text(), "hello\n");

    let file = prod
        .download_file(&name, "/etc/hoist-test/conf.d/app.conf")
        .await
        .unwrap()
        .expect("the file is there");
    assert_eq!(file.contents, conf.as_bytes());
    assert_eq!(file.mode & 0o777, 0o640);

    // Overwriting restores a previous version, as the pipeline does after a failed `nginx -t`.
    prod.upload_files(
        &name,
        &[FileUpload::new(
            "/etc/hoist-test/conf.d/app.conf",
            "v2\n",
            0o644,
        )],
    )
    .await
    .unwrap();
    let file = prod
        .download_file(&name, "/etc/hoist-test/conf.d/app.conf")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(file.contents, b"v2\n");

    assert_eq!(
        prod.download_file(&name, "/etc/hoist-test/none.conf")
            .await
            .unwrap(),
        None
    );
    let err = prod
        .download_file(&name, "/etc/hoist-test")
        .await
        .unwrap_err();
    assert!(matches!(err, ArchiveError::NotAFile { .. }), "{err:?}");
    let err = prod
        .upload_files(
            &format!("{}-absent", project.name),
            &[FileUpload::new("/x", "x", 0o644)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ArchiveError::NoSuchContainer { .. }),
        "{err:?}"
    );
}

async fn next_line(lines: &mut hoist_docker::LogLines) -> LogLine {
    tokio::time::timeout(Duration::from_secs(20), lines.next())
        .await
        .expect("a log line in time")
        .expect("the stream is open")
        .expect("log line")
}

#[tokio::test]
async fn hup_reaches_the_main_process() {
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("docker-signal", &[&prod]);
    let script = "trap 'echo got-hup' HUP; echo ready; while true; do sleep 0.1; done";
    let name = run(&prod, &project, "trap", BASE, &["sh", "-c", script], false).await;

    let mut lines = prod
        .logs(
            &name,
            LogOptions {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(next_line(&mut lines).await.text, "ready");
    prod.signal(&name, "HUP").await.expect("signal");
    assert_eq!(next_line(&mut lines).await.text, "got-hup");

    let err = prod.signal(&name, "NOT A SIGNAL").await.unwrap_err();
    assert!(matches!(err, ExecError::BadSignal { .. }), "{err:?}");
    let err = prod
        .signal(&format!("{}-absent", project.name), "HUP")
        .await
        .unwrap_err();
    assert!(matches!(err, ExecError::NoSuchContainer { .. }), "{err:?}");
}

#[tokio::test]
async fn exec_archive_and_logs_work_over_tls() {
    let Some(tls) = engine("prod-tls").await else {
        return;
    };
    let project = TestProject::new("docker-tls-ops", &[&tls]);
    let name = run(
        &tls,
        &project,
        "box",
        BASE,
        &["sh", "-c", "echo up; sleep 300"],
        false,
    )
    .await;
    tls.upload_files(
        &name,
        &[FileUpload::new("/srv/probe.txt", "over tls\n", 0o600)],
    )
    .await
    .expect("upload over TLS");
    // Large enough to span many frames of the hijacked exec connection.
    let out = tls
        .exec(
            &name,
            &ExecCommand::new([
                "sh",
                "-c",
                "cat /srv/probe.txt; head -c 300000 /dev/zero | tr '\\0' x >&2",
            ]),
        )
        .await
        .expect("exec over TLS");
    assert_eq!(out.exit_code, 0);
    assert_eq!(out.stdout_text(), "over tls\n");
    assert_eq!(out.stderr.len(), 300_000);
    assert!(out.stderr.iter().all(|b| *b == b'x'));
    let first = tls
        .logs(
            &name,
            LogOptions {
                follow: true,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .next()
        .await
        .expect("a line")
        .expect("log line");
    assert_eq!(
        (first.stream, first.text.as_str()),
        (LogStream::Stdout, "up")
    );
}
