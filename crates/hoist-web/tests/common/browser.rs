//! A real headless Chromium (Debian's `chromium` through `chromium-driver`) for the browser tests.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};

/// A child process killed (by its own PID) when the test ends, also on panic.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

/// A WebDriver session on a fresh Chromium whose profile lives in `profile`; the driver is
/// stopped when the returned guard is dropped.
pub async fn start(profile: &Path) -> (Killed, Client) {
    let driver_port = free_port();
    let driver = Killed(
        Command::new("chromedriver")
            .arg(format!("--port={driver_port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt-get install chromium-driver)"),
    );
    wait_listening(driver_port);
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000", "--disable-features=BackForwardCache",
                format!("--user-data-dir={}", profile.display()),
            ]
        }
    });
    let serde_json::Value::Object(caps) = caps else {
        unreachable!("an object literal")
    };
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a WebDriver session");
    (driver, client)
}

/// Opens `url` until the page and its script loaded: Chromium aborts loads (the page's or the
/// script's) when the host's interfaces change, and other tests create Docker networks.
pub async fn visit(browser: &Client, url: &str) {
    for _ in 0..60 {
        browser.goto(url).await.unwrap();
        // A page whose script load was aborted is not kept live.
        let live = browser
            .execute(
                "return document.documentElement.classList.contains('live');",
                vec![],
            )
            .await
            .unwrap();
        if live == serde_json::json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{url}: the page or its script failed to load for 30 s");
}

/// Evaluates `script` (a function body returning a value) until `done` holds for its value or
/// `within` passes; returns the last value.
pub async fn until(
    browser: &Client,
    script: &str,
    within: Duration,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let value = browser.execute(script, vec![]).await.unwrap();
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
