//! The loader never panics: arbitrary bytes and arbitrary YAML-ish text either load or fail with
//! an error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;

fn load_text(text: &[u8]) {
    let dir = std::env::temp_dir().join(format!("hoist-compose-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("c{:?}.yml", std::thread::current().id()).replace(['(', ')'], ""));
    std::fs::write(&file, text).unwrap();
    let opts = hoist_compose::LoadOptions {
        files: vec![file],
        working_dir: dir,
        environment: BTreeMap::from([("HOME".to_string(), "/home/u".to_string())]),
        project_directory: Some(PathBuf::from(".")),
        ..Default::default()
    };
    let _ = hoist_compose::load(&opts);
}

/// Fragments compose files are made of, so generated text reaches the later stages.
fn yamlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("services:\n".to_string()),
        Just("  web:\n".to_string()),
        Just("    image: nginx\n".to_string()),
        Just("    ports: ['80:80', 8080, '1-3:4-6/udp', '[::1]::9']\n".to_string()),
        Just("    volumes: ['./a:/b:ro', 'n:/c', '/d']\n".to_string()),
        Just("    environment: [A=$B, 'C=${D:-e}', F]\n".to_string()),
        Just("    extends: web\n".to_string()),
        Just("    extends: {service: db, file: x.yml}\n".to_string()),
        Just("    depends_on: [db]\n".to_string()),
        Just("    command: \"a 'b\"\n".to_string()),
        Just("    deploy: {resources: {limits: {cpus: x, memory: 1q}}}\n".to_string()),
        Just("x-a: &a {k: v}\n".to_string()),
        Just("  <<: *a\n".to_string()),
        Just("    healthcheck: {interval: 3x}\n".to_string()),
        Just("db:\n  image: m\n  links: [web]\n".to_string()),
        Just("include: [other.yml]\n".to_string()),
        Just("networks: {n: {external: {name: q}}}\n".to_string()),
        Just("  ${\n".to_string()),
        Just("- [\n".to_string()),
        Just("? : !reset\n".to_string()),
        "[ -~\n]{0,20}".prop_map(|s| s),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        load_text(&bytes);
    }

    #[test]
    fn arbitrary_yamlish_text(text in yamlish()) {
        load_text(text.as_bytes());
    }
}

#[test]
fn deep_nesting_and_alias_bombs_are_errors() {
    load_text(b"a: ");
    load_text(format!("services: {}{}", "[".repeat(20_000), "]".repeat(20_000)).as_bytes());
    load_text(format!("services:{}", "\n  - a:".repeat(5_000)).as_bytes());
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..12 {
        let prev = if i == 0 {
            "a".to_string()
        } else {
            format!("l{}", i - 1)
        };
        bomb.push_str(&format!(
            "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    load_text(bomb.as_bytes());
}
