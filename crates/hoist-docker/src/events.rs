//! The engine's event stream (`GET /events`) as plain values: what happened to which object, when.
//! The dashboard forwards these to open pages so that a container started or stopped anywhere,
//! by hoist or by anyone else, shows up without a reload.

use std::collections::BTreeMap;

use bollard::query_parameters::EventsOptions;
use futures_util::stream::{BoxStream, StreamExt};
use serde::Serialize;

use crate::{Engine, EngineError};

/// One engine event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineEvent {
    /// `container`, `image`, `network`, `volume`, `daemon`, ...
    pub kind: String,
    /// `start`, `die`, `create`, `destroy`, `health_status: healthy`, ...
    pub action: String,
    /// The object's id.
    pub id: String,
    /// The object's name when the engine gives one (containers, networks, volumes).
    pub name: String,
    /// Compose project and service of a container event; empty otherwise.
    pub project: String,
    pub service: String,
    /// Unix time in nanoseconds.
    pub time_nano: i64,
}

/// The stream [`Engine::events`] returns; it ends when the connection to the engine drops.
pub type EngineEvents = BoxStream<'static, Result<EngineEvent, EngineError>>;

fn event_of(m: bollard::models::EventMessage) -> EngineEvent {
    let actor = m.actor.unwrap_or_default();
    let attributes: BTreeMap<String, String> =
        actor.attributes.unwrap_or_default().into_iter().collect();
    let get = |k: &str| attributes.get(k).cloned().unwrap_or_default();
    EngineEvent {
        kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
        action: m.action.unwrap_or_default(),
        id: actor.id.unwrap_or_default(),
        name: get("name"),
        project: get(hoist_core::spec::labels::PROJECT),
        service: get(hoist_core::spec::labels::SERVICE),
        time_nano: m
            .time_nano
            .or(m.time.map(|t| t * 1_000_000_000))
            .unwrap_or_default(),
    }
}

impl Engine {
    /// Events from now on, until the connection drops. `exec_*` events are left out: health
    /// checks produce them every few seconds and they change nothing a page shows.
    pub fn events(&self) -> EngineEvents {
        let docker = self.client().clone();
        docker
            .events(None::<EventsOptions>)
            .filter_map(|item| async move {
                match item {
                    Ok(m) => {
                        let event = event_of(m);
                        (!event.action.starts_with("exec_")).then_some(Ok(event))
                    }
                    Err(e) => Some(Err(EngineError::new("reading the engine's events", e))),
                }
            })
            .boxed()
    }
}
