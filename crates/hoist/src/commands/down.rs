//! `hoist down`: stop and remove the project's containers, then its networks (and volumes with
//! `-v`).

use std::process::ExitCode;

use hoist_core::plan::{DownOptions, RemoveImages, images_to_remove, reconcile_down};
use hoist_docker::Engine;
use hoist_docker::execute::{ExecOptions, execute};
use hoist_docker::image::ImageRemoval;

use crate::cli::{DownArgs, GlobalArgs};
use crate::context::{connect, load_spec};
use crate::output::Printer;
use crate::settings::EnvVars;

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &DownArgs) -> anyhow::Result<ExitCode> {
    let spec = &load_spec(global, env, &[])?;
    let rmi: Option<RemoveImages> = args
        .rmi
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let printer = Printer::new(args.progress.progress);
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let networks: Vec<String> = spec.networks.iter().map(|n| n.name.clone()).collect();
        let volumes: Vec<String> = spec.volumes.iter().map(|v| v.name.clone()).collect();
        let observed = engine
            .observe_project(&spec.name, &networks, &volumes, &[])
            .await?;
        let plan = reconcile_down(
            spec,
            &observed,
            &DownOptions {
                volumes: args.volumes,
                remove_orphans: args.remove_orphans,
                services: args.services.clone(),
            },
        );
        if args.dry_run {
            print!("{plan}");
            return anyhow::Ok(());
        }
        for warning in &plan.warnings {
            eprintln!("WARN[0000] {warning}");
        }
        if plan.steps.is_empty() && observed.containers.is_empty() {
            eprintln!(
                "WARN[0000] Warning: No resource found to remove for project {:?}.",
                spec.name
            );
        }
        let exec = ExecOptions {
            stop_timeout: args.timeout,
            remove_volumes: args.volumes,
            ..Default::default()
        };
        execute(&engine, spec, &plan, &exec, &printer)
            .await
            .map_err(|e| super::up::failed(e, "down"))?;
        if let Some(mode) = rmi {
            remove_images(&engine, &images_to_remove(spec, mode)).await?;
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Removes each image, reporting as Compose does: in use or missing is not an error.
async fn remove_images(engine: &Engine, images: &[String]) -> anyhow::Result<()> {
    for image in images {
        eprintln!(" Image {image}  Removing");
        let outcome = match engine.remove_image(image).await? {
            ImageRemoval::Removed => "Removed",
            ImageRemoval::InUse => "Resource is still in use",
            ImageRemoval::Missing => "Warning: No resource found to remove",
        };
        eprintln!(" Image {image}  {outcome}");
    }
    Ok(())
}
