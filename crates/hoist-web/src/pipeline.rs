//! The pipeline's own run history (`hoist-pipeline`'s SQLite store, written by `hoist pipeline
//! run`) behind the pages' [`History`] trait, with the dashboard's audit log kept beside it.
//! Deployments are the runs whose deploy step completed: the pipeline records a release as part
//! of its run, so there is one source of truth for both pages.

use hoist_pipeline::history::{History as RunStore, RunRecord as PipelineRun};
use hoist_pipeline::steps::{StepId, StepStatus};

use crate::history::{
    ActionRecord, DeploymentRecord, History, HistoryError, RunRecord, SqliteHistory, StepRecord,
};

/// Pipeline runs from the pipeline's store; dashboard actions in a store of their own.
pub struct PipelineHistory {
    runs: RunStore,
    actions: SqliteHistory,
}

impl PipelineHistory {
    pub fn new(runs: RunStore, actions: SqliteHistory) -> PipelineHistory {
        PipelineHistory { runs, actions }
    }
}

fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0) as i64
}

fn convert(run: PipelineRun, outputs: impl Fn(StepId) -> String) -> RunRecord {
    RunRecord {
        id: run.id.to_string(),
        project: run.service,
        target: run.target,
        status: run.status,
        started_ms: ms(run.started_at),
        finished_ms: run.finished_at.map(ms),
        steps: run
            .steps
            .into_iter()
            .map(|line| StepRecord {
                name: format!("{}. {}", line.step.number(), line.step.title()),
                status: line.status.as_str().to_string(),
                seconds: line.seconds,
                detail: line.detail,
                output: outputs(line.step),
            })
            .collect(),
    }
}

impl History for PipelineHistory {
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, HistoryError> {
        let runs = self.runs.runs(limit).map_err(HistoryError::new)?;
        Ok(runs
            .into_iter()
            .map(|r| convert(r, |_| String::new()))
            .collect())
    }

    fn run(&self, id: &str) -> Result<Option<RunRecord>, HistoryError> {
        let Ok(number) = id.parse::<i64>() else {
            return Ok(None);
        };
        let Some(run) = self.runs.run(Some(number)).map_err(HistoryError::new)? else {
            return Ok(None);
        };
        Ok(Some(convert(run, |step| {
            self.runs
                .output(number, step)
                .ok()
                .flatten()
                .unwrap_or_default()
        })))
    }

    fn deployments(&self, limit: usize) -> Result<Vec<DeploymentRecord>, HistoryError> {
        let runs = self.runs.runs(limit).map_err(HistoryError::new)?;
        Ok(runs
            .into_iter()
            .filter(|r| {
                r.steps
                    .iter()
                    .any(|s| s.step == StepId::Deploy && s.status == StepStatus::Done)
            })
            .map(|r| DeploymentRecord {
                project: r.service.clone(),
                service: r.service,
                target: r.target,
                // The run history does not say which colour a release went to; the project
                // page shows the colours running now.
                color: String::new(),
                image: r
                    .images
                    .iter()
                    .map(|(reference, digest)| format!("{reference}@{digest}"))
                    .next()
                    .unwrap_or_default(),
                status: r.status,
                at_ms: ms(r.finished_at.unwrap_or(r.started_at)),
            })
            .collect())
    }

    fn record_action(&self, action: &ActionRecord) -> Result<i64, HistoryError> {
        self.actions.record_action(action)
    }

    fn record_outcome(&self, id: i64, outcome: &str) -> Result<(), HistoryError> {
        self.actions.record_outcome(id, outcome)
    }

    fn actions(&self, limit: usize) -> Result<Vec<ActionRecord>, HistoryError> {
        self.actions.actions(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_run_reads_as_a_checklist_and_a_deployment() {
        let dir = std::env::temp_dir().join(format!("hoist-web-runs-{}", uuid::Uuid::new_v4()));
        let store = RunStore::open(&dir).unwrap();
        let run = store
            .start_run(
                "books-ms",
                "prod",
                "3f2a1c9",
                &StepId::ALL.map(|s| (s, StepStatus::Pending)),
            )
            .unwrap();
        store.step_started(run, StepId::Deploy).unwrap();
        store
            .append_output(
                run,
                StepId::Deploy,
                "Container books-ms-app-blue-1  Started\n",
            )
            .unwrap();
        store
            .step_finished(run, StepId::Deploy, StepStatus::Done, Some(1.5), "")
            .unwrap();
        store.finish_run(run, "done").unwrap();
        let h = PipelineHistory::new(store, SqliteHistory::in_memory().unwrap());

        let runs = h.runs(10).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].project, "books-ms");
        let one = h.run(&runs[0].id).unwrap().unwrap();
        let deploy = one
            .steps
            .iter()
            .find(|s| s.name.starts_with("6. "))
            .expect("the deploy step");
        assert_eq!(deploy.status, "done");
        assert!(deploy.output.contains("Started"));
        let deployments = h.deployments(10).unwrap();
        assert_eq!(deployments.len(), 1);
        assert_eq!(deployments[0].target, "prod");
        let _ = std::fs::remove_dir_all(dir);
    }
}
