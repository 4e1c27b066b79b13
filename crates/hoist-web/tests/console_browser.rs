//! The dashboard's console and live usage in a real headless Chromium, on the dev environment's
//! `cd` engine: a shell opened from a container's page runs a command and shows its output
//! (the container's secrets masked), closing it ends the shell, `exit 3` ends the console with
//! that code, each console is in the audit log with who and how it ended; a handshake without
//! the CSRF token, from another origin, or on a read-only dashboard is refused before any shell
//! starts. The usage block shows the engine's samples as they come.

mod common;

use std::time::Duration;

use common::browser::{until, visit};
use common::{SECRET, World};
use fantoccini::Locator;
use fantoccini::key::Key;
use hoist_web::AppState;
use serde_json::{Value, json};

/// Serves `state` on a loopback port until the returned sender is dropped; the base URL.
async fn serve(state: AppState) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hoist_web::serve(listener, state, None, async {
        let _ = stopped.await;
    }));
    (base, stop)
}

const OUTPUT: &str = "return document.getElementById('console-out').textContent;";
const STATUS: &str = "return document.getElementById('console-state').textContent;";

/// Types `line` into the console's input and presses Enter.
async fn type_line(browser: &fantoccini::Client, line: &str) {
    let input = browser.find(Locator::Id("console-in")).await.unwrap();
    input
        .send_keys(&format!("{line}{}", char::from(Key::Enter)))
        .await
        .unwrap();
}

async fn text_contains(browser: &fantoccini::Client, script: &str, needle: &str) -> String {
    let v = until(browser, script, Duration::from_secs(20), |v| {
        v.as_str().is_some_and(|t| t.contains(needle))
    })
    .await;
    let text = v.as_str().unwrap_or_default().to_string();
    assert!(text.contains(needle), "waited for {needle:?}; got {text:?}");
    text
}

/// The dashboard's audit records of consoles, newest first: (who, target, outcome).
async fn consoles(browser: &fantoccini::Client) -> Vec<(String, String, String)> {
    let v = browser
        .execute_async(
            "var done = arguments[arguments.length - 1]; \
             fetch('/api/history').then(function (r) { return r.json(); }).then(done);",
            vec![],
        )
        .await
        .unwrap();
    v["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "console")
        .map(|a| {
            let s = |k: &str| a[k].as_str().unwrap_or_default().to_string();
            (s("who"), s("target"), s("outcome"))
        })
        .collect()
}

/// Opens a WebSocket from the page to `url` and reports how it ended: `open` or the close code.
const PROBE: &str = "var done = arguments[arguments.length - 1]; \
     var ws = new WebSocket(arguments[0]); \
     ws.onopen = function () { ws.close(); done('open'); }; \
     ws.onclose = function (ev) { done('closed ' + ev.code); };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_runs_a_command_closes_and_is_refused_without_the_token_or_when_read_only() {
    let Some(engine) = hoist_testkit::engine("cd").await else {
        return;
    };
    let world = World::new(engine, "ui-console").await;
    let state = world.state();
    let (base, _stop) = serve(state.clone()).await;
    let (_driver, browser) = common::browser::start(&world.dir.join("chromium-profile")).await;
    let page = format!("{base}/e/cd/containers/{}", world.container);
    visit(&browser, &page).await;

    // Live usage: the engine's samples fill the block.
    let usage = until(
        &browser,
        "return [document.querySelector('[data-usage=cpu]').textContent, \
                 document.querySelector('[data-usage=pids]').textContent, \
                 document.querySelector('[data-usage=memory]').textContent];",
        Duration::from_secs(20),
        |v| v[1].as_str().is_some_and(|p| !p.is_empty()),
    )
    .await;
    assert!(usage[0].as_str().unwrap().ends_with('%'), "{usage}");
    assert!(
        usage[1].as_str().unwrap().parse::<u64>().unwrap() >= 1,
        "{usage}"
    );
    assert!(usage[2].as_str().unwrap().contains(" / "), "{usage}");

    // A shell: a command and its output; the container's secret is shown masked.
    browser
        .find(Locator::Id("console-open"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_contains(&browser, STATUS, "connected").await;
    type_line(&browser, "echo hello-$((6 * 7))").await;
    text_contains(&browser, OUTPUT, "hello-42").await;
    type_line(&browser, "echo \"pw=$DB_PASSWORD.\"").await;
    let out = text_contains(&browser, OUTPUT, "pw=••••••.").await;
    assert!(!out.contains(SECRET), "the console shows the secret: {out}");
    // Closing it ends the shell.
    browser
        .find(Locator::Id("console-close"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_contains(&browser, STATUS, "closed").await;
    let records = until_recorded(&browser, 1).await;
    assert!(records[0].0.starts_with("local"), "{records:?}");
    assert_eq!(records[0].1, world.container, "{records:?}");
    assert!(
        records[0].2.starts_with("closed by the browser; exit "),
        "the shell ended: {records:?}"
    );

    // `exit 3`: the console ends with the shell's code.
    browser
        .find(Locator::Id("console-open"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_contains(&browser, STATUS, "connected").await;
    type_line(&browser, "exit 3").await;
    text_contains(&browser, STATUS, "exited with code 3").await;
    let records = until_recorded(&browser, 2).await;
    assert_eq!(records[0].2, "exit 3", "{records:?}");

    // No token, a wrong one: the handshake is refused and no shell is recorded.
    let ws = page.replacen("http://", "ws://", 1) + "/console";
    let csrf = browser
        .execute(
            "return document.getElementById('console').getAttribute('data-csrf');",
            vec![],
        )
        .await
        .unwrap();
    let csrf = csrf.as_str().unwrap().to_string();
    for url in [ws.clone(), format!("{ws}?csrf=not-the-token")] {
        let how = browser
            .execute_async(PROBE, vec![json!(url)])
            .await
            .unwrap();
        assert_eq!(how, json!("closed 1006"), "{url}");
    }
    // The same handshake with the token opens (and is then closed by the probe).
    let how = browser
        .execute_async(PROBE, vec![json!(format!("{ws}?csrf={csrf}"))])
        .await
        .unwrap();
    assert_eq!(how, json!("open"));
    let records = until_recorded(&browser, 3).await;
    assert_eq!(
        records.len(),
        3,
        "only the consoles that opened: {records:?}"
    );

    // Over HTTP, the refusals say why; another site's page is refused even with the token.
    let refused = |status: u16, body: &str, needle: &str| {
        assert_eq!(status, 403, "{body}");
        assert!(body.contains(needle), "{body}");
    };
    let (status, body) = handshake(&base, &world.container, "", None).await;
    refused(status, &body, "missing or wrong CSRF token");
    let (status, body) =
        handshake(&base, &world.container, &csrf, Some("http://evil.example")).await;
    refused(status, &body, "the Origin is not this dashboard");

    // Read-only: no console on the page, and the handshake is refused whatever it carries.
    let read_only = world.state_with(true);
    let (ro_base, _ro_stop) = serve(read_only).await;
    visit(
        &browser,
        &format!("{ro_base}/e/cd/containers/{}", world.container),
    )
    .await;
    let has_console = browser
        .execute(
            "return document.getElementById('console') !== null;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(has_console, Value::Bool(false));
    let ro_ws = format!(
        "{}/e/cd/containers/{}/console?csrf={csrf}",
        ro_base.replacen("http://", "ws://", 1),
        world.container
    );
    let how = browser
        .execute_async(PROBE, vec![json!(ro_ws)])
        .await
        .unwrap();
    assert_eq!(how, json!("closed 1006"));
    let (status, body) = handshake(&ro_base, &world.container, &csrf, None).await;
    refused(status, &body, "read-only");
    let _ = browser.close().await;
}

/// Waits until `n` consoles are in the audit log with their outcome filled in.
async fn until_recorded(browser: &fantoccini::Client, n: usize) -> Vec<(String, String, String)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let records = consoles(browser).await;
        let finished = records.iter().filter(|r| r.2 != "requested").count();
        if finished >= n || std::time::Instant::now() > deadline {
            assert!(finished >= n, "{records:?}");
            return records;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A WebSocket handshake to the console of `container` with `csrf` (and `origin`), over plain
/// HTTP: the status and body of the answer.
async fn handshake(base: &str, container: &str, csrf: &str, origin: Option<&str>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let request = format!(
        "GET /e/cd/containers/{container}/console?csrf={csrf} HTTP/1.1\r\nHost: {authority}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        // A refusal is a short plain-text answer; an upgrade would be 101 with no body.
        if n == 0
            || text.contains("\r\n\r\n")
                && (text.ends_with('\n') || text.starts_with("HTTP/1.1 101"))
        {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}
