//! `hoist images [SERVICE...]`: the image each container of the project runs, as Docker
//! Compose v2 lists them (a table, `--format json`, `-q` for the unique ids).

use std::collections::BTreeMap;
use std::process::ExitCode;

use futures_util::future::try_join_all;
use hoist_docker::image::ImageInfo;
use hoist_docker::reference::ImageRef;
use serde_json::json;

use crate::cli::{GlobalArgs, ImagesArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

/// One container's image, as Compose summarises it.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    container: String,
    repository: String,
    tag: String,
    image: ImageInfo,
}

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &ImagesArgs) -> anyhow::Result<ExitCode> {
    let spec = load_spec(global, env, &args.services)?;
    let rows = super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
        let engine = &engine;
        let rows = try_join_all(
            observed
                .containers
                .iter()
                .filter(|c| args.services.is_empty() || args.services.contains(&c.service))
                .map(|c| async move {
                    let image = engine.inspect_image(&c.image).await?.ok_or_else(|| {
                        anyhow::anyhow!("no such image {} (of container {})", c.image, c.name)
                    })?;
                    let (repository, tag) = repository_and_tag(&c.image);
                    anyhow::Ok(Row {
                        container: c.name.clone(),
                        repository,
                        tag,
                        image,
                    })
                }),
        )
        .await?;
        anyhow::Ok(rows)
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let text = if args.quiet {
        quiet(&rows)
    } else if args.format == "json" {
        format!("{}\n", as_json(&rows))
    } else if args.format == "table" && spec.legacy {
        legacy_table(&rows)
    } else if args.format == "table" {
        table(&rows, now)
    } else {
        anyhow::bail!("unsupported format {:?}: use table or json", args.format)
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The repository (docker's familiar name) and tag of a container's image reference; empty for
/// an image id.
fn repository_and_tag(reference: &str) -> (String, String) {
    let Ok(r) = ImageRef::parse(reference) else {
        return (String::new(), String::new());
    };
    if reference.starts_with("sha256:") {
        return (String::new(), String::new());
    }
    let familiar = if r.is_docker_hub() {
        r.repository
            .strip_prefix("library/")
            .unwrap_or(&r.repository)
            .to_string()
    } else {
        format!("{}/{}", r.registry, r.repository)
    };
    // A reference with neither tag nor digest means `latest`, as docker reads it.
    let tag = match (&r.tag, &r.digest) {
        (Some(tag), _) => tag.clone(),
        (None, None) => "latest".into(),
        (None, Some(_)) => String::new(),
    };
    (familiar, tag)
}

/// The unique image ids without their `sha256:`, in the rows' order.
fn quiet(rows: &[Row]) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for row in rows {
        let id = row
            .image
            .id
            .split_once(':')
            .map_or(&*row.image.id, |(_, h)| h);
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.iter().map(|id| format!("{id}\n")).collect()
}

/// Compose v2's JSON: one object per container; `LastTagTime` is the image's creation time when
/// it was never tagged on the engine.
fn as_json(rows: &[Row]) -> serde_json::Value {
    rows.iter()
        .map(|r| {
            let tagged = match r.image.last_tag_time.as_str() {
                "" | "0001-01-01T00:00:00Z" => &r.image.created,
                t => t,
            };
            json!({
                "ID": r.image.id,
                "ContainerName": r.container,
                "Repository": r.repository,
                "Tag": r.tag,
                "Platform": r.image.platform,
                "Size": r.image.size,
                "LastTagTime": tagged,
            })
        })
        .collect()
}

/// Compose 1.x's table, kept for legacy v1 projects: the image's own tag that the service names
/// (else its first; `<none>` when it has none), the id's first 12 digits, 1.x's sizes.
fn legacy_table(rows: &[Row]) -> String {
    let sorted: BTreeMap<&str, &Row> = rows.iter().map(|r| (r.container.as_str(), r)).collect();
    let cells: Vec<Vec<String>> = sorted
        .into_iter()
        .map(|(container, r)| {
            let named = format!("{}:{}", r.repository, r.tag);
            let tags = &r.image.repo_tags;
            let chosen = tags.iter().find(|t| **t == named).or(tags.first());
            let (repository, tag) = chosen
                .and_then(|t| t.rsplit_once(':'))
                .map_or(("<none>", "<none>"), |(r, t)| (r, t));
            let hex = r.image.id.split_once(':').map_or(&*r.image.id, |(_, h)| h);
            vec![
                container.to_string(),
                repository.to_string(),
                tag.to_string(),
                hex.chars().take(12).collect(),
                crate::output::legacy_size(r.image.size),
            ]
        })
        .collect();
    crate::output::legacy_table(
        &["Container", "Repository", "Tag", "Image Id", "Size"],
        &cells,
    )
}

/// Compose v2's table, sorted by container: CREATED counts from the image's last tag.
fn table(rows: &[Row], now: i64) -> String {
    let sorted: BTreeMap<&str, &Row> = rows.iter().map(|r| (r.container.as_str(), r)).collect();
    let mut text = String::from("CONTAINER\tREPOSITORY\tTAG\tPLATFORM\tIMAGE ID\tSIZE\tCREATED\n");
    for (container, r) in sorted {
        let hex = r.image.id.split_once(':').map_or(&*r.image.id, |(_, h)| h);
        let created = hoist_docker::inventory::rfc3339_seconds(&r.image.last_tag_time)
            .map(|t| format!("{} ago", super::ps::human_duration(now - t)))
            .unwrap_or_else(|| "N/A".into());
        let or_none = |s: &str| {
            if s.is_empty() {
                "<none>".to_string()
            } else {
                s.to_string()
            }
        };
        text.push_str(&format!(
            "{container}\t{}\t{}\t{}\t{}\t{}\t{created}\n",
            or_none(&r.repository),
            or_none(&r.tag),
            r.image.platform,
            hex.chars().take(12).collect::<String>(),
            crate::output::decimal_size(r.image.size),
        ));
    }
    hoist_core::template::tabwrite_with(&text, 20, 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(container: &str, id: &str, last_tag: &str) -> Row {
        Row {
            container: container.into(),
            repository: "alpine".into(),
            tag: "latest".into(),
            image: ImageInfo {
                id: id.into(),
                repo_tags: Vec::new(),
                repo_digests: Vec::new(),
                size: 1_985_447,
                created: "2024-01-01T00:00:00Z".into(),
                last_tag_time: last_tag.into(),
                platform: "linux/amd64".into(),
            },
        }
    }

    #[test]
    fn table_json_and_quiet_are_composes() {
        let id = "sha256:845a93f1bea58d77484802d4136758f7c155d330b339569d81569efe6c1d2b78";
        let rows = [
            row("ex-web-1", id, "2026-12-07T07:01:49.241466281Z"),
            row("ex-idle-1", id, ""),
        ];
        let now = hoist_docker::inventory::rfc3339_seconds("2026-12-07T07:06:49Z").unwrap();
        assert_eq!(
            table(&rows, now),
            "CONTAINER           REPOSITORY          TAG                 PLATFORM            IMAGE ID            SIZE                CREATED\n\
             ex-idle-1           alpine              latest              linux/amd64         845a93f1bea5        1.99MB              N/A\n\
             ex-web-1            alpine              latest              linux/amd64         845a93f1bea5        1.99MB              5 minutes ago\n"
        );
        assert_eq!(quiet(&rows), format!("{}\n", &id[7..]));
        let json = as_json(&rows);
        assert_eq!(json[0]["LastTagTime"], "2026-12-07T07:01:49.241466281Z");
        assert_eq!(json[1]["LastTagTime"], "2024-01-01T00:00:00Z");
        assert_eq!(json[1]["ContainerName"], "ex-idle-1");
        assert_eq!(json[0]["Size"], 1_985_447);
    }

    #[test]
    fn repository_and_tag_follow_dockers_familiar_names() {
        assert_eq!(
            repository_and_tag("alpine"),
            ("alpine".into(), "latest".into())
        );
        assert_eq!(
            repository_and_tag("10.200.0.1:5000/books-ms:v2"),
            ("10.200.0.1:5000/books-ms".into(), "v2".into())
        );
        assert_eq!(
            repository_and_tag("docker.io/library/debian:bookworm-slim"),
            ("debian".into(), "bookworm-slim".into())
        );
    }
}
