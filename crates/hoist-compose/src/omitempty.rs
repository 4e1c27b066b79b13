//! The fields Docker Compose leaves out of `config` when they hold their zero value.
//!
//! Compose prints its Go types, whose optional fields are tagged `omitempty`: a `false`, a `0`,
//! an empty string (and a zero size or duration, which are numbers there) is not printed, so
//! `privileged: false` or `cpu_shares: 0` in a file does not show. Fields that are pointers in
//! those types (`init`, `attach`, `scale`, a health check's `retries`, a network's
//! `enable_ipv6`, ...) are printed whenever the file sets them, zero or not. Which is which is
//! listed here per kind of object, from compose-go's types; a key not listed as kept is dropped
//! at zero.

use crate::json::Value as J;

/// A kind of object of the printed model: what it keeps at zero, and which of its text fields
/// are sizes or durations (zero written as `"0"` or `"0s"`).
struct Kind {
    /// Fields printed even at their zero value (pointers in Compose's types).
    keeps: &'static [&'static str],
    /// Size fields, printed as text: `"0"` is their zero.
    sizes: &'static [&'static str],
    /// Duration fields that are values (not pointers) in Compose's types: `"0s"` is their zero.
    durations: &'static [&'static str],
}

const SERVICE: Kind = Kind {
    keeps: &["attach", "init", "scale", "stop_grace_period"],
    sizes: &[
        "mem_limit",
        "mem_reservation",
        "memswap_limit",
        "mem_swappiness",
        "shm_size",
    ],
    durations: &[],
};
const BUILD: Kind = Kind {
    keeps: &[],
    sizes: &["shm_size"],
    durations: &[],
};
const DEPLOY: Kind = Kind {
    keeps: &["replicas"],
    sizes: &[],
    durations: &[],
};
const UPDATE_CONFIG: Kind = Kind {
    keeps: &["parallelism"],
    sizes: &[],
    durations: &["delay", "monitor"],
};
const RESOURCE: Kind = Kind {
    keeps: &[],
    sizes: &["memory"],
    durations: &[],
};
const RESTART_POLICY: Kind = Kind {
    keeps: &["delay", "max_attempts", "window"],
    sizes: &[],
    durations: &[],
};
const PLACEMENT: Kind = Kind {
    keeps: &[],
    sizes: &[],
    durations: &[],
};
const HEALTHCHECK: Kind = Kind {
    keeps: &[
        "timeout",
        "interval",
        "retries",
        "start_period",
        "start_interval",
    ],
    sizes: &[],
    durations: &[],
};
/// Objects all of whose optional fields are plain values: logging, a service's attachment to a
/// network, a port, a mount and its options, blkio, a credential spec, a top-level volume,
/// secret or config.
const PLAIN: Kind = Kind {
    keeps: &[],
    sizes: &[],
    durations: &[],
};
const TMPFS: Kind = Kind {
    keeps: &[],
    sizes: &["size"],
    durations: &[],
};
/// A ulimit in Compose's JSON (its YAML prints `soft` and `hard` whatever they are).
const ULIMIT: Kind = Kind {
    keeps: &[],
    sizes: &[],
    durations: &[],
};
const NETWORK: Kind = Kind {
    keeps: &["enable_ipv4", "enable_ipv6"],
    sizes: &[],
    durations: &[],
};

/// Whether `value` of field `key` of a `kind` object is the zero value Compose leaves out.
fn is_zero(kind: &Kind, key: &str, value: &J) -> bool {
    if kind.keeps.contains(&key) {
        return false;
    }
    match value {
        J::Bool(b) => !b,
        J::Number(n) => n.as_f64() == Some(0.0),
        J::String(s) if s.is_empty() => true,
        J::String(s) if kind.sizes.contains(&key) => s == "0",
        J::String(s) if kind.durations.contains(&key) => s == "0s",
        _ => false,
    }
}

/// Drops the zero fields of `value` (when it is an object) as a `kind` object.
fn prune(value: &mut J, kind: &Kind) {
    if let J::Object(fields) = value {
        fields.retain(|k, v| !is_zero(kind, k, v));
    }
}

/// Applies `f` to each value of the object `value[key]`, or each item of the array.
fn each(value: &mut J, key: &str, mut f: impl FnMut(&mut J)) {
    match value.get_mut(key) {
        Some(J::Object(items)) => items.values_mut().for_each(&mut f),
        Some(J::Array(items)) => items.iter_mut().for_each(&mut f),
        _ => {}
    }
}

/// Prunes `value[key]` as a `kind` object, when present.
fn prune_at(value: &mut J, key: &str, kind: &Kind) {
    if let Some(inner) = value.get_mut(key) {
        prune(inner, kind);
    }
}

fn service(s: &mut J, json: bool) {
    prune(s, &SERVICE);
    if json {
        each(s, "ulimits", |u| prune(u, &ULIMIT));
    } else {
        yaml_only(s);
    }
    prune_at(s, "build", &BUILD);
    if let Some(deploy) = s.get_mut("deploy") {
        prune(deploy, &DEPLOY);
        prune_at(deploy, "update_config", &UPDATE_CONFIG);
        prune_at(deploy, "rollback_config", &UPDATE_CONFIG);
        prune_at(deploy, "restart_policy", &RESTART_POLICY);
        prune_at(deploy, "placement", &PLACEMENT);
        if let Some(resources) = deploy.get_mut("resources") {
            prune_at(resources, "limits", &RESOURCE);
            prune_at(resources, "reservations", &RESOURCE);
        }
    }
    prune_at(s, "healthcheck", &HEALTHCHECK);
    prune_at(s, "logging", &PLAIN);
    prune_at(s, "blkio_config", &PLAIN);
    prune_at(s, "credential_spec", &PLAIN);
    each(s, "networks", |n| prune(n, &PLAIN));
    each(s, "ports", |p| prune(p, &PLAIN));
    each(s, "volumes", |m| {
        prune(m, &PLAIN);
        prune_at(m, "volume", &PLAIN);
        prune_at(m, "bind", &PLAIN);
        prune_at(m, "tmpfs", &TMPFS);
    });
}

/// What Compose's YAML prints differently from its JSON: a struct field whose fields are all
/// empty (`resources`, `placement`, a watch rule's `exec`) is left out, where JSON prints `{}`
/// or `{"command": null}`; the fields of a blkio device entry, which have no names in JSON,
/// are lower-case.
fn yaml_only(s: &mut J) {
    if let Some(J::Object(deploy)) = s.get_mut("deploy") {
        deploy.retain(|k, v| {
            !(matches!(&**k, "resources" | "placement")
                && matches!(v, J::Object(m) if m.is_empty()))
        });
    }
    if let Some(develop) = s.get_mut("develop") {
        each(develop, "watch", |rule| {
            if let J::Object(fields) = rule {
                fields.retain(|k, v| {
                    !(&**k == "exec" && matches!(v, J::Object(m) if m.values().all(J::is_null)))
                });
            }
        });
    }
    if let Some(blkio) = s.get_mut("blkio_config") {
        for list in [
            "weight_device",
            "device_read_bps",
            "device_read_iops",
            "device_write_bps",
            "device_write_iops",
        ] {
            each(blkio, list, |entry| {
                if let J::Object(fields) = entry {
                    *fields = std::mem::take(fields)
                        .into_iter()
                        .map(|(k, v)| (crate::json::Key::from(k.to_ascii_lowercase()), v))
                        .collect();
                }
            });
        }
    }
}

/// The printed project without the zero values Compose leaves out of its JSON (`json`) or of
/// its YAML.
pub fn omit_zero_values(project: &mut J, json: bool) {
    each(project, "services", |s| service(s, json));
    each(project, "networks", |n| prune(n, &NETWORK));
    for key in ["volumes", "secrets", "configs"] {
        each(project, key, |o| prune(o, &PLAIN));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tree(v: serde_json::Value) -> J {
        J::from_serde(v)
    }

    #[test]
    fn zero_values_go_unless_composes_type_keeps_them() {
        let mut project = tree(json!({
            "services": {"web": {
                "image": "nginx", "privileged": false, "cpus": 0.0, "cpu_shares": 0,
                "user": "", "mem_limit": "0", "init": false, "scale": 0, "attach": false,
                "stop_grace_period": "0s", "tty": true, "cpu_count": 2, "command": null,
                "healthcheck": {"test": ["NONE"], "disable": false, "retries": 0, "interval": "0s"},
                "deploy": {"replicas": 0, "update_config": {"parallelism": 0, "delay": "0s"},
                           "restart_policy": {"delay": "0s", "max_attempts": 0},
                           "resources": {"limits": {"cpus": 0.0, "memory": "0", "pids": 0}},
                           "placement": {}},
                "networks": {"front": {"priority": 0, "ipv4_address": ""}, "back": null},
                "volumes": [{"type": "tmpfs", "target": "/t", "read_only": false,
                             "tmpfs": {"size": "0", "mode": 0}}],
                "ports": [{"target": 80, "name": "", "protocol": "tcp"}]
            }},
            "networks": {"front": {"name": "p_front", "internal": false, "enable_ipv6": false}},
            "volumes": {"data": {"name": "p_data", "driver": "", "external": false}}
        }));
        omit_zero_values(&mut project, true);
        assert_eq!(
            project,
            tree(json!({
                "services": {"web": {
                    "image": "nginx", "init": false, "scale": 0, "attach": false,
                    "stop_grace_period": "0s", "tty": true, "cpu_count": 2, "command": null,
                    "healthcheck": {"test": ["NONE"], "retries": 0, "interval": "0s"},
                    "deploy": {"replicas": 0, "update_config": {"parallelism": 0},
                               "restart_policy": {"delay": "0s", "max_attempts": 0},
                               "resources": {"limits": {}},
                               "placement": {}},
                    "networks": {"front": {}, "back": null},
                    "volumes": [{"type": "tmpfs", "target": "/t", "tmpfs": {}}],
                    "ports": [{"target": 80, "protocol": "tcp"}]
                }},
                "networks": {"front": {"name": "p_front", "enable_ipv6": false}},
                "volumes": {"data": {"name": "p_data"}}
            }))
        );
    }

    #[test]
    fn a_zero_looking_text_is_zero_only_where_it_is_a_size_or_duration() {
        let mut project = tree(json!({"services": {"web": {"user": "0", "shm_size": "0",
            "stop_signal": "0s", "working_dir": "0"}}}));
        omit_zero_values(&mut project, true);
        assert_eq!(
            project,
            tree(
                json!({"services": {"web": {"user": "0", "stop_signal": "0s", "working_dir": "0"}}})
            )
        );
    }
}
