//! `pkg/e2e/ps_test.go`.

use serde_json::{Value, json};

use crate::harness::{Opts, json_stream, scenario};

#[test]
fn test_ps() {
    const P: &str = "e2e-ps";
    const F: &str = "./fixtures/ps-test/compose.yaml";
    scenario(
        "ps_test.go:TestPs",
        Opts {
            projects: &[P],
            exclusive: true,
            ..Opts::default()
        },
        |c| {
            let res = c.compose(&["-f", F, "--project-name", P, "up", "-d"]);
            c.contains(&res.combined(), "Container e2e-ps-busybox-1  Started");

            // table
            let res = c.compose(&["-f", F, "--project-name", P, "ps"]);
            let lines: Vec<&str> = res.stdout().split('\n').collect();
            c.check(lines.len() == 4, "ps prints 4 lines", res.stdout());
            let mut count = 0;
            for line in lines.iter().skip(1).take(2) {
                if line.contains("e2e-ps-busybox-1") {
                    c.contains(line, "127.0.0.1:8001->8000/tcp");
                    count += 1;
                }
                if line.contains("e2e-ps-nginx-1") {
                    c.contains(line, "80/tcp, 443/tcp, 8080/tcp");
                    count += 1;
                }
            }
            c.check(count == 2, "ps lists both services", res.stdout());

            // json
            let res = c.compose(&["-f", F, "--project-name", P, "ps", "--format", "json"]);
            let output = json_stream(res.stdout());
            c.check(output.is_ok(), "ps --format json decodes", res.stdout());
            let output = output.unwrap_or_default();
            c.check(
                output.len() == 2,
                "ps --format json has 2 elements",
                res.stdout(),
            );
            let mut count = 0;
            for service in &output {
                c.equal(service["Project"].as_str().unwrap_or(""), P);
                let publishers = publishers(&service["Publishers"]);
                if service["Name"] == "e2e-ps-busybox-1" {
                    c.check(
                        publishers
                            == vec![json!({"URL": "127.0.0.1", "TargetPort": 8000,
                                "PublishedPort": 8001, "Protocol": "tcp"})],
                        "busybox publishers",
                        &service["Publishers"].to_string(),
                    );
                    count += 1;
                }
                if service["Name"] == "e2e-ps-nginx-1" {
                    c.check(
                        publishers
                            == vec![
                                json!({"TargetPort": 80, "Protocol": "tcp"}),
                                json!({"TargetPort": 443, "Protocol": "tcp"}),
                                json!({"TargetPort": 8080, "Protocol": "tcp"}),
                            ],
                        "nginx publishers",
                        &service["Publishers"].to_string(),
                    );
                    count += 1;
                }
            }
            c.check(
                count == 2,
                "ps --format json matches both services",
                res.stdout(),
            );

            // ps --all
            c.compose(&["--project-name", P, "stop"]);
            let res = c.compose(&["-f", F, "--project-name", P, "ps"]);
            let n = res.stdout().split('\n').count();
            c.check(n == 2, "ps after stop prints 2 lines", res.stdout());
            let res = c.compose(&["-f", F, "--project-name", P, "ps", "--all"]);
            let n = res.stdout().split('\n').count();
            c.check(n == 4, "ps --all prints 4 lines", res.stdout());

            // ps unknown
            c.compose(&["--project-name", P, "stop"]);
            c.compose(&["-f", F, "--project-name", P, "ps", "nginx"]);
            let res = c.compose_no_check(&["-f", F, "--project-name", P, "ps", "unknown"]);
            c.exit_code(&res, 1);
            c.contains(res.stderr(), "no such service: unknown");

            c.compose(&["--project-name", P, "down"]);
        },
    );
}

/// Publishers as Go decodes them into `api.PortPublishers`: zero fields dropped, so that the
/// comparison is the one `assert.Equal` makes on the struct.
fn publishers(v: &Value) -> Vec<Value> {
    v.as_array()
        .map(|list| {
            list.iter()
                .map(|p| {
                    let mut out = serde_json::Map::new();
                    for key in ["URL", "TargetPort", "PublishedPort", "Protocol"] {
                        let field = &p[key];
                        let empty = field.is_null() || field == "" || field == 0;
                        if !empty {
                            out.insert(key.into(), field.clone());
                        }
                    }
                    Value::Object(out)
                })
                .collect()
        })
        .unwrap_or_default()
}
