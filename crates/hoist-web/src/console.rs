//! The console: a shell in a running container, in the browser, over a WebSocket.
//!
//! `GET /e/{engine}/containers/{id}/console?csrf=TOKEN&rows=R&cols=C` upgrades to a WebSocket
//! whose other end is an exec with a pseudo-terminal (bash when the image has it, else sh). It is
//! an action like stop or remove, so it passes the same gates, in this order, before the engine is
//! asked anything: refused when the dashboard is read-only; refused without the session's CSRF
//! token (a WebSocket handshake is a GET, and a page of another site may open one: the token,
//! which only the dashboard's own pages hold, and the `Origin` check stop it); recorded in the
//! audit log (refused when the log cannot be written), its outcome (the shell's exit code) filled
//! in when it ends. What is typed is not recorded; what the terminal shows is masked like the
//! container's page and logs.
//!
//! The browser sends text frames of JSON: `{"input": "..."}` (keystrokes) and
//! `{"resize": {"rows": R, "cols": C}}`. The server sends the terminal's output as text frames,
//! and closes with `exited with code N` when the shell ends. Closing the socket ends the shell:
//! it is sent an interrupt and end-of-input (Ctrl+C, Ctrl+D), and its stdin is closed; a program
//! that ignores all three keeps running, and the audit log says so.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, extract::ws::rejection::WebSocketUpgradeRejection};
use futures_util::{SinkExt, StreamExt};
use hoist_core::mask::{Masker, StreamMasker};
use hoist_core::observed::RunState;
use hoist_docker::Engine;
use hoist_docker::exec::{ExecCommand, ExecRequest, StartedExec};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::auth::Identity;
use crate::{AppState, audit};

/// The shell a console runs: bash when the image has it, else the POSIX shell every image with
/// a shell has.
const SHELL: [&str; 3] = [
    "/bin/sh",
    "-c",
    "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
];

/// The console is not a terminal emulator: programs are told so and keep to plain text.
const TERM: &str = "TERM=dumb";

/// How long output that could be the start of a secret is held back when nothing follows it.
const HOLD: Duration = Duration::from_millis(250);

/// How long a shell whose console was closed gets to end.
const GRACE: Duration = Duration::from_secs(2);

/// The largest frame the browser may send (keystrokes and pastes).
const MAX_FRAME: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
pub(crate) struct ConsoleQuery {
    #[serde(default)]
    csrf: String,
    rows: Option<u16>,
    cols: Option<u16>,
}

/// What the browser sends.
#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
enum ClientMessage {
    Input(String),
    Resize { rows: u16, cols: u16 },
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, format!("{why}\n")).into_response()
}

/// Why a console may not be opened for this request, before anything else is looked at.
fn refusal(state: &AppState, who: &Identity, csrf: &str, headers: &HeaderMap) -> Option<Response> {
    if state.read_only {
        return Some(refuse(StatusCode::FORBIDDEN, "the dashboard is read-only"));
    }
    if csrf.is_empty() || csrf != who.csrf {
        return Some(refuse(StatusCode::FORBIDDEN, "missing or wrong CSRF token"));
    }
    let value = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if !crate::guard::same_origin(value(header::HOST), value(header::ORIGIN), None) {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "cross-site request refused: the Origin is not this dashboard",
        ));
    }
    None
}

/// `GET .../console`: the checks above, then the exec, then the upgrade.
pub(crate) async fn open(
    State(state): State<AppState>,
    Extension(who): Extension<Identity>,
    Path((engine, id)): Path<(String, String)>,
    Query(query): Query<ConsoleQuery>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(refused) = refusal(&state, &who, &query.csrf, &headers) {
        return refused;
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let (e, detail) = match crate::pages::find_container(&state, &engine, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let name = detail.summary.name.clone();
    if detail.summary.state != RunState::Running {
        return refuse(
            StatusCode::CONFLICT,
            &format!("container {name} is not running"),
        );
    }
    let pending = match audit::begin(&state, &who, &engine, "console", &name) {
        Ok(pending) => pending,
        Err(refused) => return refused.into_response(),
    };
    let request = ExecRequest {
        command: ExecCommand {
            env: vec![TERM.to_string()],
            ..ExecCommand::new(SHELL)
        },
        tty: true,
        stdin: true,
        privileged: false,
    };
    let started = match e.engine.exec_attached(&detail.summary.id, &request).await {
        Ok(started) => started,
        Err(err) => {
            let outcome = err.to_string();
            pending.finish(&state, &outcome);
            return refuse(StatusCode::BAD_GATEWAY, &outcome);
        }
    };
    if let (Some(rows), Some(cols)) = (query.rows, query.cols) {
        resize(&e.engine, &started.id, rows, cols).await;
    }
    let masker = crate::mask::of_container(&detail);
    let engine = e.engine.clone();
    let container = detail.summary.id.clone();
    upgrade
        .max_message_size(MAX_FRAME)
        .max_frame_size(MAX_FRAME)
        .on_upgrade(move |socket| async move {
            let outcome = bridge(socket, &state, &engine, &container, started, masker).await;
            pending.finish(&state, &outcome);
        })
}

/// Sets the terminal's size; a failure only leaves the old size.
async fn resize(engine: &Engine, exec: &str, rows: u16, cols: u16) {
    if rows == 0 || cols == 0 {
        return;
    }
    if let Err(e) = engine.resize_exec(exec, rows, cols).await {
        tracing::debug!("resizing a console: {e}");
    }
}

/// How the bytes stopped flowing.
enum End {
    /// The shell ended (its output closed).
    Exited,
    /// The browser closed the console (or went away).
    Closed,
    /// The dashboard is shutting down.
    Shutdown,
    Failed(String),
}

/// Text of `bytes` after what an earlier piece left unfinished (`carry`); a character cut at
/// the end is kept in `carry` for the next piece.
fn decode(carry: &mut Vec<u8>, bytes: &[u8]) -> String {
    carry.extend_from_slice(bytes);
    let complete = match std::str::from_utf8(carry) {
        Ok(_) => carry.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => carry.len(),
    };
    let rest = carry.split_off(complete);
    let text = String::from_utf8_lossy(carry).into_owned();
    *carry = rest;
    text
}

/// Moves keystrokes to the shell and its output, masked, to the browser until one side ends;
/// returns the outcome for the audit log.
async fn bridge(
    socket: WebSocket,
    state: &AppState,
    engine: &Engine,
    container: &str,
    started: StartedExec,
    masker: Masker,
) -> String {
    let StartedExec { id, streams } = started;
    let (mut output, mut input) = streams.split();
    let (mut to_browser, mut from_browser) = socket.split();
    let mut shown = StreamMasker::new(masker);
    let mut carry = Vec::new();
    let shutdown = state.closed();
    tokio::pin!(shutdown);
    let end = loop {
        let holding = shown.holds();
        let text = tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(bytes)) => shown.push(&decode(&mut carry, &bytes)),
                Some(Err(e)) => break End::Failed(e.to_string()),
                None => break End::Exited,
            },
            message = from_browser.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<ClientMessage>(text.as_str()) {
                        Ok(ClientMessage::Input(keys)) => {
                            if input.write_all(keys.as_bytes()).await.is_err() {
                                break End::Exited;
                            }
                        }
                        Ok(ClientMessage::Resize { rows, cols }) => {
                            resize(engine, &id, rows, cols).await
                        }
                        Err(_) => break End::Failed("the browser sent a message that is not the console's".into()),
                    }
                    continue;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break End::Closed,
                Some(Ok(_)) => continue,
            },
            () = tokio::time::sleep(HOLD), if holding => shown.flush(),
            () = &mut shutdown => break End::Shutdown,
        };
        if !text.is_empty() && to_browser.send(Message::Text(text.into())).await.is_err() {
            break End::Closed;
        }
    };
    let rest = shown.flush();
    if !rest.is_empty() {
        let _ = to_browser.send(Message::Text(rest.into())).await;
    }
    let outcome = match end {
        End::Exited => exit_outcome(engine, container, &id).await,
        End::Closed | End::Shutdown => {
            if matches!(end, End::Shutdown) {
                let _ = to_browser
                    .send(Message::Close(Some(CloseFrame {
                        code: close_code::AWAY,
                        reason: "the dashboard is stopping".into(),
                    })))
                    .await;
            }
            // The closing handshake's answer is queued by the socket and goes out on its next
            // read: read once more, so the browser does not wait for the shell to end.
            let _ = tokio::time::timeout(Duration::from_secs(1), from_browser.next()).await;
            // Ctrl+C for a program in the foreground, then Ctrl+D for the shell (apart: the
            // terminal discards what is queued behind an interrupt); its stdin stays open
            // until it has read them.
            let _ = input.write_all(b"\x03").await;
            let _ = input.flush().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = input.write_all(b"\x04").await;
            let _ = input.flush().await;
            let drained =
                tokio::time::timeout(GRACE, async { while output.next().await.is_some() {} }).await;
            let code = match drained {
                Ok(()) => exit_outcome(engine, container, &id).await,
                Err(_) => "the shell ignored the end of its input and still runs".to_string(),
            };
            let by = if matches!(end, End::Shutdown) {
                "the dashboard stopping"
            } else {
                "the browser"
            };
            format!("closed by {by}; {code}")
        }
        End::Failed(why) => why,
    };
    let reason = match outcome.strip_prefix("exit ") {
        Some(code) => format!("exited with code {code}"),
        None => outcome.clone(),
    };
    let _ = to_browser
        .send(Message::Close(Some(CloseFrame {
            code: close_code::NORMAL,
            reason: reason.chars().take(120).collect::<String>().into(),
        })))
        .await;
    outcome
}

/// `exit N` once the engine has the code, else why not.
async fn exit_outcome(engine: &Engine, container: &str, exec: &str) -> String {
    match engine.exec_exit_code(container, exec).await {
        Ok(code) => format!("exit {code}"),
        Err(e) => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_sends_input_or_a_size_and_nothing_else() {
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"input": "ls\r"}"#).unwrap(),
            ClientMessage::Input("ls\r".into())
        );
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"resize": {"rows": 40, "cols": 120}}"#)
                .unwrap(),
            ClientMessage::Resize {
                rows: 40,
                cols: 120
            }
        );
        for bad in [
            r#"{"run": "ls"}"#,
            r#"{"input": "a", "resize": {"rows": 1, "cols": 1}}"#,
            r#"{"resize": {"rows": -1, "cols": 1}}"#,
            "ls",
        ] {
            assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn characters_cut_between_pieces_of_output_are_joined() {
        let mut carry = Vec::new();
        let euro = "€".as_bytes();
        assert_eq!(decode(&mut carry, &[b'a', euro[0]]), "a");
        assert_eq!(decode(&mut carry, &euro[1..]), "€");
        assert!(carry.is_empty());
        // Bytes that are not UTF-8 at all are shown as replacement characters, not held.
        assert_eq!(decode(&mut carry, &[0xff, b'b']), "\u{fffd}b");
    }
}
