//! `hoist proxy certs|renew|install --target T`: the certificates a target's proxies serve,
//! listed, renewed (ACME) or installed (the user's own files), on every host of the target.
//! The certificates live on the target (the proxy's volume), so any machine that reaches it
//! sees and renews the same ones.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use hoist_core::events::EventSink;
use hoist_docker::Engine;
use hoist_pipeline::config::{PipelineFile, Target};
use hoist_pipeline::proxy::Proxy;
use hoist_pipeline::proxy::config::CertSource;
use hoist_pipeline::proxy::tls::{self, Ensured, TlsWant};

use crate::cli::GlobalArgs;
use crate::settings::EnvVars;

#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// List the certificates the target's proxies serve: host, serial, issuer, expiry.
    Certs(CertsArgs),
    /// Renew the ACME certificates that expire within 30 days (every one with --force).
    Renew(RenewArgs),
    /// Install your own certificate (chain) and key for a host name; the key must match.
    Install(InstallArgs),
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// A target of `hoist.yml`.
    #[arg(long)]
    pub target: String,
    /// The pipeline file that names the targets.
    #[arg(
        long = "pipeline-file",
        value_name = "PATH",
        default_value = "hoist.yml"
    )]
    pub pipeline_file: PathBuf,
}

#[derive(Debug, Args)]
pub struct CertsArgs {
    #[command(flatten)]
    pub on: TargetArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RenewArgs {
    #[command(flatten)]
    pub on: TargetArgs,
    /// Renew even certificates that do not expire soon.
    #[arg(long)]
    pub force: bool,
    /// Only these host names (default: every ACME certificate the proxy serves).
    pub hosts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub on: TargetArgs,
    /// The host name the certificate is served for.
    pub host: String,
    /// The certificate, PEM (the leaf first, then its chain).
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// Its private key, PEM (PKCS#8).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
}

pub fn run(global: &GlobalArgs, env: &EnvVars, cmd: &ProxyCommand) -> anyhow::Result<ExitCode> {
    let on = match cmd {
        ProxyCommand::Certs(a) => &a.on,
        ProxyCommand::Renew(a) => &a.on,
        ProxyCommand::Install(a) => &a.on,
    };
    let (_, target) = target_of(global, env, on)?;
    super::runtime()?.block_on(async {
        let engines = connect(&target).await?;
        let proxies = proxies_of(&target, &engines);
        match cmd {
            ProxyCommand::Certs(args) => certs(&target, &proxies, args.json).await,
            ProxyCommand::Renew(args) => renew(&target, &proxies, args).await,
            ProxyCommand::Install(args) => install(&proxies, args).await,
        }
    })
}

/// The target `--target` names in the pipeline file; a Swarm's proxy is refused.
pub(super) fn target_of(
    global: &GlobalArgs,
    env: &EnvVars,
    on: &TargetArgs,
) -> anyhow::Result<(PipelineFile, Target)> {
    let file = crate::context::pipeline_file(&on.pipeline_file, global, env)?;
    let target = file.target(&on.target).cloned().ok_or_else(|| {
        let names: Vec<&str> = file.targets.iter().map(|t| t.name.as_str()).collect();
        anyhow::anyhow!(
            "{}: no target {} (targets: {})",
            on.pipeline_file.display(),
            on.target,
            names.join(", ")
        )
    })?;
    if target.swarm.is_some() {
        anyhow::bail!(
            "target {}: its proxy runs on the Swarm's manager and is changed by releases; \
             certificates and maintenance are for targets of hosts",
            target.name
        );
    }
    Ok((file, target))
}

/// Every host's engine, in the target's order.
pub(super) async fn connect(target: &Target) -> anyhow::Result<Vec<Engine>> {
    let mut engines = Vec::new();
    for member in target.members() {
        let engine = Engine::connect(&member.engine_spec())
            .await
            .map_err(|e| anyhow::anyhow!("target {}: {e}", member.name))?;
        engines.push(engine);
    }
    Ok(engines)
}

/// Every host's proxy.
pub(super) fn proxies_of<'e>(target: &Target, engines: &'e [Engine]) -> Vec<Proxy<'e>> {
    target
        .members()
        .iter()
        .zip(engines)
        .map(|(member, engine)| Proxy::new(engine, member.proxy.clone()))
        .collect()
}

/// Prints what each proxy's step says, on stderr.
pub(super) struct Say;

impl EventSink for Say {
    fn emit(&self, event: hoist_core::events::Event) {
        eprintln!("{} {}: {}", event.kind, event.name, event.text);
    }
}

async fn certs(target: &Target, proxies: &[Proxy<'_>], json: bool) -> anyhow::Result<ExitCode> {
    let now = tls::now();
    let mut rows = Vec::new();
    for (member, proxy) in target.members().iter().zip(proxies) {
        for (entry, info) in tls::list(proxy).await? {
            rows.push((member.name.clone(), entry, info));
        }
    }
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(host, entry, info)| {
                serde_json::json!({
                    "Host": entry.host,
                    "Target": host,
                    "Source": source_name(entry.source),
                    "Serial": entry.serial,
                    "Names": info.as_ref().map(|i| i.names.clone()),
                    "Issuer": info.as_ref().map(|i| i.issuer.clone()),
                    "NotAfter": info.as_ref().map(|i| i.not_after),
                    "DaysLeft": info.as_ref().map(|i| i.days_left(now)),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = vec![
        [
            "HOST",
            "TARGET HOST",
            "SOURCE",
            "SERIAL",
            "EXPIRES",
            "DAYS LEFT",
            "ISSUER",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (host, entry, info) in &rows {
        let (expires, days, issuer) = match info {
            Some(i) => (
                expiry_date(i.not_after),
                i.days_left(now).to_string(),
                i.issuer.clone(),
            ),
            None => (
                "-".into(),
                "-".into(),
                "(the certificate file is missing)".into(),
            ),
        };
        table.push(vec![
            entry.host.clone(),
            host.clone(),
            source_name(entry.source).into(),
            entry.serial.clone(),
            expires,
            days,
            issuer,
        ]);
    }
    print!("{}", super::ps::columns(&table));
    Ok(ExitCode::SUCCESS)
}

fn source_name(source: CertSource) -> &'static str {
    match source {
        CertSource::Acme => "acme",
        CertSource::Own => "own",
    }
}

/// `2027-03-01 12:00 UTC`.
fn expiry_date(secs: i64) -> String {
    let full = crate::output::utc(secs as f64);
    format!("{} UTC", &full[..full.len() - 3])
}

async fn renew(
    target: &Target,
    proxies: &[Proxy<'_>],
    args: &RenewArgs,
) -> anyhow::Result<ExitCode> {
    let Some(first) = proxies.first() else {
        return Ok(ExitCode::SUCCESS);
    };
    let table = first.config().await?;
    let hosts: Vec<String> = table
        .certificates
        .iter()
        .filter(|c| c.source == CertSource::Acme)
        .map(|c| c.host.clone())
        .filter(|h| args.hosts.is_empty() || args.hosts.contains(h))
        .collect();
    for wanted in &args.hosts {
        if !hosts.contains(wanted) {
            anyhow::bail!(
                "target {}: the proxy serves no ACME certificate for {wanted}",
                target.name
            );
        }
    }
    let mut failed = false;
    for host in hosts {
        match tls::ensure(
            proxies,
            &host,
            &TlsWant::Acme,
            &target.acme,
            args.force,
            &Say,
        )
        .await
        {
            Ok(Ensured::Kept { serial, days }) => {
                println!("{host}: certificate {serial} kept ({days} days left)")
            }
            Ok(Ensured::Installed { serial, why }) => {
                println!("{host}: certificate {serial} installed ({why})")
            }
            Err(e) => {
                eprintln!("error: {e}; the certificate served so far stays");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn install(proxies: &[Proxy<'_>], args: &InstallArgs) -> anyhow::Result<ExitCode> {
    let read = |path: &PathBuf| {
        std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    };
    let (cert, key) = (read(&args.cert)?, read(&args.key)?);
    let info = tls::install(proxies, &args.host, &cert, &key, CertSource::Own, &Say).await?;
    println!(
        "{}: certificate {} installed (expires {})",
        args.host,
        info.serial,
        expiry_date(info.not_after)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::expiry_date;

    #[test]
    fn expiry_dates_are_civil_dates_in_utc() {
        assert_eq!(expiry_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(expiry_date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(expiry_date(1_796_083_200 + 3_660), "2026-12-01 01:01 UTC");
    }
}
