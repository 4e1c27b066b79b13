//! Releases of a whole project on a target: every service's image (reference, id and digest),
//! the resolved project as it was deployed, the commit, who and when, recorded on the target
//! (a record container per release, [`hoist_docker::target_records`]) so every machine sees the
//! same list. Secret values are never recorded: each is replaced by a marker and kept as a
//! fingerprint, and a rollback puts the current value back (saying when it changed since).
//!
//! The decisions are pure ([`pick_rollback`], [`outside_keep`], [`seal`], [`unseal`]); the
//! engine work is in [`record`], [`list`] and the rollback in `release.rs`'s callers.

use std::collections::BTreeMap;

use hoist_core::spec::ProjectSpec;
use hoist_docker::Engine;
use serde::{Deserialize, Serialize};

/// How many releases stay restorable unless a target says `keep:`.
pub const DEFAULT_KEEP: usize = 5;

/// One service's image in a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedImage {
    /// As the project names it (`registry/books-ms:abc123`).
    pub reference: String,
    /// The image id on the target when it was released (`sha256:...`).
    pub id: String,
    /// `repo@sha256:...` when the image came from a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A release of the whole project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectRelease {
    pub id: u64,
    pub commit: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// `user@machine`, or the dashboard's user.
    pub by: String,
    /// `done` or `failed`.
    pub status: String,
    pub images: BTreeMap<String, ReleasedImage>,
    /// The release this one brought back, for a rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
    /// The target's secrets the project was rendered with: name → fingerprint.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// The project as deployed, secret values replaced by markers ([`seal`]).
    pub spec: ProjectSpec,
}

fn marker(name: &str) -> String {
    format!("@@hoist-secret:{name}@@")
}

/// A secret's fingerprint: the start of its SHA-256.
pub fn fingerprint(value: &str) -> String {
    hoist_core::hash::sha256_hex(value.as_bytes())[..16].to_string()
}

/// The JSON text of `value` inside a JSON string (escaped, without the quotes).
fn json_inner(value: &str) -> String {
    let quoted = serde_json::to_string(value).expect("a string serialises");
    quoted[1..quoted.len() - 1].to_string()
}

/// `value` (a release, a project) with every secret value replaced by its marker, wherever it
/// appears: an environment variable, an image tag, a commit taken from a tag. Longer values go
/// first, so a secret that contains another is replaced whole.
pub fn seal<T: Serialize + serde::de::DeserializeOwned>(
    value: &T,
    secrets: &[(String, String)],
) -> T {
    let mut text = serde_json::to_string(value).expect("a release serialises");
    let mut ordered: Vec<&(String, String)> =
        secrets.iter().filter(|(_, v)| !v.is_empty()).collect();
    ordered.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    for (name, value) in &ordered {
        text = text.replace(&json_inner(value), &marker(name));
    }
    serde_json::from_str(&text).expect("markers keep the JSON valid")
}

/// The secrets' fingerprints, by name.
pub fn fingerprints(secrets: &[(String, String)]) -> BTreeMap<String, String> {
    secrets
        .iter()
        .map(|(name, value)| (name.clone(), fingerprint(value)))
        .collect()
}

/// `release` with the current values of the secrets put back. A secret recorded but no longer
/// given is an error naming it; one whose value changed since is a warning.
pub fn unseal(
    release: &ProjectRelease,
    secrets: &[(String, String)],
) -> Result<(ProjectRelease, Vec<String>), String> {
    let mut text = serde_json::to_string(release).expect("a release serialises");
    let mut warnings = Vec::new();
    for (name, recorded) in &release.secrets {
        let mark = marker(name);
        let Some((_, value)) = secrets.iter().find(|(n, _)| n == name) else {
            if text.contains(&mark) {
                return Err(format!(
                    "release {} used the target's secret {name}, which the target no longer gives",
                    release.id
                ));
            }
            continue;
        };
        if &fingerprint(value) != recorded {
            warnings.push(format!(
                "the secret {name} changed since release {}: its current value is used",
                release.id
            ));
        }
        text = text.replace(&mark, &json_inner(value));
    }
    let open = serde_json::from_str(&text).map_err(|e| format!("release {}: {e}", release.id))?;
    Ok((open, warnings))
}

/// The release that serves: the newest that succeeded.
pub fn live(releases: &[ProjectRelease]) -> Option<&ProjectRelease> {
    releases
        .iter()
        .filter(|r| r.status == "done")
        .max_by_key(|r| r.id)
}

/// Releases older than the newest `keep`: no longer restorable, what `hoist prune` removes.
pub fn outside_keep(releases: &[ProjectRelease], keep: usize) -> Vec<&ProjectRelease> {
    let mut ids: Vec<u64> = releases.iter().map(|r| r.id).collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    let kept: Vec<u64> = ids.into_iter().take(keep).collect();
    releases.iter().filter(|r| !kept.contains(&r.id)).collect()
}

/// Which release a rollback brings back: `wanted`, or the one that succeeded before the live
/// one. Refused with the reason when it does not exist, failed, is live, or is no longer kept.
pub fn pick_rollback(
    releases: &[ProjectRelease],
    keep: usize,
    wanted: Option<u64>,
) -> Result<&ProjectRelease, String> {
    let live = live(releases).ok_or("no release of the project succeeded on the target")?;
    let chosen = match wanted {
        Some(id) => releases.iter().find(|r| r.id == id).ok_or_else(|| {
            format!("no release {id} on the target (`hoist releases` lists them)")
        })?,
        None => releases
            .iter()
            .filter(|r| r.status == "done" && r.id < live.id)
            .max_by_key(|r| r.id)
            .ok_or_else(|| {
                format!(
                    "release {} is the first that succeeded: nothing before it",
                    live.id
                )
            })?,
    };
    if outside_keep(releases, keep)
        .iter()
        .any(|r| r.id == chosen.id)
    {
        return Err(format!(
            "release {} is no longer kept (keep: {keep}): only the newest {keep} are restorable",
            chosen.id
        ));
    }
    if chosen.status != "done" {
        return Err(format!("release {} failed: it never served", chosen.id));
    }
    if chosen.id == live.id {
        return Err(format!("release {} is the live one", chosen.id));
    }
    Ok(chosen)
}

/// The services of `spec` and their images as the target has them.
pub async fn images_of(engine: &Engine, spec: &ProjectSpec) -> BTreeMap<String, ReleasedImage> {
    let mut images = BTreeMap::new();
    for service in &spec.services {
        let info = engine.inspect_image(&service.image).await.ok().flatten();
        let repo = service
            .image
            .rsplit_once(':')
            .filter(|(_, tag)| !tag.contains('/'))
            .map_or(service.image.as_str(), |(repo, _)| repo);
        images.insert(
            service.name.clone(),
            ReleasedImage {
                reference: service.image.clone(),
                id: info.as_ref().map(|i| i.id.clone()).unwrap_or_default(),
                digest: info.and_then(|i| {
                    i.repo_digests
                        .into_iter()
                        .find(|d| d.split_once('@').is_some_and(|(r, _)| r == repo))
                }),
            },
        );
    }
    images
}

/// Records `spec`, as it was just deployed with `status`, as release `id` of its project on
/// `engine` (the next one there when `None`): its images as the engine has them, the target's
/// `secrets` sealed. Returns the id.
#[allow(clippy::too_many_arguments)]
pub async fn record_next(
    engine: &Engine,
    spec: &ProjectSpec,
    id: Option<u64>,
    commit: &str,
    status: &str,
    secrets: &[(String, String)],
    by: Option<&str>,
    image_for_record: &str,
) -> Result<u64, hoist_docker::EngineError> {
    let id = match id {
        Some(id) => id,
        None => {
            list(engine, &spec.name)
                .await?
                .iter()
                .map(|r| r.id)
                .max()
                .unwrap_or(0)
                + 1
        }
    };
    let release = ProjectRelease {
        id,
        commit: commit.to_string(),
        at: hoist_docker::target_lock::now_rfc3339(),
        by: by.map(str::to_string).unwrap_or_else(|| {
            format!(
                "{}@{}",
                hoist_docker::target_lock::user_name(),
                hoist_docker::target_lock::machine_name()
            )
        }),
        status: status.to_string(),
        images: images_of(engine, spec).await,
        rollback_of: None,
        secrets: fingerprints(secrets),
        spec: spec.clone(),
    };
    record(engine, &seal(&release, secrets), image_for_record).await?;
    Ok(id)
}

/// Writes `release` on the target.
pub async fn record(
    engine: &Engine,
    release: &ProjectRelease,
    image_for_record: &str,
) -> Result<(), hoist_docker::EngineError> {
    let json = serde_json::to_string(release).expect("a release serialises");
    engine
        .write_project_release(&release.spec.name, release.id, &json, image_for_record)
        .await
}

/// The project's releases on the target, by id; records that cannot be read are left out.
pub async fn list(
    engine: &Engine,
    project: &str,
) -> Result<Vec<ProjectRelease>, hoist_docker::EngineError> {
    Ok(engine
        .project_releases(project)
        .await?
        .into_iter()
        .filter_map(|(id, json)| {
            serde_json::from_str::<ProjectRelease>(&json)
                .ok()
                .filter(|r| r.id == id && r.spec.name == project)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(id: u64, status: &str) -> ProjectRelease {
        ProjectRelease {
            id,
            commit: format!("c{id}"),
            at: String::new(),
            by: String::new(),
            status: status.into(),
            images: BTreeMap::new(),
            rollback_of: None,
            secrets: BTreeMap::new(),
            spec: ProjectSpec {
                name: "books".into(),
                legacy: false,
                compatibility: false,
                working_dir: String::new(),
                config_files: vec![],
                env_files: vec![],
                services: vec![],
                networks: vec![],
                volumes: vec![],
            },
        }
    }

    #[test]
    fn a_rollback_goes_to_the_release_before_the_live_one_or_a_kept_one() {
        let list = vec![
            release(1, "done"),
            release(2, "done"),
            release(3, "failed"),
            release(4, "done"),
        ];
        assert_eq!(pick_rollback(&list, 5, None).unwrap().id, 2, "3 failed");
        assert_eq!(pick_rollback(&list, 5, Some(1)).unwrap().id, 1);
        assert!(
            pick_rollback(&list, 5, Some(3))
                .unwrap_err()
                .contains("failed")
        );
        assert!(
            pick_rollback(&list, 5, Some(4))
                .unwrap_err()
                .contains("live")
        );
        assert!(
            pick_rollback(&list, 5, Some(9))
                .unwrap_err()
                .contains("no release 9")
        );
        let err = pick_rollback(&list, 2, Some(2)).unwrap_err();
        assert!(err.contains("no longer kept (keep: 2)"), "{err}");
        assert_eq!(
            outside_keep(&list, 2)
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(
            pick_rollback(&[release(1, "done")], 5, None)
                .unwrap_err()
                .contains("first")
        );
    }

    #[test]
    fn secret_values_are_sealed_as_markers_and_put_back_with_a_warning_when_changed() {
        let mut r = release(1, "done");
        r.spec.working_dir = "pw=s3cr\"et and s3cr\"et-long".into();
        let secrets = vec![
            ("DB_PASSWORD".to_string(), "s3cr\"et".to_string()),
            ("TOKEN".to_string(), "s3cr\"et-long".to_string()),
        ];
        r.images.insert(
            "app".into(),
            ReleasedImage {
                reference: "books:s3cr\"et".into(),
                id: "sha256:1".into(),
                digest: None,
            },
        );
        r.secrets = fingerprints(&secrets);
        let sealed = seal(&r, &secrets);
        let text = serde_json::to_string(&sealed).unwrap();
        assert!(!text.contains("s3cr"), "{text}");
        assert_eq!(
            sealed.spec.working_dir,
            "pw=@@hoist-secret:DB_PASSWORD@@ and @@hoist-secret:TOKEN@@"
        );
        assert_eq!(
            sealed.images["app"].reference,
            "books:@@hoist-secret:DB_PASSWORD@@"
        );
        let r = sealed;
        let (open, warnings) = unseal(&r, &secrets).unwrap();
        assert_eq!(open.spec.working_dir, "pw=s3cr\"et and s3cr\"et-long");
        assert_eq!(open.images["app"].reference, "books:s3cr\"et");
        assert!(warnings.is_empty());
        let changed = vec![
            ("DB_PASSWORD".to_string(), "new".to_string()),
            ("TOKEN".to_string(), "s3cr\"et-long".to_string()),
        ];
        let (open, warnings) = unseal(&r, &changed).unwrap();
        assert_eq!(open.spec.working_dir, "pw=new and s3cr\"et-long");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let err = unseal(&r, &changed[1..]).unwrap_err();
        assert!(err.contains("DB_PASSWORD"), "{err}");
    }
}
