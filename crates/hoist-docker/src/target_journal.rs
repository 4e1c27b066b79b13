//! The journal of a service's deploys, kept on the target: what ran there (pipeline runs,
//! deploys, rollbacks, the dashboard's actions), by whom, when and with what outcome. Each entry
//! is a container created and never started, named
//! `hoist-journal.PROJECT.SERVICE.<milliseconds>-<pid>-<n>`, its labels the entry. Every machine
//! that deploys there reads the same journal (`hoist pipeline history --target`).
//!
//! Concurrent writers are safe by construction: an entry is one create of a name no other writer
//! uses (the time, the writer's pid and a counter), never a read-modify-write; when two names
//! collide anyway the engine refuses the second create and the writer tries the next counter.
//! The journal keeps the newest [`KEEP`] entries: each writer removes older ones after writing,
//! and a removal that finds the entry already gone is not an error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use crate::connect::Engine;
use crate::error::{EngineError, is_conflict};
use crate::target_lock::{machine_name, now_rfc3339, user_name};

const LABEL: &str = "io.hoist.journal";
const PREFIX: &str = "io.hoist.journal.";

/// How many entries a service's journal keeps on a target.
pub const KEEP: usize = 200;

/// One entry of the journal.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct JournalEntry {
    /// `pipeline`, `deploy`, `rollback`.
    pub kind: String,
    /// The place as its writer named it (a `hoist.yml` target, or an engine address).
    pub target: String,
    /// `done`, `failed` or `interrupted`.
    pub status: String,
    /// When it started, RFC 3339 UTC.
    pub at: String,
    pub seconds: f64,
    /// Who: `user@machine`, or the dashboard's signed-in user.
    pub by: String,
    pub commit: String,
    /// A pipeline run's step statuses, in step order, comma-separated.
    pub steps: String,
    /// One line: the outcome.
    pub detail: String,
    /// The entry's identity, the same on every host it is written to: the time it began
    /// (milliseconds, fixed width, so that identities sort by time), the writer's pid and a
    /// counter.
    pub id: String,
    /// The entry's container name (set when read).
    #[serde(skip)]
    pub name: String,
}

impl JournalEntry {
    /// An entry of `kind` at `target`, started now by this machine's user.
    pub fn begin(kind: &str, target: &str) -> JournalEntry {
        JournalEntry {
            kind: kind.to_string(),
            target: target.to_string(),
            status: "interrupted".to_string(),
            at: now_rfc3339(),
            by: format!("{}@{}", user_name(), machine_name()),
            id: entry_id(),
            ..JournalEntry::default()
        }
    }

    /// The outcome: `done` with its line, or `failed` with the error's first line.
    pub fn finish(&mut self, seconds: f64, result: &Result<String, String>) {
        self.seconds = seconds;
        let (status, text) = match result {
            Ok(text) => ("done", text),
            Err(e) => ("failed", e),
        };
        self.status = status.to_string();
        self.detail = hoist_core::mask::scrub_declared(text)
            .lines()
            .collect::<Vec<_>>()
            .join("; ");
    }
}

/// Labels carry text from whoever wrote them: control characters are dropped and the length
/// bounded, so that an entry cannot rewrite a terminal or bloat a listing.
fn clean(value: &str, max: usize) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

/// An entry from a container's labels; None when they are not a journal entry's.
pub fn from_labels(name: &str, labels: &HashMap<String, String>) -> Option<JournalEntry> {
    labels.get(LABEL)?;
    let get = |k: &str, max: usize| {
        clean(
            labels
                .get(&format!("{PREFIX}{k}"))
                .map(String::as_str)
                .unwrap_or_default(),
            max,
        )
    };
    let entry = JournalEntry {
        kind: get("kind", 20),
        target: get("target", 200),
        status: get("status", 20),
        at: get("at", 40),
        seconds: get("seconds", 20).parse().unwrap_or(0.0),
        by: get("by", 200),
        commit: get("commit", 80),
        steps: get("steps", 200),
        detail: get("detail", 1000),
        id: get("id", 80),
        name: clean(name.trim_start_matches('/'), 300),
    };
    matches!(entry.kind.as_str(), "pipeline" | "deploy" | "rollback").then_some(entry)
}

/// The prefix of a service's entry names.
fn prefix(project: &str, service: &str) -> String {
    format!("hoist-journal.{project}.{service}.")
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// An identity no other writer uses: milliseconds (fixed width, so identities sort by time),
/// pid, counter.
fn entry_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!(
        "{ms:015}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The container name of `id`'s entry; `attempt` tells apart names that collided anyway.
fn entry_name(project: &str, service: &str, id: &str, attempt: u32) -> String {
    match attempt {
        0 => format!("{}{id}", prefix(project, service)),
        n => format!("{}{id}-{n}", prefix(project, service)),
    }
}

impl Engine {
    /// Adds `entry` to the journal of `service` of `project` on this engine, then trims it to
    /// the newest [`KEEP`]. `image_for_record` is any image present there (the entry is never
    /// started).
    pub async fn write_journal_entry(
        &self,
        project: &str,
        service: &str,
        entry: &JournalEntry,
        image_for_record: &str,
    ) -> Result<(), EngineError> {
        crate::ids::image(image_for_record)?;
        let mut labels = HashMap::new();
        labels.insert(LABEL.to_string(), "1".to_string());
        for (k, v, max) in [
            ("project", project, 200),
            ("service", service, 200),
            ("kind", &entry.kind, 20),
            ("target", &entry.target, 200),
            ("status", &entry.status, 20),
            ("at", &entry.at, 40),
            ("seconds", &format!("{:.1}", entry.seconds), 20),
            ("by", &entry.by, 200),
            ("commit", &entry.commit, 80),
            ("steps", &entry.steps, 200),
            ("detail", &entry.detail, 1000),
            ("id", &entry.id, 80),
        ] {
            labels.insert(format!("{PREFIX}{k}"), clean(v, max));
        }
        let body = json!({
            "Image": image_for_record,
            "Cmd": ["true"],
            "Entrypoint": [],
            "Labels": labels,
            "NetworkDisabled": true,
            "HostConfig": {"NetworkMode": "none", "LogConfig": {"Type": "none"}},
        });
        let mut tries = 0;
        loop {
            let name = entry_name(project, service, &entry.id, tries);
            match self
                .create_container_raw(&name, &body, &format!("writing the journal entry {name}"))
                .await
            {
                Ok(_) => break,
                Err(e) if e.source.as_ref().is_some_and(is_conflict) && tries < 3 => tries += 1,
                Err(e) => return Err(e),
            }
        }
        self.trim_journal(project, service).await
    }

    /// Removes all but the newest [`KEEP`] entries.
    async fn trim_journal(&self, project: &str, service: &str) -> Result<(), EngineError> {
        let mut names: Vec<String> = self
            .journal(project, service)
            .await?
            .into_iter()
            .map(|e| e.name)
            .collect();
        // Newest first: what follows the first KEEP goes.
        for name in names.drain(..).skip(KEEP) {
            self.remove_container_for_down(&name, false).await?;
        }
        Ok(())
    }

    /// The journal of `service` of `project` on this engine, newest first.
    pub async fn journal(
        &self,
        project: &str,
        service: &str,
    ) -> Result<Vec<JournalEntry>, EngineError> {
        let list = self
            .state_containers(PREFIX, project, service, "listing the journal")
            .await?;
        let want = prefix(project, service);
        let mut entries: Vec<JournalEntry> = list
            .iter()
            .filter_map(|c| {
                let name = c.names.as_ref()?.first()?;
                from_labels(name, c.labels.as_ref()?)
            })
            .filter(|e| e.name.starts_with(&want))
            .collect();
        entries.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_only_from_their_own_labels_and_cleaned() {
        let mut labels: HashMap<String, String> = [
            (LABEL, "1"),
            ("io.hoist.journal.kind", "deploy"),
            ("io.hoist.journal.status", "done"),
            ("io.hoist.journal.seconds", "4.2"),
            ("io.hoist.journal.by", "ci@runner\u{1b}[2J"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let entry = from_labels("/hoist-journal.books.app.1-2-3", &labels).unwrap();
        assert_eq!(entry.by, "ci@runner[2J");
        assert_eq!(entry.seconds, 4.2);
        assert_eq!(entry.name, "hoist-journal.books.app.1-2-3");
        labels.insert("io.hoist.journal.kind".into(), "format-disk".into());
        assert_eq!(from_labels("x", &labels), None);
        labels.remove(LABEL);
        assert_eq!(from_labels("x", &labels), None);
    }

    #[test]
    fn entry_identities_differ_within_a_millisecond_and_name_valid_containers() {
        let (a, b) = (entry_id(), entry_id());
        assert_ne!(a, b);
        // The time part has a fixed width (10^15 ms is beyond the year 30000): identities of
        // different milliseconds sort by time.
        assert_eq!(a.split('-').next().unwrap().len(), 15);
        let name = entry_name("books", "app", &a, 0);
        assert_eq!(name, format!("hoist-journal.books.app.{a}"));
        assert!(crate::ids::container(&name).is_ok(), "{name}");
        assert_eq!(entry_name("books", "app", &a, 2), format!("{name}-2"));
    }
}
