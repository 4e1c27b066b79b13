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
    /// The container a network event is about (`connect`, `disconnect`); empty otherwise.
    pub container: String,
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
        container: get("container"),
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
        self.events_since(None)
    }

    /// Events from `since` (Unix nanoseconds on the engine's clock, see
    /// [`Engine::system_time`]) on: the engine first replays the ones it still holds from then
    /// (it keeps the last few hundred), then follows. A watcher that lists first and follows
    /// from the listing's start misses nothing in between.
    pub fn events_since(&self, since: Option<i64>) -> EngineEvents {
        let docker = self.client().clone();
        let options = since.map(|t| EventsOptions {
            since: Some(format!(
                "{}.{:09}",
                t.div_euclid(1_000_000_000),
                t.rem_euclid(1_000_000_000)
            )),
            ..Default::default()
        });
        docker
            .events(options)
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

/// A container event of one compose project, as `docker compose events` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectEvent {
    /// Unix time in nanoseconds.
    pub time_nano: i64,
    pub service: String,
    /// The container's id.
    pub container: String,
    pub action: String,
    /// The event's attributes but Compose's own labels (`com.docker.compose.*`): the image,
    /// the container's name, its other labels, an exit code.
    pub attributes: BTreeMap<String, String>,
    pub oneoff: bool,
}

fn project_event(m: bollard::models::EventMessage) -> Option<ProjectEvent> {
    if m.typ.map(|t| t.to_string()).as_deref() != Some("container") {
        return None;
    }
    let actor = m.actor.unwrap_or_default();
    let mut attributes: BTreeMap<String, String> =
        actor.attributes.unwrap_or_default().into_iter().collect();
    let service = attributes
        .get(hoist_core::spec::labels::SERVICE)
        .cloned()
        .unwrap_or_default();
    let oneoff = attributes
        .get("com.docker.compose.oneoff")
        .map(String::as_str)
        == Some("True");
    attributes.retain(|k, _| !k.starts_with("com.docker.compose."));
    Some(ProjectEvent {
        time_nano: m
            .time_nano
            .or(m.time.map(|t| t * 1_000_000_000))
            .unwrap_or_default(),
        service,
        container: actor.id.unwrap_or_default(),
        action: m.action.unwrap_or_default(),
        attributes,
        oneoff,
    })
}

impl Engine {
    /// The container events of compose project `project`, from `since` until `until` (the
    /// engine's timestamp forms: Unix seconds, RFC 3339, durations), or from now on.
    pub fn project_events(
        &self,
        project: &str,
        since: Option<&str>,
        until: Option<&str>,
    ) -> BoxStream<'static, Result<ProjectEvent, EngineError>> {
        let filters = std::collections::HashMap::from([(
            "label".to_string(),
            vec![format!("{}={project}", hoist_core::spec::labels::PROJECT)],
        )]);
        let options = EventsOptions {
            since: since.map(String::from),
            until: until.map(String::from),
            filters: Some(filters),
        };
        self.client()
            .clone()
            .events(Some(options))
            .filter_map(|item| async move {
                match item {
                    Ok(m) => project_event(m).map(Ok),
                    Err(e) => Some(Err(EngineError::new("reading the engine's events", e))),
                }
            })
            .boxed()
    }
}

impl Engine {
    /// The engine's own clock (`SystemTime` of `/info`), in Unix nanoseconds: event times and
    /// `since` are on this clock, which may differ from this machine's.
    pub async fn system_time(&self) -> Result<i64, EngineError> {
        let info = self
            .client()
            .info()
            .await
            .map_err(|e| EngineError::new("reading the engine info", e))?;
        let text = info.system_time.unwrap_or_default();
        parse_rfc3339_nanos(&text).ok_or_else(|| {
            EngineError::message(format!("the engine's time {text:?} is not RFC 3339"))
        })
    }
}

/// `2026-11-27T16:45:00.123456789Z` or with a `+01:00` offset → Unix nanoseconds.
fn parse_rfc3339_nanos(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (clock, offset) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else {
        let at = rest.rfind(['+', '-'])?;
        let (c, o) = rest.split_at(at);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (oh, om) = o[1..].split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut t = hms.splitn(3, ':');
    let (h, mi, sec): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    let digits: String = frac.chars().take(9).collect();
    let nanos: i64 = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse().ok()?
    };
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(secs * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_nanos;

    #[test]
    fn engine_times_parse_to_unix_nanoseconds() {
        assert_eq!(parse_rfc3339_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_nanos("2026-11-27T16:45:00.5Z"),
            Some(1_795_797_900_500_000_000)
        );
        assert_eq!(
            parse_rfc3339_nanos("2026-11-27T17:45:00.000000001+01:00"),
            Some(1_795_797_900_000_000_001)
        );
        assert_eq!(parse_rfc3339_nanos("yesterday"), None);
    }
}
