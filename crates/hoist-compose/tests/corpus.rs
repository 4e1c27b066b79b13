//! Runs every case of the compose compatibility corpus (`/work/shared/compose-corpus`, or
//! `HOIST_COMPOSE_CORPUS`) the way its README says Docker Compose v2.40.3 was run: the case's
//! working directory, only `PATH`, `HOME`, `COMPOSE_PROJECT_NAME=<case folder>` and the case's
//! variables in the environment. Where compose succeeded, hoist's canonical JSON must equal
//! `expected.json` (parsed, placeholders substituted). Where it failed, hoist must fail too and
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

fn run_case(dir: &Path, cases: &Path) -> Outcome {
    let source = dir
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
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
    // The printed tree (as serde prints it), and the typed model built from it: both must succeed
    // where compose did.
    let result = std::panic::catch_unwind(|| {
        hoist_compose::load_canonical(&opts).and_then(|c| {
            let printed: J = serde_json::to_value(hoist_compose::json::Printed(&c.json))
                .expect("the tree serialises");
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
                let expected: J = serde_json::from_str(&text).unwrap_or(J::Null);
                match res {
                    Err(e) => (false, format!("hoist failed: {e}")),
                    Ok(json) if json == expected => (true, String::new()),
                    Ok(json) => (
                        false,
                        format!("differs: {}", first_diff(&expected, &json, "")),
                    ),
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
