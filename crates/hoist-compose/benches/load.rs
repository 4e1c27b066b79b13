//! Loader benchmarks: resolving a generated 500-service project that uses anchors, merge keys and
//! `extends` chains (target: under 20 ms), and the largest file of the compose corpus.
//!
//! `cargo bench -p hoist-compose --bench load`. Set `HOIST_BENCH_WRITE=<dir>` to also write the
//! generated project there, to time `hoist config` against `docker compose config` on it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use hoist_compose::{LoadOptions, load};

#[path = "support/generate.rs"]
mod support;
use support::generate;

fn write_project(dir: &Path, services: usize) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("compose.yaml");
    std::fs::write(&file, generate(services)).unwrap();
    file
}

fn options(file: PathBuf) -> LoadOptions {
    let dir = file.parent().unwrap().to_path_buf();
    LoadOptions {
        files: vec![file],
        working_dir: dir,
        environment: BTreeMap::from([("HOME".to_string(), "/home/bench".to_string())]),
        project_name: Some("bench".into()),
        ..Default::default()
    }
}

fn largest_corpus_file() -> Option<PathBuf> {
    let root = std::env::var_os("HOIST_COMPOSE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/compose-corpus"));
    let mut best: Option<(u64, PathBuf)> = None;
    for src in std::fs::read_dir(root.join("cases")).ok()?.flatten() {
        for case in std::fs::read_dir(src.path()).ok()?.flatten() {
            let meta = std::fs::read_to_string(case.path().join("case.json")).ok()?;
            let meta: serde_json::Value = serde_json::from_str(&meta).ok()?;
            let file = case.path().join(meta["compose_file"].as_str()?);
            let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            if best.as_ref().is_none_or(|(l, _)| len > *l) {
                best = Some((len, file));
            }
        }
    }
    best.map(|(_, f)| f)
}

fn benches(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("hoist-compose-bench-{}", std::process::id()));
    let file = write_project(&dir, 500);
    if let Some(out) = std::env::var_os("HOIST_BENCH_WRITE") {
        write_project(Path::new(&out), 500);
    }
    let opts = options(file);
    let project = load(&opts).expect("the generated project loads");
    assert_eq!(project.services.len(), 503);
    drop(project);
    c.bench_function("load 500 services (anchors + extends)", |b| {
        b.iter(|| load(&opts).unwrap())
    });
    if let Some(f) = largest_corpus_file() {
        let opts = options(f);
        // The largest corpus file is compose-go's full example, which compose itself rejects
        // (undefined networks): both outcomes run the whole pipeline.
        c.bench_function("load largest corpus file", |b| {
            b.iter(|| load(&opts).is_ok())
        });
    }
    std::fs::remove_dir_all(&dir).ok();
}

criterion_group!(load_benches, benches);
criterion_main!(load_benches);
