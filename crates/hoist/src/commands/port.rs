//! `hoist port SERVICE PRIVATE_PORT`: the public address of a port binding, `HOST:PORT`.

use std::process::ExitCode;

use serde_json::Value;

use crate::cli::{GlobalArgs, PortArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &PortArgs) -> anyhow::Result<ExitCode> {
    let spec = &load_spec(global, env, std::slice::from_ref(&args.service))?;
    let service = spec
        .service(&args.service)
        .ok_or_else(|| anyhow::anyhow!("no such service: {}", args.service))?;
    let address = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        // The container's name follows from the project, so one inspect call is enough; the
        // project's listing is read only when that name is not there.
        let guess = spec.container_name(service, args.index);
        let (name, inspect) = match engine.inspect_container_json(&guess).await {
            Ok(inspect) => (guess, inspect),
            Err(_) => {
                let name =
                    super::service_container(&engine, spec, &service.name, args.index).await?;
                let inspect = engine.inspect_container_json(&name).await?;
                (name, inspect)
            }
        };
        let key = format!("{}/{}", args.private_port, args.protocol);
        anyhow::Ok(host_address(&inspect, &key).ok_or_else(|| {
            anyhow::anyhow!("no port {key} for container {name}: it is not published")
        })?)
    })?;
    println!("{address}");
    Ok(ExitCode::SUCCESS)
}

/// `NetworkSettings.Ports[key][0]` as `HostIp:HostPort`.
pub fn host_address(inspect: &Value, key: &str) -> Option<String> {
    let binding = inspect
        .get("NetworkSettings")?
        .get("Ports")?
        .get(key)?
        .as_array()?
        .first()?;
    let ip = binding.get("HostIp").and_then(Value::as_str).unwrap_or("");
    let port = binding.get("HostPort").and_then(Value::as_str)?;
    let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
    Some(format!("{ip}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_first_binding() {
        let inspect = serde_json::json!({"NetworkSettings": {"Ports": {
            "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32770"}],
            "9090/tcp": null
        }}});
        assert_eq!(
            host_address(&inspect, "8080/tcp").as_deref(),
            Some("0.0.0.0:32770")
        );
        assert_eq!(host_address(&inspect, "9090/tcp"), None);
        assert_eq!(host_address(&inspect, "1/udp"), None);
    }
}
