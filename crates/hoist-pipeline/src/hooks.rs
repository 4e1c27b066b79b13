//! `hoist.yml`'s hooks for releases made outside a pipeline run (`hoist deploy --target`): the
//! same hooks, variables and order as the pipeline's step 6 (`run.rs`), their output handed to
//! the caller line by line.

use std::collections::BTreeMap;
use std::path::Path;

use hoist_core::events::Discard;
use hoist_core::spec::ProjectSpec;
use hoist_docker::Engine;
use hoist_docker::execute::ExecOptions;
use hoist_docker::orchestrate::{self, RunRequest};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::config::{Hook, Hooks};

/// Where and with what a release's hooks run.
pub struct HookPlace<'a> {
    /// The target's engine (a host's, for a target of several) and the project as released.
    pub engine: &'a Engine,
    pub spec: &'a ProjectSpec,
    /// The deployed service: a `container:` hook is a one-off of it.
    pub service: &'a str,
    /// `hoist.yml`'s folder: host commands run there.
    pub dir: &'a Path,
    /// The target's variables (its `env:` and secrets), for host commands.
    pub target_vars: &'a BTreeMap<String, String>,
    /// `HOIST_RELEASE`, `HOIST_COMMIT`, `HOIST_TARGET`, `HOIST_HOSTS`, `HOIST_SERVICE`,
    /// `HOIST_IMAGE` (`HOIST_STATUS` is added per hook).
    pub vars: Vec<(String, String)>,
    pub exec: ExecOptions,
}

/// Runs one hook; `out` gets each line it prints.
pub async fn run(
    name: &str,
    hook: &Hook,
    status: &str,
    place: &HookPlace<'_>,
    out: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), String> {
    let mut vars = place.vars.clone();
    vars.push(("HOIST_STATUS".into(), status.into()));
    match hook {
        Hook::Host(command) => {
            out(&format!("hook {name}: {command}"));
            let mut child = tokio::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(place.dir)
                .envs(place.target_vars)
                .envs(vars.iter().cloned())
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("hook {name}: starting `{command}`: {e}"))?;
            let stdout = child.stdout.take().expect("piped");
            let stderr = child.stderr.take().expect("piped");
            let read = |pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| async move {
                let mut lines = BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    out(&line);
                }
            };
            let (_, _, status) =
                tokio::join!(read(Box::new(stdout)), read(Box::new(stderr)), child.wait());
            match status.map_err(|e| format!("hook {name}: {e}"))?.code() {
                Some(0) => Ok(()),
                Some(code) => Err(format!("hook {name} exited with {code}")),
                None => Err(format!("hook {name} was killed by a signal")),
            }
        }
        Hook::Container(args) => {
            out(&format!("hook {name}: {}", args.join(" ")));
            let request = RunRequest {
                service: place.service.to_string(),
                command: args.clone(),
                env: vars.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                with_deps: true,
                remove: true,
                ..RunRequest::default()
            };
            let outcome = orchestrate::run_oneoff(
                place.engine,
                place.spec,
                &request,
                &place.exec,
                &Discard,
                |_, line| out(line.trim_end_matches('\n')),
            )
            .await
            .map_err(|e| format!("hook {name}: {e}"))?;
            match outcome.exit_code {
                0 => Ok(()),
                code => Err(format!("hook {name} exited with {code}")),
            }
        }
    }
}

/// `release` with `hooks` around it, in the pipeline's order: `pre_deploy` (its failure stops
/// everything before anything started), the release, `post_switch` and `post_deploy` after a
/// success, `on_failure` after any failure.
pub async fn around<T, F, Fut>(
    hooks: &Hooks,
    place: &HookPlace<'_>,
    out: &(dyn Fn(&str) + Send + Sync),
    release: F,
) -> Result<T, String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let failed = |why: String| async move {
        if let Some(hook) = &hooks.on_failure
            && let Err(e) = run("on_failure", hook, "failed", place, out).await
        {
            out(&e);
        }
        Err(why)
    };
    if let Some(hook) = &hooks.pre_deploy
        && let Err(e) = run("pre_deploy", hook, "pending", place, out).await
    {
        return failed(format!("{e}; nothing was released")).await;
    }
    let released = match release().await {
        Ok(released) => released,
        Err(e) => return failed(e).await,
    };
    for (name, hook) in [
        ("post_switch", &hooks.post_switch),
        ("post_deploy", &hooks.post_deploy),
    ] {
        if let Some(hook) = hook
            && let Err(e) = run(name, hook, "done", place, out).await
        {
            return failed(format!("the release went through, but {e}")).await;
        }
    }
    Ok(released)
}
