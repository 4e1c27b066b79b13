//! The loader's contract seen from outside: file discovery, project names, environment
//! precedence, merge of several files, profiles, and errors that name file, line, service and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use hoist_compose::{ComposeError, LoadOptions, Project, load};

static N: AtomicUsize = AtomicUsize::new(0);

/// A fresh project directory named `name` holding `files`.
fn project(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = std::env::temp_dir().join(format!(
        "hoist-compose-loader-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (f, text) in files {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

fn opts(dir: &Path, env: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        working_dir: dir.to_path_buf(),
        environment: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        ..Default::default()
    }
}

fn ok(o: &LoadOptions) -> Project {
    load(o).unwrap_or_else(|e| panic!("{e}"))
}

fn err(o: &LoadOptions) -> String {
    match load(o) {
        Ok(p) => panic!("expected an error, got services {:?}", p.services.keys()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn default_files_and_override_are_discovered() {
    let dir = project(
        "My.App",
        &[
            ("compose.yaml", "services:\n  web:\n    image: nginx\n"),
            (
                "compose.override.yaml",
                "services:\n  web:\n    ports: ['80:80']\n",
            ),
        ],
    );
    let p = ok(&opts(&dir, &[]));
    assert_eq!(p.name, "myapp");
    assert_eq!(p.files.len(), 2);
    assert_eq!(p.services["web"].ports[0].published.as_deref(), Some("80"));

    // From a subdirectory, the parents are searched.
    let sub = dir.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    assert_eq!(ok(&opts(&sub, &[])).services.len(), 1);
}

#[test]
fn project_name_precedence() {
    let dir = project(
        "dirname",
        &[(
            "compose.yaml",
            "name: fromfile\nservices:\n  a:\n    image: x\n",
        )],
    );
    assert_eq!(ok(&opts(&dir, &[])).name, "fromfile");
    assert_eq!(
        ok(&opts(&dir, &[("COMPOSE_PROJECT_NAME", "fromenv")])).name,
        "fromenv"
    );
    let mut o = opts(&dir, &[("COMPOSE_PROJECT_NAME", "fromenv")]);
    o.project_name = Some("Flag".into());
    assert_eq!(ok(&o).name, "flag");
}

#[test]
fn compose_file_variable_and_project_directory() {
    let dir = project(
        "p",
        &[
            (
                "a.yml",
                "services:\n  a:\n    image: ${IMG}\n    build: ./ctx\n",
            ),
            ("b.yml", "services:\n  b:\n    image: y\n"),
            ("other/.env", "IMG=from-dotenv\n"),
        ],
    );
    let mut o = opts(&dir, &[("COMPOSE_FILE", "a.yml:b.yml")]);
    o.project_directory = Some(PathBuf::from("other"));
    let p = ok(&o);
    assert_eq!(p.service_names().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(p.name, "other");
    assert_eq!(p.services["a"].image.as_deref(), Some("from-dotenv"));
    // Relative paths resolve against the project directory.
    let ctx = &p.services["a"].build.as_ref().unwrap().context;
    assert_eq!(Path::new(ctx), dir.join("other/ctx"));
}

#[test]
fn shell_beats_dotenv_and_env_file_replaces_it() {
    let dir = project(
        "p",
        &[
            (
                "compose.yaml",
                "services:\n  a:\n    image: ${IMG:-none}\n    environment: ['TAG=${TAG}']\n",
            ),
            (".env", "IMG=dot\nTAG=t1\n"),
            ("alt.env", "IMG=alt\n"),
        ],
    );
    let p = ok(&opts(&dir, &[("TAG", "shell")]));
    assert_eq!(p.services["a"].image.as_deref(), Some("dot"));
    assert_eq!(p.services["a"].environment["TAG"].as_deref(), Some("shell"));
    let mut o = opts(&dir, &[]);
    o.env_files = vec![PathBuf::from("alt.env")];
    let p = ok(&o);
    assert_eq!(p.services["a"].image.as_deref(), Some("alt"));
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("\"TAG\" variable is not set"))
    );
}

#[test]
fn naming_a_service_enables_it_and_what_it_depends_on_whatever_their_profiles() {
    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  a:\n    image: x\n  tool:\n    image: y\n    profiles: [debug]\n    depends_on: [helper]\n  helper:\n    image: z\n    profiles: [debug]\n  other:\n    image: w\n    profiles: [debug]\n",
        )],
    );
    let mut o = opts(&dir, &[]);
    o.enable_services = vec!["tool".into()];
    let mut names: Vec<String> = ok(&o).services.keys().map(|k| k.to_string()).collect();
    names.sort();
    assert_eq!(names, ["a", "helper", "tool"], "other stays disabled");
    assert_eq!(ok(&opts(&dir, &[])).services.len(), 1, "nothing named");
}

#[test]
fn profiles_enable_services() {
    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  a:\n    image: x\n  dbg:\n    image: y\n    profiles: [debug]\n",
        )],
    );
    assert_eq!(ok(&opts(&dir, &[])).services.len(), 1);
    let mut o = opts(&dir, &[]);
    o.profiles = vec!["debug".into()];
    assert_eq!(ok(&o).services.len(), 2);
    assert_eq!(
        ok(&opts(&dir, &[("COMPOSE_PROFILES", "debug")]))
            .services
            .len(),
        2
    );
}

#[test]
fn several_files_merge_with_compose_rules() {
    let dir = project(
        "p",
        &[
            (
                "a.yml",
                "x-base: &base\n  image: app\n  environment: {A: '1', B: '2'}\nservices:\n  web:\n    <<: *base\n    command: run a\n    labels: [l1=a]\n",
            ),
            (
                "b.yml",
                "services:\n  web:\n    command: [run, b]\n    environment: [B=3]\n    labels: !reset []\n",
            ),
        ],
    );
    let mut o = opts(&dir, &[]);
    o.files = vec!["a.yml".into(), "b.yml".into()];
    let p = ok(&o);
    let web = &p.services["web"];
    assert_eq!(
        web.command.as_deref(),
        Some(&["run".into(), "b".into()][..])
    );
    assert_eq!(web.environment["A"].as_deref(), Some("1"));
    assert_eq!(web.environment["B"].as_deref(), Some("3"));
    assert!(web.labels.is_empty());
}

#[test]
fn extends_from_another_file_with_relative_paths() {
    let dir = project(
        "p",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    extends:\n      file: common/base.yml\n      service: base\n    environment: [B=2]\n",
            ),
            (
                "common/base.yml",
                "services:\n  base:\n    build: ./ctx\n    environment: [A=1]\n",
            ),
        ],
    );
    let p = ok(&opts(&dir, &[]));
    let web = &p.services["web"];
    assert_eq!(
        Path::new(&web.build.as_ref().unwrap().context),
        dir.join("common/ctx")
    );
    assert_eq!(web.environment.len(), 2);
}

#[test]
fn errors_name_file_line_service_and_key() {
    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: x\n    healtcheck:\n      test: [CMD, true]\n",
        )],
    );
    let e = err(&opts(&dir, &[]));
    assert!(e.contains("compose.yaml:4:"), "{e}");
    assert!(
        e.contains("services.web additional properties 'healtcheck' not allowed"),
        "{e}"
    );

    let dir = project(
        "p",
        &[("compose.yaml", "services:\n  web:\n    image: [x]\n")],
    );
    let e = err(&opts(&dir, &[]));
    assert!(e.contains("services.web.image must be a string"), "{e}");

    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: x\n   bad: 1\n",
        )],
    );
    let e = err(&opts(&dir, &[]));
    assert!(e.contains("compose.yaml:") && e.contains("yaml"), "{e}");

    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  a:\n    extends: b\n    image: x\n  b:\n    extends: c\n  c:\n    extends: a\n",
        )],
    );
    let e = err(&opts(&dir, &[]));
    assert!(
        e.contains("circular reference with extends: a in")
            && e.contains("-> b in")
            && e.contains("-> c in"),
        "{e}"
    );

    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  a:\n    image: x\n    depends_on: [ghost]\n",
        )],
    );
    let e = err(&opts(&dir, &[]));
    assert!(
        e.contains("compose.yaml:4:") && e.contains("\"ghost\"") && e.contains("depends_on"),
        "{e}"
    );

    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  a:\n    image: x\n    links: [ghost:g]\n",
        )],
    );
    let e = err(&opts(&dir, &[]));
    assert!(e.contains("\"ghost\"") && e.contains("links"), "{e}");

    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  a:\n    image: x\n    extends: ghost\n",
        )],
    );
    let e = err(&opts(&dir, &[]));
    assert!(
        e.contains("cannot extend service \"ghost\"") && e.contains("\"a\""),
        "{e}"
    );

    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  a:\n    image: ${IMG:?set the image}\n",
        )],
    );
    let e = err(&opts(&dir, &[]));
    assert!(
        e.contains("compose.yaml:3:")
            && e.contains("services.a.image")
            && e.contains("set the image"),
        "{e}"
    );

    let dir = project(
        "p",
        &[(
            "compose.yaml",
            "services:\n  a:\n    image: x\n  a:\n    image: y\n",
        )],
    );
    let e = err(&opts(&dir, &[]));
    assert!(
        e.contains("compose.yaml:4:") && e.contains("already defined at line 2"),
        "{e}"
    );
}

#[test]
fn legacy_extends_rules() {
    let dir = project(
        "p",
        &[(
            "docker-compose.yml",
            "base:\n  image: a\n  links: [db]\napp:\n  extends:\n    service: base\ndb:\n  image: m\n",
        )],
    );
    let e = err(&opts(&dir, &[]));
    assert!(e.contains("'base'") && e.contains("links"), "{e}");
    assert!(matches!(
        load(&opts(&dir, &[])),
        Err(ComposeError::Invalid { .. })
    ));
}

#[test]
fn the_model_keeps_unmodelled_keys_and_literal_dollars() {
    let dir = project(
        "extras",
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: app\n    pull_policy: always\n    environment:\n      PRICE: $$5\n    ulimits:\n      nofile: {soft: 10, hard: 20}\n    volumes:\n      - ./data:/data:ro\n      - cache:/cache:nocopy\n    networks:\n      back:\n        aliases: [api]\n        priority: 5\nnetworks:\n  back:\n    internal: true\n    driver_opts: {mtu: '1400'}\nvolumes:\n  cache:\n    driver_opts: {type: tmpfs}\n",
        )],
    );
    let p = ok(&opts(&dir, &[]));
    let web = &p.services["web"];
    assert_eq!(web.environment["PRICE"].as_deref(), Some("$5"));
    assert_eq!(web.extra["pull_policy"].as_str(), Some("always"));
    assert_eq!(web.extra["ulimits"]["nofile"]["hard"].as_i64(), Some(20));
    assert!(
        !web.extra.contains_key("image"),
        "modelled keys are not extra"
    );
    assert_eq!(web.volumes[0].kind, "bind");
    assert!(web.volumes[0].read_only);
    assert_eq!(
        web.volumes[0].extra["bind"]["create_host_path"].as_bool(),
        Some(true)
    );
    assert_eq!(
        web.volumes[1].extra["volume"]["nocopy"].as_bool(),
        Some(true)
    );
    let back = web.networks["back"].as_ref().unwrap();
    assert_eq!(back.aliases, ["api"]);
    assert_eq!(back.extra["priority"].as_i64(), Some(5));
    let net = &p.networks["back"];
    assert_eq!(net.extra["internal"].as_bool(), Some(true));
    assert_eq!(net.extra["driver_opts"]["mtu"].as_str(), Some("1400"));
    assert_eq!(
        p.volumes["cache"].extra["driver_opts"]["type"].as_str(),
        Some("tmpfs")
    );
}

/// A legacy v1 service extended from a file in another directory keeps that file's relative
/// paths: its `env_file`, `build` and bind mounts resolve against the other file's directory,
/// as Compose 1.29 resolves them.
#[test]
fn legacy_extends_file_paths_resolve_against_the_file_that_declares_them() {
    let dir = project(
        "legacyext",
        &[
            (
                "docker-compose.yml",
                "app:\n  extends:\n    file: shared/common.yml\n    service: base\n  image: app\n",
            ),
            (
                "shared/common.yml",
                "base:\n  build: .\n  env_file: base.env\n  volumes:\n    - ./data:/data\n    - /anon\n",
            ),
            ("shared/base.env", "FROM_SHARED=yes\n"),
        ],
    );
    let canonical = hoist_compose::load_canonical(&opts(&dir, &[])).unwrap();
    let app = &canonical.json["services"]["app"];
    let shared = dir.join("shared");
    assert_eq!(app["environment"]["FROM_SHARED"], "yes", "{app}");
    assert_eq!(
        app["build"]["context"],
        shared.display().to_string().as_str(),
        "{app}"
    );
    let volumes = app["volumes"].as_array().expect("volumes");
    assert_eq!(
        volumes[0]["source"],
        shared.join("data").display().to_string().as_str(),
        "{app}"
    );
    assert_eq!(volumes[1]["target"], "/anon", "{app}");
}

#[test]
fn secret_files_are_read_for_the_named_services_and_their_dependencies_only() {
    let dir = project(
        "p",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    image: x\n    depends_on: [db]\n  db:\n    image: y\n    secrets: [db_pw]\n  tool:\n    image: z\n    secrets: [tool_key]\nsecrets:\n  db_pw:\n    file: ./db_pw.txt\n  tool_key:\n    file: ./missing.txt\n",
            ),
            ("db_pw.txt", "s3cret"),
        ],
    );
    let data = |o: &LoadOptions, name: &str| ok(o).secrets.get(name).and_then(|s| s.data.clone());
    let mut o = opts(&dir, &[]);
    o.env_file_services = Some(vec!["web".into()]);
    let db_pw = data(&o, "db_pw").expect("db's secret is read for web, which depends on db");
    assert_eq!(&*db_pw.unwrap(), b"s3cret");
    assert!(
        data(&o, "tool_key").is_none(),
        "tool's file is not read for `up web`"
    );

    o.env_file_services = None;
    let missing = data(&o, "tool_key").expect("every service's file is read when none is named");
    assert!(
        missing.unwrap_err().contains("missing.txt"),
        "the reason names the file"
    );

    o.env_file_services = Some(vec![]);
    assert!(data(&o, "db_pw").is_none(), "ps and down read none");
}
