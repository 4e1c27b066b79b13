//! The configuration hash stored in `com.docker.compose.config-hash`: a digest of everything that
//! goes into creating a service's container, so `up` recreates a container exactly when its
//! configuration changed.

use sha2::{Digest, Sha256};

use crate::spec::ServiceSpec;

/// Hex SHA-256 of the canonical JSON of the service's container spec, networks and links.
/// Replica count, build settings and pull policy are left out: changing them does not change a
/// running container.
pub fn config_hash(service: &ServiceSpec) -> String {
    let input = serde_json::json!({
        "container": service.container,
        "networks": service.networks,
        "links": service.links,
    });
    let digest = Sha256::digest(input.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of the canonical JSON of a network's or volume's spec, stored on the resource as
/// Compose does, so that a changed definition can be told from the one the resource was made with.
pub fn resource_hash<T: serde::Serialize>(spec: &T) -> String {
    let input = serde_json::to_string(spec).unwrap_or_default();
    let digest = Sha256::digest(input.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
