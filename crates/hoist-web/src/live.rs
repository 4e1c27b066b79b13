//! Server-sent events: engine events for open pages, and a container's log lines as they are
//! written. One background task per engine follows its event stream and fans events out through
//! a broadcast channel, so a hundred open pages cost one engine connection.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use hoist_docker::LogOptions;

use crate::{AppState, LiveEvent, NamedEngine};

/// Follows one engine's events for as long as the process lives, reconnecting after a drop:
/// lists the engine, then follows its events from the moment the listing started, applying each
/// to the engine's snapshot before open pages hear of it.
pub(crate) async fn pump(state: AppState, engine: NamedEngine) {
    let Some(snapshot) = state.snapshots.get(&engine.name) else {
        return;
    };
    loop {
        // Whatever happened while the stream was down is unknown: pages list the engine
        // themselves until the new listing is in.
        snapshot.unavailable();
        // The engine's clock, for `since`: the stream then replays what happens during the
        // listing, and no change falls between the two.
        let since = match engine.engine.system_time().await {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(engine = %engine.name, "reading the engine's clock: {e}");
                None
            }
        };
        if let Err(e) = snapshot.relist(&engine.engine).await {
            tracing::warn!(engine = %engine.name, "listing containers: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let mut events = engine.engine.events_since(since);
        while let Some(item) = events.next().await {
            let event = match item {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!(engine = %engine.name, "event stream: {e}");
                    break;
                }
            };
            let n = snapshot.received();
            let applied = snapshot.apply(&engine.engine, &event).await;
            if let Err(e) = &applied {
                tracing::warn!(engine = %engine.name, "applying {} {}: {e}", event.kind, event.action);
                snapshot.unavailable();
            }
            snapshot.applied(n);
            state.publish(LiveEvent {
                engine: engine.name.clone(),
                event,
            });
            if applied.is_err() {
                break;
            }
        }
        snapshot.unavailable();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `GET /events`: every engine event as an SSE `engine` event with a JSON body.
pub(crate) async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.events.subscribe();
    let stream = stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    let data = serde_json::to_string(&e).unwrap_or_default();
                    return Some((Ok(Event::default().event("engine").data(data)), rx));
                }
                // A slow page missed some events; the next one makes it re-render anyway.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream.take_until(closed(state))).keep_alive(KeepAlive::default())
}

/// Completes when the dashboard shuts down: every stream ends then, so that a graceful shutdown
/// does not wait for pages that would listen forever.
async fn closed(state: AppState) {
    state.closed().await
}

/// How many earlier lines a log view starts with.
pub(crate) const LOG_TAIL: u64 = 200;

/// `GET /e/{engine}/containers/{id}/logs/stream`: the last lines, then new ones as they come, as
/// SSE `line` events, with the container's secrets masked.
pub(crate) async fn logs_stream(
    State(state): State<AppState>,
    Path((engine, id)): Path<(String, String)>,
) -> Response {
    let Some(e) = state.engine(&engine) else {
        return (StatusCode::NOT_FOUND, "no such engine\n").into_response();
    };
    let detail = match e.engine.container_detail(&id).await {
        Ok(Some(d)) => d,
        Ok(None) => return (StatusCode::NOT_FOUND, "no such container\n").into_response(),
        Err(err) => return (StatusCode::BAD_GATEWAY, format!("{err}\n")).into_response(),
    };
    // The same masker as the container's page and `/logs`: environment and labels.
    let masker = crate::mask::of_container(&detail);
    let lines = match e
        .engine
        .logs(
            &detail.summary.id,
            LogOptions {
                follow: true,
                tail: Some(LOG_TAIL),
                timestamps: false,
            },
        )
        .await
    {
        Ok(lines) => lines,
        Err(err) => return (StatusCode::BAD_GATEWAY, format!("{err}\n")).into_response(),
    };
    let stream = lines.map(move |line| {
        let text = match line {
            Ok(l) => masker.text(&l.text).into_owned(),
            Err(err) => format!("[hoist: {err}]"),
        };
        // SSE splits data on line breaks; a stray carriage return would end the field early.
        let text = text.replace('\r', "");
        Ok::<_, Infallible>(Event::default().event("line").data(text))
    });
    Sse::new(stream.take_until(closed(state.clone())))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// One sample of a container's usage as the page shows it, formatted here so that the page's
/// script only sets text.
#[derive(Debug, serde::Serialize, PartialEq)]
pub(crate) struct UsageView {
    cpu: String,
    memory: String,
    memory_percent: String,
    net: String,
    block: String,
    pids: String,
}

impl From<&hoist_docker::stats::Usage> for UsageView {
    fn from(u: &hoist_docker::stats::Usage) -> UsageView {
        let size = |n: u64| crate::html::size(i64::try_from(n).unwrap_or(i64::MAX));
        UsageView {
            cpu: format!("{:.2}%", u.cpu_percent),
            memory: format!("{} / {}", size(u.memory), size(u.memory_limit)),
            memory_percent: format!("{:.2}%", u.memory_percent),
            net: format!("{} / {}", size(u.net_rx), size(u.net_tx)),
            block: format!("{} / {}", size(u.block_read), size(u.block_write)),
            pids: u.pids.to_string(),
        }
    }
}

/// `GET /e/{engine}/containers/{id}/stats`: the container's usage as SSE `usage` events with a
/// JSON body, one per engine sample (about a second apart), until the page goes or the
/// container does.
pub(crate) async fn stats_stream(
    State(state): State<AppState>,
    Path((engine, id)): Path<(String, String)>,
) -> Response {
    let Some(e) = state.engine(&engine) else {
        return (StatusCode::NOT_FOUND, "no such engine\n").into_response();
    };
    let samples = match e.engine.usage_stream(&id) {
        Ok(samples) => samples,
        Err(err) => return (StatusCode::BAD_REQUEST, format!("{err}\n")).into_response(),
    };
    let events = samples.map(|sample| {
        let event = match sample {
            Ok(usage) => Event::default()
                .event("usage")
                .data(serde_json::to_string(&UsageView::from(&usage)).unwrap_or_default()),
            Err(err) => Event::default()
                .event("gone")
                .data(err.to_string().replace(['\r', '\n'], " ")),
        };
        Ok::<_, Infallible>(event)
    });
    Sse::new(events.take_until(closed(state.clone())))
        .keep_alive(KeepAlive::default())
        .into_response()
}
