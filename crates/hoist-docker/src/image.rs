//! Images on an engine: pull and push with per-layer progress, tag, and inspect.
//!
//! Registry failures reach the Engine API as free text (an HTTP error before the stream starts,
//! or an `errorDetail` inside it). [`classify_registry_error`] turns that text into a typed
//! error that names the image and the registry and says what usually fixes it; it is pure so the
//! wording docker uses can be tested without a registry.

use futures_util::StreamExt;
use serde::Serialize;

use crate::auth::RegistryAuth;
use crate::error::{engine_message, is_conflict, is_not_found};
use crate::reference::{ImageRef, ReferenceError};
use crate::{Engine, EngineError};

/// What `remove_image` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRemoval {
    Removed,
    /// A container still uses it.
    InUse,
    /// The engine does not have it.
    Missing,
}

/// One progress message of a pull or push, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerProgress {
    /// Short layer id the message is about; `None` for messages about the whole image (and for
    /// every push message: the client library drops the layer id of push progress).
    pub layer: Option<String>,
    /// `Downloading`, `Pull complete`, `Pushing`, `Layer already exists`, `Digest: ...`, ...
    pub status: String,
    /// Bytes done and expected, while a transfer is under way.
    pub current: Option<u64>,
    pub total: Option<u64>,
}

/// What an engine knows about a local image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// `sha256:...`
    pub id: String,
    pub repo_tags: Vec<String>,
    /// `registry/repo@sha256:...` for each registry the image was pushed to or pulled from.
    pub repo_digests: Vec<String>,
    /// Bytes.
    pub size: u64,
    /// RFC 3339 creation time, as the engine reports it.
    pub created: String,
    /// When the image was last tagged on this engine (RFC 3339); empty when it never was.
    pub last_tag_time: String,
    /// `os/architecture[/variant]`, as docker formats a platform.
    pub platform: String,
}

/// The result of a pull or push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transferred {
    /// The reference, with the tag made explicit (`localhost:5000/app:latest`).
    pub reference: String,
    /// The manifest digest the registry reported, when it did.
    pub digest: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    InvalidReference(#[from] ReferenceError),

    #[error(
        "image {image} was not found in registry {registry}: check the name and tag, push the \
         image first, or log in if the repository is private (`docker login {registry}`)"
    )]
    NotFound { image: String, registry: String },

    #[error(
        "registry {registry} refused access to {image}: {message}. Log in with `docker login \
         {registry}` (hoist reads the credentials from the Docker config file)"
    )]
    AccessDenied {
        image: String,
        registry: String,
        message: String,
    },

    #[error("the engine at {engine} cannot reach registry {registry} for {image}: {message}{hint}")]
    RegistryUnreachable {
        image: String,
        registry: String,
        engine: String,
        message: String,
        hint: String,
    },

    #[error(
        "image {image} does not exist on the engine at {engine}: build, pull or tag it there first"
    )]
    NotLocal { image: String, engine: String },

    #[error("{operation} {image} (registry {registry}) failed: {message}")]
    Failed {
        operation: &'static str,
        image: String,
        registry: String,
        message: String,
    },

    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Pull or push, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Pull,
    Push,
}

impl Transfer {
    fn verb(self) -> &'static str {
        match self {
            Transfer::Pull => "pulling",
            Transfer::Push => "pushing",
        }
    }
}

/// Maps a registry failure message to a typed error naming `image` and its registry.
pub fn classify_registry_error(
    transfer: Transfer,
    image: &ImageRef,
    engine: &str,
    message: &str,
) -> ImageError {
    let lower = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    let image_name = image.to_string();
    let registry = image.registry.clone();
    if has(&["does not exist locally", "no such image"]) {
        return ImageError::NotLocal {
            image: image_name,
            engine: engine.to_string(),
        };
    }
    if has(&[
        "dial tcp",
        "connection refused",
        "no such host",
        "i/o timeout",
        "timeout exceeded",
        "http response to https client",
        "tls:",
        "x509",
        "no route to host",
        "network is unreachable",
    ]) {
        let hint = if has(&["http response to https client"]) {
            format!(
                ". The registry speaks plain HTTP: list {registry} in the engine's \
                 insecure-registries (daemon.json), as the book does with --insecure-registry"
            )
        } else {
            format!(
                ". Is the registry running, and is {registry} its address as seen from that engine?"
            )
        };
        return ImageError::RegistryUnreachable {
            image: image_name,
            registry,
            engine: engine.to_string(),
            message: message.trim().to_string(),
            hint,
        };
    }
    // Checked before "denied": Docker Hub answers a missing repository with "pull access
    // denied ..., repository does not exist or may require 'docker login'".
    if transfer == Transfer::Pull
        && has(&[
            "manifest unknown",
            "not found",
            "repository does not exist",
            "name unknown",
        ])
    {
        return ImageError::NotFound {
            image: image_name,
            registry,
        };
    }
    if has(&[
        "unauthorized",
        "authentication required",
        "denied",
        "no basic auth credentials",
        "forbidden",
        "incorrect username or password",
    ]) {
        return ImageError::AccessDenied {
            image: image_name,
            registry,
            message: message.trim().to_string(),
        };
    }
    ImageError::Failed {
        operation: transfer.verb(),
        image: image_name,
        registry,
        message: message.trim().to_string(),
    }
}

fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

/// `Digest: sha256:...` (pull) or `v1: digest: sha256:... size: 528` (push).
fn digest_in(status: &str) -> Option<String> {
    let lower = status.to_ascii_lowercase();
    let at = lower.find("digest: ")?;
    status[at + "digest: ".len()..]
        .split_whitespace()
        .next()
        .filter(|d| d.contains(':'))
        .map(str::to_string)
}

impl Engine {
    /// Pulls `reference` onto this engine, reporting each progress message to `on_progress`.
    pub async fn pull(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        mut on_progress: impl FnMut(LayerProgress) + Send,
    ) -> Result<Transferred, ImageError> {
        let image = ImageRef::parse(reference)?;
        let tag_or_digest = image
            .digest
            .clone()
            .unwrap_or_else(|| image.tag_or_latest().to_string());
        let options = bollard::query_parameters::CreateImageOptionsBuilder::default()
            .from_image(&image.name())
            .tag(&tag_or_digest)
            .build();
        let credentials = self.credentials_for_request(auth)?;
        let mut stream = self.client().create_image(Some(options), None, credentials);
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| self.transfer_error(Transfer::Pull, &image, e))?;
            let status = info.status.unwrap_or_default();
            if digest.is_none() {
                digest = digest_in(&status);
            }
            let detail = info.progress_detail.unwrap_or_default();
            on_progress(LayerProgress {
                layer: info.id.filter(|id| !id.is_empty()),
                status,
                current: to_u64(detail.current),
                total: to_u64(detail.total),
            });
        }
        Ok(Transferred {
            reference: explicit_reference(&image),
            digest,
        })
    }

    /// Pushes a local image to its registry. An error the registry reports in the middle of the
    /// progress stream fails the push (the engine answers 200 and reports it in the stream).
    pub async fn push(
        &self,
        reference: &str,
        auth: Option<&RegistryAuth>,
        mut on_progress: impl FnMut(LayerProgress) + Send,
    ) -> Result<Transferred, ImageError> {
        crate::ids::image(reference).map_err(EngineError::from)?;
        let image = ImageRef::parse(reference)?;
        let options = bollard::query_parameters::PushImageOptionsBuilder::default()
            .tag(image.tag_or_latest())
            .build();
        let credentials = self.credentials_for_request(auth)?;
        let mut stream = self
            .client()
            .push_image(&image.name(), Some(options), credentials);
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| self.transfer_error(Transfer::Push, &image, e))?;
            if let Some(detail) = info.error_detail {
                let message = detail.message.unwrap_or_else(|| "unknown error".into());
                return Err(classify_registry_error(
                    Transfer::Push,
                    &image,
                    &self.address().to_string(),
                    &message,
                ));
            }
            let status = info.status.unwrap_or_default();
            if digest.is_none() {
                digest = digest_in(&status);
            }
            let detail = info.progress_detail.unwrap_or_default();
            on_progress(LayerProgress {
                layer: None,
                status,
                current: to_u64(detail.current),
                total: to_u64(detail.total),
            });
        }
        Ok(Transferred {
            reference: explicit_reference(&image),
            digest,
        })
    }

    /// Tags a local image (`source`: a reference or id) as `target`.
    pub async fn tag(&self, source: &str, target: &str) -> Result<(), ImageError> {
        let source = crate::ids::image(source).map_err(EngineError::from)?;
        let target_ref = ImageRef::parse(target)?;
        let options = bollard::query_parameters::TagImageOptionsBuilder::default()
            .repo(&target_ref.name())
            .tag(target_ref.tag_or_latest())
            .build();
        self.client()
            .tag_image(source, Some(options))
            .await
            .map_err(|e| {
                if is_not_found(&e) {
                    ImageError::NotLocal {
                        image: source.to_string(),
                        engine: self.address().to_string(),
                    }
                } else {
                    EngineError::new(format!("tagging {source} as {target}"), e).into()
                }
            })
    }

    /// Inspects a local image; `None` when the engine does not have it.
    pub async fn inspect_image(&self, reference: &str) -> Result<Option<ImageInfo>, ImageError> {
        let reference = crate::ids::image(reference).map_err(EngineError::from)?;
        match self.client().inspect_image(reference).await {
            Ok(i) => Ok(Some(ImageInfo {
                id: i.id.unwrap_or_default(),
                repo_tags: i.repo_tags.unwrap_or_default(),
                repo_digests: i.repo_digests.unwrap_or_default(),
                size: to_u64(i.size).unwrap_or(0),
                created: i.created.map(|c| c.to_string()).unwrap_or_default(),
                last_tag_time: i
                    .metadata
                    .and_then(|m| m.last_tag_time)
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                platform: [i.os, i.architecture, i.variant]
                    .into_iter()
                    .flatten()
                    .filter(|p| !p.is_empty())
                    .collect::<Vec<_>>()
                    .join("/"),
            })),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(EngineError::new(format!("inspecting image {reference}"), e).into()),
        }
    }

    /// Removes a local image (`down --rmi`), as Compose does: an image still used by a
    /// container or already gone is reported, not an error.
    pub async fn remove_image(&self, reference: &str) -> Result<ImageRemoval, ImageError> {
        let reference = crate::ids::image(reference).map_err(EngineError::from)?;
        let removal = self
            .client()
            .remove_image(
                reference,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
        match removal {
            Ok(_) => Ok(ImageRemoval::Removed),
            Err(e) if is_not_found(&e) => Ok(ImageRemoval::Missing),
            Err(e) if is_conflict(&e) => Ok(ImageRemoval::InUse),
            Err(e) => Err(EngineError::new(format!("removing image {reference}"), e).into()),
        }
    }

    /// Whether the engine has `reference` locally.
    pub async fn image_exists(&self, reference: &str) -> Result<bool, ImageError> {
        Ok(self.inspect_image(reference).await?.is_some())
    }

    fn transfer_error(
        &self,
        transfer: Transfer,
        image: &ImageRef,
        err: bollard::errors::Error,
    ) -> ImageError {
        match engine_message(&err) {
            Some(message) => {
                classify_registry_error(transfer, image, &self.address().to_string(), &message)
            }
            None => EngineError::new(format!("{} {image}", transfer.verb()), err).into(),
        }
    }
}

fn explicit_reference(image: &ImageRef) -> String {
    match &image.digest {
        Some(digest) => format!("{}@{digest}", image.name()),
        None => format!("{}:{}", image.name(), image.tag_or_latest()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(transfer: Transfer, image: &str, message: &str) -> ImageError {
        classify_registry_error(
            transfer,
            &ImageRef::parse(image).unwrap(),
            "tcp://10.200.0.2:2375",
            message,
        )
    }

    #[test]
    fn a_missing_image_names_image_and_registry() {
        let err = classify(
            Transfer::Pull,
            "10.200.0.1:5000/app:v1",
            "manifest for 10.200.0.1:5000/app:v1 not found: manifest unknown: manifest unknown",
        );
        assert!(
            matches!(&err, ImageError::NotFound { registry, .. } if registry == "10.200.0.1:5000")
        );
        let msg = err.to_string();
        assert!(
            msg.contains("image 10.200.0.1:5000/app:v1 was not found in registry 10.200.0.1:5000"),
            "{msg}"
        );
        let hub = classify(
            Transfer::Pull,
            "nosuch/thing",
            "pull access denied for nosuch/thing, repository does not exist or may require 'docker login'",
        );
        assert!(
            matches!(&hub, ImageError::NotFound { registry, .. } if registry == "docker.io"),
            "{hub}"
        );
    }

    #[test]
    fn unreachable_registries_say_from_where_and_why() {
        let err = classify(
            Transfer::Pull,
            "localhost:5999/x",
            "Get \"http://localhost:5999/v2/\": dial tcp 127.0.0.1:5999: connect: connection refused",
        );
        let msg = err.to_string();
        assert!(
            msg.contains("cannot reach registry localhost:5999"),
            "{msg}"
        );
        assert!(msg.contains("tcp://10.200.0.2:2375"), "{msg}");
        let http = classify(
            Transfer::Push,
            "10.200.0.1:5000/x",
            "Get \"https://10.200.0.1:5000/v2/\": http: server gave HTTP response to HTTPS client",
        );
        assert!(http.to_string().contains("insecure-registries"), "{http}");
    }

    #[test]
    fn access_denied_and_missing_local_images_are_told_apart() {
        let denied = classify(
            Transfer::Push,
            "localhost:5000/x",
            "unauthorized: authentication required",
        );
        assert!(matches!(denied, ImageError::AccessDenied { .. }));
        assert!(denied.to_string().contains("docker login localhost:5000"));
        let local = classify(
            Transfer::Push,
            "localhost:5000/none",
            "An image does not exist locally with the tag: localhost:5000/none",
        );
        assert!(matches!(local, ImageError::NotLocal { .. }), "{local}");
        let other = classify(Transfer::Push, "localhost:5000/x", "blob upload invalid");
        assert!(
            other.to_string().contains("pushing localhost:5000/x"),
            "{other}"
        );
    }

    #[test]
    fn digests_are_read_from_pull_and_push_statuses() {
        assert_eq!(
            digest_in("Digest: sha256:abc123").as_deref(),
            Some("sha256:abc123")
        );
        assert_eq!(
            digest_in("v1: digest: sha256:def456 size: 528").as_deref(),
            Some("sha256:def456")
        );
        assert_eq!(digest_in("Pull complete"), None);
    }
}
