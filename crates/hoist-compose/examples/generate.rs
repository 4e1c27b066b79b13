//! Writes the benchmark's generated project (`compose.yaml` with anchors and `extends`) into a
//! directory, for timing `hoist config` against `docker compose config` on it:
//!
//! ```text
//! cargo run --release -p hoist-compose --example generate -- DIR [SERVICES] [--load TIMES]
//! ```
//!
//! `--load TIMES` then resolves it that many times in-process and prints the mean time per load
//! (handy under `perf` or `valgrind`, where criterion's repetitions get in the way).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

#[path = "../benches/support/generate.rs"]
mod support;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut services = 500;
    let mut loads = 0;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--load" => loads = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => services = a.parse().expect("SERVICES is a number"),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: generate DIR [SERVICES] [--load TIMES]");
        std::process::exit(2);
    };
    std::fs::create_dir_all(&dir).expect("create the directory");
    let file = dir.join("compose.yaml");
    std::fs::write(&file, support::generate(services)).expect("write compose.yaml");
    println!("{}", file.display());
    if loads == 0 {
        return;
    }
    let opts = hoist_compose::LoadOptions {
        files: vec![file],
        working_dir: dir,
        environment: BTreeMap::from([("HOME".to_string(), "/home/bench".to_string())]),
        project_name: Some("bench".into()),
        ..Default::default()
    };
    let start = Instant::now();
    for _ in 0..loads {
        let p = hoist_compose::load(&opts).expect("the generated project loads");
        assert_eq!(p.services.len(), services + 3);
    }
    println!(
        "{:.2} ms per load",
        start.elapsed().as_secs_f64() * 1000.0 / loads as f64
    );
}
