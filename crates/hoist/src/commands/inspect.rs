//! `hoist inspect SERVICE|CONTAINER [--format TEMPLATE]`: the engine's inspect document, as
//! `docker inspect` prints it, or rendered through a Go template with docker's functions (the
//! book's `{{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}}` included).

use std::process::ExitCode;

use serde::Serialize;
use serde_json::Value;

use crate::cli::{GlobalArgs, InspectArgs};
use crate::context::{connect, load_project};
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    // A compose file is optional: without one every target is a container name or id.
    let loaded = load_project(global, env).ok();
    let docs = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let mut docs = Vec::new();
        for target in &args.targets {
            let name = match loaded
                .as_ref()
                .and_then(|l| l.spec.service(target).map(|_| l))
            {
                Some(l) => super::service_container(&engine, &l.spec, target, 1).await?,
                None => target.clone(),
            };
            docs.push(engine.inspect_container_json(&name).await?);
        }
        anyhow::Ok(docs)
    })?;
    match &args.format {
        Some(format) => {
            for doc in &docs {
                println!("{}", hoist_core::template::render(format, doc)?);
            }
        }
        None => println!("{}", docker_json(&Value::Array(docs))),
    }
    Ok(ExitCode::SUCCESS)
}

/// JSON indented with four spaces, as the docker CLI prints inspect output.
pub fn docker_json(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser).expect("JSON values serialize");
    String::from_utf8(out).expect("JSON is UTF-8")
}
