//! What each colour of a service last released, kept on the target: one record per colour, a
//! container named `hoist-release.PROJECT.SERVICE.COLOUR` that is created and never started,
//! its labels the record (image, outcome, when, by whom). Every machine that deploys there reads
//! the same records, so a deploy that failed is seen as failed from anywhere (the rollback
//! safety check, `hoist releases`, the dashboard). Records are written by a deploy that holds
//! the target's deploy lock ([`crate::target_lock`]), so writers never race.

use std::collections::HashMap;

use bollard::query_parameters::ListContainersOptionsBuilder;
use serde_json::json;

use crate::connect::Engine;
use crate::error::EngineError;
use crate::target_lock::{machine_name, now_rfc3339, user_name};

const LABEL: &str = "io.hoist.release";
const PREFIX: &str = "io.hoist.release.";

/// A colour's last release, as recorded on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRecord {
    pub color: String,
    pub image: String,
    /// `done` or `failed`.
    pub status: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// `user@machine`.
    pub by: String,
}

/// The record container's name.
pub fn record_name(project: &str, service: &str, color: &str) -> String {
    format!("hoist-release.{project}.{service}.{color}")
}

fn clean(value: Option<&String>) -> String {
    value
        .map(|v| v.chars().filter(|c| !c.is_control()).take(500).collect())
        .unwrap_or_default()
}

/// A record from a container's labels; None when they are not a release record's.
pub fn from_labels(labels: &HashMap<String, String>) -> Option<TargetRecord> {
    labels.get(LABEL)?;
    let get = |k: &str| clean(labels.get(&format!("{PREFIX}{k}")));
    let record = TargetRecord {
        color: get("color"),
        image: get("image"),
        status: get("status"),
        at: get("at"),
        by: get("by"),
    };
    (matches!(record.color.as_str(), "blue" | "green")
        && matches!(record.status.as_str(), "done" | "failed"))
    .then_some(record)
}

impl Engine {
    /// Every container, running or not, of hoist's state kept on this engine for `service` of
    /// `project` under the label prefix `prefix` (`io.hoist.release.`, `io.hoist.journal.`).
    pub(crate) async fn state_containers(
        &self,
        prefix: &str,
        project: &str,
        service: &str,
        operation: &str,
    ) -> Result<Vec<bollard::models::ContainerSummary>, EngineError> {
        let filters: HashMap<String, Vec<String>> = [(
            "label".to_string(),
            vec![
                format!("{prefix}project={project}"),
                format!("{prefix}service={service}"),
            ],
        )]
        .into();
        self.client()
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| EngineError::new(operation, e))
    }

    /// Writes a record container `name` (never started, no network, no log) whose labels are
    /// the record, replacing the one of that name.
    async fn write_record_container(
        &self,
        name: &str,
        labels: HashMap<String, String>,
        image_for_record: &str,
    ) -> Result<(), EngineError> {
        self.remove_container_for_down(name, false).await?;
        let body = json!({
            "Image": image_for_record,
            "Cmd": ["true"],
            "Entrypoint": [],
            "Labels": labels,
            "HostConfig": {"NetworkMode": "none", "LogConfig": {"Type": "none"}},
        });
        self.create_container_raw(name, &body, &format!("writing the release record {name}"))
            .await
            .map(|_| ())
    }

    /// Records on the target that `color` of `service` last released `image` with `status`
    /// (replacing that colour's previous record). The caller holds the target's deploy lock.
    /// `image_for_record` is any image present there (the record is never started).
    pub async fn write_release_record(
        &self,
        project: &str,
        service: &str,
        color: &str,
        image: &str,
        status: &str,
        image_for_record: &str,
    ) -> Result<(), EngineError> {
        let name = record_name(project, service, color);
        crate::ids::image(image_for_record)?;
        let mut labels = HashMap::new();
        labels.insert(LABEL.to_string(), "1".to_string());
        for (k, v) in [
            ("project", project.to_string()),
            ("service", service.to_string()),
            ("color", color.to_string()),
            ("image", image.to_string()),
            ("status", status.to_string()),
            ("at", now_rfc3339()),
            ("by", format!("{}@{}", user_name(), machine_name())),
        ] {
            labels.insert(format!("{PREFIX}{k}"), v);
        }
        self.write_record_container(&name, labels, image_for_record)
            .await
    }

    /// The records of `service` of `project` on this engine, one per colour at most.
    pub async fn release_records(
        &self,
        project: &str,
        service: &str,
    ) -> Result<Vec<TargetRecord>, EngineError> {
        let list = self
            .state_containers(PREFIX, project, service, "listing the release records")
            .await?;
        Ok(list
            .iter()
            .filter_map(|c| from_labels(c.labels.as_ref()?))
            .collect())
    }
}

/// Label of a whole-project release record (`hoist-project-release.PROJECT.ID`): the record
/// itself is the JSON in `io.hoist.project-release.record`.
const PROJECT_LABEL: &str = "io.hoist.project-release";

/// A project release record's container name.
pub fn project_record_name(project: &str, id: u64) -> String {
    format!("hoist-project-release.{project}.{id:06}")
}

impl Engine {
    /// Writes release `id` of `project` (its JSON `record`) on this engine. The caller holds the
    /// target's deploy lock. `image_for_record` is any image present there (never started).
    pub async fn write_project_release(
        &self,
        project: &str,
        id: u64,
        record: &str,
        image_for_record: &str,
    ) -> Result<(), EngineError> {
        let name = project_record_name(project, id);
        crate::ids::image(image_for_record)?;
        let labels: HashMap<String, String> = [
            (PROJECT_LABEL.to_string(), "1".to_string()),
            (format!("{PROJECT_LABEL}.project"), project.to_string()),
            (format!("{PROJECT_LABEL}.id"), id.to_string()),
            (format!("{PROJECT_LABEL}.record"), record.to_string()),
        ]
        .into();
        self.write_record_container(&name, labels, image_for_record)
            .await
    }

    /// Every release record of `project` on this engine: (id, the record's JSON), by id.
    pub async fn project_releases(&self, project: &str) -> Result<Vec<(u64, String)>, EngineError> {
        let filters: HashMap<String, Vec<String>> = [(
            "label".to_string(),
            vec![format!("{PROJECT_LABEL}.project={project}")],
        )]
        .into();
        let list = self
            .client()
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| EngineError::new("listing the project's releases", e))?;
        let mut out: Vec<(u64, String)> = list
            .iter()
            .filter_map(|c| {
                let labels = c.labels.as_ref()?;
                labels.get(PROJECT_LABEL)?;
                let id = labels.get(&format!("{PROJECT_LABEL}.id"))?.parse().ok()?;
                Some((id, labels.get(&format!("{PROJECT_LABEL}.record"))?.clone()))
            })
            .collect();
        out.sort_by_key(|(id, _)| *id);
        Ok(out)
    }

    /// Removes release `id`'s record.
    pub async fn remove_project_release(&self, project: &str, id: u64) -> Result<(), EngineError> {
        self.remove_container_for_down(&project_record_name(project, id), false)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_only_from_their_own_labels() {
        let mut labels: HashMap<String, String> = [
            (LABEL, "1"),
            ("io.hoist.release.color", "green"),
            ("io.hoist.release.image", "books-ms:v2"),
            ("io.hoist.release.status", "failed"),
            ("io.hoist.release.at", "2026-12-06T21:00:00Z"),
            ("io.hoist.release.by", "ci@runner\u{1b}[2J"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let record = from_labels(&labels).unwrap();
        assert_eq!(record.color, "green");
        assert_eq!(record.status, "failed");
        assert_eq!(record.by, "ci@runner[2J");
        labels.insert("io.hoist.release.color".into(), "red".into());
        assert_eq!(from_labels(&labels), None);
        labels.remove(LABEL);
        assert_eq!(from_labels(&labels), None);
        assert_eq!(
            record_name("books", "app", "blue"),
            "hoist-release.books.app.blue"
        );
    }
}
