//! `hoist cp SERVICE:SRC DEST` and `hoist cp SRC SERVICE:DEST`: files between a service's
//! container and this machine, as `docker compose cp` copies them (`-` for a tar on stdin or
//! stdout, `-a` keeps owners, `-L` follows a symbolic link, `--index`), on any engine, streamed
//! both ways: memory stays a few chunks whatever the size.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use futures_util::StreamExt;
use hoist_core::observed::ObservedContainer;
use hoist_docker::Engine;
use hoist_docker::copy::{
    CopyError, PathStat, Placement, chunk_pipe, placement, read_pipe, unpack,
};

use crate::cli::{CpArgs, GlobalArgs};
use crate::context::{connect, load_spec};
use crate::settings::EnvVars;

/// Chunks in flight in either direction (each at most [`CHUNK`]).
const DEPTH: usize = 8;
const CHUNK: usize = 256 << 10;

/// `SERVICE:PATH` or a local path, as Compose splits a `cp` argument: absolute paths and paths
/// starting with `.` are local whatever they contain.
fn split(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((service, path)) if !service.starts_with('.') => (Some(service), path),
        _ => (None, arg),
    }
}

pub fn run(global: &GlobalArgs, env: &EnvVars, args: &CpArgs) -> anyhow::Result<ExitCode> {
    let (from, source) = split(&args.source);
    let (to, dest) = split(&args.dest);
    let (service, from_service) = match (from, to) {
        (Some(_), Some(_)) => anyhow::bail!("copying between services is not supported"),
        (None, None) => anyhow::bail!("unknown copy direction"),
        (Some(s), None) => (s, true),
        (None, Some(s)) => (s, false),
    };
    let spec = load_spec(global, env, &[service.to_string()])?;
    super::runtime()?.block_on(async {
        let engine = connect(global, env).await?;
        let observed = engine.observe_project(&spec.name, &[], &[], &[]).await?;
        let mut targets = targets(&observed.containers, service, args.index, args.all)?;
        if from_service {
            targets.truncate(1);
        }
        for c in targets {
            let what = match from_service {
                true => format!("copy {}:{source} to {dest}", c.name),
                false => format!("copy {source} to {}:{dest}", c.name),
            };
            eprintln!(" {} {what} Copying", c.name);
            match from_service {
                true => copy_from(&engine, &c.name, source, dest, args).await?,
                false => copy_to(&engine, &c.name, source, dest, args).await?,
            }
            eprintln!(" {} {what} Copied", c.name);
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The containers a copy reaches: number `index` when given (0: every container of the
/// service, stopped ones too; one-offs with `all`), in number order.
fn targets(
    containers: &[ObservedContainer],
    service: &str,
    index: u32,
    all: bool,
) -> anyhow::Result<Vec<ObservedContainer>> {
    let mut list: Vec<ObservedContainer> = containers
        .iter()
        .filter(|c| c.service == service && (!c.oneoff || (all && index == 0)))
        .filter(|c| index == 0 || c.number == index)
        .cloned()
        .collect();
    list.sort_by_key(|c| (c.oneoff, c.number));
    if list.is_empty() {
        match index {
            0 => anyhow::bail!("no container found for service {service:?}"),
            n => anyhow::bail!("service {service:?} has no container number {n}"),
        }
    }
    Ok(list)
}

/// Container → here: the engine's tar of `source`, to stdout for `-`, else unpacked where
/// `docker cp` puts it.
async fn copy_from(
    engine: &Engine,
    container: &str,
    source: &str,
    dest: &str,
    args: &CpArgs,
) -> anyhow::Result<()> {
    let stat = engine
        .stat_path(container, source)
        .await?
        .ok_or_else(|| CopyError::NoSuchPath {
            container: container.to_string(),
            path: source.to_string(),
        })?;
    // `-L`: the link's target, under the link's name.
    let (path, stat, rebase) = match (args.follow_link, stat.is_symlink) {
        (true, true) => {
            let target = absolute_in(source, &stat.link_target);
            let followed = engine.stat_path(container, &target).await?.ok_or_else(|| {
                CopyError::NoSuchPath {
                    container: container.to_string(),
                    path: target.clone(),
                }
            })?;
            (target, followed, Some(base(source).to_string()))
        }
        _ => (source.to_string(), stat, None),
    };
    let mut archive = Box::pin(engine.archive_of(container, &path)?);
    if dest == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = archive.next().await {
            out.write_all(&chunk?)?;
        }
        out.flush()?;
        return Ok(());
    }
    let dest_path = PathBuf::from(dest);
    let dest_is_dir = std::fs::metadata(&dest_path).ok().map(|m| m.is_dir());
    let place = placement(&path, stat.is_dir, dest, dest_is_dir)?;
    let (tx, reader) = read_pipe(DEPTH);
    let keep_owners = args.archive;
    let archived = base(&path).to_string();
    // Where no new name is given, a followed link lands under the link's name.
    let name = rebase.unwrap_or_else(|| archived.clone());
    let unpacking =
        tokio::task::spawn_blocking(move || land(reader, &place, &archived, &name, keep_owners));
    while let Some(chunk) = archive.next().await {
        let chunk = chunk.map_err(|e| e.to_string());
        let failed = chunk.is_err();
        if tx.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    unpacking.await??;
    Ok(())
}

/// Unpacks the archive into a staging directory beside the destination, then moves its top
/// entry (named `top` in the archive) into place, as `name` unless the placement renames it: an
/// archive never writes outside the staging directory, and a rename within one filesystem costs
/// nothing whatever the size.
fn land(
    reader: impl std::io::Read,
    place: &Placement,
    top: &str,
    name: &str,
    keep_owners: bool,
) -> Result<(), CopyError> {
    let dir = Path::new(&place.dir);
    let staging = tempfile::Builder::new()
        .prefix(".hoist-cp-")
        .tempdir_in(dir)
        .map_err(|e| CopyError::local("preparing the copy in", dir, e))?;
    unpack(reader, staging.path(), keep_owners)?;
    // The engine names a directory's contents (`SRC/.`) `.`: the staging directory itself.
    let landed = match top {
        "." => staging.path().to_path_buf(),
        name => staging.path().join(name),
    };
    if place.contents {
        for entry in
            std::fs::read_dir(&landed).map_err(|e| CopyError::local("reading", &landed, e))?
        {
            let entry = entry.map_err(|e| CopyError::local("reading", &landed, e))?;
            let to = dir.join(entry.file_name());
            replace(&entry.path(), &to)?;
        }
        return Ok(());
    }
    let to = dir.join(place.rename.as_deref().unwrap_or(name));
    replace(&landed, &to)
}

/// Moves `from` to `to`; into an existing directory `to`, `from`'s entries are merged, as
/// unpacking over it would.
fn replace(from: &Path, to: &Path) -> Result<(), CopyError> {
    if from.is_dir() && to.is_dir() {
        for entry in std::fs::read_dir(from).map_err(|e| CopyError::local("reading", from, e))? {
            let entry = entry.map_err(|e| CopyError::local("reading", from, e))?;
            replace(&entry.path(), &to.join(entry.file_name()))?;
        }
        return Ok(());
    }
    std::fs::rename(from, to).map_err(|e| CopyError::local("writing", to, e))
}

/// Here → container: a tar of `source` (or stdin's, for `-`) built as the upload reads it, to
/// where `docker cp` puts it.
async fn copy_to(
    engine: &Engine,
    container: &str,
    source: &str,
    dest: &str,
    args: &CpArgs,
) -> anyhow::Result<()> {
    let dest_stat = match engine.stat_path(container, dest).await? {
        // A link at the destination is followed, as docker does.
        Some(PathStat {
            is_symlink: true,
            link_target,
            ..
        }) => {
            let target = absolute_in(dest, &link_target);
            engine
                .stat_path(container, &target)
                .await?
                .map(|s| (target, s))
        }
        other => other.map(|s| (dest.to_string(), s)),
    };
    let (writer, body) = chunk_pipe(DEPTH);
    if source == "-" {
        let Some((dir, PathStat { is_dir: true, .. })) = dest_stat else {
            anyhow::bail!("destination \"{container}:{dest}\" must be a directory");
        };
        tokio::task::spawn_blocking(move || pipe_stdin(writer));
        engine
            .extract_into(container, &dir, body, args.archive)
            .await?;
        return Ok(());
    }
    let local_meta = match args.follow_link {
        true => std::fs::metadata(source),
        false => std::fs::symlink_metadata(source),
    }
    .map_err(|e| CopyError::local("reading", Path::new(source), e))?;
    let (dest_path, dest_is_dir) = match &dest_stat {
        Some((path, stat)) => (path.clone(), Some(stat.is_dir)),
        None => (dest.to_string(), None),
    };
    let place = placement(source, local_meta.is_dir(), &dest_path, dest_is_dir)?;
    let source = PathBuf::from(source);
    let (keep_owners, follow) = (args.archive, args.follow_link);
    let dir = place.dir.clone();
    let building = tokio::task::spawn_blocking(move || build(writer, &source, &place, follow));
    let uploaded = engine
        .extract_into(container, &dir, body, keep_owners)
        .await;
    let built = building.await?;
    uploaded?;
    built?;
    Ok(())
}

/// Copies hoist's stdin (a tar) into the pipe, in chunks.
fn pipe_stdin(writer: hoist_docker::copy::ChunkWriter) {
    use std::io::{Read, Write};
    let mut writer = writer;
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; CHUNK];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if writer.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) => return writer.fail(e),
        }
    }
}

/// Writes the tar of `source` into `writer`, named as `place` says.
fn build(
    writer: hoist_docker::copy::ChunkWriter,
    source: &Path,
    place: &Placement,
    follow: bool,
) -> Result<(), CopyError> {
    let top = place
        .rename
        .clone()
        .or_else(|| source.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| ".".into());
    let buffered = std::io::BufWriter::with_capacity(CHUNK, writer);
    let mut tar = tar::Builder::new(buffered);
    tar.follow_symlinks(follow);
    // Modes and owners as they are here; the engine gives the owners to its root unless `-a`.
    tar.mode(tar::HeaderMode::Complete);
    let failed = |e: std::io::Error| CopyError::local("reading", source, e);
    let is_dir = match follow {
        true => std::fs::metadata(source),
        false => std::fs::symlink_metadata(source),
    }
    .map_err(failed)?
    .is_dir();
    match (is_dir, place.contents) {
        (true, true) => tar.append_dir_all(".", source).map_err(failed)?,
        (true, false) => tar.append_dir_all(&top, source).map_err(failed)?,
        (false, _) => tar.append_path_with_name(source, &top).map_err(failed)?,
    }
    let buffered = tar.into_inner().map_err(failed)?;
    buffered
        .into_inner()
        .map_err(|e| CopyError::local("uploading", source, e.into_error()))?;
    Ok(())
}

/// The last component of a container path.
fn base(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// A link target in the container, made absolute against the link's directory.
fn absolute_in(link: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_string();
    }
    let parent = link
        .trim_end_matches('/')
        .rsplit_once('/')
        .map_or("", |(p, _)| p);
    format!("{parent}/{target}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_as_composes() {
        assert_eq!(split("web:/etc/hosts"), (Some("web"), "/etc/hosts"));
        assert_eq!(split("/tmp/a:b"), (None, "/tmp/a:b"));
        assert_eq!(split("./file:name.txt"), (None, "./file:name.txt"));
        assert_eq!(split("plain"), (None, "plain"));
        assert_eq!(split("-"), (None, "-"));
    }

    #[test]
    fn paths_in_the_container() {
        assert_eq!(base("/etc/nginx/"), "nginx");
        assert_eq!(base("hosts"), "hosts");
        assert_eq!(absolute_in("/etc/alt/x", "../real"), "/etc/alt/../real");
        assert_eq!(absolute_in("/etc/x", "/abs"), "/abs");
    }
}
