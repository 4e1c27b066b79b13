//! The book's compose files (legacy v1 format, BOOK-REFERENCE.md section 2) load with Compose
//! 1.29's semantics: environment merged by key through `extends`, links not inherited, `net:` as
//! `network_mode`, services on the default bridge, ports without a host port.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hoist_compose::{LoadOptions, Project, load};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/books-ms")
}

fn load_book(file: &str) -> Project {
    let dir = fixtures();
    let opts = LoadOptions {
        files: vec![dir.join(file)],
        working_dir: dir,
        environment: BTreeMap::from([("DOMAIN".to_string(), "http://10.100.198.201".to_string())]),
        ..Default::default()
    };
    load(&opts).unwrap_or_else(|e| panic!("{file}: {e}"))
}

#[test]
fn every_book_file_loads_as_legacy() {
    for entry in std::fs::read_dir(fixtures()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let p = load_book(&name);
        assert!(p.legacy, "{name} is a v1 file");
        assert!(!p.services.is_empty(), "{name}");
        for svc in p.services.values() {
            assert!(svc.image.is_some(), "{name}: {} has an image", svc.name);
        }
    }
}

#[test]
fn production_file_matches_compose_1_29() {
    let p = load_book("docker-compose.yml");
    let names: Vec<&str> = p.service_names().collect();
    assert_eq!(
        names,
        ["app", "app-blue", "app-green", "applocal", "base", "db"]
    );
    assert_eq!(p.name, "books-ms");

    let env = |svc: &str| p.services[svc].environment["SERVICE_NAME"].clone();
    assert_eq!(env("app").as_deref(), Some("books-ms"));
    assert_eq!(env("app-blue").as_deref(), Some("books-ms-blue"));
    assert_eq!(env("app-green").as_deref(), Some("books-ms-green"));

    for svc in ["app", "app-blue", "app-green", "applocal"] {
        let s = &p.services[svc];
        assert_eq!(s.links, ["db:db"], "{svc}");
        assert_eq!(s.ports.len(), 1);
        assert_eq!(s.ports[0].target, 8080);
        assert_eq!(s.ports[0].protocol, "tcp");
        assert_eq!(
            s.ports[0].published, None,
            "{svc}: the engine picks the host port"
        );
        assert!(s.depends_on.contains_key("db"), "{svc} starts after db");
        assert_eq!(s.network_mode.as_deref(), Some("bridge"));
    }
    let base = &p.services["base"];
    assert!(base.links.is_empty(), "links are not inherited from base");
    assert!(base.depends_on.is_empty());
    assert_eq!(p.services["db"].image.as_deref(), Some("mongo"));
    assert!(p.networks.is_empty(), "v1 services use the default bridge");
}

#[test]
fn swarm_file_maps_net_to_network_mode() {
    let p = load_book("docker-compose-swarm.yml");
    assert_eq!(p.services["app"].network_mode.as_deref(), Some("books-ms"));
    assert_eq!(
        p.services["app-blue"].network_mode.as_deref(),
        Some("books-ms")
    );
    assert_eq!(
        p.services["app-blue"].environment["DB_HOST"].as_deref(),
        Some("books-ms-db")
    );
    assert_eq!(
        p.services["db"].container_name.as_deref(),
        Some("books-ms-db")
    );
}

#[test]
fn logging_and_dev_files() {
    let p = load_book("docker-compose-logging.yml");
    let logging = p.services["app"].logging.clone().unwrap();
    assert_eq!(logging.driver.as_deref(), Some("syslog"));
    assert_eq!(logging.options["tag"].as_deref(), Some("books-ms"));

    let p = load_book("docker-compose-dev.yml");
    let integ = &p.services["integ"];
    assert_eq!(
        integ.environment["DOMAIN"].as_deref(),
        Some("http://10.100.198.201")
    );
    let src = &integ.volumes[0];
    assert_eq!(src.kind, "bind");
    assert_eq!(
        src.source.as_deref(),
        Some(fixtures().join("src").to_str().unwrap())
    );
    assert_eq!(
        p.services["feTests"].ports[0].published.as_deref(),
        Some("8080")
    );
    assert!(p.services["feTests"].tty);
}

#[test]
fn legacy_project_names_follow_compose_1_29() {
    let dir = tempdir("Books-MS.x");
    std::fs::write(dir.join("docker-compose.yml"), "app:\n  image: a\n").unwrap();
    let p = load(&LoadOptions {
        working_dir: dir.clone(),
        ..Default::default()
    })
    .unwrap();
    assert!(p.legacy);
    assert_eq!(p.name, "books-msx");
    std::fs::remove_dir_all(dir.parent().unwrap()).ok();
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("hoist-compose-books-{}", std::process::id()))
        .join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}
