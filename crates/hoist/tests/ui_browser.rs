//! What a person sees: a real headless Chromium, driven through chromedriver, opens `hoist ui`
//! on the dev environment's prod engine, finds the books-ms stack deployed there by `hoist up`,
//! opens the app's container and reads its log lines, watches a container started by another
//! `hoist up` appear without a reload, and saves a screenshot of the overview.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`/usr/bin/chromium`, `/usr/bin/chromedriver`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use hoist_testkit::TestProject;

const PROD: &str = "tcp://10.200.0.2:2375";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn hoist() -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("hoist"));
    cmd.current_dir(workspace())
        .env_remove("DOCKER_HOST")
        .env_remove("HOIST_UI_TOKEN")
        .args(["-H", PROD, "--trust-insecure-host", "10.200.0.2"]);
    cmd
}

fn books_up(project: &str, service: &str) {
    let out = hoist()
        .args(["-p", project, "-f", "examples/books-ms/docker-compose.yml"])
        .args(["up", "-d", service])
        .output()
        .expect("hoist up");
    assert!(
        out.status.success(),
        "hoist up failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A child process killed (by its own PID) when the test ends, also on panic.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until something listens on the loopback port.
fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing listens on 127.0.0.1:{port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_sees_the_books_stack_its_logs_and_live_changes() {
    let Some(prod) = hoist_testkit::engine("prod").await else {
        return;
    };
    let books = TestProject::new("ui-books", &[&prod]);
    let late = TestProject::new("ui-late", &[&prod]);
    books_up(&books.name, "app");

    let tmp = tempfile::tempdir().unwrap();
    let ui_port = free_port();
    let _ui = Killed(
        hoist()
            .args(["ui", "--name", "prod", "--bind"])
            .arg(format!("127.0.0.1:{ui_port}"))
            .env("HOIST_STATE_DIR", tmp.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("hoist ui"),
    );
    let base = format!("http://127.0.0.1:{ui_port}");
    wait_listening(ui_port);

    let driver_port = free_port();
    let _driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver)"),
    );
    wait_listening(driver_port);

    let profile = tmp.path().join("chromium-profile");
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let caps = match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("an object literal"),
    };
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session");

    // The books-ms stack on prod: both services of the project, in the list.
    browser
        .goto(&format!("{base}/containers?engine=prod&q={}", books.name))
        .await
        .unwrap();
    let table = browser
        .find(Locator::Id("containers"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(table.contains(&books.name), "{table}");
    assert!(table.contains("10.200.0.1:5000/books-ms-db"), "{table}");
    assert!(table.contains("10.200.0.1:5000/books-ms "), "{table}");
    assert!(table.contains("running"), "{table}");

    // The app's container, with its log lines.
    let app_link = format!(
        "//table[@id='containers']//a[contains(., '{}') and contains(., 'app')]",
        books.name
    );
    // The list refreshes itself: a link found just before a refresh is gone when clicked, and
    // is looked up again.
    let mut clicked = Err(String::new());
    for _ in 0..5 {
        clicked = match browser.find(Locator::XPath(&app_link)).await {
            Ok(link) => link.click().await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if clicked.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    clicked.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut logs = String::new();
    while Instant::now() < deadline {
        logs = browser
            .find(Locator::Id("logs"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if logs.contains("starting") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        logs.contains("books-ms") && logs.contains("starting"),
        "logs: {logs}"
    );

    // A container started elsewhere appears without a reload.
    browser
        .goto(&format!("{base}/containers?engine=prod"))
        .await
        .unwrap();
    // Wait until the event stream is open, so the page can hear the engine.
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser
        .execute("window.__sameDocument = 'yes'; return null;", vec![])
        .await
        .unwrap();
    books_up(&late.name, "db");
    let started = Instant::now();
    let appeared = loop {
        let seen = browser
            .execute(
                "return document.getElementById('containers').textContent.includes(arguments[0]);",
                vec![serde_json::json!(late.name)],
            )
            .await
            .unwrap();
        if seen == serde_json::json!(true) {
            break Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(3) {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let same = browser
        .execute("return window.__sameDocument || null;", vec![])
        .await
        .unwrap();
    assert_eq!(same, serde_json::json!("yes"), "the page was reloaded");
    let appeared = appeared.expect("the new container never appeared");
    assert!(
        appeared < Duration::from_secs(1),
        "the new container appeared only after {appeared:?}"
    );
    eprintln!("the container started by hoist up appeared after {appeared:?}");

    // A screenshot of the overview, to look at.
    browser.goto(&base).await.unwrap();
    browser
        .find(Locator::Css("section.card"))
        .await
        .expect("an engine card");
    let png = browser.screenshot().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-overview.png");
    std::fs::write(&shot, &png).unwrap();
    eprintln!("overview screenshot: {}", shot.display());
    browser.close().await.unwrap();
}
