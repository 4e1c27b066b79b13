//! The one check every caller-supplied name goes through before bollard formats it into an
//! Engine API URL path. bollard puts a container id into `/containers/{id}/start` as it is, so
//! `x/../../commit?container=NAME&repo=X#` would reach `POST /commit`, and `../volumes/V` would
//! delete a volume. Each adapter entry point that takes a name passes it through [`object`] or
//! [`image`] first; what they let through has no `/` (objects), no `..` segment (images), and
//! no `?`, `#`, `%` or whitespace, so it addresses exactly the object it names.

use crate::error::EngineError;
use crate::reference::ImageRef;

/// Longest name accepted. Docker sets no limit of its own; names longer than this are not
/// something hoist or compose creates.
pub const MAX_NAME: usize = 255;

/// What kind of object a name refers to, for the error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Network,
    Volume,
    Exec,
    Service,
    Secret,
    Config,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Network => "network",
            Kind::Volume => "volume",
            Kind::Exec => "exec",
            Kind::Service => "service",
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }
}

/// A name or id that cannot address an engine object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} name {value:?} is not a valid name or id ({why})")]
pub struct BadName {
    pub kind: &'static str,
    pub value: String,
    pub why: &'static str,
}

impl From<BadName> for EngineError {
    fn from(e: BadName) -> EngineError {
        EngineError::message(e.to_string())
    }
}

/// Whether `value` follows Docker's object name grammar, `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, which
/// also covers hex ids and their prefixes.
pub fn is_object_name(value: &str) -> bool {
    let mut chars = value.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && value.len() <= MAX_NAME
}

/// `value` when it is a container, network, volume or exec name or id that may go into a URL
/// path.
pub fn object(kind: Kind, value: &str) -> Result<&str, BadName> {
    if is_object_name(value) {
        return Ok(value);
    }
    Err(BadName {
        kind: kind.as_str(),
        value: value.chars().take(80).collect(),
        why: if value.is_empty() {
            "it is empty"
        } else if value.len() > MAX_NAME {
            "it is too long"
        } else {
            "only letters, digits, '_', '.' and '-' are allowed, starting with a letter or digit"
        },
    })
}

/// `value` when it is a container name or id for a URL path.
pub fn container(value: &str) -> Result<&str, BadName> {
    object(Kind::Container, value)
}

/// `value` when it is an image reference (docker's reference grammar: `[registry/]path[:tag]`
/// `[@digest]`) or an image id (`sha256:<hex>`, or a bare hex id) that may go into a URL path.
/// The reference grammar leaves no room for `..`, `?`, `#` or `%`.
pub fn image(value: &str) -> Result<&str, BadName> {
    let bad = |why| BadName {
        kind: "image",
        value: value.chars().take(80).collect(),
        why,
    };
    if value.len() > 4 * MAX_NAME {
        return Err(bad("it is too long"));
    }
    if let Some(hex) = value.strip_prefix("sha256:") {
        return if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(value)
        } else {
            Err(bad("an image id is sha256: and hex digits"))
        };
    }
    // The registry part (`host[:port]`) is not checked by the reference parser: forbid what a
    // URL would read as structure, and path traversal.
    let structural = value
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "_.-/:@".contains(c)));
    if structural || value.split('/').any(|part| part == ".." || part == ".") {
        return Err(bad(
            "only letters, digits and '_', '.', '-', '/', ':', '@' are allowed, without '.' or \
             '..' path parts",
        ));
    }
    match ImageRef::parse(value) {
        Ok(_) => Ok(value),
        Err(_) => Err(bad("it is not an image reference")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INJECTIONS: &[&str] = &[
        "",
        "x/../../commit?container=NAME&repo=X#",
        "../volumes/V",
        "..",
        ".hidden",
        "-flag",
        "a/b",
        "a?b=1",
        "a#frag",
        "a%2Fb",
        "a%252Fb",
        "a b",
        "a\nb",
        "a\\b",
        "né",
    ];

    #[test]
    fn object_names_follow_dockers_grammar() {
        for ok in [
            "web",
            "books-ms_app.blue-1",
            "0123456789ab",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "A1",
        ] {
            assert_eq!(container(ok), Ok(ok));
            assert!(object(Kind::Volume, ok).is_ok());
        }
        for bad in INJECTIONS {
            let err = container(bad).expect_err(bad);
            assert_eq!(err.kind, "container");
        }
        assert!(container(&"a".repeat(MAX_NAME)).is_ok());
        assert!(container(&"a".repeat(MAX_NAME + 1)).is_err());
        let e = object(Kind::Volume, "../volumes/V").unwrap_err();
        assert!(
            e.to_string().contains("volume name \"../volumes/V\""),
            "{e}"
        );
    }

    #[test]
    fn image_references_follow_the_reference_grammar() {
        for ok in [
            "nginx",
            "nginx:1.27-alpine",
            "localhost:5000/hoist-test/app:v1",
            "10.200.0.1:5000/books-ms",
            "debian@sha256:0123abcd",
            "sha256:0123456789abcdef",
        ] {
            assert_eq!(image(ok), Ok(ok), "{ok}");
        }
        // `a/b` is a repository path, so an image reference; everything else is rejected.
        assert_eq!(image("a/b"), Ok("a/b"));
        for bad in INJECTIONS.iter().filter(|b| **b != "a/b").chain(&[
            "localhost:5000/../../containers/x",
            "a/./b",
            "nginx:latest?force=1",
            "Upper/Case",
            "sha256:xyz",
            "a//b",
        ]) {
            assert!(image(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
