//! The history of pipeline runs in an embedded SQLite database in hoist's state folder: per run
//! the commit, the target, the image digests, and each step's status, timings and captured
//! output. It is one of the sinks of a run's events (the terminal and `--json` are the others),
//! so what `hoist pipeline status` shows is what happened.
//!
//! A run that was killed cannot record its own end: a run still `running` whose process is gone
//! is marked `interrupted` (with its running step) whenever the store is opened.

use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::group::Group;
use crate::steps::{StepId, StepLine, StepStatus};

#[derive(Debug, thiserror::Error)]
#[error("history database {path}: {source}")]
pub struct HistoryError {
    pub path: String,
    #[source]
    pub source: rusqlite::Error,
}

/// The most output kept per step: enough for a failed test's report, bounded for a chatty build.
pub const MAX_OUTPUT: usize = 1 << 20;

/// One run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub service: String,
    pub target: String,
    pub commit: String,
    /// `running`, `done`, `failed`, `interrupted`.
    pub status: String,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    pub pid: u32,
    /// Image reference → digest, as pushed.
    pub images: Vec<(String, String)>,
    pub steps: Vec<StepLine>,
}

/// One release of a colour (a blue-green deploy or a rollback), with how it ended: where
/// `hoist releases` learns that a colour's last deploy failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseRecord {
    pub run: i64,
    /// `blue` or `green`.
    pub color: String,
    /// The image reference it released.
    pub image: String,
    /// `done` or `failed`.
    pub status: String,
    pub at: f64,
}

pub struct History {
    conn: Mutex<Connection>,
    path: String,
}

pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Whether process `pid` still exists (Linux: `/proc/PID`).
pub fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The store's tables (made when missing).
const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS runs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                service TEXT NOT NULL, target TEXT NOT NULL, commit_sha TEXT NOT NULL,
                status TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL,
                pid INTEGER NOT NULL, images TEXT NOT NULL DEFAULT '[]');
             CREATE TABLE IF NOT EXISTS steps (
                run_id INTEGER NOT NULL REFERENCES runs(id), number INTEGER NOT NULL,
                status TEXT NOT NULL, started_at REAL, seconds REAL,
                detail TEXT NOT NULL DEFAULT '', output TEXT NOT NULL DEFAULT '',
                PRIMARY KEY (run_id, number));
             CREATE TABLE IF NOT EXISTS releases (
                run_id INTEGER NOT NULL REFERENCES runs(id), color TEXT NOT NULL,
                image TEXT NOT NULL, status TEXT NOT NULL, at REAL NOT NULL);";

/// Puts the store in write-ahead-log mode. Switching needs the database to itself, and SQLite
/// reports a busy database at once here rather than waiting: retried until `patience` is spent.
fn write_ahead_log(conn: &Connection, patience: std::time::Duration) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + patience;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other.map(|_| ()),
        }
    }
}

/// Stores made before runs recorded their step command's process group get the columns.
fn add_group_columns(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('runs') WHERE name = 'step_pgid'")?
        .exists([])?;
    if !has {
        conn.execute_batch(
            "ALTER TABLE runs ADD COLUMN step_pgid INTEGER;
             ALTER TABLE runs ADD COLUMN step_pgid_started INTEGER;",
        )?;
    }
    Ok(())
}

impl History {
    /// Opens (creating) `dir/history.sqlite3`, and marks runs whose process is gone as
    /// interrupted.
    pub fn open(dir: &Path) -> Result<History, HistoryError> {
        // Two runs for different targets write at once; wait for the other's short write.
        Self::open_with_patience(dir, std::time::Duration::from_secs(10))
    }

    /// [`History::open`], waiting at most `patience` for a write another process holds.
    pub fn open_with_patience(
        dir: &Path,
        patience: std::time::Duration,
    ) -> Result<History, HistoryError> {
        let path = dir.join("history.sqlite3");
        let display = path.display().to_string();
        let wrap = |source| HistoryError {
            path: display.clone(),
            source,
        };
        // Private before SQLite opens it: step output can hold what only the user may read.
        if let Err(e) = crate::state::private_file(&path) {
            return Err(wrap(rusqlite::Error::InvalidPath(e.to_string().into())));
        }
        let mut conn = Connection::open(&path).map_err(wrap)?;
        conn.busy_timeout(patience).map_err(wrap)?;
        write_ahead_log(&conn, patience).map_err(wrap)?;
        // Several processes may open a new store at once (a run, `status` polls, the
        // dashboard): the schema is made in one write transaction, taken with the busy timeout.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(wrap)?;
        tx.execute_batch(SCHEMA).map_err(wrap)?;
        add_group_columns(&tx).map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        let history = History {
            conn: Mutex::new(conn),
            path: display,
        };
        history.mark_stale()?;
        Ok(history)
    }

    /// Records the process group of the step command run `run` is running (`None` once it
    /// ended), so that a run taking over after a kill can end what it left running.
    pub fn set_group(&self, run: i64, group: Option<Group>) -> Result<(), HistoryError> {
        self.conn()
            .execute(
                "UPDATE runs SET step_pgid = ?2, step_pgid_started = ?3 WHERE id = ?1",
                params![run, group.map(|g| g.pgid), group.map(|g| g.started as i64)],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The step-command groups recorded by runs of `service` on `target` that did not clear
    /// them: what a killed run left behind, for the next holder of the deploy lock.
    pub fn recorded_groups(
        &self,
        service: &str,
        target: &str,
    ) -> Result<Vec<(i64, Group)>, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, step_pgid, step_pgid_started FROM runs
                 WHERE service = ?1 AND target = ?2 AND step_pgid IS NOT NULL",
            )
            .map_err(|e| self.err(e))?;
        stmt.query_map(params![service, target], |r| {
            let started: i64 = r.get(2)?;
            Ok((
                r.get(0)?,
                Group {
                    pgid: r.get(1)?,
                    started: started as u64,
                },
            ))
        })
        .map_err(|e| self.err(e))?
        .collect::<Result<_, _>>()
        .map_err(|e| self.err(e))
    }

    fn err(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError {
            path: self.path.clone(),
            source,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_stale(&self) -> Result<(), HistoryError> {
        let running: Vec<(i64, u32)> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT id, pid FROM runs WHERE status = 'running'")
                .map_err(|e| self.err(e))?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?
        };
        for (id, pid) in running {
            if pid != std::process::id() && !process_alive(pid) {
                self.finish_interrupted(id)?;
            }
        }
        Ok(())
    }

    /// Records the end of an interrupted run: its running step is `interrupted`, the steps that
    /// were still to come are `not run`.
    pub fn finish_interrupted(&self, run: i64) -> Result<(), HistoryError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE steps SET status = 'interrupted',
                 seconds = COALESCE(seconds, ?2 - started_at)
             WHERE run_id = ?1 AND status = 'running'",
            params![run, now()],
        )
        .map_err(|e| self.err(e))?;
        conn.execute(
            "UPDATE steps SET status = 'not run' WHERE run_id = ?1 AND status = 'pending'",
            params![run],
        )
        .map_err(|e| self.err(e))?;
        conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?2 WHERE id = ?1",
            params![run, now()],
        )
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A new run, with every step's initial status.
    pub fn start_run(
        &self,
        service: &str,
        target: &str,
        commit: &str,
        steps: &[(StepId, StepStatus)],
    ) -> Result<i64, HistoryError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT INTO runs (service, target, commit_sha, status, started_at, pid)
             VALUES (?1, ?2, ?3, 'running', ?4, ?5)",
            params![service, target, commit, now(), std::process::id()],
        )
        .map_err(|e| self.err(e))?;
        let id = tx.last_insert_rowid();
        for (step, status) in steps {
            tx.execute(
                "INSERT INTO steps (run_id, number, status) VALUES (?1, ?2, ?3)",
                params![id, step.number(), status.as_str()],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    pub fn set_commit(&self, run: i64, commit: &str) -> Result<(), HistoryError> {
        self.conn()
            .execute(
                "UPDATE runs SET commit_sha = ?2 WHERE id = ?1",
                params![run, commit],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn add_image(&self, run: i64, reference: &str, digest: &str) -> Result<(), HistoryError> {
        let conn = self.conn();
        let current: String = conn
            .query_row("SELECT images FROM runs WHERE id = ?1", [run], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let mut images: Vec<(String, String)> = serde_json::from_str(&current).unwrap_or_default();
        images.retain(|(r, _)| r != reference);
        images.push((reference.to_string(), digest.to_string()));
        conn.execute(
            "UPDATE runs SET images = ?2 WHERE id = ?1",
            params![run, serde_json::to_string(&images).unwrap_or_default()],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    pub fn step_started(&self, run: i64, step: StepId) -> Result<(), HistoryError> {
        self.conn()
            .execute(
                "UPDATE steps SET status = 'running', started_at = ?3 WHERE run_id = ?1 AND number = ?2",
                params![run, step.number(), now()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Appends output to a step (bounded by [`MAX_OUTPUT`]).
    pub fn append_output(&self, run: i64, step: StepId, text: &str) -> Result<(), HistoryError> {
        self.conn()
            .execute(
                "UPDATE steps SET output = output || ?3
                 WHERE run_id = ?1 AND number = ?2 AND length(output) < ?4",
                params![
                    run,
                    step.number(),
                    hoist_core::mask::scrub_declared(text),
                    MAX_OUTPUT as i64
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn step_finished(
        &self,
        run: i64,
        step: StepId,
        status: StepStatus,
        seconds: Option<f64>,
        detail: &str,
    ) -> Result<(), HistoryError> {
        self.conn()
            .execute(
                "UPDATE steps SET status = ?3, seconds = ?4, detail = ?5 WHERE run_id = ?1 AND number = ?2",
                params![
                    run,
                    step.number(),
                    status.as_str(),
                    seconds,
                    hoist_core::mask::scrub_declared(detail)
                ],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn finish_run(&self, run: i64, status: &str) -> Result<(), HistoryError> {
        self.conn()
            .execute(
                "UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1",
                params![run, status, now()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// One run with its steps; the latest when `run` is `None`.
    pub fn run(&self, run: Option<i64>) -> Result<Option<RunRecord>, HistoryError> {
        let id: Option<i64> = match run {
            Some(id) => Some(id),
            None => self
                .conn()
                .query_row("SELECT max(id) FROM runs", [], |r| r.get(0))
                .map_err(|e| self.err(e))?,
        };
        let Some(id) = id else { return Ok(None) };
        let conn = self.conn();
        let record = conn
            .query_row(
                "SELECT id, service, target, commit_sha, status, started_at, finished_at, pid, images
                 FROM runs WHERE id = ?1",
                [id],
                |r| {
                    let images: String = r.get(8)?;
                    Ok(RunRecord {
                        id: r.get(0)?,
                        service: r.get(1)?,
                        target: r.get(2)?,
                        commit: r.get(3)?,
                        status: r.get(4)?,
                        started_at: r.get(5)?,
                        finished_at: r.get(6)?,
                        pid: r.get(7)?,
                        images: serde_json::from_str(&images).unwrap_or_default(),
                        steps: Vec::new(),
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(mut record) = record else {
            return Ok(None);
        };
        let mut stmt = conn
            .prepare("SELECT number, status, seconds, detail FROM steps WHERE run_id = ?1 ORDER BY number")
            .map_err(|e| self.err(e))?;
        record.steps = stmt
            .query_map([id], |r| {
                let number: u32 = r.get(0)?;
                let status: String = r.get(1)?;
                Ok(StepLine {
                    step: StepId::ALL[(number as usize).clamp(1, 9) - 1],
                    status: StepStatus::parse(&status),
                    seconds: r.get(2)?,
                    detail: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        Ok(Some(record))
    }

    /// Runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        let ids: Vec<i64> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT id FROM runs ORDER BY id DESC LIMIT ?1")
                .map_err(|e| self.err(e))?;
            stmt.query_map([limit as i64], |r| r.get(0))
                .map_err(|e| self.err(e))?
                .collect::<Result<_, _>>()
                .map_err(|e| self.err(e))?
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(r) = self.run(Some(id))? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Records that run `run` released `color` with `image`, and how that ended.
    pub fn record_release(
        &self,
        run: i64,
        color: &str,
        image: &str,
        status: &str,
    ) -> Result<(), HistoryError> {
        self.conn()
            .execute(
                "INSERT INTO releases (run_id, color, image, status, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![run, color, image, status, now()],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The latest release of each colour of `service` on `target`.
    pub fn latest_releases(
        &self,
        service: &str,
        target: &str,
    ) -> Result<Vec<ReleaseRecord>, HistoryError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT r.run_id, r.color, r.image, r.status, r.at FROM releases r
                 JOIN runs ON runs.id = r.run_id
                 WHERE runs.service = ?1 AND runs.target = ?2
                 ORDER BY r.at DESC, r.rowid DESC",
            )
            .map_err(|e| self.err(e))?;
        let all: Vec<ReleaseRecord> = stmt
            .query_map(params![service, target], |r| {
                Ok(ReleaseRecord {
                    run: r.get(0)?,
                    color: r.get(1)?,
                    image: r.get(2)?,
                    status: r.get(3)?,
                    at: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut latest: Vec<ReleaseRecord> = Vec::new();
        for record in all {
            if !latest.iter().any(|l| l.color == record.color) {
                latest.push(record);
            }
        }
        Ok(latest)
    }

    /// The captured output of a step.
    pub fn output(&self, run: i64, step: StepId) -> Result<Option<String>, HistoryError> {
        self.conn()
            .query_row(
                "SELECT output FROM steps WHERE run_id = ?1 AND number = ?2",
                params![run, step.number()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "hoist-history-{name}-{}-{}",
            std::process::id(),
            now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn processes_opening_a_new_store_at_once_all_get_it() {
        // A run and the `status` polls of whoever watches it start on a store nobody made yet.
        for round in 0..20 {
            let dir = temp_dir(&format!("race-{round}"));
            let openers: Vec<_> = (0..6)
                .map(|_| {
                    let dir = dir.clone();
                    std::thread::spawn(move || History::open(&dir).map(|_| ()))
                })
                .collect();
            for opener in openers {
                if let Err(e) = opener.join().unwrap() {
                    panic!("round {round}: {e}");
                }
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    #[test]
    fn a_run_survives_reopening_with_its_steps_and_output() {
        let dir = temp_dir("reopen");
        let steps: Vec<_> = StepId::ALL
            .iter()
            .map(|s| (*s, StepStatus::Pending))
            .collect();
        let id = {
            let h = History::open(&dir).unwrap();
            let id = h.start_run("books-ms", "prod", "3f2a1c9", &steps).unwrap();
            h.step_started(id, StepId::Checkout).unwrap();
            h.append_output(id, StepId::Checkout, "line 1\n").unwrap();
            h.step_finished(id, StepId::Checkout, StepStatus::Done, Some(0.3), "3f2a1c9")
                .unwrap();
            h.add_image(id, "localhost:5000/books-ms:3f2a1c9", "sha256:ab")
                .unwrap();
            h.finish_run(id, "done").unwrap();
            id
        };
        let h = History::open(&dir).unwrap();
        let run = h.run(None).unwrap().unwrap();
        assert_eq!(run.id, id);
        assert_eq!(run.status, "done");
        assert_eq!(run.steps[0].status, StepStatus::Done);
        assert_eq!(run.steps[0].detail, "3f2a1c9");
        assert_eq!(
            run.images,
            [("localhost:5000/books-ms:3f2a1c9".into(), "sha256:ab".into())]
        );
        assert_eq!(h.output(id, StepId::Checkout).unwrap().unwrap(), "line 1\n");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_latest_release_of_each_colour_wins() {
        let dir = temp_dir("releases");
        let h = History::open(&dir).unwrap();
        let steps = [(StepId::Deploy, StepStatus::Pending)];
        let one = h.start_run("books-ms", "prod", "a", &steps).unwrap();
        h.record_release(one, "blue", "books-ms:v1", "done")
            .unwrap();
        let two = h.start_run("books-ms", "prod", "b", &steps).unwrap();
        h.record_release(two, "green", "books-ms:v2", "failed")
            .unwrap();
        let three = h.start_run("books-ms", "prod", "c", &steps).unwrap();
        h.record_release(three, "green", "books-ms:v3", "done")
            .unwrap();
        let other = h.start_run("books-ms", "staging", "d", &steps).unwrap();
        h.record_release(other, "blue", "books-ms:v9", "failed")
            .unwrap();
        let latest = h.latest_releases("books-ms", "prod").unwrap();
        let summary: Vec<(&str, &str, &str)> = latest
            .iter()
            .map(|r| (r.color.as_str(), r.image.as_str(), r.status.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("green", "books-ms:v3", "done"),
                ("blue", "books-ms:v1", "done")
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_run_whose_process_is_gone_is_interrupted() {
        let dir = temp_dir("stale");
        let steps: Vec<_> = StepId::ALL
            .iter()
            .map(|s| (*s, StepStatus::Pending))
            .collect();
        let h = History::open(&dir).unwrap();
        let id = h.start_run("books-ms", "prod", "abc", &steps).unwrap();
        h.step_started(id, StepId::Deploy).unwrap();
        // A pid that cannot exist on Linux (above pid_max's ceiling).
        h.conn()
            .execute("UPDATE runs SET pid = 4194305 WHERE id = ?1", [id])
            .unwrap();
        drop(h);
        let h = History::open(&dir).unwrap();
        let run = h.run(Some(id)).unwrap().unwrap();
        assert_eq!(run.status, "interrupted");
        assert_eq!(run.steps[5].status, StepStatus::Interrupted);
        assert_eq!(run.steps[6].status, StepStatus::NotRun);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
