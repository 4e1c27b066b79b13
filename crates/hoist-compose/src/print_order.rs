//! The order in which Docker Compose prints a project's fields.
//!
//! Compose prints its Go types: the fields of a struct in the order they are declared, the keys
//! of a map (a service's `environment`, `labels`, the services themselves, anything under an
//! `x-` extension) sorted by their bytes, and lists as they are. [`Shape`] is that type tree,
//! from compose-go's types; what it does not name is a map.

use crate::json::Value as J;

/// What sits at one place of the printed project.
#[derive(Clone, Copy)]
enum Shape {
    /// A map, or a value of any type: objects anywhere below it have their keys sorted.
    Any,
    /// A struct: its fields in this order (each with its own shape), then the rest sorted.
    Struct(&'static [(&'static str, Shape)]),
    /// A map whose values all have one shape.
    MapOf(&'static Shape),
    /// A list whose items all have one shape.
    ListOf(&'static Shape),
}

use Shape::{Any, ListOf, MapOf, Struct};

/// Fields whose own content is a map or a scalar: their shape is [`Shape::Any`].
macro_rules! fields {
    ($($name:literal $(=> $shape:expr)?),* $(,)?) => {
        &[$(($name, fields!(@shape $($shape)?))),*]
    };
    (@shape) => { Any };
    (@shape $shape:expr) => { $shape };
}

const RESOURCE: Shape = Struct(fields![
    "cpus",
    "memory",
    "pids",
    "devices" => ListOf(&DEVICE_REQUEST),
    "generic_resources",
]);
const DEVICE_REQUEST: Shape = Struct(fields![
    "capabilities",
    "driver",
    "count",
    "device_ids",
    "options",
]);
const UPDATE_CONFIG: Shape = Struct(fields![
    "parallelism",
    "delay",
    "failure_action",
    "monitor",
    "max_failure_ratio",
    "order",
]);
const DEPLOY: Shape = Struct(fields![
    "mode",
    "replicas",
    "labels",
    "update_config" => UPDATE_CONFIG,
    "rollback_config" => UPDATE_CONFIG,
    "resources" => Struct(fields!["limits" => RESOURCE, "reservations" => RESOURCE]),
    "restart_policy" => Struct(fields!["condition", "delay", "max_attempts", "window"]),
    "placement" => Struct(fields![
        "constraints",
        "preferences" => ListOf(&Struct(fields!["spread"])),
        "max_replicas_per_node",
    ]),
    "endpoint_mode",
]);
const BUILD: Shape = Struct(fields![
    "context",
    "dockerfile",
    "dockerfile_inline",
    "entitlements",
    "args",
    "provenance",
    "sbom",
    "ssh",
    "labels",
    "cache_from",
    "cache_to",
    "no_cache",
    "no_cache_filter",
    "additional_contexts",
    "pull",
    "extra_hosts",
    "isolation",
    "network",
    "target",
    "secrets" => ListOf(&FILE_REFERENCE),
    "shm_size",
    "tags",
    "ulimits" => MapOf(&ULIMIT),
    "platforms",
    "privileged",
]);
const FILE_REFERENCE: Shape = Struct(fields!["source", "target", "uid", "gid", "mode"]);
const ULIMIT: Shape = Struct(fields!["single", "soft", "hard"]);
const THROTTLE: Shape = Struct(fields!["path", "rate"]);
const BLKIO: Shape = Struct(fields![
    "weight",
    "weight_device" => ListOf(&Struct(fields!["path", "weight"])),
    "device_read_bps" => ListOf(&THROTTLE),
    "device_read_iops" => ListOf(&THROTTLE),
    "device_write_bps" => ListOf(&THROTTLE),
    "device_write_iops" => ListOf(&THROTTLE),
]);
const MOUNT: Shape = Struct(fields![
    "type",
    "source",
    "target",
    "read_only",
    "consistency",
    "bind" => Struct(fields!["selinux", "propagation", "create_host_path", "recursive"]),
    "volume" => Struct(fields!["labels", "nocopy", "subpath"]),
    "tmpfs" => Struct(fields!["size", "mode"]),
    "image" => Struct(fields!["subpath"]),
]);
const HOOK: Shape = Struct(fields![
    "command",
    "image",
    "user",
    "privileged",
    "working_dir",
    "environment",
    "per_replica",
]);
/// A service's fields, in the order of compose-go's `ServiceConfig`.
const SERVICE: Shape = Struct(fields![
    "profiles",
    "annotations",
    "attach",
    "build" => BUILD,
    "develop" => Struct(fields![
        "watch" => ListOf(&Struct(fields![
            "path",
            "action",
            "target",
            "exec" => HOOK,
            "include",
            "ignore",
            "initial_sync",
        ])),
    ]),
    "blkio_config" => BLKIO,
    "cap_add",
    "cap_drop",
    "cgroup_parent",
    "cgroup",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "cpu_shares",
    "command",
    "configs" => ListOf(&FILE_REFERENCE),
    "container_name",
    "credential_spec" => Struct(fields!["config", "file", "registry"]),
    "depends_on" => MapOf(&Struct(fields!["condition", "restart", "required"])),
    "deploy" => DEPLOY,
    "device_cgroup_rules",
    "devices" => ListOf(&Struct(fields!["source", "target", "permissions"])),
    "dns",
    "dns_opt",
    "dns_search",
    "dockerfile",
    "domainname",
    "entrypoint",
    "provider" => Struct(fields!["type", "options"]),
    "environment",
    "env_file",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "group_add",
    "gpus" => ListOf(&DEVICE_REQUEST),
    "hostname",
    "healthcheck" => Struct(fields![
        "test",
        "timeout",
        "interval",
        "retries",
        "start_period",
        "start_interval",
        "disable",
    ]),
    "image",
    "init",
    "ipc",
    "isolation",
    "labels",
    "label_file",
    "links",
    "logging" => Struct(fields!["driver", "options"]),
    "log_driver",
    "log_opt",
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "mac_address",
    "models" => MapOf(&Struct(fields!["endpoint_var", "model_var"])),
    "net",
    "network_mode",
    "networks" => MapOf(&Struct(fields![
        "aliases",
        "driver_opts",
        "gw_priority",
        "interface_name",
        "ipv4_address",
        "ipv6_address",
        "link_local_ips",
        "mac_address",
        "priority",
    ])),
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports" => ListOf(&Struct(fields![
        "name",
        "mode",
        "host_ip",
        "target",
        "published",
        "protocol",
        "app_protocol",
    ])),
    "privileged",
    "pull_policy",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets" => ListOf(&FILE_REFERENCE),
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits" => MapOf(&ULIMIT),
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "volumes" => ListOf(&MOUNT),
    "volumes_from",
    "working_dir",
    "pre_start" => ListOf(&HOOK),
    "post_start" => ListOf(&HOOK),
    "pre_stop" => ListOf(&HOOK),
]);
const NETWORK: Shape = Struct(fields![
    "name",
    "driver",
    "driver_opts",
    "ipam" => Struct(fields![
        "driver",
        "config" => ListOf(&Struct(fields!["subnet", "gateway", "ip_range", "aux_addresses"])),
        "options",
    ]),
    "external",
    "internal",
    "attachable",
    "labels",
    "enable_ipv4",
    "enable_ipv6",
]);
const VOLUME: Shape = Struct(fields![
    "name",
    "driver",
    "driver_opts",
    "external",
    "labels"
]);
const FILE_OBJECT: Shape = Struct(fields![
    "name",
    "file",
    "environment",
    "content",
    "external",
    "labels",
    "driver",
    "driver_opts",
    "template_driver",
]);
/// The project as Compose's JSON has it: a map (sorted), each section a map of its kind.
const PROJECT: Shape = Struct(fields![
    "services" => MapOf(&SERVICE),
    "networks" => MapOf(&NETWORK),
    "volumes" => MapOf(&VOLUME),
    "secrets" => MapOf(&FILE_OBJECT),
    "configs" => MapOf(&FILE_OBJECT),
]);

/// Puts `value`'s objects in the order a value of `shape` is printed in.
fn order(value: &mut J, shape: Shape) {
    match value {
        J::Object(fields) => {
            let rank = |key: &str| match shape {
                Struct(known) => known
                    .iter()
                    .position(|(k, _)| *k == key)
                    .unwrap_or(known.len()),
                _ => 0,
            };
            // Stable: within one rank (a map's keys, or a struct's unknown ones) by the bytes.
            fields.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
            for (key, inner) in fields.iter_mut() {
                let below = match shape {
                    Struct(known) => known
                        .iter()
                        .find(|(k, _)| *k == &**key)
                        .map_or(Any, |(_, s)| *s),
                    MapOf(s) => *s,
                    Any | ListOf(_) => Any,
                };
                order(inner, below);
            }
        }
        J::Array(items) => {
            let below = match shape {
                ListOf(s) => *s,
                _ => Any,
            };
            for item in items {
                order(item, below);
            }
        }
        _ => {}
    }
}

/// Puts the printed project's fields in Compose's order. The top level is ordered as Compose's
/// JSON prints it (sorted); its YAML orders the sections itself ([`crate::render::project_yaml`]).
pub fn order_as_printed(project: &mut J) {
    if let J::Object(top) = project {
        top.sort_by(|(a, _), (b, _)| a.cmp(b));
        for (key, section) in top.iter_mut() {
            let shape = match PROJECT {
                Struct(known) => known
                    .iter()
                    .find(|(k, _)| *k == &**key)
                    .map_or(Any, |(_, s)| *s),
                _ => Any,
            };
            order(section, shape);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &J) -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().map(|k| k.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn structs_keep_compose_s_field_order_and_maps_are_sorted() {
        let mut project = J::from_serde(serde_json::json!({}));
        // serde_json's map sorts on its own: build the tree in a chosen order instead.
        let text = r#"{"services": {"web": {"image": "x", "healthcheck": {"retries": 3,
            "interval": "1s", "test": ["NONE"], "timeout": "2s"}, "environment": {"b": "1",
            "B": "2", "a": "3"}, "x-z": {"q": 1, "p": {"d": 1, "c": 2}}, "build": {"target": "t",
            "context": "."}}, "api": {"image": "y"}}, "name": "p", "networks": {"n": {"labels": {},
            "ipam": {}, "name": "p_n", "internal": true}}}"#;
        let mut de = serde_json::Deserializer::from_str(text);
        project = <J as serde::Deserialize>::deserialize(&mut de).unwrap_or(project);
        order_as_printed(&mut project);
        assert_eq!(keys(&project), ["name", "networks", "services"]);
        let services = project.get("services").unwrap();
        assert_eq!(keys(services), ["api", "web"]);
        let web = services.get("web").unwrap();
        assert_eq!(
            keys(web),
            ["build", "environment", "healthcheck", "image", "x-z"]
        );
        assert_eq!(keys(web.get("build").unwrap()), ["context", "target"]);
        assert_eq!(
            keys(web.get("healthcheck").unwrap()),
            ["test", "timeout", "interval", "retries"]
        );
        assert_eq!(keys(web.get("environment").unwrap()), ["B", "a", "b"]);
        let ext = web.get("x-z").unwrap();
        assert_eq!(keys(ext), ["p", "q"]);
        assert_eq!(keys(ext.get("p").unwrap()), ["c", "d"]);
        let network = project.get("networks").unwrap().get("n").unwrap();
        assert_eq!(keys(network), ["name", "ipam", "internal", "labels"]);
    }
}
