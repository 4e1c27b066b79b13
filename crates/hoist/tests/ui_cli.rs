//! `hoist ui` refuses what it must refuse before serving anything.

use assert_cmd::Command;

fn hoist() -> Command {
    let mut cmd = Command::cargo_bin("hoist").expect("hoist binary");
    cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .env_remove("DOCKER_HOST")
        .env_remove("HOIST_UI_TOKEN")
        .env("HOIST_STATE_DIR", std::env::temp_dir().join("hoist-ui-cli"));
    cmd
}

#[test]
fn a_non_loopback_bind_without_a_token_refuses_to_start() {
    let out = hoist()
        .args(["ui", "--bind", "0.0.0.0:0"])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve the dashboard on 0.0.0.0:0"),
        "{err}"
    );
    assert!(err.contains("HOIST_UI_TOKEN"), "{err}");
}

#[test]
fn an_unknown_target_is_named() {
    let out = hoist()
        .args(["ui", "--bind", "127.0.0.1:0", "--target", "staging"])
        .args(["--config", "examples/books-ms/hoist.yml"])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("defines no target \"staging\""), "{err}");
}

#[test]
fn a_token_shorter_than_32_characters_refuses_to_start() {
    let out = hoist()
        .args(["ui", "--bind", "127.0.0.1:0"])
        .env("HOIST_UI_TOKEN", "s3cret")
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HOIST_UI_TOKEN has 6 characters"), "{err}");
    assert!(err.contains("at least 32"), "{err}");
}

/// A running `hoist ui`, stopped by SIGINT (and killed if a test fails before that).
struct Dashboard {
    child: std::process::Child,
    port: u16,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Dashboard {
    fn start(bind: &str, token: Option<&str>) -> Dashboard {
        use std::io::BufRead;
        use std::process::Stdio;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .env_remove("DOCKER_HOST")
            .env_remove("HOIST_UI_TOKEN")
            .env("HOIST_STATE_DIR", std::env::temp_dir().join("hoist-ui-cli"))
            .args(["ui", "--bind", bind])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = token {
            cmd.env("HOIST_UI_TOKEN", t);
        }
        let mut child = cmd.spawn().expect("hoist ui starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let stderr_pipe = child.stderr.take().unwrap();
        let (etx, stderr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr_pipe)
                .lines()
                .map_while(Result::ok)
            {
                let _ = etx.send(line);
            }
        });
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("hoist ui says where it serves");
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Dashboard {
            child,
            port,
            stderr,
        }
    }

    /// Sends SIGINT, as Ctrl+C does, and returns how long the process took to exit, if it did
    /// within `limit`.
    fn interrupt(&mut self, limit: std::time::Duration) -> Option<std::time::Duration> {
        let sent = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "hoist ui exited with {status}");
                return Some(start.elapsed());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens an SSE stream and returns the connection once the answer's head arrived.
fn open_stream(port: u16, path: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).expect("the stream answers");
        assert!(n > 0, "closed before answering {path}");
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    assert!(head.contains("text/event-stream"), "{path}: {head}");
    s
}

#[tokio::test]
async fn ctrl_c_stops_the_dashboard_within_two_seconds_while_streams_are_open() {
    let Some(engine) = hoist_testkit::engine("cd").await else {
        return;
    };
    let project = hoist_testkit::TestProject::new("ui-sigint", &[&engine]);
    let name = format!("{}-web-1", project.name);
    let out = std::process::Command::new("docker")
        .args(["run", "-d", "--name", &name, "--label"])
        .arg(format!("com.docker.compose.project={}", project.name))
        .args([
            "debian:bookworm-slim",
            "sh",
            "-c",
            "while true; do echo tick; sleep 1; done",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut ui = Dashboard::start("127.0.0.1:0", None);
    let _events = open_stream(ui.port, "/events");
    let _logs = open_stream(ui.port, &format!("/e/local/containers/{name}/logs/stream"));
    let took = ui.interrupt(std::time::Duration::from_secs(2));
    assert!(
        took.is_some(),
        "hoist ui was still running 2 s after SIGINT with two streams open"
    );
    eprintln!("hoist ui exited {:?} after SIGINT", took.unwrap());
}

#[test]
fn plain_http_off_loopback_tells_to_serve_https() {
    let mut ui = Dashboard::start("0.0.0.0:0", Some("0123456789abcdef0123456789abcdef"));
    let warning = ui
        .stderr
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("a warning");
    assert!(warning.contains("plain HTTP"), "{warning}");
    assert!(warning.contains("--tls-cert"), "{warning}");
    assert!(ui.interrupt(std::time::Duration::from_secs(2)).is_some());
}

#[test]
fn an_unreadable_tls_certificate_is_named() {
    let out = hoist()
        .args(["ui", "--bind", "127.0.0.1:0"])
        .args(["--tls-cert", "/nonexistent/hoist-cert.pem"])
        .args(["--tls-key", "/nonexistent/hoist-key.pem"])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/hoist-cert.pem"), "{err}");
    let half = hoist()
        .args(["ui", "--tls-cert", "cert.pem"])
        .timeout(std::time::Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(half.status.code(), Some(2), "--tls-cert needs --tls-key");
}
