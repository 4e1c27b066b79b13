//! Typed errors of the engine adapter. Each variant carries what its message needs to name the
//! engine and the likely fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("invalid engine address {address:?}: {why}")]
    BadAddress { address: String, why: String },

    #[error(
        "refusing plain-TCP connection to {address}: {why}, and whoever can reach that port owns \
         the host (the Docker API has no authentication without TLS). Use TLS instead \
         (--tlsverify with --tlscacert/--tlscert/--tlskey, or DOCKER_TLS_VERIFY=1 and \
         DOCKER_CERT_PATH), or, for a host on a network you control, trust it yourself with \
         --trust-insecure-host {host} (HOIST_TRUST_INSECURE_HOST={host}); a setting in a \
         file such as hoist.yml's trust_insecure does not count"
    )]
    InsecureRemote {
        address: String,
        host: String,
        /// What the host resolved to, and that it is not loopback.
        why: String,
    },

    #[error("cannot resolve {host} (engine address {address}): {cause}")]
    Unresolvable {
        address: String,
        host: String,
        cause: String,
    },

    #[error("TLS file {} does not exist (expected ca.pem, cert.pem and key.pem, as in DOCKER_CERT_PATH)", path.display())]
    MissingTlsFile { path: PathBuf },

    #[error(
        "cannot reach the Docker engine at {address}: {cause}. Is the engine running and \
         listening there? (-H, --context or DOCKER_HOST selects the engine)"
    )]
    Unreachable { address: String, cause: String },

    #[error("cannot reach the Docker engine at {address}: {why}")]
    Ssh { address: String, why: String },
}

/// An engine call that failed, with the operation that was attempted; or a failure hoist
/// detected itself while talking to the engine (an unhealthy container, a timeout).
#[derive(Debug)]
pub struct EngineError {
    pub operation: String,
    pub source: Option<bollard::errors::Error>,
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            // The engine's own message, without bollard's wrapping.
            Some(source) => match engine_message(source) {
                Some(message) => write!(f, "{}: {message}", self.operation),
                None => write!(f, "{}: {source}", self.operation),
            },
            None => f.write_str(&self.operation),
        }
    }
}

impl std::error::Error for EngineError {}

impl EngineError {
    pub fn new(operation: impl Into<String>, source: bollard::errors::Error) -> Self {
        EngineError {
            operation: operation.into(),
            source: Some(source),
        }
    }

    /// A failure with no engine error behind it.
    pub fn message(text: impl Into<String>) -> Self {
        EngineError {
            operation: text.into(),
            source: None,
        }
    }

    /// HTTP status the engine answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match &self.source {
            Some(bollard::errors::Error::DockerResponseServerError { status_code, .. }) => {
                Some(*status_code)
            }
            _ => None,
        }
    }
}

/// The failure message inside a bollard error, when the engine or the registry sent one.
pub(crate) fn engine_message(err: &bollard::errors::Error) -> Option<String> {
    use bollard::errors::Error;
    match err {
        Error::DockerResponseServerError { message, .. } => Some(message.clone()),
        Error::DockerStreamError { error } => Some(error.clone()),
        Error::HyperLegacyError { .. }
        | Error::IOError { .. }
        | Error::HyperResponseError { .. } => Some(format!(
            "the connection to the engine failed ({})",
            root_cause(err)
        )),
        _ => None,
    }
}

/// The innermost cause of an error (`connection refused`, `connection reset by peer`), which is
/// what a person can act on; the layers above it name the HTTP client's internals.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// HTTP 409 from the engine: the object is in use.
pub(crate) fn is_conflict(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// HTTP 404 from the engine.
pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A container removal that failed because the container is gone (404) or the engine is
/// already removing it (409, e.g. an auto-removed one-off that just stopped): either way it is
/// going away, which is what Compose's `down` counts as removed.
pub(crate) fn removal_under_way(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        }
    )
}

/// What kind of JSON error happened and where, without serde_json's own message: that text
/// quotes the input (`invalid type: string "hunter2", expected ...`), and the input hoist parses
/// with it (a Docker config file, a credential helper's answer) holds secrets.
pub(crate) fn json_error_without_input(err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Syntax => "a syntax error",
        Category::Data => "a value of the wrong type or shape",
        Category::Eof => "an unexpected end",
        Category::Io => "a read error",
    };
    format!("{what} at line {}, column {}", err.line(), err.column())
}

#[cfg(test)]
mod removal_tests {
    use super::removal_under_way;

    fn status(code: u16) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: code,
            message: "x".into(),
        }
    }

    #[test]
    fn a_gone_or_already_removing_container_counts_as_removed() {
        assert!(removal_under_way(&status(404)));
        assert!(removal_under_way(&status(409)));
        assert!(!removal_under_way(&status(500)));
        assert!(!removal_under_way(&status(400)));
    }
}
