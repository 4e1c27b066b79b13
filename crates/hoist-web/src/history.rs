//! What the dashboard shows of the past: pipeline runs with their steps, deployments, and the
//! audit log of the dashboard's own actions. Pages read these through [`History`], plain data
//! behind a small trait, so the pipeline's run store can stand behind the same pages; the
//! SQLite store here keeps the audit log and reads runs and deployments from its own tables,
//! which stay empty until something records into them (pages then say "no runs recorded"; they
//! never make anything up).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("history store: {0}")]
pub struct HistoryError(String);

impl HistoryError {
    pub fn new(message: impl std::fmt::Display) -> HistoryError {
        HistoryError(message.to_string())
    }
}

impl From<rusqlite::Error> for HistoryError {
    fn from(e: rusqlite::Error) -> Self {
        HistoryError(e.to_string())
    }
}

/// One step of a pipeline run (the book's nine: check out, pre-deployment tests, build, push,
/// deploy, post-deployment tests, integrate, post-integration tests, clean up).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRecord {
    pub name: String,
    /// `pending`, `running`, `done`, `failed`, `skipped`, `not run`, `interrupted`.
    pub status: String,
    /// How long it took, once it ran.
    pub seconds: Option<f64>,
    /// One line about the outcome (the commit of a checkout, why a step failed).
    pub detail: String,
    pub output: String,
}

/// One pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub project: String,
    pub target: String,
    pub status: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub steps: Vec<StepRecord>,
}

/// One release of a service to a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentRecord {
    pub project: String,
    pub service: String,
    pub target: String,
    pub color: String,
    pub image: String,
    pub status: String,
    pub at_ms: i64,
}

/// One action taken from the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionRecord {
    pub at_ms: i64,
    /// Who asked: the name given at login (or `local`), and the client address.
    pub who: String,
    pub engine: String,
    /// `start`, `stop`, `restart`, `remove`, `rollback`.
    pub action: String,
    /// The container, or `project/service` for a rollback.
    pub target: String,
    /// `requested` until the action finished; then `ok`, or the engine's error.
    pub outcome: String,
}

/// Where the pages read history from and record actions to.
pub trait History: Send + Sync {
    /// Runs, newest first (steps may be left empty).
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError>;
    /// One run with its steps.
    fn run(&self, id: &str) -> Result<Option<RunRecord>, HistoryError>;
    /// Deployments, newest first.
    fn deployments(&self, limit: usize) -> Result<Vec<DeploymentRecord>, HistoryError>;
    /// Records an action before it is carried out (the audit log fails closed: an action that
    /// cannot be recorded is not taken). Returns the record's id for [`History::record_outcome`].
    fn record_action(&self, action: &ActionRecord) -> Result<i64, HistoryError>;
    /// Sets the outcome of the action recorded as `id`.
    fn record_outcome(&self, id: i64, outcome: &str) -> Result<(), HistoryError>;
    /// Actions, newest first.
    fn actions(&self, limit: usize) -> Result<Vec<ActionRecord>, HistoryError>;
}

/// A SQLite file (or an in-memory database for tests).
pub struct SqliteHistory {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ui_actions (
    at_ms INTEGER NOT NULL, who TEXT NOT NULL, engine TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, outcome TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, target TEXT NOT NULL, status TEXT NOT NULL,
    started_ms INTEGER NOT NULL, finished_ms INTEGER);
CREATE TABLE IF NOT EXISTS run_steps (
    run_id TEXT NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    started_ms INTEGER, finished_ms INTEGER, output TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS deployments (
    project TEXT NOT NULL, service TEXT NOT NULL, target TEXT NOT NULL, color TEXT NOT NULL,
    image TEXT NOT NULL, status TEXT NOT NULL, at_ms INTEGER NOT NULL);
";

impl SqliteHistory {
    pub fn open(path: &Path) -> Result<SqliteHistory, HistoryError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| HistoryError(format!("creating {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)?;
        // Two dashboards on one state folder write the same store: wait for the other's write.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::init(conn)
    }

    pub fn in_memory() -> Result<SqliteHistory, HistoryError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<SqliteHistory, HistoryError> {
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteHistory {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection itself usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl History for SqliteHistory {
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, project, target, status, started_ms, finished_ms FROM runs
             ORDER BY started_ms DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok(RunRecord {
                id: r.get(0)?,
                project: r.get(1)?,
                target: r.get(2)?,
                status: r.get(3)?,
                started_ms: r.get(4)?,
                finished_ms: r.get(5)?,
                steps: Vec::new(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, HistoryError> {
        let Some(mut run) = self.runs(usize::MAX >> 1)?.into_iter().find(|r| r.id == id) else {
            return Ok(None);
        };
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, status, started_ms, finished_ms, output FROM run_steps
             WHERE run_id = ?1 ORDER BY position",
        )?;
        let steps = stmt.query_map(params![id], |r| {
            let started: Option<i64> = r.get(2)?;
            let finished: Option<i64> = r.get(3)?;
            Ok(StepRecord {
                name: r.get(0)?,
                status: r.get(1)?,
                seconds: started.zip(finished).map(|(a, b)| (b - a) as f64 / 1000.0),
                detail: String::new(),
                output: r.get(4)?,
            })
        })?;
        run.steps = steps.collect::<Result<_, _>>()?;
        Ok(Some(run))
    }

    fn deployments(&self, limit: usize) -> Result<Vec<DeploymentRecord>, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT project, service, target, color, image, status, at_ms FROM deployments
             ORDER BY at_ms DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok(DeploymentRecord {
                project: r.get(0)?,
                service: r.get(1)?,
                target: r.get(2)?,
                color: r.get(3)?,
                image: r.get(4)?,
                status: r.get(5)?,
                at_ms: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_action(&self, a: &ActionRecord) -> Result<i64, HistoryError> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO ui_actions (at_ms, who, engine, action, target, outcome)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![a.at_ms, a.who, a.engine, a.action, a.target, a.outcome],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn record_outcome(&self, id: i64, outcome: &str) -> Result<(), HistoryError> {
        let changed = self.conn().execute(
            "UPDATE ui_actions SET outcome = ?1 WHERE rowid = ?2",
            params![outcome, id],
        )?;
        if changed == 0 {
            return Err(HistoryError(format!("no recorded action {id}")));
        }
        Ok(())
    }

    fn actions(&self, limit: usize) -> Result<Vec<ActionRecord>, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at_ms, who, engine, action, target, outcome FROM ui_actions
             ORDER BY at_ms DESC, rowid DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok(ActionRecord {
                at_ms: r.get(0)?,
                who: r.get(1)?,
                engine: r.get(2)?,
                action: r.get(3)?,
                target: r.get(4)?,
                outcome: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_kept_newest_first_and_runs_start_empty() {
        let h = SqliteHistory::in_memory().unwrap();
        assert!(h.runs(10).unwrap().is_empty());
        assert!(h.deployments(10).unwrap().is_empty());
        for (at, action) in [(1, "stop"), (2, "start")] {
            let id = h
                .record_action(&ActionRecord {
                    at_ms: at,
                    who: "ann@127.0.0.1".into(),
                    engine: "cd".into(),
                    action: action.into(),
                    target: "web-1".into(),
                    outcome: "requested".into(),
                })
                .unwrap();
            if action == "stop" {
                h.record_outcome(id, "ok").unwrap();
            }
        }
        let got: Vec<_> = h
            .actions(10)
            .unwrap()
            .into_iter()
            .map(|a| (a.action, a.outcome))
            .collect();
        assert_eq!(
            got,
            [
                ("start".to_string(), "requested".to_string()),
                ("stop".into(), "ok".into())
            ]
        );
        assert!(h.record_outcome(99, "ok").is_err());
    }
}
