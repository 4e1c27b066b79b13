//! Runs every case of the compose compatibility corpus (`/work/shared/compose-corpus`, or
//! `HOIST_COMPOSE_CORPUS`) the way its README says Docker Compose v2.40.3 was run: the case's
//! working directory, only `PATH`, `HOME`, `COMPOSE_PROJECT_NAME=<case folder>` and the case's
//! variables in the environment. Where compose succeeded, what hoist's `config --format json`
//! prints must be `expected.json` byte for byte (placeholders substituted). Where it failed, hoist must fail too and
//! its message must name one of the files, services or keys compose's message names. Prints the
//! agreement per source and overall, every disagreeing case with its reason, and fails below
//! the floor.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as J;

/// Lowest overall agreement accepted, in percent.
const FLOOR: f64 = 99.0;
/// The home directory given to each run; `@HOME@` in expectations stands for it.
const HOME: &str = "/nonexistent/hoist-home";

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("HOIST_COMPOSE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/compose-corpus"));
    dir.join("cases").is_dir().then_some(dir)
}

/// Words of compose's error message that say which file, service or key is concerned.
fn salient(err: &str, cases: &str) -> Vec<String> {
    let mut out = Vec::new();
    let text = err.replace("@CASES@", cases);
    // Quoted names.
    for q in ['\'', '"'] {
        let parts: Vec<&str> = text.split(q).collect();
        for (i, p) in parts.iter().enumerate() {
            if i % 2 == 1 && !p.is_empty() && p.len() < 80 && !p.contains(' ') {
                out.push(p.to_string());
            }
        }
    }
    // Dotted paths: `services.web.ports`.
    for word in text.split_whitespace() {
        let w = word.trim_matches(|c: char| c == ':' || c == ',' || c == '"' || c == '\'');
        if w.starts_with("services.")
            || w.starts_with("networks.")
            || w.starts_with("volumes.")
            || w.starts_with("secrets.")
            || w.starts_with("configs.")
        {
            for seg in w.split('.').skip(1) {
                if !seg.is_empty() && seg.parse::<usize>().is_err() && seg != "[]" {
                    out.push(seg.to_string());
                }
            }
        }
        // File names.
        if w.contains('/')
            && let Some(base) = Path::new(w).file_name()
        {
            let b = base.to_string_lossy().to_string();
            if b.contains('.') {
                out.push(b);
            }
        }
    }
    // `service "x"` / `service x`.
    let words: Vec<&str> = text.split_whitespace().collect();
    for pair in words.windows(2) {
        if matches!(
            pair[0],
            "service" | "services" | "network" | "volume" | "secret" | "config"
        ) {
            out.push(
                pair[1]
                    .trim_matches(|c: char| !c.is_alphanumeric() && c != '_' && c != '-')
                    .to_string(),
            );
        }
    }
    out.retain(|s| !s.is_empty());
    out.sort();
    out.dedup();
    out
}

struct Outcome {
    source: String,
    case: String,
    ok: bool,
    reason: String,
}

/// How a case is run: its `case.json`, and the load options (file, working directory,
/// environment) its README describes.
fn case_options(dir: &Path) -> (J, hoist_compose::LoadOptions) {
    let case = dir.file_name().unwrap().to_string_lossy().to_string();
    let meta: J =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let compose_file = meta["compose_file"].as_str().unwrap_or("compose.yaml");
    let workdir = dir.join(meta["workdir"].as_str().unwrap_or("."));
    let mut env = BTreeMap::new();
    env.insert("PATH".to_string(), "/usr/bin:/bin".to_string());
    env.insert("HOME".to_string(), HOME.to_string());
    env.insert("COMPOSE_PROJECT_NAME".to_string(), case.clone());
    if let Some(J::Object(extra)) = meta.get("env") {
        for (k, v) in extra {
            env.insert(k.clone(), v.as_str().unwrap_or_default().to_string());
        }
    }
    if let Ok(text) = std::fs::read_to_string(dir.join("case.env")) {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                env.insert(k.to_string(), v.to_string());
            }
        }
    }
    let file = if workdir.join(compose_file).is_file() {
        workdir.join(compose_file)
    } else {
        dir.join(compose_file)
    };
    let opts = hoist_compose::LoadOptions {
        files: vec![file],
        environment: env,
        working_dir: workdir,
        ..Default::default()
    };
    (meta, opts)
}

fn run_case(dir: &Path, cases: &Path) -> Outcome {
    let source = dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let case = dir.file_name().unwrap().to_string_lossy().to_string();
    let (meta, opts) = case_options(dir);
    // The printed text (as `config --format json` prints it), and the typed model built from the
    // tree: both must succeed where compose did.
    let result = std::panic::catch_unwind(|| {
        hoist_compose::load_canonical(&opts).and_then(|c| {
            let mut tree = c.json.clone();
            hoist_compose::print_form(&mut tree, true);
            let mut printed = Vec::new();
            hoist_compose::json::write_go_json(&mut printed, &tree).expect("the tree serialises");
            let printed = String::from_utf8(printed).expect("JSON is UTF-8");
            c.into_project().map(|_| printed)
        })
    });
    let cases_s = cases.display().to_string();
    let expected_rc = meta["rc"].as_i64().unwrap_or(0);
    let (ok, reason) = match result {
        Err(_) => (false, "panicked".to_string()),
        Ok(res) => {
            if expected_rc == 0 {
                let text = std::fs::read_to_string(dir.join("expected.json")).unwrap_or_default();
                let text = text.replace("@CASES@", &cases_s).replace("@HOME@", HOME);
                match res {
                    Err(e) => (false, format!("hoist failed: {e}")),
                    // Byte for byte: the same fields, values, order and escaping.
                    Ok(printed) if printed == text => (true, String::new()),
                    Ok(printed) => {
                        let expected: J = serde_json::from_str(&text).unwrap_or(J::Null);
                        let got: J = serde_json::from_str(&printed).unwrap_or(J::Null);
                        let why = if got == expected {
                            "the same tree, printed in another order or escaping".to_string()
                        } else {
                            first_diff(&expected, &got, "")
                        };
                        (false, format!("differs: {why}"))
                    }
                }
            } else {
                let err = std::fs::read_to_string(dir.join("expected.err")).unwrap_or_default();
                let variants = dir.join("expected.variants").is_file();
                match res {
                    Ok(_) => (
                        false,
                        format!("hoist succeeded; compose failed: {}", err.trim()),
                    ),
                    Err(e) => {
                        let msg = e.to_string();
                        let tokens = salient(&err, &cases_s);
                        if variants || tokens.is_empty() || tokens.iter().any(|t| msg.contains(t)) {
                            (true, String::new())
                        } else {
                            (
                                false,
                                format!(
                                    "different error: compose {:?}, hoist {:?}",
                                    err.trim(),
                                    msg
                                ),
                            )
                        }
                    }
                }
            }
        }
    };
    Outcome {
        source,
        case,
        ok,
        reason,
    }
}

fn first_diff(a: &J, b: &J, path: &str) -> String {
    match (a, b) {
        (J::Object(x), J::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    None => return format!("{path}.{k} missing (expected {})", short(v)),
                    Some(w) if v != w => return first_diff(v, w, &format!("{path}.{k}")),
                    _ => {}
                }
            }
            for (k, w) in y {
                if !x.contains_key(k) {
                    return format!("{path}.{k} unexpected ({})", short(w));
                }
            }
            format!("{path}: ?")
        }
        (J::Array(x), J::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if v != w {
                    return first_diff(v, w, &format!("{path}[{i}]"));
                }
            }
            format!("{path}: ?")
        }
        _ => format!("{path}: expected {}, got {}", short(a), short(b)),
    }
}

fn short(v: &J) -> String {
    let s = v.to_string();
    if s.len() > 160 {
        format!("{}...", &s[..160])
    } else {
        s
    }
}

#[test]
fn corpus_agreement() {
    let Some(root) = corpus_dir() else {
        eprintln!("compose corpus not found; skipping");
        return;
    };
    let cases = root.join("cases");
    let filter = std::env::var("CORPUS_FILTER").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for src in std::fs::read_dir(&cases).unwrap().flatten() {
        for case in std::fs::read_dir(src.path()).unwrap().flatten() {
            if case.path().join("case.json").is_file()
                && case.path().display().to_string().contains(&filter)
            {
                dirs.push(case.path());
            }
        }
    }
    dirs.sort();
    let outcomes: Vec<Outcome> = dirs.iter().map(|d| run_case(d, &cases)).collect();
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for o in &outcomes {
        let e = per.entry(o.source.clone()).or_default();
        e.1 += 1;
        if o.ok {
            e.0 += 1;
        }
    }
    for o in outcomes.iter().filter(|o| !o.ok) {
        println!("DISAGREE {}/{}: {}", o.source, o.case, o.reason);
    }
    let (mut ok, mut total) = (0, 0);
    for (src, (a, t)) in &per {
        println!(
            "{src:32} {a:4}/{t:4} {:6.2}%",
            100.0 * *a as f64 / *t as f64
        );
        ok += a;
        total += t;
    }
    let pct = if total == 0 {
        100.0
    } else {
        100.0 * ok as f64 / total as f64
    };
    println!("{:32} {ok:4}/{total:4} {pct:6.2}%", "overall");
    if filter.is_empty() {
        assert!(
            pct >= FLOOR,
            "agreement {pct:.2}% fell below the floor {FLOOR}%"
        );
    }
}

/// Docker Compose v2's binary, when this machine has it (`scripts/install-deps` installs it).
fn compose_v2() -> Option<PathBuf> {
    let path = std::env::var_os("HOIST_COMPOSE_V2")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                "/opt/hoist-peers/compose-v2/lib/python3.11/site-packages/compose/docker-compose",
            )
        });
    path.is_file().then_some(path)
}

/// What `compose config [ARGS]` prints for `opts`, run as the corpus was; `None` when it fails.
fn compose_prints(
    compose: &Path,
    opts: &hoist_compose::LoadOptions,
    args: &[&str],
) -> Option<String> {
    let out = std::process::Command::new(compose)
        .arg("-f")
        .arg(&opts.files[0])
        .arg("config")
        .args(args)
        .current_dir(&opts.working_dir)
        .env_clear()
        .envs(&opts.environment)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What hoist's `config` prints for `opts`, as JSON or YAML.
fn hoist_prints(opts: &hoist_compose::LoadOptions, json: bool) -> String {
    let mut tree = hoist_compose::load_canonical(opts).expect("loads").json;
    hoist_compose::print_form(&mut tree, json);
    if json {
        let mut out = Vec::new();
        hoist_compose::json::write_go_json(&mut out, &tree).unwrap();
        String::from_utf8(out).unwrap()
    } else {
        hoist_compose::render::project_yaml(&tree)
    }
}

/// Cases whose YAML hoist does not print as Compose does yet, and why.
const YAML_GAPS: &[(&str, &str)] = &[
    (
        "loader-test__load-extensions",
        "x- keys inside a service's fields: Compose's YAML prints them, its JSON does not, and \
         hoist's tree keeps only what the JSON has",
    ),
    ("service-extensions", "x- keys of a service (as above)"),
    ("11-extension__b001", "x- keys of a service (as above)"),
    (
        "watch__x-initial-sync",
        "x- keys of a watch rule (as above)",
    ),
    (
        "test-compose-model",
        "top-level models: Compose's YAML prints them, its JSON does not",
    ),
    ("models__b001", "top-level models (as above)"),
    ("models__b002", "top-level models (as above)"),
];

/// `config` in YAML for every corpus case Compose loads, and in both formats for the zero-value
/// fixtures, byte for byte against Docker Compose v2 run on the same file.
#[test]
fn config_prints_what_compose_v2_prints() {
    let (Some(root), Some(compose)) = (corpus_dir(), compose_v2()) else {
        eprintln!("the compose corpus or Docker Compose v2 is missing; skipping");
        return;
    };
    let mut differ = Vec::new();
    let mut compared = 0;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("cases"))
        .unwrap()
        .flatten()
        .flat_map(|src| std::fs::read_dir(src.path()).unwrap().flatten())
        .map(|case| case.path())
        .filter(|case| case.join("expected.json").is_file())
        .collect();
    dirs.sort();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let (_, opts) = case_options(dir);
        let Some(theirs) = compose_prints(&compose, &opts, &[]) else {
            continue;
        };
        compared += 1;
        let gap = YAML_GAPS.iter().any(|(case, _)| *case == name);
        if (hoist_prints(&opts, false) == theirs) == gap {
            differ.push(name);
        }
    }
    assert!(compared > 500, "only {compared} cases compared");
    assert!(
        differ.is_empty(),
        "YAML differs from Compose's (or a listed gap was closed): {differ:?}"
    );
    // Keys set to their zero value, at every level: both formats.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for fixture in ["zero-values", "zero-values-nested"] {
        let dir = fixtures.join(fixture);
        let opts = hoist_compose::LoadOptions {
            files: vec![dir.join("compose.yaml")],
            environment: [
                ("PATH".to_string(), "/usr/bin:/bin".to_string()),
                ("HOME".to_string(), HOME.to_string()),
                ("COMPOSE_PROJECT_NAME".to_string(), fixture.to_string()),
            ]
            .into(),
            working_dir: dir.clone(),
            ..Default::default()
        };
        for (json, args) in [(false, vec![]), (true, vec!["--format", "json"])] {
            let theirs = compose_prints(&compose, &opts, &args).expect("compose loads it");
            assert_eq!(hoist_prints(&opts, json), theirs, "{fixture} {args:?}");
        }
    }
}
