//! A run's secrets never reach its sinks in clear: a step whose output prints a secret-named
//! variable's value and a URL with a password, and then fails, shows both masked in the history
//! (output and the checklist's detail), in what the terminal and `--json` print (the events),
//! and in the history read back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hoist_core::mask::MASK;
use hoist_pipeline::config;
use hoist_pipeline::history::History;
use hoist_pipeline::run::{Context, PipelineEvent, PipelineSink, Run, RunOptions};
use hoist_pipeline::steps::{StepId, StepStatus};

/// Keeps every event as `--json` would print it.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl PipelineSink for Recorder {
    fn event(&self, event: &PipelineEvent) {
        self.0
            .lock()
            .unwrap()
            .push(serde_json::to_string(event).unwrap());
    }
}

const TOKEN: &str = "tok-Lm42-abcdefgh";
const URL_PASSWORD: &str = "pw-Qx71-db";
const STEP_PASSWORD: &str = "stp-Rr19-zzzz";

#[tokio::test]
async fn a_steps_secrets_are_masked_in_history_events_and_checklist() {
    let Some(cd) = hoist_testkit::engine("cd").await else {
        return;
    };
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("hoist-masking-{}-{unique}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yml = format!(
        "service: books-ms\nregistry: localhost:5000\ntargets:\n  prod:\n    host: tcp://10.200.0.2:2375\n    public_address: http://10.200.0.2\nsteps:\n  pre_deployment_tests:\n    command: >-\n      echo \"connecting to postgres://app:{URL_PASSWORD}@db/books\";\n      echo \"login with {TOKEN}\";\n      echo \"step says {STEP_PASSWORD}\";\n      echo \"last: {TOKEN}\"; exit 3\n  post_deployment_tests:\n    run: integ\n    env: [INTEG_PASSWORD={STEP_PASSWORD}]\n"
    );
    let path = dir.join("hoist.yml");
    std::fs::write(&path, yml).unwrap();
    let file = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let ctx = Context {
        file,
        cd,
        docker_config: None,
        state_dir: dir.join(".state"),
        environment: BTreeMap::from([
            ("API_TOKEN".to_string(), TOKEN.to_string()),
            ("SERVICE_NAME".to_string(), "books-ms".to_string()),
        ]),
    };
    let history = Arc::new(History::open(&ctx.state_dir).unwrap());
    let opts = RunOptions {
        only: Some(StepId::PreDeploymentTests),
        ..RunOptions::default()
    };
    let run = Run::start(&ctx, history.clone(), &opts).await.unwrap();
    let recorder = Recorder::default();
    let record = hoist_pipeline::run::HistorySink::new(history.clone());
    let ok = run.execute(&ctx, &[&record, &recorder]).await;
    assert!(!ok, "the step fails");

    let secrets = [TOKEN, URL_PASSWORD, STEP_PASSWORD];
    let output = history
        .output(run.id, StepId::PreDeploymentTests)
        .unwrap()
        .unwrap();
    assert!(
        output.contains(&format!("postgres://app:{MASK}@db/books")),
        "{output}"
    );
    assert!(output.contains(&format!("login with {MASK}")), "{output}");
    assert!(output.contains(&format!("step says {MASK}")), "{output}");
    let saved = history.run(Some(run.id)).unwrap().unwrap();
    let step = saved
        .steps
        .iter()
        .find(|l| l.step == StepId::PreDeploymentTests)
        .unwrap();
    assert_eq!(step.status, StepStatus::Failed);
    assert!(
        step.detail.contains(&format!("last: {MASK}")),
        "{}",
        step.detail
    );
    let events = recorder.0.lock().unwrap().join("\n");
    assert!(events.contains(&format!("login with {MASK}")), "{events}");
    for secret in secrets {
        assert!(
            !output.contains(secret),
            "the history's output shows {secret}"
        );
        assert!(
            !step.detail.contains(secret),
            "the checklist shows {secret}"
        );
        assert!(!events.contains(secret), "the events show {secret}");
    }
    drop(run);
    let _ = std::fs::remove_dir_all(&dir);
}
