//! `hoist ui`: the dashboard. Resolves the engines (the one the global flags name, plus any
//! `--engine NAME=HOST` and the `--target`s of `hoist.yml`), decides the login policy from the
//! bind address, and serves `hoist_web::app` until Ctrl+C. On the targets, services with both
//! colours get a "roll back" that runs `hoist rollback SERVICE --target NAME`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use hoist_docker::{Engine, EngineSpec, TlsFiles};
use hoist_web::{
    AppState, HostPolicy, NamedEngine, PipelineHistory, Releases, SqliteHistory, TokenDecision,
    decide_token,
};

use crate::cli::GlobalArgs;
use crate::settings::{EnvVars, engine_spec};

#[derive(Debug, Args, Clone)]
pub struct UiArgs {
    /// Address and port to serve on. Any address other than loopback needs a login token.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9000")]
    pub bind: SocketAddr,

    /// Another engine to show, as NAME=HOST (repeatable). The engine named by -H / DOCKER_HOST
    /// is always shown; --trust-insecure-host applies to every engine.
    #[arg(long = "engine", value_name = "NAME=HOST")]
    pub engines: Vec<String>,

    /// A target of the pipeline file to show (repeatable): its engine, under the target's name.
    #[arg(long = "target", value_name = "NAME")]
    pub targets: Vec<String>,

    /// The pipeline file that defines the targets.
    #[arg(long = "config", value_name = "FILE", default_value = "hoist.yml")]
    pub config: PathBuf,

    /// TLS client certificates (ca.pem, cert.pem, key.pem) for an --engine, as NAME=DIR.
    #[arg(long = "engine-certs", value_name = "NAME=DIR")]
    pub engine_certs: Vec<String>,

    /// Name shown for the engine of the global flags (default: `local` for a socket, else the
    /// host).
    #[arg(long = "name", value_name = "NAME")]
    pub name: Option<String>,

    /// Show everything, change nothing: every action is disabled.
    #[arg(long)]
    pub read_only: bool,

    /// Without HOIST_UI_TOKEN, generate a login token and print it once.
    #[arg(long)]
    pub generate_token: bool,

    /// Also serve an open (loopback, no token) dashboard under this host name (repeatable). By
    /// default it answers only to its own address and `localhost`, which keeps pages of other
    /// sites out even when their name resolves to 127.0.0.1 (DNS rebinding).
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,

    /// Serve HTTPS with this PEM certificate (chain); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// SQLite file recording the dashboard's actions (default: ui-actions.sqlite3 in hoist's
    /// state folder, beside the pipeline's run history).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

fn split_pair<'a>(raw: &'a str, flag: &str) -> anyhow::Result<(&'a str, &'a str)> {
    raw.split_once('=')
        .filter(|(k, v)| !k.is_empty() && !v.is_empty())
        .with_context(|| format!("{flag} expects NAME=VALUE, got {raw:?}"))
}

/// The engines to show, named, as specs.
fn engine_specs(
    global: &GlobalArgs,
    env: &EnvVars,
    args: &UiArgs,
) -> anyhow::Result<Vec<(String, EngineSpec)>> {
    let first = engine_spec(global, env)?;
    let first_name = args.name.clone().unwrap_or_else(|| {
        hoist_docker::Address::parse(&first.host, first.tls.is_some())
            .ok()
            .and_then(|address| address.remote_host())
            .unwrap_or_else(|| "local".into())
    });
    let mut certs = std::collections::BTreeMap::new();
    for raw in &args.engine_certs {
        let (name, dir) = split_pair(raw, "--engine-certs")?;
        certs.insert(name.to_string(), PathBuf::from(dir));
    }
    let mut specs = vec![(first_name, first.clone())];
    for raw in &args.engines {
        let (name, host) = split_pair(raw, "--engine")?;
        if specs.iter().any(|(n, _)| n == name) {
            bail!("two engines are named {name:?}; give each --engine its own name");
        }
        specs.push((
            name.to_string(),
            EngineSpec {
                host: host.to_string(),
                tls: certs.get(name).map(|d| TlsFiles::in_dir(d)),
                trusted_insecure_hosts: first.trusted_insecure_hosts.clone(),
            },
        ));
    }
    if !args.targets.is_empty() {
        let file = crate::context::pipeline_file(&args.config, global, env)?;
        for name in &args.targets {
            let target = file
                .target(name)
                .with_context(|| format!("{} defines no target {name:?}", args.config.display()))?;
            // A target of several hosts shows each of them, as `HOST@TARGET`.
            let members: Vec<(String, EngineSpec)> = if target.is_fleet() {
                target
                    .hosts
                    .iter()
                    .map(|h| {
                        let name = hoist_web::fleet_engine_name(name, &h.name);
                        (name, h.engine_spec())
                    })
                    .collect()
            } else {
                vec![(name.clone(), target.engine_spec())]
            };
            for (name, spec) in members {
                if specs.iter().any(|(n, _)| *n == name) {
                    bail!("two engines are named {name:?}; rename the --engine");
                }
                specs.push((name, spec));
            }
        }
    }
    if let Some(name) = certs.keys().find(|n| !specs.iter().any(|(s, _)| s == *n)) {
        bail!("--engine-certs names {name:?}, which no --engine defines");
    }
    Ok(specs)
}

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &UiArgs) -> anyhow::Result<ExitCode> {
    let token = match decide_token(
        &args.bind,
        env.all.get("HOIST_UI_TOKEN").cloned(),
        args.generate_token,
    ) {
        TokenDecision::Refuse => bail!(
            "refusing to serve the dashboard on {} without a login token: set HOIST_UI_TOKEN, \
             pass --generate-token, or bind to a loopback address",
            args.bind
        ),
        TokenDecision::TooShort(n) => bail!(
            "HOIST_UI_TOKEN has {n} characters; a login token needs at least {} (leave it unset \
             and pass --generate-token for a random one)",
            hoist_web::auth::MIN_TOKEN
        ),
        TokenDecision::Open => None,
        TokenDecision::Token(t) => {
            if env.all.get("HOIST_UI_TOKEN").is_none_or(|v| v.is_empty()) {
                // Printed once: it is not stored anywhere.
                eprintln!("login token (shown once): {t}");
            }
            Some(t)
        }
    };
    hoist_docker::connect::install_crypto_provider();
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(hoist_web::tls_config(cert, key)?),
        _ => None,
    };
    if tls.is_none() && !args.bind.ip().is_loopback() {
        eprintln!(
            "warning: serving plain HTTP on {}: the login token and the session cookie cross the \
             network readable by anyone on the path; serve HTTPS with --tls-cert FILE --tls-key \
             FILE",
            args.bind
        );
    }
    let specs = engine_specs(global, env, args)?;
    for (_, spec) in &specs {
        hoist_docker::connect::check_policy(spec)?;
    }
    // Pipeline runs come from the pipeline's own store in hoist's state folder; the
    // dashboard's audit log sits beside it.
    let state_dir = super::pipeline::state_dir(env)?;
    let runs = hoist_pipeline::history::History::open(&state_dir)?;
    let actions_path = args
        .history
        .clone()
        .unwrap_or_else(|| state_dir.join("ui-actions.sqlite3"));
    if args.history.is_none() {
        // In the state folder, private as the rest of it; a path given by hand is the user's.
        hoist_pipeline::state::private_file(&actions_path)?;
    }
    let actions = SqliteHistory::open(&actions_path)
        .with_context(|| format!("opening {}", actions_path.display()))?;
    let history = PipelineHistory::new(runs, actions);

    super::runtime()?.block_on(async {
        let mut engines = Vec::new();
        for (name, spec) in &specs {
            let engine = Engine::connect(spec)
                .await
                .with_context(|| format!("connecting to engine {name} at {}", spec.host))?;
            engines.push(NamedEngine {
                name: name.clone(),
                engine,
            });
        }
        let state = AppState::new(engines, token, args.read_only, Arc::new(history));
        let listener = tokio::net::TcpListener::bind(args.bind)
            .await
            .with_context(|| format!("binding {}", args.bind))?;
        let local = listener.local_addr()?;
        state.set_host_policy(HostPolicy {
            bound: Some(local),
            extra: args
                .allow_hosts
                .iter()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
        });
        if !args.targets.is_empty() {
            // Services with both colours on a target can be rolled back, as `hoist rollback
            // SERVICE --target NAME` run beside this hoist.yml would.
            state.set_releases(Releases {
                file: crate::context::pipeline_file(&args.config, global, env)?,
                targets: args.targets.clone(),
                state_dir: state_dir.clone(),
                environment: env.all.clone(),
                exec: hoist_docker::execute::ExecOptions {
                    docker_config: crate::context::docker_config(env),
                    ..Default::default()
                },
            });
        }
        state.spawn_event_pumps();
        // The handlers are installed before the address is announced: a Ctrl+C (or a service
        // manager's SIGTERM) that follows the announcement at once stops the dashboard
        // gracefully instead of killing it.
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!("hoist ui: serving on {scheme}://{local}/");
        hoist_web::serve(listener, state, tls, async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        })
        .await?;
        Ok(ExitCode::SUCCESS)
    })
}
