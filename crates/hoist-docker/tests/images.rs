//! Images through the adapter on the dev environment: a classic-builder build whose context
//! honours `.dockerignore` and whose build argument reaches the image, pushed from cd to the
//! registry and pulled on prod through 10.200.0.1:5000 (the book's cd → registry → prod path),
//! and the named errors for a failing build step, a missing image and an unreachable registry.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{BASE, run};
use hoist_docker::{BuildError, BuildSpec, DockerConfig, ExecCommand, ImageError, LayerProgress};
use hoist_testkit::{REGISTRY_FROM_CD, REGISTRY_FROM_PROD, TestProject, engine};

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

async fn exec_text(engine: &hoist_docker::Engine, container: &str, argv: &[&str]) -> String {
    let out = engine
        .exec(container, &ExecCommand::new(argv.iter().copied()))
        .await
        .expect("exec");
    assert!(out.success(), "{argv:?} failed: {}", out.stderr_text());
    out.stdout_text()
}

#[tokio::test]
async fn a_built_image_is_pushed_from_cd_and_pulled_on_prod() {
    let Some(cd) = engine("cd").await else { return };
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("docker-build", &[&cd, &prod]);
    let repo = format!("hoist-test/{}", project.name);
    let v1 = format!("{REGISTRY_FROM_CD}/{repo}:v1");
    let latest = format!("{REGISTRY_FROM_CD}/{repo}:latest");
    project.track_image(0, &v1);
    project.track_image(0, &latest);

    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        &format!(
            "FROM {BASE}\nARG GREETING=unset\nRUN echo \"$GREETING\" > /greeting\nCOPY . /ctx/\n"
        ),
    );
    write(ctx.path(), ".dockerignore", "secret.txt\n*.tmp\n");
    write(ctx.path(), "secret.txt", "do not ship\n");
    write(ctx.path(), "notes.tmp", "scratch\n");
    write(ctx.path(), "app/keep.txt", "kept\n");
    let spec = BuildSpec {
        context: ctx.path().to_path_buf(),
        build_args: BTreeMap::from([("GREETING".into(), "hello-from-hoist".into())]),
        labels: project.labels().into_iter().collect(),
        tags: vec![v1.clone(), latest.clone()],
        ..Default::default()
    };
    let mut output = Vec::new();
    let built = cd
        .build(&spec, &[], |line| output.push(line.to_string()))
        .await
        .unwrap_or_else(|e| panic!("build failed: {e}\n{}", output.join("\n")));
    assert!(built.image_id.starts_with("sha256:"), "{built:?}");
    assert!(
        output
            .iter()
            .any(|l| l.starts_with("Step 1/") && l.contains(": FROM")),
        "the builder's output is streamed: {output:?}"
    );
    for tag in [&v1, &latest] {
        let info = cd.inspect_image(tag).await.unwrap().expect("tagged");
        assert_eq!(info.id, built.image_id, "{tag}");
    }

    // The build argument is in the image, the ignored files are not.
    let probe = run(&cd, &project, "probe", &v1, &["sleep", "300"], false).await;
    assert_eq!(
        exec_text(&cd, &probe, &["cat", "/greeting"]).await,
        "hello-from-hoist\n"
    );
    let listed = exec_text(&cd, &probe, &["ls", "-A", "/ctx"]).await;
    let mut files: Vec<_> = listed.lines().collect();
    files.sort();
    assert_eq!(files, [".dockerignore", "Dockerfile", "app"]);

    // Push with credentials read from a config file (the registry accepts anyone).
    let config_dir = tempfile::tempdir().unwrap();
    let config_path = config_dir.path().join("config.json");
    std::fs::write(
        &config_path,
        r#"{"auths": {"localhost:5000": {"auth": "Y2k6cHc="}}}"#,
    )
    .unwrap();
    let auth = DockerConfig::load(&config_path)
        .unwrap()
        .credentials_for_image(&v1)
        .unwrap();
    assert!(auth.is_some());
    let mut pushed_progress: Vec<LayerProgress> = Vec::new();
    let pushed = cd
        .push(&v1, auth.as_ref(), |p| pushed_progress.push(p))
        .await
        .expect("push from cd");
    let digest = pushed
        .digest
        .clone()
        .expect("the registry reports a digest");
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert!(!pushed_progress.is_empty());

    let on_prod = format!("{REGISTRY_FROM_PROD}/{repo}:v1");
    project.track_image(1, &on_prod);
    let mut pulled_progress: Vec<LayerProgress> = Vec::new();
    let pulled = prod
        .pull(&on_prod, None, |p| pulled_progress.push(p))
        .await
        .expect("pull on prod");
    assert_eq!(pulled.reference, on_prod);
    assert_eq!(pulled.digest.as_deref(), Some(digest.as_str()));
    assert!(
        pulled_progress.iter().any(|p| p.layer.is_some()),
        "per-layer progress: {pulled_progress:?}"
    );
    let info = prod.inspect_image(&on_prod).await.unwrap().expect("pulled");
    assert_eq!(info.id, built.image_id, "same image on both engines");
    assert!(
        info.repo_digests
            .contains(&format!("{REGISTRY_FROM_PROD}/{repo}@{digest}")),
        "{:?}",
        info.repo_digests
    );
    assert!(info.size > 0 && !info.created.is_empty(), "{info:?}");
    assert!(prod.image_exists(&on_prod).await.unwrap());
}

#[tokio::test]
async fn a_failing_build_step_is_an_error_with_the_builders_message() {
    let Some(cd) = engine("cd").await else { return };
    let project = TestProject::new("docker-build-fail", &[&cd]);
    let tag = format!("{REGISTRY_FROM_CD}/hoist-test/{}:broken", project.name);
    project.track_image(0, &tag);
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "build/app.Dockerfile",
        &format!(
            "FROM {BASE} AS base\nRUN echo first-stage\nFROM base AS final\nRUN echo failing-step && exit 3\n"
        ),
    );
    let mut spec = BuildSpec {
        context: ctx.path().to_path_buf(),
        dockerfile: Some("build/app.Dockerfile".into()),
        tags: vec![tag.clone()],
        no_cache: true,
        ..Default::default()
    };
    let mut output = Vec::new();
    let err = cd
        .build(&spec, &[], |line| output.push(line.to_string()))
        .await
        .unwrap_err();
    match &err {
        BuildError::StepFailed {
            image,
            step,
            message,
        } => {
            assert_eq!(image, &tag);
            assert!(message.contains("returned a non-zero code: 3"), "{message}");
            assert!(
                step.as_deref()
                    .is_some_and(|s| s.contains("RUN echo failing-step")),
                "{step:?}"
            );
        }
        other => panic!("expected StepFailed, got {other}"),
    }
    assert!(output.iter().any(|l| l == "failing-step"), "{output:?}");
    assert!(!cd.image_exists(&tag).await.unwrap());

    // No container of the failed step is left behind.
    let leftovers = cd
        .docker()
        .list_containers(Some(
            bollard::query_parameters::ListContainersOptionsBuilder::default()
                .all(true)
                .build(),
        ))
        .await
        .unwrap();
    assert!(
        !leftovers.iter().any(|c| c
            .command
            .as_deref()
            .is_some_and(|cmd| cmd.contains("failing-step"))),
        "a failed build container was left behind"
    );

    // `target` stops at an earlier stage, which builds (from the cache the failed build left,
    // so that the stage's layer is the tagged image and is removed with it).
    spec.target = Some("base".into());
    spec.no_cache = false;
    let built = cd.build(&spec, &[], |_| {}).await.expect("target build");
    assert_eq!(
        cd.inspect_image(&tag).await.unwrap().unwrap().id,
        built.image_id
    );
}

#[tokio::test]
async fn pulling_a_missing_image_names_the_image_and_the_registry() {
    let Some(prod) = engine("prod").await else {
        return;
    };
    let project = TestProject::new("docker-pull-missing", &[&prod]);
    let missing = format!("{REGISTRY_FROM_PROD}/hoist-test/{}:nope", project.name);
    let err = prod.pull(&missing, None, |_| {}).await.unwrap_err();
    assert!(
        matches!(&err, ImageError::NotFound { image, registry } if image == &missing && registry == REGISTRY_FROM_PROD),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&missing) && msg.contains("registry 10.200.0.1:5000"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_push_failure_reported_inside_the_progress_stream_is_an_error() {
    let Some(cd) = engine("cd").await else { return };
    let project = TestProject::new("docker-push-fail", &[&cd]);
    // Nothing listens on this port: the engine answers 200 and reports the failure in the
    // stream.
    let nowhere = format!("localhost:5999/hoist-test/{}:v1", project.name);
    cd.tag(BASE, &nowhere).await.expect("tag");
    project.track_image(0, &nowhere);
    let err = cd.push(&nowhere, None, |_| {}).await.unwrap_err();
    assert!(
        matches!(&err, ImageError::RegistryUnreachable { registry, .. } if registry == "localhost:5999"),
        "{err:?}"
    );
    let not_local = format!("{REGISTRY_FROM_CD}/hoist-test/{}:absent", project.name);
    let err = cd.push(&not_local, None, |_| {}).await.unwrap_err();
    assert!(matches!(err, ImageError::NotLocal { .. }), "{err:?}");
    let err = cd
        .tag("hoist-test/no-such-source:v9", &nowhere)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::NotLocal { .. }), "{err:?}");
    assert_eq!(
        cd.inspect_image("hoist-test/no-such-image:v9")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_context_larger_than_one_chunk_is_streamed_to_a_remote_engine_over_tls() {
    let Some(tls) = engine("prod-tls").await else {
        return;
    };
    let project = TestProject::new("docker-build-tls", &[&tls]);
    let tag = format!("hoist-test/{}:v1", project.name);
    project.track_image(0, &tag);
    let ctx = tempfile::tempdir().unwrap();
    write(
        ctx.path(),
        "Dockerfile",
        &format!("FROM {BASE}\nCOPY data /data\n"),
    );
    // 3 MiB of varied bytes: many body chunks, and a checksum that catches reordering.
    let data: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::create_dir_all(ctx.path().join("data")).unwrap();
    std::fs::write(ctx.path().join("data/blob.bin"), &data).unwrap();
    let spec = BuildSpec {
        context: ctx.path().to_path_buf(),
        tags: vec![tag.clone()],
        ..Default::default()
    };
    let built = tls.build(&spec, &[], |_| {}).await.expect("build over TLS");
    assert_eq!(
        tls.inspect_image(&tag).await.unwrap().unwrap().id,
        built.image_id
    );
    let probe = run(&tls, &project, "probe", &tag, &["sleep", "300"], false).await;
    let listed = exec_text(
        &tls,
        &probe,
        &["sh", "-c", "wc -c < /data/blob.bin; cksum < /data/blob.bin"],
    )
    .await;
    let expected_sum = {
        let out = std::process::Command::new("cksum")
            .stdin(std::fs::File::open(ctx.path().join("data/blob.bin")).unwrap())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(listed, format!("{}\n{expected_sum}", data.len()));
}
