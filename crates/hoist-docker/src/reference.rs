//! Image references as docker reads them: which registry an image lives in, its repository path,
//! tag and digest. Pure: used to pick credentials, to split `repo:tag` for the Engine API, and to
//! name the registry in error messages.
//!
//! The rules are those of docker's `distribution/reference` (`splitDockerDomain`): the part
//! before the first `/` is a registry host only when it contains a `.` or a `:`, or is
//! `localhost`; otherwise the image is on Docker Hub (`docker.io`), and a single-component name
//! lives under `library/`. So `localhost:5000/x` and `10.200.0.1:5000/x` name those registries,
//! while `books/ms` is `docker.io/books/ms`.

use std::fmt;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";
/// The key docker uses for Docker Hub in `config.json` and when talking to credential helpers.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host, possibly with a port (`docker.io` when the reference names none).
    pub registry: String,
    /// Repository path inside the registry (`library/nginx`, `hoist-test/app`).
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:...` when the reference pins a digest.
    pub digest: Option<String>,
}

/// A reference docker would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {reference:?}: {why}")]
pub struct ReferenceError {
    pub reference: String,
    pub why: String,
}

impl ImageRef {
    pub fn parse(reference: &str) -> Result<ImageRef, ReferenceError> {
        let bad = |why: &str| ReferenceError {
            reference: reference.to_string(),
            why: why.to_string(),
        };
        if reference.is_empty() {
            return Err(bad("it is empty"));
        }
        let (name_and_tag, digest) = match reference.split_once('@') {
            Some((name, digest)) => {
                let valid = digest.split_once(':').is_some_and(|(algo, hex)| {
                    !algo.is_empty()
                        && !hex.is_empty()
                        && hex.chars().all(|c| c.is_ascii_hexdigit())
                });
                if !valid {
                    return Err(bad("the digest must look like sha256:<hex>"));
                }
                (name, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        // A tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&name_and_tag[..at], Some(&name_and_tag[at + 1..]))
            }
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag
            && !valid_tag(tag)
        {
            return Err(bad(
                "the tag must be 1 to 128 letters, digits, '_', '.' or '-' and not start with '.' or '-'",
            ));
        }
        let (registry, path) = split_domain(name);
        if registry.is_empty() || path.is_empty() {
            return Err(bad("the repository name is empty"));
        }
        for component in path.split('/') {
            if !valid_path_component(component) {
                return Err(bad(if component.chars().any(|c| c.is_ascii_uppercase()) {
                    "repository name must be lowercase"
                } else {
                    "each part of the repository path must be lowercase letters and digits, \
                     separated by '.', '_', '__' or '-'"
                }));
            }
        }
        Ok(ImageRef {
            registry,
            repository: path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Whether the image lives on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// The name without tag or digest, as the user would write it: `nginx` for an official Hub
    /// image, `localhost:5000/hoist-test/app` otherwise. This is what the Engine API's
    /// `fromImage` and `/images/{name}/push` take.
    pub fn name(&self) -> String {
        if self.is_docker_hub() {
            match self.repository.strip_prefix("library/") {
                Some(official) if !official.contains('/') => official.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// The tag, `latest` when none is given (docker's default).
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The key under which docker stores this registry's credentials.
    pub fn auth_key(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_AUTH_KEY
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// The registry host of a reference, by docker's rules (`docker.io` when none is named). A
/// reference that does not parse still gets docker's answer for its first component, so error
/// messages can name a registry.
pub fn registry_host(reference: &str) -> String {
    match ImageRef::parse(reference) {
        Ok(r) => r.registry,
        Err(_) => split_domain(reference.split('@').next().unwrap_or(reference)).0,
    }
}

fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.')
                || first.contains(':')
                || first == "localhost"
                // docker treats an upper-case first component as a host (it cannot be a path).
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let domain = match domain.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => domain,
    };
    let path = if domain == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    (domain, path)
}

fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(reference: &str) -> (String, String, Option<String>) {
        let r = ImageRef::parse(reference).unwrap();
        (r.registry, r.repository, r.tag)
    }

    #[test]
    fn registry_host_follows_docker_rules() {
        assert_eq!(registry_host("nginx"), "docker.io");
        assert_eq!(registry_host("nginx:1.25"), "docker.io");
        assert_eq!(registry_host("vfarcic/books-ms"), "docker.io");
        assert_eq!(registry_host("localhost:5000/x"), "localhost:5000");
        assert_eq!(registry_host("localhost/x"), "localhost");
        assert_eq!(registry_host("10.200.0.1:5000/x"), "10.200.0.1:5000");
        assert_eq!(registry_host("10.200.0.1:5000/a/b:v1"), "10.200.0.1:5000");
        assert_eq!(registry_host("ghcr.io/org/app@sha256:abcd"), "ghcr.io");
        assert_eq!(registry_host("index.docker.io/library/nginx"), "docker.io");
        // A first component without '.', ':' and not localhost is a Hub namespace.
        assert_eq!(registry_host("myregistry/app"), "docker.io");
    }

    #[test]
    fn splits_repository_tag_and_digest() {
        assert_eq!(
            parts("nginx"),
            ("docker.io".into(), "library/nginx".into(), None)
        );
        assert_eq!(
            parts("localhost:5000/hoist-test/app:v1"),
            (
                "localhost:5000".into(),
                "hoist-test/app".into(),
                Some("v1".into())
            )
        );
        let r = ImageRef::parse("10.200.0.1:5000/app@sha256:0123abcd").unwrap();
        assert_eq!(r.digest.as_deref(), Some("sha256:0123abcd"));
        assert_eq!(r.tag, None);
        assert_eq!(r.tag_or_latest(), "latest");
    }

    #[test]
    fn names_are_written_as_the_engine_api_takes_them() {
        assert_eq!(ImageRef::parse("nginx:1").unwrap().name(), "nginx");
        assert_eq!(
            ImageRef::parse("docker.io/library/nginx").unwrap().name(),
            "nginx"
        );
        assert_eq!(ImageRef::parse("a/b").unwrap().name(), "a/b");
        let r = ImageRef::parse("localhost:5000/x:v2").unwrap();
        assert_eq!(r.name(), "localhost:5000/x");
        assert_eq!(r.to_string(), "localhost:5000/x:v2");
    }

    #[test]
    fn auth_keys_match_docker_config() {
        assert_eq!(
            ImageRef::parse("nginx").unwrap().auth_key(),
            DOCKER_HUB_AUTH_KEY
        );
        assert_eq!(
            ImageRef::parse("localhost:5000/x").unwrap().auth_key(),
            "localhost:5000"
        );
    }

    #[test]
    fn rejects_what_docker_rejects() {
        for bad in [
            "",
            "Nginx",
            "localhost:5000/App",
            "a//b",
            "app:",
            "app:-x",
            "app@sha256",
            "app@sha256:xyz",
            "a/-b",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let err = ImageRef::parse("localhost:5000/App").unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
    }
}
