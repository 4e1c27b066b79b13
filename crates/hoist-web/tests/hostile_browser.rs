//! What a person's browser does with hostile values: a real headless Chromium (Debian's
//! `chromium` through `chromium-driver`) opens every page of the dashboard over a world whose
//! labels, environment, log lines, network and volume labels, image LABEL, pipeline output and
//! audit log are hostile markup, and also watches the live parts (the container list re-rendered
//! on an engine event, the log view fed by server-sent events). No payload runs
//! (`window.__pwned` stays unset, the title stays hoist's) and none adds an element or an
//! attribute: the DOM is searched for what the payloads would create.

mod common;

use std::time::{Duration, Instant};

use common::browser::visit;
use common::{HOSTILE, World};
use fantoccini::Client;

/// Everything on the page a payload could have made: event-handler attributes, script other
/// than the dashboard's, elements no page has (img, svg, iframe, textarea, object), and
/// `javascript:` URLs; with whether a payload ran and whether the payload is shown as text.
const DOM_CHECK: &str = r#"
var bad = [];
document.querySelectorAll('*').forEach(function (el) {
  for (var i = 0; i < el.attributes.length; i++) {
    var a = el.attributes[i];
    if (/^on/i.test(a.name)) bad.push(el.tagName + ' ' + a.name);
    if (/^(href|src|action|formaction)$/i.test(a.name) && /^\s*javascript:/i.test(a.value)) {
      bad.push(el.tagName + ' ' + a.name + '=' + a.value);
    }
  }
  var tag = el.tagName.toLowerCase();
  if (tag === 'script' && el.getAttribute('src') !== '/assets/app.js') bad.push('script');
  if (['img', 'svg', 'iframe', 'textarea', 'object', 'embed'].indexOf(tag) >= 0) bad.push(tag);
});
return {
  pwned: window.__pwned === undefined ? null : String(window.__pwned),
  title: document.title,
  body: document.body ? document.body.innerText.slice(0, 400) : '',
  bad: bad,
  shown: document.body.textContent.indexOf("<script>window.__pwned=1") >= 0
};
"#;

/// Checks the current page; returns whether the payload is shown on it as text.
async fn check(browser: &Client, what: &str) -> bool {
    let r = browser.execute(DOM_CHECK, vec![]).await.unwrap();
    assert_eq!(r["pwned"], serde_json::Value::Null, "{what}: a payload ran");
    assert!(
        r["title"].as_str().unwrap().ends_with("· hoist"),
        "{what}: the title became {}; the page: {}",
        r["title"],
        r["body"]
    );
    assert_eq!(
        r["bad"],
        serde_json::json!([]),
        "{what}: injected elements or attributes"
    );
    r["shown"] == serde_json::json!(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_markup_stays_inert_on_every_page_and_in_live_updates() {
    let Some(engine) = hoist_testkit::engine("cd").await else {
        return;
    };
    let world = World::new(engine, "ui-hostile-browser").await;
    let state = world.state();
    state.spawn_event_pumps();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hoist_web::serve(listener, state.clone(), None, async {
        let _ = stopped.await;
    }));

    let (_driver, browser) = common::browser::start(&world.dir.join("chromium-profile")).await;

    // An action on a container named by hostile markup, from the browser's own session: the
    // refusal page must be inert too.
    let c = format!("/e/cd/containers/{}", world.container);
    visit(&browser, &format!("{base}{c}")).await;
    browser
        .execute(
            "var f = document.querySelector('form.inline'); \
             f.setAttribute('action', arguments[0]); f.submit(); return null;",
            vec![serde_json::json!(world.hostile_action())],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Every page, and a mouse over every cell, where an injected handler would fire.
    let mut shown_on = Vec::new();
    for path in world.pages() {
        visit(&browser, &format!("{base}{path}")).await;
        browser
            .execute(
                "document.querySelectorAll('td, dd, li, a, span, pre, h2').forEach(function (el) { \
                   el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); }); return null;",
                vec![],
            )
            .await
            .unwrap();
        if check(&browser, &path).await {
            shown_on.push(path);
        }
    }
    for path in [
        "/containers".to_string(),
        c.clone(),
        "/networks".into(),
        "/volumes".into(),
        "/projects".into(),
        format!("/e/cd/projects/{}", world.project.name),
        format!("/runs/{}", world.run_id),
        "/history".into(),
    ] {
        assert!(
            shown_on.contains(&path),
            "{path} does not show the payload as text"
        );
    }

    // The log view, fed by the live stream: the hostile lines arrive as text.
    visit(&browser, &format!("{base}{c}")).await;
    browser
        .execute(
            "document.getElementById('logs').textContent = ''; return null;",
            vec![],
        )
        .await
        .unwrap();
    // Generous: other tests' Docker networks make Chromium drop streams, which then reconnect.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut logs = String::new();
    while Instant::now() < deadline {
        let v = browser
            .execute(
                "return document.getElementById('logs').textContent;",
                vec![],
            )
            .await
            .unwrap();
        logs = v.as_str().unwrap_or_default().to_string();
        if logs.contains(HOSTILE) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if !logs.contains(HOSTILE) {
        let diag = browser
            .execute_async(
                "var done = arguments[arguments.length - 1]; var el = document.getElementById('logs'); \
                 var url = el.getAttribute('data-follow'); \
                 fetch(url).then(function (r) { var rd = r.body.getReader(); \
                   return rd.read().then(function (c) { done(url + ' ' + r.status + ' ' + new TextDecoder().decode(c.value).slice(0, 300)); }); }) \
                 .catch(function (e) { done(url + ' failed: ' + e); });",
                vec![],
            )
            .await;
        panic!("the live log view: {logs:?}; the stream: {diag:?}");
    }
    assert!(
        !logs.contains(common::SECRET),
        "the live log view shows the secret"
    );
    check(&browser, "the live log view").await;

    // The container list, re-rendered from the server when the engine reports a new hostile
    // container: no reload, and still inert.
    visit(
        &browser,
        &format!("{base}/containers?q={}", world.project.name),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser
        .execute(
            "window.__sameDocument = 'yes'; window.__events = 0; \
             new EventSource('/events').addEventListener('engine', function () { window.__events++; }); \
             return null;",
            vec![],
        )
        .await
        .unwrap();
    let second = format!("{}-web-2", world.project.name);
    World::container(
        &world.project,
        &second,
        &world.image,
        &format!("{}-net", world.project.name),
    );
    let started = Instant::now();
    loop {
        let seen = browser
            .execute(
                "return document.getElementById('containers').textContent.includes(arguments[0]);",
                vec![serde_json::json!(second)],
            )
            .await
            .unwrap();
        if seen == serde_json::json!(true) {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let diag = browser
                .execute_async(
                    "var done = arguments[arguments.length - 1]; \
                     fetch(location.href).then(function (r) { return r.text(); }) \
                     .then(function (t) { done({rendered: t.indexOf(arguments[0]) >= 0, events: window.__events}); }) \
                     .catch(function (e) { done('fetch failed: ' + e); });",
                    vec![serde_json::json!(second)],
                )
                .await;
            panic!("the second container never appeared: {diag:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let same = browser
        .execute("return window.__sameDocument || null;", vec![])
        .await
        .unwrap();
    assert_eq!(same, serde_json::json!("yes"), "the page was reloaded");
    assert!(check(&browser, "the live container list").await);

    browser.close().await.unwrap();
    let _ = stop.send(());
    let _ = server.await;
}
