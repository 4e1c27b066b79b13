//! `hoist events [SERVICE...]`: the project's container events as they happen, one line each as
//! Docker Compose v2 prints them, or JSON objects with `--json`; `--since`/`--until` replay a
//! window the engine still holds. Times are UTC.

use std::io::Write;
use std::process::ExitCode;

use futures_util::StreamExt;
use hoist_docker::events::ProjectEvent;

use crate::cli::{EventsArgs, GlobalArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let spec = load_spec(global, env, &args.services)?;
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let mut events =
            engine.project_events(&spec.name, args.since.as_deref(), args.until.as_deref());
        let mut out = std::io::stdout();
        while let Some(event) = events.next().await {
            let event = event?;
            if event.oneoff || !(args.services.is_empty() || args.services.contains(&event.service))
            {
                continue;
            }
            let line = match args.json {
                true => json_line(&event),
                false => text_line(&event),
            };
            // A closed pipe (`| head`) ends the command quietly.
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                break;
            }
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `2026-12-07 07:26:13.123456 container start ID (image=..., name=...)`, attributes sorted.
fn text_line(event: &ProjectEvent) -> String {
    let attributes: Vec<String> = event
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{} container {} {} ({})\n",
        time_text(event.time_nano),
        event.action,
        event.container,
        attributes.join(", ")
    )
}

/// Compose's JSON object: `time` (RFC 3339 with nanoseconds), `type`, `service`, `id`,
/// `action`, `attributes`, keys sorted as Go marshals a map.
fn json_line(event: &ProjectEvent) -> String {
    serde_json::json!({
        "action": event.action,
        "attributes": event.attributes,
        "id": event.container,
        "service": event.service,
        "time": rfc3339_nanos(event.time_nano),
        "type": "container",
    })
    .to_string()
}

/// `2006-01-02 15:04:05.000000` in UTC.
fn time_text(nanos: i64) -> String {
    let seconds = nanos.div_euclid(1_000_000_000);
    let micros = nanos.rem_euclid(1_000_000_000) / 1000;
    format!("{}.{micros:06}", crate::output::utc(seconds as f64))
}

/// `2006-01-02T15:04:05.999999999Z` as Go prints a UTC time (trailing zeros of the fraction
/// dropped).
fn rfc3339_nanos(nanos: i64) -> String {
    let seconds = nanos.div_euclid(1_000_000_000);
    let fraction = nanos.rem_euclid(1_000_000_000);
    let date = crate::output::utc(seconds as f64).replacen(' ', "T", 1);
    match fraction {
        0 => format!("{date}Z"),
        f => format!("{date}.{}Z", format!("{f:09}").trim_end_matches('0')),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> ProjectEvent {
        ProjectEvent {
            time_nano: 1_796_627_173_123_456_700,
            service: "web".into(),
            container: "abc123".into(),
            action: "start".into(),
            attributes: [("name", "p-web-1"), ("image", "debian")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            oneoff: false,
        }
    }

    #[test]
    fn lines_read_as_composes() {
        assert_eq!(
            text_line(&event()),
            "2026-12-07 07:06:13.123456 container start abc123 (image=debian, name=p-web-1)\n"
        );
        assert_eq!(
            json_line(&event()),
            r#"{"action":"start","attributes":{"image":"debian","name":"p-web-1"},"id":"abc123","service":"web","time":"2026-12-07T07:06:13.1234567Z","type":"container"}"#
        );
    }
}
